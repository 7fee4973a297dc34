//! [`LocalNet`]: the network of one run on the local backend — the bridge
//! [`BRIDGE`] with the harness at [`BRIDGE_ADDR`], one namespace per node
//! plugged in by a veth pair, and the FORWARD rule tagged [`RULE_COMMENT`]
//! that lets bridged traffic pass a DROP policy. It holds the run lock for
//! its lifetime and removes all of it when destroyed or dropped.

use super::claim::Claim;
use super::heal::{heal_unlocked, HealReport};
use super::host::{have_program, host_err, host_ok, require_root};
use super::lock::RunLock;
use super::remote::LocalRemote;
use super::{netns_name, node_addr, BRIDGE, BRIDGE_ADDR, MAX_NODES, RULE_COMMENT, VETH_PREFIX};
use crate::remote::{Node, Remote, RemoteError};
use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Validate a node name: it becomes part of a namespace and a file name.
fn check_node_name(name: &str) -> Result<(), RemoteError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(host_err(format!(
            "node name {name:?} is not usable for a namespace: use 1 to 40 letters, digits, \
             '-', '_' or '.', not starting with '-' or '.'"
        )))
    }
}

/// The local network of one run: a bridge and one namespace per node.
/// Dropping it destroys it (unless [`LocalNet::leave`] was called).
pub struct LocalNet {
    names: Vec<String>,
    remotes: Vec<Arc<LocalRemote>>,
    leftovers: HealReport,
    lock: Option<RunLock>,
}

impl fmt::Debug for LocalNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalNet")
            .field("names", &self.names)
            .finish()
    }
}

impl LocalNet {
    /// Build the network for nodes `names` (see [`crate::remote::local`]); node data
    /// and logs go under `work_dir/nodes/<name>/`. Waits up to 30 s for
    /// another run to release the lock; removes what a killed run left (see
    /// [`LocalNet::leftovers`]). On failure, removes what it created.
    pub fn create(names: &[String], work_dir: &Path) -> Result<(LocalNet, Vec<Node>), RemoteError> {
        require_root()?;
        if names.is_empty() {
            return Err(host_err("a local cluster needs at least one node"));
        }
        if names.len() > MAX_NODES {
            return Err(host_err(format!(
                "{} nodes requested; the local backend fits at most {MAX_NODES}",
                names.len()
            )));
        }
        for (i, n) in names.iter().enumerate() {
            check_node_name(n)?;
            if names[..i].contains(n) {
                return Err(host_err(format!("node name {n:?} appears twice")));
            }
        }
        if !have_program("iptables") {
            return Err(host_err(
                "iptables is not installed: install the package `iptables` (or run with \
                 prerequisites installation enabled)",
            ));
        }
        let lock = RunLock::acquire(Duration::from_secs(30))?;
        // A network left running on purpose is not a crash's leftovers.
        if let Some(claim) = Claim::current() {
            return Err(host_err(claim.refusal()));
        }
        let leftovers = heal_unlocked(None)?;
        let mut net = LocalNet {
            names: names.to_vec(),
            remotes: names
                .iter()
                .map(|n| Arc::new(LocalRemote::new(n)))
                .collect(),
            leftovers,
            lock: Some(lock),
        };
        match net.build(work_dir) {
            Ok(nodes) => Ok((net, nodes)),
            Err(e) => {
                let _ = net.destroy();
                Err(e)
            }
        }
    }

