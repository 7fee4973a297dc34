//! The Raft protocol core of refkv, without I/O: a deterministic state machine
//! ([`RaftNode`]) fed with clock ticks, peer messages, client proposals and
//! read requests, that answers with a [`Ready`] batch of work for the server:
//! state to persist, messages to send, committed entries to apply and reads
//! that may be answered. It never touches a disk, a socket or a clock, so the
//! simulator in [`sim`] runs whole clusters deterministically from one seed.
//!
//! Features: randomized election timeouts (from a seeded RNG), pre-vote,
//! check-quorum with leader stickiness, AppendEntries with fast conflict
//! backtracking and pipelining, the commit rule (only entries of the current
//! term are committed by counting replicas; a no-op opens each term), ReadIndex
//! reads confirmed by a heartbeat round, log compaction and InstallSnapshot.
//! The switchable bugs `commit-old-term`, `vote-twice` and `lease-read` live
//! here (see [`crate::refkv::bugs`]).
//!
//! ## The server's obligations (storage and network)
//!
//! Handle each [`Ready`] from [`RaftNode::take_ready`] in this order:
//!
//! 1. If `snapshot` is set: persist it durably; afterwards log entries up to
//!    `snapshot.last.index` may be deleted.
//! 2. If `truncate_from` is set: delete the persisted log entries with an
//!    index `>= truncate_from`.
//! 3. Append `entries` (contiguous, in order).
//! 4. If `hard_state` is set: persist it.
//! 5. **Make 1–4 durable (fsync)** — only then:
//! 6. send `messages` (in any order; the core tolerates loss, duplication and
//!    reordering);
//! 7. if `restore_snapshot`: replace the state machine with `snapshot.data`;
//!    then apply `committed` in order;
//! 8. answer each of `read_states` once the state machine has applied up to
//!    its `index`; answer `dropped_reads` with "not leader".
//!
//! Sending before step 5 is the `no-fsync` bug. On restart, build the node
//! with [`RaftNode::restart`] from exactly what was durable: the last hard
//! state, the last snapshot and the log entries after it. Before calling
//! [`RaftNode::compact`] the server must have made that snapshot durable.

//!
//! ## Testing
//!
//! `tests/raft_sim.rs` runs [`sim`] over many seeds (600 in release, 100 in
//! debug; `RAFT_SIM_SEEDS=N` for more; `RAFT_SIM_SEED=S RAFT_SIM_TRACE=1`
//! replays one seed with a trace) and asserts that every fault kind fired.
//! `tests/raft_history.rs` checks each seed's client history, answered by
//! the server's own waiter rules ([`crate::refkv::waiters`]), with faultline's
//! linearizability checker (600 seeds; 10,000 and the per-bug catch rate as
//! ignored tests). `tests/raft_bugs.rs` shows each core bug caught by an
//! invariant (explicit schedules plus random search) and plays the Figure 8
//! interleaving seen from a client; `tests/raft_core.rs` pins backtracking,
//! snapshots, pre-vote, check-quorum and ReadIndex.

mod core;
mod log;
mod messages;
pub mod sim;

pub use self::core::{
    Config, NotLeader, Persisted, RaftError, RaftNode, ReadState, Ready, Role, RoleChange, Status,
};
pub use self::log::RaftLog;
pub use self::messages::{
    Body, Conflict, Entry, HardState, Index, LogId, Message, NodeId, Payload, ReadCtx, Snapshot,
    Term,
};
