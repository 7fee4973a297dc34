//! Online checking: judge the history while the main phase runs, so a run
//! knows when it first proved an anomaly (time to bug) and, with
//! `--stop-on-anomaly`, can end its main phase right then.
//!
//! Only checkers whose anomalies on a *prefix* are anomalies of every
//! extension run online ([`Checker::prefix_closed`]; invokes without a
//! completion yet count as `info`): an `invalid` there is a proof, never a
//! guess. The others (the set checker, whose "lost" needs the final read)
//! wait for the final check, which still runs on the whole history at the
//! end, as without online checking.
//!
//! The work is incremental, so it stays cheap over a long run:
//! - the [`Engine`] takes only the ops recorded since its last look
//!   ([`super::recorder::Recorder::ops_since`]);
//! - a checker whose keys are independent
//!   ([`Checker::independent_keys`], linearizability) re-checks only the
//!   keys that got a new completion since its last check, each key's
//!   sub-history alone;
//! - every checker backs off: its next check comes at least one window,
//!   and at least twice its last check's duration, after the last one
//!   ended, so checking takes at most about half a core.
//!
//! `valid` and `unknown` on a prefix prove nothing and are not reported;
//! the first `invalid` is ([`Found`]) and ends online checking.

use super::log::RunLog;
use super::recorder::Recorder;
use super::signals::Stop;
use crate::checker::{Checker, Validity};
use crate::history::{History, Key, Op, OpType, Process};
use crate::report::results::{OnlineAnomaly, OnlineSummary};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default shortest time between two checks of one checker.
pub const WINDOW: Duration = Duration::from_millis(500);

/// An anomaly an online check proved.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The checker's name.
    pub checker: String,
    /// Its summary.
    pub summary: String,
    /// Client ops completed in the prefix that proved it.
    pub ops: u64,
}

/// One online checker and when it may run next.
struct Entry {
    checker: Box<dyn Checker>,
    /// Keys with a new completion since this checker's last check (per-key
    /// checkers only).
    dirty: HashSet<Option<Key>>,
    /// A new completion since the last check (whole-history checkers).
    stale: bool,
    /// Not before this instant.
    due: Option<Instant>,
}

impl Entry {
    fn per_key(&self) -> bool {
        self.checker.independent_keys()
    }
}

/// The incremental online checker: fed the new ops of the history now and
/// then ([`Engine::feed`]), it checks what changed when each checker is due
/// ([`Engine::check`]). Independent of the runner, so it can be driven by a
/// stored history in tests.
pub struct Engine {
    entries: Vec<Entry>,
    offline: Vec<String>,
    window: Duration,
    /// The whole prefix (for checkers that are not per key).
    history: History,
    /// Each key's sub-history (for per-key checkers).
    keys: HashMap<Option<Key>, History>,
    /// The key of each process's open invoke.
    open: HashMap<Process, Option<Key>>,
    completed: u64,
    checks: u64,
}

impl Engine {
    /// An engine over the prefix-closed ones of `checkers` (the others are
    /// named in [`Engine::offline`]); a checker runs at most once per
    /// `window`.
    pub fn new(checkers: Vec<Box<dyn Checker>>, window: Duration) -> Engine {
        let mut entries = Vec::new();
        let mut offline = Vec::new();
        for c in checkers {
            if c.prefix_closed() {
                entries.push(Entry {
                    checker: c,
                    dirty: HashSet::new(),
                    stale: false,
                    due: None,
                });
            } else {
                offline.push(c.name().to_string());
            }
        }
        Engine {
            entries,
            offline,
            window,
            history: History::new(Vec::new()),
            keys: HashMap::new(),
            open: HashMap::new(),
            completed: 0,
            checks: 0,
        }
    }

