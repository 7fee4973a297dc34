//! Nemesis packages: which faults, how often, on which targets — from a
//! YAML file under `nemeses/` — turned into a nemesis, its schedule and its
//! final heal.
//!
//! The schedule is Jepsen's: quiet for `interval` seconds, then every
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
//! gives one fault schedule. Families the Db
//! cannot support (kill without `Capabilities::kill`, clock when
//! `Capabilities::clock` is `Err`...) are left out and listed in
//! [`Package::skipped`] with the reason.

use super::clock::{ClockNemesis, ClockParams};
use super::compose::Compose;
use super::election::ElectionNemesis;
use super::packet::LossNemesis;
use super::partition::{PartitionKind, PartitionNemesis};
use super::process::ProcessNemesis;
use super::target::Target;
use super::{Nemesis, NemesisError};
use crate::db::Capabilities;
use crate::generator::{GenCtx, Generator, Next};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// The fault families, in documentation order (what `all` means).
pub const FAMILIES: [&str; 5] = ["partition", "kill", "pause", "clock", "loss"];

/// Each start `f` of a fault and the `f` that stops it. The stop `f` names
/// the fault's family in the history (one stop per family), so it pairs a
/// stop with its start even when faults of several families overlap.
pub const START_STOP: [(&str, &str); 7] = [
    ("start-partition", "stop-partition"),
    ("kill", "start"),
    ("pause", "resume"),
    ("bump-clock", "reset-clock"),
    ("strobe-clock", "reset-clock"),
    ("start-loss", "stop-loss"),
    ("start-election", "stop-election"),
];

/// The `f` that stops a fault started by `start_f`, if `start_f` starts one.
pub fn stop_of(start_f: &str) -> Option<&'static str> {
    START_STOP
        .iter()
        .find(|(start, _)| *start == start_f)
        .map(|(_, stop)| *stop)
}

/// True when `f` stops a fault.
pub fn is_stop(f: &str) -> bool {
    START_STOP.iter().any(|(_, stop)| *stop == f)
}

/// Default `max-fault-duration`, seconds: longer than the default interval,
/// so two families still overlap, short enough that no single fault holds
/// a quarter of a default 60 s run.
pub const DEFAULT_MAX_FAULT_DURATION: f64 = 15.0;
/// Default `cool-down`, seconds: a few Raft election timeouts, time for
/// the cluster to recover before the same family hits again.
pub const DEFAULT_COOL_DOWN: f64 = 5.0;

/// Scripted scenarios built from those families (see
/// [`super::election`]); named explicitly, never part of `all`: each
/// needs a particular cluster (e.g. exactly 3 nodes) and takes over the
/// whole cluster for seconds.
pub const SCENARIO_FAMILIES: [&str; 1] = ["election"];

/// A nemesis file (`nemeses/*.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct NemesisConfig {
    /// Families: `partition`, `kill`, `pause`, `clock`, `loss`, or `all`
    /// (every family the Db supports). Empty: no faults.
    pub faults: Vec<String>,
    /// Seconds between two nemesis ops (a start or a stop).
    pub interval: f64,
    /// Let faults of different families overlap (default true): each
    /// interval a random family starts its fault, or stops it when it is in
    /// force. `false`: one fault at a time, start then stop.
    pub overlap: bool,
    /// Seconds after which a fault heals by itself (a stop op), whatever
    /// the schedule picks meanwhile.
    pub max_fault_duration: f64,
    /// Seconds after a fault stops before its family may start again.
    pub cool_down: f64,
    /// Partition options.
    pub partition: PartitionConfig,
    /// Kill options.
    pub kill: TargetConfig,
    /// Pause options.
    pub pause: TargetConfig,
    /// Clock options.
    pub clock: ClockConfig,
    /// Packet-loss options.
    pub loss: LossConfig,
    /// Election-choreography options (family `election`).
    pub election: ElectionConfig,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            faults: vec!["partition".into(), "kill".into()],
            interval: 10.0,
            overlap: true,
            max_fault_duration: DEFAULT_MAX_FAULT_DURATION,
            cool_down: DEFAULT_COOL_DOWN,
            partition: PartitionConfig::default(),
            kill: TargetConfig {
                targets: vec![Target::One, Target::Leader, Target::Minority, Target::All],
            },
            pause: TargetConfig {
                targets: vec![Target::One, Target::Leader],
            },
            clock: ClockConfig::default(),
            loss: LossConfig::default(),
            election: ElectionConfig::default(),
        }
    }
}

