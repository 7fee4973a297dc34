//! End to end: the set workload against `MemoryKv`. A correct store loses
//! nothing; a store that drops acknowledged appends is caught; stale reads
//! are reported.

use faultline::checker::{compose, CheckResult, Validity};
use faultline::client::memory::{Fault, MemoryKv};
use faultline::workload::by_name;
use faultline::workload::drive::{drive, DriveOptions};
use serde_json::json;
use std::sync::Arc;

async fn run(fault: Fault, cfg: serde_json::Value) -> (Validity, CheckResult, usize) {
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
    let (v, mut results) = compose(&w.checkers(), &h);
    let r = results.remove(0);
    eprintln!("{}: {}", r.valid, r.summary);
    (v, r, final_reads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_store_loses_nothing() {
    let (v, r, _) = run(Fault::None, serde_json::Value::Null).await;
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
    let (v, r, _) = run(Fault::LoseWrites { every: 10 }, serde_json::Value::Null).await;
    assert_eq!(v, Validity::Invalid);
    assert!(
        r.details["lost_count"].as_u64().unwrap() >= 100,
        "{}",
        r.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_reported_and_invalid_when_asked() {
    let (v, r, _) = run(Fault::StaleReads { every: 2 }, serde_json::Value::Null).await;
    assert!(
        r.details["stale_count"].as_u64().unwrap() > 0,
        "{}",
        r.summary
    );
    assert_eq!(v, Validity::Valid, "stale alone is reported, not invalid");
    let (v, _, _) = run(
        Fault::StaleReads { every: 2 },
        json!({"stale-reads-invalid": true}),
    )
    .await;
    assert_eq!(v, Validity::Invalid);
}
