//! Bringing a cluster up and taking it down, outside of any test: the
//! provision → Db setup → await-ready steps of a run, and the Db and
//! backend teardown, as plain blocking functions. The run's lifecycle
//! ([`super::lifecycle`]) calls them from its phases; `faultline cluster
//! up` calls [`bring_up`] and leaves what it made running; `faultline
//! cluster down` calls [`teardown`]. One copy of each step, so a cluster
//! brought up by hand is the cluster a test would have run against.

use super::RunError;
use crate::db::registry::{self, DbContext};
use crate::db::{Cluster, Db, DbError};
use crate::remote::backend::{self, Backend, Provision};
use crate::remote::{Node, RemoteError};
use crate::spec::ClusterSpec;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The names of a cluster's `n` nodes: `n1`, `n2`...
pub fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

/// The Db the cluster names, from its own section of the cluster file
/// ([`crate::db::registry`]); `binary` is the `faultline` the nodes run
/// (`None`: this process's own).
pub fn make_db(spec: &ClusterSpec, binary: Option<PathBuf>) -> Result<Arc<dyn Db>, RunError> {
    registry::lookup(&spec.db).map_err(|e| RunError::BadInput(format!("cluster: {e}")))?;
    registry::build(spec, &DbContext { binary }).map_err(|e| RunError::Internal(e.to_string()))
}

/// Provision one node per name through `be` (see [`Backend::provision`]).
pub fn provision(
    be: &mut dyn Backend,
    names: &[String],
    work_dir: &Path,
    binary: &Path,
) -> Result<Vec<Node>, RunError> {
    Ok(be.provision(&Provision {
        names,
        work_dir,
        binary,
    })?)
}

/// How a Db setup failure ends the run: a node that cannot be reached or
/// never comes up is something the user must look at (exit 254, the
/// message names the node); anything else is faultline's own failure (255).
pub fn setup_error(e: &DbError, msg: String) -> RunError {
    match e {
        DbError::NotReady { .. }
        | DbError::Unsupported { .. }
        | DbError::Remote(RemoteError::Unreachable { .. } | RemoteError::Host(_)) => {
            RunError::BadInput(msg)
        }
        _ => RunError::Internal(msg),
    }
}

/// Set up the Db on every node, in order, then wait (the cluster file's
/// `ready-timeout`) until it serves. Returns how long that took.
pub fn setup_db(spec: &ClusterSpec, cluster: &Cluster) -> Result<Duration, RunError> {
    let t = Instant::now();
    let ready = Duration::from_secs_f64(spec.ready_timeout.max(0.0));
    let db = &cluster.db;
    for n in &cluster.nodes {
        db.setup(cluster, n)
            .map_err(|e| setup_error(&e, format!("{} setup on {}: {e}", db.name(), n.name)))?;
    }
    db.await_ready(cluster, ready)
        .map_err(|e| setup_error(&e, format!("{} not ready: {e}", db.name())))?;
    Ok(t.elapsed())
}

/// Tear the Db down on every node, then the backend; returns what failed
/// (each failure is reported, none stops the rest).
pub fn teardown(cluster: &Cluster, be: &mut dyn Backend) -> Vec<String> {
    let mut problems = Vec::new();
    for n in &cluster.nodes {
        if let Err(e) = cluster.db.teardown(cluster, n) {
            problems.push(format!("db teardown on {}: {e}", n.name));
        }
    }
    if let Err(e) = be.teardown() {
        problems.push(format!("backend teardown: {e}"));
    }
    problems
}

/// Copy each node's log files (as its Db lists them) into
/// `into/<node>/`; returns what failed. `into` must not be where the nodes
/// keep them (a local node's log directory is on this machine).
pub fn download_logs(cluster: &Cluster, into: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for n in &cluster.nodes {
        for file in cluster.db.log_files(cluster, n) {
            let Some(name) = file.file_name() else {
                continue;
            };
            let dest = into.join(crate::store::safe_name(&n.name)).join(name);
            if let Err(e) = n.remote.download(&file, &dest) {
                problems.push(format!("{}: {}: {e}", n.name, file.display()));
            }
        }
    }
    problems
}

/// A cluster brought up by [`bring_up`]: its backend (which still owns the
/// nodes) and the nodes with their Db, serving.
pub struct Up {
    /// The backend that provisioned the nodes.
    pub backend: Box<dyn Backend>,
    /// The nodes and the Db running on them.
    pub cluster: Cluster,
    /// How long the Db took to set up and serve.
    pub ready_after: Duration,
}

/// Provision the cluster `spec` describes under `work_dir`, set up its Db
/// on every node and wait until it serves. On failure everything made is
/// removed again (the Db's logs are first copied to `work_dir/logs/`, to
/// see why) and the error is returned: 254 for what the user can fix (not
/// root, a node that never comes up...), 255 otherwise.
pub fn bring_up(
    spec: &ClusterSpec,
    binary: Option<PathBuf>,
    work_dir: &Path,
) -> Result<Up, RunError> {
    let names = node_names(spec.nodes);
    let mut be = backend::build(&spec.backend_config())?;
    let own = binary.clone().unwrap_or_else(Provision::own_binary);
    let nodes = provision(be.as_mut(), &names, work_dir, &own)?;
    let db = match make_db(spec, binary) {
        Ok(db) => db,
        Err(e) => {
            let _ = be.teardown();
            return Err(e);
        }
    };
    let cluster = Cluster { nodes, db };
    match setup_db(spec, &cluster) {
        Ok(ready_after) => Ok(Up {
            backend: be,
            cluster,
            ready_after,
        }),
        Err(e) => {
            let _ = download_logs(&cluster, &work_dir.join("logs"));
            let problems = teardown(&cluster, be.as_mut());
            let e = match e {
                RunError::BadInput(m) if problems.is_empty() => RunError::BadInput(m),
                RunError::Internal(m) if problems.is_empty() => RunError::Internal(m),
                RunError::BadInput(m) => {
                    RunError::BadInput(format!("{m}; then teardown: {}", problems.join("; ")))
                }
                RunError::Internal(m) => {
                    RunError::Internal(format!("{m}; then teardown: {}", problems.join("; ")))
                }
            };
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_or_unready_nodes_are_the_users_to_fix() {
        let bad = [
            DbError::NotReady {
                node: "n2".into(),
                reason: "no answer".into(),
            },
            DbError::Remote(RemoteError::Unreachable {
                node: "n3".into(),
                reason: "connection refused".into(),
            }),
        ];
        for e in bad {
            let r = setup_error(&e, format!("refkv setup: {e}"));
            assert!(
                matches!(r, RunError::BadInput(ref m) if m.contains("n")),
                "{r:?}"
            );
        }
        let r = setup_error(&DbError::Other("boom".into()), "refkv setup: boom".into());
        assert!(matches!(r, RunError::Internal(_)), "{r:?}");
    }

    #[test]
    fn a_memory_cluster_comes_up_on_backend_none_and_goes_down() {
        let spec = ClusterSpec {
            name: "memory".into(),
            db: "memory".into(),
            backend: "none".into(),
            nodes: 3,
            ..ClusterSpec::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut up = bring_up(&spec, None, dir.path()).expect("up");
        assert_eq!(
            up.cluster
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["n1", "n2", "n3"]
        );
        assert!(teardown(&up.cluster, up.backend.as_mut()).is_empty());
    }
}
