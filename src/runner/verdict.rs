//! From a history to `results.json`: run every checker of the workload
//! (a checker that errors or panics yields `unknown`), pair the nemesis's
//! start and stop ops into fault intervals, count ops and compute latency
//! quantiles. Shared by the end of a run and by `faultline analyze`.

use super::RunError;
use crate::checker::{compose, CheckResult, Validity};
use crate::db::Capabilities;
use crate::history::{History, OpType};
use crate::nemesis::package::{self, NemesisConfig};
use crate::report::latency::{latencies, op_counts};
use crate::spec::TestSpec;
use crate::store::{FaultInterval, NemesisSummary, Phase, Results};
use std::collections::HashSet;
use std::time::Instant;

/// Every checker of the spec's workload over `history`: the merged verdict,
/// each checker's result and the seconds it all took.
pub fn check(
    spec: &TestSpec,
    history: &History,
) -> Result<(Validity, Vec<CheckResult>, f64), RunError> {
    let (checkers, _) = spec
        .checks()
        .map_err(|e| RunError::BadInput(format!("workload: {e}")))?;
    let t = Instant::now();
    let (valid, results) = compose(&checkers, history);
    Ok((valid, results, t.elapsed().as_secs_f64()))
}

/// The `f`s that end a fault for this nemesis config: its final (heal) ops.
pub fn stop_fs(cfg: &NemesisConfig) -> HashSet<String> {
    let all = Capabilities {
        kill: true,
        pause: true,
        primaries: true,
        clock: Ok(()),
    };
    match package::build(cfg, &all) {
        Ok(p) => p.final_ops.into_iter().map(|(f, _)| f).collect(),
        Err(_) => [
            "stop-partition",
            "start",
            "resume",
            "reset-clock",
            "stop-loss",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    }
}

/// The nemesis's fault intervals and failed ops, from the history.
pub fn intervals(history: &History, stops: &HashSet<String>) -> (Vec<FaultInterval>, Vec<String>) {
    let mut out: Vec<FaultInterval> = Vec::new();
    let mut open: Option<usize> = None;
    let mut errors = Vec::new();
    for op in history.ops.iter().filter(|o| o.process.is_nemesis()) {
        if op.kind == OpType::Invoke {
            continue;
        }
        if let Some(e) = &op.error {
            let e = e
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            errors.push(format!("{}: {e}", op.f));
        }
        if stops.contains(&op.f) {
            if let Some(i) = open.take() {
                out[i].end = Some(op.time);
                out[i].stop_f = Some(op.f.clone());
            }
        } else {
            out.push(FaultInterval {
                f: op.f.clone(),
                value: op.value.clone(),
                start: op.time,
                end: None,
                stop_f: None,
                ok: op.kind == OpType::Ok,
            });
            open = Some(out.len() - 1);
        }
    }
    (out, errors)
}

/// What a run (or analysis) knows besides the history and the checks.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// When it started (RFC 3339).
    pub start: String,
    /// Why it was cut short.
    pub interrupted: Option<String>,
    /// The nemesis's name.
    pub nemesis: String,
    /// Families or targets skipped.
    pub skipped: Vec<String>,
    /// The phases.
    pub phases: Vec<Phase>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Assemble `results.json`.
pub fn results(
    spec: &TestSpec,
    history: &History,
    (valid, checkers, secs): (Validity, Vec<CheckResult>, f64),
    facts: RunFacts,
) -> Results {
    let (intervals, errors) = intervals(history, &stop_fs(&spec.nemesis.config));
    Results {
        test: spec.name.clone(),
        seed: spec.seed,
        valid,
        start: facts.start,
        interrupted: facts.interrupted,
        checkers,
        ops: op_counts(history),
        latency: latencies(history),
        nemesis: NemesisSummary {
            name: facts.nemesis,
            intervals,
            skipped: facts.skipped,
            errors,
        },
        phases: facts.phases,
        warnings: facts.warnings,
        check_seconds: (secs * 1000.0).round() / 1000.0,
        promise: spec.checks().ok().map(|(_, strictness)| strictness),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};
    use serde_json::json;

    #[test]
    fn intervals_pair_starts_with_stops_and_keep_errors() {
        let mut ops = Vec::new();
        let mut push = |kind: OpType, f: &str, v: serde_json::Value, t: u64, err: Option<&str>| {
            let mut o = Op::invoke(Process::Nemesis, f, v);
            o.kind = kind;
            o.time = t;
            o.error = err.map(|e| json!(e));
            ops.push(o);
        };
        push(OpType::Invoke, "kill", json!({"target": "one"}), 1, None);
        push(OpType::Ok, "kill", json!({"killed": ["n2"]}), 2, None);
        push(OpType::Invoke, "start", json!(null), 5, None);
        push(OpType::Ok, "start", json!({"started": ["n2"]}), 6, None);
        push(OpType::Invoke, "start-partition", json!({}), 8, None);
        push(
            OpType::Info,
            "start-partition",
            json!({}),
            9,
            Some("iptables failed"),
        );
        push(OpType::Ok, "stop-partition", json!(null), 12, None);
        let stops: HashSet<String> = ["start", "stop-partition"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (iv, errs) = intervals(&History::new(ops), &stops);
        assert_eq!(iv.len(), 2);
        assert_eq!((iv[0].start, iv[0].end), (2, Some(6)));
        assert_eq!(iv[0].value, json!({"killed": ["n2"]}));
        assert!(!iv[1].ok);
        assert_eq!(iv[1].end, Some(12));
        assert_eq!(errs, vec!["start-partition: iptables failed".to_string()]);
    }
}
