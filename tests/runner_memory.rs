//! End-to-end runs of the runner against the in-process `memory` db
//! (backend `none`): no root, a few seconds each. They check the stored
//! files agree with each other, that a correct store is valid and a store
//! that loses writes is invalid, that the seed fixes the schedule, and that
//! `analyze` re-checks a stored run — also one whose history was cut
//! mid-line, which is `unknown` since the run never finished.

use faultline::checker::Validity;
use faultline::client::memory::Fault;
use faultline::history::jsonl::read_jsonl;
use faultline::history::OpType;
use faultline::nemesis::package::NemesisConfig;
use faultline::report::results::Results;
use faultline::runner::{self, RunError, RunOptions};
use faultline::spec::{ClusterSpec, MemorySpec, NemesisSpec, TestSpec};
use std::path::Path;

fn spec(results: &Path, workload: &str, seed: u64, secs: f64) -> TestSpec {
    let mut s = TestSpec::memory(workload, 3, 4, secs, results);
    s.seed = seed;
    s.workload.rate = 300.0;
    s.workload.recovery = 0.2;
    s.workload.final_time_limit = 5.0;
    s
}

fn quiet() -> RunOptions {
    RunOptions::quiet()
}

/// `s` against a memory store with `fault` (its cluster's `memory` section).
fn with_fault(mut s: TestSpec, fault: Fault) -> TestSpec {
    s.cluster.memory = Some(MemorySpec { fault });
    s
}

fn read_results(dir: &Path) -> Results {
    let text = std::fs::read(dir.join("results.json")).expect("results.json");
    serde_json::from_slice(&text).expect("results.json parses")
}

#[test]
fn correct_register_run_is_valid_and_its_files_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), "register", 42, 2.0);
    let out = runner::run(&s, &quiet()).expect("run");
    assert_eq!(out.verdict, Validity::Valid, "{:#?}", out.results.checkers);
    assert!(out.dir.starts_with(tmp.path().join("memory-register")));

    // test.yaml is the resolved spec, seed included.
    let text = std::fs::read_to_string(out.dir.join("test.yaml")).unwrap();
    let stored: TestSpec = serde_norway::from_str(&text).unwrap();
    assert_eq!(stored, s);

    // history.jsonl holds what results.json counted.
    let h = read_jsonl(out.dir.join("history.jsonl")).unwrap();
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    let r = read_results(&out.dir);
    assert_eq!(r.seed, 42);
    assert_eq!(r.valid, Validity::Valid);
    let invokes = h
        .history
        .ops
        .iter()
        .filter(|o| o.kind == OpType::Invoke)
        .count() as u64;
    assert_eq!(r.ops.invoke, invokes);
    assert_eq!(r.ops.ok + r.ops.fail + r.ops.info + r.ops.open, invokes);
    // About rate × time ops: paced, not flat out.
    assert!(
        (300..=800).contains(&invokes),
        "{invokes} ops in 2 s at 300/s"
    );
    assert!(!r.checkers.is_empty());
    assert!(r.latency.iter().any(|l| l.f == "read"));
    let names: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["main", "heal", "recovery"]);
    // Workers spread over the nodes; times never go backwards.
    let nodes: std::collections::BTreeSet<_> = h
        .history
        .ops
        .iter()
        .filter_map(|o| o.node.clone())
        .collect();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(h.history.ops.windows(2).all(|w| w[0].time <= w[1].time));

    // results/latest and results/<test>/latest point at the run.
    let latest = std::fs::canonicalize(tmp.path().join("latest")).unwrap();
    assert_eq!(latest, std::fs::canonicalize(&out.dir).unwrap());
    let latest = std::fs::canonicalize(tmp.path().join("memory-register/latest")).unwrap();
    assert_eq!(latest, std::fs::canonicalize(&out.dir).unwrap());
    let log = std::fs::read_to_string(out.dir.join("faultline.log")).unwrap();
    assert!(log.contains("seed 42"), "{log}");

    // A run that ran to its end says so, and that a quorum was up (no
    // faults: all of the main phase).
    assert_eq!(r.interrupted, None);
    assert_eq!(r.history_valid, Some(Validity::Valid));
    assert_eq!(r.nemesis.quorum_share, Some(1.0));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.dir.join("results.json")).unwrap()).unwrap();
    assert!(json["interrupted"].is_null(), "stored even when null");
    assert_eq!(json["nemesis"]["quorum_share"], 1.0);

    // analyze reproduces the verdict and rewrites results.json.
    let again = runner::analyze(&out.dir).expect("analyze");
    assert_eq!(again.verdict, Validity::Valid);
    assert_eq!(read_results(&out.dir).ops, r.ops);
}

