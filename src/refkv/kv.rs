//! refkv's replicated state machine: a map from string keys to JSON values,
//! changed only by committed log entries.
//!
//! Contract: [`KvState::apply`] is deterministic (the same commands in the same
//! order give the same state and outcomes on every node), and a command either
//! takes full effect or none (a transaction whose `append` hits a non-list
//! changes nothing). A key holding JSON `null` is the same as an absent key.
//! [`KvState::snapshot`] / [`KvState::restore`] round-trip the whole state.

use crate::refkv::wire::MicroOp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A state-changing command, proposed to the Raft log as a log entry's data
/// (JSON-encoded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Set `key` to `value`.
    Write {
        /// The key.
        key: String,
        /// The new value.
        value: Value,
    },
    /// Set `key` to `to` if it holds `from`.
    Cas {
        /// The key.
        key: String,
        /// The value expected.
        from: Value,
        /// The value set when `from` matched.
        to: Value,
    },
    /// Apply micro-ops in order, atomically.
    Txn {
        /// `r`, `w` and `append` micro-ops.
        ops: Vec<MicroOp>,
    },
}

/// The result of applying one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A write was applied.
    Written,
    /// A compare-and-set: whether it matched, and the value the key held.
    Cas {
        /// Whether the key held `from` (and now holds `to`).
        ok: bool,
        /// The value the key held before.
        current: Value,
    },
    /// A transaction's micro-ops with reads filled in.
    Txn(Vec<MicroOp>),
    /// The command had no effect because it is invalid (e.g. append to a
    /// non-list): a definite failure.
    Rejected(String),
}

/// Why a micro-op is malformed (checked before proposing).
pub fn validate_ops(ops: &[MicroOp]) -> Result<(), String> {
    for (i, MicroOp(f, _, _)) in ops.iter().enumerate() {
        if !matches!(f.as_str(), "r" | "w" | "append") {
            return Err(format!(
                "ops[{i}]: unknown micro-op {f:?} (expected \"r\", \"w\" or \"append\")"
            ));
        }
    }
    Ok(())
}

/// Whether a transaction only reads (and so can be served by ReadIndex).
pub fn is_read_only(ops: &[MicroOp]) -> bool {
    ops.iter().all(|MicroOp(f, _, _)| f == "r")
}

/// The key-value map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvState {
    map: BTreeMap<String, Value>,
}

impl KvState {
    /// The value at `key` (`null` when absent).
    pub fn get(&self, key: &str) -> Value {
        self.map.get(key).cloned().unwrap_or(Value::Null)
    }

    fn set(&mut self, key: &str, value: Value) {
        if value.is_null() {
            self.map.remove(key);
        } else {
            self.map.insert(key.to_string(), value);
        }
    }

