//! `memory`: an in-process [`Db`] with no nodes of its own — every client is
//! one shared [`MemoryKv`], a linearizable map behind a mutex.
//!
//! It exists to test the harness itself (the runner, the workloads, the
//! checkers, the results store) without root or a cluster, and to measure
//! the runner's own throughput. It runs on the `none` backend: the cluster's
//! nodes are names only, so it can neither be killed nor paused, has no
//! leader and no clock to skew ([`Capabilities`] says so, and the nemesis
//! package skips those families). With a [`Fault`] it misbehaves in a known
//! way, so a test can show that a run catches the bug end to end; the
//! cluster file's `memory` section ([`MemorySpec`]) chooses it.

use super::registry::{DbContext, DbEntry};
use super::{Capabilities, Cluster, Consistency, Db, DbError, Node};
use crate::client::memory::{Fault, MemoryKv};
use crate::client::KvClient;
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "memory";

/// This Db in the [registry](super::registry): it runs inside faultline
/// (backend `none`).
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |_| MemoryDb::CONSISTENCY,
    backends: &["none"],
    check,
    build,
};

/// The memory Db's section of a cluster file (`memory:`), only with
/// `db: memory`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct MemorySpec {
    /// A misbehaviour injected into the store (default `none`): tests of
    /// the harness show with it that a run catches a bug.
    pub fault: Fault,
}

fn check(cluster: &ClusterSpec) -> Result<(), FieldError> {
    if cluster.db != NAME && cluster.memory.is_some() {
        return Err(FieldError::new(
            NAME,
            format!(
                "is the section of db memory; this cluster's db is {}",
                cluster.db
            ),
        ));
    }
    Ok(())
}

fn build(cluster: &ClusterSpec, _ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    let fault = cluster.memory.as_ref().map(|m| m.fault).unwrap_or_default();
    Ok(Arc::new(MemoryDb::new(fault)))
}

/// The in-process store as a [`Db`].
pub struct MemoryDb {
    kv: Arc<MemoryKv>,
}

impl MemoryDb {
    /// What the store promises: one mutex orders every op inside its call,
    /// so every op is linearizable. An injected [`Fault`] breaks this
    /// promise on purpose; it does not lower it.
    pub const CONSISTENCY: Consistency = Consistency::Linearizable;

    /// A fresh, empty store with `fault` injected ([`Fault::None`]: correct).
    pub fn new(fault: Fault) -> Self {
        MemoryDb {
            kv: Arc::new(MemoryKv::with_fault(fault)),
        }
    }

    /// The shared store (for assertions in tests).
    pub fn store(&self) -> Arc<MemoryKv> {
        self.kv.clone()
    }
}

fn unsupported(what: &str) -> DbError {
    DbError::Unsupported {
        db: NAME.into(),
        what: what.into(),
    }
}

impl Db for MemoryDb {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kill: false,
            pause: false,
            primaries: false,
            clock: Err("the memory db runs inside faultline; it has no clock of its own".into()),
        }
    }

    fn consistency(&self) -> Consistency {
        Self::CONSISTENCY
    }

    fn setup(&self, _cluster: &Cluster, _node: &Node) -> Result<(), DbError> {
        Ok(())
    }

    fn teardown(&self, _cluster: &Cluster, _node: &Node) -> Result<(), DbError> {
        Ok(())
    }

    fn start(&self, _cluster: &Cluster, _node: &Node) -> Result<(), DbError> {
        Ok(())
    }

    fn kill(&self, _cluster: &Cluster, _node: &Node) -> Result<(), DbError> {
        Err(unsupported("kill"))
    }

    fn pause(&self, _cluster: &Cluster, _node: &Node) -> Result<(), DbError> {
        Err(unsupported("pause"))
    }

    fn resume(&self, _cluster: &Cluster, _node: &Node) -> Result<(), DbError> {
        Err(unsupported("resume"))
    }

    fn primaries(&self, _cluster: &Cluster) -> Vec<String> {
        Vec::new()
    }

    fn await_ready(
        &self,
        _cluster: &Cluster,
        _timeout: std::time::Duration,
    ) -> Result<(), DbError> {
        Ok(())
    }

    fn log_files(&self, _cluster: &Cluster, _node: &Node) -> Vec<PathBuf> {
        Vec::new()
    }

    fn client(&self, _cluster: &Cluster, _node: &Node) -> Arc<dyn KvClient> {
        self.kv.clone()
    }

    fn pid(&self, _node: &Node) -> Option<u32> {
        None
    }
}
