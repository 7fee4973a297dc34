//! Bring-your-own systems (`db: custom`, src/db/custom.rs): the section's
//! placeholders and checks (no root), then, with root, real runs through
//! the `faultline` binary: refkv described as bring-your-own gives refkv's
//! results under the same seed, the Python example of `examples/python-kv`
//! is valid under partitions, and a bug switched on through the start
//! command is caught.

mod local_common;
use faultline::db::custom::{
    check_spec, expand, expand_argv, placeholders, Custom, CustomSpec, LeaderSpec, Vars,
};
use faultline::db::{Cluster, Db};
use faultline::remote::local::LocalRemote;
use faultline::remote::Node;
use faultline::spec::load::{self, Overrides, SpecError};
use local_common::{root_or_skip, serial};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

fn node(name: &str, host: &str) -> Node {
    Node {
        binary: None,
        name: name.into(),
        host: host.into(),
        remote: Arc::new(LocalRemote::new(name)),
        data_dir: PathBuf::from(format!("/var/lib/faultline-test/{name}")),
        log_dir: PathBuf::from(format!("/tmp/logs/{name}")),
    }
}

fn three() -> Vec<Node> {
    (1..=3)
        .map(|i| node(&format!("n{i}"), &format!("10.213.7.{}", 10 + i)))
        .collect()
}

fn vars(spec: &CustomSpec, me: &Node) -> Vars {
    let all: Vec<(String, String)> = three()
        .iter()
        .map(|n| (n.name.clone(), n.host.clone()))
        .collect();
    Vars::for_node(
        spec,
        Path::new("/opt/faultline"),
        Path::new("/src/repo"),
        &all,
        me,
    )
}

/// A spec from a `custom:` section's YAML.
fn spec(yaml: &str) -> CustomSpec {
    serde_norway::from_str(yaml).expect("a custom section")
}

