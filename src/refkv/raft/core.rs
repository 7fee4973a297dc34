//! [`RaftNode`]: the Raft state machine of one member (see the module docs of
//! [`crate::refkv::raft`] for the server's obligations).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::log::RaftLog;
use super::messages::{
    Body, Conflict, Entry, HardState, Index, LogId, Message, NodeId, Payload, ReadCtx, Snapshot,
    Term,
};
use crate::refkv::bugs::{Bug, Bugs};

/// How one node runs the protocol. All members should use the same timeouts.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every voting member, this node included.
    pub voters: Vec<NodeId>,
    /// The minimum election timeout; each timeout is drawn uniformly from
    /// `[election_timeout, 2 * election_timeout)`. Also the check-quorum
    /// window and the leader-stickiness window.
    pub election_timeout: Duration,
    /// How often a leader sends heartbeats (and retransmits stalled appends).
    pub heartbeat_interval: Duration,
    /// Ask for pre-votes before incrementing the term, so a node that was
    /// partitioned away cannot disrupt a working leader when it rejoins.
    pub pre_vote: bool,
    /// A leader that has not heard from a majority within an election timeout
    /// steps down; followers that heard from a leader within an election
    /// timeout refuse to vote (leader stickiness).
    pub check_quorum: bool,
    /// At most this many entries per AppendEntries.
    pub max_entries_per_message: usize,
    /// About this many bytes of entries per AppendEntries (at least one entry).
    pub max_bytes_per_message: usize,
    /// At most this many unacknowledged AppendEntries in flight per follower.
    pub max_inflight_messages: usize,
    /// Seed of the node's RNG (election timeouts). Use a different seed per
    /// node and per process start.
    pub seed: u64,
    /// The switchable bugs (only `commit-old-term`, `vote-twice` and
    /// `lease-read` change the core; the others are the server's).
    pub bugs: Bugs,
}

impl Config {
    /// A configuration with refkv's defaults: 300 ms election timeout, 50 ms
    /// heartbeats, pre-vote and check-quorum on, 256 entries / 1 MiB per
    /// message, 64 messages in flight.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        Config {
            id,
            voters,
            election_timeout: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
            pre_vote: true,
            check_quorum: true,
            max_entries_per_message: 256,
            max_bytes_per_message: 1 << 20,
            max_inflight_messages: 64,
            seed: id,
            bugs: Bugs::none(),
        }
    }

    fn validate(&self) -> Result<(), RaftError> {
        let bad = |why: String| Err(RaftError::InvalidConfig { id: self.id, why });
        if !self.voters.contains(&self.id) {
            return bad(format!(
                "voters {:?} do not include the node itself",
                self.voters
            ));
        }
        let mut v = self.voters.clone();
        v.sort_unstable();
        v.dedup();
        if v.len() != self.voters.len() {
            return bad(format!("voters {:?} contain duplicates", self.voters));
        }
        if self.heartbeat_interval.is_zero() || self.election_timeout <= self.heartbeat_interval {
            return bad(format!(
                "election timeout {:?} must exceed the heartbeat interval {:?} (> 0)",
                self.election_timeout, self.heartbeat_interval
            ));
        }
        if self.max_entries_per_message == 0 || self.max_inflight_messages == 0 {
            return bad("max_entries_per_message and max_inflight_messages must be > 0".into());
        }
        Ok(())
    }
}

/// Errors building or driving a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaftError {
    /// The configuration is unusable.
    #[error("raft node {id}: invalid configuration: {why}")]
    InvalidConfig {
        /// The node.
        id: NodeId,
        /// What is wrong.
        why: String,
    },
    /// The persisted state handed to [`RaftNode::restart`] is inconsistent.
    #[error("raft node {id}: inconsistent persisted state: {why}")]
    InvalidPersisted {
        /// The node.
        id: NodeId,
        /// What is wrong.
        why: String,
    },
    /// [`RaftNode::compact`] was asked for an index it cannot compact to.
    #[error("raft node {id}: cannot compact to index {index}: {why}")]
    Compact {
        /// The node.
        id: NodeId,
        /// The requested index.
        index: Index,
        /// Why not.
        why: String,
    },
}

/// The node is not the leader: the operation definitely did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not the leader (leader: {leader_hint:?})")]
pub struct NotLeader {
    /// The leader this node knows of, if any (to redirect the client).
    pub leader_hint: Option<NodeId>,
}

/// What a node is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Following a leader (or waiting for one).
    Follower,
    /// Asking for pre-votes, without having changed its term.
    PreCandidate,
    /// Asking for votes in a new term.
    Candidate,
    /// Leading its term.
    Leader,
}

impl Role {
    /// The role's name for `/status` and logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// A change of role, term or known leader, for the node's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    /// The term after the change.
    pub term: Term,
    /// The role after the change.
    pub role: Role,
    /// The known leader after the change.
    pub leader: Option<NodeId>,
}

