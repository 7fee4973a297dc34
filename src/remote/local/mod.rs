//! The local backend: every node is a Linux network namespace on this machine.
//!
//! [`LocalNet::create`] builds a bridge `faultline0` (10.213.7.1/24), and for
//! the node at position `i` (1-based) a namespace `faultline-<name>` holding
//! the address `10.213.7.(10+i)` on `eth0`, plugged into the bridge by a veth
//! pair whose host end is `faultline-h<last octet>`. The namespaces have no
//! default route, so a node can reach only its peers and the harness
//! (10.213.7.1): a real network on which iptables partitions are real
//! partitions. Docker sets the host's FORWARD policy to DROP and bridged
//! traffic passes that chain (`bridge-nf-call-iptables`), so `create` inserts
//! one rule of its own, tagged with the comment `faultline`, and `destroy`
//! deletes exactly that rule: the policy and other rules are never touched.
//!
//! Everything the backend creates carries the faultline prefix, so
//! [`heal_all`] (`faultline heal`) can remove whatever a killed run left —
//! namespaces, the processes inside them, the bridge and veths, the tagged
//! FORWARD rules, the faketime offset files under [`RUN_DIR`] — and nothing
//! else. One run at a time owns the network: [`LocalNet`] holds an exclusive
//! `flock` on `RUN_DIR/lock` for its lifetime. A network left running on
//! purpose by `faultline cluster up` is no leftover: it
//! carries a [`Claim`] (`RUN_DIR/claim.json`), and a new run refuses to
//! take it until `faultline cluster down` or `faultline heal` removes it;
//! [`LocalNet::attach`] takes such a network back.
//!
//! [`LocalRemote`] is the [`crate::remote::Remote`] for one namespace: commands run through
//! `ip netns exec`, daemons are started with `setsid` and kept as children so
//! they can be reaped after SIGKILL, and signals go through kill(2) only to
//! processes that really live in the node's namespace.
//!
//! Files: `host.rs` (the host's own commands, root, prerequisites),
//! `net.rs` ([`LocalNet`]), `remote.rs` ([`LocalRemote`]), `heal.rs`
//! ([`heal_all`]), `lock.rs` (the run lock), `claim.rs` ([`Claim`]) and `backend.rs`
//! ([`LocalBackend`]).

mod backend;
mod claim;
mod heal;
mod host;
mod lock;
mod net;
mod remote;

pub use backend::LocalBackend;
pub use claim::Claim;
pub use heal::{heal_all, HealReport};
pub use host::{ensure_prerequisites, libfaketime_path, process_state};
pub use net::LocalNet;
pub use remote::LocalRemote;

/// The bridge every namespace is plugged into.
pub const BRIDGE: &str = "faultline0";
/// The harness's own address on the bridge.
pub const BRIDGE_ADDR: &str = "10.213.7.1";
/// Prefix of every namespace the backend creates.
pub const NETNS_PREFIX: &str = "faultline-";
/// Prefix of the host ends of the veth pairs.
pub const VETH_PREFIX: &str = "faultline-h";
/// The comment that tags the FORWARD rule (and nothing else).
pub const RULE_COMMENT: &str = "faultline";
/// Runtime directory: the run lock and the faketime offset files.
pub const RUN_DIR: &str = "/run/faultline";
/// How many nodes fit in 10.213.7.11 ..= 10.213.7.254.
pub const MAX_NODES: usize = 244;

/// The namespace of a node.
pub fn netns_name(node: &str) -> String {
    format!("{NETNS_PREFIX}{node}")
}

/// The address of the node at 1-based position `i`: `10.213.7.(10+i)`.
pub fn node_addr(i: usize) -> String {
    format!("10.213.7.{}", 10 + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_contract() {
        assert_eq!(node_addr(1), "10.213.7.11");
        assert_eq!(node_addr(5), "10.213.7.15");
        assert_eq!(netns_name("n1"), "faultline-n1");
    }

    #[test]
    fn process_state_reads_our_own_process() {
        let me = std::process::id();
        assert!(matches!(process_state(me), Some('R') | Some('S')));
        assert_eq!(process_state(u32::MAX), None);
    }
}
