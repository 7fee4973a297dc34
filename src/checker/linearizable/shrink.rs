//! The minimal anomaly: a handful of one invalid key's ops that cannot be
//! linearized, whatever the key's other ops did.
//!
//! # What is shown, and why it is sound
//!
//! Deleting ops while the rest stays non-linearizable is *not* sound: in
//! `w(1) ; r(1)` deleting the write leaves `r(1)` alone, which no order
//! explains, though the history was fine. A set `S` of the key's ops is
//! shown only when this trial history is not linearizable:
//!
//! - the ops of `S`, exactly as recorded;
//! - every other op that only *observes* the state (an ok read, a cas from
//!   a value to itself, a read-only transaction; fail ops and reads of
//!   unknown values never constrain anything and the checker already drops
//!   them) is **removed**. If a history is linearizable so is the history
//!   without one of its observers: the same order, minus that op, is legal,
//!   since the op did not change the state;
//! - every other op that changes the state is **relaxed**: it may take
//!   effect at any moment of its own time window, as recorded (from its
//!   invoke to its completion, or forever if it never completed), *or
//!   never*. Any linearization of the history is one of the relaxed history
//!   (it places the op in its window: relaxing only added the choice
//!   "never").
//!
//! So if the trial is not linearizable, neither is the key's history, and
//! neither is `S` alone (a linearization of `S` alone is one of the trial in
//! which every relaxed op never happened). That is the statement shown:
//! "these N ops cannot be linearized, whatever the key's other M ops did
//! (each could have taken effect, as recorded, at any moment of its own
//! time window, or not at all)". The search takes a relaxed op as never having happened
//! when it reaches the op's completion without having placed it
//! (`search::search_optional`).
//!
//! "As recorded" matters for ops that read as well as write (a `cas`, a
//! transaction): a relaxed op that takes effect must still be consistent
//! with what it returned, so a relaxed op whose own result is impossible
//! can only "never" happen, and its writes vanish. The set then names the
//! ops that needed those writes, not the impossible op itself (a generated
//! multi-register history with one lying transaction shows it:
//! `tests/checker_shrink.rs`). Still a real anomaly of the history, but an
//! indirect one; relaxing such ops further (a cas to a blind write, a
//! transaction to its writes) would name the culprit and is not done yet.
//!
//! Why the window and not "at any moment at all": no op takes effect
//! outside its window, and keeping the window is what makes the sets small.
//! A stale read needs only the write it missed: a write of the value read,
//! invoked elsewhere, cannot excuse the read unless its window allows it.
//! Relaxed ops that may take effect at *any* time (moved to the start of
//! the history, no completion) would prove a stronger statement about `S`,
//! but every earlier write of the value read would then have to be in `S`
//! (pinned to its window), which gave sets of 77 ops instead of 3 on
//! Knossos' `cas-failure.edn`, and a far larger search.
//!
//! Two more steps keep the trials small, both sound by the same direction
//! of argument (any linearization of the trial before the step gives one
//! after it):
//!
//! - **Late relaxed ops.** A relaxed op invoked after every op of `S` with
//!   a completion has completed is dropped: in a linearization, cut the
//!   order after the last op of `S` with a completion; what follows holds
//!   only relaxed ops and ops of `S` that never completed, all of which may
//!   never have happened, and a prefix of a legal order is legal.
//! - **Unobserved relaxed writes**, per model, where it can be proved:
//!   Dropping an op that may never have happened is sound when, in any
//!   linearization where it does take effect, removing it leaves a legal
//!   order:
//!   - `register`, `cas-register`: a relaxed write or cas whose resulting
//!     value `v` no op of `S` reads and no op of `S` or other relaxed cas
//!     expects is dropped. Proof: in a linearization where it takes effect,
//!     the state then holds `v`; the next op that follows cannot be a read
//!     of `v` or a cas from `v` (there are none), so it is a write (legal in
//!     every state) or there is none. Removing the op therefore leaves every
//!     later op legal and every earlier one untouched. Dropping a cas
//!     removes an expectation, so this repeats until nothing changes; each
//!     round is sound on its own.
//!   - `kv`: a relaxed `append t` (t non-empty) that is not a substring of
//!     any value a `get` of `S` returned is dropped, and so is a relaxed
//!     `put v` (v non-empty) that no such value starts with. Proof: after
//!     `put v`, until the next put, the string is `v` followed by appends,
//!     so any get in between returns a string starting with `v`; after
//!     `append t`, until the next put, the string contains `t`. No get of
//!     `S` does, and relaxed ops are never gets, so no op between the
//!     dropped op and the next put (or the end) is a get: they are appends
//!     and puts, legal in every state, and the next put sets the state
//!     regardless of what came before.
//!   - `multi-register`, `mutex`: no pruning is proved here; the relaxed
//!     ops stay and the budget bounds the search.
//!
//! # How S is found
//!
//! Most anomalies are one or two ops: a read of a value never written, a
//! stale read and the write it missed, a get missing an append that
//! completed before it, two gets that disagree. So the op that fits no
//! state (the checker's failure) is tried alone, then with each of its
//! nearest ops (those that completed before it began first), on short
//! trials. Otherwise the failure's neighbourhood seeds the set: that op,
//! the last ops of the longest linearized prefix and the ops concurrent
//! with it; if the seed is not yet an anomaly, ops nearest to the failure
//! in time are added, doubling the set each round, up to every op of the
//! key (the key's own history, invalid). Then it shrinks: observers first
//! (removing one relaxes nothing), whole processes, delta debugging over
//! every op (halves, quarters, …), and one op at a time until a full pass
//! removes nothing. Each trial is a search with its own small budget (at
//! most a twentieth of the key's); a trial the budget does not decide counts
//! as "not shown invalid" and the op stays. The set is `one_minimal` only
//! when, at the end, removing any single op was tried and the search proved
//! the result linearizable.
//!
//! For `kv` the search over relaxed appends is exponential (each may or may
//! not have happened, in any order), so the two commonest kv anomalies are
//! also proved directly, without a search (`Shrinker::kv_certificate`: an
//! append, get or put that completed before a get whose value cannot follow
//! it, with no put able to come between them).
//!
//! Before it is reported, the final set is checked again, independently of
//! the shrinking's bookkeeping: `S` plus the relaxed others, and `S` alone,
//! must both be invalid.

