//! End to end: the register workload's generator and invoke against
//! `MemoryKv`, checked for linearizability. A correct store is valid; one
//! serving stale reads is caught.

use faultline::checker::{compose, Validity};
use faultline::client::memory::{Fault, MemoryKv};
use faultline::db::Consistency;
use faultline::history::{Key, OpType};
use faultline::workload::by_name;
use faultline::workload::drive::{drive, DriveOptions};
use serde_json::json;
use std::sync::Arc;

async fn run(fault: Fault, seed: u64) -> (Validity, faultline::history::History) {
    let w: Arc<dyn faultline::workload::Workload> = Arc::from(
        by_name(
            "register",
            &json!({"ops-per-key": 40, "threads-per-key": 3}),
        )
        .unwrap(),
    );
    let kv = Arc::new(MemoryKv::with_fault(fault));
    let opts = DriveOptions {
        threads: 6,
        ops: 2000,
        seed,
    };
    let h = drive(w.clone(), kv, opts).await;
    let (v, results) = compose(&w.checks(Consistency::Linearizable).checkers, &h);
    for r in &results {
        eprintln!("{}: {} {}", r.checker, r.valid, r.summary);
    }
    (v, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_store_is_linearizable() {
    let (v, h) = run(Fault::None, 1).await;
    assert_eq!(v, Validity::Valid);
    let ok = h.ops.iter().filter(|o| o.kind == OpType::Ok).count();
    assert!(ok > 1000, "only {ok} ok ops");
    // cas both succeeds and fails on a small value range.
    assert!(h.ops.iter().any(|o| o.f == "cas" && o.kind == OpType::Ok));
    assert!(h.ops.iter().any(|o| o.f == "cas" && o.kind == OpType::Fail));
    // Keys rotate: 2000 ops / 40 per key.
    let max_key = h
        .ops
        .iter()
        .filter_map(|o| match o.key {
            Some(Key::Int(k)) => Some(k),
            _ => None,
        })
        .max();
    assert!(max_key >= Some(40), "{max_key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_not_linearizable() {
    let (v, _) = run(Fault::StaleReads { every: 3 }, 2).await;
    assert_eq!(v, Validity::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_writes_are_not_linearizable() {
    let (v, _) = run(Fault::LoseWrites { every: 4 }, 3).await;
    assert_eq!(v, Validity::Invalid);
}

#[test]
fn unknown_workload_names_the_valid_ones() {
    let e = by_name("regster", &serde_json::Value::Null).err().unwrap();
    assert!(e.contains("register, set, bank, counter"), "{e}");
}

/// Pins a checker bug found by `correct_store_is_linearizable`: a write of
/// the register's current value is not state-neutral later on (w4 ‖ w4, w1
/// between, then read 4 is linearizable: w4, w1, w4, r4), so the search must
/// not linearize it greedily.
#[test]
fn regression_write_of_the_current_value_is_not_linearized_greedily() {
    use faultline::checker::linearizable::Linearizable;
    use faultline::checker::Checker;
    use faultline::history::{History, Op, Process};
    let op = |p: u64, kind: OpType, f: &str, v: serde_json::Value| {
        let mut o = Op::invoke(Process::Client(p), f, v);
        o.kind = kind;
        o
    };
    use OpType::{Invoke, Ok};
    let h = History::new(vec![
        op(5, Invoke, "write", json!(4)),
        op(4, Invoke, "write", json!(4)),
        op(5, Ok, "write", json!(4)),
        op(5, Invoke, "write", json!(1)),
        op(5, Ok, "write", json!(1)),
        op(4, Ok, "write", json!(4)),
        op(4, Invoke, "read", serde_json::Value::Null),
        op(4, Ok, "read", json!(4)),
    ]);
    let r = Linearizable::default().check(&h).unwrap();
    assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
}
