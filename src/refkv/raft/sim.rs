//! A deterministic simulator of a Raft cluster built from [`RaftNode`]s: no
//! threads, no sockets, no clocks. One seed drives message loss, delay,
//! duplication and reordering, partitions, crash-restarts (a restarted node
//! gets back exactly what its simulated storage made durable), wall-clock
//! skew and client proposals and reads. After every step it checks the Raft
//! safety properties:
//!
//! - election safety: at most one leader per term;
//! - log matching: two logs holding an entry with the same term and index
//!   hold the same command there and agree on the term before it;
//! - leader completeness: a new leader holds every committed entry;
//! - state-machine safety: no two nodes apply different entries at one index;
//! - linearizable reads: a read is served at an index at least as high as
//!   every commit index in the cluster when the read was asked;
//!
//! - durable acknowledgements: every `AppendEntriesResponse` Ok(m) or
//!   `InstallSnapshotResponse` m a node sends is backed by its disk, which
//!   holds entries up to m (with the terms its log has there);
//! - no false definite failure: a client write answered "overwritten"
//!   (definite) is never applied anywhere;
//!
//! and, after healing everything, liveness: a leader is elected and commits
//! a new entry on every node within a bounded time. The same seed replays the
//! same run exactly.
//!
//! Clients are modelled the way the server answers them: writes wait under
//! the server's own rules ([`crate::refkv::waiters`]), reads go through
//! `read_index` (or, with bug `stale-read`, read local state). Every call
//! and its answer is recorded in [`Sim::client_history`], for a
//! linearizability checker (run from `tests/`, since refkv does not know
//! faultline's checkers). Bug `no-fsync` is modelled by a disk that makes
//! writes durable only every [`crate::refkv::storage::LAZY_FLUSH_INTERVAL`].
//!
//! In *batched* mode ([`SimOptions::batched`]) a node takes one `Ready` per
//! simulated millisecond after all of that millisecond's inputs (messages,
//! ticks, client calls), as the server does with the events it has queued;
//! otherwise it takes one after every input.
//!
//! Scripted tests drive the same machinery step by step with
//! [`Sim::partition`], [`Sim::crash`], [`Sim::restart`], [`Sim::set_drop_filter`]
//! and [`Sim::run_for`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::core::{Config, Persisted, RaftNode, Ready, Role};
use super::messages::{
    Body, Entry, HardState, Index, LogId, Message, NodeId, Payload, ReadCtx, Snapshot, Term,
};
use crate::refkv::bugs::{Bug, Bugs};
use crate::refkv::waiters::{Fate, Waiters};

/// How a simulated run is set up. [`SimOptions::random`] draws one from a seed.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The seed of everything.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Bugs enabled on every node.
    pub bugs: Bugs,
    /// Pre-vote on every node.
    pub pre_vote: bool,
    /// Check-quorum on every node.
    pub check_quorum: bool,
    /// Minimum election timeout, ms.
    pub election_timeout_ms: u64,
    /// Heartbeat interval, ms.
    pub heartbeat_ms: u64,
    /// Entries per AppendEntries.
    pub max_entries_per_message: usize,
    /// AppendEntries in flight per follower.
    pub max_inflight_messages: usize,
    /// Probability of crashing a node right after it persisted a hard state
    /// (a crash point at the fsync boundary), restarting it 1–30 ms later.
    pub crash_after_persist: f64,
    /// Compact when this many applied entries are beyond the snapshot (0: never).
    pub compact_every: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Message delay range, ms.
    pub delay_ms: (u64, u64),
    /// Probability that a message may overtake earlier ones on its link
    /// (otherwise links are FIFO, like a TCP connection).
    pub reorder: f64,
    /// Per-ms probability of a partition change (new partition or heal).
    pub partition_rate: f64,
    /// Per-ms probability of crashing a node.
    pub crash_rate: f64,
    /// Per-ms probability that a crashed node restarts.
    pub restart_rate: f64,
    /// Per-ms probability of a quick crash-restart (a supervisor restarting
    /// the process within 1–30 ms).
    pub bounce_rate: f64,
    /// Probability that a node is crashed 1–20 ms after it becomes leader
    /// (a targeted nemesis, like Jepsen's "kill the primary").
    pub fresh_leader_kill: f64,
    /// Per-ms probability of a wall-clock jump on one node.
    pub clock_rate: f64,
    /// Largest wall-clock jump, ms (either direction).
    pub clock_jump_ms: u64,
    /// Per-ms probability of a client proposal.
    pub propose_rate: f64,
    /// Per-ms probability of a client read.
    pub read_rate: f64,
    /// Length of the chaos phase, ms.
    pub chaos_ms: u64,
    /// Liveness bound after healing, ms.
    pub heal_ms: u64,
    /// Take one `Ready` per node per simulated ms, after all that ms's
    /// inputs (as the server batches its queued events), instead of one
    /// after every input.
    pub batched: bool,
    /// Check that every acknowledgement is backed by the disk (off only to
    /// measure how `no-fsync` is caught by its consequences).
    pub check_ack_durability: bool,
    /// Print every event to stderr (for replaying a failing seed).
    pub trace: bool,
}

impl SimOptions {
    /// A calm 3-node cluster with refkv's features and no faults: scripted
    /// tests start from this and switch on what they need.
    pub fn calm(seed: u64, nodes: usize) -> Self {
        SimOptions {
            seed,
            nodes,
            bugs: Bugs::none(),
            pre_vote: true,
            check_quorum: true,
            election_timeout_ms: 100,
            heartbeat_ms: 20,
            max_entries_per_message: 64,
            max_inflight_messages: 32,
            crash_after_persist: 0.0,
            compact_every: 0,
            loss: 0.0,
            duplicate: 0.0,
            delay_ms: (1, 5),
            reorder: 0.0,
            partition_rate: 0.0,
            crash_rate: 0.0,
            restart_rate: 0.0,
            bounce_rate: 0.0,
            fresh_leader_kill: 0.0,
            clock_rate: 0.0,
            clock_jump_ms: 0,
            propose_rate: 0.0,
            read_rate: 0.0,
            chaos_ms: 0,
            heal_ms: 3_000,
            batched: false,
            check_ack_durability: true,
            trace: std::env::var_os("RAFT_SIM_TRACE").is_some(),
        }
    }