use super::model::{self, Machine, ModelKind, NilRead, Pair, PartOp, Step};
use super::report::{op_ref, MinimalAnomaly, OpRef};
use super::search::{self, Budget, Outcome};
use crate::history::exact::exact_text;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

/// Time budgets of the shrinking. Shrinking only runs on invalid keys and
/// never changes a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkLimits {
    /// Budget for one invalid key (default 2 s). Zero: no minimal anomaly.
    pub per_key: Duration,
    /// Budget for all the invalid keys of one check together (default 5 s);
    /// it never extends past the check's own time limit.
    pub total: Duration,
}

impl Default for ShrinkLimits {
    fn default() -> Self {
        ShrinkLimits {
            per_key: Duration::from_secs(2),
            total: Duration::from_secs(5),
        }
    }
}

/// The shortest budget a single trial is given, whatever remains.
const MIN_TRIAL: Duration = Duration::from_millis(5);

/// The longest share of a key's budget a single trial is given: a trial
/// the search cannot decide quickly is abandoned (its op stays), so one
/// hard trial cannot eat the time of the many easy ones.
const TRIAL_SHARE: u32 = 20;

/// The budget of one key's shrinking, and of each trial.
struct Clock {
    deadline: Instant,
    cap: Duration,
}

impl Clock {
    fn new(deadline: Instant) -> Self {
        let total = deadline.saturating_duration_since(Instant::now());
        Clock {
            deadline,
            cap: (total / TRIAL_SHARE).max(MIN_TRIAL),
        }
    }

    /// The time is up.
    fn out(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// When the next trial must end: a third of what remains, at most the
    /// cap, at least [`MIN_TRIAL`], never past the deadline.
    fn trial(&self) -> Instant {
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now);
        now + (left / 3).min(self.cap).max(MIN_TRIAL).min(left)
    }
}

/// Budget of the final re-checks of the set found (outside the key's
/// budget: the set is small, and an unverified set is never shown).
const VERIFY: Duration = Duration::from_millis(100);

/// The failing op is first tried with each of this many of its nearest
/// ops, before any larger set.
const PAIRS: usize = 24;

/// kv: the failing op is tried with this many partners by proof alone.
const KV_PARTNERS: usize = 2_000;

/// At most this many ops of the failure's neighbourhood seed the search.
const SEED: usize = 32;

/// Everything a key's shrinking needs.
pub(crate) struct Shrinker<'a, 'h> {
    model: ModelKind,
    init: &'a Value,
    nil_read: NilRead,
    pairs: &'a [Pair<'h>],
    /// The key's compiled ops (what the search places), invoke order.
    ops: &'a [PartOp],
    /// Per op: it only observes the state (removed when outside `S`).
    observer: Vec<bool>,
    /// kv: per op, the string a get returned or a put/append wrote.
    kv_text: Vec<Option<String>>,
    memory_limit: usize,
    used: &'a AtomicUsize,
    /// Results of trials already run, by the sorted set.
    memo: FxHashMap<Vec<usize>, Verdict>,
    /// Trials the search did not decide, with the budget they had.
    undecided: FxHashMap<Vec<usize>, Duration>,
}

