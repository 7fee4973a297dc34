//! The counter checker: a counter starts at 0 and is only incremented, so
//! each read is bounded by what the history allows (Jepsen's `counter`).
//!
//! Ops: `add` (value: a non-negative integer increment) and `read` (on an
//! `ok` completion, value: the integer read). For each `ok` read:
//! - **lower bound**: the sum of the increments whose `ok` completion
//!   precedes the read's invoke — they certainly happened before it;
//! - **upper bound**: the sum of the increments invoked before the read
//!   completed whose outcome is `ok`, `info` or unknown — every increment
//!   that might have happened by then (a `fail`ed one never happens).
//!
//! "Before" is history order, which is real-time order. A read outside its
//! bounds, or whose value is not an integer, is a violation.
//!
//! Verdict: invalid on any violation; unknown when no read was `ok`; valid
//! otherwise.

use super::{CheckError, CheckResult, Checker, Validity};
use crate::history::{History, OpType, Process};
use serde_json::{json, Value};
use std::collections::HashMap;

fn overflow(index: u64) -> CheckError {
    CheckError::BadOp {
        index,
        reason: "the sum of the increments exceeds 2^63 - 1".into(),
    }
}

/// At most this many violations are listed in the details.
const LIST_LIMIT: usize = 100;

/// The counter checker; name `counter`.
#[derive(Debug, Clone, Default)]
pub struct CounterChecker;

impl Checker for CounterChecker {
    fn name(&self) -> &str {
        "counter"
    }

    /// Yes. A read in a prefix is completed there, so its lower bound (the
    /// `ok` increments completed before its invoke) is the same in every
    /// extension; its upper bound counts every increment invoked before the
    /// read completed unless it `fail`ed, and an increment still open in
    /// the prefix is counted: in an extension it may turn out `fail` and
    /// drop out, so the upper bound can only shrink. A read outside its
    /// prefix bounds is outside them in every extension.
    fn prefix_closed(&self) -> bool {
        true
    }

    fn check(&self, history: &History) -> Result<CheckResult, CheckError> {
        // Outcome of every op, by the index of its invoke.
        let pairs = history.pairs()?;
        let mut outcome: HashMap<u64, Option<OpType>> = HashMap::new();
        for (inv, comp) in &pairs {
            outcome.insert(inv.index, comp.map(|c| c.kind));
        }

        let mut lower: i64 = 0; // sum of ok increments completed so far
        let mut upper: i64 = 0; // sum of possible increments invoked so far
        let mut pending_delta: HashMap<Process, i64> = HashMap::new();
        let mut read_lower: HashMap<Process, i64> = HashMap::new();
        let mut reads = 0usize;
        let mut violations: Vec<Value> = Vec::new();
        let mut violation_count = 0usize;
        let mut last_read: Option<i64> = None;

        for op in history.ops.iter().filter(|o| o.is_client()) {
            match (op.f.as_str(), op.kind) {
                ("add", OpType::Invoke) => {
                    let d =
                        op.value
                            .as_i64()
                            .filter(|d| *d >= 0)
                            .ok_or_else(|| CheckError::BadOp {
                                index: op.index,
                                reason: format!(
                                    "counter increment {} is not a non-negative integer",
                                    op.value
                                ),
                            })?;
                    pending_delta.insert(op.process, d);
                    if outcome.get(&op.index) != Some(&Some(OpType::Fail)) {
                        // Checked: a wrapped bound would judge reads against
                        // a value the history never allowed.
                        upper = upper.checked_add(d).ok_or_else(|| overflow(op.index))?;
                    }
                }
                ("add", OpType::Ok) => {
                    lower = lower
                        .checked_add(pending_delta.remove(&op.process).unwrap_or(0))
                        .ok_or_else(|| overflow(op.index))?;
                }
                ("add", _) => {
                    pending_delta.remove(&op.process);
                }
                ("read", OpType::Invoke) => {
                    read_lower.insert(op.process, lower);
                }
                ("read", kind) => {
                    let lo = read_lower.remove(&op.process).unwrap_or(0);
                    if kind != OpType::Ok {
                        continue;
                    }
                    reads += 1;
                    let problem = match op.value.as_i64() {
                        None => Some("not an integer"),
                        Some(v) if v < lo => Some("below the lower bound"),
                        Some(v) if v > upper => Some("above the upper bound"),
                        Some(v) => {
                            last_read = Some(v);
                            None
                        }
                    };
                    if let Some(p) = problem {
                        violation_count += 1;
                        if violations.len() < LIST_LIMIT {
                            violations.push(json!({
                                "index": op.index,
                                "process": op.process,
                                "value": op.value,
                                "lower": lo,
                                "upper": upper,
                                "problem": p,
                            }));
                        }
                    }
                }
                _ => {}
            }
        }

        let valid = Validity::of_invariant(violation_count, reads);
        let summary = format!(
            "{reads} ok reads, {violation_count} outside their bounds; acknowledged sum {lower}, possible sum {upper}"
        );
        let mut r = CheckResult::new("counter", valid, summary);
        r.details = json!({
            "read_count": reads,
            "violation_count": violation_count,
            "violations": violations,
            "acknowledged_sum": lower,
            "possible_sum": upper,
            "last_valid_read": last_read,
        });
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::set::tests::h;
    use OpType::{Fail, Info, Invoke as Inv, Ok as Okk};

    fn check(hist: &History) -> CheckResult {
        CounterChecker.check(hist).unwrap()
    }

    #[test]
    fn accepts_reads_within_bounds_including_info_increments() {
        let r = check(&h(&[
            (0, Inv, "add", json!(2)),
            (0, Okk, "add", json!(2)),
            (1, Inv, "add", json!(5)),
            (1, Info, "add", json!(5)), // may land at any time
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!(7)), // 2 + the info 5
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!(2)), // the info 5 may not have landed
        ]));
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.details["read_count"], 2);
    }

    #[test]
    fn accepts_a_read_concurrent_with_an_increment_either_way() {
        for seen in [0, 3] {
            let r = check(&h(&[
                (0, Inv, "add", json!(3)),
                (2, Inv, "read", Value::Null),
                (2, Okk, "read", json!(seen)),
                (0, Okk, "add", json!(3)),
            ]));
            assert_eq!(r.valid, Validity::Valid, "{seen}: {}", r.summary);
        }
    }

    #[test]
    fn rejects_a_read_missing_an_acknowledged_increment() {
        let r = check(&h(&[
            (0, Inv, "add", json!(3)),
            (0, Okk, "add", json!(3)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!(0)),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["violations"][0]["lower"], 3);
    }

    #[test]
    fn rejects_a_read_counting_a_failed_increment() {
        let r = check(&h(&[
            (0, Inv, "add", json!(3)),
            (0, Fail, "add", json!(3)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!(3)),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(
            r.details["violations"][0]["problem"],
            "above the upper bound"
        );
    }

    #[test]
    fn rejects_a_read_of_an_increment_invoked_after_it_completed() {
        let r = check(&h(&[
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!(1)),
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
    }

    #[test]
    fn negative_increment_is_a_bad_op_and_no_read_is_unknown() {
        let bad = h(&[(0, Inv, "add", json!(-1)), (0, Okk, "add", json!(-1))]);
        assert!(CounterChecker.check(&bad).is_err());
        let none = h(&[(0, Inv, "add", json!(1)), (0, Okk, "add", json!(1))]);
        assert_eq!(check(&none).valid, Validity::Unknown);
    }
}
