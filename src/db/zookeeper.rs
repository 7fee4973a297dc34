//! ZooKeeper as a [`Db`]: Debian's `zookeeperd` (3.8), installed when
//! missing.
//!
//! SKELETON: the ZooKeeper helper fills this file in (see the issue); until
//! then building it fails with [`DbError::Unsupported`].

use super::registry::{DbContext, DbEntry};
use super::{Consistency, Db, DbError};
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "zookeeper";

/// This Db in the [registry](super::registry): its promise depends on the
/// read mode its clients use.
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |c| c.zookeeper.reads.consistency(),
    backends: &["local"],
    check,
    build,
};

/// How the clients read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// `sync` then `getData`: the strongest read ZooKeeper offers, declared
    /// linearizable (ZooKeeper's documentation hedges; faultline checks it).
    #[default]
    Sync,
    /// A plain `getData`, which a lagging follower may serve: only
    /// sequential consistency is promised.
    Plain,
}

impl ReadMode {
    /// What ZooKeeper promises for reads of this mode.
    pub fn consistency(self) -> Consistency {
        match self {
            ReadMode::Sync => Consistency::Linearizable,
            ReadMode::Plain => Consistency::Sequential,
        }
    }
}

/// ZooKeeper's section of a cluster file (`zookeeper:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ZooKeeperSpec {
    /// How clients read (default `sync`).
    pub reads: ReadMode,
    /// Client port on each node's address (default 2181).
    pub client_port: u16,
    /// Quorum (follower → leader) port (default 2888).
    pub quorum_port: u16,
    /// Leader-election port (default 3888).
    pub election_port: u16,
}

impl Default for ZooKeeperSpec {
    fn default() -> Self {
        ZooKeeperSpec {
            reads: ReadMode::Sync,
            client_port: 2181,
            quorum_port: 2888,
            election_port: 3888,
        }
    }
}

fn check(_cluster: &ClusterSpec) -> Result<(), FieldError> {
    Ok(())
}

fn build(_cluster: &ClusterSpec, _ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    Err(DbError::Unsupported {
        db: NAME.into(),
        what: "running yet".into(),
    })
}
