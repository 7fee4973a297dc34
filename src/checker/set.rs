//! The set checker (Jepsen's `set-full`): unique elements are added to a set
//! and the set is read, during the test and after healing.
//!
//! Ops: `add` (value: the element; elements are compared by their JSON
//! text) and `read` (on an `ok` completion, value: the array of elements).
//!
//! For each element we find when it became *known* to exist — the
//! completion of its `ok` add, else the completion of the first read that
//! saw it — and compare it with every `ok` read:
//! - **ok**: its add was `ok`, reads that began after it was known saw it
//!   (possibly after some stale reads);
//! - **recovered**: its add was `info` (or never completed), yet reads saw it;
//! - **lost**: a read that began after it was known, and after every read
//!   that saw it had completed, did not see it — it vanished;
//! - **unexpected**: a read saw an element that was never added, or whose
//!   add `fail`ed;
//! - **never-read**: known, but no read began after that;
//! - **stale**: (a flag on ok / recovered elements) some read that began
//!   after the element was known missed it, yet a later read saw it. Its
//!   latency is how long after the element was known such a read could still
//!   begin: 0 when it was visible at once.
//! - an element read twice in one read is **duplicated**.
//!
//! Elements whose add was `info` and that no read saw are *indeterminate*;
//! `fail`ed adds never read are *failed*: neither is an anomaly.
//!
//! Verdict: invalid on any lost, unexpected or duplicated element, or any
//! `ok` read whose value is not an array; stale reads are reported, and are
//! only invalid with [`SetChecker::stale_reads_invalid`] (for systems that
//! promise linearizable reads). Unknown when there was no `ok` read at all.

use super::{CheckError, CheckResult, Checker, Validity};
use crate::history::exact::exact_text;
use crate::history::{History, Op, OpType};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// At most this many elements are listed per category in the details.
const LIST_LIMIT: usize = 200;

/// Jepsen's `set-full` checker; name `set`.
#[derive(Debug, Clone, Default)]
pub struct SetChecker {
    /// Count stale reads as an anomaly (for linearizable systems).
    pub stale_reads_invalid: bool,
}

struct Read<'a> {
    invoke: &'a Op,
    complete: &'a Op,
}

struct Add<'a> {
    element: String,
    complete: Option<&'a Op>,
}

/// The quantiles (0, 0.5, 0.95, 0.99, 1) of nanosecond durations, in ms.
pub(crate) fn quantiles_ms(xs: &mut [u64]) -> Value {
    if xs.is_empty() {
        return json!({});
    }
    xs.sort_unstable();
    let q = |p: f64| {
        let i = ((xs.len() - 1) as f64 * p).round() as usize;
        xs[i] as f64 / 1e6
    };
    json!({"0": q(0.0), "0.5": q(0.5), "0.95": q(0.95), "0.99": q(0.99), "1": q(1.0)})
}

fn capped<T: Clone>(xs: &[T]) -> Vec<T> {
    xs.iter().take(LIST_LIMIT).cloned().collect()
}

/// An element as first written in the history, from its canonical text.
fn element_value(shown: &HashMap<String, Value>, text: &str) -> Value {
    shown
        .get(text)
        .cloned()
        .unwrap_or_else(|| Value::String(text.to_string()))
}

impl Checker for SetChecker {
    fn name(&self) -> &str {
        "set"
    }

