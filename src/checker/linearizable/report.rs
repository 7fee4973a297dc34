//! What the linearizability checker reports: per key and overall, in words
//! and as data a report can draw. Everything here is bounded: at most
//! [`search::KEEP`] states and ops per invalid key, whatever the history's
//! size.

use super::model::{Machine, ModelKind, NilRead, Pair, PartOp};
use super::search::{self, Frontier, GaveUp, Outcome, Stats};
use super::LinearizableOptions;
use crate::checker::Validity;
use crate::history::Key;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// One client operation, as an explanation shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRef {
    /// `index` of the invoke.
    pub index: u64,
    /// `index` of the completion, if any.
    pub complete_index: Option<u64>,
    /// The process, as text (`7`).
    pub process: String,
    /// The function.
    pub f: String,
    /// The argument or, for reads, the value read.
    pub value: Value,
    /// `ok`, `info` or `pending` (no completion).
    pub outcome: String,
    /// Time of the invoke (ns).
    pub invoke_time: u64,
    /// Time of the completion (ns).
    pub complete_time: Option<u64>,
    /// In words: `op 41 by process 7 (read 1, index 39–41, t=1.2–1.3 s)`.
    pub text: String,
}

/// Why one key is invalid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    /// The explanation in words.
    pub explanation: String,
    /// The op that could not be linearized.
    pub op: OpRef,
    /// Ops of this key that completed before that op's completion (all of
    /// them are linearized in the longest linearizable prefix).
    pub completed_before: usize,
    /// Ops linearized in the first configuration that reached that point.
    pub linearized: usize,
    /// The states possible just before the op's completion.
    pub possible_states: Vec<String>,
    /// More states were possible than listed.
    pub states_truncated: bool,
    /// The last ops of one linearization of the prefix, oldest first.
    pub last_linearized: Vec<OpRef>,
    /// Ops concurrent with the failing op (bounded).
    pub concurrent: Vec<OpRef>,
}

/// The verdict for one key (or for the whole history, if it has no keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyReport {
    /// The key; `None` for ops without a key.
    pub key: Option<Key>,
    /// The verdict.
    pub valid: Validity,
    /// Ops the search had to place (fail ops and unconstrained reads dropped).
    pub ops: usize,
    /// Configurations explored.
    pub configs: u64,
    /// Peak bytes of the search cache.
    pub peak_bytes: usize,
    /// Time spent on this key (ms).
    pub elapsed_ms: f64,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the key is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReport>,
    /// The smallest set of this key's ops found that cannot be linearized
    /// on its own, whatever the key's other ops did (see `shrink`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal: Option<MinimalAnomaly>,
}

/// A minimal anomaly: a handful of one key's ops that no order can
/// explain, whatever the key's other ops did (each of them could have
/// taken effect at any moment, or never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinimalAnomaly {
    /// The ops, in invoke order.
    pub ops: Vec<OpRef>,
    /// In words: `these 4 ops cannot be linearized, whatever the other 1,203
    /// ops of key 3 did: ...`.
    pub explanation: String,
    /// Ops of the key before shrinking.
    pub from_ops: usize,
    /// True when no single op of the set could be removed (1-minimal);
    /// false when the time budget ran out first.
    pub one_minimal: bool,
    /// Time spent shrinking (ms).
    pub elapsed_ms: f64,
}

impl MinimalAnomaly {
    /// The explanation's first line, for one-line summaries: it names the
    /// ops when there are a few; for more, the first ops follow it.
    pub fn headline(&self) -> String {
        const FIRST: usize = 4;
        let first = self.explanation.lines().next().unwrap_or_default();
        let first = first.strip_suffix(':').unwrap_or(first);
        if self.ops.len() <= FIRST {
            first.to_string()
        } else {
            let ops: Vec<&str> = self.ops[..FIRST].iter().map(|o| o.text.as_str()).collect();
            format!("{first}: {}; …", ops.join("; "))
        }
    }
}

/// The whole check: `details` of the checker's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearizableReport {
    /// Overall verdict: invalid if any key is, else unknown if any key is.
    pub valid: Validity,
    /// The model.
    pub model: ModelKind,
    /// The initial value.
    pub init: Value,
    /// The meaning of a `null` read.
    pub nil_read: NilRead,
    /// Client operations (invokes) in the history.
    pub ops: usize,
    /// Number of keys.
    pub keys_total: usize,
    /// Keys found linearizable.
    pub keys_valid: usize,
    /// Keys found not linearizable.
    pub keys_invalid: usize,
    /// Keys not decided.
    pub keys_unknown: usize,
    /// Wall-clock time of the check (ms).
    pub elapsed_ms: f64,
    /// Per key, in order of first appearance.
    pub keys: Vec<KeyReport>,
}

