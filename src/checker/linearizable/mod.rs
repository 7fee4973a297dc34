//! Linearizability: does a concurrent history have a sequential witness?
//!
//! A history is *linearizable* for a sequential model when every completed
//! operation can be given a single point in time between its invoke and its
//! completion such that, taken in that order, the operations are legal for the
//! model. `fail` ops definitely did not happen and are dropped; `info` ops
//! and invokes without completion may take effect at any point after their
//! invoke, or never (their completion time is +∞).
//!
//! The search (module `search`) is Wing–Gong–Lowe's, as Porcupine does it, with a
//! cache of (set of linearized ops, model state). Histories whose ops carry a
//! `key` are split by key (P-compositionality: a history is linearizable iff
//! each key's sub-history is) and the keys are checked in parallel. Every
//! check has a time and memory budget; a key the budget does not decide is
//! `unknown`, never a hang or an out-of-memory kill.
//!
//! Models ([`model`]) have explicit semantics: the initial value and what a
//! `null` read means are options ([`LinearizableOptions`]), never guesses.
//!
//! Every invalid key also gets a *minimal anomaly* ([`MinimalAnomaly`], in
//! `KeyReport::minimal`): a handful of its ops that cannot be linearized
//! whatever the key's other ops did (each could have taken effect, as
//! recorded, at any moment of its own time window, or not at all), found by shrinking the
//! key's history within [`ShrinkLimits`] (module `shrink` explains why the
//! shrinking is sound). It comes first in the summary and explanations.

pub mod generate;
pub mod model;
mod report;
mod search;
mod shrink;

pub use model::{ModelKind, NilRead};
pub use report::{FailureReport, KeyReport, LinearizableReport, MinimalAnomaly, OpRef};
pub use shrink::ShrinkLimits;

use crate::checker::{CheckError, CheckResult, Checker};
use crate::history::{History, HistoryError, Key, OpType, Process};
use model::Pair;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Options of the linearizability checker. Nothing about the model is
/// guessed: the initial value and the meaning of a `null` read are explicit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearizableOptions {
    /// The sequential model.
    pub model: ModelKind,
    /// The initial value (JSON): `0`, `null`, `""`, `{"x":0,"y":0}`.
    pub init: serde_json::Value,
    /// What a read that returned `null` means.
    pub nil_read: NilRead,
    /// Wall-clock budget of one check; `None` = unbounded. Keys not decided
    /// in time are `unknown`.
    pub time_limit: Option<Duration>,
    /// Bytes the search caches of one check may hold together; `None` =
    /// unbounded. Keys that would exceed it are `unknown`.
    pub memory_limit: Option<usize>,
    /// Decide every key instead of stopping at the first invalid one.
    pub all_keys: bool,
}

impl Default for LinearizableOptions {
    fn default() -> Self {
        LinearizableOptions {
            model: ModelKind::CasRegister,
            init: serde_json::Value::Null,
            nil_read: NilRead::Empty,
            time_limit: Some(Duration::from_secs(60)),
            memory_limit: Some(1 << 30),
            all_keys: false,
        }
    }
}

/// The linearizability checker (name `linearizable`): Wing–Gong–Lowe search
/// per key, keys in parallel. `details` of its result is a serialized
/// [`LinearizableReport`].
#[derive(Debug, Clone, Default)]
pub struct Linearizable(pub LinearizableOptions);

impl Checker for Linearizable {
    fn name(&self) -> &str {
        "linearizable"
    }

    /// Yes: a key's ops that have no linearization in a prefix (open
    /// invokes may take effect at any time after their invoke, or never)
    /// have none in any extension either. An extension only adds ops (each
    /// one more constraint) and completes open invokes: an `ok` narrows
    /// the window in which the op may take effect, a `fail` removes an op
    /// that, as `info`, could already be left out; neither makes room for
    /// a linearization the prefix did not have.
    fn prefix_closed(&self) -> bool {
        true
    }

    /// Yes: keys are independent (see the module docs).
    fn independent_keys(&self) -> bool {
        true
    }

    fn check(&self, history: &History) -> Result<CheckResult, CheckError> {
        let report = self.analyze(history)?;
        let mut r = CheckResult::new("linearizable", report.valid, report.summary());
        r.details = serde_json::to_value(&report)
            .map_err(|e| CheckError::Config(format!("serializing the report: {e}")))?;
        Ok(r)
    }
}

