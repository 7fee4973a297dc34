//! The Wing–Gong–Lowe search for one partition, as Porcupine does it.
//!
//! The history's call and return events form a doubly-linked list in
//! real-time order. Scanning from the head, the search may linearize any op
//! whose *call* it meets before the first *return* of an op not yet
//! linearized: that op is legal now if the model accepts it. Linearizing an op
//! removes its two events from the list (dancing links) and pushes a frame;
//! meeting the return of an unlinearized op means the current choices are
//! wrong, so the search pops the last frame and tries the next candidate.
//! Ops that never completed (info, pending) have their return at +∞, i.e. at
//! the end of the list: reaching the first such return means every op with a
//! finite return has been placed, and the rest may simply never have
//! happened — the history is linearizable.
//!
//! A cache of (set of linearized ops, state) pairs already visited prunes the
//! search: the future of a configuration depends only on that pair. The set is
//! a bitset hashed incrementally (Zobrist); the cache stores each set exactly
//! (no false hits), compacted to the window between its first unset bit and
//! its last set bit, in one arena.
//!
//! Greedy rule (a dominance argument). If an op is a pure read (legal only
//! where it leaves the state unchanged, in every state: a read, never a
//! write, not even a write of the current value) and is legal now,
//! linearizing it immediately is never worse than any alternative:
//! take any successful continuation from (S, s); moving that op to its front
//! keeps every state of the continuation the same (it does not change the
//! state) and only removes a return event from the list, which can only
//! allow, never forbid, the other ops. So if (S ∪ {op}, s) fails, (S, s)
//! fails too, and the search backtracks past it instead of trying siblings.

use super::model::{Machine, PartOp};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Budget shared by the partitions of one check.
pub(crate) struct Budget<'a> {
    /// Give up (unknown) after this instant.
    pub deadline: Option<Instant>,
    /// Bytes all running searches may hold together.
    pub memory_limit: usize,
    /// Bytes currently held by all running searches.
    pub used: &'a AtomicUsize,
    /// Set when another partition found the history invalid and the check
    /// stops at the first invalid key.
    pub cancel: &'a AtomicBool,
}

/// Why a search gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GaveUp {
    /// The time limit passed.
    Time,
    /// The memory budget would be exceeded.
    Memory,
    /// Another key was invalid and the check stops at the first.
    Cancelled,
}

/// The furthest point the search reached, for the explanation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frontier {
    /// The op (index into the partition's ops) whose return event no
    /// configuration could get past; `None` if the search never got stuck.
    pub blocked: Option<u32>,
    /// Its return position.
    pub pos: u64,
    /// Distinct states possible when that return was reached (bounded).
    pub states: Vec<u32>,
    /// More states were possible than `states` holds.
    pub states_truncated: bool,
    /// Number of ops linearized in the first configuration that reached it.
    pub depth: usize,
    /// The last ops (partition indexes) of that configuration's
    /// linearization, oldest first (bounded).
    pub tail: Vec<u32>,
}

/// Bound on the states and ops kept for an explanation.
pub(crate) const KEEP: usize = 32;

/// The result of one partition's search.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A linearization exists.
    Valid,
    /// None exists.
    Invalid,
    /// The budget ran out first.
    Unknown(GaveUp),
}

/// Counters of one search.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    /// Configurations inserted into the cache.
    pub configs: u64,
    /// Peak bytes held by the cache and the machine.
    pub peak_bytes: usize,
}

/// The visited-configurations set: exact, compact, one arena.
///
/// Entry layout in `arena`: `[next << 32 | state, start << 32 | len, words…]`
/// where `words` are the bitset's words `start..start+len` (words before
/// `start` are all ones, words after are all zeros) and `next` chains entries
/// whose hashes collide in `heads`.
struct Cache {
    heads: rustc_hash::FxHashMap<u64, u32>,
    arena: Vec<u64>,
}

const NIL: u32 = u32::MAX;

impl Cache {
    fn bytes(&self) -> usize {
        self.arena.capacity() * 8 + self.heads.capacity() * 17
    }