    /// The names of the checkers run online.
    pub fn online(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.checker.name().to_string())
            .collect()
    }

    /// The names of the checkers left to the final check.
    pub fn offline(&self) -> &[String] {
        &self.offline
    }

    /// Checks run so far: one per whole-history check, one per key of a
    /// per-key check.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// Client ops completed in the history fed so far.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// The number of ops fed so far (the index the next [`Engine::feed`]
    /// continues from).
    pub fn len(&self) -> usize {
        self.history.ops.len()
    }

    /// True when nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.history.ops.is_empty()
    }

    /// Add the next ops of the history, in order.
    pub fn feed(&mut self, ops: Vec<Op>) {
        let per_key = self.entries.iter().any(Entry::per_key);
        for op in ops {
            if op.is_client() {
                // A completion belongs to its invoke's key.
                let key = if op.kind == OpType::Invoke {
                    self.open.insert(op.process, op.key.clone());
                    op.key.clone()
                } else {
                    self.completed += 1;
                    let key = self
                        .open
                        .remove(&op.process)
                        .unwrap_or_else(|| op.key.clone());
                    for e in &mut self.entries {
                        if e.per_key() {
                            e.dirty.insert(key.clone());
                        } else {
                            e.stale = true;
                        }
                    }
                    key
                };
                if per_key {
                    self.keys
                        .entry(key)
                        .or_insert_with(|| History::new(Vec::new()))
                        .ops
                        .push(op.clone());
                }
            }
            self.history.ops.push(op);
        }
    }

    /// Run every checker that is due at `now` and has something new; the
    /// first anomaly proven, if any.
    pub fn check(&mut self, now: Instant) -> Option<Found> {
        let window = self.window;
        let completed = self.completed;
        let Engine {
            entries,
            history,
            keys,
            checks,
            ..
        } = self;
        for e in entries.iter_mut() {
            if e.due.is_some_and(|d| now < d) {
                continue;
            }
            let started = Instant::now();
            let mut found = None;
            if e.per_key() {
                if e.dirty.is_empty() {
                    continue;
                }
                // In a fixed order, so a run replays the same checks.
                let mut dirty: Vec<Option<Key>> = e.dirty.drain().collect();
                dirty.sort_by_cached_key(|k| format!("{k:?}"));
                for k in dirty {
                    let Some(h) = keys.get(&k) else { continue };
                    *checks += 1;
                    if let Some(s) = invalid(e.checker.as_ref(), h) {
                        found = Some(s);
                        break;
                    }
                }
            } else {
                if !e.stale {
                    continue;
                }
                e.stale = false;
                *checks += 1;
                found = invalid(e.checker.as_ref(), history);
            }
            let took = started.elapsed();
            e.due = Some(Instant::now() + window.max(took * 2));
            if let Some(summary) = found {
                return Some(Found {
                    checker: e.checker.name().to_string(),
                    summary,
                    ops: completed,
                });
            }
        }
        None
    }
}

/// The summary of `checker` over `history` when it proves an anomaly; an
/// error, a panic, `valid` or `unknown` prove nothing.
fn invalid(checker: &dyn Checker, history: &History) -> Option<String> {
    if !crate::checker::has_client_ops(history) {
        return None;
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checker.check(history)));
    match r {
        Ok(Ok(r)) if r.valid == Validity::Invalid => Some(r.summary),
        _ => None,
    }
}

/// Online checking of a running main phase, on its own thread.
pub struct Online {
    done: Arc<AtomicBool>,
    summary: Arc<Mutex<OnlineSummary>>,
}

/// How often the thread looks for new ops.
const POLL: Duration = Duration::from_millis(100);