impl LinearizableReport {
    pub(crate) fn new(
        opts: &LinearizableOptions,
        ops: usize,
        keys: Vec<KeyReport>,
        elapsed: Duration,
    ) -> Self {
        let count = |v| keys.iter().filter(|k| k.valid == v).count();
        let (kv, ki, ku) = (
            count(Validity::Valid),
            count(Validity::Invalid),
            count(Validity::Unknown),
        );
        let valid = if ki > 0 {
            Validity::Invalid
        } else if ku > 0 || ops == 0 {
            // No client op: nothing was checked, so no verdict.
            Validity::Unknown
        } else {
            Validity::Valid
        };
        LinearizableReport {
            valid,
            model: opts.model,
            init: opts.init.clone(),
            nil_read: opts.nil_read,
            ops,
            keys_total: keys.len(),
            keys_valid: kv,
            keys_invalid: ki,
            keys_unknown: ku,
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
            keys,
        }
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let secs = self.elapsed_ms / 1e3;
        match self.valid {
            Validity::Valid => format!(
                "linearizable ({}): {} ops over {} key(s) in {secs:.3} s",
                self.model, self.ops, self.keys_total
            ),
            Validity::Invalid => {
                let first = self.keys.iter().find(|k| k.valid == Validity::Invalid);
                let mut why = first
                    .and_then(|k| k.failure.as_ref())
                    .map(|f| f.explanation.clone())
                    .unwrap_or_default();
                // The minimal anomaly first, then the full picture.
                if let Some(m) = first.and_then(|k| k.minimal.as_ref()) {
                    why = format!("{}. In full: {why}", m.headline());
                }
                let more = if self.keys_invalid > 1 {
                    format!(" (and {} more invalid key(s))", self.keys_invalid - 1)
                } else {
                    String::new()
                };
                format!("not linearizable ({}): {why}{more}", self.model)
            }
            Validity::Unknown if self.ops == 0 => {
                format!(
                    "unknown ({}): {}",
                    self.model,
                    crate::checker::NO_CLIENT_OPS
                )
            }
            Validity::Unknown => {
                let why = self
                    .keys
                    .iter()
                    .find_map(|k| k.reason.clone())
                    .unwrap_or_default();
                format!(
                    "unknown ({}): {} of {} key(s) undecided: {why}",
                    self.model, self.keys_unknown, self.keys_total
                )
            }
        }
    }

    /// The explanations of every invalid key, one paragraph each: its
    /// minimal anomaly first (several lines: a headline, one line per op,
    /// their real-time order) when one was found, then the full explanation
    /// on its own line.
    pub fn explanations(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter_map(|k| {
                let full = k.failure.as_ref().map(|f| f.explanation.clone());
                match (&k.minimal, full) {
                    (Some(m), Some(f)) => Some(format!("{}\n{f}", m.explanation)),
                    (Some(m), None) => Some(m.explanation.clone()),
                    (None, f) => f,
                }
            })
            .collect()
    }
}

pub(crate) fn key_prefix(key: &Option<Key>) -> String {
    match key {
        Some(k) => format!("key {k}: "),
        None => String::new(),
    }
}

fn secs(ns: u64) -> String {
    format!("{:.6} s", ns as f64 / 1e9)
}

pub(crate) fn op_ref(p: &Pair<'_>) -> OpRef {
    let is_read = matches!(p.inv.f.as_str(), "read" | "get" | "txn");
    let value = match p.comp {
        Some(c) if is_read && c.kind == crate::history::OpType::Ok && !c.value.is_null() => {
            c.value.clone()
        }
        _ => {
            if p.inv.value.is_null() {
                p.comp.map(|c| c.value.clone()).unwrap_or(Value::Null)
            } else {
                p.inv.value.clone()
            }
        }
    };
    let outcome = p
        .comp
        .map(|c| c.kind.to_string())
        .unwrap_or_else(|| "pending".into());
    let what = if value.is_null() {
        p.inv.f.clone()
    } else {
        format!("{} {}", p.inv.f, value)
    };
    // Porcupine logs carry no times: say nothing rather than "t=0".
    let has_time = p.inv.time != 0 || p.comp.is_some_and(|c| c.time != 0);
    let when = match p.comp {
        Some(c) => format!(
            "index {}–{}{}{}",
            p.inv.index,
            c.index,
            if has_time {
                format!(", t={}–{}", secs(p.inv.time), secs(c.time))
            } else {
                String::new()
            },
            if c.kind == crate::history::OpType::Ok {
                String::new()
            } else {
                format!(", {}", c.kind)
            }
        ),
        None => format!(
            "index {}, t={}, never completed",
            p.inv.index,
            secs(p.inv.time)
        ),
    };
    OpRef {
        index: p.inv.index,
        complete_index: p.comp.map(|c| c.index),
        process: p.inv.process.to_string(),
        f: p.inv.f.clone(),
        value,
        outcome,
        invoke_time: p.inv.time,
        complete_time: p.comp.map(|c| c.time),
        text: format!(
            "op {} by process {} ({what}, {when})",
            p.inv.index, p.inv.process
        ),
    }
}

