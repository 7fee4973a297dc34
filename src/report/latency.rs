//! Latency quantiles of a history, per `f` and completion type.
//!
//! The latency of an op is its completion's `time` minus its invoke's.
//! Invokes without a completion (a run cut short, or an op still in flight
//! when a phase ended) have no latency and are counted in `open` instead.
//! Nemesis ops are left out: their "latency" is how long a fault took to
//! inject, shown in the nemesis intervals instead.

use crate::history::{History, OpType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Latency quantiles of one `f` ending in one completion type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// The op's function.
    pub f: String,
    /// How the ops ended: `ok`, `fail` or `info`.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// How many ops.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// How many client ops ended each way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// Client invokes.
    pub invoke: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions.
    pub fail: u64,
    /// `info` completions.
    pub info: u64,
    /// Invokes with no completion (count as `info`).
    pub open: u64,
}

/// The nearest-rank quantile `q` of sorted `xs` (non-empty).
pub(crate) fn quantile(xs: &[u64], q: f64) -> u64 {
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// Counts of client ops by how they ended.
pub fn op_counts(history: &History) -> OpCounts {
    let mut c = OpCounts::default();
    let mut open: std::collections::HashMap<crate::history::Process, ()> = Default::default();
    for op in history.ops.iter().filter(|o| o.is_client()) {
        match op.kind {
            OpType::Invoke => {
                c.invoke += 1;
                open.insert(op.process, ());
            }
            OpType::Ok => c.ok += 1,
            OpType::Fail => c.fail += 1,
            OpType::Info => c.info += 1,
        }
        if op.kind != OpType::Invoke {
            open.remove(&op.process);
        }
    }
    c.open = open.len() as u64;
    c
}

/// Latency rows of the client ops, sorted by `f` then type. A malformed
/// history (completion without invoke) yields the rows of the pairs found
/// up to the problem; checkers report the malformation itself.
pub fn latencies(history: &History) -> Vec<LatencyRow> {
    let mut groups: BTreeMap<(String, u8), (OpType, Vec<u64>)> = BTreeMap::new();
    let mut open: std::collections::HashMap<crate::history::Process, (u64, &str)> =
        Default::default();
    for op in history.ops.iter().filter(|o| o.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, (op.time, op.f.as_str()));
            continue;
        }
        let Some((t0, f)) = open.remove(&op.process) else {
            continue;
        };
        let order = match op.kind {
            OpType::Ok => 0,
            OpType::Fail => 1,
            _ => 2,
        };
        groups
            .entry((f.to_string(), order))
            .or_insert_with(|| (op.kind, Vec::new()))
            .1
            .push(op.time.saturating_sub(t0));
    }
    groups
        .into_iter()
        .map(|((f, _), (kind, mut xs))| {
            xs.sort_unstable();
            LatencyRow {
                f,
                kind,
                count: xs.len() as u64,
                p50_ms: ms(quantile(&xs, 0.50)),
                p95_ms: ms(quantile(&xs, 0.95)),
                p99_ms: ms(quantile(&xs, 0.99)),
                max_ms: ms(*xs.last().unwrap_or(&0)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};
    use serde_json::json;

    fn op(kind: OpType, p: u64, f: &str, t: u64) -> Op {
        let mut o = Op::invoke(Process::Client(p), f, json!(null));
        o.kind = kind;
        o.time = t;
        o
    }

    #[test]
    fn quantiles_per_f_and_type_and_open_invokes_counted() {
        let mut ops = Vec::new();
        for i in 0..100u64 {
            ops.push(op(OpType::Invoke, 0, "read", i * 1000));
            ops.push(op(OpType::Ok, 0, "read", i * 1000 + (i + 1) * 1_000_000));
        }
        ops.push(op(OpType::Invoke, 1, "write", 0));
        ops.push(op(OpType::Fail, 1, "write", 2_000_000));
        ops.push(op(OpType::Invoke, 2, "write", 0));
        let h = History::new(ops);
        let rows = latencies(&h);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].f, "read");
        assert_eq!(rows[0].count, 100);
        assert_eq!(rows[0].p50_ms, 50.0);
        assert_eq!(rows[0].p99_ms, 99.0);
        assert_eq!(rows[0].max_ms, 100.0);
        assert_eq!(rows[1].kind, OpType::Fail);
        assert_eq!(rows[1].max_ms, 2.0);
        let c = op_counts(&h);
        assert_eq!(
            (c.invoke, c.ok, c.fail, c.info, c.open),
            (102, 100, 1, 0, 1)
        );
    }
}