/// What a trial does with the ops outside the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Others {
    /// Observers removed, state changes relaxed, late and unobserved relaxed
    /// ops dropped: what the shrinking runs.
    RelaxedPruned,
    /// Observers removed, every state change relaxed, none dropped: the
    /// plain statement, for re-checking (it also checks the pruning).
    Relaxed,
    /// All removed: the set alone.
    Removed,
}

/// A trial's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Valid,
    Invalid,
    Unknown,
}

impl From<&Outcome> for Verdict {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Valid => Verdict::Valid,
            Outcome::Invalid => Verdict::Invalid,
            Outcome::Unknown(_) => Verdict::Unknown,
        }
    }
}

impl<'a, 'h> Shrinker<'a, 'h> {
    /// Prepare the shrinking of one key: `ops` are the key's compiled ops,
    /// `machine` the machine they were compiled with.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: ModelKind,
        init: &'a Value,
        nil_read: NilRead,
        pairs: &'a [Pair<'h>],
        ops: &'a [PartOp],
        machine: &Machine,
        memory_limit: usize,
        used: &'a AtomicUsize,
    ) -> Self {
        let observer: Vec<bool> = ops.iter().map(|o| machine.is_pure(o.step)).collect();
        let kv_text = ops
            .iter()
            .map(|o| match (model, o.step) {
                (ModelKind::Kv, Step::KvGet(_)) => {
                    let p = &pairs[o.pair];
                    Some(match p.comp.map(|c| &c.value) {
                        Some(Value::String(s)) => s.clone(),
                        _ => String::new(),
                    })
                }
                (ModelKind::Kv, Step::KvPut(_) | Step::Append(_)) => {
                    match argument(&pairs[o.pair]) {
                        Value::String(s) => Some(s.clone()),
                        _ => Some(String::new()),
                    }
                }
                _ => None,
            })
            .collect();
        Shrinker {
            model,
            init,
            nil_read,
            pairs,
            ops,
            observer,
            kv_text,
            memory_limit,
            used,
            memo: FxHashMap::default(),
            undecided: FxHashMap::default(),
        }
    }

    /// The trial history of `s` (sorted op indexes): `s` as recorded, other
    /// observers removed, other state changes relaxed (see the module doc),
    /// late and unobserved relaxed ops dropped. Returns the pairs to compile,
    /// in invoke order, and the `ix` of the relaxed ones.
    fn trial_pairs(&self, s: &[usize], others: Others) -> (Vec<Pair<'h>>, FxHashSet<usize>) {
        let in_s: FxHashSet<usize> = s.iter().copied().collect();
        let mut relaxed = FxHashSet::default();
        let mut out: Vec<Pair<'h>> = s.iter().map(|&i| self.pairs[self.ops[i].pair]).collect();
        if others != Others::Removed {
            let prune = others == Others::RelaxedPruned;
            let last_ret = s
                .iter()
                .map(|&i| self.ops[i].ret)
                .filter(|&r| r != u64::MAX)
                .max();
            if let Some(last_ret) = last_ret {
                let mut cand: Vec<usize> = (0..self.ops.len())
                    .filter(|i| {
                        !in_s.contains(i)
                            && !self.observer[*i]
                            && (!prune || self.ops[*i].call < last_ret)
                    })
                    .collect();
                if prune {
                    self.prune(s, &mut cand);
                }
                for i in cand {
                    let p = self.pairs[self.ops[i].pair];
                    relaxed.insert(p.ix);
                    out.push(p);
                }
            }
        }
        out.sort_by_key(|p| p.call);
        (out, relaxed)
    }

    /// Drop the relaxed ops `cand` that provably cannot matter to `s` (see
    /// the module doc for the proofs, per model).
    fn prune(&self, s: &[usize], cand: &mut Vec<usize>) {
        match self.model {
            ModelKind::Register | ModelKind::CasRegister => {
                let mut observed_s: FxHashSet<u32> = FxHashSet::default();
                for &i in s {
                    match self.ops[i].step {
                        Step::Read(v) => {
                            observed_s.insert(v);
                        }
                        Step::Cas(from, _) => {
                            observed_s.insert(from);
                        }
                        _ => {}
                    }
                }
                loop {
                    let mut observed = observed_s.clone();
                    for &i in cand.iter() {
                        if let Step::Cas(from, _) = self.ops[i].step {
                            observed.insert(from);
                        }
                    }
                    let before = cand.len();
                    cand.retain(|&i| match self.ops[i].step {
                        Step::Write(v) | Step::Cas(_, v) => observed.contains(&v),
                        _ => true,
                    });
                    if cand.len() == before {
                        break;
                    }
                }
            }
            ModelKind::Kv => {
                let gets: Vec<&str> = s
                    .iter()
                    .filter(|&&i| matches!(self.ops[i].step, Step::KvGet(_)))
                    .filter_map(|&i| self.kv_text[i].as_deref())
                    .collect();
                cand.retain(|&i| {
                    let Some(t) = self.kv_text[i].as_deref() else {
                        return true;
                    };
                    match self.ops[i].step {
                        Step::Append(_) => t.is_empty() || gets.iter().any(|g| g.contains(t)),
                        Step::KvPut(_) => t.is_empty() || gets.iter().any(|g| g.starts_with(t)),
                        _ => true,
                    }
                });
            }
            ModelKind::MultiRegister | ModelKind::Mutex => {}
        }
    }

    /// kv: a proof, without a search, that the trial of `s` (with the
    /// relaxed ops `relaxed` that survived pruning, by pair `ix`) is not
    /// linearizable. The search has to try every subset of the relaxed
    /// appends (each may or may not have happened, in any order), which is
    /// exponential; the two commonest kv anomalies are proved directly.
    ///
    /// Take a get `g` of `s` returning `V`, and an op `u` of `s` that
    /// completed before `g` was invoked. Every linearization places `u`
    /// before `g`. Suppose no put other than `u` (of `s` or relaxed) can be
    /// placed between them: real time puts a put `p` before `u` when `p`
    /// completed before `u` was invoked, and after `g` when `p` was invoked
    /// after `g` completed; suppose every put is one or the other. Then
    /// between `u` and `g` only appends (and gets) take effect, which keep
    /// the string's beginning and only lengthen it. So it is not
    /// linearizable if
    /// - `u` is an append of a non-empty `t` and `V` does not contain `t`
    ///   (the string contains `t` from `u` on), or
    /// - `u` is a get that returned `W`, or a put of `W`, and `V` does not
    ///   start with `W` (the string starts with `W` from `u` on).
    fn kv_certificate(&self, s: &[usize], relaxed: &FxHashSet<usize>) -> bool {
        let is_put = |i: usize| matches!(self.ops[i].step, Step::KvPut(_));
        let puts: Vec<usize> = s
            .iter()
            .copied()
            .filter(|&i| is_put(i))
            .chain(
                (0..self.ops.len()).filter(|&i| relaxed.contains(&self.ops[i].pair) && is_put(i)),
            )
            .collect();
        s.iter().any(|&g| {
            let (Step::KvGet(_), Some(v)) = (self.ops[g].step, self.kv_text[g].as_deref()) else {
                return false;
            };
            let g_op = &self.ops[g];
            if g_op.ret == u64::MAX {
                return false;
            }
            s.iter().any(|&u| {
                let u_op = &self.ops[u];
                if u == g || u_op.ret == u64::MAX || u_op.ret >= g_op.call {
                    return false;
                }
                let between = puts.iter().any(|&p| {
                    let p_op = &self.ops[p];
                    p != u && !(p_op.ret < u_op.call || p_op.call > g_op.ret)
                });
                if between {
                    return false;
                }
                match (u_op.step, self.kv_text[u].as_deref()) {
                    (Step::Append(_), Some(t)) => !t.is_empty() && !v.contains(t),
                    (Step::KvGet(_) | Step::KvPut(_), Some(w)) => !v.starts_with(w),
                    _ => false,
                }
            })
        })
    }

    /// Search one trial history within `until`.
    fn run(&self, (pairs, relaxed): &(Vec<Pair<'h>>, FxHashSet<usize>), until: Instant) -> Verdict {
        let Ok((mut machine, ops)) = model::compile(self.model, self.init, self.nil_read, pairs)
        else {
            return Verdict::Unknown;
        };
        let optional: Vec<bool> = ops.iter().map(|o| relaxed.contains(&o.pair)).collect();
        if ops
            .iter()
            .zip(&optional)
            .all(|(o, &opt)| opt || o.ret == u64::MAX)
        {
            return Verdict::Valid; // nothing must take effect
        }
        let cancel = AtomicBool::new(false);
        let budget = Budget {
            deadline: Some(until),
            memory_limit: self.memory_limit,
            used: self.used,
            cancel: &cancel,
        };
        let (outcome, _, _) = search::search_optional(&mut machine, &ops, &optional, &budget);
        Verdict::from(&outcome)
    }

    /// Is `s` (sorted) shown to be an anomaly, within `until`?
    fn trial(&mut self, s: &[usize], until: Instant) -> Verdict {
        if let Some(v) = self.memo.get(s) {
            return *v;
        }
        if s.is_empty() {
            return Verdict::Valid;
        }
        let budget = until.saturating_duration_since(Instant::now());
        if let Some(&had) = self.undecided.get(s) {
            // Undecided before: worth another search only with a budget
            // at least twice as long.
            if budget < had * 2 {
                return Verdict::Unknown;
            }
        }
        let tp = self.trial_pairs(s, Others::RelaxedPruned);
        let v = if self.model == ModelKind::Kv && self.kv_certificate(s, &tp.1) {
            Verdict::Invalid
        } else {
            self.run(&tp, until)
        };
        if v == Verdict::Unknown {
            self.undecided.insert(s.to_vec(), budget);
        }
        if v != Verdict::Unknown {
            self.memo.insert(s.to_vec(), v);
        }
        v
    }

    /// Find a small anomaly near the op `blocked` (index into the key's
    /// ops) seeded with `seed`, within `deadline`. Returns the set (sorted
    /// op indexes) and whether it is 1-minimal, or `None` when nothing was
    /// shown in time.
    pub fn shrink(
        &mut self,
        blocked: Option<usize>,
        seed: &[usize],
        deadline: Instant,
    ) -> Option<(Vec<usize>, bool)> {
        let n = self.ops.len();
        if n == 0 {
            return None;
        }
        let clock = Clock::new(deadline);

        // Grow: ops ranked by distance in time to the failure.
        let anchor = blocked
            .map(|b| self.ops[b].ret)
            .filter(|r| *r != u64::MAX)
            .or_else(|| {
                self.ops
                    .iter()
                    .map(|o| o.ret)
                    .filter(|r| *r != u64::MAX)
                    .max()
            })
            .unwrap_or(0);
        let mut rank: Vec<usize> = (0..n).collect();
        rank.sort_by_key(|&i| {
            let o = &self.ops[i];
            if o.ret <= anchor {
                anchor - o.ret
            } else {
                // Concurrent with the anchor (0), or after it.
                o.call.saturating_sub(anchor)
            }
        });
        // The commonest anomalies are one or two ops (a read of a value
        // never written; a stale read and the write it missed; two gets
        // that disagree): try the failing op alone, then with each of its
        // nearest neighbours, on short trials.
        if let Some(x) = blocked {
            let quick = Clock {
                deadline: clock.deadline,
                cap: (clock.cap / 4).max(MIN_TRIAL),
            };
            // Partners: the ops that completed before x began, latest
            // first (a stale read's missed write, an earlier get), then the
            // others nearest in time.
            let xo = &self.ops[x];
            let mut partners: Vec<usize> = (0..n).filter(|&y| self.ops[y].ret < xo.call).collect();
            partners.sort_by_key(|&y| std::cmp::Reverse(self.ops[y].ret));
            partners.extend(
                rank.iter()
                    .copied()
                    .filter(|&y| y != x && self.ops[y].ret >= xo.call),
            );
            let pair_of = |y: usize| if y < x { vec![y, x] } else { vec![x, y] };
            let mut found = self.trial(&[x], quick.trial()) == Verdict::Invalid;
            let mut pair = vec![x];
            if !found && self.model == ModelKind::Kv {
                // The kv proofs need no search: try many partners.
                for &y in partners.iter().take(KV_PARTNERS) {
                    if clock.out() {
                        break;
                    }
                    let cand = pair_of(y);
                    let tp = self.trial_pairs(&cand, Others::RelaxedPruned);
                    if self.kv_certificate(&cand, &tp.1) {
                        pair = cand;
                        found = true;
                        break;
                    }
                }
            }
            for &y in partners.iter().take(PAIRS) {
                if found || clock.out() {
                    break;
                }
                pair = pair_of(y);
                found = self.trial(&pair, quick.trial()) == Verdict::Invalid;
            }
            if found {
                return Some(self.one_at_a_time(pair, &clock));
            }
        }

        let mut s: Vec<usize> = seed.iter().copied().filter(|&i| i < n).collect();
        s.extend(blocked);
        s.sort_unstable();
        s.dedup();
        let mut next = 0usize;
        loop {
            if s.len() == n || self.trial(&s, clock.trial()) == Verdict::Invalid {
                break;
            }
            if clock.out() {
                return None;
            }
            let target = (s.len() * 2).max(8).min(n);
            let mut grown: FxHashSet<usize> = s.iter().copied().collect();
            while grown.len() < target && next < rank.len() {
                grown.insert(rank[next]);
                next += 1;
            }
            s = grown.into_iter().collect();
            s.sort_unstable();
        }
        if s.len() == n {
            // Every op of the key: the key's own history, with nothing
            // relaxed. The checker found it invalid; confirm within budget.
            let until = deadline.max(Instant::now() + MIN_TRIAL);
            if self.trial(&s, until) != Verdict::Invalid {
                return None;
            }
        }

        // Observers first: removing one relaxes nothing (it is simply gone),
        // and fewer observers let more relaxed ops be pruned, so the trials
        // get cheaper as the set shrinks.
        let observers: Vec<usize> = s.iter().copied().filter(|&i| self.observer[i]).collect();
        if !self.ddmin(&mut s, observers, &clock) {
            return Some((s, false));
        }
        // Whole processes.
        let mut procs: Vec<String> = s
            .iter()
            .map(|&i| self.pairs[self.ops[i].pair].inv.process.to_string())
            .collect();
        procs.sort();
        procs.dedup();
        if procs.len() > 1 {
            for p in procs {
                if clock.out() {
                    return Some((s, false));
                }
                let cand: Vec<usize> = s
                    .iter()
                    .copied()
                    .filter(|&i| self.pairs[self.ops[i].pair].inv.process.to_string() != p)
                    .collect();
                if !cand.is_empty() && self.trial(&cand, clock.trial()) == Verdict::Invalid {
                    s = cand;
                }
            }
        }
        // Every op, in chunks from halves down.
        let all = s.clone();
        if !self.ddmin(&mut s, all, &clock) {
            return Some((s, false));
        }

        Some(self.one_at_a_time(s, &clock))
    }

    /// Remove one op at a time while `s` stays an anomaly, until a whole
    /// pass removes nothing. Returns the set and whether it is 1-minimal:
    /// every single removal was tried and proved linearizable.
    fn one_at_a_time(&mut self, mut s: Vec<usize>, clock: &Clock) -> (Vec<usize>, bool) {
        loop {
            let mut removed = false;
            let mut all_decided = true;
            let mut k = 0;
            while k < s.len() {
                if clock.out() {
                    return (s, false);
                }
                let cand: Vec<usize> = s[..k].iter().chain(&s[k + 1..]).copied().collect();
                match self.trial(&cand, clock.trial()) {
                    Verdict::Invalid => {
                        s = cand;
                        removed = true;
                    }
                    Verdict::Valid => k += 1,
                    Verdict::Unknown => {
                        all_decided = false;
                        k += 1;
                    }
                }
            }
            if !removed {
                return (s, all_decided);
            }
        }
    }

    /// Delta debugging over the ops of `pool` in `s`: try removing chunks
    /// of them (halves, then quarters, …, down to single ops) while `s`
    /// stays an anomaly. False when the time ran out.
    fn ddmin(&mut self, s: &mut Vec<usize>, mut pool: Vec<usize>, clock: &Clock) -> bool {
        let mut parts = 2usize;
        while pool.len() >= 2 && parts <= pool.len() {
            if clock.out() {
                return false;
            }
            let size = pool.len().div_ceil(parts);
            let mut reduced = false;
            for chunk in pool.chunks(size) {
                let gone: FxHashSet<usize> = chunk.iter().copied().collect();
                let cand: Vec<usize> = s.iter().copied().filter(|i| !gone.contains(i)).collect();
                if cand.is_empty() {
                    continue;
                }
                if self.trial(&cand, clock.trial()) == Verdict::Invalid {
                    *s = cand;
                    pool.retain(|i| !gone.contains(i));
                    parts = (parts - 1).max(2);
                    reduced = true;
                    break;
                }
                if clock.out() {
                    return false;
                }
            }
            if !reduced {
                if parts == pool.len() {
                    break;
                }
                parts = (parts * 2).min(pool.len());
            }
        }
        true
    }

    /// Re-check `s` from scratch, outside the memo: `s` with the others
    /// relaxed, and `s` alone. Both must be invalid.
    fn verify(&self, s: &[usize], others: Others, limit: Duration) -> (Verdict, Verdict) {
        let with_others = self.run(&self.trial_pairs(s, others), Instant::now() + limit);
        let alone = self.run(
            &self.trial_pairs(s, Others::Removed),
            Instant::now() + limit,
        );
        (with_others, alone)
    }
}