/// Election-choreography options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ElectionConfig {
    /// Scenarios: `double-vote`.
    pub targets: Vec<String>,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            targets: super::election::SCENARIOS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Which partitions to draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct PartitionConfig {
    /// Partition kinds.
    pub targets: Vec<PartitionKind>,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            targets: PartitionKind::ALL.to_vec(),
        }
    }
}

/// Which nodes a process fault hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetConfig {
    /// Targets: `one`, `leader`, `minority`, `majority`, `all`.
    pub targets: Vec<Target>,
}

/// A clock fault that starts a cycle (`reset` always ends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockFault {
    /// Jump some clocks by ± up to `max-skew-ms`.
    Bump,
    /// Jump every clock back by the same amount (`bump-clock` with
    /// `direction: back`): a leader's wall-clock lease outlives its term.
    BumpBack,
    /// Flip some clocks back and forth quickly.
    Strobe,
}

/// Clock options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ClockConfig {
    /// Which faults start a cycle.
    pub targets: Vec<ClockFault>,
    /// Largest bump, ms.
    pub max_skew_ms: u64,
    /// Smallest bump, ms (bumps are log-uniform between the two).
    pub min_skew_ms: u64,
    /// Strobe jump, ms.
    pub strobe_delta_ms: u64,
    /// Strobe flip period, ms.
    pub strobe_period_ms: u64,
    /// Strobe length, ms.
    pub strobe_duration_ms: u64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        let p = ClockParams::default();
        ClockConfig {
            targets: vec![ClockFault::Bump, ClockFault::Strobe],
            max_skew_ms: p.max_skew_ms,
            min_skew_ms: p.min_skew_ms,
            strobe_delta_ms: p.strobe_delta_ms,
            strobe_period_ms: p.strobe_period_ms,
            strobe_duration_ms: p.strobe_duration_ms,
        }
    }
}

/// Packet-loss options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct LossConfig {
    /// Which nodes lose packets.
    pub targets: Vec<Target>,
    /// Share of incoming packets dropped, in (0, 1].
    pub probability: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            targets: vec![Target::One, Target::Minority, Target::All],
            probability: 0.2,
        }
    }
}

/// A nemesis ready to run: what injects, when, and how it all heals.
pub struct Package {
    /// The combined nemesis.
    pub nemesis: Box<dyn Nemesis>,
    /// The fault schedule (process `nemesis` ops).
    pub schedule: Box<dyn Generator>,
    /// Ops that heal everything, run in order at the end of the main phase.
    pub final_ops: Vec<(String, Value)>,
    /// Families or targets left out, each with the reason.
    pub skipped: Vec<String>,
}

fn bad(reason: impl Into<String>) -> NemesisError {
    NemesisError::BadOp {
        nemesis: "config".into(),
        reason: reason.into(),
    }
}

