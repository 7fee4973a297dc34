//! End to end: the counter workload against `MemoryKv`. Correct increments
//! keep every read within its bounds; lost increments are caught.

use faultline::checker::{compose, Validity};
use faultline::client::memory::{Fault, MemoryKv};
use faultline::db::Consistency;
use faultline::workload::by_name;
use faultline::workload::drive::{drive, DriveOptions};
use std::sync::Arc;

async fn run(fault: Fault) -> (Validity, faultline::checker::CheckResult) {
    let w: Arc<dyn faultline::workload::Workload> =
        Arc::from(by_name("counter", &serde_json::Value::Null).unwrap());
    let kv = Arc::new(MemoryKv::with_fault(fault));
    let h = drive(
        w.clone(),
        kv,
        DriveOptions {
            threads: 5,
            ops: 1500,
            seed: 3,
        },
    )
    .await;
    let (v, mut results) = compose(&w.checks(Consistency::Linearizable).checkers, &h);
    let r = results.remove(0);
    eprintln!("{}: {}", r.valid, r.summary);
    (v, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_counter_reads_stay_within_bounds() {
    let (v, r) = run(Fault::None).await;
    assert_eq!(v, Validity::Valid, "{}", r.summary);
    assert!(r.details["acknowledged_sum"].as_i64().unwrap() > 1000);
    assert_eq!(r.details["acknowledged_sum"], r.details["last_valid_read"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_increments_are_caught() {
    let (v, r) = run(Fault::LoseWrites { every: 7 }).await;
    assert_eq!(v, Validity::Invalid);
    assert_eq!(
        r.details["violations"][0]["problem"],
        "below the lower bound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_below_acknowledged_increments_are_caught() {
    let (v, _) = run(Fault::StaleReads { every: 2 }).await;
    assert_eq!(v, Validity::Invalid);
}
