//! Transactional (Elle-style) checker benchmark: `cargo bench --bench txn`.
//!
//! Issue 18's target: close to linear in history size, a 100,000-transaction
//! list-append history checked in seconds. Histories come from the seeded
//! generator (`checker::txn::generate`): 10 processes, 8 active keys of at
//! most 32 appends each, up to 4 micro-ops per transaction, half reads, 3 %
//! failed and 1 % crashed. "valid" is strict serializable by construction;
//! "stale" returns a stale prefix for 1 % of reads (anomalies to find and
//! explain). Times are the median of several runs (min in brackets), the
//! whole check in process: parse, infer, build the graph, search it.

use faultline::checker::txn::generate::{random_list_append, TxnGenOptions};
use faultline::checker::txn::{Flavor, TxnChecker};
use faultline::checker::{Checker, Validity};
use std::time::{Duration, Instant};

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[reps / 2], times[0], last.expect("reps > 0"))
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let reps = if quick { 1 } else { 5 };
    println!("txn checker benchmark ({reps} reps, median [min])");
    let sizes: &[usize] = if quick {
        &[10_000]
    } else {
        &[10_000, 100_000, 200_000]
    };
    for &stale in &[0.0, 0.01] {
        for &n in sizes {
            let h = random_list_append(&TxnGenOptions {
                txns: n,
                stale_reads: stale,
                seed: 7,
                ..TxnGenOptions::default()
            });
            let c = TxnChecker::new(Flavor::ListAppend, vec![]);
            let (med, min, r) = time(reps, || c.check(&h).expect("checkable"));
            let expect = if stale == 0.0 {
                Validity::Valid
            } else {
                Validity::Invalid
            };
            assert_eq!(r.valid, expect, "{}", r.summary);
            println!(
                "{:>7} txns {:<6} {:>9.1} ms [{:.1}]  {:>6.2} µs/txn  {} edges, {} anomalies",
                n,
                if stale == 0.0 { "valid" } else { "stale" },
                med.as_secs_f64() * 1e3,
                min.as_secs_f64() * 1e3,
                med.as_secs_f64() * 1e6 / n as f64,
                r.details["edges"],
                r.details["counts"]
                    .as_object()
                    .map_or(0, |c| c.values().filter_map(|v| v.as_u64()).sum::<u64>()),
            );
        }
    }
    if let Some(m) = peak_rss_mib() {
        println!("peak memory (whole benchmark, histories included): {m:.0} MiB");
    }
}