impl NemesisConfig {
    /// The families asked for, `all` expanded, duplicates removed; an
    /// unknown name is an error naming the valid ones.
    pub fn families(&self) -> Result<Vec<&'static str>, NemesisError> {
        let mut out: Vec<&'static str> = Vec::new();
        for f in &self.faults {
            let f = f.trim();
            if f == "all" {
                for fam in FAMILIES {
                    if !out.contains(&fam) {
                        out.push(fam);
                    }
                }
            } else if f == "none" {
                continue;
            } else if let Some(fam) = FAMILIES
                .iter()
                .chain(SCENARIO_FAMILIES.iter())
                .find(|x| **x == f)
            {
                if !out.contains(fam) {
                    out.push(fam);
                }
            } else {
                return Err(bad(format!(
                    "faults: unknown fault family {f:?}; valid: partition, kill, pause, clock, \
                     loss, election, all, none"
                )));
            }
        }
        Ok(out)
    }

    /// Check the values (the types are checked by serde).
    pub fn validate(&self) -> Result<(), NemesisError> {
        self.families()?;
        if !(self.interval.is_finite() && self.interval > 0.0) {
            return Err(bad(format!(
                "interval: {} is not a positive number of seconds",
                self.interval
            )));
        }
        if !(self.max_fault_duration.is_finite() && self.max_fault_duration > 0.0) {
            return Err(bad(format!(
                "max-fault-duration: {} is not a positive number of seconds",
                self.max_fault_duration
            )));
        }
        if !(self.cool_down.is_finite() && self.cool_down >= 0.0) {
            return Err(bad(format!(
                "cool-down: {} is not a number of seconds ≥ 0",
                self.cool_down
            )));
        }
        if !(self.loss.probability > 0.0 && self.loss.probability <= 1.0) {
            return Err(bad(format!(
                "loss.probability: {} is not in (0, 1]",
                self.loss.probability
            )));
        }
        if self.clock.min_skew_ms > self.clock.max_skew_ms {
            return Err(bad(format!(
                "clock.min-skew-ms: {} is above clock.max-skew-ms {}",
                self.clock.min_skew_ms, self.clock.max_skew_ms
            )));
        }
        for t in &self.election.targets {
            if !super::election::SCENARIOS.contains(&t.as_str()) {
                return Err(bad(format!(
                    "election.targets: unknown scenario {t:?}; valid: {}",
                    super::election::SCENARIOS.join(", ")
                )));
            }
        }
        if self.clock.strobe_period_ms == 0 {
            return Err(bad("clock.strobe-period-ms: must be at least 1"));
        }
        for (field, empty) in [
            ("partition.targets", self.partition.targets.is_empty()),
            ("kill.targets", self.kill.targets.is_empty()),
            ("pause.targets", self.pause.targets.is_empty()),
            ("clock.targets", self.clock.targets.is_empty()),
            ("loss.targets", self.loss.targets.is_empty()),
            ("election.targets", self.election.targets.is_empty()),
        ] {
            if empty {
                return Err(bad(format!("{field}: needs at least one target")));
            }
        }
        Ok(())
    }
}

