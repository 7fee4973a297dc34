//! One short real run: a 3-node local refkv cluster (network namespaces),
//! the register workload, partitions and kills every 2 s. The run must be
//! valid, the nemesis ops must be in the history with what they did, and
//! afterwards nothing of faultline may be left on the machine.

mod local_common;

use faultline::checker::Validity;
use faultline::history::jsonl::read_jsonl;
use faultline::history::{OpType, Process};
use faultline::nemesis::package::NemesisConfig;
use faultline::runner::{self, Progress, RunOptions};
use faultline::spec::{ClusterSpec, Concurrency, NemesisSpec, TestSpec, WorkloadSpec};
use std::path::PathBuf;

#[test]
fn a_local_refkv_run_under_partitions_and_kills_is_valid_and_leaves_nothing() {
    if !local_common::root_or_skip("runner_local") {
        return;
    }
    let _g = local_common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let spec = TestSpec {
        name: "local-register".into(),
        cluster: ClusterSpec {
            nodes: 3,
            ..Default::default()
        },
        workload: WorkloadSpec {
            name: "register".into(),
            concurrency: Concurrency::PerNode(2),
            rate: 50.0,
            time_limit: 10.0,
            recovery: 1.0,
            ..Default::default()
        },
        nemesis: NemesisSpec {
            name: "partition-kill".into(),
            config: NemesisConfig {
                faults: vec!["partition".into(), "kill".into()],
                interval: 2.0,
                ..Default::default()
            },
        },
        concurrency: 6,
        seed: 5,
        results_dir: tmp.path().to_path_buf(),
        leave_db_running: false,
        test_count: 1,
        stop_on_anomaly: false,
    };
    let opts = RunOptions {
        progress: Progress::Plain,
        binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_faultline"))),
        carry: None,
    };
    let out = runner::run(&spec, &opts).expect("run");
    assert_eq!(out.verdict, Validity::Valid, "{:#?}", out.results.checkers);

    let h = read_jsonl(out.dir.join("history.jsonl")).unwrap().history;
    let nemesis: Vec<_> = h
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind != OpType::Invoke)
        .collect();
    // Faults at 2, 4, 6, 8 s, plus the final heal ops.
    assert!(nemesis.len() >= 4, "{nemesis:#?}");
    assert!(
        nemesis
            .iter()
            .any(|o| o.kind == OpType::Ok && (o.f == "start-partition" || o.f == "kill")),
        "{nemesis:#?}"
    );
    // Each completion says what was done: a non-null value naming nodes.
    for o in nemesis.iter().filter(|o| o.kind == OpType::Ok) {
        assert!(!o.value.is_null(), "{o:?}");
    }
    assert!(!out.results.nemesis.intervals.is_empty());
    assert!(out.results.ops.ok > 100, "{:?}", out.results.ops);
    // Node logs were collected.
    for n in ["n1", "n2", "n3"] {
        let d = out.dir.join("nodes").join(n);
        assert!(
            std::fs::read_dir(&d).map(|r| r.count()).unwrap_or(0) > 0,
            "no logs in {}",
            d.display()
        );
    }
    // Nothing left behind: `faultline heal` finds nothing to remove.
    let left = faultline::remote::local::heal_all().expect("heal");
    assert!(left.is_empty(), "left behind:\n{left}");
}
