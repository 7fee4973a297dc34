//! Checkers: history in, verdict out.
//!
//! A [`Checker`] looks at a whole [`History`] and returns a [`CheckResult`]:
//! [`Validity::Valid`], [`Validity::Invalid`] or [`Validity::Unknown`], with a
//! one-line summary for the terminal and structured `details` for reports.
//! Following stateright, a malformed history is an *error*
//! ([`CheckError`]), not a verdict. Following Jepsen, a checker that panics
//! or errors inside [`compose`] yields `unknown`, never a crash of the run,
//! and a history with no client operations is `unknown` ("no client
//! operations"), never `valid`: a verdict must mean something was checked.

pub mod bank;
pub mod counter;
pub mod linearizable;
pub mod set;
pub mod txn;

use crate::history::History;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// No anomaly was found.
    Valid,
    /// An anomaly was found.
    Invalid,
    /// The checker could not decide (budget exhausted, or it failed).
    Unknown,
}

impl Validity {
    /// The verdict of an invariant checked over `checked` observations that
    /// found `violations`: invalid on any violation, unknown when nothing
    /// was observed (an invariant never tested proves nothing), else valid.
    pub fn of_invariant(violations: usize, checked: usize) -> Validity {
        if violations > 0 {
            Validity::Invalid
        } else if checked == 0 {
            Validity::Unknown
        } else {
            Validity::Valid
        }
    }

    /// Combine two verdicts: invalid dominates, then unknown, then valid.
    pub fn merge(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Unknown => "unknown",
        })
    }
}

/// The result of one checker over one history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    /// Name of the checker (`linearizable`, `set`, `bank`...).
    pub checker: String,
    /// The verdict.
    pub valid: Validity,
    /// One line a person can read at the terminal.
    pub summary: String,
    /// Everything a report needs to explain the verdict; checker-specific.
    #[serde(default)]
    pub details: serde_json::Value,
}

impl CheckResult {
    /// A result with no details.
    pub fn new(checker: &str, valid: Validity, summary: impl Into<String>) -> Self {
        CheckResult {
            checker: checker.to_string(),
            valid,
            summary: summary.into(),
            details: serde_json::Value::Null,
        }
    }
}

/// The history cannot be checked by this checker.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The history is malformed (e.g. a completion without invoke).
    #[error("malformed history: {0}")]
    Malformed(#[from] crate::history::HistoryError),
    /// An op this checker's model does not understand.
    #[error("op {index}: {reason}")]
    BadOp {
        /// Index of the op.
        index: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A wrong option (model name, init value...).
    #[error("{0}")]
    Config(String),
}

/// Why a history with no client operations has no verdict.
pub const NO_CLIENT_OPS: &str = "no client operations";

/// True when the history holds at least one client op (not the nemesis's):
/// without one there is nothing a checker could have judged.
pub fn has_client_ops(history: &History) -> bool {
    history.ops.iter().any(|op| op.is_client())
}

/// History in, verdict out.
///
/// Contract: `check` must not mutate anything outside itself, must terminate
/// (budgets end in `Unknown`, never a hang), and must report a malformed
/// history as an error rather than a verdict.
pub trait Checker: Send + Sync {
    /// Short name used in `results.json` and the terminal table.
    fn name(&self) -> &str;
    /// Check one history.
    fn check(&self, history: &History) -> Result<CheckResult, CheckError>;

    /// True when an anomaly this checker proves in a *prefix* of a history
    /// — the ops recorded so far, invokes without completion counting as
    /// `info` — is an anomaly of every extension of that prefix: then it
    /// may be run while the test is still going (online checking,
    /// `runner::online`) and an `invalid` there is final.
    ///
    /// Default `false`: a checker whose verdict needs the end of the
    /// history (the set checker's "lost" element needs the final read)
    /// must not be run on a prefix, since more ops could remove its
    /// anomaly. A checker saying `true` must argue in its docs why an
    /// extension (more ops, and completions of the open invokes, which may
    /// turn out `ok`, `fail` or stay `info`) can only keep or add
    /// anomalies. `valid` and `unknown` on a prefix mean nothing either
    /// way.
    fn prefix_closed(&self) -> bool {
        false
    }

    /// True when the history may be split by the ops' `key` and each key's
    /// ops checked alone, the verdict of the whole being the merge of the
    /// keys' (P-compositionality of linearizability). Online checking then
    /// re-checks only the keys that got new completions. Default `false`.
    fn independent_keys(&self) -> bool {
        false
    }
}

/// Run several checkers over one history. A checker that errors or panics
/// yields an `Unknown` result naming what went wrong; the overall verdict is
/// the [`Validity::merge`] of all.
///
/// A verdict must mean something was checked: a history without client
/// operations (empty, or nemesis ops only) gives every checker `Unknown`
/// with the reason [`NO_CLIENT_OPS`] without running it, and an empty list
/// of checkers is `Unknown` too, so no composition can call such a run
/// valid.
pub fn compose(checkers: &[Box<dyn Checker>], history: &History) -> (Validity, Vec<CheckResult>) {
    let mut results = Vec::with_capacity(checkers.len());
    if checkers.is_empty() {
        return (Validity::Unknown, results);
    }
    if !has_client_ops(history) {
        for c in checkers {
            results.push(CheckResult::new(c.name(), Validity::Unknown, NO_CLIENT_OPS));
        }
        return (Validity::Unknown, results);
    }
    let mut overall = Validity::Valid;
    for c in checkers {
        let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.check(history))) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                CheckResult::new(c.name(), Validity::Unknown, format!("checker error: {e}"))
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                CheckResult::new(
                    c.name(),
                    Validity::Unknown,
                    format!("checker crashed: {msg}"),
                )
            }
        };
        overall = overall.merge(r.valid);
        results.push(r);
    }
    (overall, results)
}

#[cfg(test)]
mod tests {
    use super::Validity;

    #[test]
    fn an_invariant_is_invalid_on_a_violation_and_unknown_when_never_observed() {
        assert_eq!(Validity::of_invariant(1, 10), Validity::Invalid);
        assert_eq!(Validity::of_invariant(1, 0), Validity::Invalid);
        assert_eq!(Validity::of_invariant(0, 0), Validity::Unknown);
        assert_eq!(Validity::of_invariant(0, 3), Validity::Valid);
    }
}
