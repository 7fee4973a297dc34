//! The switchable bugs of refkv: each [`Bug`] reintroduces one small, realistic
//! mistake that real Raft implementations have shipped, so that faultline can
//! prove it finds them. Without any bug ([`Bugs::none`]) the node is correct.
//!
//! Where each bug lives:
//!
//! - [`Bug::CommitOldTerm`] (Raft core): the leader advances its commit index by
//!   counting replicas of entries of earlier terms (the Raft paper's Figure 8).
//! - [`Bug::VoteTwice`] (Raft core): the vote is left out of the hard state the
//!   server must persist, so after a restart the node can vote again in the
//!   same term.
//! - [`Bug::LeaseRead`] (Raft core): the leader answers `read_index` at once
//!   while a lease timed by the *wall clock* is valid (and trusts that lease
//!   over check-quorum), unsafe under clock skew.
//! - [`Bug::StaleRead`] (server): a follower or deposed leader answers reads
//!   from its local state machine instead of going through `read_index`. Hook:
//!   the server's read path, before it calls
//!   [`RaftNode::read_index`](crate::refkv::raft::RaftNode::read_index).
//! - [`Bug::NoFsync`] (server): the server acknowledges (sends messages, answers
//!   clients) before the write-ahead log is durable. Hook: step 1 of handling a
//!   [`Ready`](crate::refkv::raft::Ready) (persist, then send).
//! - [`Bug::TxnSplit`] (server): a writing transaction is not proposed as one
//!   log entry. The leader evaluates its reads at once against its own state
//!   machine (which lags the log: entries proposed but not yet applied are
//!   not seen, and a deposed leader does not know it is one), and proposes
//!   its writes as one entry per key, as a naive "batch" of single-key
//!   writes would. Concurrent transactions then read states no serial order
//!   gives (list-append finds G-single / G2-item cycles and incompatible
//!   orders), and a leader change between the entries can commit some keys'
//!   writes and drop the others (the client is told the transaction failed:
//!   G1a aborted reads). It is the mistake of a store that adds
//!   transactions on top of a single-key replicated log: the reads look
//!   fresh on a quiet leader, and each entry is itself applied correctly.
//!   Hook: the server's proposal path for `Command::Txn`, before
//!   [`RaftNode::propose`](crate::refkv::raft::RaftNode::propose); the split
//!   itself is [`KvState::split_txn`](crate::refkv::kv::KvState::split_txn).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One switchable bug. Names (FromStr, Display, serde): `stale-read`,
/// `no-fsync`, `commit-old-term`, `lease-read`, `vote-twice`, `txn-split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// A follower or deposed leader answers reads from local state (server).
    StaleRead,
    /// Acknowledge before the WAL is durable; a crash loses acked writes (server).
    NoFsync,
    /// Count replicas for entries of earlier terms (Raft core, Figure 8).
    CommitOldTerm,
    /// Serve reads on a lease timed by the wall clock (Raft core).
    LeaseRead,
    /// Do not persist the vote; vote again in the same term after a restart (Raft core).
    VoteTwice,
    /// Answer a transaction's reads from local state and propose its writes
    /// as one log entry per key (server).
    TxnSplit,
}

impl Bug {
    /// Every bug, in a fixed order.
    pub const ALL: [Bug; 6] = [
        Bug::StaleRead,
        Bug::NoFsync,
        Bug::CommitOldTerm,
        Bug::LeaseRead,
        Bug::VoteTwice,
        Bug::TxnSplit,
    ];

    /// The bug's name as used on the command line and in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::NoFsync => "no-fsync",
            Bug::CommitOldTerm => "commit-old-term",
            Bug::LeaseRead => "lease-read",
            Bug::VoteTwice => "vote-twice",
            Bug::TxnSplit => "txn-split",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bug name that is not one of the known bugs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug `{0}` (known: stale-read, no-fsync, commit-old-term, lease-read, vote-twice, txn-split)")]
pub struct UnknownBug(pub String);

impl FromStr for Bug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// A set of enabled bugs. Serializes as a list of bug names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bugs(BTreeSet<Bug>);

impl Bugs {
    /// No bug: the correct build.
    pub fn none() -> Self {
        Bugs::default()
    }

    /// Whether `bug` is enabled.
    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }

    /// Enable `bug`.
    pub fn insert(&mut self, bug: Bug) {
        self.0.insert(bug);
    }

    /// Whether no bug is enabled.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The enabled bugs, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = Bug> + '_ {
        self.0.iter().copied()
    }

    /// The enabled bugs' names, e.g. for `/status`.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|b| b.name().to_string()).collect()
    }
}

impl FromIterator<Bug> for Bugs {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> Self {
        Bugs(iter.into_iter().collect())
    }
}

impl From<Bug> for Bugs {
    fn from(bug: Bug) -> Self {
        [bug].into_iter().collect()
    }
}

impl fmt::Display for Bugs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_fromstr_display_and_serde() {
        for bug in Bug::ALL {
            assert_eq!(bug.to_string().parse::<Bug>(), Ok(bug));
            let json = serde_json::to_string(&bug).unwrap();
            assert_eq!(json, format!("\"{}\"", bug.name()));
            assert_eq!(serde_json::from_str::<Bug>(&json).unwrap(), bug);
        }
    }

    #[test]
    fn unknown_bug_name_is_rejected_with_the_known_names() {
        let err = "fsync".parse::<Bug>().unwrap_err();
        assert!(err.to_string().contains("`fsync`"));
        assert!(err.to_string().contains("no-fsync"));
        assert!(serde_json::from_str::<Bug>("\"nope\"").is_err());
    }

    #[test]
    fn bugs_set_has_only_what_was_inserted() {
        let mut bugs = Bugs::none();
        assert!(!bugs.has(Bug::LeaseRead));
        bugs.insert(Bug::LeaseRead);
        assert!(bugs.has(Bug::LeaseRead));
        assert!(!bugs.has(Bug::VoteTwice));
        let json = serde_json::to_string(&bugs).unwrap();
        assert_eq!(json, "[\"lease-read\"]");
        let back: Bugs = serde_json::from_str(&json).unwrap();
        assert_eq!(back, bugs);
    }
}