/// A linearizable read that may now be served: once the state machine has
/// applied up to `index`, reading it is linearizable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadState {
    /// The caller's identifier from [`RaftNode::read_index`].
    pub ctx: ReadCtx,
    /// The commit index the read must wait for.
    pub index: Index,
}

/// What the server restarts a node from: exactly what was durable.
#[derive(Debug, Clone, Default)]
pub struct Persisted {
    /// The last persisted hard state (default: term 0, no vote).
    pub hard_state: HardState,
    /// The last persisted snapshot, if any (the server restores its state
    /// machine from it itself).
    pub snapshot: Option<Snapshot>,
    /// The persisted log entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

/// A batch of work for the server; see the module docs of
/// [`crate::refkv::raft`] for the order in which to do it.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    /// Persist this hard state (before sending `messages`).
    pub hard_state: Option<HardState>,
    /// Persist this snapshot received from the leader (before sending
    /// `messages`); entries up to its last index may then be deleted.
    pub snapshot: Option<Snapshot>,
    /// The state machine must be replaced by `snapshot.data` before applying
    /// `committed`.
    pub restore_snapshot: bool,
    /// Delete persisted entries with index `>=` this (before appending).
    pub truncate_from: Option<Index>,
    /// Append these entries durably (before sending `messages`).
    pub entries: Vec<Entry>,
    /// Send these, only after everything above is durable.
    pub messages: Vec<Message>,
    /// Apply these to the state machine, in order (no-ops included, to skip).
    pub committed: Vec<Entry>,
    /// Reads that may be answered once applied up to their index.
    pub read_states: Vec<ReadState>,
    /// Reads that will never be confirmed (leadership lost): answer "not
    /// leader" (definite).
    pub dropped_reads: Vec<ReadCtx>,
    /// Role, term and leader changes since the last `Ready`, for the log.
    pub role_changes: Vec<RoleChange>,
}

impl Ready {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.committed.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
            && self.role_changes.is_empty()
    }

    /// Whether steps 1–4 (storage) have anything to persist.
    pub fn must_persist(&self) -> bool {
        self.hard_state.is_some()
            || self.snapshot.is_some()
            || self.truncate_from.is_some()
            || !self.entries.is_empty()
    }
}

/// A node's externally visible state, for `/status` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// Whom it voted for in `term`.
    pub vote: Option<NodeId>,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Its commit index.
    pub commit_index: Index,
    /// The last index handed out in `Ready::committed` (or restored).
    pub applied_index: Index,
    /// Its last log entry.
    pub last: LogId,
    /// The last entry covered by its snapshot.
    pub snapshot: LogId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressState {
    /// Unknown match: one AppendEntries at a time, retried on heartbeats.
    Probe,
    /// Known match: pipeline AppendEntries.
    Replicate,
    /// An InstallSnapshot is on its way.
    Snapshot,
}

#[derive(Debug, Clone)]
struct Progress {
    match_index: Index,
    next_index: Index,
    state: ProgressState,
    /// Probe: a probe is outstanding.
    paused: bool,
    /// Last index of each AppendEntries in flight (Replicate).
    inflight: VecDeque<Index>,
    /// When the follower last answered anything in this term.
    last_heard: Duration,
    /// When `match_index` last advanced or the last probe/snapshot was sent.
    last_progress: Duration,
    /// The highest read round the follower acknowledged.
    read_acked: u64,
}

struct PendingRead {
    ctx: ReadCtx,
    seq: Option<u64>,
}

/// The Raft state machine of one member. Inputs: [`tick`](Self::tick),
/// [`step`](Self::step), [`propose`](Self::propose),
/// [`read_index`](Self::read_index), [`compact`](Self::compact); output:
/// [`take_ready`](Self::take_ready). Deterministic given its inputs and seed.
pub struct RaftNode {
    cfg: Config,
    rng: ChaCha8Rng,
    term: Term,
    vote: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: RaftLog,
    snapshot: Option<Snapshot>,
    commit: Index,
    applied: Index,
    now: Duration,
    wall_now: Duration,
    election_deadline: Duration,
    heartbeat_due: Duration,
    leader_contact: Option<Duration>,
    votes: BTreeMap<NodeId, bool>,
    progress: BTreeMap<NodeId, Progress>,
    became_leader_at: Duration,
    noop_index: Index,
    replicate_dirty: bool,
    read_seq: u64,
    pending_reads: Vec<PendingRead>,
    /// `lease-read` bug only: wall time each read round was sent.
    round_wall: VecDeque<(u64, Duration)>,
    /// `lease-read` bug only: the wall-clock end of the leader's lease.
    lease_until_wall: Option<Duration>,
    // Output not yet taken.
    persisted_hs: HardState,
    unstable_from: Index,
    truncate_from: Option<Index>,
    out_snapshot: Option<Snapshot>,
    restore: bool,
    msgs: Vec<Message>,
    read_states: Vec<ReadState>,
    dropped_reads: Vec<ReadCtx>,
    role_changes: Vec<RoleChange>,
}

