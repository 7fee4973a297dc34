//! End to end: the set workload against `MemoryKv`. A correct store loses
//! nothing; a store that drops acknowledged appends is caught; stale reads
//! are invalid against a system promising linearizable reads, and only
//! reported against one promising sequential reads or when the workload
//! file relaxes the check — a relaxation `results.json` records and the
//! summary shows. The stored refkv run (an acknowledged element
//! left out of a final read that began after the add completed) goes
//! through `faultline analyze`, the real binary.

use assert_cmd::Command;
use faultline::checker::{compose, CheckResult, Validity};
use faultline::client::memory::{Fault, MemoryKv};
use faultline::db::Consistency;
use faultline::history::jsonl::write_history;
use faultline::history::{History, Op, OpType, Process};
use faultline::report::results::Results;
use faultline::spec::{resolve_in, Overrides};
use faultline::store::RunDir;
use faultline::workload::drive::{drive, DriveOptions};
use faultline::workload::{by_name, Departure, DepartureKind};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

async fn run(fault: Fault, cfg: Value) -> (Validity, CheckResult, usize) {
    run_against(fault, cfg, Consistency::Linearizable).await
}

async fn run_against(
    fault: Fault,
    cfg: Value,
    promise: Consistency,
) -> (Validity, CheckResult, usize) {
    let w: Arc<dyn faultline::workload::Workload> = Arc::from(by_name("set", &cfg).unwrap());
    let kv = Arc::new(MemoryKv::with_fault(fault));
    let h = drive(
        w.clone(),
        kv,
        DriveOptions {
            threads: 5,
            ops: 1500,
            seed: 11,
        },
    )
    .await;
    let final_reads = h.ops.iter().filter(|o| o.f == "read" && o.time > 0).count();
    let (v, mut results) = compose(&w.checks(promise).checkers, &h);
    let r = results.remove(0);
    eprintln!("{}: {}", r.valid, r.summary);
    (v, r, final_reads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_store_loses_nothing() {
    let (v, r, _) = run(Fault::None, Value::Null).await;
    assert_eq!(v, Validity::Valid, "{}", r.summary);
    assert_eq!(r.details["lost_count"], 0);
    assert_eq!(r.details["stale_count"], 0);
    assert!(r.details["ok_count"].as_u64().unwrap() > 1000);
    assert_eq!(
        r.details["never_read_count"], 0,
        "final reads see every element"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_appends_are_caught() {
    let (v, r, _) = run(Fault::LoseWrites { every: 10 }, Value::Null).await;
    assert_eq!(v, Validity::Invalid);
    assert!(
        r.details["lost_count"].as_u64().unwrap() >= 100,
        "{}",
        r.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_as_invalid_as_the_db_promises() {
    let stale = Fault::StaleReads { every: 2 };
    let (v, r, _) = run(stale, Value::Null).await;
    assert!(
        r.details["stale_count"].as_u64().unwrap() > 0,
        "{}",
        r.summary
    );
    assert_eq!(v, Validity::Invalid, "linearizable reads promised");
    let (v, r, _) = run_against(stale, Value::Null, Consistency::Sequential).await;
    assert!(r.details["stale_count"].as_u64().unwrap() > 0);
    assert_eq!(v, Validity::Valid, "sequential reads may be stale");
    let (v, _, _) = run(stale, json!({"stale-reads-invalid": false})).await;
    assert_eq!(v, Validity::Valid, "relaxed by the config");
    let (v, _, _) = run_against(
        stale,
        json!({"stale-reads-invalid": true}),
        Consistency::Sequential,
    )
    .await;
    assert_eq!(v, Validity::Invalid, "strengthened by the config");
}

#[test]
fn departures_from_the_promise_are_listed_and_only_those() {
    let checks = |cfg: Value, promise| {
        by_name("set", &cfg)
            .unwrap()
            .checks(promise)
            .departures
            .into_iter()
            .map(|d| (d.kind, d.setting))
            .collect::<Vec<_>>()
    };
    use Consistency::{Linearizable, Sequential};
    assert_eq!(checks(Value::Null, Linearizable), vec![]);
    assert_eq!(checks(Value::Null, Sequential), vec![]);
    // The promise spelled out is no departure.
    assert_eq!(
        checks(json!({"stale-reads-invalid": true}), Linearizable),
        vec![]
    );
    assert_eq!(
        checks(json!({"stale-reads-invalid": false}), Sequential),
        vec![]
    );
    assert_eq!(
        checks(json!({"stale-reads-invalid": false}), Linearizable),
        vec![(
            DepartureKind::Relaxed,
            Some("config.stale-reads-invalid: false".to_string())
        )]
    );
    assert_eq!(
        checks(json!({"stale-reads-invalid": true}), Sequential),
        vec![(
            DepartureKind::Stronger,
            Some("config.stale-reads-invalid: true".to_string())
        )]
    );
}

/// The history: element 1's add is acknowledged; then two final
/// reads run concurrently, both beginning after the add completed. One
/// sees 1, the other leaves it out. Since a read that saw it was still
/// running, the checker calls 1 stale rather than lost.
fn stale_final_read() -> History {
    let op = |p: u64, kind: OpType, f: &str, v: Value, t: u64| {
        let mut o = Op::invoke(Process::Client(p), f, v);
        o.kind = kind;
        o.time = t * 1_000_000;
        o
    };
    History::new(vec![
        op(0, OpType::Invoke, "add", json!(1), 1),
        op(0, OpType::Ok, "add", json!(1), 2),
        op(1, OpType::Invoke, "read", Value::Null, 10),
        op(2, OpType::Invoke, "read", Value::Null, 11),
        op(2, OpType::Ok, "read", json!([1]), 12),
        op(1, OpType::Ok, "read", json!([]), 13),
    ])
}

struct Analyzed {
    code: Option<i32>,
    stdout: String,
    results: Results,
}

/// Store a refkv set run (its `test.yaml` resolved from `--workload
/// workload` looked up under `root`, and the history) and check it
/// with `faultline analyze`.
fn analyze_stored_refkv_run(root: &Path, workload: &str) -> Analyzed {
    let spec = resolve_in(
        &Overrides {
            cluster: Some("refkv".into()),
            workload: Some(workload.into()),
            nemesis: Some("none".into()),
            seed: Some(1),
            ..Overrides::default()
        },
        root,
    )
    .unwrap();
    let dir = root.join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let run = RunDir::open(&dir);
    run.write_spec(&spec).unwrap();
    write_history(run.history_file(), &stale_final_read()).unwrap();
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .arg("analyze")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let results = Results::load(&run).unwrap_or_else(|| panic!("no results.json: {stdout}"));
    Analyzed {
        code: out.status.code(),
        stdout,
        results,
    }
}

#[test]
fn regression_stale_final_read_of_a_refkv_set_run_is_invalid_by_default() {
    let root = tempfile::tempdir().unwrap();
    let a = analyze_stored_refkv_run(root.path(), "set");
    assert_eq!(a.code, Some(1), "{}", a.stdout);
    assert!(a.stdout.contains("verdict: INVALID"), "{}", a.stdout);
    assert_eq!(a.results.checkers[0].details["stale_count"], 1);
    let promise = a.results.promise.expect("results.json records the promise");
    assert_eq!(promise.db, "refkv");
    assert_eq!(promise.consistency, Consistency::Linearizable);
    assert_eq!(promise.departures, vec![]);
    assert!(!a.stdout.contains("relaxed:"), "{}", a.stdout);
}

#[test]
fn stale_final_read_is_valid_only_with_the_explicit_relaxation_which_is_shown() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("workloads")).unwrap();
    std::fs::write(
        root.path().join("workloads/set.yaml"),
        "name: set\nconfig:\n  stale-reads-invalid: false\n",
    )
    .unwrap();
    let a = analyze_stored_refkv_run(root.path(), "set");
    // The stored run has no results.json (as if it was killed), so analyze
    // calls the run unknown; the checkers' own verdict is valid.
    assert_eq!(a.code, Some(2), "{}", a.stdout);
    assert!(
        a.stdout.contains("the partial history checked VALID"),
        "{}",
        a.stdout
    );
    assert_eq!(a.results.history_valid, Some(Validity::Valid));
    assert_eq!(a.results.checkers[0].details["stale_count"], 1);
    let promise = a.results.promise.expect("results.json records the promise");
    assert_eq!(promise.workload_file, "workloads/set.yaml");
    assert_eq!(
        promise.departures,
        vec![Departure::relaxed(
            "stale reads allowed",
            "config.stale-reads-invalid: false"
        )]
    );
    assert!(
        a.stdout.contains(
            "relaxed: stale reads allowed by workloads/set.yaml \
             (config.stale-reads-invalid: false; refkv promises linearizable reads)"
        ),
        "{}",
        a.stdout
    );
}
