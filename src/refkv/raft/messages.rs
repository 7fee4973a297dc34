//! The data the Raft core exchanges with its peers and hands to storage: log
//! entries, the hard state, snapshots and the peer messages. Everything here is
//! `serde`-serializable so the transport and the write-ahead log can encode it
//! as they like (the core never encodes anything itself).

use serde::{Deserialize, Serialize};

/// A node's identity inside the Raft group. The server maps its member names
/// (`n1`, `n2`...) to these numbers; every member must use the same mapping.
pub type NodeId = u64;
/// A Raft term. Term 0 is the term before any election.
pub type Term = u64;
/// A log index. The first entry has index 1; index 0 is "before the log".
pub type Index = u64;
/// The caller's identifier of one linearizable read (see
/// [`RaftNode::read_index`](super::RaftNode::read_index)).
pub type ReadCtx = u64;

/// The position of one log entry: its term and index. Two logs that hold an
/// entry with the same `LogId` are identical up to that entry (log matching).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct LogId {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's index in the log.
    pub index: Index,
}

/// What a log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Payload {
    /// The entry each new leader appends to open its term; the state machine
    /// ignores it (it exists so that the leader can commit earlier entries).
    Noop,
    /// A client command, opaque to Raft.
    Data(Vec<u8>),
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's index.
    pub index: Index,
    /// What the entry carries.
    pub payload: Payload,
}

impl Entry {
    /// The entry's position.
    pub fn log_id(&self) -> LogId {
        LogId {
            term: self.term,
            index: self.index,
        }
    }

    /// Approximate encoded size, for batching limits.
    pub fn size(&self) -> usize {
        24 + match &self.payload {
            Payload::Noop => 0,
            Payload::Data(d) => d.len(),
        }
    }
}

/// The state a node must persist before it sends any message that depends on
/// it: its current term and whom it voted for in that term. Losing the vote
/// lets a node vote twice in a term (that is [`Bug::VoteTwice`](crate::refkv::bugs::Bug::VoteTwice)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term the node has seen.
    pub term: Term,
    /// The candidate the node voted for in `term`, if any.
    pub vote: Option<NodeId>,
}

/// A snapshot of the state machine up to and including `last`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last log entry the snapshot covers.
    pub last: LogId,
    /// The state machine's bytes, opaque to Raft.
    pub data: Vec<u8>,
}

/// A message between two nodes. `term` is the sender's current term, except
/// for pre-votes (see [`Body::PreVote`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The sender's term (for `PreVote`: the term it would campaign in; for a
    /// granted `PreVoteResponse`: the term of the pre-vote it answers).
    pub term: Term,
    /// What the message says.
    pub body: Body,
}

/// Why an `AppendEntries` was rejected: lets the leader skip a whole term of
/// mismatching entries per round trip instead of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The follower's term at the rejected `prev_log_index`, or `None` when
    /// its log is shorter than that.
    pub term: Option<Term>,
    /// The first index the follower holds with `term` (or, when `term` is
    /// `None`, its last index + 1).
    pub first_index: Index,
}

/// The kinds of Raft messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// "Would you vote for me in `term`?" — sent without changing the
    /// sender's own term, so a partitioned node cannot disrupt the cluster.
    PreVote {
        /// The candidate's last log entry.
        last: LogId,
    },
    /// Answer to a pre-vote.
    PreVoteResponse {
        /// Whether the vote would be granted.
        granted: bool,
    },
    /// "Vote for me in `term`."
    RequestVote {
        /// The candidate's last log entry.
        last: LogId,
    },
    /// Answer to a vote request.
    RequestVoteResponse {
        /// Whether the vote was granted (and persisted).
        granted: bool,
    },
    /// Replicate `entries` after `prev`, and learn the leader's commit index.
    AppendEntries {
        /// The entry just before `entries` in the leader's log.
        prev: LogId,
        /// The entries to append (may be empty for a probe).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: Index,
    },
    /// Answer to `AppendEntries`.
    AppendEntriesResponse {
        /// `Ok(match_index)`: the follower's log matches the leader's up to
        /// `match_index`. `Err(conflict)`: mismatch at `rejected`.
        result: Result<Index, Conflict>,
        /// The `prev.index` of the rejected request (lets the leader ignore
        /// stale rejections); equal to the match index on success.
        rejected: Index,
    },
    /// Leader liveness, commit propagation and ReadIndex confirmation.
    Heartbeat {
        /// `min(leader commit, follower's match index)`: safe to adopt.
        commit: Index,
        /// The leader's read round; echoed back to confirm leadership.
        read_seq: u64,
    },
    /// Answer to a heartbeat.
    HeartbeatResponse {
        /// The read round being confirmed.
        read_seq: u64,
    },
    /// The leader's snapshot, for a follower that needs compacted entries.
    InstallSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Answer to `InstallSnapshot`.
    InstallSnapshotResponse {
        /// The follower's log now matches up to here.
        match_index: Index,
    },
}

impl Body {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::PreVote { .. } => "PreVote",
            Body::PreVoteResponse { .. } => "PreVoteResponse",
            Body::RequestVote { .. } => "RequestVote",
            Body::RequestVoteResponse { .. } => "RequestVoteResponse",
            Body::AppendEntries { .. } => "AppendEntries",
            Body::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            Body::Heartbeat { .. } => "Heartbeat",
            Body::HeartbeatResponse { .. } => "HeartbeatResponse",
            Body::InstallSnapshot { .. } => "InstallSnapshot",
            Body::InstallSnapshotResponse { .. } => "InstallSnapshotResponse",
        }
    }
}