/// The value field a start op chooses (`kind`, `target`) and its choices.
type Choice = Option<(&'static str, Vec<String>)>;

/// One family in the schedule: how to start it (f, value choices) and stop it.
#[derive(Debug, Clone)]
struct Plan {
    /// Start ops: f and what its value chooses.
    starts: Vec<(String, Choice)>,
    stop: String,
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

/// Build the package for `cfg` against a Db with `caps`.
pub fn build(cfg: &NemesisConfig, caps: &Capabilities) -> Result<Package, NemesisError> {
    cfg.validate()?;
    let mut members: Vec<Box<dyn Nemesis>> = Vec::new();
    let mut plans = Vec::new();
    let mut final_ops = Vec::new();
    let mut skipped = Vec::new();
    let mut targets = |family: &str, ts: &[Target]| -> Vec<Target> {
        let kept: Vec<Target> = ts
            .iter()
            .copied()
            .filter(|t| *t != Target::Leader || caps.primaries)
            .collect();
        if kept.len() < ts.len() {
            skipped.push(format!(
                "{family} target leader: the Db cannot tell its leader"
            ));
        }
        kept
    };
    let fams = cfg.families()?;
    let mut plan_targets: Vec<(&str, Vec<Target>)> = Vec::new();
    for fam in &fams {
        match *fam {
            "kill" | "pause" | "loss" => {
                let ts = match *fam {
                    "kill" => &cfg.kill.targets,
                    "pause" => &cfg.pause.targets,
                    _ => &cfg.loss.targets,
                };
                plan_targets.push((fam, targets(fam, ts)));
            }
            _ => {}
        }
    }
    for fam in fams {
        match fam {
            "partition" => {
                let kinds: Vec<PartitionKind> = cfg
                    .partition
                    .targets
                    .iter()
                    .copied()
                    .filter(|k| *k != PartitionKind::IsolateLeader || caps.primaries)
                    .collect();
                if kinds.len() < cfg.partition.targets.len() {
                    skipped.push(
                        "partition isolate-leader: the Db cannot tell its leader".to_string(),
                    );
                }
                if kinds.is_empty() {
                    continue;
                }
                plans.push(Plan {
                    starts: vec![(
                        "start-partition".into(),
                        Some(("kind", kinds.iter().map(|k| k.name().to_string()).collect())),
                    )],
                    stop: "stop-partition".into(),
                });
                members.push(Box::new(PartitionNemesis::new(kinds)));
                final_ops.push(("stop-partition".to_string(), Value::Null));
            }
            "kill" | "pause" | "loss" => {
                let supported = match fam {
                    "kill" => caps.kill,
                    "pause" => caps.pause,
                    _ => true,
                };
                if !supported {
                    skipped.push(format!("{fam}: the Db does not support it"));
                    continue;
                }
                let ts = plan_targets
                    .iter()
                    .find(|(f, _)| *f == fam)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default();
                if ts.is_empty() {
                    continue;
                }
                let choices = Some(("target", ts.iter().map(|t| t.name().to_string()).collect()));
                let (start, stop, member): (&str, &str, Box<dyn Nemesis>) = match fam {
                    "kill" => ("kill", "start", Box::new(ProcessNemesis::kill(ts))),
                    "pause" => ("pause", "resume", Box::new(ProcessNemesis::pause(ts))),
                    _ => (
                        "start-loss",
                        "stop-loss",
                        Box::new(LossNemesis::new(cfg.loss.probability, ts)),
                    ),
                };
                plans.push(Plan {
                    starts: vec![(start.into(), choices)],
                    stop: stop.into(),
                });
                members.push(member);
                final_ops.push((stop.to_string(), Value::Null));
            }
            "clock" => {
                if let Err(reason) = &caps.clock {
                    skipped.push(format!("clock: {reason}"));
                    continue;
                }
                let params = ClockParams {
                    max_skew_ms: cfg.clock.max_skew_ms,
                    min_skew_ms: cfg.clock.min_skew_ms,
                    strobe_delta_ms: cfg.clock.strobe_delta_ms,
                    strobe_period_ms: cfg.clock.strobe_period_ms,
                    strobe_duration_ms: cfg.clock.strobe_duration_ms,
                };
                let starts = cfg
                    .clock
                    .targets
                    .iter()
                    .map(|t| {
                        let (f, choice): (&str, Choice) = match t {
                            ClockFault::Bump => ("bump-clock", None),
                            ClockFault::BumpBack => {
                                ("bump-clock", Some(("direction", vec!["back".to_string()])))
                            }
                            ClockFault::Strobe => ("strobe-clock", None),
                        };
                        (f.to_string(), choice)
                    })
                    .collect();
                plans.push(Plan {
                    starts,
                    stop: "reset-clock".into(),
                });
                members.push(Box::new(ClockNemesis::new(params, caps.clock.clone())));
                final_ops.push(("reset-clock".to_string(), Value::Null));
            }
            "election" => {
                if !(caps.kill && caps.pause && caps.primaries) {
                    skipped.push(
                        "election: the Db cannot kill, pause and tell its leader".to_string(),
                    );
                    continue;
                }
                plans.push(Plan {
                    starts: vec![(
                        "start-election".into(),
                        Some(("scenario", cfg.election.targets.clone())),
                    )],
                    stop: "stop-election".into(),
                });
                members.push(Box::new(ElectionNemesis::new(cfg.election.targets.clone())));
                final_ops.push(("stop-election".to_string(), Value::Null));
            }
            _ => {}
        }
    }
    let interval = Duration::from_secs_f64(cfg.interval);
    Ok(Package {
        nemesis: Box::new(Compose::new(members)),
        schedule: Box::new(Schedule {
            since: vec![None; plans.len()],
            cool_until: vec![Duration::ZERO; plans.len()],
            plans,
            interval,
            next_at: interval,
            overlap: cfg.overlap,
            max_fault: Duration::from_secs_f64(cfg.max_fault_duration),
            cool_down: Duration::from_secs_f64(cfg.cool_down),
        }),
        final_ops,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn caps() -> Capabilities {
        Capabilities {
            kill: true,
            pause: true,
            primaries: true,
            clock: Ok(()),
        }
    }

    fn run(
        cfg: &NemesisConfig,
        caps: &Capabilities,
        seed: u64,
        secs: u64,
    ) -> Vec<(u64, String, Value)> {
        let mut pkg = build(cfg, caps).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for ms in (0..=secs * 1000).step_by(100) {
            let ctx = GenCtx {
                elapsed: Duration::from_millis(ms),
                thread: 0,
                threads: 1,
            };
            // Every op due at this instant (a self-heal and a tick may be).
            loop {
                match pkg.schedule.next(&ctx, &mut rng) {
                    Next::Op { f, value, .. } => out.push((ms, f, value)),
                    Next::Pending => break,
                    Next::Done => return out,
                }
            }
        }
        out
    }

    #[test]
    fn schedule_alternates_start_and_stop_every_interval() {
        let cfg = NemesisConfig {
            faults: vec!["partition".into(), "kill".into()],
            interval: 2.0,
            overlap: false,
            ..Default::default()
        };
        let ops = run(&cfg, &caps(), 1, 20);
        assert_eq!(ops.len(), 10);
        for (i, (t, f, v)) in ops.iter().enumerate() {
            assert_eq!(*t, 2000 * (i as u64 + 1));
            if i % 2 == 0 {
                assert!(f == "start-partition" || f == "kill", "{f}");
                assert!(v.get("pick").is_some());
            } else {
                let start = &ops[i - 1].1;
                let expect = if start == "kill" {
                    "start"
                } else {
                    "stop-partition"
                };
                assert_eq!(f, expect);
            }
        }
    }

    #[test]
    fn overlapping_faults_each_stop_after_their_own_start() {
        // No bounds here: this is about the toggling alone.
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            interval: 1.0,
            max_fault_duration: 1e6,
            cool_down: 0.0,
            ..Default::default()
        };
        assert!(cfg.overlap, "overlap is the default");
        let stop_of = |f: &str| match f {
            "start-partition" => "stop-partition",
            "kill" => "start",
            "pause" => "resume",
            "bump-clock" | "strobe-clock" => "reset-clock",
            "start-loss" => "stop-loss",
            other => panic!("unexpected start {other}"),
        };
        let mut most_at_once = 0;
        for seed in 0..20 {
            let ops = run(&cfg, &caps(), seed, 60);
            assert_eq!(ops.len(), 60);
            let mut in_force: Vec<&str> = Vec::new();
            for (_, f, _) in &ops {
                if let Some(i) = in_force.iter().position(|s| s == f) {
                    in_force.remove(i);
                } else {
                    let stop = stop_of(f);
                    assert!(!in_force.contains(&stop), "{f} started twice");
                    in_force.push(stop);
                }
                most_at_once = most_at_once.max(in_force.len());
            }
        }
        assert!(most_at_once >= 3, "faults never overlapped: {most_at_once}");
    }

    /// Regression (issue 13): with the family toggled at random, `kill
    /// all` stayed in force until the end of the run because the kill
    /// family was not picked again. Now every fault stops within
    /// `max-fault-duration` and its family rests for `cool-down`.
    #[test]
    fn no_fault_outlasts_its_maximum_and_no_family_restarts_while_cooling_down() {
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            interval: 1.0,
            max_fault_duration: 4.0,
            cool_down: 3.0,
            ..Default::default()
        };
        let mut self_heals = 0;
        for seed in 0..20 {
            let ops = run(&cfg, &caps(), seed, 120);
            // Per stop f (the family): when in force since, when stopped.
            let mut since: std::collections::HashMap<&str, u64> = Default::default();
            let mut stopped: std::collections::HashMap<&str, u64> = Default::default();
            for (t, f, v) in &ops {
                match stop_of(f) {
                    Some(stop) => {
                        assert!(!since.contains_key(stop), "{f} at {t} while in force");
                        if let Some(end) = stopped.get(stop) {
                            assert!(t - end >= 3000, "{f} at {t}: {stop} only at {end}");
                        }
                        since.insert(stop, *t);
                    }
                    None => {
                        let start = since.remove(f.as_str()).expect("a stop of a fault");
                        assert!(t - start <= 4000, "{f} at {t}, started at {start}");
                        if v.get("max-fault-duration").is_some() {
                            assert_eq!(t - start, 4000, "a self-heal comes on time");
                            self_heals += 1;
                        }
                        stopped.insert(stop_of_family(f), *t);
                    }
                }
            }
        }
        assert!(self_heals > 0, "no fault ever healed by itself");
    }

    fn stop_of_family(stop: &str) -> &'static str {
        START_STOP
            .iter()
            .find(|(_, s)| *s == stop)
            .map(|(_, s)| *s)
            .unwrap()
    }

    #[test]
    fn a_single_family_at_the_default_bounds_keeps_its_strict_alternation() {
        let cfg = NemesisConfig {
            faults: vec!["kill".into()],
            interval: 10.0,
            ..Default::default()
        };
        let fs: Vec<String> = run(&cfg, &caps(), 3, 60)
            .into_iter()
            .map(|(_, f, _)| f)
            .collect();
        assert_eq!(fs, ["kill", "start", "kill", "start", "kill", "start"]);
    }

    #[test]
    fn same_seed_same_schedule_other_seed_differs() {
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            interval: 1.0,
            ..Default::default()
        };
        assert_eq!(run(&cfg, &caps(), 7, 30), run(&cfg, &caps(), 7, 30));
        assert_ne!(run(&cfg, &caps(), 7, 30), run(&cfg, &caps(), 8, 30));
    }

    #[test]
    fn all_means_every_supported_family_and_skips_the_rest_with_reasons() {
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            ..Default::default()
        };
        let pkg = build(&cfg, &caps()).unwrap();
        let fs: Vec<&str> = pkg.final_ops.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fs,
            [
                "stop-partition",
                "start",
                "resume",
                "reset-clock",
                "stop-loss"
            ]
        );
        let weak = Capabilities {
            kill: true,
            pause: false,
            primaries: false,
            clock: Err("etcd is a static Go binary; libfaketime cannot skew it".into()),
        };
        let pkg = build(&cfg, &weak).unwrap();
        let fs: Vec<&str> = pkg.final_ops.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fs, ["stop-partition", "start", "stop-loss"]);
        let skipped = pkg.skipped.join("\n");
        assert!(
            skipped.contains("clock: etcd is a static Go binary"),
            "{skipped}"
        );
        assert!(skipped.contains("pause"), "{skipped}");
        assert!(skipped.contains("isolate-leader"), "{skipped}");
        // No leader-targeted op is ever scheduled without primaries.
        let ops = run(&cfg, &weak, 3, 200);
        assert!(ops
            .iter()
            .all(|(_, _, v)| v.get("target") != Some(&json!("leader"))
                && v.get("kind") != Some(&json!("isolate-leader"))));
    }

    /// The skipped notes keep their order: the leader targets of the
    /// target-list families first, then each family in the order asked.
    #[test]
    fn skipped_notes_come_in_a_stable_order() {
        let cfg = NemesisConfig {
            faults: vec!["all".into(), "election".into()],
            ..Default::default()
        };
        let weak = Capabilities {
            kill: true,
            pause: false,
            primaries: false,
            clock: Err("no faketime".into()),
        };
        let pkg = build(&cfg, &weak).unwrap();
        assert_eq!(
            pkg.skipped,
            [
                "kill target leader: the Db cannot tell its leader",
                "pause target leader: the Db cannot tell its leader",
                "partition isolate-leader: the Db cannot tell its leader",
                "pause: the Db does not support it",
                "clock: no faketime",
                "election: the Db cannot kill, pause and tell its leader",
            ]
        );
        assert_eq!(pkg.nemesis.name(), "partition+kill+loss");
    }

    #[test]
    fn none_has_no_faults() {
        let cfg = NemesisConfig {
            faults: vec![],
            ..Default::default()
        };
        let mut pkg = build(&cfg, &caps()).unwrap();
        assert!(pkg.final_ops.is_empty());
        let ctx = GenCtx {
            elapsed: Duration::from_secs(100),
            thread: 0,
            threads: 1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(pkg.schedule.next(&ctx, &mut rng), Next::Done);
        assert_eq!(pkg.nemesis.name(), "none");
    }

    #[test]
    fn bad_values_are_rejected_naming_the_field() {
        let e = |cfg: NemesisConfig| build(&cfg, &caps()).err().map(|e| e.to_string()).unwrap();
        assert!(e(NemesisConfig {
            faults: vec!["partitoin".into()],
            ..Default::default()
        })
        .contains("valid: partition"));
        assert!(e(NemesisConfig {
            interval: 0.0,
            ..Default::default()
        })
        .contains("interval"));
        assert!(e(NemesisConfig {
            max_fault_duration: 0.0,
            ..Default::default()
        })
        .contains("max-fault-duration"));
        assert!(e(NemesisConfig {
            cool_down: -1.0,
            ..Default::default()
        })
        .contains("cool-down"));
        let mut c = NemesisConfig::default();
        c.loss.probability = 1.5;
        assert!(e(c).contains("loss.probability"));
        let mut c = NemesisConfig::default();
        c.kill.targets.clear();
        assert!(e(c).contains("kill.targets"));
    }

    #[test]
    fn yaml_unknown_keys_and_names_are_errors_and_defaults_fill_in() {
        let cfg: NemesisConfig =
            serde_norway::from_str("faults: [clock]\ninterval: 5\nclock:\n  max-skew-ms: 100\n")
                .unwrap();
        assert_eq!(cfg.interval, 5.0);
        assert_eq!(cfg.max_fault_duration, DEFAULT_MAX_FAULT_DURATION);
        assert_eq!(cfg.cool_down, DEFAULT_COOL_DOWN);
        let bounds: NemesisConfig =
            serde_norway::from_str("max-fault-duration: 7.5\ncool-down: 0\n").unwrap();
        assert_eq!((bounds.max_fault_duration, bounds.cool_down), (7.5, 0.0));
        assert_eq!(cfg.clock.max_skew_ms, 100);
        assert_eq!(
            cfg.clock.strobe_period_ms,
            ClockParams::default().strobe_period_ms
        );
        assert!(serde_norway::from_str::<NemesisConfig>("faults: [kill]\nintervl: 5\n").is_err());
        let e = serde_norway::from_str::<NemesisConfig>("partition:\n  targets: [halves]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("random-halves"), "{e}");
        let e = serde_norway::from_str::<NemesisConfig>("kill:\n  targets: [some]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("minority"), "{e}");
    }
}

#[cfg(test)]
mod shipped_files {
    use super::*;

    /// Every file under `nemeses/` parses and builds.
    #[test]
    fn shipped_nemesis_files_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nemeses");
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let cfg: NemesisConfig =
                serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let caps = Capabilities {
                kill: true,
                pause: true,
                primaries: true,
                clock: Ok(()),
            };
            build(&cfg, &caps).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
        seen.sort();
        for want in [
            "all",
            "clock",
            "kill",
            "loss",
            "none",
            "partition",
            "partition-kill",
            "pause",
        ] {
            assert!(
                seen.iter().any(|s| s == want),
                "nemeses/{want}.yaml missing"
            );
        }
    }
}