impl Linearizable {
    /// Check a history and return the full report (what `check` serializes
    /// into `details`). Every invalid key gets a minimal anomaly within the
    /// default [`ShrinkLimits`].
    pub fn analyze(&self, history: &History) -> Result<LinearizableReport, CheckError> {
        self.analyze_with(history, ShrinkLimits::default())
    }

    /// [`Linearizable::analyze`] with explicit budgets for the minimal
    /// anomalies of invalid keys (`KeyReport::minimal`).
    pub fn analyze_with(
        &self,
        history: &History,
        limits: ShrinkLimits,
    ) -> Result<LinearizableReport, CheckError> {
        let started = Instant::now();
        let opts = &self.0;
        let pairs = pair_up(history)?;

        // Split by key, keeping invoke order inside each key.
        let mut index: FxHashMap<Option<&Key>, usize> = FxHashMap::default();
        let mut parts: Vec<(Option<Key>, Vec<Pair<'_>>)> = Vec::new();
        for p in &pairs {
            let key = p.inv.key.as_ref().or(p.comp.and_then(|c| c.key.as_ref()));
            let i = *index.entry(key).or_insert_with(|| {
                parts.push((key.cloned(), Vec::new()));
                parts.len() - 1
            });
            parts[i].1.push(*p);
        }

        let mut compiled: Vec<_> = parts
            .par_iter()
            .enumerate()
            .map(|(i, (key, ps))| {
                model::compile(opts.model, &opts.init, opts.nil_read, ps)
                    .map(|(m, ops)| (i, key, m, ops))
            })
            .collect::<Result<_, _>>()?;
        // Largest partitions first, so one big key does not start last.
        compiled.sort_by_key(|c| std::cmp::Reverse(c.3.len()));

        let used = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let check_deadline = opts.time_limit.map(|d| started + d);
        // The shrinking of all invalid keys together ends by this instant,
        // fixed when the first invalid key starts shrinking.
        let shrink_until = std::sync::OnceLock::<Instant>::new();
        let budget = search::Budget {
            deadline: check_deadline,
            memory_limit: opts.memory_limit.unwrap_or(usize::MAX),
            used: &used,
            cancel: &cancel,
        };
        // Workers take keys from a queue, largest first, so an invalid key
        // is found (and the rest cancelled) as early as possible, and one
        // hard key occupies one core, not the whole check.
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(compiled.len())
            .max(1);
        let queue: Vec<std::sync::Mutex<Option<_>>> = compiled
            .into_iter()
            .map(|c| std::sync::Mutex::new(Some(c)))
            .collect();
        let next = AtomicUsize::new(0);
        let results = std::sync::Mutex::new(Vec::with_capacity(queue.len()));
        let run_key = |(i, key, mut machine, ops): (
            usize,
            &Option<Key>,
            model::Machine,
            Vec<model::PartOp>,
        )| {
            let t0 = Instant::now();
            let (outcome, frontier, stats) = if cancel.load(Ordering::Relaxed) {
                (
                    search::Outcome::Unknown(search::GaveUp::Cancelled),
                    Default::default(),
                    Default::default(),
                )
            } else {
                search::search(&mut machine, &ops, &budget)
            };
            if matches!(outcome, search::Outcome::Invalid) && !opts.all_keys {
                cancel.store(true, Ordering::Relaxed);
            }
            let mut rep = report::key_report(
                opts.model,
                key.clone(),
                &pairs,
                &machine,
                &ops,
                &outcome,
                &frontier,
                &stats,
                t0.elapsed(),
            );
            if matches!(outcome, search::Outcome::Invalid) && !limits.per_key.is_zero() {
                let now = Instant::now();
                let total = *shrink_until.get_or_init(|| {
                    let t = now + limits.total;
                    check_deadline.map_or(t, |d| d.min(t))
                });
                let deadline = (now + limits.per_key).min(total);
                if deadline > now {
                    let mut shrinker = shrink::Shrinker::new(
                        opts.model,
                        &opts.init,
                        opts.nil_read,
                        &pairs,
                        &ops,
                        &machine,
                        opts.memory_limit.unwrap_or(usize::MAX),
                        &used,
                    );
                    let tail: Vec<usize> = frontier.tail.iter().map(|&t| t as usize).collect();
                    rep.minimal = shrink::minimal_anomaly(
                        &mut shrinker,
                        &report::key_prefix(key),
                        opts.model.noun(),
                        shrink::init_text(opts.model, &opts.init),
                        parts[i].1.len(),
                        frontier.blocked.map(|b| b as usize),
                        &tail,
                        deadline,
                    );
                }
            }
            (i, rep)
        };
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = queue.get(j) else { break };
                    let Some(item) = slot.lock().ok().and_then(|mut g| g.take()) else {
                        continue;
                    };
                    let r = run_key(item);
                    if let Ok(mut g) = results.lock() {
                        g.push(r);
                    }
                });
            }
        });
        let mut keys: Vec<(usize, KeyReport)> = results.into_inner().unwrap_or_default();
        keys.sort_by_key(|(i, _)| *i);
        let keys: Vec<KeyReport> = keys.into_iter().map(|(_, k)| k).collect();
        Ok(LinearizableReport::new(
            opts,
            pairs.len(),
            keys,
            started.elapsed(),
        ))
    }
}

