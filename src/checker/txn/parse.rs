//! From a history to transactions: each client op with `f: txn` becomes a
//! [`Txn`] of micro-ops, its keys and values interned as small integers.
//!
//! A micro-op is a three-element array `[f, key, value]`: `["append", k,
//! v]`, `["r", k, [v...]]` (list-append), `["w", k, v]`, `["r", k, v]`
//! (rw-register). `f` may also be written `"read"`, `"write"`, `":append"`;
//! Elle's EDN keywords (`:append`, `:r`, `:w`) arrive as those strings
//! through the EDN importer. The invoke carries the micro-ops with unknown
//! reads (`null`); the `ok` completion carries them with what was read. A
//! `fail` or `info` completion keeps the invoke's micro-ops (what it *tried*
//! to write), with every read unknown.

use crate::checker::CheckError;
use crate::history::{History, OpType, Process};
use rustc_hash::FxHashMap;
use serde_json::Value;

/// An interned key or value: its index in [`Interner`].
pub type Id = u32;

/// Keys and values as small integers, and back.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FxHashMap<String, Id>,
    values: Vec<Value>,
}

impl Interner {
    /// The id of `v` (by its exact JSON text), made on first sight.
    pub fn id(&mut self, v: &Value) -> Id {
        let text = match v {
            // The common case, without serializing.
            Value::String(s) => format!("s{s}"),
            other => format!("j{other}"),
        };
        if let Some(id) = self.ids.get(&text) {
            return *id;
        }
        let id = self.values.len() as Id;
        self.values.push(v.clone());
        self.ids.insert(text, id);
        id
    }

    /// The value `id` stands for, as written in the history.
    pub fn value(&self, id: Id) -> &Value {
        &self.values[id as usize]
    }

    /// The value `id` stands for, as a person reads it (`3`, `"x"`).
    pub fn show(&self, id: Id) -> String {
        match self.value(id) {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// One micro-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    /// Append `value` to the list at `key` (list-append).
    Append {
        /// The key.
        key: Id,
        /// The element appended.
        value: Id,
    },
    /// Write `value` to the register at `key` (rw-register).
    Write {
        /// The key.
        key: Id,
        /// The value written.
        value: Id,
    },
    /// Read the list at `key` (list-append); `None`: not known (an invoke,
    /// or a txn that did not complete ok).
    ReadList {
        /// The key.
        key: Id,
        /// The elements read, in order.
        list: Option<Vec<Id>>,
    },
    /// Read the register at `key` (rw-register); `None`: not known;
    /// `Some(None)`: read nothing (the register was never written).
    ReadReg {
        /// The key.
        key: Id,
        /// The value read.
        value: Option<Option<Id>>,
    },
}

impl Mop {
    /// The key it touches.
    pub fn key(&self) -> Id {
        match self {
            Mop::Append { key, .. }
            | Mop::Write { key, .. }
            | Mop::ReadList { key, .. }
            | Mop::ReadReg { key, .. } => *key,
        }
    }
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed (`ok`).
    Ok,
    /// Definitely aborted (`fail`).
    Fail,
    /// Unknown (`info`, or no completion): it may have committed.
    Info,
}

/// One transaction: a client op with `f: txn`.
#[derive(Debug, Clone)]
pub struct Txn {
    /// Index of its invoke in the history.
    pub invoke: u64,
    /// Index of its completion, when it has one.
    pub complete: Option<u64>,
    /// Its process number.
    pub process: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Its micro-ops, in order.
    pub mops: Vec<Mop>,
    /// Time of its invoke (ns).
    pub invoke_time: u64,
    /// Time of its completion (ns), when it has one.
    pub complete_time: Option<u64>,
}

impl Txn {
    /// The index a person looks up: the completion's, else the invoke's.
    pub fn index(&self) -> u64 {
        self.complete.unwrap_or(self.invoke)
    }
}

/// Which micro-ops a history may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `append` and list `r`.
    ListAppend,
    /// `w` and register `r`.
    RwRegister,
}

/// The transactions of a history, and what their keys and values are.
#[derive(Debug, Default)]
pub struct Txns {
    /// Every `txn` op, in invoke order.
    pub txns: Vec<Txn>,
    /// Keys and values.
    pub interner: Interner,
    /// Client ops that are not `txn` (ignored, counted).
    pub other_ops: usize,
}

fn bad(index: u64, reason: impl Into<String>) -> CheckError {
    CheckError::BadOp {
        index,
        reason: reason.into(),
    }
}

/// The micro-op function `f` names, or `None`.
fn mop_f(f: &Value) -> Option<&str> {
    let s = f.as_str()?;
    Some(match s.trim_start_matches(':') {
        "append" => "append",
        "r" | "read" => "r",
        "w" | "write" => "w",
        _ => return None,
    })
}

/// Read the micro-ops of op `index`'s `value`; reads keep their values only
/// when `with_reads`.
fn parse_mops(
    value: &Value,
    index: u64,
    flavor: Flavor,
    with_reads: bool,
    interner: &mut Interner,
) -> Result<Vec<Mop>, CheckError> {
    let Some(items) = value.as_array() else {
        return Err(bad(
            index,
            format!("a txn's value must be a list of micro-ops, not {value}"),
        ));
    };
    let mut mops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let parts = match item.as_array() {
            Some(p) if p.len() == 3 => p,
            _ => {
                return Err(bad(
                    index,
                    format!("micro-op {i} must be [f, key, value], not {item}"),
                ))
            }
        };
        let key = interner.id(&parts[1]);
        let v = &parts[2];
        let mop = match (mop_f(&parts[0]), flavor) {
            (Some("append"), Flavor::ListAppend) => Mop::Append {
                key,
                value: interner.id(v),
            },
            (Some("w"), Flavor::RwRegister) => Mop::Write {
                key,
                value: interner.id(v),
            },
            (Some("r"), Flavor::ListAppend) => {
                let list = match (with_reads, v) {
                    (false, _) | (true, Value::Null) => None,
                    (true, Value::Array(xs)) => Some(xs.iter().map(|x| interner.id(x)).collect()),
                    (true, other) => {
                        return Err(bad(
                            index,
                            format!("micro-op {i} reads a list, but the value read is {other}"),
                        ))
                    }
                };
                Mop::ReadList { key, list }
            }
            (Some("r"), Flavor::RwRegister) => Mop::ReadReg {
                key,
                value: match (with_reads, v) {
                    (false, _) => None,
                    (true, Value::Null) => Some(None),
                    (true, x) => Some(Some(interner.id(x))),
                },
            },
            (_, flavor) => {
                let expected = match flavor {
                    Flavor::ListAppend => "append or r (list-append)",
                    Flavor::RwRegister => "w or r (rw-register)",
                };
                return Err(bad(
                    index,
                    format!(
                        "micro-op {i} has function {}, expected {expected}",
                        parts[0]
                    ),
                ));
            }
        };
        mops.push(mop);
    }
    Ok(mops)
}

