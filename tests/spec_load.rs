//! Loading a test: file lookup (path, directory, embedded), strict parsing
//! with `FILE:LINE:COL`, value checks, flags over files, and the defaults.

use faultline::nemesis::package::NemesisConfig;
use faultline::spec::load::{self, find, names, Kind, Origin, Overrides, SpecError};
use faultline::spec::{ClusterSpec, Concurrency, NemesisSpec, TestSpec};
use std::path::{Path, PathBuf};

/// A lookup root with no `clusters/`, `workloads/`, `nemeses/`: only the
/// embedded files are found by name.
fn empty_root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn resolve(o: Overrides, root: &Path) -> Result<TestSpec, SpecError> {
    load::resolve_in(&o, root)
}

fn err(o: Overrides, root: &Path) -> String {
    match resolve(o, root) {
        Ok(s) => panic!("expected an error, resolved {s:?}"),
        Err(e) => e.to_string(),
    }
}

fn with_cluster(path: &Path) -> Overrides {
    Overrides {
        cluster: Some(path.to_string_lossy().into_owned()),
        ..Overrides::default()
    }
}

#[test]
fn an_unknown_key_names_file_line_col_and_the_key() {
    let root = empty_root();
    let p = write(root.path(), "c.yaml", "db: refkv\nnodes: 3\nnodez: 4\n");
    let e = err(with_cluster(&p), root.path());
    let want = format!("{}:3:1: nodez: unknown field `nodez`", p.display());
    assert!(e.starts_with(&want), "{e}");
    assert!(e.contains("`nodes`"), "the valid keys are listed: {e}");

    // Nested: the dotted path and the nested key's own position.
    let p = write(
        root.path(),
        "d.yaml",
        "refkv:\n  faketime: true\n  client-prt: 1\n",
    );
    let e = err(with_cluster(&p), root.path());
    let want = format!(
        "{}:3:3: refkv.client-prt: unknown field `client-prt`",
        p.display()
    );
    assert!(e.starts_with(&want), "{e}");
}

#[test]
fn a_wrong_type_names_the_field_and_its_position() {
    let root = empty_root();
    let p = write(root.path(), "c.yaml", "db: refkv\nnodes: three\n");
    let e = err(with_cluster(&p), root.path());
    assert!(
        e.starts_with(&format!("{}:2:8: nodes: invalid type", p.display())),
        "{e}"
    );

    let w = write(
        root.path(),
        "w.yaml",
        "name: register\nrate: 5\nconcurrency: 2x\n",
    );
    let o = Overrides {
        workload: Some(w.to_string_lossy().into_owned()),
        ..Overrides::default()
    };
    let e = err(o, root.path());
    assert!(
        e.starts_with(&format!("{}:3:14: concurrency:", w.display())),
        "{e}"
    );
    assert!(e.contains("2n"), "{e}");

    // A YAML syntax error still has a position.
    let p = write(root.path(), "s.yaml", "db: refkv\n  nodes: 3\n");
    let e = err(with_cluster(&p), root.path());
    assert!(e.starts_with(&format!("{}:2:", p.display())), "{e}");
}

#[test]
fn errors_are_bad_input_values_not_panics_for_odd_documents() {
    let root = empty_root();
    for text in [
        "[1, 2]\n",
        "42\n",
        "nodes: [1\n",
        "\t\n:\n",
        "db: refkv\ndb: refkv\n",
    ] {
        let p = write(root.path(), "odd.yaml", text);
        let e = err(with_cluster(&p), root.path());
        assert!(e.contains("odd.yaml"), "{text:?}: {e}");
    }
}

