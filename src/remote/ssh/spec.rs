//! The `ssh:` section of a cluster file: which hosts, as whom, and how far
//! to trust them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the SSH backend reaches its hosts (`ssh:` in a cluster file).
///
/// ```yaml
/// backend: ssh
/// nodes: 3
/// ssh:
///   hosts: [10.0.0.1, 10.0.0.2, "10.0.0.3:2222"]
///   user: root
///   key: ~/.ssh/id_ed25519        # omit to use the agent (SSH_AUTH_SOCK)
///   known-hosts: ~/.ssh/known_hosts
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct SshSpec {
    /// One host per node, in node order (`n1` is the first): an address or
    /// name, optionally with `:port`.
    pub hosts: Vec<String>,
    /// The user to log in as (default `root`: faults need iptables and
    /// signals on the node).
    pub user: String,
    /// The port when a host names none (default 22).
    pub port: u16,
    /// A private key file (`~` is the home directory); `None`: the keys of
    /// the SSH agent at `SSH_AUTH_SOCK`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// The known_hosts file host keys are verified against (default
    /// `~/.ssh/known_hosts`).
    pub known_hosts: PathBuf,
    /// Accept a host key that known_hosts does not list, with a warning
    /// (default false: such a host is refused). A key that contradicts
    /// known_hosts is always refused.
    pub accept_unknown_host_keys: bool,
    /// Where faultline keeps its binary, data and logs on each host
    /// (default `/var/lib/faultline`); each node uses `<dir>/<node>/`.
    pub dir: PathBuf,
    /// Seconds to wait for one connection attempt (default 10).
    pub connect_timeout: f64,
    /// Connection attempts before a host counts as unreachable (default 3).
    pub retries: u32,
}

impl Default for SshSpec {
    fn default() -> Self {
        SshSpec {
            hosts: Vec::new(),
            user: "root".into(),
            port: 22,
            key: None,
            known_hosts: PathBuf::from("~/.ssh/known_hosts"),
            accept_unknown_host_keys: false,
            dir: PathBuf::from("/var/lib/faultline"),
            connect_timeout: 10.0,
            retries: 3,
        }
    }
}