#[test]
fn placeholders_expand_to_the_nodes_values() {
    let s = spec("start: [x]\nclient-port: 7000\npeer-port: 7100\n");
    let n2 = &three()[1];
    let v = vars(&s, n2);
    let argv: Vec<String> = [
        "{binary}",
        "--id={node}",
        "{nodes}",
        "{peers}",
        "{host}:{client_port}",
        "{peer_port}",
        "{data_dir}",
        "{log_dir}/x.log",
        "{cwd}/server.py",
        "{{literal}}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = expand_argv(&argv, &v).unwrap();
    assert_eq!(
        out,
        [
            "/opt/faultline",
            "--id=n2",
            "n1,n2,n3",
            "n1=10.213.7.11:7000/10.213.7.11:7100,n2=10.213.7.12:7000/10.213.7.12:7100,\
             n3=10.213.7.13:7000/10.213.7.13:7100",
            "10.213.7.12:7000",
            "7100",
            "/var/lib/faultline-test/n2",
            "/tmp/logs/n2/x.log",
            "/src/repo/server.py",
            "{literal}",
        ]
    );
    // Another node gets its own values.
    let v1 = vars(&s, &three()[0]);
    assert_eq!(expand("{node}@{host}", &v1).unwrap(), "n1@10.213.7.11");
}

#[test]
fn a_bad_placeholder_is_named_with_its_argument() {
    assert_eq!(
        placeholders("{host}:{client_port}").unwrap(),
        ["host", "client_port"]
    );
    let e = placeholders("--dir={datadir}").unwrap_err();
    assert!(e.contains("unknown placeholder {datadir}"), "{e}");
    assert!(e.contains("{data_dir}"), "lists the valid ones: {e}");
    assert!(placeholders("{node").unwrap_err().contains("unclosed"));

    let s = spec("start: [a, b, c, \"{nod}\"]\n");
    let e = check_spec(&s).unwrap_err();
    assert_eq!(e.field, "custom.start[3]");
    assert!(e.message.contains("{nod}"), "{}", e.message);

    let s = spec("start: [a]\nstop: [kill, \"{pid}\"]\n");
    assert_eq!(check_spec(&s).unwrap_err().field, "custom.stop[1]");
    let s = spec("start: [a]\ninstall: [\"{x}\"]\n");
    assert_eq!(check_spec(&s).unwrap_err().field, "custom.install[0]");
}

#[test]
fn start_ports_and_leader_are_checked() {
    let e = check_spec(&spec("name: x\n")).unwrap_err();
    assert_eq!(e.field, "custom.start");
    assert!(e.message.contains("required"), "{}", e.message);

    let e = check_spec(&spec("start: [a]\nclient-port: 9000\npeer-port: 9000\n")).unwrap_err();
    assert_eq!(e.field, "custom.peer-port");
    let e = check_spec(&spec("start: [a]\nclient-port: 0\n")).unwrap_err();
    assert_eq!(e.field, "custom.client-port");

    let e = check_spec(&spec("start: [a]\nleader: nobody\n")).unwrap_err();
    assert_eq!(e.field, "custom.leader");
    assert!(e.message.contains("none"), "{}", e.message);
    let e = check_spec(&spec("start: [a]\nleader: {path: status, field: leader}\n")).unwrap_err();
    assert_eq!(e.field, "custom.leader.path");
    let e = check_spec(&spec("start: [a]\nready: {path: /a b}\n")).unwrap_err();
    assert_eq!(e.field, "custom.ready.path");
    let e = check_spec(&spec("start: [a]\nrole: {field: \"\"}\n")).unwrap_err();
    assert_eq!(e.field, "custom.role.field");

    let ok = spec("start: [a]\nleader: none\n");
    assert_eq!(check_spec(&ok), Ok(()));
    assert_eq!(ok.leader, LeaderSpec::Keyword("none".into()));
}

#[test]
fn capabilities_follow_the_section() {
    let db = |yaml: &str| Custom::new(spec(yaml), "/bin/true".into(), "/".into());
    let full = db("start: [a]\n").capabilities();
    assert!(full.kill && full.pause && full.primaries);
    let e = full.clock.unwrap_err();
    assert!(e.contains("custom.faketime: false"), "{e}");

    let weak = db("start: [a]\nleader: none\ncapabilities: {kill: false, pause: false}\n");
    let c = weak.capabilities();
    assert!(!c.kill && !c.pause && !c.primaries, "{c:?}");
    // The section's promise is the Db's.
    assert_eq!(
        db("start: [a]\nconsistency: sequential\n").consistency(),
        faultline::db::Consistency::Sequential
    );
    // A node outside the harness's networks gets a client that fails
    // definitely, sending nothing.
    let cluster = Cluster {
        nodes: vec![node("n1", "8.8.8.8")],
        db: Arc::new(db("start: [a]\n")),
    };
    let c = cluster.db.client(&cluster, &cluster.nodes[0]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(c.read("k")) {
        Err(faultline::client::KvError::Definite(m)) => assert!(m.contains("8.8.8.8"), "{m}"),
        other => panic!("expected a definite error, got {other:?}"),
    }
}

fn resolve(cluster: &str, root: &Path) -> Result<faultline::spec::TestSpec, SpecError> {
    let o = Overrides {
        cluster: Some(cluster.into()),
        ..Overrides::default()
    };
    load::resolve_in(&o, root)
}

#[test]
fn a_cluster_file_error_names_file_line_and_field() {
    let root = tempfile::tempdir().unwrap();
    let p = root.path().join("byo.yaml");
    std::fs::write(
        &p,
        "db: custom\nbackend: local\nnodes: 3\ncustom:\n  name: mine\n  start: [\"{binary}\", node, --id, \"{nod}\"]\n",
    )
    .unwrap();
    let e = resolve(&p.display().to_string(), root.path())
        .unwrap_err()
        .to_string();
    let want = format!(
        "{}:6:3: custom.start[3]: unknown placeholder {{nod}}",
        p.display()
    );
    assert!(e.starts_with(&want), "{e}");

    std::fs::write(
        &p,
        "db: custom\nnodes: 3\ncustom:\n  start: [a]\n  leader: elected\n",
    )
    .unwrap();
    let e = resolve(&p.display().to_string(), root.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}:5:3: custom.leader:", p.display())),
        "{e}"
    );

    // The section belongs to db custom only.
    std::fs::write(&p, "db: refkv\ncustom:\n  start: [a]\n").unwrap();
    let e = resolve(&p.display().to_string(), root.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("custom: is the section of db custom"), "{e}");
}

#[test]
fn the_shipped_byo_clusters_load() {
    let root = tempfile::tempdir().unwrap();
    for name in ["custom-refkv", "custom-python"] {
        let t = resolve(name, root.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.cluster.db, "custom");
        let s = t.cluster.custom.expect("a custom section");
        assert_eq!(check_spec(&s), Ok(()), "{name}");
    }
    // The Python example's script is where its cluster file says.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-kv/server.py");
    assert!(script.is_file(), "{}", script.display());
}

/// What a system cannot take is left out of the nemesis, with the reason:
/// `leader: none` drops leader targets, `kill: false` the kill family,
/// `faketime: false` clock faults.
#[test]
fn faults_a_byo_system_cannot_take_are_skipped_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let p = root.path().join("weak.yaml");
    std::fs::write(
        &p,
        "db: custom\nnodes: 3\ncustom:\n  start: [a]\n  leader: none\n  \
         capabilities: {kill: false, pause: true}\n",
    )
    .unwrap();
    let o = Overrides {
        cluster: Some(p.display().to_string()),
        nemesis: Some("all".into()),
        ..Overrides::default()
    };
    let t = load::resolve_in(&o, root.path()).expect("loads");
    let db = faultline::db::registry::build(&t.cluster, &Default::default()).expect("builds");
    let caps = db.capabilities();
    let pkg = faultline::nemesis::package::build(&t.nemesis.config, &caps).expect("package");
    let skipped = pkg.skipped.join("\n");
    assert!(skipped.contains("target leader"), "{skipped}");
    assert!(skipped.contains("kill"), "{skipped}");
    assert!(skipped.contains("custom.faketime: false"), "{skipped}");

    // refkv described as bring-your-own with faketime takes them all but
    // clock faults until a node's libfaketime is known.
    let t = resolve("custom-refkv", root.path()).unwrap();
    let db = faultline::db::registry::build(&t.cluster, &Default::default()).unwrap();
    let c = db.capabilities();
    assert!(c.kill && c.pause && c.primaries && c.clock.is_ok(), "{c:?}");
}

