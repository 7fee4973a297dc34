//! The fault schedule (Jepsen's): quiet for `interval` seconds, then every
//! `interval` seconds one nemesis op. Each op picks a family; if that
//! family's fault is in force it stops, otherwise it starts with a target
//! and a `pick` (the seed of the op's own node choices, see
//! [`super::target`]) — so faults of different families overlap, as in
//! Jepsen's combined packages (`overlap: false` gives one fault at a time).
//!
//! Two bounds keep a verdict meaningful. A fault heals by itself after
//! `max-fault-duration` seconds (an ordinary stop op, with value
//! `{"max-fault-duration": S}`), because a random toggle may not pick the
//! family again for a long time: without the bound a `kill all` at 18 s
//! kept a 5-node cluster dead for the last 40 s of a 60 s run, and its
//! valid verdict said little. After a stop, the family does not start
//! again for `cool-down` seconds, so the cluster gets to recover before
//! the same fault hits again. Both are measured on the schedule's own
//! nominal times (tick times, start + max), never on when an op happened
//! to finish, so the dry run and a real run of one seed agree.
//!
//! Every choice comes from the RNG handed to the generator, so one run seed
//! gives one fault schedule.

use super::config::NemesisConfig;
use super::family::Choice;
use crate::generator::{GenCtx, Generator, Next};
use rand::{Rng, RngCore};
use serde_json::{json, Value};
use std::time::Duration;

/// One family in the schedule: how to start it (f, value choices) and stop it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Start ops: f and what its value chooses.
    pub starts: Vec<(String, Choice)>,
    /// The stop op's f.
    pub stop: String,
}

/// One nemesis op every `interval` (a start or a stop), plus the stops of
/// faults that reached `max-fault-duration`.
///
/// With `overlap` (Jepsen's mix of packages, the default), each tick picks a
/// family at random among those not cooling down and toggles it: starts its
/// fault when it is not in force, stops it when it is. Faults of different
/// families then overlap — a skewed clock *and* a partition — which some
/// bugs need. Without `overlap`, one fault at a time: start, stop, start,
/// stop. With a single family both are the same strict alternation. A tick
/// where every family is cooling down does nothing.
#[derive(Debug, Clone)]
pub struct Schedule {
    plans: Vec<Plan>,
    interval: Duration,
    /// The next tick, nominal time since the main phase started.
    next_at: Duration,
    overlap: bool,
    /// Per plan: the nominal time its fault started, while it is in force.
    since: Vec<Option<Duration>>,
    /// Per plan: the nominal time before which it may not start again.
    cool_until: Vec<Duration>,
    max_fault: Duration,
    cool_down: Duration,
}

impl Schedule {
    /// A schedule over `plans`, timed by `cfg` (interval, overlap, bounds).
    pub fn new(plans: Vec<Plan>, cfg: &NemesisConfig) -> Self {
        let interval = Duration::from_secs_f64(cfg.interval);
        Schedule {
            since: vec![None; plans.len()],
            cool_until: vec![Duration::ZERO; plans.len()],
            plans,
            interval,
            next_at: interval,
            overlap: cfg.overlap,
            max_fault: Duration::from_secs_f64(cfg.max_fault_duration),
            cool_down: Duration::from_secs_f64(cfg.cool_down),
        }
    }

    fn start(&mut self, i: usize, at: Duration, rng: &mut dyn RngCore) -> Next {
        self.since[i] = Some(at);
        let plan = &self.plans[i];
        let (f, choice) = &plan.starts[rng.gen_range(0..plan.starts.len())];
        let mut value = json!({});
        if let Some((field, choices)) = choice {
            value[*field] = json!(choices[rng.gen_range(0..choices.len())]);
        }
        value["pick"] = json!(rng.next_u64());
        Next::Op {
            f: f.clone(),
            key: None,
            value,
        }
    }

    /// Stop plan `i` at nominal time `at`; `value` says why when it is not
    /// the schedule's own pick.
    fn stop(&mut self, i: usize, at: Duration, value: Value) -> Next {
        self.since[i] = None;
        self.cool_until[i] = at + self.cool_down;
        Next::Op {
            f: self.plans[i].stop.clone(),
            key: None,
            value,
        }
    }

    /// The fault in force longest, and when it reaches its maximum.
    fn next_self_heal(&self) -> Option<(Duration, usize)> {
        self.since
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (s + self.max_fault, i)))
            .min()
    }
}

impl Generator for Schedule {
    fn next(&mut self, ctx: &GenCtx, rng: &mut dyn RngCore) -> Next {
        if self.plans.is_empty() {
            return Next::Done;
        }
        // Events go in nominal-time order, a self-heal before a tick at the
        // same instant (the family is then free at the tick), so a late
        // poll cannot reorder them.
        if let Some((at, i)) = self.next_self_heal() {
            if at <= self.next_at && ctx.elapsed >= at {
                let value = json!({"max-fault-duration": self.max_fault.as_secs_f64()});
                return self.stop(i, at, value);
            }
        }
        if ctx.elapsed < self.next_at {
            return Next::Pending;
        }
        let now = self.next_at;
        self.next_at += self.interval;
        if !self.overlap {
            if let Some(i) = self.since.iter().position(Option::is_some) {
                return self.stop(i, now, Value::Null);
            }
        }
        let free: Vec<usize> = (0..self.plans.len())
            .filter(|&i| self.since[i].is_some() || self.cool_until[i] <= now)
            .collect();
        if free.is_empty() {
            return Next::Pending;
        }
        let i = free[rng.gen_range(0..free.len())];
        if self.since[i].is_some() {
            self.stop(i, now, Value::Null)
        } else {
            self.start(i, now, rng)
        }
    }
}
