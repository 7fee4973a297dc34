//! The seam for the system under test: how to install, start, stop, kill,
//! pause and find the leader of one system on one node.
//!
//! refkv ([`refkv`]) is the first [`Db`]; etcd, ZooKeeper and systems described
//! in YAML plug in here later. Optional abilities are declared in
//! [`Capabilities`] so that a nemesis can say "skipped: etcd ignores
//! libfaketime" instead of pretending. What it promises its clients is
//! declared in [`Consistency`], so that the workloads' checkers hold it to
//! exactly that promise (see [`Db::consistency`]). Every Db is listed once,
//! with its own section of the cluster file, in [`registry`].

pub mod custom;
pub mod etcd;
pub mod memory;
pub mod refkv;
pub mod registry;
pub mod support;
pub mod zookeeper;

use crate::client::KvClient;
use crate::remote::{Node, RemoteError};
use std::path::PathBuf;
use std::sync::Arc;

/// The cluster under test: its nodes and the system running on them.
#[derive(Clone)]
pub struct Cluster {
    /// The nodes, in order.
    pub nodes: Vec<Node>,
    /// The system under test.
    pub db: Arc<dyn Db>,
}

impl Cluster {
    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// What a [`Db`] can do beyond setup and teardown.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// `kill` and `start` work (SIGKILL and restart).
    pub kill: bool,
    /// `pause` and `resume` work (SIGSTOP / SIGCONT).
    pub pause: bool,
    /// `primaries` can tell the leader.
    pub primaries: bool,
    /// Clock faults via libfaketime affect this system; `Err` says why not.
    pub clock: Result<(), String>,
}

/// What a system promises about the order its clients see operations in:
/// the strictness its workloads' checkers default to.
///
/// A system is judged against its own promise: a stale read is a bug in a
/// system that promises linearizable reads, and correct behaviour in one
/// that promises only sequential reads. A workload file may relax a check
/// below the promise (shown in the summary as `relaxed: ...`); a workload
/// whose checker can only check more than a system promises says so
/// (`stronger: ...`). See [`crate::workload::Checks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Every operation, reads included, takes effect at one instant between
    /// its invocation and its completion (Herlihy & Wing): a read that
    /// begins after a write completed sees it. Raft with ReadIndex (refkv),
    /// etcd's default reads.
    Linearizable,
    /// Writes are totally ordered and every client sees them in that order,
    /// but a read may lag behind writes that completed elsewhere in real
    /// time (ZooKeeper's plain reads, without `sync`): stale reads are
    /// allowed, going back in time within one client is not.
    ///
    /// What such a Db gets from the shipped workloads: `set` reports stale
    /// reads without counting them invalid; `bank` is checked as for any
    /// Db (its invariant does not depend on real time); `register`
    /// (linearizability) and `counter` (real-time bounds) check more than
    /// promised — there is no sequential-consistency checker yet — and the
    /// summary says so on a `stronger:` line, since an invalid verdict
    /// there may be behaviour the system is allowed.
    Sequential,
}

impl Consistency {
    /// The promise in a few words: `linearizable reads`, `sequential reads`.
    pub fn describe(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable reads",
            Consistency::Sequential => "only sequential reads",
        }
    }
}

impl std::fmt::Display for Consistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Sequential => "sequential",
        })
    }
}

/// What the Db a cluster file names in `db` promises, without building it
/// (a stored run is checked without any node): `None` for a name no Db
/// has. Each Db declares its promise once, in its [`registry::DbEntry`],
/// and returns the same from [`Db::consistency`].
pub fn consistency_of(cluster: &crate::spec::ClusterSpec) -> Option<Consistency> {
    registry::by_name(&cluster.db).map(|e| (e.consistency)(cluster))
}

/// A failure of the system's control plane.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A command on a node failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The node did not come up in time.
    #[error("node {node}: {reason}")]
    NotReady {
        /// Node name.
        node: String,
        /// What was waited for.
        reason: String,
    },
    /// The Db does not support this operation.
    #[error("{db} does not support {what}")]
    Unsupported {
        /// Db name.
        db: String,
        /// The operation.
        what: String,
    },
    /// Anything else, with the node named in the message.
    #[error("{0}")]
    Other(String),
}