#[test]
fn set_run_with_final_reads_is_valid_and_lost_writes_are_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), "set", 7, 1.5);
    let good = runner::run(&s, &quiet()).expect("run");
    assert_eq!(
        good.verdict,
        Validity::Valid,
        "{:#?}",
        good.results.checkers
    );
    assert!(good.results.phases.iter().any(|p| p.name == "final"));

    let bad = runner::run(
        &with_fault(s.clone(), Fault::LoseWrites { every: 5 }),
        &quiet(),
    )
    .expect("run");
    assert_eq!(
        bad.verdict,
        Validity::Invalid,
        "{:#?}",
        bad.results.checkers
    );
    assert_ne!(good.dir, bad.dir);
    // The fault is the memory Db's section of the stored cluster.
    let text = std::fs::read_to_string(bad.dir.join("test.yaml")).unwrap();
    let stored: TestSpec = serde_norway::from_str(&text).unwrap();
    assert_eq!(
        stored.cluster.memory,
        Some(MemorySpec {
            fault: Fault::LoseWrites { every: 5 }
        })
    );
    // The stored run re-checks to the same verdict.
    assert_eq!(
        runner::analyze(&bad.dir).unwrap().verdict,
        Validity::Invalid
    );

    // Stale reads on the register workload are not linearizable.
    let s = spec(tmp.path(), "register", 9, 1.5);
    let stale = runner::run(&with_fault(s, Fault::StaleReads { every: 3 }), &quiet()).expect("run");
    assert_eq!(
        stale.verdict,
        Validity::Invalid,
        "{:#?}",
        stale.results.checkers
    );
}

#[test]
fn analyze_checks_a_history_cut_mid_line() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), "register", 3, 1.0);
    let out = runner::run(&s, &quiet()).expect("run");
    let path = out.dir.join("history.jsonl");
    let bytes = std::fs::read(&path).unwrap();
    let full = read_jsonl(&path).unwrap().history.len();
    // Cut the file in the middle of a line, as a SIGKILL mid-write would,
    // and remove results.json, as a killed run has none.
    let cut = bytes.len() * 2 / 3;
    assert_ne!(bytes[cut - 1], b'\n');
    std::fs::write(&path, &bytes[..cut]).unwrap();
    std::fs::remove_file(out.dir.join("results.json")).unwrap();
    let again = runner::analyze(&out.dir).expect("analyze a cut history");
    // The run never finished: unknown (exit 2), though what there is of
    // its history checks valid.
    assert_eq!(again.verdict, Validity::Unknown);
    let r = read_results(&out.dir);
    assert!(r.interrupted.is_some());
    assert_eq!(r.history_valid, Some(Validity::Valid));
    assert!(
        r.warnings.iter().any(|w| w.contains("incomplete")),
        "{:?}",
        r.warnings
    );
    assert!(r.ops.invoke > 0 && (r.ops.invoke as usize) < full);

    // Not a run directory, or a broken test.yaml: bad input.
    assert!(matches!(
        runner::analyze(&tmp.path().join("nope")),
        Err(RunError::BadInput(_))
    ));
    std::fs::write(out.dir.join("test.yaml"), "name: [\n").unwrap();
    match runner::analyze(&out.dir) {
        Err(RunError::BadInput(m)) => assert!(m.contains("test.yaml"), "{m}"),
        other => panic!("expected bad input, got {other:?}"),
    }
}

