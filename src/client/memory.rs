//! `MemoryKv`: an in-process, linearizable [`KvClient`] — a map behind one
//! mutex — with optional injectable faults.
//!
//! Every call takes the lock once and applies atomically, so a history
//! recorded against a fault-free `MemoryKv` is linearizable and every
//! workload checker must call it valid. With a [`Fault`] it misbehaves in a
//! known, deterministic way (every n-th call), so tests can show end to end
//! that a checker catches the bug: stale reads, acknowledged writes that are
//! lost, transactions torn in half.
//!
//! Semantics are those of refkv's API (`docs/refkv-api.md`): an absent key
//! reads as nothing (`None`, `null` inside a transaction); `cas` compares with
//! `null` for an absent key; `append` treats an absent key as the empty list
//! and appending to a non-list fails the whole transaction definitely, with no
//! effect.

use super::{KvClient, KvError, MicroOp};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// A deterministic misbehaviour of [`MemoryKv`]. `every` counts calls of the
/// affected kind: the `every`-th, `2*every`-th... call misbehaves (`every: 1`
/// means every call; `0` disables the fault).
///
/// In a cluster file it is the `memory` section's `fault`, its kind named
/// by `kind`: `{kind: none}` (the default), or one misbehaviour with its
/// period, e.g. `{kind: lose-writes, every: 5}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Behave correctly.
    #[default]
    None,
    /// Reads (plain reads, and the reads of a transaction) return the value a
    /// key held before its latest write instead of the current one.
    StaleReads {
        /// Which reads are stale.
        every: u64,
    },
    /// Mutations (write, successful cas, transactions with a write or append)
    /// are acknowledged but not applied.
    LoseWrites {
        /// Which mutations are lost.
        every: u64,
    },
    /// Transactions with two or more writes/appends apply all but their last
    /// write: atomicity is broken.
    TornTxns {
        /// Which multi-write transactions are torn.
        every: u64,
    },
}

#[derive(Default)]
struct State {
    /// Current value of each key (never `null`: writing `null` removes).
    map: HashMap<String, Value>,
    /// The value each key held before its latest mutation (`Null` = absent).
    previous: HashMap<String, Value>,
    reads: u64,
    mutations: u64,
    multi_write_txns: u64,
}

impl State {
    fn get(&self, key: &str) -> Value {
        self.map.get(key).cloned().unwrap_or(Value::Null)
    }

    fn stale_get(&self, key: &str) -> Value {
        match self.previous.get(key) {
            Some(v) => v.clone(),
            None => self.get(key),
        }
    }

    fn set(&mut self, key: &str, value: Value) {
        let old = self.get(key);
        self.previous.insert(key.to_string(), old);
        if value.is_null() {
            self.map.remove(key);
        } else {
            self.map.insert(key.to_string(), value);
        }
    }
}

/// An in-process linearizable key-value store implementing [`KvClient`].
/// Share it between workers with `Arc`; all clones of the `Arc` see one store.
pub struct MemoryKv {
    state: Mutex<State>,
    fault: Fault,
}

impl Default for MemoryKv {
    fn default() -> Self {
        MemoryKv::new()
    }
}

fn hits(count: u64, every: u64) -> bool {
    every > 0 && count % every == 0
}

impl MemoryKv {
    /// A correct, empty store.
    pub fn new() -> Self {
        MemoryKv::with_fault(Fault::None)
    }

    /// An empty store with an injected fault.
    pub fn with_fault(fault: Fault) -> Self {
        MemoryKv {
            state: Mutex::new(State::default()),
            fault,
        }
    }

    /// The value `key` holds now (bypassing faults), for assertions in tests.
    pub fn peek(&self, key: &str) -> Option<Value> {
        let st = self.lock();
        st.map.get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another worker panicked mid-call; the
        // map itself is always consistent (each call mutates at the end).
        crate::sync::lock(&self.state)
    }

    /// Counts one read; true when this read must be stale.
    fn stale_now(&self, st: &mut State) -> bool {
        st.reads += 1;
        matches!(self.fault, Fault::StaleReads { every } if hits(st.reads, every))
    }

    /// Counts one mutation; true when it must be dropped.
    fn lose_now(&self, st: &mut State) -> bool {
        st.mutations += 1;
        matches!(self.fault, Fault::LoseWrites { every } if hits(st.mutations, every))
    }
}

#[async_trait::async_trait]
impl KvClient for MemoryKv {
    async fn read(&self, key: &str) -> Result<Option<Value>, KvError> {
        // Let other workers run between calls, so concurrent ops interleave.
        tokio::task::yield_now().await;
        let mut st = self.lock();
        let v = if self.stale_now(&mut st) {
            st.stale_get(key)
        } else {
            st.get(key)
        };
        Ok(if v.is_null() { None } else { Some(v) })
    }

    async fn write(&self, key: &str, value: Value) -> Result<(), KvError> {
        tokio::task::yield_now().await;
        let mut st = self.lock();
        if !self.lose_now(&mut st) {
            st.set(key, value);
        }
        Ok(())
    }

