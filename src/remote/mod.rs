//! The control-plane seam: how a command reaches a node.
//!
//! A [`Remote`] runs commands "on" one node: in its local network namespace
//! (the default backend, [`local`]), over SSH, or in a container. The runner,
//! the `Db`s and the nemeses only ever talk to nodes through it, so a new
//! backend plugs in without touching them. A [`backend::Backend`] is where
//! the nodes come from; [`faketime`] is the per-node clock that clock
//! faults move. Nothing here knows the system under test, the nemeses or
//! the runner.

pub mod backend;
pub mod docker;
pub mod faketime;
pub mod local;
pub mod ssh;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// One node of a cluster, as the control plane sees it: a name, an
/// address and the [`Remote`] that reaches it.
#[derive(Clone)]
pub struct Node {
    /// Its name: `n1`, `n2`...
    pub name: String,
    /// The address clients and peers use to reach it (an IP the harness
    /// created, or a host name).
    pub host: String,
    /// How commands reach it.
    pub remote: Arc<dyn Remote>,
    /// Its data directory, on the node.
    pub data_dir: PathBuf,
    /// Where its logs go, on the node.
    pub log_dir: PathBuf,
    /// The `faultline` binary as the node sees it, when the backend copied
    /// or mounted it there; `None`: the nodes share the harness's files, so
    /// the Db's own (the harness's) binary path works on them.
    pub binary: Option<PathBuf>,
}

/// The addresses faultline may contact: loopback, the local backend's
/// network (10.213.7.0/24), the Docker backend's (10.213.8.0/24), and the
/// hosts a cluster file lists by hand ([`allow_host`]). Never any other.
pub fn contactable(host: &str) -> bool {
    let created = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            v4.is_loopback() || matches!(v4.octets()[0..3], [10, 213, 7] | [10, 213, 8])
        }
        Ok(IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    };
    created || crate::sync::lock(listed_hosts()).contains(host)
}

/// Let `host` be contacted for the rest of this process: an address a user
/// listed in a cluster file (the SSH backend's `ssh.hosts`), which is theirs
/// to give.
pub fn allow_host(host: &str) {
    crate::sync::lock(listed_hosts()).insert(host.to_string());
}

fn listed_hosts() -> &'static Mutex<BTreeSet<String>> {
    static HOSTS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    HOSTS.get_or_init(|| Mutex::new(BTreeSet::new()))
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("host", &self.host)
            .finish()
    }
}

/// The result of a command run on a node.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
}

impl ExecOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// A long-running process to start on a node.
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory on the node.
    pub cwd: PathBuf,
    /// Where stdout and stderr go, on the node.
    pub log_file: PathBuf,
}

/// A signal to send to a process on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: die now, no cleanup.
    Kill,
    /// SIGTERM: shut down.
    Term,
    /// SIGSTOP: freeze.
    Stop,
    /// SIGCONT: resume after SIGSTOP.
    Cont,
}