impl RaftNode {
    /// A brand-new member with an empty log, at monotonic time zero.
    pub fn new(cfg: Config) -> Result<Self, RaftError> {
        Self::restart(cfg, Persisted::default(), Duration::ZERO)
    }

    /// A member restarted from exactly what was durable, at monotonic time
    /// `now`. It starts as a follower; its commit and applied index start at
    /// the snapshot's last index (the server restores its state machine from
    /// `persisted.snapshot` itself).
    pub fn restart(cfg: Config, persisted: Persisted, now: Duration) -> Result<Self, RaftError> {
        cfg.validate()?;
        let id = cfg.id;
        let offset = persisted
            .snapshot
            .as_ref()
            .map(|s| s.last)
            .unwrap_or_default();
        for (i, e) in persisted.entries.iter().enumerate() {
            if e.index != offset.index + 1 + i as Index {
                return Err(RaftError::InvalidPersisted {
                    id,
                    why: format!(
                        "entry #{i} has index {} but the log after snapshot {} must be contiguous",
                        e.index, offset.index
                    ),
                });
            }
            if e.term > persisted.hard_state.term {
                return Err(RaftError::InvalidPersisted {
                    id,
                    why: format!(
                        "entry {} has term {} above the persisted term {}",
                        e.index, e.term, persisted.hard_state.term
                    ),
                });
            }
        }
        let log = RaftLog::new(offset, persisted.entries);
        let mut node = RaftNode {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            term: persisted.hard_state.term,
            vote: persisted.hard_state.vote,
            role: Role::Follower,
            leader: None,
            unstable_from: log.last_index() + 1,
            log,
            snapshot: persisted.snapshot,
            commit: offset.index,
            applied: offset.index,
            now,
            wall_now: Duration::ZERO,
            election_deadline: now,
            heartbeat_due: now,
            leader_contact: None,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            became_leader_at: now,
            noop_index: 0,
            replicate_dirty: false,
            read_seq: 0,
            pending_reads: Vec::new(),
            round_wall: VecDeque::new(),
            lease_until_wall: None,
            persisted_hs: persisted.hard_state,
            truncate_from: None,
            out_snapshot: None,
            restore: false,
            msgs: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            role_changes: Vec::new(),
            cfg,
        };
        node.reset_election_timer();
        Ok(node)
    }

    // ----- inputs -------------------------------------------------------

