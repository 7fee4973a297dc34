//! Operations and histories, Jepsen's model.
//!
//! An [`Op`] is one event of one logical client thread (a *process*): the
//! `invoke` of an operation, or its completion. A completion is `ok` (it
//! happened), `fail` (it definitely did not happen) or `info` (unknown: it may
//! take effect at any time after its invoke, or never). An invoke with no
//! completion at all counts as `info`. After an `info` the worker goes on as a
//! new process, so one process never has two operations in flight.
//!
//! Nemesis ops use process `"nemesis"` and carry what the fault did in
//! `value`; they have no client semantics and checkers skip them.
//!
//! The on-disk format is `history.jsonl` ([`jsonl`]): one op per line, written
//! and flushed as the run goes. Importers read histories recorded by other
//! tools ([`import`]).
//!
//! The files of this module form layers, each using only those above it:
//!
//! 1. this file (the core: [`Op`], [`History`]) and [`exact`] (how values
//!    compare);
//! 2. [`edn`], a pure EDN value reader, and [`loaded`] (what a reader
//!    returns, and the pairing check every reader ends with);
//! 3. [`jsonl`], faultline's own format;
//! 4. [`import`]: format detection and one importer per foreign format.
//!
//! `tests/history_layers.rs` keeps it that way.
//!
//! Values are kept exactly as written — a number is its literal, at any
//! size or precision — and compared by one rule ([`exact`]): integers and
//! decimals by exact value, an integer never equal to a decimal. A number
//! whose exact value cannot be kept is bad input, never a silent change.

pub mod edn;
pub mod exact;
pub mod import;
pub mod jsonl;
pub mod loaded;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The type of an op: Jepsen's `:invoke`, `:ok`, `:fail`, `:info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation begins.
    Invoke,
    /// The operation completed and took effect.
    Ok,
    /// The operation definitely did not take effect.
    Fail,
    /// Unknown: the operation may take effect at any time after its invoke, or never.
    Info,
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        })
    }
}

/// Who performed an op: a numbered client process, or the nemesis.
///
/// Serialized as a JSON number or the string `"nemesis"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A logical client thread. A worker whose op ends in `info` continues as
    /// a new process number.
    Client(u64),
    /// The fault injector.
    Nemesis,
}

impl Process {
    /// True for the nemesis.
    pub fn is_nemesis(&self) -> bool {
        matches!(self, Process::Nemesis)
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(n) => write!(f, "{n}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u64(*n),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative process number or \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process {v} is negative")))
            }
            // serde_json (arbitrary_precision) hands a number that is not a
            // 64-bit integer over as a one-entry map holding its literal.
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Process, A::Error> {
                use serde::de::Error;
                let entry: Option<(String, String)> = map.next_entry().ok().flatten();
                Err(A::Error::custom(match entry {
                    Some((_, literal)) => {
                        format!("process {literal} is not a non-negative 64-bit integer")
                    }
                    None => "process is neither a number nor \"nemesis\"".to_string(),
                }))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "process {v:?} is neither a number nor \"nemesis\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The key of an op in a multi-key workload (Jepsen's `independent`): a number
/// or a string. Checkers that are P-compositional split the history by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    /// A numeric key.
    Int(i64),
    /// A string key.
    Str(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(n) => write!(f, "{n}"),
            Key::Str(s) => f.write_str(s),
        }
    }
}

/// One event of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, 0-based, dense. Assigned by the writer or the
    /// reader; importers renumber.
    #[serde(default)]
    pub index: u64,
    /// invoke / ok / fail / info.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// Which logical process performed it.
    pub process: Process,
    /// The function: `read`, `write`, `cas`, `add`, `transfer`,
    /// `start-partition`...
    pub f: String,
    /// The key, for multi-key workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    /// The argument (on invoke) or result (on completion). `null` when absent.
    #[serde(default)]
    pub value: Value,
    /// Nanoseconds since the test started.
    #[serde(default)]
    pub time: u64,
    /// The node the client talked to, or the nodes a fault touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why the op failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

impl Op {
    /// A new invoke op with `null` value, index 0, time 0.
    pub fn invoke(process: Process, f: impl Into<String>, value: Value) -> Self {
        Op {
            index: 0,
            kind: OpType::Invoke,
            process,
            f: f.into(),
            key: None,
            value,
            time: 0,
            node: None,
            error: None,
        }
    }

    /// The completion of this invoke with the given type and value; keeps
    /// process, f, key and node.
    pub fn complete(&self, kind: OpType, value: Value) -> Self {
        Op {
            kind,
            value,
            error: None,
            ..self.clone()
        }
    }

    /// True for invoke ops.
    pub fn is_invoke(&self) -> bool {
        self.kind == OpType::Invoke
    }

    /// True for client ops (not the nemesis).
    pub fn is_client(&self) -> bool {
        !self.process.is_nemesis()
    }
}

/// An ordered list of ops, nemesis ops included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The ops in the order they happened.
    pub ops: Vec<Op>,
}

impl History {
    /// A history of these ops; renumbers `index` densely from 0.
    pub fn new(mut ops: Vec<Op>) -> Self {
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        History { ops }
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there are no ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Client ops paired invoke → completion, in invoke order. An invoke
    /// without a completion is paired with `None` (treat as info). Nemesis ops
    /// are skipped. A completion without an invoke is reported as an error.
    pub fn pairs(&self) -> Result<Vec<(&Op, Option<&Op>)>, HistoryError> {
        use std::collections::HashMap;
        let mut open: HashMap<Process, usize> = HashMap::new();
        let mut out: Vec<(&Op, Option<&Op>)> = Vec::new();
        for op in &self.ops {
            if op.process.is_nemesis() {
                continue;
            }
            match op.kind {
                OpType::Invoke => {
                    if let Some(prev) = open.get(&op.process) {
                        return Err(HistoryError::Malformed {
                            index: op.index,
                            reason: format!(
                                "process {} invokes op {} while its op {} is still open",
                                op.process, op.index, out[*prev].0.index
                            ),
                        });
                    }
                    open.insert(op.process, out.len());
                    out.push((op, None));
                }
                _ => match open.remove(&op.process) {
                    Some(i) => out[i].1 = Some(op),
                    None => {
                        return Err(HistoryError::Malformed {
                            index: op.index,
                            reason: format!(
                                "{} completion of process {} has no invoke",
                                op.kind, op.process
                            ),
                        })
                    }
                },
            }
        }
        Ok(out)
    }
}

/// A history that cannot be checked because it is malformed (an error, not a
/// verdict).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Structural problem at an op.
    #[error("op {index}: {reason}")]
    Malformed {
        /// Index of the offending op.
        index: u64,
        /// What is wrong.
        reason: String,
    },
}