/// Bad input exits 254 with the file, line and field, before any node.
#[test]
fn the_binary_refuses_a_bad_custom_section_with_254() {
    let root = tempfile::tempdir().unwrap();
    let p = root.path().join("bad.yaml");
    std::fs::write(
        &p,
        "db: custom\nnodes: 3\ncustom:\n  start: [x, \"{peer}\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--dry-run", "--cluster"])
        .arg(&p)
        .env("NO_COLOR", "1")
        .output()
        .expect("run faultline");
    assert_eq!(out.status.code(), Some(254), "{}", tail(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4:3: custom.start[1]: unknown placeholder {{peer}}",
            p.display()
        )),
        "{err}"
    );
}

// ---- root: real runs through the binary -------------------------------

fn faultline(results: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .args(args)
        .arg("--results")
        .arg(results)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run faultline")
}

fn tail(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Run `faultline test ARGS`, expect exit `code`, return `results.json`.
fn run(results: &Path, args: &str, code: i32) -> Value {
    let argv: Vec<&str> = args.split_whitespace().collect();
    let out = faultline(results, &argv);
    assert_eq!(
        out.status.code(),
        Some(code),
        "faultline test {args}\n{}",
        tail(&out)
    );
    let test = argv
        .windows(2)
        .find(|w| w[0] == "--name")
        .map(|w| w[1].to_string())
        .expect("--name in args");
    let path = results.join(&test).join("latest").join("results.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("results.json")
}

/// The faults a run applied: each interval's `f` and partition kind.
fn faults(r: &Value) -> Vec<String> {
    r["nemesis"]["intervals"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| format!("{} {}", i["f"], i["value"]["kind"]))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn refkv_described_as_byo_matches_refkv() {
    if !root_or_skip("refkv_described_as_byo_matches_refkv") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let common = "--workload register --nemesis partition-kill --time-limit 15 --seed 7";
    let byo = run(
        dir.path(),
        &format!("--cluster custom-refkv --name byo {common}"),
        0,
    );
    let refkv = run(
        dir.path(),
        &format!("--cluster refkv-3 --name ref {common}"),
        0,
    );
    for r in [&byo, &refkv] {
        assert_eq!(r["valid"], "valid", "{}", r["checkers"]);
    }
    assert_eq!(byo["promise"]["db"], "custom");
    // The same faults, from the same seed.
    assert!(!faults(&byo).is_empty(), "a fault was applied");
    assert_eq!(faults(&byo), faults(&refkv));
    // Ops of the same order: within 25 % of each other.
    let (b, r) = (
        byo["ops"]["ok"].as_f64().unwrap(),
        refkv["ops"]["ok"].as_f64().unwrap(),
    );
    assert!(b > 100.0 && r > 100.0, "byo {b} ok, refkv {r} ok");
    assert!((b - r).abs() <= 0.25 * r, "byo {b} ok vs refkv {r} ok");
    eprintln!(
        "byo: ops {} faults {:?}; refkv: ops {} faults {:?}",
        byo["ops"],
        faults(&byo),
        refkv["ops"],
        faults(&refkv)
    );
}

#[test]
fn the_python_example_is_valid_under_partitions() {
    if !root_or_skip("the_python_example_is_valid_under_partitions") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        "--cluster custom-python --name py --workload register --nemesis partition \
         --interval 3 --time-limit 12 --seed 3",
        0,
    );
    assert_eq!(r["valid"], "valid", "{}", r["checkers"]);
    assert!(r["ops"]["ok"].as_u64().unwrap_or(0) > 100, "{}", r["ops"]);
    assert!(!faults(&r).is_empty(), "a partition was applied");
    // The nodes' output was kept, and nothing of theirs is left running.
    let nodes = dir.path().join("py/latest/nodes/n1/custom.stdout");
    let text = std::fs::read_to_string(&nodes).unwrap_or_default();
    assert!(text.contains("python-kv n1 listening"), "{text}");
    let ps = Command::new("pgrep")
        .args(["-f", "examples/python-kv/server.py"])
        .output()
        .expect("pgrep");
    assert!(
        String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "python-kv processes left running"
    );
}

#[test]
fn a_bug_of_a_byo_system_is_caught() {
    if !root_or_skip("a_bug_of_a_byo_system_is_caught") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    // The shipped custom-refkv, its start command given refkv's
    // `--bug stale-read`: faultline knows nothing of the bug.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("clusters/custom-refkv.yaml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let buggy = text.replace(
        "\"{log_dir}/refkv.log\"]",
        "\"{log_dir}/refkv.log\", --bug, stale-read]",
    );
    assert_ne!(buggy, text, "the start command was changed");
    let file = dir.path().join("byo-stale.yaml");
    std::fs::write(
        &file,
        buggy.replace("name: custom-refkv", "name: byo-stale"),
    )
    .unwrap();
    let r = run(
        dir.path(),
        &format!(
            "--cluster {} --name stale --workload register --nemesis partition \
             --interval 2 --time-limit 12 --seed 12",
            file.display()
        ),
        1,
    );
    assert_eq!(r["valid"], "invalid", "{}", r["checkers"]);
    assert_eq!(r["checkers"][0]["checker"], "linearizable");
    assert_eq!(r["checkers"][0]["valid"], "invalid");
}