    fn check(&self, history: &History) -> Result<CheckResult, CheckError> {
        let pairs = history.pairs()?;
        let mut adds: Vec<Add> = Vec::new();
        let mut add_of: HashMap<String, usize> = HashMap::new();
        let mut reads: Vec<Read> = Vec::new();
        // Element → positions in `reads` of the reads that saw it, ascending.
        let mut seen_in: HashMap<String, Vec<usize>> = HashMap::new();
        let mut bad_reads: Vec<Value> = Vec::new();
        let mut duplicated: Vec<Value> = Vec::new();
        // Elements are identified by their exact canonical text (`1.0` and
        // `1e0` are one element, `1` and `1.0` two); this keeps how each
        // was first written, for the report.
        let mut shown: HashMap<String, Value> = HashMap::new();

        for (inv, comp) in &pairs {
            match inv.f.as_str() {
                "add" => {
                    let element = exact_text(&inv.value);
                    shown
                        .entry(element.clone())
                        .or_insert_with(|| inv.value.clone());
                    if add_of.contains_key(&element) {
                        return Err(CheckError::BadOp {
                            index: inv.index,
                            reason: format!(
                                "element {element} is added twice; set elements must be unique"
                            ),
                        });
                    }
                    add_of.insert(element.clone(), adds.len());
                    adds.push(Add {
                        element,
                        complete: *comp,
                    });
                }
                "read" => {
                    let Some(c) = comp.filter(|c| c.kind == OpType::Ok) else {
                        continue;
                    };
                    let Some(xs) = c.value.as_array() else {
                        bad_reads.push(json!({"index": c.index, "value": c.value}));
                        continue;
                    };
                    let mut elements = HashSet::with_capacity(xs.len());
                    let mut dups: HashMap<String, usize> = HashMap::new();
                    for x in xs {
                        let t = exact_text(x);
                        shown.entry(t.clone()).or_insert_with(|| x.clone());
                        if !elements.insert(t.clone()) {
                            *dups.entry(t).or_insert(1) += 1;
                        }
                    }
                    for (e, n) in dups {
                        duplicated.push(
                            json!({"element": element_value(&shown, &e), "read": c.index, "count": n}),
                        );
                    }
                    for e in elements {
                        seen_in.entry(e).or_default().push(reads.len());
                    }
                    reads.push(Read {
                        invoke: inv,
                        complete: c,
                    });
                }
                _ => {}
            }
        }

        // Elements read that no add could explain, in order of first sight.
        let mut unexpected: Vec<(u64, Value)> = Vec::new();
        for (e, positions) in &seen_in {
            let explained = add_of
                .get(e)
                .is_some_and(|i| adds[*i].complete.map(|c| c.kind) != Some(OpType::Fail));
            if !explained {
                let why = if add_of.contains_key(e) {
                    "its add failed"
                } else {
                    "never added"
                };
                let first = reads[positions[0]].complete.index;
                unexpected.push((
                    first,
                    json!({"element": element_value(&shown, e), "first_read": first, "why": why}),
                ));
            }
        }
        unexpected.sort_by_key(|(first, _)| *first);
        let unexpected: Vec<Value> = unexpected.into_iter().map(|(_, v)| v).collect();

        // Reads are in invoke order (`pairs` is), so "reads that began after
        // index i" is a suffix found by binary search.
        let invoked: Vec<u64> = reads.iter().map(|r| r.invoke.index).collect();
        let (mut ok, mut recovered, mut lost, mut never_read, mut stale) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut indeterminate, mut failed) = (0usize, 0usize);
        let mut stable_latencies: Vec<u64> = Vec::new();
        let mut lost_latencies: Vec<u64> = Vec::new();

        for a in &adds {
            let outcome = a.complete.map(|c| c.kind);
            let present: &[usize] = seen_in.get(&a.element).map_or(&[], Vec::as_slice);
            if outcome == Some(OpType::Fail) {
                if present.is_empty() {
                    failed += 1;
                }
                continue; // read despite a failed add: already unexpected
            }
            // When it was known to exist: (history index, time).
            let known = match (outcome, a.complete) {
                (Some(OpType::Ok), Some(c)) => Some((c.index, c.time)),
                _ => present
                    .iter()
                    .map(|p| reads[*p].complete)
                    .min_by_key(|c| c.index)
                    .map(|c| (c.index, c.time)),
            };
            let Some((known_index, known_time)) = known else {
                indeterminate += 1;
                continue;
            };
            let last_present_end = present.iter().map(|p| reads[*p].complete.index).max();
            let after_known = invoked.partition_point(|i| *i <= known_index);
            let present_after = present.len() - present.partition_point(|p| *p < after_known);
            let absent_after = reads.len() - after_known - present_after;
            let value = element_value(&shown, &a.element);
            if present.is_empty() && absent_after == 0 {
                never_read.push(value);
                continue;
            }
            // Every read that began after the element was known and after
            // the last read that saw it had completed missed it (a read that
            // saw it began before its own completion): the first such read
            // proves it vanished.
            let cut = known_index.max(last_present_end.unwrap_or(0));
            let vanished = invoked.partition_point(|i| *i <= cut);
            if let Some(r) = reads.get(vanished) {
                lost_latencies.push(r.invoke.time.saturating_sub(known_time));
                lost.push(value);
                continue;
            }
            let mut latency = 0;
            if absent_after > 0 {
                let stale_reads: Vec<&Read> = (after_known..reads.len())
                    .filter(|p| present.binary_search(p).is_err())
                    .map(|p| &reads[p])
                    .collect();
                latency = stale_reads
                    .iter()
                    .map(|r| r.invoke.time.saturating_sub(known_time))
                    .max()
                    .unwrap_or(0);
                stale.push(json!({
                    "element": value,
                    "stale_read_count": stale_reads.len(),
                    "stale_reads": stale_reads.iter().map(|r| r.complete.index).take(20).collect::<Vec<_>>(),
                    "latency_ms": latency as f64 / 1e6,
                }));
            }
            stable_latencies.push(latency);
            if outcome == Some(OpType::Ok) {
                ok.push(value);
            } else {
                recovered.push(value);
            }
        }

