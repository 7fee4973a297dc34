//! A bring-your-own system as a [`Db`], described entirely in the cluster
//! file's `custom:` section, whose nodes speak refkv's HTTP protocol
//! (`docs/refkv-api.md`).
//!
//! SKELETON: the bring-your-own helper fills this file in (see the issue);
//! until then building it fails with [`DbError::Unsupported`].

use super::registry::{DbContext, DbEntry};
use super::{Consistency, Db, DbError};
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "custom";

/// This Db in the [registry](super::registry): it promises what its
/// section declares.
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |c| {
        c.custom
            .as_ref()
            .map(|s| s.consistency)
            .unwrap_or(Consistency::Linearizable)
    },
    backends: &["local"],
    check,
    build,
};

/// The section of a cluster file describing a bring-your-own system
/// (`custom:`), only with `db: custom`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct CustomSpec {
    /// What the system promises its clients (default `linearizable`).
    pub consistency: Consistency,
}

impl Default for CustomSpec {
    fn default() -> Self {
        CustomSpec {
            consistency: Consistency::Linearizable,
        }
    }
}

fn check(cluster: &ClusterSpec) -> Result<(), FieldError> {
    if cluster.db != NAME && cluster.custom.is_some() {
        return Err(FieldError::new(
            NAME,
            format!(
                "is the section of db custom; this cluster's db is {}",
                cluster.db
            ),
        ));
    }
    Ok(())
}

fn build(_cluster: &ClusterSpec, _ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    Err(DbError::Unsupported {
        db: NAME.into(),
        what: "running yet".into(),
    })
}