/// At most this many states are spelled out in an explanation's words (the
/// data keeps up to [`search::KEEP`]).
const SAY: usize = 4;

fn list_states(states: &[String], truncated: bool) -> String {
    let shown = &states[..states.len().min(SAY)];
    let hidden = states.len() - shown.len();
    let mut s = match shown.len() {
        0 => "nothing".to_string(),
        1 => shown[0].clone(),
        n => format!("{} or {}", shown[..n - 1].join(", "), shown[n - 1]),
    };
    if hidden > 0 || truncated {
        s.push_str(&format!(
            " (or {}{} other states)",
            hidden,
            if truncated { "+" } else { "" }
        ));
    }
    s
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn key_report(
    model: ModelKind,
    key: Option<Key>,
    pairs: &[Pair<'_>],
    machine: &Machine,
    ops: &[PartOp],
    outcome: &Outcome,
    frontier: &Frontier,
    stats: &Stats,
    elapsed: Duration,
) -> KeyReport {
    let mut rep = KeyReport {
        key: key.clone(),
        valid: Validity::Valid,
        ops: ops.len(),
        configs: stats.configs,
        peak_bytes: stats.peak_bytes,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        reason: None,
        failure: None,
        minimal: None,
    };
    match outcome {
        Outcome::Valid => {}
        Outcome::Unknown(why) => {
            rep.valid = Validity::Unknown;
            let furthest = frontier
                .blocked
                .map(|b| {
                    format!(
                        "; furthest point reached: index {}",
                        pairs[ops[b as usize].pair]
                            .comp
                            .map(|c| c.index)
                            .unwrap_or(0)
                    )
                })
                .unwrap_or_default();
            rep.reason = Some(match why {
                GaveUp::Time => format!(
                    "{}time limit reached after {} configurations{furthest}",
                    key_prefix(&key),
                    stats.configs
                ),
                GaveUp::Memory => format!(
                    "{}memory limit reached after {} configurations{furthest}",
                    key_prefix(&key),
                    stats.configs
                ),
                GaveUp::Cancelled => format!(
                    "{}not checked: another key was invalid (use --all-keys to decide every key)",
                    key_prefix(&key)
                ),
            });
        }
        Outcome::Invalid => {
            rep.valid = Validity::Invalid;
            let Some(b) = frontier.blocked else {
                return rep;
            };
            let x = &ops[b as usize];
            let xp = &pairs[x.pair];
            let op = op_ref(xp);
            let completed_before = ops.iter().filter(|o| o.ret < x.ret).count();
            let states: Vec<String> = frontier
                .states
                .iter()
                .map(|s| machine.describe(*s))
                .collect();
            let last_linearized: Vec<OpRef> = frontier
                .tail
                .iter()
                .map(|&i| op_ref(&pairs[ops[i as usize].pair]))
                .collect();
            let concurrent: Vec<OpRef> = ops
                .iter()
                .filter(|o| o.pair != x.pair && o.call < x.ret && o.ret > x.call)
                .take(search::KEEP)
                .map(|o| op_ref(&pairs[o.pair]))
                .collect();
            let prefix = if completed_before == 0 {
                "from the initial state".to_string()
            } else {
                let first = ops
                    .iter()
                    .filter(|o| o.ret < x.ret)
                    .map(|o| pairs[o.pair].inv.index)
                    .min()
                    .unwrap_or(0);
                let last = xp.comp.map(|c| c.index).unwrap_or(0);
                format!(
                    "once the {completed_before} op(s) of this key that completed before index {last} \
                     (ops {first}–{last}) are linearized, in any order real time allows"
                )
            };
            let explanation = format!(
                "{}{prefix}, {} could hold {}; {} cannot take effect in any of those states{}",
                key_prefix(&key),
                model.noun(),
                list_states(&states, frontier.states_truncated),
                op.text,
                if concurrent.is_empty() {
                    String::new()
                } else {
                    format!(
                        " nor after any of its {} concurrent op(s)",
                        concurrent.len()
                    )
                },
            );
            rep.failure = Some(FailureReport {
                explanation,
                op,
                completed_before,
                linearized: frontier.depth,
                possible_states: states,
                states_truncated: frontier.states_truncated,
                last_linearized,
                concurrent,
            });
        }
    }
    rep
}