    /// The number of keys holding a value.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key holds a value.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Apply one committed command.
    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::Write { key, value } => {
                self.set(key, value.clone());
                Outcome::Written
            }
            Command::Cas { key, from, to } => {
                let current = self.get(key);
                if current == *from {
                    self.set(key, to.clone());
                    Outcome::Cas { ok: true, current }
                } else {
                    Outcome::Cas { ok: false, current }
                }
            }
            Command::Txn { ops } => match self.run_txn(ops) {
                Ok((out, writes)) => {
                    for (k, v) in writes {
                        self.set(&k, v);
                    }
                    Outcome::Txn(out)
                }
                Err(e) => Outcome::Rejected(e),
            },
        }
    }

    /// Serve a read-only transaction from the current state.
    pub fn read_txn(&self, ops: &[MicroOp]) -> Result<Vec<MicroOp>, String> {
        self.run_txn(ops).map(|(out, _)| out)
    }

    /// Bug `txn-split` only (see [`crate::refkv::bugs::Bug::TxnSplit`]): the
    /// "batch" a writing transaction becomes when its reads and its writes are
    /// handled apart. The reads are evaluated now, against this (the leader's
    /// current, possibly lagging) state, with the transaction's own earlier
    /// writes visible; the writes become one command per key, in the order
    /// each key is first written, each to be proposed as a log entry of its
    /// own and applied later. Nothing ties those entries together or to the
    /// reads, so the transaction is neither atomic nor isolated.
    ///
    /// Returns the filled-in micro-ops to answer the client with and the
    /// per-key commands, or why the whole transaction has no effect (the same
    /// rejection [`KvState::apply`] gives).
    pub fn split_txn(&self, ops: &[MicroOp]) -> Result<(Vec<MicroOp>, Vec<Command>), String> {
        let (out, _) = self.run_txn(ops)?;
        let mut per_key: Vec<(String, Vec<MicroOp>)> = Vec::new();
        for op in ops.iter().filter(|MicroOp(f, _, _)| f != "r") {
            match per_key.iter_mut().find(|(k, _)| *k == op.1) {
                Some((_, writes)) => writes.push(op.clone()),
                None => per_key.push((op.1.clone(), vec![op.clone()])),
            }
        }
        let cmds = per_key
            .into_iter()
            .map(|(_, ops)| Command::Txn { ops })
            .collect();
        Ok((out, cmds))
    }

    /// Evaluate micro-ops against an overlay; returns the filled-in ops and
    /// the writes to make, or why the whole transaction has no effect.
    #[allow(clippy::type_complexity)]
    fn run_txn(&self, ops: &[MicroOp]) -> Result<(Vec<MicroOp>, BTreeMap<String, Value>), String> {
        let mut overlay: BTreeMap<String, Value> = BTreeMap::new();
        let mut out = Vec::with_capacity(ops.len());
        for (i, MicroOp(f, key, value)) in ops.iter().enumerate() {
            let current = match overlay.get(key) {
                Some(v) => v.clone(),
                None => self.get(key),
            };
            match f.as_str() {
                "r" => out.push(MicroOp(f.clone(), key.clone(), current)),
                "w" => {
                    overlay.insert(key.clone(), value.clone());
                    out.push(MicroOp(f.clone(), key.clone(), value.clone()));
                }
                "append" => {
                    let mut list = match current {
                        Value::Null => Vec::new(),
                        Value::Array(a) => a,
                        other => {
                            return Err(format!(
                            "ops[{i}]: cannot append to key {key:?}: it holds {other}, not a list"
                        ))
                        }
                    };
                    list.push(value.clone());
                    overlay.insert(key.clone(), Value::Array(list));
                    out.push(MicroOp(f.clone(), key.clone(), value.clone()));
                }
                other => return Err(format!("ops[{i}]: unknown micro-op {other:?}")),
            }
        }
        Ok((out, overlay))
    }

    /// The whole state, for a snapshot.
    pub fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Replace the state with a snapshot's.
    pub fn restore(snapshot: &Value) -> Result<Self, String> {
        if snapshot.is_null() {
            return Ok(KvState::default());
        }
        serde_json::from_value(snapshot.clone())
            .map_err(|e| format!("bad state machine snapshot: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(v: Value) -> Vec<MicroOp> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn write_then_get() {
        let mut s = KvState::default();
        assert_eq!(s.get("x"), Value::Null);
        assert_eq!(
            s.apply(&Command::Write {
                key: "x".into(),
                value: json!(5)
            }),
            Outcome::Written
        );
        assert_eq!(s.get("x"), json!(5));
    }

    #[test]
    fn cas_accepts_matching_and_rejects_other() {
        let mut s = KvState::default();
        let ok = s.apply(&Command::Cas {
            key: "x".into(),
            from: Value::Null,
            to: json!(1),
        });
        assert_eq!(
            ok,
            Outcome::Cas {
                ok: true,
                current: Value::Null
            }
        );
        let no = s.apply(&Command::Cas {
            key: "x".into(),
            from: json!(7),
            to: json!(2),
        });
        assert_eq!(
            no,
            Outcome::Cas {
                ok: false,
                current: json!(1)
            }
        );
        assert_eq!(s.get("x"), json!(1));
    }

    #[test]
    fn txn_reads_see_earlier_writes_and_appends() {
        let mut s = KvState::default();
        s.apply(&Command::Write {
            key: "x".into(),
            value: json!([1, 2]),
        });
        let out = s.apply(&Command::Txn {
            ops: ops(json!([
                ["r", "x", null],
                ["append", "x", 3],
                ["r", "x", null],
                ["w", "y", 5],
                ["append", "z", 1]
            ])),
        });
        assert_eq!(
            out,
            Outcome::Txn(ops(json!([
                ["r", "x", [1, 2]],
                ["append", "x", 3],
                ["r", "x", [1, 2, 3]],
                ["w", "y", 5],
                ["append", "z", 1]
            ])))
        );
        assert_eq!(s.get("x"), json!([1, 2, 3]));
        assert_eq!(s.get("y"), json!(5));
        assert_eq!(s.get("z"), json!([1]));
    }

    #[test]
    fn txn_append_to_non_list_has_no_effect() {
        let mut s = KvState::default();
        s.apply(&Command::Write {
            key: "x".into(),
            value: json!(5),
        });
        let before = s.clone();
        let out = s.apply(&Command::Txn {
            ops: ops(json!([["w", "y", 1], ["append", "x", 3]])),
        });
        assert!(
            matches!(out, Outcome::Rejected(ref m) if m.contains("ops[1]")),
            "{out:?}"
        );
        assert_eq!(s, before);
    }

    #[test]
    fn split_txn_reads_now_and_writes_one_command_per_key() {
        let mut s = KvState::default();
        s.apply(&Command::Write {
            key: "x".into(),
            value: json!([1]),
        });
        let txn = ops(json!([
            ["r", "y", null],
            ["append", "x", 2],
            ["append", "y", 7],
            ["r", "x", null],
            ["append", "x", 3]
        ]));
        let (out, cmds) = s.split_txn(&txn).unwrap();
        // Reads are answered from the state as it is now, own writes seen.
        assert_eq!(out[0], MicroOp("r".into(), "y".into(), Value::Null));
        assert_eq!(out[3], MicroOp("r".into(), "x".into(), json!([1, 2])));
        // One command per key written, in first-write order, reads dropped.
        assert_eq!(
            cmds,
            vec![
                Command::Txn {
                    ops: ops(json!([["append", "x", 2], ["append", "x", 3]]))
                },
                Command::Txn {
                    ops: ops(json!([["append", "y", 7]]))
                },
            ]
        );
        // Another transaction's entry applied between the split ones: the
        // first transaction's read of y now misses an append that precedes
        // its own, which no serial order explains.
        s.apply(&Command::Txn {
            ops: ops(json!([["append", "y", 9]])),
        });
        for c in &cmds {
            s.apply(c);
        }
        assert_eq!(s.get("y"), json!([9, 7]));
        assert_eq!(s.get("x"), json!([1, 2, 3]));
        // A rejected transaction is rejected whole, as by apply.
        s.apply(&Command::Write {
            key: "n".into(),
            value: json!(5),
        });
        let e = s
            .split_txn(&ops(json!([["append", "x", 4], ["append", "n", 1]])))
            .unwrap_err();
        assert!(e.contains("ops[1]"), "{e}");
    }

    #[test]
    fn validate_rejects_unknown_micro_ops() {
        assert!(validate_ops(&ops(json!([
            ["r", "x", null],
            ["w", "x", 1],
            ["append", "x", 1]
        ])))
        .is_ok());
        let e = validate_ops(&ops(json!([["r", "x", null], ["delete", "x", null]]))).unwrap_err();
        assert!(e.contains("ops[1]"), "{e}");
    }

    #[test]
    fn snapshot_round_trips() {
        let mut s = KvState::default();
        s.apply(&Command::Write {
            key: "a".into(),
            value: json!({"n": [1]}),
        });
        s.apply(&Command::Write {
            key: "b".into(),
            value: json!("s"),
        });
        let back = KvState::restore(&s.snapshot()).unwrap();
        assert_eq!(back, s);
        assert!(KvState::restore(&json!([1, 2])).is_err());
    }

    #[test]
    fn read_only_detection() {
        assert!(is_read_only(&ops(json!([["r", "x", null]]))));
        assert!(!is_read_only(&ops(json!([
            ["r", "x", null],
            ["w", "x", 1]
        ]))));
    }
}