    /// Bytes the cache would hold after growing for one more entry of
    /// `need` words.
    fn bytes_after_insert(&self, need: usize) -> usize {
        let arena = if self.arena.len() + need > self.arena.capacity() {
            (self.arena.capacity() * 2).max(self.arena.len() + need)
        } else {
            self.arena.capacity()
        };
        let heads = if self.heads.len() >= self.heads.capacity() {
            (self.heads.capacity() * 2).max(4)
        } else {
            self.heads.capacity()
        };
        arena * 8 + heads * 17
    }

    /// The canonical window of a bitset.
    fn window(bits: &[u64]) -> (usize, usize) {
        let start = bits
            .iter()
            .position(|w| *w != u64::MAX)
            .unwrap_or(bits.len());
        let end = bits
            .iter()
            .rposition(|w| *w != 0)
            .map(|e| e + 1)
            .unwrap_or(0);
        (start, end.max(start))
    }

    fn contains_or_insert(
        &mut self,
        hash: u64,
        bits: &[u64],
        state: u32,
        window: (usize, usize),
    ) -> bool {
        let (start, end) = window;
        let words = &bits[start..end];
        let head = self.heads.get(&hash).copied().unwrap_or(NIL);
        let mut at = head;
        while at != NIL {
            let a = at as usize;
            let h0 = self.arena[a];
            let h1 = self.arena[a + 1];
            if h0 as u32 == state
                && (h1 >> 32) as usize == start
                && (h1 as u32) as usize == words.len()
                && &self.arena[a + 2..a + 2 + words.len()] == words
            {
                return true;
            }
            at = (h0 >> 32) as u32;
        }
        let off = self.arena.len() as u32;
        self.arena.push(((head as u64) << 32) | state as u64);
        self.arena.push(((start as u64) << 32) | words.len() as u64);
        self.arena.extend_from_slice(words);
        self.heads.insert(hash, off);
        false
    }
}

