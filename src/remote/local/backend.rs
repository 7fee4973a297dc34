//! [`LocalBackend`]: the local backend as a [`Backend`] — each run gets a
//! fresh [`LocalNet`] on this machine, and `heal` is [`heal_all`].

use super::claim::Claim;
use super::heal::heal_all;
use super::host::ensure_prerequisites;
use super::net::LocalNet;
use super::MAX_NODES;
use crate::remote::backend::{Backend, BackendError, Provision};
use crate::remote::{Node, RemoteError};
use std::path::Path;

/// Network namespaces on this machine (see [`crate::remote::local`]).
#[derive(Debug, Default)]
pub struct LocalBackend {
    net: Option<LocalNet>,
}

impl LocalBackend {
    /// A backend that has provisioned nothing yet.
    pub fn new() -> Self {
        LocalBackend { net: None }
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> &str {
        "local"
    }

    fn max_nodes(&self) -> Option<usize> {
        Some(MAX_NODES)
    }

    fn needs_root(&self) -> bool {
        true
    }

    /// Installs missing prerequisites first (see [`ensure_prerequisites`]).
    /// The nodes share this machine's files: [`Node::binary`] is `None`.
    fn provision(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        ensure_prerequisites(true)
            .map_err(|e| BackendError::remote("local backend prerequisites", e))?;
        let (net, nodes) = LocalNet::create(req.names, req.work_dir)
            .map_err(|e| BackendError::remote("local backend", e))?;
        self.net = Some(net);
        Ok(nodes)
    }

    fn teardown(&mut self) -> Result<(), RemoteError> {
        match self.net.take() {
            Some(net) => net.destroy().map(|_| ()),
            None => Ok(()),
        }
    }

    fn leave(&mut self) {
        if let Some(net) = self.net.take() {
            net.leave();
        }
    }

    /// Leaves a [`Claim::Cluster`], so that no run sweeps the cluster away.
    fn leave_up(&mut self, cluster: &str, state_file: &Path) -> Result<(), BackendError> {
        let Some(net) = self.net.take() else {
            return Ok(());
        };
        let claim = Claim::Cluster {
            name: cluster.to_string(),
            state_file: state_file.to_path_buf(),
        };
        net.leave_claimed(&claim)
            .map_err(|e| BackendError::remote("local backend: claiming the network", e))
    }

    /// [`LocalNet::attach`]: the namespaces named after the nodes.
    fn attach(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        let (net, nodes) = LocalNet::attach(req.names, req.work_dir)
            .map_err(|e| BackendError::remote("local backend", e))?;
        self.net = Some(net);
        Ok(nodes)
    }

    /// Needs root, and refuses while a live run holds the run lock.
    fn heal(&self) -> Result<String, RemoteError> {
        heal_all().map(|report| report.to_string())
    }
}
