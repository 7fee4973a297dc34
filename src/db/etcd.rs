//! etcd as a [`Db`]: Debian's `etcd-server` (3.4), installed when missing.
//!
//! SKELETON: the etcd helper fills this file in (see the issue); until then
//! building it fails with [`DbError::Unsupported`].

use super::registry::{DbContext, DbEntry};
use super::{Consistency, Db, DbError};
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "etcd";

/// This Db in the [registry](super::registry).
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |_| Consistency::Linearizable,
    backends: &["local"],
    check,
    build,
};

/// etcd's section of a cluster file (`etcd:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct EtcdSpec {
    /// Client port on each node's address (default 2379).
    pub client_port: u16,
    /// Peer port on each node's address (default 2380).
    pub peer_port: u16,
}

impl Default for EtcdSpec {
    fn default() -> Self {
        EtcdSpec {
            client_port: 2379,
            peer_port: 2380,
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