    /// Advance the node's monotonic clock to `now` (never backwards; earlier
    /// values are ignored) and fire whatever timers expired: elections for
    /// followers and candidates; heartbeats, retransmissions and check-quorum
    /// for a leader. Call it every few milliseconds.
    pub fn tick(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => {
                if self.now >= self.election_deadline {
                    self.campaign();
                } else if self.role == Role::Candidate && self.now >= self.heartbeat_due {
                    // Vote requests may be lost: ask the silent voters again.
                    self.heartbeat_due = self.now + self.cfg.heartbeat_interval;
                    let last = self.log.last();
                    let silent: Vec<NodeId> = self
                        .peers()
                        .filter(|p| !self.votes.contains_key(p))
                        .collect();
                    for p in silent {
                        self.send(p, Body::RequestVote { last });
                    }
                }
            }
        }
    }

    /// Tell the node the wall-clock time (e.g. since the Unix epoch). The
    /// correct build never uses it; only the `lease-read` bug times its lease
    /// with it, which is what makes that bug unsafe under clock skew. The
    /// server should call it with every tick so the bug can be switched on.
    pub fn observe_wall_clock(&mut self, wall_now: Duration) {
        self.wall_now = wall_now;
    }

    /// Handle one message from a peer. Messages to another node, from
    /// non-members or from stale terms are ignored or answered as Raft says;
    /// duplicates and reordering are harmless.
    pub fn step(&mut self, m: Message) {
        if m.to != self.cfg.id || m.from == self.cfg.id || !self.cfg.voters.contains(&m.from) {
            return;
        }
        if m.term > self.term {
            match &m.body {
                Body::PreVote { .. } => {}
                Body::PreVoteResponse { granted: true } => {}
                Body::RequestVote { .. } => {
                    if self.in_lease() {
                        // Leader stickiness: a live leader exists; ignore.
                        return;
                    }
                    self.become_follower(m.term, None);
                }
                Body::AppendEntries { .. }
                | Body::Heartbeat { .. }
                | Body::InstallSnapshot { .. } => {
                    self.become_follower(m.term, Some(m.from));
                }
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term {
            match &m.body {
                Body::AppendEntries { .. }
                | Body::Heartbeat { .. }
                | Body::InstallSnapshot { .. } => {
                    // Tell the stale leader about the newer term.
                    self.send(m.from, Body::HeartbeatResponse { read_seq: 0 });
                }
                Body::PreVote { .. } => self.send(m.from, Body::PreVoteResponse { granted: false }),
                Body::RequestVote { .. } => {
                    self.send(m.from, Body::RequestVoteResponse { granted: false })
                }
                _ => {}
            }
            return;
        }

        match m.body {
            Body::PreVote { last } => {
                let granted =
                    m.term > self.term && !self.in_lease() && self.log.is_up_to_date(last);
                let term = if granted { m.term } else { self.term };
                self.msgs.push(Message {
                    from: self.cfg.id,
                    to: m.from,
                    term,
                    body: Body::PreVoteResponse { granted },
                });
            }
            Body::PreVoteResponse { granted } => {
                if self.role == Role::PreCandidate && m.term == self.term + 1 {
                    self.votes.insert(m.from, granted);
                    self.count_votes();
                }
            }
            Body::RequestVote { last } => {
                let can_vote =
                    self.vote == Some(m.from) || (self.vote.is_none() && self.leader.is_none());
                let granted = can_vote && self.log.is_up_to_date(last);
                if granted {
                    self.vote = Some(m.from);
                    self.reset_election_timer();
                }
                self.send(m.from, Body::RequestVoteResponse { granted });
            }
            Body::RequestVoteResponse { granted } => {
                if self.role == Role::Candidate {
                    self.votes.insert(m.from, granted);
                    self.count_votes();
                }
            }
            Body::AppendEntries {
                prev,
                entries,
                commit,
            } => {
                self.follow(m.from);
                self.handle_append(m.from, prev, entries, commit);
            }
            Body::Heartbeat { commit, read_seq } => {
                self.follow(m.from);
                let c = commit.min(self.log.last_index());
                if c > self.commit {
                    self.commit = c;
                }
                self.send(m.from, Body::HeartbeatResponse { read_seq });
            }
            Body::InstallSnapshot { snapshot } => {
                self.follow(m.from);
                self.handle_snapshot(m.from, snapshot);
            }
            Body::AppendEntriesResponse { result, rejected } => {
                if self.role == Role::Leader {
                    self.handle_append_response(m.from, result, rejected);
                }
            }
            Body::HeartbeatResponse { read_seq } => {
                if self.role == Role::Leader {
                    if let Some(pr) = self.progress.get_mut(&m.from) {
                        pr.last_heard = self.now;
                        pr.read_acked = pr.read_acked.max(read_seq);
                        let behind = pr.match_index < self.log.last_index();
                        let state = pr.state;
                        if behind && state == ProgressState::Replicate && pr.inflight.is_empty() {
                            self.send_append(m.from);
                        }
                    }
                    self.release_reads();
                }
            }
            Body::InstallSnapshotResponse { match_index } => {
                if self.role == Role::Leader {
                    if let Some(pr) = self.progress.get_mut(&m.from) {
                        pr.last_heard = self.now;
                        if match_index > pr.match_index {
                            pr.match_index = match_index;
                            pr.last_progress = self.now;
                        }
                        pr.next_index = pr.match_index + 1;
                        pr.state = ProgressState::Probe;
                        pr.paused = false;
                        pr.inflight.clear();
                        self.send_append(m.from);
                        self.maybe_commit();
                    }
                }
            }
        }
    }

    /// Append a client command to the leader's log. Returns its position; the
    /// command took effect iff an entry with that exact [`LogId`] is later
    /// applied (another term at that index means it never will). Many
    /// proposals between two `take_ready` calls go out in one batch.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<LogId, NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader_hint: self.leader,
            });
        }
        Ok(self.append_local(Payload::Data(data)))
    }

    /// Ask for a linearizable read. On a leader, the read is confirmed by a
    /// heartbeat round to a majority (and after the leader committed an entry
    /// of its term); it then shows up in [`Ready::read_states`] with the index
    /// the state machine must reach before the read is served. Reads issued
    /// between two `take_ready` calls share one round. If leadership is lost
    /// first, the read appears in [`Ready::dropped_reads`].
    pub fn read_index(&mut self, ctx: ReadCtx) -> Result<(), NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.cfg.bugs.has(Bug::LeaseRead) && self.lease_valid() && self.commit >= self.noop_index
        {
            // The bug: trust a wall-clock lease instead of a quorum round.
            self.read_states.push(ReadState {
                ctx,
                index: self.commit,
            });
            return Ok(());
        }
        self.pending_reads.push(PendingRead { ctx, seq: None });
        Ok(())
    }

    /// Compact the log up to `index`, which the state machine has applied and
    /// whose snapshot `data` the server has **already made durable**. The
    /// snapshot is kept to send to followers that need compacted entries.
    /// Afterwards the server may delete its log entries up to `index`.
    pub fn compact(&mut self, index: Index, data: Vec<u8>) -> Result<(), RaftError> {
        let err = |why: &str| RaftError::Compact {
            id: self.cfg.id,
            index,
            why: why.to_string(),
        };
        if index > self.applied {
            return Err(err(&format!("not applied yet (applied {})", self.applied)));
        }
        if index <= self.log.offset().index {
            return Err(err(&format!(
                "already compacted to {}",
                self.log.offset().index
            )));
        }
        let Some(term) = self.log.term(index) else {
            return Err(err("not in the log"));
        };
        let last = LogId { term, index };
        self.log.compact(last);
        self.snapshot = Some(Snapshot { last, data });
        Ok(())
    }

    /// Take the pending work (see [`Ready`]); this also flushes batched
    /// replication and starts the read round for reads issued since the last
    /// call. The core assumes the server carries out the whole batch.
    pub fn take_ready(&mut self) -> Ready {
        if self.role == Role::Leader {
            if self.replicate_dirty {
                self.replicate_dirty = false;
                let peers: Vec<NodeId> = self.peers().collect();
                for p in peers {
                    self.send_append(p);
                }
            }
            self.maybe_commit();
            if self.pending_reads.iter().any(|r| r.seq.is_none()) {
                self.broadcast_heartbeat();
                let seq = self.read_seq;
                for r in self.pending_reads.iter_mut().filter(|r| r.seq.is_none()) {
                    r.seq = Some(seq);
                }
                self.release_reads();
            }
        }
        let hs = HardState {
            term: self.term,
            vote: if self.cfg.bugs.has(Bug::VoteTwice) {
                None
            } else {
                self.vote
            },
        };
        let hard_state = (hs != self.persisted_hs).then(|| {
            self.persisted_hs = hs;
            hs
        });
        let last = self.log.last_index();
        let from = self.unstable_from.max(self.log.first_index());
        let entries = if from <= last {
            self.log.slice(from, last, usize::MAX, usize::MAX)
        } else {
            Vec::new()
        };
        self.unstable_from = last + 1;
        let committed = if self.commit > self.applied {
            let c = self
                .log
                .slice(self.applied + 1, self.commit, usize::MAX, usize::MAX);
            self.applied = self.commit;
            c
        } else {
            Vec::new()
        };
        Ready {
            hard_state,
            snapshot: self.out_snapshot.take(),
            restore_snapshot: std::mem::take(&mut self.restore),
            truncate_from: self.truncate_from.take(),
            entries,
            messages: std::mem::take(&mut self.msgs),
            committed,
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
            role_changes: std::mem::take(&mut self.role_changes),
        }
    }

    // ----- accessors ----------------------------------------------------

    /// The node's externally visible state.
    pub fn status(&self) -> Status {
        Status {
            id: self.cfg.id,
            role: self.role,
            term: self.term,
            vote: self.vote,
            leader: self.leader,
            commit_index: self.commit,
            applied_index: self.applied,
            last: self.log.last(),
            snapshot: self.log.offset(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Its current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The leader it knows of (itself when leading).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Its commit index.
    pub fn commit_index(&self) -> Index {
        self.commit
    }

    /// Its in-memory log (for tests and diagnostics).
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// The latest snapshot it holds.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The node's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ----- roles --------------------------------------------------------

    fn quorum(&self) -> usize {
        self.cfg.voters.len() / 2 + 1
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.cfg.id;
        self.cfg.voters.iter().copied().filter(move |&v| v != me)
    }

    fn reset_election_timer(&mut self) {
        let et = self.cfg.election_timeout.as_nanos() as u64;
        let jitter = self.rng.gen_range(0..et.max(1));
        self.election_deadline =
            self.now + self.cfg.election_timeout + Duration::from_nanos(jitter);
    }

    /// Whether this node believes a leader is alive (check-quorum only): then
    /// it refuses to help elect another one.
    fn in_lease(&self) -> bool {
        if !self.cfg.check_quorum {
            return false;
        }
        match self.role {
            Role::Leader => true,
            _ => match (self.leader, self.leader_contact) {
                (Some(_), Some(t)) => self.now < t + self.cfg.election_timeout,
                _ => false,
            },
        }
    }

    fn note_role(&mut self) {
        let rc = RoleChange {
            term: self.term,
            role: self.role,
            leader: self.leader,
        };
        if self.role_changes.last() != Some(&rc) {
            self.role_changes.push(rc);
        }
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        let changed = term != self.term || self.role != Role::Follower || leader != self.leader;
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role == Role::Leader {
            self.step_down_cleanup();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_timer();
        if changed {
            self.note_role();
        }
    }

    fn step_down_cleanup(&mut self) {
        self.progress.clear();
        self.dropped_reads
            .extend(self.pending_reads.drain(..).map(|r| r.ctx));
        self.round_wall.clear();
        self.lease_until_wall = None;
        self.replicate_dirty = false;
    }

    /// A valid message from the leader of our term.
    fn follow(&mut self, leader: NodeId) {
        if self.role != Role::Follower || self.leader != Some(leader) {
            self.become_follower(self.term, Some(leader));
        }
        self.leader_contact = Some(self.now);
        self.reset_election_timer();
    }

    fn campaign(&mut self) {
        if self.cfg.pre_vote {
            self.role = Role::PreCandidate;
            self.leader = None;
            self.votes.clear();
            self.votes.insert(self.cfg.id, true);
            self.reset_election_timer();
            self.note_role();
            let last = self.log.last();
            let term = self.term + 1;
            let peers: Vec<NodeId> = self.peers().collect();
            for p in peers {
                self.msgs.push(Message {
                    from: self.cfg.id,
                    to: p,
                    term,
                    body: Body::PreVote { last },
                });
            }
            self.count_votes();
        } else {
            self.start_election();
        }
    }

    fn start_election(&mut self) {
        self.term += 1;
        self.vote = Some(self.cfg.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.cfg.id, true);
        self.reset_election_timer();
        self.heartbeat_due = self.now + self.cfg.heartbeat_interval;
        self.note_role();
        let last = self.log.last();
        let peers: Vec<NodeId> = self.peers().collect();
        for p in peers {
            self.send(p, Body::RequestVote { last });
        }
        self.count_votes();
    }

    fn count_votes(&mut self) {
        let yes = self.votes.values().filter(|&&g| g).count();
        let no = self.votes.values().filter(|&&g| !g).count();
        let q = self.quorum();
        if yes >= q {
            match self.role {
                Role::PreCandidate => self.start_election(),
                Role::Candidate => self.become_leader(),
                _ => {}
            }
        } else if no >= q {
            self.become_follower(self.term, None);
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        self.votes.clear();
        self.became_leader_at = self.now;
        self.heartbeat_due = self.now + self.cfg.heartbeat_interval;
        let next = self.log.last_index() + 1;
        let now = self.now;
        self.progress = self
            .peers()
            .map(|p| {
                (
                    p,
                    Progress {
                        match_index: 0,
                        next_index: next,
                        state: ProgressState::Probe,
                        paused: false,
                        inflight: VecDeque::new(),
                        last_heard: now,
                        last_progress: now,
                        read_acked: 0,
                    },
                )
            })
            .collect();
        self.note_role();
        self.noop_index = self.append_local(Payload::Noop).index;
    }

    fn append_local(&mut self, payload: Payload) -> LogId {
        let id = LogId {
            term: self.term,
            index: self.log.last_index() + 1,
        };
        self.log.push(Entry {
            term: id.term,
            index: id.index,
            payload,
        });
        self.replicate_dirty = true;
        id
    }

    // ----- leader -------------------------------------------------------

    fn tick_leader(&mut self) {
        if self.cfg.check_quorum && self.now >= self.became_leader_at + self.cfg.election_timeout {
            let window = self.cfg.election_timeout;
            let now = self.now;
            let active = 1 + self
                .progress
                .values()
                .filter(|p| now < p.last_heard + window)
                .count();
            if active < self.quorum() && !(self.cfg.bugs.has(Bug::LeaseRead) && self.lease_valid())
            {
                self.become_follower(self.term, None);
                return;
            }
        }
        if self.now >= self.heartbeat_due {
            self.heartbeat_due = self.now + self.cfg.heartbeat_interval;
            self.broadcast_heartbeat();
            // Retransmit what seems lost.
            let et = self.cfg.election_timeout;
            let last = self.log.last_index();
            let now = self.now;
            let mut resend = Vec::new();
            for (&p, pr) in self.progress.iter_mut() {
                // No ack for a whole election timeout: something was lost.
                let stalled = now >= pr.last_progress + et;
                match pr.state {
                    ProgressState::Probe => {
                        if pr.match_index < last || pr.paused {
                            pr.paused = false;
                            resend.push(p);
                        }
                    }
                    ProgressState::Replicate => {
                        if stalled && pr.match_index < last && !pr.inflight.is_empty() {
                            pr.state = ProgressState::Probe;
                            pr.next_index = pr.match_index + 1;
                            pr.inflight.clear();
                            pr.paused = false;
                            resend.push(p);
                        }
                    }
                    ProgressState::Snapshot => {
                        if now >= pr.last_progress + et {
                            pr.state = ProgressState::Probe;
                            pr.next_index = pr.match_index + 1;
                            pr.paused = false;
                            resend.push(p);
                        }
                    }
                }
            }
            for p in resend {
                self.send_append(p);
            }
        }
    }

    fn broadcast_heartbeat(&mut self) {
        self.read_seq += 1;
        if self.cfg.bugs.has(Bug::LeaseRead) {
            self.round_wall.push_back((self.read_seq, self.wall_now));
            while self.round_wall.len() > 64 {
                self.round_wall.pop_front();
            }
        }
        let peers: Vec<(NodeId, Index)> = self
            .progress
            .iter()
            .map(|(&p, pr)| (p, pr.match_index))
            .collect();
        for (p, m) in peers {
            self.send(
                p,
                Body::Heartbeat {
                    commit: self.commit.min(m),
                    read_seq: self.read_seq,
                },
            );
        }
    }

    /// Send what `to` needs: one probe, one snapshot, or (when replicating)
    /// as many AppendEntries as the in-flight window allows.
    fn send_append(&mut self, to: NodeId) {
        while self.send_one_append(to) {}
    }

    /// Send one message to `to`; true if more may follow at once (pipelining).
    fn send_one_append(&mut self, to: NodeId) -> bool {
        let max_n = self.cfg.max_entries_per_message;
        let max_b = self.cfg.max_bytes_per_message;
        let max_inflight = self.cfg.max_inflight_messages;
        let last = self.log.last_index();
        let commit = self.commit;
        let now = self.now;
        let Some(pr) = self.progress.get_mut(&to) else {
            return false;
        };
        match pr.state {
            ProgressState::Snapshot => return false,
            ProgressState::Probe if pr.paused => return false,
            ProgressState::Replicate if pr.inflight.len() >= max_inflight => return false,
            ProgressState::Replicate if pr.next_index > last => return false,
            _ => {}
        }
        let prev_index = pr.next_index - 1;
        let Some(prev_term) = self.log.term(prev_index) else {
            // Compacted: the follower needs the snapshot.
            if let Some(s) = &self.snapshot {
                pr.state = ProgressState::Snapshot;
                pr.last_progress = now;
                pr.inflight.clear();
                let snapshot = s.clone();
                self.send(to, Body::InstallSnapshot { snapshot });
            }
            return false;
        };
        let entries = self.log.slice(pr.next_index, last, max_n, max_b);
        let sent_last = prev_index + entries.len() as Index;
        let more = match pr.state {
            ProgressState::Replicate => {
                pr.next_index = sent_last + 1;
                pr.inflight.push_back(sent_last);
                true
            }
            _ => {
                pr.paused = true;
                pr.last_progress = now;
                false
            }
        };
        self.send(
            to,
            Body::AppendEntries {
                prev: LogId {
                    term: prev_term,
                    index: prev_index,
                },
                entries,
                commit,
            },
        );
        more
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        result: Result<Index, Conflict>,
        rejected: Index,
    ) {
        let now = self.now;
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.last_heard = now;
        match result {
            Ok(m) => {
                while pr.inflight.front().is_some_and(|&i| i <= m) {
                    pr.inflight.pop_front();
                }
                if m > pr.match_index {
                    pr.match_index = m;
                    pr.last_progress = now;
                }
                pr.next_index = pr.next_index.max(m + 1);
                if pr.state == ProgressState::Probe {
                    pr.state = ProgressState::Replicate;
                    pr.paused = false;
                    pr.inflight.clear();
                    pr.next_index = pr.match_index + 1;
                }
                self.maybe_commit();
                self.send_append(from);
            }
            Err(conflict) => {
                if rejected < pr.match_index {
                    return; // stale
                }
                if pr.state == ProgressState::Probe && rejected + 1 != pr.next_index {
                    return; // answer to an older probe
                }
                if pr.state == ProgressState::Snapshot {
                    return;
                }
                let mut next = match conflict.term {
                    Some(t) => match self.log.last_index_of_term(t) {
                        Some(i) if i < rejected => i + 1,
                        _ => conflict.first_index,
                    },
                    None => conflict.first_index,
                };
                next = next.min(rejected).max(pr.match_index + 1);
                pr.next_index = next;
                pr.state = ProgressState::Probe;
                pr.paused = false;
                pr.inflight.clear();
                self.send_append(from);
            }
        }
    }

    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matches: Vec<Index> = self.progress.values().map(|p| p.match_index).collect();
        matches.push(self.log.last_index());
        matches.sort_unstable_by(|a, b| b.cmp(a));
        let n = matches[self.quorum() - 1];
        if n > self.commit {
            let current = self.log.term(n) == Some(self.term);
            if current || self.cfg.bugs.has(Bug::CommitOldTerm) {
                self.commit = n;
                self.release_reads();
            }
        }
    }

    /// The highest read round a majority acknowledged (self included).
    fn confirmed_read_seq(&self) -> u64 {
        let mut acked: Vec<u64> = self.progress.values().map(|p| p.read_acked).collect();
        acked.push(self.read_seq);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked[self.quorum() - 1]
    }

    fn release_reads(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let confirmed = self.confirmed_read_seq();
        if self.cfg.bugs.has(Bug::LeaseRead) {
            // The bug: the lease runs from the round's send time on the wall clock.
            while let Some(&(seq, wall)) = self.round_wall.front() {
                if seq > confirmed {
                    break;
                }
                let until = wall + self.cfg.election_timeout;
                self.lease_until_wall = Some(self.lease_until_wall.map_or(until, |u| u.max(until)));
                self.round_wall.pop_front();
            }
        }
        if self.commit < self.noop_index || self.pending_reads.is_empty() {
            return;
        }
        let index = self.commit;
        let mut keep = Vec::new();
        for r in self.pending_reads.drain(..) {
            match r.seq {
                Some(s) if s <= confirmed => self.read_states.push(ReadState { ctx: r.ctx, index }),
                _ => keep.push(r),
            }
        }
        self.pending_reads = keep;
    }

    fn lease_valid(&self) -> bool {
        self.lease_until_wall.is_some_and(|u| self.wall_now < u)
    }

    // ----- follower -----------------------------------------------------

    fn handle_append(
        &mut self,
        leader: NodeId,
        prev: LogId,
        entries: Vec<Entry>,
        leader_commit: Index,
    ) {
        let contiguous = entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == prev.index + 1 + i as Index && e.term <= self.term);
        if !contiguous {
            return; // malformed: not from a correct leader; ignore
        }
        if prev.index < self.commit {
            // Our log up to `commit` matches any leader's; re-sync from there.
            let commit = self.commit;
            self.send(
                leader,
                Body::AppendEntriesResponse {
                    result: Ok(commit),
                    rejected: commit,
                },
            );
            return;
        }
        if !self.log.matches(prev) {
            let conflict = match self.log.term(prev.index) {
                Some(t) if prev.index <= self.log.last_index() => Conflict {
                    term: Some(t),
                    first_index: self
                        .log
                        .first_index_of_term(prev.index, t)
                        .max(self.commit + 1),
                },
                _ => Conflict {
                    term: None,
                    first_index: self.log.last_index() + 1,
                },
            };
            self.send(
                leader,
                Body::AppendEntriesResponse {
                    result: Err(conflict),
                    rejected: prev.index,
                },
            );
            return;
        }
        let match_index = prev.index + entries.len() as Index;
        for e in entries {
            match self.log.term(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    self.truncate(e.index);
                    self.log.push(e);
                }
                None => {
                    if e.index == self.log.last_index() + 1 {
                        self.log.push(e);
                    }
                }
            }
        }
        let c = leader_commit.min(match_index);
        if c > self.commit {
            self.commit = c;
        }
        self.send(
            leader,
            Body::AppendEntriesResponse {
                result: Ok(match_index),
                rejected: match_index,
            },
        );
    }

    fn truncate(&mut self, from: Index) {
        self.log.truncate(from);
        if from < self.unstable_from {
            self.truncate_from = Some(self.truncate_from.map_or(from, |t| t.min(from)));
            self.unstable_from = from;
        }
    }

    fn handle_snapshot(&mut self, leader: NodeId, snapshot: Snapshot) {
        let s = snapshot.last;
        if s.index <= self.commit {
            let commit = self.commit;
            self.send(
                leader,
                Body::InstallSnapshotResponse {
                    match_index: commit,
                },
            );
            return;
        }
        if self.log.matches(s) {
            // The entries after the snapshot point are kept (consistent with
            // it); whatever of them is unpersisted still is.
            self.unstable_from = self.unstable_from.max(s.index + 1);
        } else {
            // Everything persisted after the snapshot point belongs to
            // another history, and the log is now empty after it: whatever
            // is appended next (possibly in this very batch, and then
            // acknowledged) must reach the disk, so it is unstable from
            // there, however far the old log went.
            let from = s.index + 1;
            self.truncate_from = Some(self.truncate_from.map_or(from, |t| t.min(from)));
            self.unstable_from = from;
        }
        self.log.reset_to(s);
        self.commit = s.index;
        self.applied = s.index;
        self.snapshot = Some(snapshot.clone());
        self.out_snapshot = Some(snapshot);
        self.restore = true;
        self.send(
            leader,
            Body::InstallSnapshotResponse {
                match_index: s.index,
            },
        );
    }

    fn send(&mut self, to: NodeId, body: Body) {
        self.msgs.push(Message {
            from: self.cfg.id,
            to,
            term: self.term,
            body,
        });
    }
}