    async fn cas(&self, key: &str, from: Value, to: Value) -> Result<bool, KvError> {
        tokio::task::yield_now().await;
        let mut st = self.lock();
        if st.get(key) != from {
            return Ok(false);
        }
        if !self.lose_now(&mut st) {
            st.set(key, to);
        }
        Ok(true)
    }

    async fn txn(&self, ops: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        tokio::task::yield_now().await;
        let mut st = self.lock();
        let writes = ops.iter().filter(|m| m.0 != "r").count();
        let stale = ops.iter().any(|m| m.0 == "r") && self.stale_now(&mut st);
        let lose = writes > 0 && self.lose_now(&mut st);
        let mut torn = false;
        if writes >= 2 {
            st.multi_write_txns += 1;
            torn =
                matches!(self.fault, Fault::TornTxns { every } if hits(st.multi_write_txns, every));
        }

        // Apply to a scratch overlay first: an error anywhere leaves no effect.
        let mut overlay: HashMap<String, Value> = HashMap::new();
        let mut out = Vec::with_capacity(ops.len());
        let mut writes_seen = 0;
        let mut applied: Vec<(String, Value)> = Vec::new();
        for MicroOp(f, key, value) in ops {
            let current = |overlay: &HashMap<String, Value>| {
                overlay.get(&key).cloned().unwrap_or_else(|| {
                    if stale {
                        st.stale_get(&key)
                    } else {
                        st.get(&key)
                    }
                })
            };
            match f.as_str() {
                "r" => {
                    let v = current(&overlay);
                    out.push(MicroOp(f, key, v));
                }
                "w" | "append" => {
                    writes_seen += 1;
                    let new = if f == "w" {
                        value.clone()
                    } else {
                        match current(&overlay) {
                            Value::Null => Value::Array(vec![value.clone()]),
                            Value::Array(mut xs) => {
                                xs.push(value.clone());
                                Value::Array(xs)
                            }
                            other => {
                                return Err(KvError::Definite(format!(
                                    "append to key {key:?}, which holds the non-list {other}"
                                )))
                            }
                        }
                    };
                    overlay.insert(key.clone(), new.clone());
                    if !(torn && writes_seen == writes) {
                        applied.push((key.clone(), new));
                    }
                    out.push(MicroOp(f, key, value));
                }
                other => {
                    return Err(KvError::Definite(format!(
                        "unknown micro-op {other:?} on key {key:?}"
                    )))
                }
            }
        }
        if !lose {
            for (k, v) in applied {
                st.set(&k, v);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn reads_writes_cas_and_txn_follow_refkv_semantics() {
        let kv = MemoryKv::new();
        assert_eq!(kv.read("x").await.unwrap(), None);
        assert!(kv.cas("x", Value::Null, json!(1)).await.unwrap());
        assert!(!kv.cas("x", json!(2), json!(3)).await.unwrap());
        assert_eq!(kv.read("x").await.unwrap(), Some(json!(1)));
        let out = kv
            .txn(vec![
                MicroOp::read("x"),
                MicroOp::append("l", json!(1)),
                MicroOp::append("l", json!(2)),
                MicroOp::read("l"),
                MicroOp::write("y", json!(5)),
            ])
            .await
            .unwrap();
        assert_eq!(out[0].2, json!(1));
        assert_eq!(out[3].2, json!([1, 2]));
        assert_eq!(kv.peek("y"), Some(json!(5)));
    }

    #[tokio::test]
    async fn append_to_non_list_fails_definitely_and_has_no_effect() {
        let kv = MemoryKv::new();
        kv.write("x", json!(1)).await.unwrap();
        let r = kv
            .txn(vec![
                MicroOp::write("y", json!(2)),
                MicroOp::append("x", json!(3)),
            ])
            .await;
        assert!(matches!(r, Err(KvError::Definite(_))));
        assert_eq!(kv.peek("y"), None);
        assert_eq!(kv.peek("x"), Some(json!(1)));
    }

    #[tokio::test]
    async fn faults_misbehave_as_declared() {
        let kv = MemoryKv::with_fault(Fault::StaleReads { every: 2 });
        kv.write("x", json!(1)).await.unwrap();
        kv.write("x", json!(2)).await.unwrap();
        assert_eq!(kv.read("x").await.unwrap(), Some(json!(2)));
        assert_eq!(
            kv.read("x").await.unwrap(),
            Some(json!(1)),
            "2nd read is stale"
        );

        let kv = MemoryKv::with_fault(Fault::LoseWrites { every: 1 });
        kv.write("x", json!(1)).await.unwrap();
        assert_eq!(kv.peek("x"), None);

        let kv = MemoryKv::with_fault(Fault::TornTxns { every: 1 });
        kv.txn(vec![
            MicroOp::write("a", json!(1)),
            MicroOp::write("b", json!(2)),
        ])
        .await
        .unwrap();
        assert_eq!(kv.peek("a"), Some(json!(1)));
        assert_eq!(kv.peek("b"), None, "last write of a torn txn is dropped");
    }
}
