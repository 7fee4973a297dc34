//! Seeded random list-append histories, for property tests and benchmarks.
//!
//! [`random_list_append`] simulates `concurrency` client processes against
//! one in-memory store of lists. Each transaction is invoked, then takes
//! effect atomically when it completes (so the history is strict
//! serializable), or fails before taking effect, or crashes (`info`) having
//! taken effect or not. Keys rotate as in Elle's generator: a few are
//! active at a time, each takes at most `max_appends_per_key` appends, then
//! a fresh key replaces it. With `stale_reads > 0`, that fraction of reads
//! returns a strict prefix of the list instead — an injected anomaly.

use crate::history::{History, Op, OpType, Process};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What [`random_list_append`] generates.
#[derive(Debug, Clone)]
pub struct TxnGenOptions {
    /// Number of transactions (invokes).
    pub txns: usize,
    /// Concurrent client processes.
    pub concurrency: usize,
    /// Keys active at a time.
    pub active_keys: usize,
    /// Appends a key takes before it is retired.
    pub max_appends_per_key: usize,
    /// Micro-ops per transaction, at most (at least 1).
    pub max_mops: usize,
    /// Fraction of micro-ops that are reads.
    pub read_ratio: f64,
    /// Fraction of transactions that fail.
    pub fail_ratio: f64,
    /// Fraction of transactions that crash (`info`).
    pub info_ratio: f64,
    /// Fraction of reads that return a stale prefix (0: a valid history).
    pub stale_reads: f64,
    /// The seed.
    pub seed: u64,
}

impl Default for TxnGenOptions {
    fn default() -> Self {
        TxnGenOptions {
            txns: 1_000,
            concurrency: 10,
            active_keys: 8,
            max_appends_per_key: 32,
            max_mops: 4,
            read_ratio: 0.5,
            fail_ratio: 0.03,
            info_ratio: 0.01,
            stale_reads: 0.0,
            seed: 1,
        }
    }
}

/// A planned micro-op: `Some(v)` appends `v`, `None` reads.
type Plan = Vec<(u64, Option<u64>)>;

fn planned(plan: &Plan) -> Value {
    Value::Array(
        plan.iter()
            .map(|(k, v)| match v {
                Some(v) => json!(["append", k, v]),
                None => json!(["r", k, null]),
            })
            .collect(),
    )
}

/// A random list-append history (see the module docs).
pub fn random_list_append(o: &TxnGenOptions) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut lists: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut appends: HashMap<u64, usize> = HashMap::new();
    let mut next_value: HashMap<u64, u64> = HashMap::new();
    let mut active: Vec<u64> = (0..o.active_keys.max(1) as u64).collect();
    let mut next_key = active.len() as u64;
    let mut procs: Vec<u64> = (0..o.concurrency.max(1) as u64).collect();
    let mut next_proc = procs.len() as u64;
    let mut open: Vec<Option<Plan>> = vec![None; procs.len()];
    let mut ops: Vec<Op> = Vec::new();
    let mut invoked = 0usize;
    let mut time = 0u64;
    let push = |ops: &mut Vec<Op>, kind: OpType, p: u64, value: Value, time: u64| {
        let mut op = Op::invoke(Process::Client(p), "txn", value);
        op.kind = kind;
        op.time = time;
        ops.push(op);
    };
    while invoked < o.txns || open.iter().any(Option::is_some) {
        time += rng.gen_range(1_000..100_000);
        let slot = rng.gen_range(0..procs.len());
        let p = procs[slot];
        match open[slot].take() {
            None if invoked < o.txns => {
                let n = rng.gen_range(1..=o.max_mops.max(1));
                let mut plan: Plan = Vec::with_capacity(n);
                for _ in 0..n {
                    let i = rng.gen_range(0..active.len());
                    let k = active[i];
                    if rng.gen_bool(o.read_ratio.clamp(0.0, 1.0)) {
                        plan.push((k, None));
                    } else {
                        let v = next_value.entry(k).or_insert(0);
                        *v += 1;
                        plan.push((k, Some(*v)));
                        let a = appends.entry(k).or_insert(0);
                        *a += 1;
                        if *a >= o.max_appends_per_key.max(1) {
                            active[i] = next_key;
                            next_key += 1;
                        }
                    }
                }
                push(&mut ops, OpType::Invoke, p, planned(&plan), time);
                open[slot] = Some(plan);
                invoked += 1;
            }
            None => {}
            Some(plan) => {
                let roll: f64 = rng.gen();
                if roll < o.fail_ratio {
                    push(&mut ops, OpType::Fail, p, planned(&plan), time);
                    continue;
                }
                let crashed = roll < o.fail_ratio + o.info_ratio;
                if crashed && rng.gen_bool(0.5) {
                    push(&mut ops, OpType::Info, p, planned(&plan), time);
                } else {
                    let mut done = Vec::with_capacity(plan.len());
                    for (k, v) in &plan {
                        let list = lists.entry(*k).or_default();
                        match v {
                            Some(v) => {
                                list.push(*v);
                                done.push(json!(["append", k, v]));
                            }
                            None => {
                                let mut seen = list.clone();
                                if !seen.is_empty() && rng.gen_bool(o.stale_reads.clamp(0.0, 1.0)) {
                                    let keep = rng.gen_range(0..seen.len());
                                    seen.truncate(keep);
                                }
                                done.push(json!(["r", k, seen]));
                            }
                        }
                    }
                    if crashed {
                        push(&mut ops, OpType::Info, p, planned(&plan), time);
                    } else {
                        push(&mut ops, OpType::Ok, p, Value::Array(done), time);
                    }
                }
                if crashed {
                    // A crashed process continues under a new number.
                    procs[slot] = next_proc;
                    next_proc += 1;
                }
            }
        }
    }
    History::new(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::{analyse, Flavor};

    #[test]
    fn generated_histories_are_valid_and_stale_reads_are_caught() {
        for seed in 1..=5 {
            let o = TxnGenOptions {
                txns: 2_000,
                seed,
                ..TxnGenOptions::default()
            };
            let r = analyse(&random_list_append(&o), Flavor::ListAppend).expect("checks");
            assert!(
                r.anomalies.is_empty(),
                "seed {seed}: {:?}",
                r.anomalies.first()
            );
            assert!(r.committed > 1_000, "{}", r.committed);
            let bad = TxnGenOptions {
                stale_reads: 0.05,
                ..o
            };
            let r = analyse(&random_list_append(&bad), Flavor::ListAppend).expect("checks");
            assert!(
                !r.anomalies.is_empty(),
                "seed {seed}: stale reads went unseen"
            );
        }
    }
}