/// The transactions of `history`: every client op with `f: txn`, paired
/// invoke → completion. Other client ops are counted and ignored; a
/// malformed op is an error naming its index.
pub fn txns(history: &History, flavor: Flavor) -> Result<Txns, CheckError> {
    let pairs = history.pairs()?;
    let mut out = Txns::default();
    for (inv, done) in pairs {
        if inv.f != "txn" {
            out.other_ops += 1;
            continue;
        }
        let Process::Client(process) = inv.process else {
            continue;
        };
        let outcome = match done.map(|d| d.kind) {
            Some(OpType::Ok) => Outcome::Ok,
            Some(OpType::Fail) => Outcome::Fail,
            _ => Outcome::Info,
        };
        let mops = match (outcome, done) {
            (Outcome::Ok, Some(d)) => {
                let m = parse_mops(&d.value, d.index, flavor, true, &mut out.interner)?;
                // The completion must be the invoke's micro-ops, reads filled.
                let planned = parse_mops(&inv.value, inv.index, flavor, false, &mut out.interner)?;
                let same = planned.len() == m.len()
                    && planned.iter().zip(&m).all(|(p, c)| match (p, c) {
                        (Mop::ReadList { key: a, .. }, Mop::ReadList { key: b, .. })
                        | (Mop::ReadReg { key: a, .. }, Mop::ReadReg { key: b, .. }) => a == b,
                        (p, c) => p == c,
                    });
                if !same {
                    return Err(bad(
                        d.index,
                        format!(
                            "the completion's micro-ops differ from its invoke's (op {})",
                            inv.index
                        ),
                    ));
                }
                m
            }
            _ => parse_mops(&inv.value, inv.index, flavor, false, &mut out.interner)?,
        };
        out.txns.push(Txn {
            invoke: inv.index,
            complete: done.map(|d| d.index),
            process,
            outcome,
            mops,
            invoke_time: inv.time,
            complete_time: done.map(|d| d.time),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use serde_json::json;

    fn op(kind: OpType, p: u64, value: Value) -> Op {
        let mut o = Op::invoke(Process::Client(p), "txn", value);
        o.kind = kind;
        o
    }

    #[test]
    fn ok_txns_keep_their_reads_and_others_only_their_writes() {
        let h = History::new(vec![
            op(
                OpType::Invoke,
                0,
                json!([["append", "x", 1], ["r", "x", null]]),
            ),
            op(OpType::Invoke, 1, json!([[":append", "x", 2]])),
            op(OpType::Ok, 0, json!([["append", "x", 1], ["r", "x", [1]]])),
            op(OpType::Info, 1, json!([[":append", "x", 2]])),
        ]);
        let t = txns(&h, Flavor::ListAppend).expect("parses");
        assert_eq!(t.txns.len(), 2);
        assert_eq!(t.txns[0].outcome, Outcome::Ok);
        let Mop::ReadList { list: Some(l), .. } = &t.txns[0].mops[1] else {
            panic!("a read with its list");
        };
        assert_eq!(l.len(), 1);
        assert_eq!(t.txns[1].outcome, Outcome::Info);
        assert_eq!(t.txns[1].index(), 3);
    }

    #[test]
    fn bad_micro_ops_name_the_op() {
        let h = History::new(vec![
            op(OpType::Invoke, 0, json!([["incr", "x", 1]])),
            op(OpType::Ok, 0, json!([["incr", "x", 1]])),
        ]);
        let e = txns(&h, Flavor::ListAppend).expect_err("incr is no micro-op");
        assert!(
            e.to_string().contains("op 1: micro-op 0 has function"),
            "{e}"
        );
        let h = History::new(vec![
            op(OpType::Invoke, 0, json!([["r", "x", null]])),
            op(OpType::Ok, 0, json!([["r", "x", 3]])),
        ]);
        let e = txns(&h, Flavor::ListAppend).expect_err("a list read of 3");
        assert!(e.to_string().contains("reads a list"), "{e}");
    }

    #[test]
    fn a_completion_must_match_its_invoke() {
        let h = History::new(vec![
            op(OpType::Invoke, 0, json!([["append", "x", 1]])),
            op(OpType::Ok, 0, json!([["append", "x", 2]])),
        ]);
        let e = txns(&h, Flavor::ListAppend).expect_err("differs");
        assert!(e.to_string().contains("differ from its invoke"), "{e}");
    }
}