impl Linearizable {
    /// Re-check a minimal anomaly of `key` (`None`: ops without a key)
    /// against the history it was found in, from scratch and independently
    /// of the shrinking's bookkeeping: its ops are found by their invoke
    /// index. Returns two verdicts, each searched within `limit`: the
    /// anomaly's ops with every other op of the key relaxed (observers
    /// removed, every state change free to take effect within its own time
    /// window or not at all, none pruned), and the anomaly's ops alone.
    /// Both are `Invalid` for a real anomaly.
    pub fn recheck_minimal(
        &self,
        history: &History,
        key: Option<&Key>,
        anomaly: &MinimalAnomaly,
        limit: Duration,
    ) -> Result<(crate::checker::Validity, crate::checker::Validity), CheckError> {
        use crate::checker::Validity;
        let opts = &self.0;
        let pairs = pair_up(history)?;
        let key_pairs: Vec<Pair<'_>> = pairs
            .iter()
            .filter(|p| p.inv.key.as_ref().or(p.comp.and_then(|c| c.key.as_ref())) == key)
            .copied()
            .collect();
        let indexes: Vec<u64> = anomaly.ops.iter().map(|o| o.index).collect();
        let (a, b) = shrink::recheck(
            opts.model,
            &opts.init,
            opts.nil_read,
            &pairs,
            &key_pairs,
            &indexes,
            limit,
            opts.memory_limit.unwrap_or(usize::MAX),
        )
        .map_err(CheckError::Config)?;
        let v = |x: shrink::Verdict| match x {
            shrink::Verdict::Valid => Validity::Valid,
            shrink::Verdict::Invalid => Validity::Invalid,
            shrink::Verdict::Unknown => Validity::Unknown,
        };
        Ok((v(a), v(b)))
    }
}

/// Pair each client invoke with its completion, remembering positions.
fn pair_up(history: &History) -> Result<Vec<Pair<'_>>, CheckError> {
    let mut open: FxHashMap<Process, usize> = FxHashMap::default();
    let mut out: Vec<Pair<'_>> = Vec::new();
    for (pos, op) in history.ops.iter().enumerate() {
        if op.process.is_nemesis() {
            continue;
        }
        if op.kind == OpType::Invoke {
            if let Some(&prev) = open.get(&op.process) {
                return Err(HistoryError::Malformed {
                    index: op.index,
                    reason: format!(
                        "process {} invokes op {} while its op {} is still open",
                        op.process, op.index, out[prev].inv.index
                    ),
                }
                .into());
            }
            open.insert(op.process, out.len());
            out.push(Pair {
                ix: out.len(),
                inv: op,
                comp: None,
                call: pos as u64,
                ret: None,
            });
        } else {
            let Some(i) = open.remove(&op.process) else {
                return Err(HistoryError::Malformed {
                    index: op.index,
                    reason: format!(
                        "{} completion of process {} has no invoke",
                        op.kind, op.process
                    ),
                }
                .into());
            };
            out[i].comp = Some(op);
            out[i].ret = Some(pos as u64);
        }
    }
    Ok(out)
}