impl Online {
    /// Start checking what `recorder` records, the main phase having
    /// started at `main_start`. On the first anomaly it logs it, records
    /// it and, when `end` is given (`--stop-on-anomaly`), triggers `end`,
    /// the main phase's end.
    pub fn start(
        mut engine: Engine,
        recorder: Arc<Recorder>,
        main_start: Instant,
        end: Option<Stop>,
        log: Arc<RunLog>,
    ) -> Online {
        let done = Arc::new(AtomicBool::new(false));
        let summary = Arc::new(Mutex::new(OnlineSummary {
            checkers: engine.online(),
            offline: engine.offline().to_vec(),
            stop_on_anomaly: end.is_some(),
            ..OnlineSummary::default()
        }));
        let (d, s) = (done.clone(), summary.clone());
        let body = move || {
            while !d.load(Ordering::SeqCst) {
                std::thread::sleep(POLL);
                engine.feed(recorder.ops_since(engine.len()));
                let found = engine.check(Instant::now());
                if d.load(Ordering::SeqCst) {
                    return;
                }
                let mut g = crate::sync::lock(&s);
                g.checks = engine.checks();
                let Some(f) = found else { continue };
                let seconds = main_start.elapsed().as_secs_f64();
                log.warn(format!(
                    "online: anomaly proven at {seconds:.1} s after {} ops ({}: {})",
                    f.ops, f.checker, f.summary
                ));
                g.anomaly = Some(OnlineAnomaly {
                    seconds: (seconds * 1000.0).round() / 1000.0,
                    at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ops: f.ops,
                    checker: f.checker,
                    summary: f.summary,
                });
                if let Some(end) = &end {
                    g.stopped_early_at = Some((seconds * 1000.0).round() / 1000.0);
                    drop(g);
                    log.info("--stop-on-anomaly: ending the main phase");
                    end.trigger("anomaly");
                }
                return;
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("online-check".into())
            .spawn(body)
        {
            crate::sync::lock(&summary)
                .offline
                .push(format!("online checking could not start: {e}"));
        }
        Online { done, summary }
    }

    /// Stop checking (a check in progress finishes on its own; what it
    /// finds is dropped) and return what was found.
    pub fn finish(self) -> OnlineSummary {
        self.done.store(true, Ordering::SeqCst);
        crate::sync::lock(&self.summary).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::linearizable::Linearizable;
    use crate::checker::set::SetChecker;
    use crate::checker::CheckResult;
    use serde_json::json;
    use std::sync::atomic::AtomicUsize;

    fn inv(p: u64, f: &str, key: i64, v: serde_json::Value) -> Op {
        let mut op = Op::invoke(Process::Client(p), f, v);
        op.key = Some(Key::Int(key));
        op
    }

    fn done(p: u64, kind: OpType, f: &str, key: i64, v: serde_json::Value) -> Op {
        let mut op = inv(p, f, key, v);
        op.kind = kind;
        op
    }

    /// An instant past any backoff of a quick check.
    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// Number ops densely, as the recorder does.
    fn indexed(ops: Vec<Op>) -> Vec<Op> {
        ops.into_iter()
            .enumerate()
            .map(|(i, mut o)| {
                o.index = i as u64;
                o.time = i as u64 * 1000;
                o
            })
            .collect()
    }

    /// Key 1 valid, then key 2: a write of 1 acknowledged, then a read of
    /// the initial null — a stale read.
    fn stale_history() -> Vec<Op> {
        indexed(vec![
            inv(0, "write", 1, json!(5)),
            done(0, OpType::Ok, "write", 1, json!(5)),
            inv(1, "read", 1, json!(null)),
            done(1, OpType::Ok, "read", 1, json!(5)),
            inv(0, "write", 2, json!(1)),
            done(0, OpType::Ok, "write", 2, json!(1)),
            inv(1, "read", 2, json!(null)),
            done(1, OpType::Ok, "read", 2, json!(null)),
        ])
    }

    #[test]
    fn finds_the_anomaly_the_final_check_finds_and_none_in_a_valid_history() {
        let ops = stale_history();
        let final_check = Linearizable::default()
            .check(&History::new(ops.clone()))
            .unwrap();
        assert_eq!(final_check.valid, Validity::Invalid);

        let mut e = Engine::new(vec![Box::new(Linearizable::default())], Duration::ZERO);
        // The valid first half proves nothing.
        e.feed(ops[..6].to_vec());
        assert_eq!(e.check(later()), None);
        e.feed(ops[6..].to_vec());
        let found = e.check(later()).expect("the stale read is proven");
        assert_eq!(found.checker, "linearizable");
        assert_eq!(found.ops, 4);
        assert!(found.summary.contains('2'), "{}", found.summary);
    }

    /// Counts the histories it is asked to check, and how many ops each.
    struct Counting {
        calls: Arc<AtomicUsize>,
        sizes: Arc<Mutex<Vec<usize>>>,
    }

    impl Checker for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn check(&self, h: &History) -> Result<CheckResult, crate::checker::CheckError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            crate::sync::lock(&self.sizes).push(h.ops.len());
            Linearizable::default().check(h)
        }
        fn prefix_closed(&self) -> bool {
            true
        }
        fn independent_keys(&self) -> bool {
            true
        }
    }

    #[test]
    fn only_keys_with_new_completions_are_checked_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let c = Counting {
            calls: calls.clone(),
            sizes: sizes.clone(),
        };
        let mut e = Engine::new(vec![Box::new(c)], Duration::ZERO);
        let ops = stale_history();
        e.feed(ops[..4].to_vec()); // key 1 only
        assert_eq!(e.check(later()), None);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Nothing new: nothing checked.
        assert_eq!(e.check(later()), None);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Key 2's write: only key 2 is checked, on its 2 ops.
        e.feed(ops[4..6].to_vec());
        assert_eq!(e.check(later()), None);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(*crate::sync::lock(&sizes), vec![4, 2]);
        // An invoke alone changes nothing to check.
        e.feed(ops[6..7].to_vec());
        assert_eq!(e.check(later()), None);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        e.feed(ops[7..].to_vec());
        assert!(e.check(later()).is_some());
        assert_eq!(*crate::sync::lock(&sizes), vec![4, 2, 4]);
        assert_eq!(e.checks(), 3);
    }

    #[test]
    fn a_checker_backs_off_until_its_window_has_passed() {
        let mut e = Engine::new(
            vec![Box::new(Linearizable::default())],
            Duration::from_secs(3600),
        );
        let ops = stale_history();
        e.feed(ops[..4].to_vec());
        let now = Instant::now();
        assert_eq!(e.check(now), None);
        e.feed(ops[4..].to_vec());
        assert_eq!(e.check(Instant::now()), None, "not due for an hour");
        assert!(e.check(now + Duration::from_secs(3601)).is_some());
    }

    #[test]
    fn a_checker_that_is_not_prefix_closed_stays_offline() {
        let e = Engine::new(
            vec![
                Box::new(SetChecker::default()),
                Box::new(Linearizable::default()),
            ],
            WINDOW,
        );
        assert_eq!(e.online(), vec!["linearizable".to_string()]);
        assert_eq!(e.offline(), &["set".to_string()]);
    }
}