/// An op's argument as the compiler takes it: the invoke's value, or the
/// completion's when the invoke carries none.
fn argument<'p>(p: &Pair<'p>) -> &'p Value {
    if p.inv.value.is_null() {
        p.comp.map(|c| &c.value).unwrap_or(&p.inv.value)
    } else {
        &p.inv.value
    }
}

/// Re-check a minimal anomaly of one key from scratch: `indexes` are the
/// invoke indexes of its ops (`OpRef::index`). Returns the verdict of the
/// set with every other op of the key relaxed (none pruned: the plain
/// statement shown) and of the set alone, each searched within `limit`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recheck(
    model: ModelKind,
    init: &Value,
    nil_read: NilRead,
    pairs: &[Pair<'_>],
    key_pairs: &[Pair<'_>],
    indexes: &[u64],
    limit: Duration,
    memory_limit: usize,
) -> Result<(Verdict, Verdict), String> {
    let (machine, ops) =
        model::compile(model, init, nil_read, key_pairs).map_err(|e| e.to_string())?;
    let used = AtomicUsize::new(0);
    let shrinker = Shrinker::new(
        model,
        init,
        nil_read,
        pairs,
        &ops,
        &machine,
        memory_limit,
        &used,
    );
    let mut set = Vec::with_capacity(indexes.len());
    for &ix in indexes {
        let i = ops
            .iter()
            .position(|o| pairs[o.pair].inv.index == ix)
            .ok_or_else(|| format!("op {ix} is not an op of this key that the search places"))?;
        set.push(i);
    }
    set.sort_unstable();
    set.dedup();
    Ok(shrinker.verify(&set, Others::Relaxed, limit))
}

/// `1,203`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Shrink one invalid key and describe the result. `key_pairs` is how many
/// client ops the key has (`from_ops`); `blocked`, `tail` and the ops
/// concurrent with `blocked` seed the search. `None` when no anomaly was
/// shown within `deadline`, or (a bug) the final set did not re-check as
/// invalid.
#[allow(clippy::too_many_arguments)]
pub(crate) fn minimal_anomaly(
    shrinker: &mut Shrinker<'_, '_>,
    key_prefix: &str,
    noun: &str,
    init_text: Option<String>,
    key_pairs: usize,
    blocked: Option<usize>,
    tail: &[usize],
    deadline: Instant,
) -> Option<MinimalAnomaly> {
    let t0 = Instant::now();
    let ops = shrinker.ops;
    let mut seed: Vec<usize> = tail.to_vec();
    if let Some(b) = blocked {
        let x = &ops[b];
        let mut conc: Vec<usize> = (0..ops.len())
            .filter(|&i| i != b && ops[i].call < x.ret && ops[i].ret > x.call)
            .collect();
        conc.sort_by_key(|&i| ops[i].call.abs_diff(x.call));
        conc.truncate(SEED);
        seed.extend(conc);
    }
    let (set, one_minimal) = shrinker.shrink(blocked, &seed, deadline)?;
    let (with_others, alone) = shrinker.verify(&set, Others::RelaxedPruned, VERIFY);
    debug_assert!(
        with_others != Verdict::Valid && alone != Verdict::Valid,
        "a minimal anomaly re-checked as linearizable: {with_others:?} / {alone:?}"
    );
    if with_others == Verdict::Valid || alone == Verdict::Valid {
        return None;
    }
    let mut refs: Vec<(u64, OpRef)> = set
        .iter()
        .map(|&i| (ops[i].call, op_ref(&shrinker.pairs[ops[i].pair])))
        .collect();
    refs.sort_by_key(|(call, _)| *call);
    let rets: Vec<(u64, u64)> = {
        let mut v: Vec<(u64, u64)> = set.iter().map(|&i| (ops[i].call, ops[i].ret)).collect();
        v.sort();
        v
    };
    let refs: Vec<OpRef> = refs.into_iter().map(|(_, r)| r).collect();
    let explanation = explain(
        key_prefix,
        noun,
        init_text,
        key_pairs.saturating_sub(refs.len()),
        &refs,
        &rets,
    );
    Some(MinimalAnomaly {
        ops: refs,
        explanation,
        from_ops: key_pairs,
        one_minimal,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// The words: a headline, one line per op in invoke order, then which ops
/// real time orders (only the orderings not implied by others).
fn explain(
    key_prefix: &str,
    noun: &str,
    init_text: Option<String>,
    others: usize,
    refs: &[OpRef],
    windows: &[(u64, u64)],
) -> String {
    let n = refs.len();
    let these = if n == 1 {
        "this op cannot".to_string()
    } else {
        format!("these {n} ops cannot")
    };
    // Histories without keys are one partition: "the history's" ops.
    let whose = if key_prefix.is_empty() {
        "the history's"
    } else {
        "the key's"
    };
    let whatever = match others {
        0 => String::new(),
        1 => format!(
            ", whatever {whose} 1 other op did (it could have taken effect, as \
             recorded, at any moment of its own time window, or not at all)"
        ),
        m => format!(
            ", whatever {whose} other {} ops did (each could have taken effect, as \
             recorded, at any moment of its own time window, or not at all)",
            thousands(m)
        ),
    };
    let start = init_text
        .map(|t| format!(", {noun} starting at {t}"))
        .unwrap_or_default();
    // Up to SAY_OPS ops are named in the headline itself.
    let named = if n <= SAY_OPS {
        let short: Vec<String> = refs
            .iter()
            .map(|r| {
                let what = if r.value.is_null() {
                    r.f.clone()
                } else {
                    format!("{} {}", r.f, r.value)
                };
                format!("{what} by process {}", r.process)
            })
            .collect();
        format!(" ({})", short.join("; "))
    } else {
        String::new()
    };
    let mut out = format!("{key_prefix}{these} be linearized{named}{start}{whatever}:");
    for r in refs {
        out.push_str("\n  ");
        out.push_str(&r.text);
    }
    // Real-time order, transitively reduced: a before b when a completed
    // before b was invoked, unless some c sits between them.
    let before = |a: usize, b: usize| windows[a].1 != u64::MAX && windows[a].1 < windows[b].0;
    let mut facts = Vec::new();
    for a in 0..n {
        for b in 0..n {
            if a != b && before(a, b) && !(0..n).any(|c| before(a, c) && before(c, b)) {
                facts.push(format!(
                    "op {} completed before op {} began",
                    refs[a].index, refs[b].index
                ));
            }
        }
    }
    if facts.is_empty() {
        if n > 1 {
            out.push_str("\n  (all of them overlap in time)");
        }
    } else {
        out.push_str(&format!("\n  real time: {}.", facts.join("; ")));
    }
    out
}

/// At most this many ops are named in an explanation's headline.
const SAY_OPS: usize = 4;

/// How the initial value reads in an explanation, per model.
pub(crate) fn init_text(model: ModelKind, init: &Value) -> Option<String> {
    match model {
        ModelKind::Register | ModelKind::CasRegister => Some(init.to_string()),
        ModelKind::Kv => Some(match init {
            Value::String(s) => format!("{s:?}"),
            _ => "\"\"".to_string(),
        }),
        ModelKind::Mutex => Some(
            match init {
                Value::Bool(true) => "locked",
                Value::String(s) if s == "locked" => "locked",
                _ => "unlocked",
            }
            .to_string(),
        ),
        ModelKind::MultiRegister => match init {
            Value::Object(m) if !m.is_empty() => Some(
                m.iter()
                    .map(|(k, v)| format!("{k}={}", exact_text(v)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Value::Object(_) => None,
            v => Some(format!("{v} everywhere")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(index: u64, f: &str, value: Value, process: &str) -> OpRef {
        OpRef {
            index,
            complete_index: Some(index + 1),
            process: process.into(),
            f: f.into(),
            value,
            outcome: "ok".into(),
            invoke_time: 0,
            complete_time: None,
            text: format!("op {index} by process {process}"),
        }
    }

    #[test]
    fn explanation_names_the_ops_lists_them_and_their_real_time_order() {
        let refs = vec![
            op(41, "write", serde_json::json!(1), "7"),
            op(50, "write", serde_json::json!(2), "3"),
            op(57, "read", serde_json::json!(0), "2"),
        ];
        // 41 before 50 before 57: only the two direct orderings are said.
        let windows = [(1, 2), (3, 4), (5, 6)];
        let e = explain(
            "key 3: ",
            "the register",
            Some("0".into()),
            1203,
            &refs,
            &windows,
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(
            lines[0],
            "key 3: these 3 ops cannot be linearized (write 1 by process 7; write 2 by \
             process 3; read 0 by process 2), the register starting at 0, whatever the \
             key's other 1,203 ops did (each could have taken effect, as recorded, at any \
             moment of its own time window, or not at all):"
        );
        assert_eq!(lines[1], "  op 41 by process 7");
        assert_eq!(lines[3], "  op 57 by process 2");
        assert_eq!(
            lines[4],
            "  real time: op 41 completed before op 50 began; op 50 completed before op 57 began."
        );
        // No key: the history's ops; overlapping ops say so.
        let e = explain("", "the register", None, 1, &refs[..2], &[(1, 4), (2, 5)]);
        assert!(e.starts_with("these 2 ops cannot be linearized (write 1 by process 7; write 2 by process 3), whatever the history's 1 other op did"), "{e}");
        assert!(e.ends_with("(all of them overlap in time)"), "{e}");
        // Many ops: not named in the headline.
        let many: Vec<OpRef> = (0..5)
            .map(|i| op(i * 2, "write", serde_json::json!(i), "1"))
            .collect();
        let w: Vec<(u64, u64)> = (0..5).map(|i| (2 * i, 2 * i + 1)).collect();
        let e = explain("", "the register", None, 0, &many, &w);
        assert!(e.starts_with("these 5 ops cannot be linearized:"), "{e}");
    }

    #[test]
    fn init_text_per_model() {
        use serde_json::json;
        assert_eq!(
            init_text(ModelKind::Register, &json!(0)).as_deref(),
            Some("0")
        );
        assert_eq!(
            init_text(ModelKind::Kv, &Value::Null).as_deref(),
            Some("\"\"")
        );
        assert_eq!(
            init_text(ModelKind::Mutex, &json!(true)).as_deref(),
            Some("locked")
        );
        assert_eq!(
            init_text(ModelKind::MultiRegister, &json!({"x": 0})).as_deref(),
            Some("x=0")
        );
        assert_eq!(init_text(ModelKind::MultiRegister, &json!({})), None);
    }

    #[test]
    fn thousands_separates_groups_of_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1203), "1,203");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
