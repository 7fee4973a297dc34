//! The backend seam: where a run's nodes come from and how they go away.
//!
//! A [`Backend`] provisions the machines (or namespaces, or containers) a
//! cluster runs on and hands back [`Node`]s whose [`Remote`] reaches them;
//! it removes everything at teardown, or leaves it all running for
//! `--leave-db-running`. The runner never knows which backend it drives:
//! `local` (network namespaces, [`LocalBackend`]) and `none` (no machines,
//! for the in-process `memory` db, [`NoBackend`]), `ssh` (remote hosts,
//! [`SshBackend`]) and `docker` (local containers, [`DockerBackend`]); a new
//! one is a file implementing [`Backend`] plus one line in [`build`] and
//! [`NAMES`]. A backend is built from its [`BackendConfig`]: the cluster
//! file's `backend` and the sections a backend reads (`ssh:`, `docker:`).
//!
//! Contract: `provision` either returns one node per name or removes what
//! it created and fails; `teardown` is idempotent and safe after a failed
//! `provision`; `heal` removes only what runs of this backend leave behind
//! (and may run while no run is live); errors the user can fix (not root,
//! a missing program, the network owned by another run) are
//! [`RemoteError::Host`], alone or inside [`BackendError::Remote`].

use super::docker::{DockerBackend, DockerSpec};
use super::local::LocalBackend;
use super::ssh::{SshBackend, SshSpec};
use super::{DaemonSpec, ExecOutput, Node, Remote, RemoteError, Signal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of every backend [`build`] knows, in the order `faultline
/// heal` visits them.
pub const NAMES: &[&str] = &["local", "docker", "ssh", "none"];

/// What a backend is built from: its name and the cluster file's sections
/// that configure backends. Each backend reads only its own section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendConfig {
    /// The backend's name, one of [`NAMES`].
    pub name: String,
    /// The cluster's name (the file's stem): backends that keep state
    /// between commands (`faultline cluster up`) key it by this.
    pub cluster: String,
    /// The `ssh:` section; required by `ssh`.
    pub ssh: Option<SshSpec>,
    /// The `docker:` section (all defaults when absent).
    pub docker: DockerSpec,
}

impl BackendConfig {
    /// The configuration of backend `name` with every section absent (what
    /// `faultline heal` uses when no cluster file is given).
    pub fn named(name: &str) -> Self {
        BackendConfig {
            name: name.to_string(),
            ..BackendConfig::default()
        }
    }
}

/// What one [`Backend::provision`] call asks for.
#[derive(Debug, Clone)]
pub struct Provision<'a> {
    /// One node per name, in this order.
    pub names: &'a [String],
    /// A directory of the run on the harness's machine, for the backend's
    /// own files (removed after teardown).
    pub work_dir: &'a Path,
    /// The harness's `faultline` binary, which nodes run as `faultline
    /// node`: a backend whose nodes cannot see the harness's files copies
    /// or mounts it and says where in [`Node::binary`].
    pub binary: &'a Path,
}

impl Provision<'_> {
    /// The harness's own binary, for [`Provision::binary`] when no other is
    /// given.
    pub fn own_binary() -> PathBuf {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("faultline"))
    }
}

/// A backend failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No backend has this name.
    #[error("cluster backend {name:?} is unknown: expected {expected}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that exist, as a person reads them (`local or none`).
        expected: String,
    },
    /// Reaching or preparing the machines failed.
    #[error("{context}: {source}")]
    Remote {
        /// What the backend was doing (`local backend prerequisites`).
        context: String,
        /// Why it failed.
        source: RemoteError,
    },
}

impl BackendError {
    /// True when the user can fix it (an unknown name, or a problem on the
    /// harness's machine such as not being root): a bad-input failure, not
    /// an internal one.
    pub fn is_user_fixable(&self) -> bool {
        matches!(
            self,
            BackendError::Unknown { .. }
                | BackendError::Remote {
                    source: RemoteError::Host(_),
                    ..
                }
        )
    }

    /// A remote error met while doing `context`.
    pub fn remote(context: &str, source: RemoteError) -> Self {
        BackendError::Remote {
            context: context.to_string(),
            source,
        }
    }
}