#[test]
fn the_seed_fixes_the_op_and_fault_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    // Dry runs never touch a node: a refkv spec with faults is fine here.
    let mut s = spec(tmp.path(), "register", 11, 20.0);
    s.cluster = ClusterSpec::default();
    s.nemesis = NemesisSpec {
        name: "partition-kill".into(),
        config: NemesisConfig {
            faults: vec!["partition".into(), "kill".into()],
            interval: 3.0,
            ..Default::default()
        },
    };
    let a = runner::dry_run(&s).unwrap();
    let b = runner::dry_run(&s).unwrap();
    assert_eq!(a, b);
    assert!((4000..=8000).contains(&a.len()), "{} lines", a.len());
    let nemesis: Vec<&String> = a.iter().filter(|l| l.contains(" nemesis ")).collect();
    assert_eq!(nemesis.len(), 6, "{nemesis:#?}");
    assert!(nemesis[0].contains("start-partition") || nemesis[0].contains(" kill "));
    s.seed = 12;
    let c = runner::dry_run(&s).unwrap();
    assert_ne!(a, c);
    // Nothing was created.
    assert!(!tmp.path().join("memory-register").exists());
}

#[test]
fn impossible_combinations_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = spec(tmp.path(), "register", 1, 1.0);
    s.cluster.backend = "local".into();
    assert!(matches!(
        runner::run(&s, &quiet()),
        Err(RunError::BadInput(_))
    ));
    // Families that run iptables on the nodes (their descriptors say so)
    // are refused on a backend without machines.
    for family in ["partition", "loss"] {
        let mut s = spec(tmp.path(), "register", 1, 1.0);
        s.nemesis.config.faults = vec![family.into()];
        match runner::run(&s, &quiet()) {
            Err(RunError::BadInput(m)) => {
                assert!(m.contains("backend none") && m.contains(family), "{m}")
            }
            other => panic!("{family}: {other:?}"),
        }
    }
    let mut s = spec(tmp.path(), "regsiter", 1, 1.0);
    s.workload.name = "regsiter".into();
    match runner::dry_run(&s) {
        Err(RunError::BadInput(m)) => assert!(m.contains("register"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dry_run_lines_name_time_process_f_key_value() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = spec(tmp.path(), "register", 11, 3.0);
    s.cluster = ClusterSpec::default();
    s.nemesis.config.faults = vec!["kill".into()];
    s.nemesis.config.interval = 1.0;
    let lines = runner::dry_run(&s).unwrap();
    let first = lines[0].split_whitespace().collect::<Vec<_>>();
    assert_eq!(first[0], "0.000");
    assert!(["read", "write", "cas"].contains(&first[2]), "{}", lines[0]);
    let kill = lines.iter().find(|l| l.contains(" kill ")).expect("a kill");
    assert!(
        kill.trim_start().starts_with("1.000") && kill.contains("nemesis"),
        "{kill}"
    );
    eprintln!("{}", lines[..5].join("\n"));
}

#[test]
fn list_append_and_rw_register_runs_are_valid_and_broken_transactions_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    for workload in ["list-append", "rw-register"] {
        let s = spec(tmp.path(), workload, 5, 1.5);
        let good = runner::run(&s, &quiet()).expect("run");
        assert_eq!(
            good.verdict,
            Validity::Valid,
            "{workload}: {:#?}",
            good.results.checkers
        );
        let oks = read_jsonl(good.dir.join("history.jsonl"))
            .expect("history")
            .history
            .ops
            .iter()
            .filter(|o| o.kind == OpType::Ok && o.f == "txn")
            .count();
        assert!(oks > 100, "{workload}: {oks} committed transactions");
    }
    let s = spec(tmp.path(), "list-append", 6, 1.5);
    for fault in [Fault::StaleReads { every: 7 }, Fault::TornTxns { every: 3 }] {
        let bad = runner::run(&with_fault(s.clone(), fault), &quiet()).expect("run");
        assert_eq!(
            bad.verdict,
            Validity::Invalid,
            "{fault:?}: {:#?}",
            bad.results.checkers
        );
    }
}