    fn build(&mut self, work_dir: &Path) -> Result<Vec<Node>, RemoteError> {
        host_ok(&["ip", "link", "add", BRIDGE, "type", "bridge"])?;
        host_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{BRIDGE_ADDR}/24"),
            "dev",
            BRIDGE,
        ])?;
        host_ok(&["ip", "link", "set", BRIDGE, "up"])?;
        host_ok(&[
            "iptables",
            "-w",
            "-I",
            "FORWARD",
            "-i",
            BRIDGE,
            "-o",
            BRIDGE,
            "-m",
            "comment",
            "--comment",
            RULE_COMMENT,
            "-j",
            "ACCEPT",
        ])?;
        let mut nodes = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let pos = i + 1;
            let ns = netns_name(name);
            let addr = node_addr(pos);
            let veth = format!("{VETH_PREFIX}{}", 10 + pos);
            host_ok(&["ip", "netns", "add", &ns])?;
            host_ok(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            host_ok(&["ip", "link", "set", &veth, "master", BRIDGE, "up"])?;
            let remote = &self.remotes[i];
            remote.exec_ok(&["ip", "link", "set", "lo", "up"])?;
            remote.exec_ok(&["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
            remote.exec_ok(&["ip", "link", "set", "eth0", "up"])?;
            let node = node_of(name, pos, remote.clone(), work_dir);
            fs::create_dir_all(&node.data_dir).map_err(|e| RemoteError::Io {
                node: name.clone(),
                source: e,
            })?;
            nodes.push(node);
        }
        Ok(nodes)
    }

    /// Take back the network a run left running (`faultline cluster up`)
    /// for nodes `names` with work directory `work_dir`, as [`LocalNet::create`]
    /// made it: the same [`Node`]s, now owned by this process (it holds the
    /// run lock, waiting up to 30 s). Nothing is created or checked: a node
    /// whose namespace is gone fails its commands, and [`LocalNet::destroy`]
    /// still removes whatever is left. Then [`LocalNet::destroy`] removes
    /// it, or [`LocalNet::leave_claimed`] leaves it running again.
    pub fn attach(names: &[String], work_dir: &Path) -> Result<(LocalNet, Vec<Node>), RemoteError> {
        require_root()?;
        for n in names {
            check_node_name(n)?;
        }
        let lock = RunLock::acquire(Duration::from_secs(30))?;
        let remotes: Vec<Arc<LocalRemote>> = names
            .iter()
            .map(|n| Arc::new(LocalRemote::new(n)))
            .collect();
        let nodes = names
            .iter()
            .zip(&remotes)
            .enumerate()
            .map(|(i, (n, r))| node_of(n, i + 1, r.clone(), work_dir))
            .collect();
        let net = LocalNet {
            names: names.to_vec(),
            remotes,
            leftovers: HealReport::default(),
            lock: Some(lock),
        };
        Ok((net, nodes))
    }

    /// What a killed earlier run had left and `create` removed.
    pub fn leftovers(&self) -> &HealReport {
        &self.leftovers
    }

    /// The remote of each node, in order.
    pub fn remotes(&self) -> &[Arc<LocalRemote>] {
        &self.remotes
    }

    /// Remove this network: kill the daemons, delete the namespaces (which
    /// takes the veths along), the bridge, our FORWARD rule and the nodes'
    /// faketime files. Idempotent.
    pub fn destroy(&self) -> Result<HealReport, RemoteError> {
        for r in &self.remotes {
            r.kill_all();
        }
        // We hold the run lock, so every faultline link and rule is ours.
        heal_unlocked(Some(&self.names))
    }

    /// Forget this network without removing it, as a run with
    /// `--leave-db-running` does (and as a crash would): the namespaces,
    /// processes and rules stay, unclaimed, until `faultline heal` or the
    /// next run sweeps them away (see [`LocalNet::leave_claimed`] for a
    /// network no run may sweep).
    pub fn leave(mut self) {
        // With no names, Drop removes nothing; dropping the lock lets the
        // next run (or `faultline heal`) in.
        self.names.clear();
        self.remotes.clear();
        self.lock = None;
    }

    /// Forget this network without removing it, recording `claim` (see
    /// [`Claim`]) before the run lock is let go. Fails only when the claim
    /// cannot be written; the network is left running either way.
    pub fn leave_claimed(mut self, claim: &Claim) -> Result<(), RemoteError> {
        let written = claim.write();
        // With no names, Drop removes nothing; dropping the lock lets the
        // next run (or `faultline heal`) in.
        self.names.clear();
        self.remotes.clear();
        self.lock = None;
        written
    }
}

/// The node `name` at 1-based position `pos` of a network whose work
/// directory is `work_dir`: what [`LocalNet::create`] makes and
/// [`LocalNet::attach`] finds again.
fn node_of(name: &str, pos: usize, remote: Arc<LocalRemote>, work_dir: &Path) -> Node {
    let dir = work_dir.join("nodes").join(name);
    Node {
        name: name.to_string(),
        host: node_addr(pos),
        remote,
        data_dir: dir.join("data"),
        log_dir: dir,
        binary: None,
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = self.destroy();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_that_break_paths_are_rejected() {
        assert!(check_node_name("n1").is_ok());
        assert!(check_node_name("node_2.a-b").is_ok());
        for bad in ["", "../x", "a b", "-x", ".x", "a/b", &"x".repeat(41)] {
            assert!(check_node_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