/// One system under test.
///
/// Contract: `setup` installs, configures and starts the system on a node and
/// returns once it runs (not necessarily once the cluster serves: use
/// [`Db::await_ready`]); `teardown` stops it and removes its data, and is safe
/// to call twice or on a node where setup failed; `kill` is SIGKILL with no
/// chance to flush; `start` restarts a killed node with its data intact.
pub trait Db: Send + Sync {
    /// Short name (`refkv`, `etcd`...).
    fn name(&self) -> &str;
    /// What this system supports.
    fn capabilities(&self) -> Capabilities;
    /// What this system promises its clients: the strictness its
    /// workloads' checkers default to. Declare the promise of the mode the
    /// clients use (ZooKeeper's plain reads: [`Consistency::Sequential`]),
    /// not the strongest the system can offer.
    fn consistency(&self) -> Consistency;
    /// Install, configure and start the system on `node`.
    fn setup(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError>;
    /// Stop the system on `node` and remove its data. Idempotent.
    fn teardown(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError>;
    /// Start (or restart after `kill`) the system on `node`, keeping its data.
    fn start(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError>;
    /// SIGKILL the system on `node`.
    fn kill(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError>;
    /// SIGSTOP the system on `node`.
    fn pause(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError>;
    /// SIGCONT the system on `node`.
    fn resume(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError>;
    /// The names of the nodes that currently believe they lead.
    fn primaries(&self, cluster: &Cluster) -> Vec<String>;
    /// Wait until the cluster serves requests, or fail naming what is missing.
    fn await_ready(&self, cluster: &Cluster, timeout: std::time::Duration) -> Result<(), DbError>;
    /// The system's log files on `node`, to be downloaded into the results.
    fn log_files(&self, cluster: &Cluster, node: &Node) -> Vec<PathBuf>;
    /// A data-plane client talking to `node`.
    fn client(&self, cluster: &Cluster, node: &Node) -> Arc<dyn KvClient>;
    /// The pid of the system's process on `node`, if it runs.
    fn pid(&self, node: &Node) -> Option<u32>;
    /// Where a person's client reaches the system on `node` (refkv
    /// `http://10.213.7.11:8080`, ZooKeeper `10.213.7.11:2181`), for
    /// `faultline cluster up`. `None`: no address (the default).
    fn client_address(&self, _node: &Node) -> Option<String> {
        None
    }
    /// What `node` says of its consensus state (role and term), for
    /// nemeses that choreograph elections. `None`: the Db cannot tell, or
    /// the node did not answer (paused, dead, cut off).
    fn consensus_state(&self, _cluster: &Cluster, _node: &Node) -> Option<ConsensusState> {
        None
    }
}

/// One node's view of its consensus group, as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsensusState {
    /// `leader`, `follower`, `candidate` or `pre-candidate`.
    pub role: String,
    /// The node's current term (epoch, ballot...).
    pub term: u64,
    /// The leader it follows, when it knows one.
    pub leader: Option<String>,
    /// The highest log index it knows committed, if it says.
    pub commit_index: Option<u64>,
    /// The index of the last entry of its log, if it says.
    pub last_index: Option<u64>,
    /// The term of that entry, if it says.
    pub last_term: Option<u64>,
}

impl ConsensusState {
    /// The node believes it leads.
    pub fn is_leader(&self) -> bool {
        self.role == "leader"
    }

    /// The node asks for votes in its term.
    pub fn is_candidate(&self) -> bool {
        self.role == "candidate"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_db_a_cluster_may_name_declares_the_promise_it_reports() {
        let named = |db: &str| crate::spec::ClusterSpec {
            db: db.into(),
            ..Default::default()
        };
        for name in registry::NAMES {
            assert!(consistency_of(&named(name)).is_some(), "{name}");
        }
        assert_eq!(consistency_of(&named("no-such-db")), None);
        let memory = memory::MemoryDb::new(crate::client::memory::Fault::None);
        assert_eq!(
            Some(memory.consistency()),
            consistency_of(&named(memory.name()))
        );
        let refkv = refkv::RefKv::new(refkv::RefKvOptions::default());
        assert_eq!(
            Some(refkv.consistency()),
            consistency_of(&named(refkv.name()))
        );
    }
}
