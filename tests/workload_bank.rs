//! End to end: the bank workload against `MemoryKv`. Atomic transactions
//! conserve the total; torn transactions are caught.

use faultline::checker::{compose, Validity};
use faultline::client::memory::{Fault, MemoryKv};
use faultline::db::Consistency;
use faultline::history::OpType;
use faultline::workload::by_name;
use faultline::workload::drive::{drive, DriveOptions};
use std::sync::Arc;

async fn run(fault: Fault) -> (Validity, faultline::checker::CheckResult) {
    let w: Arc<dyn faultline::workload::Workload> =
        Arc::from(by_name("bank", &serde_json::Value::Null).unwrap());
    let kv = Arc::new(MemoryKv::with_fault(fault));
    let h = drive(
        w.clone(),
        kv,
        DriveOptions {
            threads: 5,
            ops: 1500,
            seed: 5,
        },
    )
    .await;
    let (v, mut results) = compose(&w.checks(Consistency::Linearizable).checkers, &h);
    let r = results.remove(0);
    eprintln!("{}: {}", r.valid, r.summary);
    (v, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_transfers_conserve_the_total() {
    let (v, r) = run(Fault::None).await;
    assert_eq!(v, Validity::Valid, "{}", r.summary);
    assert!(
        r.details["transfers"]["ok"].as_u64().unwrap() > 100,
        "{}",
        r.summary
    );
    assert!(r.details["read_count"].as_u64().unwrap() > 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_transfers_are_caught() {
    let (v, r) = run(Fault::TornTxns { every: 5 }).await;
    assert_eq!(v, Validity::Invalid);
    assert_eq!(
        r.details["bad_reads"][0]["problems"][0]["kind"],
        "wrong-total"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdrafts_fail_and_same_seed_gives_same_ops() {
    let w = by_name("bank", &serde_json::json!({"total": 10, "max-transfer": 5})).unwrap();
    let w: Arc<dyn faultline::workload::Workload> = Arc::from(w);
    let ops = |h: &faultline::history::History| {
        let mut v: Vec<String> = h
            .ops
            .iter()
            .filter(|o| o.kind == OpType::Invoke)
            .map(|o| format!("{} {}", o.f, o.value))
            .collect();
        v.sort();
        v
    };
    let opts = DriveOptions {
        threads: 3,
        ops: 300,
        seed: 42,
    };
    let a = drive(w.clone(), Arc::new(MemoryKv::new()), opts).await;
    let b = drive(w.clone(), Arc::new(MemoryKv::new()), opts).await;
    assert_eq!(ops(&a), ops(&b));
    assert!(a.ops.iter().any(|o| o.kind == OpType::Fail
        && o.error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("insufficient"))));
    assert_eq!(
        compose(&w.checks(Consistency::Linearizable).checkers, &a).0,
        Validity::Valid
    );
}