    /// A random fault regime drawn from `seed` (cluster size, batching,
    /// loss, delays, fault rates all vary between seeds).
    pub fn random(seed: u64, bugs: Bugs) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_fa17);
        let nodes = if rng.gen_bool(0.5) { 3 } else { 5 };
        let max_delay = *[5u64, 20, 40].get(rng.gen_range(0..3)).unwrap_or(&20);
        SimOptions {
            seed,
            nodes,
            bugs,
            pre_vote: rng.gen_bool(0.8),
            check_quorum: rng.gen_bool(0.8),
            election_timeout_ms: 100,
            heartbeat_ms: 20,
            max_entries_per_message: *[1usize, 2, 3, 64].get(rng.gen_range(0..4)).unwrap_or(&64),
            max_inflight_messages: *[2usize, 4, 32].get(rng.gen_range(0..3)).unwrap_or(&32),
            crash_after_persist: rng.gen_range(0.0..0.1),
            compact_every: *[0u64, 10, 50].get(rng.gen_range(0..3)).unwrap_or(&0),
            loss: rng.gen_range(0.0..0.2),
            duplicate: rng.gen_range(0.0..0.1),
            delay_ms: (1, max_delay),
            reorder: rng.gen_range(0.0..0.1),
            partition_rate: rng.gen_range(0.0005..0.003),
            crash_rate: rng.gen_range(0.0002..0.002),
            restart_rate: 0.003,
            bounce_rate: rng.gen_range(0.0..0.004),
            fresh_leader_kill: rng.gen_range(0.0..0.3),
            clock_rate: 0.0005,
            clock_jump_ms: 3_000,
            propose_rate: rng.gen_range(0.05..0.5),
            read_rate: rng.gen_range(0.02..0.2),
            chaos_ms: 6_000,
            heal_ms: 4_000,
            batched: false,
            check_ack_durability: true,
            trace: false,
        }
        .maybe_batched(&mut rng)
    }

    /// Half the seeds run batched, with more reordering and a small snapshot
    /// interval, so a deposed leader cut off in a minority easily holds more
    /// uncommitted entries than the interval (the snapshot it then receives
    /// conflicts with its log).
    fn maybe_batched(mut self, rng: &mut ChaCha8Rng) -> Self {
        if rng.gen_bool(0.5) {
            self.batched = true;
            self.compact_every = *[3u64, 5, 10].get(rng.gen_range(0..3)).unwrap_or(&5);
            self.reorder = rng.gen_range(0.1..0.4);
            self.check_quorum = rng.gen_bool(0.5);
        }
        self
    }
}

/// A broken Raft property, with what shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two leaders in one term.
    ElectionSafety {
        /// The term.
        term: Term,
        /// The two leaders.
        leaders: (NodeId, NodeId),
    },
    /// Two logs disagree on an entry they both claim at the same position.
    LogMatching {
        /// The node whose append disagrees.
        node: NodeId,
        /// The entry's position.
        at: LogId,
        /// What disagrees.
        why: String,
    },
    /// A new leader lacks a committed entry.
    LeaderCompleteness {
        /// The leader.
        node: NodeId,
        /// Its term.
        term: Term,
        /// The committed entry it lacks.
        missing: LogId,
        /// What it has at that index.
        has: Option<Term>,
    },
    /// Two nodes applied different entries at one index.
    StateMachineSafety {
        /// The node that applied the second one.
        node: NodeId,
        /// The index.
        index: Index,
        /// Applied first elsewhere.
        first: LogId,
        /// Applied by `node`.
        second: LogId,
    },
    /// A read was answered at an index below a commit that preceded it.
    StaleRead {
        /// The node that answered.
        node: NodeId,
        /// Its term.
        term: Term,
        /// The index it would serve the read at.
        served: Index,
        /// A commit index in the cluster when the read was asked.
        committed_before: Index,
    },
    /// No leader committed a new entry on every node within the bound after healing.
    Liveness {
        /// How long it waited, ms.
        waited_ms: u64,
        /// The nodes' roles and terms at the end.
        state: String,
    },
    /// A node acknowledged entries its disk does not hold.
    AckNotDurable {
        /// The node.
        node: NodeId,
        /// The index it acknowledged.
        acked: Index,
        /// What its disk holds.
        why: String,
    },
    /// A write answered as definitely failed was applied.
    FalseDefinite {
        /// The node that answered the client.
        node: NodeId,
        /// The write's entry.
        at: LogId,
    },
    /// The core broke its own output contract (e.g. a gap in appended entries).
    Contract {
        /// The node.
        node: NodeId,
        /// What was wrong.
        why: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ElectionSafety { term, leaders } => {
                write!(f, "election safety: nodes {} and {} both leaders of term {term}", leaders.0, leaders.1)
            }
            Violation::LogMatching { node, at, why } => {
                write!(f, "log matching: node {node} at index {} term {}: {why}", at.index, at.term)
            }
            Violation::LeaderCompleteness { node, term, missing, has } => write!(
                f,
                "leader completeness: node {node} leads term {term} without committed entry {}@term {} (has term {has:?} there)",
                missing.index, missing.term
            ),
            Violation::StateMachineSafety { node, index, first, second } => write!(
                f,
                "state-machine safety: node {node} applied term {} at index {index}, another node applied term {}",
                second.term, first.term
            ),
            Violation::StaleRead { node, term, served, committed_before } => write!(
                f,
                "stale read: node {node} (term {term}) answered a read at index {served} although index {committed_before} was committed before the read began"
            ),
            Violation::Liveness { waited_ms, state } => {
                write!(f, "liveness: no new entry committed on all nodes {waited_ms} ms after healing ({state})")
            }
            Violation::AckNotDurable { node, acked, why } => {
                write!(f, "ack not durable: node {node} acknowledged index {acked} but {why}")
            }
            Violation::FalseDefinite { node, at } => write!(
                f,
                "false definite failure: node {node} answered the write at index {} term {} as overwritten, and it is applied",
                at.index, at.term
            ),
            Violation::Contract { node, why } => write!(f, "core contract broken on node {node}: {why}"),
        }
    }
}

/// A failed run: the violation and the simulated time it was found at.
#[derive(Debug, Clone)]
pub struct SimFailure {
    /// The seed (replays the run).
    pub seed: u64,
    /// Simulated time, ms.
    pub at_ms: u64,
    /// What broke.
    pub violation: Violation,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} at {} ms: {}",
            self.seed, self.at_ms, self.violation
        )
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    /// Distinct (term, leader) pairs seen.
    pub leaders: usize,
    /// Highest term seen.
    pub max_term: Term,
    /// Entries committed (applied somewhere).
    pub committed: usize,
    /// Client proposals accepted by a leader.
    pub proposals: u64,
    /// Reads answered.
    pub reads: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Crashes.
    pub crashes: u64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: u64,
    /// Terms in which two or more nodes campaigned (split votes).
    pub split_terms: usize,
    /// Simulated time, ms.
    pub sim_ms: u64,
    /// How many faults of each kind fired.
    pub faults: FaultCounts,
}

/// How many faults of each kind fired in a run (or in many runs, summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// New partitions (halves, bridges, rings).
    pub partitions: u64,
    /// Heals during the chaos phase.
    pub heals: u64,
    /// Random crashes.
    pub crashes: u64,
    /// Quick crash-restarts.
    pub bounces: u64,
    /// Leaders crashed 1–20 ms after their election.
    pub fresh_leader_kills: u64,
    /// Crashes right after persisting a hard state, before sending.
    pub crashes_after_persist: u64,
    /// Wall-clock jumps.
    pub clock_jumps: u64,
}

impl FaultCounts {
    /// Add another run's counts.
    pub fn add(&mut self, o: &FaultCounts) {
        self.partitions += o.partitions;
        self.heals += o.heals;
        self.crashes += o.crashes;
        self.bounces += o.bounces;
        self.fresh_leader_kills += o.fresh_leader_kills;
        self.crashes_after_persist += o.crashes_after_persist;
        self.clock_jumps += o.clock_jumps;
    }

