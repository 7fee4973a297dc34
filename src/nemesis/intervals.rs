//! Fault intervals: the nemesis's start and stop ops of a history paired
//! into the spans in which each fault was in force. It needs only a stored
//! history and the nemesis config that made it (no Db, no cluster), so a
//! run's end, `faultline analyze` and any report of a stored run share it.

use super::config::NemesisConfig;
use super::family::{is_stop, stop_of};
use crate::history::{History, OpType};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The `f` of the nemesis op that records a fault the Db cannot take
/// (`{"skipped": reason}`, an `info` completion at the start of the main
/// phase): it did nothing, so it is no fault interval.
pub const SKIP_F: &str = "skip";

/// One fault of the nemesis, from its start op to its stop op, for reports
/// to shade. Times are ns since the main phase started (the history's
/// clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultInterval {
    /// The start op's `f` (`start-partition`, `kill`...).
    pub f: String,
    /// What was done, to which nodes (the start completion's value).
    pub value: serde_json::Value,
    /// When the fault was in force (the start's completion).
    pub start: u64,
    /// When it was healed (the stop's completion); `None` if never.
    pub end: Option<u64>,
    /// The op that ended it (`stop-partition`...).
    pub stop_f: Option<String>,
    /// False when the start op failed (then nothing may be in force).
    pub ok: bool,
}

/// The nemesis's fault intervals and failed ops, from the history, given
/// the `f`s that stop a fault (see [`of_run`]).
///
/// A stop closes the open faults of its own family (its start `f`s, see
/// [`super::family`]), not merely the last fault started: faults of
/// several families overlap, and a `start` (the end of a kill) must not
/// end a partition that is still in force. A stop `f` of no known family
/// closes the last open fault, as a custom nemesis would expect.
pub fn pair(history: &History, stops: &HashSet<String>) -> (Vec<FaultInterval>, Vec<String>) {
    let mut out: Vec<FaultInterval> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut errors = Vec::new();
    for op in history.ops.iter().filter(|o| o.process.is_nemesis()) {
        if op.kind == OpType::Invoke || op.f == SKIP_F {
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
            let known = is_stop(&op.f);
            let closing: Vec<usize> = if known {
                open.iter()
                    .copied()
                    .filter(|&i| stop_of(&out[i].f) == Some(op.f.as_str()))
                    .collect()
            } else {
                open.last().copied().into_iter().collect()
            };
            for i in closing {
                out[i].end = Some(op.time);
                out[i].stop_f = Some(op.f.clone());
                open.retain(|&o| o != i);
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
            open.push(out.len() - 1);
        }
    }
    (out, errors)
}

/// [`pair`] with the stops of `config`'s families
/// ([`NemesisConfig::stop_fs`]): a stored run's fault intervals and failed
/// nemesis ops.
pub fn of_run(history: &History, config: &NemesisConfig) -> (Vec<FaultInterval>, Vec<String>) {
    pair(history, &config.stop_fs())
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
        let (iv, errs) = pair(&History::new(ops), &stops);
        assert_eq!(iv.len(), 2);
        assert_eq!((iv[0].start, iv[0].end), (2, Some(6)));
        assert_eq!(iv[0].value, json!({"killed": ["n2"]}));
        assert!(!iv[1].ok);
        assert_eq!(iv[1].end, Some(12));
        assert_eq!(errs, vec!["start-partition: iptables failed".to_string()]);
    }

    #[test]
    fn a_skip_op_is_no_fault_and_closes_none() {
        let mut ops = Vec::new();
        let mut push = |kind: OpType, f: &str, v: serde_json::Value, t: u64| {
            let mut o = Op::invoke(Process::Nemesis, f, v);
            o.kind = kind;
            o.time = t;
            ops.push(o);
        };
        push(OpType::Invoke, SKIP_F, json!(null), 0);
        push(OpType::Info, SKIP_F, json!({"skipped": "clock: no"}), 0);
        push(OpType::Ok, "kill", json!({"killed": ["n1"]}), 2);
        push(OpType::Info, SKIP_F, json!({"skipped": "pause: no"}), 3);
        push(OpType::Ok, "start", json!({"started": ["n1"]}), 5);
        let stops: HashSet<String> = ["start".to_string()].into();
        let (iv, errs) = pair(&History::new(ops), &stops);
        assert_eq!(iv.len(), 1, "{iv:?}");
        assert_eq!(
            (iv[0].f.as_str(), iv[0].start, iv[0].end),
            ("kill", 2, Some(5))
        );
        assert!(errs.is_empty());
    }

    /// Regression: with one "open" slot, a kill's `start` closed the
    /// partition started after the kill, and the kill stayed open.
    #[test]
    fn a_stop_closes_the_fault_of_its_own_family_when_faults_overlap() {
        let mut ops = Vec::new();
        for (f, v, t) in [
            ("kill", json!({"killed": ["n1"]}), 1),
            ("start-partition", json!({"grudge": {}}), 2),
            ("start", json!({"started": ["n1"]}), 3),
            ("stop-partition", json!({"healed": []}), 4),
        ] {
            let mut o = Op::invoke(Process::Nemesis, f, v);
            o.kind = OpType::Ok;
            o.time = t;
            ops.push(o);
        }
        let (iv, _) = of_run(&History::new(ops), &NemesisConfig::default());
        let spans: Vec<(&str, u64, Option<u64>)> =
            iv.iter().map(|i| (i.f.as_str(), i.start, i.end)).collect();
        assert_eq!(
            spans,
            [("kill", 1, Some(3)), ("start-partition", 2, Some(4))]
        );
    }
}
