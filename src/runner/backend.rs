//! The backend seam: where a run's nodes come from and how they go away.
//!
//! A [`Backend`] provisions the machines (or namespaces, or containers) a
//! cluster runs on and hands back [`Node`]s whose [`Remote`] reaches them;
//! it removes everything at teardown, or leaves it all running for
//! `--leave-db-running`. The runner never knows which backend it drives:
//! `local` (network namespaces, [`LocalBackend`]) and `none` (no machines,
//! for the in-process `memory` db, [`NoBackend`]) exist now; SSH and Docker
//! plug in here later.
//!
//! Contract: `provision` either returns one node per name or removes what
//! it created and fails; `teardown` is idempotent and safe after a failed
//! `provision`; errors the user can fix (not root, a missing program, the
//! network owned by another run) are [`RunError::BadInput`].

use super::RunError;
use crate::remote::local::{self, LocalNet};
use crate::remote::Node;
use crate::remote::{DaemonSpec, ExecOutput, Remote, RemoteError, Signal};
use std::path::Path;
use std::sync::Arc;

/// Where nodes come from.
pub trait Backend: Send {
    /// Short name (`local`, `none`...).
    fn name(&self) -> &str;
    /// Create one node per name; node files go under `work_dir`.
    fn provision(&mut self, names: &[String], work_dir: &Path) -> Result<Vec<Node>, RunError>;
    /// Remove every node and whatever the backend created. Idempotent.
    fn teardown(&mut self) -> Result<(), String>;
    /// Forget the nodes without removing them (`--leave-db-running`).
    fn leave(&mut self);
}

/// The backend called `name`; the error names the valid ones.
pub fn by_name(name: &str) -> Result<Box<dyn Backend>, RunError> {
    match name {
        "local" => Ok(Box::new(LocalBackend { net: None })),
        "none" => Ok(Box::new(NoBackend)),
        other => Err(RunError::BadInput(format!(
            "cluster backend {other:?} is unknown: expected local or none"
        ))),
    }
}

/// A remote error as a run error: problems on the harness's own machine
/// (root, prerequisites, the run lock) are the user's to fix.
pub fn remote_error(context: &str, e: RemoteError) -> RunError {
    match e {
        RemoteError::Host(m) => RunError::BadInput(format!("{context}: {m}")),
        other => RunError::Internal(format!("{context}: {other}")),
    }
}

/// Network namespaces on this machine (see [`crate::remote::local`]).
pub struct LocalBackend {
    net: Option<LocalNet>,
}

impl Backend for LocalBackend {
    fn name(&self) -> &str {
        "local"
    }

    fn provision(&mut self, names: &[String], work_dir: &Path) -> Result<Vec<Node>, RunError> {
        local::ensure_prerequisites(true)
            .map_err(|e| remote_error("local backend prerequisites", e))?;
        let (net, nodes) =
            LocalNet::create(names, work_dir).map_err(|e| remote_error("local backend", e))?;
        self.net = Some(net);
        Ok(nodes)
    }

    fn teardown(&mut self) -> Result<(), String> {
        match self.net.take() {
            Some(net) => net.destroy().map(|_| ()).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    fn leave(&mut self) {
        if let Some(net) = self.net.take() {
            net.leave();
        }
    }
}

/// No machines: nodes are names only (for the `memory` db). Every command
/// on such a node fails, naming the backend.
pub struct NoBackend;

impl Backend for NoBackend {
    fn name(&self) -> &str {
        "none"
    }

    fn provision(&mut self, names: &[String], work_dir: &Path) -> Result<Vec<Node>, RunError> {
        Ok(names
            .iter()
            .map(|n| Node {
                name: n.clone(),
                host: "memory".into(),
                remote: Arc::new(NoRemote(n.clone())),
                data_dir: work_dir.join("nodes").join(n).join("data"),
                log_dir: work_dir.join("nodes").join(n),
            })
            .collect())
    }

    fn teardown(&mut self) -> Result<(), String> {
        Ok(())
    }

    fn leave(&mut self) {}
}

/// The [`Remote`] of a node that is no machine.
struct NoRemote(String);

impl NoRemote {
    fn err(&self) -> RemoteError {
        RemoteError::Unreachable {
            node: self.0.clone(),
            reason: "backend none has no machines to run commands on".into(),
        }
    }
}

impl Remote for NoRemote {
    fn node(&self) -> &str {
        &self.0
    }
    fn exec(&self, _argv: &[&str]) -> Result<ExecOutput, RemoteError> {
        Err(self.err())
    }
    fn upload(&self, _local: &Path, _remote: &Path) -> Result<(), RemoteError> {
        Err(self.err())
    }
    fn download(&self, _remote: &Path, _local: &Path) -> Result<(), RemoteError> {
        Err(self.err())
    }
    fn spawn(&self, _daemon: &DaemonSpec) -> Result<u32, RemoteError> {
        Err(self.err())
    }
    fn signal(&self, _pid: u32, _signal: Signal) -> Result<(), RemoteError> {
        Err(self.err())
    }
}