    /// (name, count) of every kind, in a fixed order.
    pub fn table(&self) -> [(&'static str, u64); 7] {
        [
            ("partition", self.partitions),
            ("heal", self.heals),
            ("crash", self.crashes),
            ("bounce", self.bounces),
            ("fresh-leader-kill", self.fresh_leader_kills),
            ("crash-after-persist", self.crashes_after_persist),
            ("clock-jump", self.clock_jumps),
        ]
    }
}

/// One event of the simulated clients' history: a call or its answer.
/// Writes carry unique values; a read returns the key's value (None: never
/// written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A call: a write of `write` to `key`, or a read of `key` (`write` None).
    Invoke {
        /// The op's id (unique in the run).
        op: u64,
        /// The key.
        key: u64,
        /// The value written, or None for a read.
        write: Option<u64>,
        /// The node called.
        node: NodeId,
        /// Simulated time, ms.
        at_ms: u64,
    },
    /// The op took effect; for a read, the value read.
    Ok {
        /// The op's id.
        op: u64,
        /// The value written or read.
        value: Option<u64>,
        /// Simulated time, ms.
        at_ms: u64,
    },
    /// The op definitely did not take effect.
    Fail {
        /// The op's id.
        op: u64,
        /// Simulated time, ms.
        at_ms: u64,
    },
    /// Unknown whether the op took effect.
    Info {
        /// The op's id.
        op: u64,
        /// Simulated time, ms.
        at_ms: u64,
    },
}

/// What the simulated disk holds for one node.
#[derive(Debug, Clone, Default)]
struct Disk {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

impl Disk {
    fn last_index(&self) -> Index {
        self.entries
            .last()
            .map(|e| e.index)
            .or(self.snapshot.as_ref().map(|s| s.last.index))
            .unwrap_or(0)
    }

    fn term(&self, index: Index) -> Option<Term> {
        if let Some(s) = &self.snapshot {
            if s.last.index == index {
                return Some(s.last.term);
            }
        }
        let first = self.entries.first()?.index;
        let e = self.entries.get(index.checked_sub(first)? as usize)?;
        Some(e.term)
    }

    /// Steps 1–4 of a `Ready`, in the server's order; Err on a gap.
    fn write(&mut self, rd: &Ready) -> Result<(), String> {
        if let Some(hs) = rd.hard_state {
            self.hard_state = hs;
        }
        if let Some(t) = rd.truncate_from {
            self.entries.retain(|e| e.index < t);
        }
        if let Some(s) = &rd.snapshot {
            self.entries.retain(|e| e.index > s.last.index);
            self.snapshot = Some(s.clone());
        }
        for e in &rd.entries {
            let expect = self.last_index() + 1;
            if e.index != expect {
                return Err(format!(
                    "appended index {} where the disk expects {expect}",
                    e.index
                ));
            }
            self.entries.push(e.clone());
        }
        Ok(())
    }
}

struct SimNode {
    raft: Option<RaftNode>,
    /// What is durable: what a restart gets back.
    disk: Disk,
    /// What the node has written (with `no-fsync`, some of it not durable
    /// yet; otherwise equal to `disk`).
    wal: Disk,
    /// Client writes waiting at this node, by op id.
    waiters: Waiters<u64>,
    /// Client reads waiting at this node: ctx -> (op, key).
    client_reads: BTreeMap<ReadCtx, (u64, u64)>,
    /// The state machine: key -> last value written.
    sm: BTreeMap<u64, u64>,
    applied: Index,
    wall_offset_ms: i64,
    incarnation: u64,
    group: u32,
}

/// Random clients spread their calls over this many keys: enough that each
/// key's history stays small for a linearizability check, few enough that
/// reads often meet recent writes.
const CLIENT_KEYS: u64 = 64;

/// A predicate on messages, for scripted drops and holds.
pub type MessageFilter = Box<dyn FnMut(&Message) -> bool>;
type DropFilter = MessageFilter;

/// A simulated cluster.
pub struct Sim {
    opts: SimOptions,
    rng: ChaCha8Rng,
    now_ms: u64,
    nodes: Vec<SimNode>,
    ids: Vec<NodeId>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    in_flight: BTreeMap<u64, Message>,
    msg_seq: u64,
    restarts_due: Vec<(u64, NodeId)>,
    crashes_due: Vec<(u64, NodeId)>,
    chaos: bool,
    link_last: BTreeMap<(NodeId, NodeId), u64>,
    drop_filter: Option<DropFilter>,
    bridge: Option<NodeId>,
    ring: bool,
    hold_filter: Option<DropFilter>,
    held: Vec<Message>,
    leaders: BTreeMap<Term, NodeId>,
    candidates: BTreeMap<Term, BTreeSet<NodeId>>,
    applied_at: BTreeMap<Index, LogId>,
    log_ids: BTreeMap<LogId, (u64, Term)>,
    reads: BTreeMap<ReadCtx, Index>,
    read_seq: ReadCtx,
    value_seq: u64,
    stats: SimStats,
    /// Values read by answered reads: (node, ctx, index served).
    answered_reads: Vec<(NodeId, ReadCtx, Index)>,
    history: Vec<ClientEvent>,
    op_seq: u64,
    /// Writes answered "overwritten" (definite): their entries.
    definite_failed: BTreeSet<LogId>,
    /// Each recorded write's entry and value.
    write_ids: BTreeMap<u64, (LogId, u64)>,
    /// When the lazy disk (`no-fsync`) was last made durable.
    last_flush_ms: u64,
}

fn payload_hash(p: &Payload) -> u64 {
    match p {
        Payload::Noop => 0,
        Payload::Data(d) => {
            // FNV-1a: a stable fingerprint for comparing entries.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in d {
                h ^= *b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h | 1
        }
    }
}

impl Sim {
    /// A cluster of `opts.nodes` fresh nodes with ids `1..=nodes`.
    pub fn new(opts: SimOptions) -> Self {
        let ids: Vec<NodeId> = (1..=opts.nodes as NodeId).collect();
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            now_ms: 0,
            nodes: Vec::new(),
            ids: ids.clone(),
            queue: BinaryHeap::new(),
            in_flight: BTreeMap::new(),
            msg_seq: 0,
            restarts_due: Vec::new(),
            crashes_due: Vec::new(),
            chaos: false,
            link_last: BTreeMap::new(),
            drop_filter: None,
            bridge: None,
            ring: false,
            hold_filter: None,
            held: Vec::new(),
            leaders: BTreeMap::new(),
            candidates: BTreeMap::new(),
            applied_at: BTreeMap::new(),
            log_ids: BTreeMap::new(),
            reads: BTreeMap::new(),
            read_seq: 0,
            value_seq: 0,
            stats: SimStats::default(),
            answered_reads: Vec::new(),
            history: Vec::new(),
            op_seq: 0,
            definite_failed: BTreeSet::new(),
            write_ids: BTreeMap::new(),
            last_flush_ms: 0,
            opts,
        };
        for &id in &ids {
            let raft = sim.boot(id, 0, Persisted::default());
            sim.nodes.push(SimNode {
                raft,
                disk: Disk::default(),
                wal: Disk::default(),
                waiters: Waiters::new(),
                client_reads: BTreeMap::new(),
                sm: BTreeMap::new(),
                applied: 0,
                wall_offset_ms: 0,
                incarnation: 0,
                group: 0,
            });
        }
        sim
    }

