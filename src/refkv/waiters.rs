//! The waiter rules of refkv: which client write is answered what, and when.
//!
//! A client write becomes a log entry at a [`LogId`] when the leader proposes
//! it; from then on its client waits. The write took effect if and only if
//! the entry *with that exact id* is applied. It definitely did not take
//! effect only when a *different* entry is applied at its index (Raft's state
//! machine safety: one index holds one entry forever once committed). Nothing
//! else this node observes is proof of failure: an entry truncated from this
//! node's log may still live on another node and be committed by a later
//! leader (the Raft paper's Figure 8), so truncation, a newer proposal at the
//! same index, losing leadership or shutting down leave the outcome open.
//!
//! [`Waiters`] keeps that bookkeeping without I/O, so the server
//! ([`crate::refkv::server`]) and the simulator ([`crate::refkv::raft::sim`])
//! run exactly the same rules:
//!
//! - [`Waiters::proposed`] on every accepted proposal (never answers anyone:
//!   an older waiter at the same index keeps waiting);
//! - [`Waiters::applied`] for every applied entry: the waiter with that id is
//!   [`Fate::Applied`], any other at its index [`Fate::Overwritten`];
//! - [`Waiters::snapshot_installed`] when a leader's snapshot replaces the
//!   state machine: waiters it covers are [`Fate::Unknown`] (which entry the
//!   snapshot holds at their index is not known here);
//! - [`Waiters::drain`] on shutdown or crash: [`Fate::Unknown`].

use std::collections::BTreeMap;

use crate::refkv::raft::{Index, LogId, Term};

/// What a waiting client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    /// Its entry was applied: the write took effect.
    Applied,
    /// A different entry was applied at its index: the write definitely did
    /// not take effect (a definite failure).
    Overwritten,
    /// This node cannot tell: indefinite.
    Unknown,
}

/// Client writes waiting for their entries, by log index. `T` is whatever
/// answers the client (a reply channel in the server, an op id in the
/// simulator).
#[derive(Debug)]
pub struct Waiters<T> {
    at: BTreeMap<Index, Vec<(Term, T)>>,
    len: usize,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Waiters {
            at: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<T> Waiters<T> {
    /// No waiters.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many clients wait.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no client waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A proposal was accepted at `at`; `waiter` waits for it. An older
    /// waiter at the same index (an entry of an earlier term, since truncated
    /// from this log) keeps waiting: another node may still hold its entry
    /// and a later leader may commit it, so only the entry applied at the
    /// index decides.
    pub fn proposed(&mut self, at: LogId, waiter: T) {
        self.at.entry(at.index).or_default().push((at.term, waiter));
        self.len += 1;
    }

    /// The entry `at` was applied: its waiter is [`Fate::Applied`], every
    /// other waiter at that index [`Fate::Overwritten`].
    pub fn applied(&mut self, at: LogId) -> Vec<(T, Fate)> {
        let Some(slot) = self.at.remove(&at.index) else {
            return Vec::new();
        };
        self.len -= slot.len();
        slot.into_iter()
            .map(|(term, w)| {
                let fate = if term == at.term {
                    Fate::Applied
                } else {
                    Fate::Overwritten
                };
                (w, fate)
            })
            .collect()
    }

    /// A snapshot up to `last` replaced the state machine: the waiters at or
    /// below it are [`Fate::Unknown`].
    pub fn snapshot_installed(&mut self, last: Index) -> Vec<(T, Fate)> {
        let later = self.at.split_off(&(last + 1));
        let covered = std::mem::replace(&mut self.at, later);
        let out: Vec<(T, Fate)> = covered
            .into_values()
            .flatten()
            .map(|(_, w)| (w, Fate::Unknown))
            .collect();
        self.len -= out.len();
        out
    }

    /// Every waiter, [`Fate::Unknown`] (shutdown, crash, fatal error).
    pub fn drain(&mut self) -> Vec<(T, Fate)> {
        self.len = 0;
        std::mem::take(&mut self.at)
            .into_values()
            .flatten()
            .map(|(_, w)| (w, Fate::Unknown))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(term: Term, index: Index) -> LogId {
        LogId { term, index }
    }

    #[test]
    fn only_the_exact_entry_is_applied_and_another_one_overwrites() {
        let mut w = Waiters::new();
        w.proposed(id(1, 5), "a");
        w.proposed(id(1, 6), "b");
        assert_eq!(w.applied(id(1, 5)), vec![("a", Fate::Applied)]);
        assert_eq!(w.applied(id(2, 6)), vec![("b", Fate::Overwritten)]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_newer_proposal_at_the_same_index_leaves_the_older_one_open() {
        let mut w = Waiters::new();
        w.proposed(id(1, 5), "old");
        // This node was truncated and proposes again at 5 in term 3: the
        // term-1 entry may still be committed by another leader.
        w.proposed(id(3, 5), "new");
        assert_eq!(w.len(), 2);
        let mut fates = w.applied(id(1, 5));
        fates.sort();
        assert_eq!(
            fates,
            vec![("new", Fate::Overwritten), ("old", Fate::Applied)]
        );
    }

    #[test]
    fn snapshots_and_shutdown_leave_outcomes_unknown() {
        let mut w = Waiters::new();
        w.proposed(id(1, 3), 3);
        w.proposed(id(1, 9), 9);
        assert_eq!(w.snapshot_installed(5), vec![(3, Fate::Unknown)]);
        assert_eq!(w.drain(), vec![(9, Fate::Unknown)]);
        assert!(w.is_empty());
    }
}