/// Where nodes come from.
pub trait Backend: Send {
    /// Short name (`local`, `none`...), one of [`NAMES`].
    fn name(&self) -> &str;
    /// How many nodes one run may have; `None` when unbounded.
    fn max_nodes(&self) -> Option<usize>;
    /// Create one node per name (see [`Provision`]).
    fn provision(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError>;
    /// Remove every node and whatever the backend created. Idempotent.
    fn teardown(&mut self) -> Result<(), RemoteError>;
    /// Forget the nodes without removing them (`--leave-db-running`).
    fn leave(&mut self);
    /// Forget the nodes without removing them, for `faultline cluster up`
    /// of cluster `cluster` whose state file is `state_file`: as
    /// [`Backend::leave`], and a backend whose runs would sweep a left
    /// cluster away as leftovers records that this one is kept (the local
    /// backend writes a [`super::local::Claim`]). The default is `leave`.
    fn leave_up(&mut self, cluster: &str, state_file: &Path) -> Result<(), BackendError> {
        let _ = (cluster, state_file);
        self.leave();
        Ok(())
    }
    /// Take back the nodes an earlier process provisioned with the same
    /// request and left running ([`Backend::leave_up`]): the same
    /// [`Node`]s `provision` returned, reaching the same machines, without
    /// creating anything. Then `teardown` removes them (`faultline cluster
    /// down`) or `leave_up` leaves them again (`faultline cluster status`).
    /// The default refuses: a backend that cannot reattach cannot serve
    /// `status` and `down` (`faultline heal --cluster FILE` still removes
    /// its nodes).
    fn attach(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        let _ = req;
        Err(BackendError::remote(
            &format!("backend {}", self.name()),
            RemoteError::Host(format!(
                "backend {} cannot take back nodes left running; `faultline heal --cluster \
                 FILE` removes them",
                self.name()
            )),
        ))
    }
    /// Remove what killed or left (`--leave-db-running`) runs of this
    /// backend left behind, and nothing else; refuse (with
    /// [`RemoteError::Host`]) while a live run owns it. Returns the lines
    /// `faultline heal` prints, one per item removed or one saying nothing
    /// was left; empty when the backend never leaves anything behind.
    fn heal(&self) -> Result<String, RemoteError>;
    /// Whether its nodes are machines that run commands (iptables, signals).
    /// Only `none` has none: faults that run commands on nodes are refused
    /// before a run starts.
    fn has_machines(&self) -> bool {
        true
    }
    /// Whether provisioning needs root on the harness's own machine (the
    /// local backend creates namespaces, a bridge and iptables rules); the
    /// CLI re-runs itself under sudo for such a backend.
    fn needs_root(&self) -> bool {
        false
    }
}

/// The backend `config` names, configured by it; the error names the
/// valid ones.
pub fn build(config: &BackendConfig) -> Result<Box<dyn Backend>, BackendError> {
    match config.name.as_str() {
        "local" => Ok(Box::new(LocalBackend::new())),
        "docker" => Ok(Box::new(DockerBackend::new(config))),
        "ssh" => Ok(Box::new(SshBackend::new(config))),
        "none" => Ok(Box::new(NoBackend)),
        other => Err(BackendError::Unknown {
            name: other.to_string(),
            expected: one_of(NAMES),
        }),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// No machines: nodes are names only (for the `memory` db). Every command
/// on such a node fails, naming the backend.
pub struct NoBackend;

impl Backend for NoBackend {
    fn name(&self) -> &str {
        "none"
    }

    fn has_machines(&self) -> bool {
        false
    }

    fn max_nodes(&self) -> Option<usize> {
        None
    }

    fn provision(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        Ok(req
            .names
            .iter()
            .map(|n| Node {
                name: n.clone(),
                host: "memory".into(),
                remote: Arc::new(NoRemote(n.clone())),
                data_dir: req.work_dir.join("nodes").join(n).join("data"),
                log_dir: req.work_dir.join("nodes").join(n),
                binary: None,
            })
            .collect())
    }

    fn teardown(&mut self) -> Result<(), RemoteError> {
        Ok(())
    }

    fn leave(&mut self) {}

    /// The same names-only nodes: there is nothing to find again.
    fn attach(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        self.provision(req)
    }

    /// Nothing: this backend creates nothing outside the run directory.
    fn heal(&self) -> Result<String, RemoteError> {
        Ok(String::new())
    }
}

/// The [`Remote`] of a node that is no machine.
pub struct NoRemote(String);

impl NoRemote {
    /// The remote of node `name`, on which every command fails.
    pub fn new(name: &str) -> Self {
        NoRemote(name.to_string())
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_backend_of_that_name() {
        for name in NAMES {
            let be = build(&BackendConfig::named(name)).expect("a registered backend");
            assert_eq!(be.name(), *name);
        }
    }

    #[test]
    fn only_local_needs_root_and_only_none_has_no_machines() {
        let local = build(&BackendConfig::named("local")).expect("local");
        assert!(local.needs_root() && local.has_machines());
        let none = build(&BackendConfig::named("none")).expect("none");
        assert!(!none.needs_root() && !none.has_machines());
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones_and_is_the_users_to_fix() {
        let Err(e) = build(&BackendConfig::named("ssh2")) else {
            panic!("ssh2 is not a backend");
        };
        assert_eq!(
            e.to_string(),
            "cluster backend \"ssh2\" is unknown: expected local, docker, ssh or none"
        );
        assert!(e.is_user_fixable());
    }

    #[test]
    fn host_errors_are_the_users_to_fix_and_others_are_not() {
        let host = BackendError::remote("local backend", RemoteError::Host("not root".into()));
        assert!(host.is_user_fixable());
        assert_eq!(host.to_string(), "local backend: not root");
        let other = BackendError::remote(
            "local backend",
            RemoteError::Unreachable {
                node: "n1".into(),
                reason: "gone".into(),
            },
        );
        assert!(!other.is_user_fixable());
    }

    #[test]
    fn only_local_is_bounded() {
        assert_eq!(
            build(&BackendConfig::named("local"))
                .map(|b| b.max_nodes())
                .ok(),
            Some(Some(crate::remote::local::MAX_NODES))
        );
        assert_eq!(
            build(&BackendConfig::named("none"))
                .map(|b| b.max_nodes())
                .ok(),
            Some(None)
        );
    }

    #[test]
    fn none_has_nothing_to_heal_and_no_machines() {
        assert_eq!(NoBackend.heal().ok(), Some(String::new()));
        let mut be = NoBackend;
        let names = ["n1".to_string()];
        let nodes = be
            .provision(&Provision {
                names: &names,
                work_dir: Path::new("/tmp/w"),
                binary: Path::new("/bin/true"),
            })
            .expect("names only");
        assert_eq!(nodes[0].host, "memory");
        assert!(matches!(
            nodes[0].remote.exec(&["true"]),
            Err(RemoteError::Unreachable { .. })
        ));
    }

    #[test]
    fn names_read_as_a_list() {
        assert_eq!(one_of(&["a"]), "a");
        assert_eq!(one_of(&["a", "b"]), "a or b");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }
}