    fn config(&self, id: NodeId, incarnation: u64) -> Config {
        let mut c = Config::new(id, self.ids.clone());
        c.election_timeout = Duration::from_millis(self.opts.election_timeout_ms);
        c.heartbeat_interval = Duration::from_millis(self.opts.heartbeat_ms);
        c.pre_vote = self.opts.pre_vote;
        c.check_quorum = self.opts.check_quorum;
        c.max_entries_per_message = self.opts.max_entries_per_message;
        c.max_inflight_messages = self.opts.max_inflight_messages;
        c.seed = self
            .opts
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(id * 1_000_003 + incarnation);
        c.bugs = self.opts.bugs.clone();
        c
    }

    fn boot(&self, id: NodeId, incarnation: u64, p: Persisted) -> Option<RaftNode> {
        RaftNode::restart(
            self.config(id, incarnation),
            p,
            Duration::from_millis(self.now_ms),
        )
        .ok()
    }

    fn idx(&self, id: NodeId) -> usize {
        (id - 1) as usize
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.opts.trace {
            eprintln!("[{:>6} ms] {}", self.now_ms, what());
        }
    }

    // ----- scripted control --------------------------------------------

    /// The node ids.
    pub fn ids(&self) -> Vec<NodeId> {
        self.ids.clone()
    }

