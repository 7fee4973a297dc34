//! Every system a cluster file may name in `db`, in one table.
//!
//! Each [`Db`] module declares one [`DbEntry`]: its name, its promise
//! ([`Consistency`]), the backends it runs on, a check of its own section of
//! the cluster file and a constructor from that section. Everything that
//! needs to know the Dbs — loading a cluster file, building the Db of a run,
//! planning a dry run, checking a stored run — reads [`DBS`], so adding a
//! system is one new file under `src/db/` and one line here.
//!
//! Building a Db must not touch any node: a dry run builds one only to ask
//! its [`Db::capabilities`].

use super::{custom, etcd, memory, refkv, zookeeper, Consistency, Db, DbError};
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use std::path::PathBuf;
use std::sync::Arc;

/// What a Db's constructor may need from the run rather than from the
/// cluster file.
#[derive(Debug, Clone, Default)]
pub struct DbContext {
    /// The `faultline` binary the nodes run (`faultline node`); `None`:
    /// this process's own executable.
    pub binary: Option<PathBuf>,
}

/// One system a cluster file may name.
#[derive(Debug, Clone, Copy)]
pub struct DbEntry {
    /// The name in `db:` (`refkv`), also what [`Db::name`] returns.
    pub name: &'static str,
    /// What the system promises its clients, from the cluster file alone
    /// (a stored run is checked without any node; ZooKeeper's promise
    /// depends on its read mode); [`Db::consistency`] returns the same.
    pub consistency: fn(&ClusterSpec) -> Consistency,
    /// The backends it runs on, the first one suggested when the cluster
    /// names another. `["none"]`: it runs inside faultline, with no machines.
    pub backends: &'static [&'static str],
    /// Check the values of its own section of the cluster file, and that a
    /// cluster naming another Db sets nothing in it that it would ignore.
    /// Called for every entry, whichever Db the cluster names.
    pub check: fn(&ClusterSpec) -> Result<(), FieldError>,
    /// Build it from the cluster file (its own section) and the run's
    /// context, touching no node.
    pub build: BuildDb,
}

/// A Db's constructor: from the cluster file (its own section) and the
/// run's context, touching no node.
pub type BuildDb = fn(&ClusterSpec, &DbContext) -> Result<Arc<dyn Db>, DbError>;

/// The Dbs, in the order error messages list them.
pub const DBS: &[DbEntry] = &[
    refkv::ENTRY,
    etcd::ENTRY,
    zookeeper::ENTRY,
    custom::ENTRY,
    memory::ENTRY,
];

/// The names of [`DBS`], in order.
pub const NAMES: &[&str] = &names();

const fn names() -> [&'static str; DBS.len()] {
    let mut out = [""; DBS.len()];
    let mut i = 0;
    while i < DBS.len() {
        out[i] = DBS[i].name;
        i += 1;
    }
    out
}

/// The entry called `name`.
pub fn by_name(name: &str) -> Option<&'static DbEntry> {
    DBS.iter().find(|e| e.name == name)
}

/// The entry called `name`, or an error listing the valid names.
pub fn lookup(name: &str) -> Result<&'static DbEntry, String> {
    by_name(name)
        .ok_or_else(|| format!("unknown db {name:?}: expected one of {}", NAMES.join(", ")))
}

/// Check the Db-specific parts of a cluster: a known Db, on a backend it
/// runs on, and every Db's section ([`DbEntry::check`]). Field errors
/// name the field (`db`, `backend`, `refkv.peer-port`...).
pub fn check(cluster: &ClusterSpec) -> Result<(), FieldError> {
    let entry = lookup(&cluster.db).map_err(|m| FieldError::new("db", m))?;
    let backend = cluster.backend.as_str();
    if !entry.backends.contains(&backend) {
        let message = if entry.backends == ["none"] {
            format!(
                "db {} runs inside faultline and needs `backend: none`",
                entry.name
            )
        } else if backend == "none" {
            format!(
                "backend none has no nodes to run {} on; use `backend: {}`",
                entry.name,
                entry.backends.first().copied().unwrap_or("local")
            )
        } else {
            format!(
                "db {} does not run on backend {backend}: expected one of {}",
                entry.name,
                entry.backends.join(", ")
            )
        };
        return Err(FieldError::new("backend", message));
    }
    Ok(())
}

/// Check every Db's section of the cluster file ([`DbEntry::check`]).
pub fn check_sections(cluster: &ClusterSpec) -> Result<(), FieldError> {
    DBS.iter().try_for_each(|e| (e.check)(cluster))
}

/// Build the Db the cluster names, touching no node.
pub fn build(cluster: &ClusterSpec, ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    let entry = lookup(&cluster.db).map_err(DbError::Other)?;
    (entry.build)(cluster, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's promise is the one each Db reports once built, so a
    /// stored run is judged as its live run was.
    #[test]
    fn every_entry_builds_the_db_it_names_with_the_promise_it_declares() {
        assert_eq!(NAMES, ["refkv", "etcd", "zookeeper", "custom", "memory"]);
        for e in DBS {
            let cluster = ClusterSpec {
                db: e.name.into(),
                backend: e.backends[0].into(),
                // The one Db with a required section: refkv described as
                // bring-your-own.
                custom: (e.name == super::custom::NAME).then(Default::default),
                ..ClusterSpec::default()
            };
            assert_eq!(check(&cluster), Ok(()), "{}", e.name);
            assert_eq!(check_sections(&cluster), Ok(()), "{}", e.name);
            let db = build(&cluster, &DbContext::default()).expect(e.name);
            assert_eq!(db.name(), e.name);
            assert_eq!(db.consistency(), (e.consistency)(&cluster), "{}", e.name);
        }
        assert!(by_name("mongodb").is_none());
        let e = lookup("mongodb").unwrap_err();
        assert_eq!(
            e,
            "unknown db \"mongodb\": expected one of refkv, etcd, zookeeper, custom, memory"
        );
    }
}
