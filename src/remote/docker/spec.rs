//! The `docker:` section of a cluster file: what the node image holds.

use serde::{Deserialize, Serialize};

/// How the Docker backend builds its node image (`docker:` in a cluster
/// file). Every field has a default, so `backend: docker` alone works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct DockerSpec {
    /// The Debian release the image is bootstrapped from (default
    /// `bookworm`, the harness machine's own, so the mounted faultline
    /// binary finds the same glibc).
    pub suite: String,
    /// The Debian mirror to bootstrap from; `None`: the first one the
    /// harness machine's own apt sources name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Debian packages added to the image beyond what every node needs
    /// (iproute2, iptables, libfaketime, procps, ca-certificates), e.g.
    /// `[etcd-server]` so etcd need not be installed at every start.
    pub packages: Vec<String>,
}

impl Default for DockerSpec {
    fn default() -> Self {
        DockerSpec {
            suite: "bookworm".into(),
            mirror: None,
            packages: Vec::new(),
        }
    }
}