        let anomalies = !lost.is_empty()
            || !unexpected.is_empty()
            || !duplicated.is_empty()
            || !bad_reads.is_empty()
            || (self.stale_reads_invalid && !stale.is_empty());
        let valid = if anomalies {
            Validity::Invalid
        } else if reads.is_empty() {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        let mut summary = format!(
            "{} adds: {} ok, {} recovered, {} lost, {} unexpected, {} never read, {} stale, {} indeterminate, {} failed; {} ok reads",
            adds.len(),
            ok.len(),
            recovered.len(),
            lost.len(),
            unexpected.len(),
            never_read.len(),
            stale.len(),
            indeterminate,
            failed,
            reads.len()
        );
        if !duplicated.is_empty() {
            summary.push_str(&format!(", {} duplicated", duplicated.len()));
        }
        if !bad_reads.is_empty() {
            summary.push_str(&format!(", {} reads not an array", bad_reads.len()));
        }
        if reads.is_empty() && !anomalies {
            summary.push_str(" (no ok read: nothing to judge)");
        }
        let mut result = CheckResult::new("set", valid, summary);
        result.details = json!({
            "attempt_count": adds.len(),
            "read_count": reads.len(),
            "ok_count": ok.len(),
            "recovered_count": recovered.len(),
            "lost_count": lost.len(),
            "unexpected_count": unexpected.len(),
            "never_read_count": never_read.len(),
            "stale_count": stale.len(),
            "duplicated_count": duplicated.len(),
            "indeterminate_count": indeterminate,
            "failed_count": failed,
            "lost": capped(&lost),
            "unexpected": capped(&unexpected),
            "never_read": capped(&never_read),
            "recovered": capped(&recovered),
            "stale": capped(&stale),
            "duplicated": capped(&duplicated),
            "bad_reads": capped(&bad_reads),
            "stable_latencies_ms": quantiles_ms(&mut stable_latencies),
            "lost_latencies_ms": quantiles_ms(&mut lost_latencies),
        });
        Ok(result)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::Process;

    /// Build a history from (process, type, f, value, time) tuples.
    pub(crate) fn h(ops: &[(u64, OpType, &str, Value)]) -> History {
        History::new(
            ops.iter()
                .enumerate()
                .map(|(i, (p, t, f, v))| {
                    let mut op = Op::invoke(Process::Client(*p), *f, v.clone());
                    op.kind = *t;
                    op.time = i as u64 * 1_000_000;
                    op
                })
                .collect(),
        )
    }

    use OpType::{Fail, Info, Invoke as Inv, Ok as Okk};

    fn check(hist: &History) -> CheckResult {
        SetChecker::default().check(hist).unwrap()
    }

    #[test]
    fn accepts_added_elements_that_reads_see() {
        let r = check(&h(&[
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),
            (1, Inv, "add", json!(2)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1])), // concurrent with add 2: fine
            (1, Okk, "add", json!(2)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1, 2])),
        ]));
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.details["ok_count"], 2);
        assert_eq!(r.details["stale_count"], 0);
    }

    #[test]
    fn rejects_an_acknowledged_element_that_vanishes() {
        let r = check(&h(&[
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1])),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([])),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["lost"], json!([1]));
    }

    #[test]
    fn rejects_an_acknowledged_element_never_seen_by_later_reads() {
        let r = check(&h(&[
            (0, Inv, "add", json!(7)),
            (0, Okk, "add", json!(7)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([])),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["lost"], json!([7]));
    }

    #[test]
    fn rejects_elements_never_added_or_whose_add_failed() {
        let r = check(&h(&[
            (0, Inv, "add", json!(1)),
            (0, Fail, "add", json!(1)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1, 9])),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["unexpected_count"], 2);
    }

    #[test]
    fn info_add_seen_later_is_recovered_and_unseen_is_indeterminate() {
        let r = check(&h(&[
            (0, Inv, "add", json!(1)),
            (0, Info, "add", json!(1)),
            (1, Inv, "add", json!(2)),
            (1, Info, "add", json!(2)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1])),
        ]));
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.details["recovered"], json!([1]));
        assert_eq!(r.details["indeterminate_count"], 1);
    }

    #[test]
    fn stale_reads_are_reported_with_latency_and_optionally_invalid() {
        let hist = h(&[
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),     // known at t=1ms
            (2, Inv, "read", Value::Null), // begins at t=2ms
            (2, Okk, "read", json!([])),   // stale
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1])),
        ]);
        let r = check(&hist);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.details["stale_count"], 1);
        assert_eq!(r.details["stale"][0]["latency_ms"], json!(1.0));
        let strict = SetChecker {
            stale_reads_invalid: true,
        };
        assert_eq!(strict.check(&hist).unwrap().valid, Validity::Invalid);
    }

    #[test]
    fn element_without_any_later_read_is_never_read() {
        let r = check(&h(&[
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([])),
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),
        ]));
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.details["never_read"], json!([1]));
    }

    #[test]
    fn rejects_duplicates_and_non_array_reads() {
        let r = check(&h(&[
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!([1, 1])),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["duplicated_count"], 1);
        let r = check(&h(&[
            (2, Inv, "read", Value::Null),
            (2, Okk, "read", json!(3)),
        ]));
        assert_eq!(r.valid, Validity::Invalid);
    }

    #[test]
    fn no_ok_read_is_unknown_and_failed_reads_are_ignored() {
        let r = check(&h(&[
            (0, Inv, "add", json!(1)),
            (0, Okk, "add", json!(1)),
            (2, Inv, "read", Value::Null),
            (2, Fail, "read", Value::Null),
        ]));
        assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    }

    #[test]
    fn malformed_history_is_an_error() {
        let hist = h(&[(0, Okk, "add", json!(1))]);
        assert!(SetChecker::default().check(&hist).is_err());
    }
}