    /// Current simulated time, ms.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Counters so far.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// The node, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&RaftNode> {
        self.nodes.get(self.idx(id)).and_then(|n| n.raft.as_ref())
    }

    /// The node's applied state machine (key → value) and applied index.
    pub fn state_machine(&self, id: NodeId) -> (BTreeMap<u64, u64>, Index) {
        let n = &self.nodes[self.idx(id)];
        (n.sm.clone(), n.applied)
    }

    /// The up node that is leader of the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.ids
            .iter()
            .filter_map(|&id| {
                self.node(id)
                    .filter(|r| r.role() == Role::Leader)
                    .map(|r| (r.term(), id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// Split the cluster: nodes in the same group talk, others do not.
    /// Nodes not listed form one more group.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        self.bridge = None;
        self.ring = false;
        for n in self.nodes.iter_mut() {
            n.group = u32::MAX;
        }
        for (g, members) in groups.iter().enumerate() {
            for &id in members.iter() {
                let i = self.idx(id);
                self.nodes[i].group = g as u32;
            }
        }
        self.trace(|| format!("partition {groups:?}"));
    }

    /// Jepsen's bridge: two halves that cannot talk to each other, and one
    /// node that talks to both.
    pub fn partition_bridge(&mut self, left: &[NodeId], right: &[NodeId], bridge: NodeId) {
        self.partition(&[left, right, &[bridge]]);
        self.bridge = Some(bridge);
        self.trace(|| format!("bridge {bridge} between {left:?} and {right:?}"));
    }

    /// Jepsen's majorities ring: each node talks only to its two neighbours
    /// on a ring, so each sees a majority (of 5), but a different one.
    pub fn partition_ring(&mut self) {
        self.heal();
        self.ring = true;
        self.trace(|| "majorities ring".into());
    }

    /// Remove every partition.
    pub fn heal(&mut self) {
        self.bridge = None;
        self.ring = false;
        for n in self.nodes.iter_mut() {
            n.group = 0;
        }
        self.trace(|| "heal".into());
    }

    /// Drop every message for which `f` returns true (until cleared).
    pub fn set_drop_filter(&mut self, f: Option<DropFilter>) {
        self.drop_filter = f;
    }

    /// Hold back every message for which `f` returns true (at its delivery
    /// time) until [`Sim::release_held`] lets it go; `None` stops holding.
    pub fn set_hold_filter(&mut self, f: Option<DropFilter>) {
        self.hold_filter = f;
    }

    /// Messages held so far.
    pub fn held(&self) -> &[Message] {
        &self.held
    }

    /// Deliver (now, in order) the held messages for which `f` is true;
    /// returns how many.
    pub fn release_held(
        &mut self,
        mut f: impl FnMut(&Message) -> bool,
    ) -> Result<usize, SimFailure> {
        let (go, keep): (Vec<Message>, Vec<Message>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|m| f(m));
        self.held = keep;
        let n = go.len();
        let hold = self.hold_filter.take();
        for m in go {
            self.trace(|| format!("release held {} -> {} {}", m.from, m.to, m.body.kind()));
            self.deliver(m)?;
        }
        self.hold_filter = hold;
        Ok(n)
    }

    /// Crash a node: its memory is lost, its disk is kept.
    pub fn crash(&mut self, id: NodeId) {
        let i = self.idx(id);
        if self.nodes[i].raft.take().is_some() {
            self.stats.crashes += 1;
            self.trace(|| format!("crash {id}"));
            // Clients lose their connection: writes are indefinite, reads
            // (which never take effect) fail.
            let node = &mut self.nodes[i];
            node.wal = node.disk.clone();
            let writes: Vec<u64> = node.waiters.drain().into_iter().map(|(op, _)| op).collect();
            let reads: Vec<u64> = std::mem::take(&mut node.client_reads)
                .into_values()
                .map(|(op, _)| op)
                .collect();
            let at_ms = self.now_ms;
            for op in writes {
                self.history.push(ClientEvent::Info { op, at_ms });
            }
            for op in reads {
                self.history.push(ClientEvent::Fail { op, at_ms });
            }
        }
    }

    /// Restart a crashed node from exactly what its disk holds.
    pub fn restart(&mut self, id: NodeId) -> Result<(), SimFailure> {
        let i = self.idx(id);
        if self.nodes[i].raft.is_some() {
            return Ok(());
        }
        let disk = self.nodes[i].disk.clone();
        let inc = self.nodes[i].incarnation + 1;
        let persisted = Persisted {
            hard_state: disk.hard_state,
            snapshot: disk.snapshot.clone(),
            entries: disk.entries.clone(),
        };
        let raft = RaftNode::restart(
            self.config(id, inc),
            persisted,
            Duration::from_millis(self.now_ms),
        );
        let raft = raft.map_err(|e| {
            self.fail(Violation::Contract {
                node: id,
                why: e.to_string(),
            })
        })?;
        let (sm, applied) = match &disk.snapshot {
            Some(s) => (decode_sm(&s.data), s.last.index),
            None => (BTreeMap::new(), 0),
        };
        let n = &mut self.nodes[i];
        n.raft = Some(raft);
        n.wal = disk;
        n.incarnation = inc;
        n.sm = sm;
        n.applied = applied;
        self.trace(|| format!("restart {id}"));
        Ok(())
    }

    /// Shift a node's wall clock by `offset_ms` relative to true time.
    pub fn set_wall_offset(&mut self, id: NodeId, offset_ms: i64) {
        let i = self.idx(id);
        self.nodes[i].wall_offset_ms = offset_ms;
        self.trace(|| format!("wall clock of {id} offset {offset_ms} ms"));
    }

    /// Propose a value at `id` (a client talking to that node). Returns the
    /// entry's position if `id` is the leader.
    /// The call and its answers are recorded in [`Sim::client_history`].
    pub fn propose(&mut self, id: NodeId, key: u64) -> Result<Option<LogId>, SimFailure> {
        self.propose_as_client(id, key, true)
    }

    fn propose_as_client(
        &mut self,
        id: NodeId,
        key: u64,
        record: bool,
    ) -> Result<Option<LogId>, SimFailure> {
        let i = self.idx(id);
        self.value_seq += 1;
        let value = self.value_seq;
        let at_ms = self.now_ms;
        let op = if record {
            self.op_seq += 1;
            self.history.push(ClientEvent::Invoke {
                op: self.op_seq,
                key,
                write: Some(value),
                node: id,
                at_ms,
            });
            Some(self.op_seq)
        } else {
            None
        };
        let Some(raft) = self.nodes[i].raft.as_mut() else {
            // Connection refused: never proposed.
            if let Some(op) = op {
                self.history.push(ClientEvent::Fail { op, at_ms });
            }
            return Ok(None);
        };
        let mut data = key.to_le_bytes().to_vec();
        data.extend_from_slice(&value.to_le_bytes());
        match raft.propose(data) {
            Ok(at) => {
                self.stats.proposals += 1;
                self.trace(|| format!("propose at {id}: key {key} = {value} -> {at:?}"));
                if let Some(op) = op {
                    self.nodes[i].waiters.proposed(at, op);
                    self.write_ids.insert(op, (at, value));
                }
                self.input_done(id)?;
                Ok(Some(at))
            }
            Err(_) => {
                if let Some(op) = op {
                    self.history.push(ClientEvent::Fail { op, at_ms });
                }
                Ok(None)
            }
        }
    }

    /// Answer a client write per its fate, checking that no write answered
    /// as definitely failed is (or gets) applied.
    fn resolve_write(
        &mut self,
        node: NodeId,
        op: u64,
        fate: Fate,
        applied: Option<LogId>,
    ) -> Result<(), SimFailure> {
        let at_ms = self.now_ms;
        let Some(&(at, value)) = self.write_ids.get(&op) else {
            return Ok(());
        };
        match fate {
            Fate::Applied => self.history.push(ClientEvent::Ok {
                op,
                value: Some(value),
                at_ms,
            }),
            Fate::Unknown => self.history.push(ClientEvent::Info { op, at_ms }),
            Fate::Overwritten => {
                self.history.push(ClientEvent::Fail { op, at_ms });
                if self.applied_at.get(&at.index) == Some(&at) || applied == Some(at) {
                    return Err(self.fail(Violation::FalseDefinite { node, at }));
                }
                self.definite_failed.insert(at);
            }
        }
        Ok(())
    }

    /// After an input: take the node's `Ready` now, or (batched) at the end
    /// of the millisecond.
    fn input_done(&mut self, id: NodeId) -> Result<(), SimFailure> {
        if self.opts.batched {
            Ok(())
        } else {
            self.process(id)
        }
    }

    /// The simulated clients' calls and answers so far, in order.
    pub fn client_history(&self) -> &[ClientEvent] {
        &self.history
    }

    /// Ask node `id` for a linearizable read; returns its context if accepted.
    /// The read is of key 0 in [`Sim::client_history`].
    pub fn read(&mut self, id: NodeId) -> Result<Option<ReadCtx>, SimFailure> {
        self.read_key(id, 0)
    }

    fn read_key(&mut self, id: NodeId, key: u64) -> Result<Option<ReadCtx>, SimFailure> {
        let i = self.idx(id);
        let at_ms = self.now_ms;
        self.op_seq += 1;
        let op = self.op_seq;
        self.history.push(ClientEvent::Invoke {
            op,
            key,
            write: None,
            node: id,
            at_ms,
        });
        let committed = self
            .nodes
            .iter()
            .filter_map(|n| n.raft.as_ref().map(|r| r.commit_index()))
            .max()
            .unwrap_or(0)
            .max(self.applied_at.keys().next_back().copied().unwrap_or(0));
        self.read_seq += 1;
        let ctx = self.read_seq;
        let Some(raft) = self.nodes[i].raft.as_mut() else {
            self.history.push(ClientEvent::Fail { op, at_ms });
            return Ok(None);
        };
        if self.opts.bugs.has(Bug::StaleRead) {
            // The server's bug: answer from local state, whatever the role.
            let term = raft.term();
            let node = &self.nodes[i];
            let value = node.sm.get(&key).copied();
            let served = node.applied;
            self.history.push(ClientEvent::Ok { op, value, at_ms });
            self.stats.reads += 1;
            self.answered_reads.push((id, ctx, served));
            if served < committed {
                return Err(self.fail(Violation::StaleRead {
                    node: id,
                    term,
                    served,
                    committed_before: committed,
                }));
            }
            return Ok(Some(ctx));
        }
        if raft.read_index(ctx).is_err() {
            self.history.push(ClientEvent::Fail { op, at_ms });
            return Ok(None);
        }
        self.reads.insert(ctx, committed);
        self.nodes[i].client_reads.insert(ctx, (op, key));
        self.trace(|| format!("read {ctx} at {id} (committed so far: {committed})"));
        self.input_done(id)?;
        Ok(Some(ctx))
    }

    /// Reads answered so far: (node, ctx, index served).
    pub fn answered_reads(&self) -> &[(NodeId, ReadCtx, Index)] {
        &self.answered_reads
    }

    /// Advance time by `ms` milliseconds without random faults or clients.
    pub fn run_for(&mut self, ms: u64) -> Result<(), SimFailure> {
        for _ in 0..ms {
            self.step_ms(false)?;
        }
        Ok(())
    }

    /// Advance until `pred` holds (checked every ms) or `max_ms` passed;
    /// returns whether it held.
    pub fn run_until(
        &mut self,
        max_ms: u64,
        mut pred: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, SimFailure> {
        for _ in 0..max_ms {
            if pred(self) {
                return Ok(true);
            }
            self.step_ms(false)?;
        }
        Ok(pred(self))
    }

    /// Run the random schedule: chaos for `chaos_ms`, then heal everything
    /// and require liveness within `heal_ms`.
    pub fn run(&mut self) -> Result<SimStats, SimFailure> {
        for _ in 0..self.opts.chaos_ms {
            self.step_ms(true)?;
        }
        self.heal();
        self.drop_filter = None;
        self.opts.loss = 0.0;
        self.opts.duplicate = 0.0;
        for id in self.ids.clone() {
            self.restart(id)?;
            self.set_wall_offset(id, 0);
        }
        self.check_liveness()?;
        Ok(self.stats.clone())
    }

    /// Require that, from now, a leader commits a new entry on every node
    /// within `heal_ms`.
    pub fn check_liveness(&mut self) -> Result<(), SimFailure> {
        let start = self.now_ms;
        let mut probes: Vec<LogId> = Vec::new();
        let mut last_try = 0;
        while self.now_ms < start + self.opts.heal_ms {
            for at in &probes {
                let applied = self.nodes.iter().filter(|n| n.applied >= at.index).count();
                let committed = self.applied_at.get(&at.index) == Some(at);
                if committed && applied > self.nodes.len() / 2 {
                    return self.check_convergence(at.index);
                }
            }
            // A client retries with whoever leads now (an earlier probe may
            // have been lost with its leader).
            if self.now_ms >= last_try + self.opts.election_timeout_ms {
                last_try = self.now_ms;
                if let Some(l) = self.leader() {
                    if let Some(at) = self.propose_as_client(l, u64::MAX, false)? {
                        probes.push(at);
                    }
                }
            }
            self.step_ms(false)?;
        }
        let state = self
            .ids
            .iter()
            .map(|&id| match self.node(id) {
                Some(r) => format!(
                    "{id}:{}@{} c{}",
                    r.role().name(),
                    r.term(),
                    r.commit_index()
                ),
                None => format!("{id}:down"),
            })
            .collect::<Vec<_>>()
            .join(" ");
        Err(self.fail(Violation::Liveness {
            waited_ms: self.opts.heal_ms,
            state,
        }))
    }

    /// After liveness: every node catches up to `index` within `heal_ms`.
    fn check_convergence(&mut self, index: Index) -> Result<(), SimFailure> {
        let start = self.now_ms;
        while self.now_ms < start + self.opts.heal_ms {
            if self.nodes.iter().all(|n| n.applied >= index) {
                return Ok(());
            }
            self.step_ms(false)?;
        }
        let state = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{}:applied {}", i + 1, n.applied))
            .collect::<Vec<_>>()
            .join(" ");
        Err(self.fail(Violation::Liveness {
            waited_ms: self.opts.heal_ms,
            state: format!("not every node caught up to {index}: {state}"),
        }))
    }

    fn fail(&self, violation: Violation) -> SimFailure {
        SimFailure {
            seed: self.opts.seed,
            at_ms: self.now_ms,
            violation,
        }
    }

    // ----- the engine ----------------------------------------------------

    fn step_ms(&mut self, chaos: bool) -> Result<(), SimFailure> {
        self.now_ms += 1;
        self.chaos = chaos;
        self.stats.sim_ms = self.now_ms;
        if chaos {
            self.random_faults()?;
        }
        // Deliver what is due.
        while let Some(Reverse((t, seq))) = self.queue.peek().copied() {
            if t > self.now_ms {
                break;
            }
            self.queue.pop();
            if let Some(m) = self.in_flight.remove(&seq) {
                self.deliver(m)?;
            }
        }
        let now = Duration::from_millis(self.now_ms);
        for id in self.ids.clone() {
            let i = self.idx(id);
            let wall =
                (self.now_ms as i64 + self.nodes[i].wall_offset_ms + 1_000_000_000).max(0) as u64;
            if let Some(r) = self.nodes[i].raft.as_mut() {
                r.observe_wall_clock(Duration::from_millis(wall));
                r.tick(now);
                self.input_done(id)?;
            }
        }
        if chaos {
            self.random_clients()?;
        }
        if self.opts.batched {
            for id in self.ids.clone() {
                self.process(id)?;
            }
        }
        // no-fsync: the WAL's buffer reaches the disk only now and then.
        let lazy = crate::refkv::storage::LAZY_FLUSH_INTERVAL.as_millis() as u64;
        if self.opts.bugs.has(Bug::NoFsync) && self.now_ms >= self.last_flush_ms + lazy {
            self.last_flush_ms = self.now_ms;
            for n in self.nodes.iter_mut().filter(|n| n.raft.is_some()) {
                n.disk = n.wal.clone();
            }
        }
        Ok(())
    }

    fn random_faults(&mut self) -> Result<(), SimFailure> {
        let o = self.opts.clone();
        if self.rng.gen_bool(o.partition_rate) {
            if self.rng.gen_bool(0.4) {
                self.stats.faults.heals += 1;
                self.heal();
            } else if self.ids.len() >= 5 && self.rng.gen_bool(0.2) {
                self.stats.faults.partitions += 1;
                self.partition_ring();
            } else if self.rng.gen_bool(0.3) {
                let b = self.random_node();
                let (mut left, mut right) = (Vec::new(), Vec::new());
                for &id in self.ids.iter().filter(|&&id| id != b) {
                    if self.rng.gen_bool(0.5) {
                        left.push(id);
                    } else {
                        right.push(id);
                    }
                }
                self.stats.faults.partitions += 1;
                self.partition_bridge(&left, &right, b);
            } else {
                let mut groups: Vec<Vec<NodeId>> = vec![Vec::new(), Vec::new()];
                for &id in &self.ids {
                    let g = self.rng.gen_range(0..2);
                    groups[g].push(id);
                }
                let refs: Vec<&[NodeId]> = groups.iter().map(|g| g.as_slice()).collect();
                self.stats.faults.partitions += 1;
                self.partition(&refs);
            }
        }
        if self.rng.gen_bool(o.crash_rate) {
            let id = self.random_node();
            if self.node(id).is_some() {
                self.stats.faults.crashes += 1;
            }
            self.crash(id);
        }
        if self.rng.gen_bool(o.bounce_rate) {
            let id = self.random_node();
            if self.node(id).is_some() {
                self.stats.faults.bounces += 1;
            }
            self.crash(id);
            let at = self.now_ms + self.rng.gen_range(1..=30);
            self.restarts_due.push((at, id));
        }
        let now = self.now_ms;
        // Targeted kills (fresh leaders) whose time has come.
        for id in take_due(&mut self.crashes_due, now) {
            if self.node(id).is_some() {
                self.stats.faults.fresh_leader_kills += 1;
            }
            self.crash(id);
        }
        for id in take_due(&mut self.restarts_due, now) {
            self.restart(id)?;
        }
        for id in self.ids.clone() {
            if self.nodes[self.idx(id)].raft.is_none() && self.rng.gen_bool(o.restart_rate) {
                self.restart(id)?;
            }
        }
        if o.clock_jump_ms > 0 && self.rng.gen_bool(o.clock_rate) {
            let id = self.random_node();
            let j = o.clock_jump_ms as i64;
            let off = self.rng.gen_range(-j..=j);
            self.stats.faults.clock_jumps += 1;
            self.set_wall_offset(id, off);
        }
        Ok(())
    }

    /// A node drawn uniformly from the seeded generator.
    fn random_node(&mut self) -> NodeId {
        self.ids[self.rng.gen_range(0..self.ids.len())]
    }

    fn random_clients(&mut self) -> Result<(), SimFailure> {
        let o = &self.opts;
        let (pr, rr) = (o.propose_rate, o.read_rate);
        if self.rng.gen_bool(pr) {
            let id = self.pick_for_client();
            let key = self.rng.gen_range(0..CLIENT_KEYS);
            // Back-pressure, as a server with a bounded proposal queue.
            let backlog = self
                .node(id)
                .map_or(0, |r| r.status().last.index - r.commit_index());
            if backlog < 100 {
                self.propose(id, key)?;
            }
        }
        if self.rng.gen_bool(rr) {
            let id = self.pick_for_client();
            let key = self.rng.gen_range(0..CLIENT_KEYS);
            self.read_key(id, key)?;
        }
        Ok(())
    }

    /// A client picks a random node and follows one redirect.
    fn pick_for_client(&mut self) -> NodeId {
        let id = self.random_node();
        match self.node(id) {
            Some(r) if r.role() != Role::Leader => {
                r.leader().filter(|&l| self.node(l).is_some()).unwrap_or(id)
            }
            _ => id,
        }
    }

    fn linked(&self, a: NodeId, b: NodeId) -> bool {
        if self.ring && a != b {
            let n = self.ids.len() as u64;
            let d = (a + n - b) % n;
            return d == 1 || d == n - 1;
        }
        a == b
            || self.bridge == Some(a)
            || self.bridge == Some(b)
            || self.nodes[self.idx(a)].group == self.nodes[self.idx(b)].group
    }

    fn deliver(&mut self, m: Message) -> Result<(), SimFailure> {
        if m.to == 0 || m.to as usize > self.nodes.len() || !self.linked(m.from, m.to) {
            return Ok(());
        }
        if let Some(f) = self.drop_filter.as_mut() {
            if f(&m) {
                return Ok(());
            }
        }
        if let Some(f) = self.hold_filter.as_mut() {
            if f(&m) {
                self.held.push(m);
                return Ok(());
            }
        }
        let to = m.to;
        let i = self.idx(to);
        let Some(r) = self.nodes[i].raft.as_mut() else {
            return Ok(());
        };
        self.stats.delivered += 1;
        if self.opts.trace {
            eprintln!(
                "[{:>6} ms] deliver {} -> {} t{} {:?}",
                self.now_ms,
                m.from,
                m.to,
                m.term,
                brief(&m.body)
            );
        }
        r.step(m);
        self.input_done(to)
    }

    fn send(&mut self, m: Message) {
        if !self.linked(m.from, m.to) || self.rng.gen_bool(self.opts.loss) {
            return;
        }
        let copies = if self.rng.gen_bool(self.opts.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let (lo, hi) = self.opts.delay_ms;
            let mut at = self.now_ms + self.rng.gen_range(lo..=hi.max(lo));
            let last = self.link_last.entry((m.from, m.to)).or_insert(0);
            if !self.rng.gen_bool(self.opts.reorder) {
                at = at.max(*last);
                *last = at;
            }
            self.msg_seq += 1;
            self.queue.push(Reverse((at, self.msg_seq)));
            self.in_flight.insert(self.msg_seq, m.clone());
        }
    }

    /// Carry out a node's Ready like a correct server, then check invariants.
    fn process(&mut self, id: NodeId) -> Result<(), SimFailure> {
        let i = self.idx(id);
        let Some(r) = self.nodes[i].raft.as_mut() else {
            return Ok(());
        };
        let rd: Ready = r.take_ready();
        if rd.is_empty() {
            return Ok(());
        }
        // Log matching, checked on every entry appended to any log.
        let mut prev_term = rd.entries.first().and_then(|e| r.log().term(e.index - 1));
        let mut new_ids = Vec::new();
        for e in &rd.entries {
            new_ids.push((e.log_id(), payload_hash(&e.payload), prev_term));
            prev_term = Some(e.term);
        }
        let status = r.status();
        for (at, h, pt) in new_ids {
            match self.log_ids.get(&at) {
                Some(&(h0, pt0)) => {
                    if h0 != h {
                        return Err(self.fail(Violation::LogMatching {
                            node: id,
                            at,
                            why: "a different command at the same term and index".into(),
                        }));
                    }
                    if let Some(pt) = pt {
                        if pt != pt0 {
                            return Err(self.fail(Violation::LogMatching {
                                node: id,
                                at,
                                why: format!("previous entry has term {pt}, elsewhere {pt0}"),
                            }));
                        }
                    }
                }
                None => {
                    if let Some(pt) = pt {
                        self.log_ids.insert(at, (h, pt));
                    }
                }
            }
        }
        // 1-5: persist (with no-fsync only into the WAL's buffer).
        let lazy = self.opts.bugs.has(Bug::NoFsync);
        let node = &mut self.nodes[i];
        let written = if lazy {
            node.wal.write(&rd)
        } else {
            node.disk.write(&rd)
        };
        if let Err(why) = written {
            return Err(self.fail(Violation::Contract { node: id, why }));
        }
        // A crash point at the fsync boundary: durable, nothing sent.
        if rd.hard_state.is_some() && self.chaos && self.rng.gen_bool(self.opts.crash_after_persist)
        {
            let at = self.now_ms + self.rng.gen_range(1..=30);
            self.stats.faults.crashes_after_persist += 1;
            self.crash(id);
            self.restarts_due.push((at, id));
            return Ok(());
        }
        // Every acknowledgement must be backed by the disk. An ack of an
        // earlier term than the node's is exempt: a newer leader's entries,
        // handled later in the same batch, replaced what it acknowledged —
        // as if the node had persisted, acknowledged and then truncated.
        if self.opts.check_ack_durability {
            let term = self.nodes[i].raft.as_ref().map_or(0, |r| r.term());
            for m in rd.messages.iter().filter(|m| m.term >= term) {
                let acked = match &m.body {
                    Body::AppendEntriesResponse { result: Ok(a), .. } => *a,
                    Body::InstallSnapshotResponse { match_index } => *match_index,
                    _ => continue,
                };
                let disk = &self.nodes[i].disk;
                let why = if disk.last_index() < acked {
                    Some(format!("its disk ends at {}", disk.last_index()))
                } else {
                    let mem = self.nodes[i]
                        .raft
                        .as_ref()
                        .and_then(|r| r.log().term(acked));
                    match (disk.term(acked), mem) {
                        (Some(d), Some(m)) if d != m => {
                            Some(format!("its disk has term {d} there and its log term {m}"))
                        }
                        _ => None,
                    }
                };
                if let Some(why) = why {
                    return Err(self.fail(Violation::AckNotDurable {
                        node: id,
                        acked,
                        why,
                    }));
                }
            }
        }
        // 6: send.
        for m in rd.messages {
            self.send(m);
        }
        // 7: apply.
        if rd.restore_snapshot {
            if let Some(s) = &rd.snapshot {
                self.stats.snapshots_installed += 1;
                if let Some(&x) = self.applied_at.get(&s.last.index) {
                    if x != s.last {
                        return Err(self.fail(Violation::StateMachineSafety {
                            node: id,
                            index: s.last.index,
                            first: x,
                            second: s.last,
                        }));
                    }
                }
                let node = &mut self.nodes[i];
                node.sm = decode_sm(&s.data);
                node.applied = s.last.index;
                let covered = node.waiters.snapshot_installed(s.last.index);
                for (op, fate) in covered {
                    self.resolve_write(id, op, fate, None)?;
                }
            }
        }
        for e in &rd.committed {
            let node = &self.nodes[i];
            if e.index != node.applied + 1 {
                let why = format!("committed entry {} after applied {}", e.index, node.applied);
                return Err(self.fail(Violation::Contract { node: id, why }));
            }
            match self.applied_at.get(&e.index) {
                Some(&x) if x != e.log_id() => {
                    return Err(self.fail(Violation::StateMachineSafety {
                        node: id,
                        index: e.index,
                        first: x,
                        second: e.log_id(),
                    }));
                }
                Some(_) => {}
                None => {
                    self.applied_at.insert(e.index, e.log_id());
                    self.stats.committed += 1;
                }
            }
            if self.definite_failed.contains(&e.log_id()) {
                return Err(self.fail(Violation::FalseDefinite {
                    node: id,
                    at: e.log_id(),
                }));
            }
            let fates = self.nodes[i].waiters.applied(e.log_id());
            for (op, fate) in fates {
                self.resolve_write(id, op, fate, Some(e.log_id()))?;
            }
            let node = &mut self.nodes[i];
            if let Payload::Data(d) = &e.payload {
                if let (Some(k), Some(v)) = (d.get(0..8), d.get(8..16)) {
                    let k = u64::from_le_bytes(k.try_into().unwrap_or([0; 8]));
                    let v = u64::from_le_bytes(v.try_into().unwrap_or([0; 8]));
                    node.sm.insert(k, v);
                }
            }
            node.applied = e.index;
        }
        // 8: reads.
        for rs in &rd.read_states {
            if let Some((op, key)) = self.nodes[i].client_reads.remove(&rs.ctx) {
                let value = self.nodes[i].sm.get(&key).copied();
                let at_ms = self.now_ms;
                self.history.push(ClientEvent::Ok { op, value, at_ms });
            }
            let before = self.reads.remove(&rs.ctx).unwrap_or(0);
            self.stats.reads += 1;
            self.answered_reads.push((id, rs.ctx, rs.index));
            if rs.index < before {
                return Err(self.fail(Violation::StaleRead {
                    node: id,
                    term: status.term,
                    served: rs.index,
                    committed_before: before,
                }));
            }
        }
        for ctx in &rd.dropped_reads {
            self.reads.remove(ctx);
            if let Some((op, _)) = self.nodes[i].client_reads.remove(ctx) {
                let at_ms = self.now_ms;
                self.history.push(ClientEvent::Fail { op, at_ms });
            }
        }
        // Election safety and leader completeness on every new leadership.
        for rc in &rd.role_changes {
            self.trace(|| {
                format!(
                    "node {id}: {} in term {} (leader {:?})",
                    rc.role.name(),
                    rc.term,
                    rc.leader
                )
            });
            self.stats.max_term = self.stats.max_term.max(rc.term);
            if rc.role == Role::Candidate {
                let c = self.candidates.entry(rc.term).or_default();
                c.insert(id);
                if c.len() == 2 {
                    self.stats.split_terms += 1;
                }
            }
            if rc.role != Role::Leader {
                continue;
            }
            match self.leaders.get(&rc.term) {
                Some(&other) if other != id => {
                    return Err(self.fail(Violation::ElectionSafety {
                        term: rc.term,
                        leaders: (other, id),
                    }));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(rc.term, id);
                    self.stats.leaders += 1;
                    if self.chaos && self.rng.gen_bool(self.opts.fresh_leader_kill) {
                        let at = self.now_ms + self.rng.gen_range(1..=20);
                        self.crashes_due.push((at, id));
                    }
                }
            }
            let Some(r) = self.nodes[i].raft.as_ref() else {
                continue;
            };
            let log = r.log();
            let offset = log.offset().index;
            for (&index, &at) in self.applied_at.range(offset + 1..) {
                let has = log.term(index);
                if has != Some(at.term) {
                    return Err(self.fail(Violation::LeaderCompleteness {
                        node: id,
                        term: rc.term,
                        missing: at,
                        has,
                    }));
                }
            }
        }
        // Compaction, as the server would do it.
        let node = &mut self.nodes[i];
        if self.opts.compact_every > 0 {
            if let Some(r) = node.raft.as_mut() {
                let offset = r.log().offset().index;
                if node.applied >= offset + self.opts.compact_every {
                    let data = encode_sm(&node.sm);
                    if let Some(term) = r.log().term(node.applied) {
                        let snap = Snapshot {
                            last: LogId {
                                term,
                                index: node.applied,
                            },
                            data: data.clone(),
                        };
                        // Durable first, then tell the core (saving a
                        // snapshot flushes the WAL's buffer, even with
                        // no-fsync).
                        if self.opts.bugs.has(Bug::NoFsync) {
                            node.disk = node.wal.clone();
                        }
                        node.disk.entries.retain(|e| e.index > snap.last.index);
                        node.disk.snapshot = Some(snap);
                        node.wal.entries.retain(|e| e.index > node.applied);
                        node.wal.snapshot = node.disk.snapshot.clone();
                        let applied = node.applied;
                        r.compact(applied, data).map_err(|e| SimFailure {
                            seed: self.opts.seed,
                            at_ms: self.now_ms,
                            violation: Violation::Contract {
                                node: id,
                                why: e.to_string(),
                            },
                        })?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn brief(b: &Body) -> String {
    match b {
        Body::AppendEntries {
            prev,
            entries,
            commit,
        } => format!(
            "AppendEntries prev {}@{} n={} commit {}",
            prev.index,
            prev.term,
            entries.len(),
            commit
        ),
        Body::InstallSnapshot { snapshot } => format!("InstallSnapshot {:?}", snapshot.last),
        other => format!("{other:?}"),
    }
}

fn encode_sm(sm: &BTreeMap<u64, u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(sm.len() * 16);
    for (k, v) in sm {
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn decode_sm(data: &[u8]) -> BTreeMap<u64, u64> {
    data.chunks_exact(16)
        .map(|c| {
            let mut k = [0u8; 8];
            let mut v = [0u8; 8];
            k.copy_from_slice(&c[..8]);
            v.copy_from_slice(&c[8..]);
            (u64::from_le_bytes(k), u64::from_le_bytes(v))
        })
        .collect()
}

/// Run `count` random seeds starting at `first` with `bugs`; return the first
/// failure, or the number of seeds run and their summed counters.
pub fn run_seeds(first: u64, count: u64, bugs: &Bugs) -> Result<(u64, SimStats), SimFailure> {
    let mut total = SimStats::default();
    for seed in first..first + count {
        let s = Sim::new(SimOptions::random(seed, bugs.clone())).run()?;
        total.leaders += s.leaders;
        total.max_term = total.max_term.max(s.max_term);
        total.committed += s.committed;
        total.proposals += s.proposals;
        total.reads += s.reads;
        total.delivered += s.delivered;
        total.crashes += s.crashes;
        total.snapshots_installed += s.snapshots_installed;
        total.split_terms += s.split_terms;
        total.sim_ms += s.sim_ms;
        total.faults.add(&s.faults);
    }
    Ok((count, total))
}

/// The ids of the other nodes.
pub fn others(ids: &[NodeId], not: &[NodeId]) -> Vec<NodeId> {
    ids.iter()
        .copied()
        .filter(|i| !not.contains(i))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The nodes of `due` (time in ms, node) whose time has come, in order;
/// they leave the list.
fn take_due(due: &mut Vec<(u64, NodeId)>, now: u64) -> Vec<NodeId> {
    let ready = due
        .iter()
        .filter(|(t, _)| *t <= now)
        .map(|&(_, id)| id)
        .collect();
    due.retain(|(t, _)| *t > now);
    ready
}
