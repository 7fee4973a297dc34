//! The in-memory Raft log: a suffix of entries after the last snapshot. The
//! core keeps the whole uncompacted log in memory (refkv compacts regularly);
//! what is durable is the server's business, driven by [`Ready`](super::Ready).

use super::messages::{Entry, Index, LogId, Term};

/// Entries `offset.index + 1 ..= last_index()`, preceded by the snapshot
/// position `offset` (index 0, term 0 when there is no snapshot).
#[derive(Debug, Clone, Default)]
pub struct RaftLog {
    offset: LogId,
    entries: Vec<Entry>,
}

impl RaftLog {
    /// A log starting after `offset` with `entries` (which must be contiguous
    /// from `offset.index + 1`; the caller checks).
    pub fn new(offset: LogId, entries: Vec<Entry>) -> Self {
        RaftLog { offset, entries }
    }

    /// The snapshot position the log starts after.
    pub fn offset(&self) -> LogId {
        self.offset
    }

    /// The first index still held as an entry.
    pub fn first_index(&self) -> Index {
        self.offset.index + 1
    }

    /// The last index (the snapshot's when the log is empty).
    pub fn last_index(&self) -> Index {
        self.offset.index + self.entries.len() as Index
    }

    /// The last entry's position.
    pub fn last(&self) -> LogId {
        self.entries
            .last()
            .map(Entry::log_id)
            .unwrap_or(self.offset)
    }

    /// The term at `index`: known for the snapshot position and every held
    /// entry, `None` for compacted or future indices.
    pub fn term(&self, index: Index) -> Option<Term> {
        if index == self.offset.index {
            return Some(self.offset.term);
        }
        self.get(index).map(|e| e.term)
    }

    /// The entry at `index`, if held.
    pub fn get(&self, index: Index) -> Option<&Entry> {
        if index <= self.offset.index {
            return None;
        }
        self.entries.get((index - self.offset.index - 1) as usize)
    }

    /// Whether the log holds `id` (the snapshot position counts).
    pub fn matches(&self, id: LogId) -> bool {
        self.term(id.index) == Some(id.term)
    }

    /// Entries from `lo` up to `hi` inclusive, at most `max_n` of them and
    /// about `max_bytes` (always at least one when any is in range).
    pub fn slice(&self, lo: Index, hi: Index, max_n: usize, max_bytes: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut i = lo.max(self.first_index());
        while i <= hi.min(self.last_index()) && out.len() < max_n.max(1) {
            let Some(e) = self.get(i) else { break };
            bytes += e.size();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e.clone());
            i += 1;
        }
        out
    }

    /// The first index whose term is `term`, scanning back from `from`.
    pub fn first_index_of_term(&self, from: Index, term: Term) -> Index {
        let mut i = from;
        while i > self.first_index() && self.term(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// The last index whose term is `term`, if the log holds any.
    pub fn last_index_of_term(&self, term: Term) -> Option<Index> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
            .or((self.offset.term == term && self.offset.index > 0).then_some(self.offset.index))
    }

    /// Append one entry at `last_index() + 1`.
    pub fn push(&mut self, e: Entry) {
        debug_assert_eq!(e.index, self.last_index() + 1);
        self.entries.push(e);
    }

    /// Delete entries `from..`.
    pub fn truncate(&mut self, from: Index) {
        if from <= self.offset.index {
            self.entries.clear();
            return;
        }
        self.entries
            .truncate((from - self.offset.index - 1) as usize);
    }

    /// Drop entries up to `upto` (which must be held), remembering its term.
    pub fn compact(&mut self, upto: LogId) {
        if upto.index <= self.offset.index {
            return;
        }
        let n = ((upto.index - self.offset.index) as usize).min(self.entries.len());
        self.entries.drain(..n);
        self.offset = upto;
    }

    /// Replace the whole log by a snapshot position, keeping the entries after
    /// it if the log holds `at` (they are consistent with the snapshot).
    pub fn reset_to(&mut self, at: LogId) {
        if self.matches(at) && at.index >= self.offset.index {
            self.compact(at);
        } else {
            self.entries.clear();
            self.offset = at;
        }
    }

    /// Whether a candidate whose last entry is `last` is at least as
    /// up to date as this log (§5.4.1).
    pub fn is_up_to_date(&self, last: LogId) -> bool {
        let mine = self.last();
        (last.term, last.index) >= (mine.term, mine.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refkv::raft::messages::Payload;

    fn log(terms: &[Term]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry {
                term: t,
                index: i as Index + 1,
                payload: Payload::Noop,
            })
            .collect();
        RaftLog::new(LogId::default(), entries)
    }

    #[test]
    fn terms_and_term_boundaries() {
        let l = log(&[1, 1, 2, 2, 2, 4]);
        assert_eq!(l.last(), LogId { term: 4, index: 6 });
        assert_eq!(l.term(0), Some(0));
        assert_eq!(l.term(7), None);
        assert_eq!(l.first_index_of_term(5, 2), 3);
        assert_eq!(l.last_index_of_term(2), Some(5));
        assert_eq!(l.last_index_of_term(3), None);
    }

    #[test]
    fn compaction_keeps_the_snapshot_position_and_suffix() {
        let mut l = log(&[1, 1, 2, 2]);
        l.compact(LogId { term: 1, index: 2 });
        assert_eq!(l.first_index(), 3);
        assert_eq!(l.term(2), Some(1));
        assert_eq!(l.term(1), None);
        assert_eq!(l.last_index(), 4);
        l.reset_to(LogId { term: 3, index: 3 });
        assert_eq!(l.last(), LogId { term: 3, index: 3 });
        assert!(l.get(4).is_none());
    }

    #[test]
    fn slice_respects_limits_but_returns_at_least_one() {
        let l = log(&[1, 1, 1, 1]);
        assert_eq!(l.slice(2, 4, 2, usize::MAX).len(), 2);
        assert_eq!(l.slice(1, 4, 10, 1).len(), 1);
        assert!(l.slice(5, 9, 10, 100).is_empty());
    }
}
