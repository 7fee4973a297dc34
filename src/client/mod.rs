//! The data-plane seam: a small key-value protocol every system under test
//! implements.
//!
//! Workloads (register, set, bank, counter, list-append) express their ops as
//! calls on a [`KvClient`]; each system (refkv over its HTTP API, etcd over its
//! JSON gateway, ZooKeeper, any server speaking refkv's protocol) implements
//! [`KvClient`] once. So workloads never know which system they talk to, and
//! a new system gets every workload for free.
//!
//! Failure semantics are the heart of it: a [`KvError::Definite`] means the
//! operation certainly did not take effect (the op becomes `fail`); a
//! [`KvError::Indefinite`] means it may have (timeout, connection lost after
//! sending: the op becomes `info`). When in doubt, an implementation must say
//! `Indefinite`: a wrong `Definite` makes the checker unsound.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One micro-operation of a transaction, as in refkv's `/txn` API:
/// `["r", key, null]`, `["w", key, value]`, `["append", key, value]`.
/// In a transaction's result, reads carry the value read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MicroOp(pub String, pub String, pub Value);

impl MicroOp {
    /// A read of `key`.
    pub fn read(key: impl Into<String>) -> Self {
        MicroOp("r".into(), key.into(), Value::Null)
    }
    /// A write of `value` to `key`.
    pub fn write(key: impl Into<String>, value: Value) -> Self {
        MicroOp("w".into(), key.into(), value)
    }
    /// An append of `value` to the list at `key`.
    pub fn append(key: impl Into<String>, value: Value) -> Self {
        MicroOp("append".into(), key.into(), value)
    }
}

/// Why a client call did not complete normally.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// The operation definitely did not take effect (→ `fail`).
    #[error("definite failure: {0}")]
    Definite(String),
    /// The operation may or may not have taken effect (→ `info`).
    #[error("indeterminate: {0}")]
    Indefinite(String),
    /// This system does not support the call (→ `fail`, and the workload
    /// should not have generated it).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// A connection to one node of a system under test.
///
/// Contract: creating a client must not change the logical state of the
/// system; every call either returns its result, or an error classified as
/// definite or indefinite; calls are bounded by the client's own timeout.
#[async_trait::async_trait]
pub trait KvClient: Send + Sync {
    /// Read `key`; `None` when it holds nothing.
    async fn read(&self, key: &str) -> Result<Option<Value>, KvError>;
    /// Write `value` to `key`.
    async fn write(&self, key: &str, value: Value) -> Result<(), KvError>;
    /// If `key` holds `from`, set it to `to` and return true; else false.
    async fn cas(&self, key: &str, from: Value, to: Value) -> Result<bool, KvError>;
    /// Apply the micro-ops atomically; returns them with read values filled in.
    async fn txn(&self, ops: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError>;
}

pub mod etcd;
pub mod memory;
pub mod refkv;
pub mod zookeeper;