#[inline]
fn mix(mut x: u64) -> u64 {
    // splitmix64 finalizer
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Frame {
    op: u32,
    state: u32,
    greedy: bool,
}

/// Search one partition. `ops` are in invoke order.
pub(crate) fn search(
    machine: &mut Machine,
    ops: &[PartOp],
    budget: &Budget<'_>,
) -> (Outcome, Frontier, Stats) {
    search_optional(machine, ops, &[], budget)
}

/// [`search`] where `optional[i]` marks ops that may also never have taken
/// effect, though they completed (the minimal-anomaly trials relax the ops
/// outside the set shown this way). Reaching the return of such an op that
/// is not linearized yet is not a dead end: the op is taken as never having
/// happened, a step that leaves the state as it is (so the configuration
/// cache stays exact: the op's events are gone from the list either way).
/// That step is the only way past the return, so when it fails the
/// configuration before it fails too: its frame is popped like a greedy one.
/// Ops past the end of `optional` are not optional.
pub(crate) fn search_optional(
    machine: &mut Machine,
    ops: &[PartOp],
    optional: &[bool],
    budget: &Budget<'_>,
) -> (Outcome, Frontier, Stats) {
    let n = ops.len();
    let mut frontier = Frontier::default();
    let mut stats = Stats::default();
    if n == 0 {
        return (Outcome::Valid, frontier, stats);
    }
    // Events: 2·op is the call, 2·op+1 the return. Node `head` is the sentinel.
    let head = 2 * n;
    let mut events: Vec<(u64, u32)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, 2 * i as u32));
        events.push((op.ret, 2 * i as u32 + 1));
    }
    events.sort_unstable();
    let mut next = vec![0u32; 2 * n + 1];
    let mut prev = vec![0u32; 2 * n + 1];
    let mut last = head as u32;
    for &(_, e) in &events {
        next[last as usize] = e;
        prev[e as usize] = last;
        last = e;
    }
    next[last as usize] = head as u32;
    prev[head] = last;

    let zob: Vec<u64> = (0..n as u64).map(|i| mix(i ^ 0x005E_ED0F_FA17)).collect();
    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut hash = 0u64;
    let mut cache = Cache {
        heads: Default::default(),
        arena: Vec::new(),
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut state = machine.init;
    let mut e = next[head] as usize;
    let mut reported = 0usize; // bytes we added to budget.used
    let mut steps = 0u64;

    macro_rules! lift {
        ($op:expr) => {{
            let c = 2 * $op as usize;
            let r = c + 1;
            next[prev[c] as usize] = next[c];
            prev[next[c] as usize] = prev[c];
            next[prev[r] as usize] = next[r];
            prev[next[r] as usize] = prev[r];
        }};
    }
    macro_rules! unlift {
        ($op:expr) => {{
            let c = 2 * $op as usize;
            let r = c + 1;
            prev[next[r] as usize] = r as u32;
            next[prev[r] as usize] = r as u32;
            prev[next[c] as usize] = c as u32;
            next[prev[c] as usize] = c as u32;
        }};
    }

    let outcome = 'search: loop {
        steps += 1;
        if steps & 0x3ff == 0 {
            if budget.cancel.load(Ordering::Relaxed) {
                break Outcome::Unknown(GaveUp::Cancelled);
            }
            if budget.deadline.is_some_and(|d| Instant::now() >= d) {
                break Outcome::Unknown(GaveUp::Time);
            }
        }
        if e == head {
            break Outcome::Valid;
        }
        let op = e >> 1;
        let mut backtrack = false;
        // A step to take: (new state, greedy).
        let mut transition: Option<(u32, bool)> = None;
        if e & 1 == 1 {
            // The return of an op not linearized yet.
            let o = &ops[op];
            if o.ret == u64::MAX {
                break Outcome::Valid; // only never-completed ops remain
            }
            if optional.get(op).copied().unwrap_or(false) {
                // It never happened: the only way past its return.
                transition = Some((state, true));
            } else if frontier.blocked.is_none() || o.ret > frontier.pos {
                frontier.blocked = Some(op as u32);
                frontier.pos = o.ret;
                frontier.states.clear();
                frontier.states.push(state);
                frontier.states_truncated = false;
                frontier.depth = stack.len();
                frontier.tail = stack.iter().rev().take(KEEP).rev().map(|f| f.op).collect();
            } else if o.ret == frontier.pos && !frontier.states.contains(&state) {
                if frontier.states.len() < KEEP {
                    frontier.states.push(state);
                } else {
                    frontier.states_truncated = true;
                }
            }
            if transition.is_none() {
                backtrack = true;
            }
        } else if let Some(s2) = machine.step(state, ops[op].step) {
            transition = Some((s2, s2 == state && machine.is_pure(ops[op].step)));
        } else {
            e = next[e] as usize;
        }
        if let Some((s2, greedy)) = transition {
            bits[op >> 6] |= 1 << (op & 63);
            hash ^= zob[op];
            let key = hash ^ mix(s2 as u64);
            let window = Cache::window(&bits);
            let need = 2 + window.1 - window.0;
            let after = cache.bytes_after_insert(need) + machine.bytes();
            if after > reported {
                let grow = after - reported;
                if budget.used.load(Ordering::Relaxed) + grow > budget.memory_limit {
                    break Outcome::Unknown(GaveUp::Memory);
                }
            }
            let seen = cache.contains_or_insert(key, &bits, s2, window);
            let now = cache.bytes() + machine.bytes();
            if now > reported {
                budget.used.fetch_add(now - reported, Ordering::Relaxed);
                reported = now;
            }
            if !seen {
                stats.configs += 1;
                stack.push(Frame {
                    op: op as u32,
                    state,
                    greedy,
                });
                state = s2;
                lift!(op);
                e = next[head] as usize;
                continue;
            }
            bits[op >> 6] &= !(1 << (op & 63));
            hash ^= zob[op];
            // (S ∪ {op}, s) already failed; if op is a pure read, (S, s)
            // fails too (greedy rule); so it does if op's step was the only
            // way on (an optional op taken as never having happened).
            backtrack = greedy;
            if !backtrack {
                e = next[e] as usize;
            }
        }
        if backtrack {
            loop {
                let Some(f) = stack.pop() else {
                    break 'search Outcome::Invalid;
                };
                let op = f.op as usize;
                state = f.state;
                bits[op >> 6] &= !(1 << (op & 63));
                hash ^= zob[op];
                unlift!(op);
                if !f.greedy {
                    e = next[2 * op] as usize;
                    break;
                }
            }
        }
    };
    stats.peak_bytes = reported;
    budget.used.fetch_sub(reported, Ordering::Relaxed);
    (outcome, frontier, stats)
}