/// A control-plane failure.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The command could not be started at all.
    #[error("node {node}: cannot run `{cmd}`: {source}")]
    Spawn {
        /// Node name.
        node: String,
        /// The command line.
        cmd: String,
        /// Why.
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("node {node}: `{cmd}` exited {status}: {stderr}")]
    Failed {
        /// Node name.
        node: String,
        /// The command line.
        cmd: String,
        /// Exit status.
        status: i32,
        /// Its standard error.
        stderr: String,
    },
    /// The node cannot be reached.
    #[error("node {node} is unreachable: {reason}")]
    Unreachable {
        /// Node name.
        node: String,
        /// Why.
        reason: String,
    },
    /// A failure on the harness's own machine: missing prerequisites, the
    /// bridge, `faultline heal`. The message says what to do.
    #[error("{0}")]
    Host(String),
    /// A local I/O failure (copying files...).
    #[error("node {node}: {source}")]
    Io {
        /// Node name.
        node: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The shell script [`Remote::install`] runs, with the packages as its
/// arguments: `apt-get install` without recommends, services kept from
/// starting (a `policy-rc.d` it creates only when none exists, and removes
/// after), `apt-get update` only when the install fails without it.
pub const INSTALL_SCRIPT: &str = r#"set -u
export DEBIAN_FRONTEND=noninteractive
made=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1
fi
apt-get install -y -q --no-install-recommends "$@" >/tmp/faultline-apt.log 2>&1 \
  || { apt-get update -q >>/tmp/faultline-apt.log 2>&1 && apt-get install -y -q --no-install-recommends "$@" >>/tmp/faultline-apt.log 2>&1; }
rc=$?
[ -n "$made" ] && rm -f /usr/sbin/policy-rc.d
[ $rc -eq 0 ] || tail -n 5 /tmp/faultline-apt.log >&2
exit $rc
"#;

/// How commands reach one node.
///
/// Contract: `exec` returns the output whatever the exit status (use
/// [`Remote::exec_ok`] to require success); `spawn` starts a daemon that
/// outlives the call and returns its pid as seen by [`Remote::signal`];
/// nothing here may touch anything but this node.
pub trait Remote: Send + Sync {
    /// The node's name.
    fn node(&self) -> &str;
    /// Run a command on the node and wait for it.
    fn exec(&self, argv: &[&str]) -> Result<ExecOutput, RemoteError>;
    /// Copy a local file to the node.
    fn upload(&self, local: &Path, remote: &Path) -> Result<(), RemoteError>;
    /// Copy a file from the node.
    fn download(&self, remote: &Path, local: &Path) -> Result<(), RemoteError>;
    /// Start a daemon on the node; returns its pid.
    fn spawn(&self, daemon: &DaemonSpec) -> Result<u32, RemoteError>;
    /// Send a signal to a process on the node.
    fn signal(&self, pid: u32, signal: Signal) -> Result<(), RemoteError>;

    /// Wait until process `pid` (started by [`Remote::spawn`]) is gone —
    /// reaped, when it is the harness's own child — for at most `timeout`.
    /// Returns true when it is gone. The default polls `kill -0` on the node.
    fn wait_exit(&self, pid: u32, timeout: std::time::Duration) -> Result<bool, RemoteError> {
        let deadline = std::time::Instant::now() + timeout;
        let pid = pid.to_string();
        loop {
            if !self.exec(&["kill", "-0", &pid])?.success() {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Where libfaketime is installed on the node, or `None` when it is
    /// not (see [`faketime`]). The default asks the node with `test -e`
    /// on the usual paths ([`faketime::locate`]); a backend whose nodes
    /// keep it elsewhere overrides this. Errors only when the node cannot
    /// be asked.
    fn libfaketime(&self) -> Result<Option<PathBuf>, RemoteError> {
        faketime::locate(self)
    }

    /// Install Debian `packages` on the node (`apt-get install`, with
    /// services kept from starting by a temporary `policy-rc.d`, and an
    /// `apt-get update` only when the first attempt fails). The default
    /// runs [`INSTALL_SCRIPT`] through [`Remote::exec`]; a backend whose
    /// nodes share the harness's file system (local namespaces, which have
    /// no route to a package registry) runs it on the harness's machine.
    fn install(&self, packages: &[&str]) -> Result<(), RemoteError> {
        let mut argv = vec!["sh", "-c", INSTALL_SCRIPT, "faultline-install"];
        argv.extend_from_slice(packages);
        self.exec_ok(&argv).map(|_| ())
    }

    /// Run a command and require exit status 0.
    fn exec_ok(&self, argv: &[&str]) -> Result<ExecOutput, RemoteError> {
        let out = self.exec(argv)?;
        if out.success() {
            Ok(out)
        } else {
            Err(RemoteError::Failed {
                node: self.node().to_string(),
                cmd: argv.join(" "),
                status: out.status,
                stderr: out.stderr.trim().to_string(),
            })
        }
    }
}