#[test]
fn an_empty_file_is_all_defaults() {
    let root = empty_root();
    let p = write(root.path(), "clusters/blank.yaml", "# nothing here\n");
    let o = Overrides {
        cluster: Some("blank".into()),
        seed: Some(1),
        ..Overrides::default()
    };
    let s = resolve(o, root.path()).unwrap();
    assert!(p.exists());
    assert_eq!(
        s.cluster,
        ClusterSpec {
            name: "blank".into(),
            ..ClusterSpec::default()
        }
    );
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let root = empty_root();
    let e = err(
        Overrides {
            cluster: Some("nosuch".into()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.contains("unknown cluster \"nosuch\""), "{e}");
    for n in ["memory", "refkv", "refkv-3"] {
        assert!(e.contains(n), "{e}");
    }

    let e = err(
        Overrides {
            workload: Some("regster".into()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.contains("unknown workload \"regster\""), "{e}");
    for n in ["bank", "counter", "register", "set"] {
        assert!(e.contains(n), "{e}");
    }

    let e = err(
        Overrides {
            nemesis: Some("partition,klil".into()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.contains("unknown nemesis"), "{e}");
    for n in ["partition-kill", "pause", "clock", "loss", "all", "none"] {
        assert!(e.contains(n), "{e}");
    }

    let e = err(
        Overrides {
            bugs: vec!["stale-reads".into()],
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.contains("unknown bug \"stale-reads\""), "{e}");
    for b in faultline::refkv::bugs::Bug::ALL {
        assert!(e.contains(b.name()), "{e}");
    }

    // Names in the lookup root's directories are valid names too.
    write(root.path(), "clusters/mine.yaml", "nodes: 2\n");
    assert!(names(Kind::Cluster, root.path()).contains(&"mine".to_string()));
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let root = empty_root();
    let e = err(
        Overrides {
            nemesis: Some("nemeses/nosuch.yaml".into()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(
        e.starts_with("nemeses/nosuch.yaml: no such nemesis file"),
        "{e}"
    );
}

#[test]
fn lookup_prefers_the_path_then_the_directory_then_the_embedded_file() {
    let root = empty_root();
    // Embedded.
    let src = find(Kind::Cluster, "refkv-3", root.path()).unwrap();
    assert_eq!(src.label, "builtin:clusters/refkv-3.yaml");
    // The directory shadows the embedded file of the same name.
    write(root.path(), "clusters/refkv-3.yaml", "nodes: 4\n");
    let src = find(Kind::Cluster, "refkv-3", root.path()).unwrap();
    assert_eq!(src.label, "clusters/refkv-3.yaml");
    assert_eq!(src.text, "nodes: 4\n");
    // A path, relative to the root, as given.
    write(root.path(), "elsewhere/big.yaml", "nodes: 7\n");
    let src = find(Kind::Cluster, "elsewhere/big.yaml", root.path()).unwrap();
    assert_eq!(
        (src.label.as_str(), src.stem.as_str()),
        ("elsewhere/big.yaml", "big")
    );
    let s = resolve(
        Overrides {
            cluster: Some("elsewhere/big.yaml".into()),
            seed: Some(3),
            ..Overrides::default()
        },
        root.path(),
    )
    .unwrap();
    assert_eq!((s.cluster.name.as_str(), s.cluster.nodes), ("big", 7));
    assert_eq!(s.name, "big-register-partition-kill");
}

#[test]
fn flags_override_the_files() {
    let root = empty_root();
    let o = Overrides {
        nodes: Some(3),
        concurrency: Some(Concurrency::Fixed(7)),
        rate: Some(0.0),
        time_limit: Some(12.5),
        recovery: Some(1.0),
        interval: Some(2.0),
        test_count: Some(4),
        leave_db_running: true,
        seed: Some(42),
        results_dir: Some("/tmp/elsewhere".into()),
        bugs: vec!["stale-read".into(), "no-fsync".into()],
        name: Some("mine".into()),
        workload: Some("bank".into()),
        nemesis: Some("pause".into()),
        cluster: None,
    };
    let s = resolve(o, root.path()).unwrap();
    assert_eq!(s.name, "mine");
    assert_eq!(s.cluster.nodes, 3);
    assert_eq!(s.concurrency, 7);
    assert_eq!(s.workload.name, "bank");
    assert_eq!(s.workload.rate, 0.0);
    assert_eq!(s.workload.time_limit, 12.5);
    assert_eq!(s.workload.recovery, 1.0);
    assert_eq!(s.nemesis.name, "pause");
    assert_eq!(s.nemesis.config.interval, 2.0);
    assert_eq!(s.nemesis.config.faults, vec!["pause".to_string()]);
    assert_eq!(s.test_count, 4);
    assert!(s.leave_db_running);
    assert_eq!(s.seed, 42);
    assert_eq!(s.results_dir, PathBuf::from("/tmp/elsewhere"));
    let bugs: Vec<String> = s.cluster.refkv.bugs.iter().map(|b| b.to_string()).collect();
    assert_eq!(bugs, vec!["stale-read", "no-fsync"]);

    // --bug adds to the cluster file's bugs.
    let c = write(root.path(), "c.yaml", "bugs: [vote-twice]\n");
    let mut o = with_cluster(&c);
    o.bugs = vec!["lease-read".into()];
    let s = resolve(o, root.path()).unwrap();
    assert_eq!(s.cluster.refkv.bugs.iter().count(), 2);
}

#[test]
fn concurrency_2n_resolves_against_the_node_count_after_flags() {
    let root = empty_root();
    let at = |nodes: Option<usize>, c: Option<Concurrency>| {
        resolve(
            Overrides {
                nodes,
                concurrency: c,
                seed: Some(1),
                ..Overrides::default()
            },
            root.path(),
        )
        .unwrap()
        .concurrency
    };
    assert_eq!(at(None, None), 10, "the register workload's 2n on 5 nodes");
    assert_eq!(at(Some(3), None), 6);
    assert_eq!(at(Some(3), Some("3n".parse().unwrap())), 9);
    assert_eq!(at(Some(3), Some("n".parse().unwrap())), 3);
    assert_eq!(at(Some(3), Some("4".parse().unwrap())), 4);
    for bad in ["0", "0n", "2x", "-1", ""] {
        assert!(bad.parse::<Concurrency>().is_err(), "{bad}");
    }
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let root = empty_root();
    let a = resolve(Overrides::default(), root.path()).unwrap();
    assert_eq!(a.name, "refkv-register-partition-kill");
    assert_eq!(
        a.cluster,
        ClusterSpec::default(),
        "clusters/refkv.yaml spells out the defaults"
    );
    assert_eq!(
        (
            a.cluster.db.as_str(),
            a.cluster.backend.as_str(),
            a.cluster.nodes
        ),
        ("refkv", "local", 5)
    );
    assert!(a.cluster.refkv.bugs.is_empty());
    assert_eq!(a.workload.name, "register");
    assert_eq!(a.workload.time_limit, 60.0);
    assert_eq!(a.workload.concurrency, Concurrency::PerNode(2));
    assert_eq!(a.concurrency, 10);
    assert_eq!(a.nemesis, NemesisSpec::default());
    assert_eq!(a.nemesis.config.faults, vec!["partition", "kill"]);
    assert_eq!(a.results_dir, PathBuf::from("results"));
    assert_eq!(a.test_count, 1);
    assert!(!a.leave_db_running);
    // The seed is random when not given.
    let b = resolve(Overrides::default(), root.path()).unwrap();
    assert_ne!(a.seed, b.seed);
}

#[test]
fn a_nemesis_can_be_a_list_of_fault_families() {
    let root = empty_root();
    let nem = |arg: &str| {
        resolve(
            Overrides {
                nemesis: Some(arg.into()),
                seed: Some(1),
                ..Overrides::default()
            },
            root.path(),
        )
        .unwrap()
    };
    let s = nem("pause,clock");
    assert_eq!(s.nemesis.name, "pause,clock");
    assert_eq!(s.nemesis.config.faults, vec!["pause", "clock"]);
    assert_eq!(s.nemesis.config.interval, NemesisConfig::default().interval);
    assert_eq!(
        s.name, "refkv-register-pause+clock",
        "a directory name without commas"
    );
    // The election choreographies are a family too, never part of `all`.
    let s = nem("election");
    assert_eq!(s.nemesis.config.families().unwrap(), vec!["election"]);
    assert!(!nem("all")
        .nemesis
        .config
        .families()
        .unwrap()
        .contains(&"election"));
    // A shipped file of the same name wins (and means the same).
    assert_eq!(nem("all").nemesis.config.faults, vec!["all"]);
    assert!(nem("none").nemesis.config.families().unwrap().is_empty());
    // A family list can still be bad where it meets a flag.
    let e = err(
        Overrides {
            nemesis: Some("kill,pause".into()),
            interval: Some(0.0),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--interval: "), "{e}");
}

#[test]
fn bad_values_name_the_flag_or_the_file_and_line() {
    let root = empty_root();
    let e = err(
        Overrides {
            nodes: Some(0),
            ..Overrides::default()
        },
        root.path(),
    );
    assert_eq!(e, "--nodes: must be at least 1");
    let e = err(
        Overrides {
            nodes: Some(10_000),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--nodes: ") && e.contains("at most"), "{e}");
    let e = err(
        Overrides {
            time_limit: Some(0.0),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--time-limit: "), "{e}");
    let e = err(
        Overrides {
            rate: Some(-1.0),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--rate: "), "{e}");
    let e = err(
        Overrides {
            test_count: Some(0),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--test-count: "), "{e}");
    let e = err(
        Overrides {
            name: Some("a/b".into()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--name: "), "{e}");

    // From a file: the file, the field's line and column, the field.
    let p = write(root.path(), "c.yaml", "# five\ndb: refkv\nnodes: 0\n");
    match resolve(with_cluster(&p), root.path()) {
        Err(SpecError::Invalid { origin, field, .. }) => {
            assert_eq!(
                origin,
                Origin::File {
                    file: p.to_string_lossy().into_owned(),
                    at: Some((3, 1))
                }
            );
            assert_eq!(field, "nodes");
        }
        other => panic!("{other:?}"),
    }
    let p = write(root.path(), "c.yaml", "db: mongodb\n");
    let e = err(with_cluster(&p), root.path());
    assert!(
        e.contains(":1:1: db: unknown db \"mongodb\"")
            && e.contains("refkv, etcd, zookeeper, custom, memory"),
        "{e}"
    );
    let p = write(root.path(), "c.yaml", "db: memory\nbackend: local\n");
    assert!(err(with_cluster(&p), root.path()).contains(":2:1: backend: "));
    let p = write(root.path(), "c.yaml", "db: refkv\nbackend: none\n");
    assert!(err(with_cluster(&p), root.path()).contains(":2:1: backend: "));
    let p = write(root.path(), "c.yaml", "backend: ssh2\n");
    assert!(err(with_cluster(&p), root.path()).contains("local, docker, ssh, none"));
    let p = write(root.path(), "c.yaml", "nodes: 3\nbackend: ssh\n");
    let e = err(with_cluster(&p), root.path());
    assert!(e.contains("ssh: backend ssh needs an ssh section"), "{e}");
    let p = write(
        root.path(),
        "c.yaml",
        "nodes: 3\nbackend: ssh\nssh:\n  hosts: [10.213.7.11, 10.213.7.12]\n",
    );
    let e = err(with_cluster(&p), root.path());
    assert!(
        e.contains(":4:") && e.contains("ssh.hosts: lists 2 host(s) for 3 node(s)"),
        "{e}"
    );
    let p = write(root.path(), "c.yaml", "ssh:\n  hosts: [a]\n  usr: root\n");
    let e = err(with_cluster(&p), root.path());
    assert!(e.contains(":3:") && e.contains("usr"), "{e}");
    let p = write(root.path(), "c.yaml", "nodes: 1\nssh:\n  hosts: [a]\n");
    let e = err(with_cluster(&p), root.path());
    assert!(e.contains("ssh: only with backend ssh"), "{e}");
    let p = write(
        root.path(),
        "c.yaml",
        "refkv:\n  client-port: 9000\n  peer-port: 9000\n",
    );
    assert!(err(with_cluster(&p), root.path()).contains(":3:3: refkv.peer-port: "));

    // Bugs are refkv's only.
    let e = err(
        Overrides {
            cluster: Some("memory".into()),
            bugs: vec!["stale-read".into()],
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.starts_with("--bug: "), "{e}");

    // A workload's own config, by key.
    let w = write(
        root.path(),
        "w.yaml",
        "name: register\nconfig:\n  ops-per-key: 10\n  valuez: 3\n",
    );
    let e = err(
        Overrides {
            workload: Some(w.to_string_lossy().into_owned()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(
        e.contains("w.yaml:4:3: config.valuez: unknown field `valuez`"),
        "{e}"
    );
    assert!(e.contains("`values`"), "{e}");

    // A nemesis file's values.
    let n = write(root.path(), "n.yaml", "faults: [partition, klil]\n");
    let e = err(
        Overrides {
            nemesis: Some(n.to_string_lossy().into_owned()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(
        e.contains("n.yaml:1:1: faults: unknown fault family \"klil\""),
        "{e}"
    );
    let n = write(
        root.path(),
        "n.yaml",
        "faults: [loss]\nloss:\n  probability: 2\n",
    );
    let e = err(
        Overrides {
            nemesis: Some(n.to_string_lossy().into_owned()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.contains("n.yaml:3:3: loss.probability: "), "{e}");
}

#[test]
fn a_workload_file_without_a_name_is_the_workload_its_stem_names() {
    let root = empty_root();
    write(root.path(), "workloads/set.yaml", "rate: 3\n");
    let s = resolve(
        Overrides {
            workload: Some("set".into()),
            seed: Some(1),
            ..Overrides::default()
        },
        root.path(),
    )
    .unwrap();
    assert_eq!((s.workload.name.as_str(), s.workload.rate), ("set", 3.0));
    let p = write(root.path(), "fast.yaml", "rate: 3\n");
    let e = err(
        Overrides {
            workload: Some(p.to_string_lossy().into_owned()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(e.contains("name: missing"), "{e}");
}

/// Every `*.yaml` file under clusters/, workloads/, nemeses/ is embedded in
/// the binary (build.rs generates the table), is found as a builtin by its
/// name from a root without those directories, and resolves into a valid
/// test, the same one as from the file on disk.
#[test]
fn every_shipped_file_is_embedded_and_loads() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let empty = empty_root();
    for kind in [Kind::Cluster, Kind::Workload, Kind::Nemesis] {
        let mut on_disk: Vec<String> = std::fs::read_dir(manifest.join(kind.dir()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml") && p.is_file())
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = kind.builtin().iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            on_disk,
            embedded,
            "{}/ and the embedded list differ",
            kind.dir()
        );
        for name in &on_disk {
            let file = manifest.join(kind.dir()).join(format!("{name}.yaml"));
            let src = find(kind, name, empty.path()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(src.label, format!("builtin:{}/{name}.yaml", kind.dir()));
            assert_eq!(&src.stem, name);
            assert_eq!(src.text, std::fs::read_to_string(&file).unwrap());
            let mut o = Overrides {
                seed: Some(1),
                ..Overrides::default()
            };
            match kind {
                Kind::Cluster => o.cluster = Some(name.clone()),
                Kind::Workload => o.workload = Some(name.clone()),
                Kind::Nemesis => o.nemesis = Some(name.clone()),
            }
            // The embedded copy and the one on disk are the same file.
            let mut from_disk = resolve(o.clone(), manifest).unwrap_or_else(|e| panic!("{e}"));
            let mut embedded = resolve(o, empty.path()).unwrap_or_else(|e| panic!("{e}"));
            // Only where the workload came from differs.
            let w = match kind {
                Kind::Workload => name.as_str(),
                _ => "register",
            };
            assert_eq!(from_disk.workload.file, format!("workloads/{w}.yaml"));
            assert_eq!(
                embedded.workload.file,
                format!("builtin:workloads/{w}.yaml")
            );
            from_disk.workload.file.clear();
            embedded.workload.file.clear();
            assert_eq!(from_disk, embedded, "{}/{name}.yaml", kind.dir());
        }
    }
    let c = |n: &str| {
        resolve(
            Overrides {
                cluster: Some(n.into()),
                seed: Some(1),
                ..Overrides::default()
            },
            empty.path(),
        )
        .unwrap()
        .cluster
    };
    assert_eq!(c("refkv-3").nodes, 3);
    let m = c("memory");
    assert_eq!((m.db.as_str(), m.backend.as_str()), ("memory", "none"));
}

#[test]
fn a_resolved_test_round_trips_through_yaml() {
    let root = empty_root();
    for nemesis in ["partition-kill", "all", "none", "clock"] {
        let s = resolve(
            Overrides {
                nemesis: Some(nemesis.into()),
                workload: Some("bank".into()),
                bugs: vec!["no-fsync".into()],
                ..Overrides::default()
            },
            root.path(),
        )
        .unwrap();
        let text = serde_norway::to_string(&s).unwrap();
        let back: TestSpec =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, s, "{text}");
    }
}

#[test]
fn run_seeds_are_derived_deterministically() {
    let root = empty_root();
    let s = resolve(
        Overrides {
            seed: Some(7),
            ..Overrides::default()
        },
        root.path(),
    )
    .unwrap();
    assert_eq!(s.seed_of_run(0), 7);
    let seeds: Vec<u64> = (0..50).map(|i| s.seed_of_run(i)).collect();
    let again: Vec<u64> = (0..50).map(|i| s.seed_of_run(i)).collect();
    assert_eq!(seeds, again);
    let mut uniq = seeds.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), seeds.len());
    let summary = s.summary().join("\n");
    assert!(summary.contains("seed:     7"), "{summary}");
    assert!(
        summary.contains("results:  results/refkv-register-partition-kill"),
        "{summary}"
    );
}

/// The file a workload came from is recorded whatever the file says, and
/// the dry-run summary says what the checks hold the system to: the Db's
/// promise, and any relaxation with the file that asked for it.
#[test]
fn the_workload_file_is_recorded_and_the_summary_shows_the_promise_and_relaxations() {
    let root = empty_root();
    let set = |root: &Path, workload: &str| {
        resolve(
            Overrides {
                cluster: Some("memory".into()),
                workload: Some(workload.into()),
                nemesis: Some("none".into()),
                seed: Some(1),
                ..Overrides::default()
            },
            root,
        )
        .unwrap()
    };
    let s = set(root.path(), "set");
    assert_eq!(s.workload.file, "builtin:workloads/set.yaml");
    let summary = s.summary().join("\n");
    assert!(
        summary.contains("checks:   as memory promises: linearizable reads\n"),
        "{summary}"
    );
    assert!(!summary.contains("relaxed"), "{summary}");

    write(
        root.path(),
        "workloads/lax.yaml",
        "name: set\nconfig:\n  stale-reads-invalid: false\n",
    );
    let s = set(root.path(), "lax");
    assert_eq!(s.workload.file, "workloads/lax.yaml");
    let summary = s.summary().join("\n");
    assert!(
        summary.contains(
            "relaxed: stale reads allowed by workloads/lax.yaml \
             (config.stale-reads-invalid: false; memory promises linearizable reads)"
        ),
        "{summary}"
    );
    write(
        root.path(),
        "workloads/liar.yaml",
        "name: set\nfile: elsewhere.yaml\n",
    );
    let e = err(
        Overrides {
            cluster: Some("memory".into()),
            workload: Some("liar".into()),
            ..Overrides::default()
        },
        root.path(),
    );
    assert!(
        e.contains("workloads/liar.yaml:2:1: file: is set by faultline"),
        "{e}"
    );
}

/// refkv's bugs live in its own section; the old top-level `bugs` still
/// works, with a warning naming the file and line, and adds to them.
#[test]
fn refkv_bugs_live_in_its_section_and_the_old_key_warns() {
    let root = empty_root();
    let resolve_warned = |o: Overrides| load::resolve_with_warnings(&o, root.path()).unwrap();
    let names = |s: &TestSpec| -> Vec<String> {
        s.cluster.refkv.bugs.iter().map(|b| b.to_string()).collect()
    };

    let c = write(root.path(), "new.yaml", "refkv:\n  bugs: [no-fsync]\n");
    let (s, warnings) = resolve_warned(with_cluster(&c));
    assert_eq!(names(&s), ["no-fsync"]);
    assert!(warnings.is_empty(), "{warnings:?}");

    let c = write(
        root.path(),
        "old.yaml",
        "nodes: 3\nbugs: [stale-read]\nrefkv:\n  bugs: [no-fsync]\n",
    );
    let mut o = with_cluster(&c);
    o.bugs = vec!["vote-twice".into()];
    let (s, warnings) = resolve_warned(o);
    assert_eq!(names(&s), ["stale-read", "no-fsync", "vote-twice"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let want = format!("{}:2:1: bugs: ", c.display());
    assert!(
        warnings[0].starts_with(&want) && warnings[0].contains("deprecated"),
        "{warnings:?}"
    );
    // test.yaml stores them in the section only.
    let text = serde_norway::to_string(&s).unwrap();
    assert!(
        text.contains("    extra-args: []\n    bugs:\n    - stale-read\n"),
        "{text}"
    );
    assert_eq!(text.matches("bugs:").count(), 1, "{text}");

    // A bad bug in the section names the field and its position.
    let c = write(root.path(), "bad.yaml", "refkv:\n  bugs: [stale-reads]\n");
    let e = err(with_cluster(&c), root.path());
    assert!(
        e.starts_with(&format!("{}:2:", c.display())) && e.contains("refkv.bugs"),
        "{e}"
    );
    // Bugs for another Db: the field is named.
    let c = write(
        root.path(),
        "mem.yaml",
        "db: memory\nbackend: none\nrefkv:\n  bugs: [no-fsync]\n",
    );
    let e = err(with_cluster(&c), root.path());
    assert!(
        e.contains(":4:3: refkv.bugs: only refkv has switchable bugs, not memory"),
        "{e}"
    );
}

/// A stored run from before the change (top-level `bugs`) still loads,
/// its bugs now in refkv's section.
#[test]
fn a_stored_test_yaml_with_top_level_bugs_still_loads() {
    let root = empty_root();
    let mut s = resolve(
        Overrides {
            seed: Some(1),
            ..Overrides::default()
        },
        root.path(),
    )
    .unwrap();
    let text = serde_norway::to_string(&s)
        .unwrap()
        .replace("    extra-args: []\n    bugs: []\n", "    extra-args: []\n")
        .replace(
            "  ready-timeout:",
            "  bugs:\n  - lease-read\n  ready-timeout:",
        );
    assert!(text.contains("\n  bugs:\n  - lease-read\n"), "{text}");
    assert_eq!(text.matches("bugs:").count(), 1, "{text}");
    let old: TestSpec = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    s.cluster.refkv.bugs = "lease-read"
        .parse::<faultline::refkv::bugs::Bug>()
        .unwrap()
        .into();
    assert_eq!(old, s);
}

/// The memory Db's fault is its section; a section of the Db a cluster
/// does not name is an error naming it.
#[test]
fn the_memory_fault_is_the_memory_section() {
    let root = empty_root();
    let c = write(
        root.path(),
        "m.yaml",
        "db: memory\nbackend: none\nmemory:\n  fault: {kind: lose-writes, every: 5}\n",
    );
    let s = resolve(with_cluster(&c), root.path()).unwrap();
    assert_eq!(
        s.cluster.memory,
        Some(faultline::spec::MemorySpec {
            fault: faultline::client::memory::Fault::LoseWrites { every: 5 }
        })
    );
    let c = write(root.path(), "r.yaml", "memory:\n  fault: {kind: none}\n");
    let e = err(with_cluster(&c), root.path());
    assert!(
        e.contains(":1:1: memory: is the section of db memory; this cluster's db is refkv"),
        "{e}"
    );
    let c = write(
        root.path(),
        "typo.yaml",
        "db: memory\nbackend: none\nmemory:\n  fault:\n    kind: lose-writez\n",
    );
    let e = err(with_cluster(&c), root.path());
    assert!(
        e.contains("typo.yaml:5:11: memory.fault.kind: unknown variant"),
        "{e}"
    );
}
