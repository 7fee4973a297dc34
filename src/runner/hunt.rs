//! Time to bug: `faultline hunt` runs fresh tests one after another until
//! one proves an anomaly or a wall-clock budget is spent, for each of
//! several seeds, and measures how long and how many ops it took.
//!
//! For seed `S` (the seeds are `S0, S0+1, ...`), attempt `a` runs the test
//! with seed `spec.seed_of_run(a)` for a spec whose seed is `S` (attempt 0
//! uses `S` itself), with `--stop-on-anomaly` on, as an ordinary run: it
//! provisions, heals, tears down and stores its run directory like any
//! other, so the machine is clean between attempts. A seed's hunt ends at
//! the first attempt that proves an anomaly (online, or invalid at its
//! final check), or when its budget — wall seconds from the seed's start,
//! provisioning and teardown included — is spent: an attempt's main phase
//! is shortened to what is left of the budget (minus the recovery and
//! [`RESERVE`] seconds for bring-up, heal and teardown), and no attempt
//! starts with less than [`MIN_LEFT`] left. (A workload's final reads may
//! still run up to their own time limit past it.)
//!
//! The time to bug of a found seed is the wall time from the seed's start
//! to the proof: the earlier attempts' whole wall time plus this attempt's
//! time from its start to the online proof (or to its end, when only the
//! final check found it); its op count is the client ops completed until
//! then (`ok`, `fail` or `info`), summed over the attempts. The median over
//! seeds counts a seed that found nothing as longer than the budget, so
//! the median is "> budget" (`median_seconds: null`) when at least half of
//! the seeds (the middle one, or either middle one for an even count)
//! found nothing.
//!
//! `hunt.json` ([`HuntReport`]) is written to
//! `<results>/hunt/<start-time>/` after every seed, so an interrupted hunt
//! keeps what it measured. A seed also gets a directory there,
//! `carry/seed-<S>/`, handed to every attempt as [`RunOptions::carry`]: a
//! nemesis that learns may keep what it learned there from one attempt to
//! the next.

use super::{run, RunError, RunOptions};
use crate::checker::Validity;
use crate::spec::TestSpec;
use crate::store::RunDir;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// No attempt starts with less than this left of a seed's budget.
pub const MIN_LEFT: Duration = Duration::from_secs(5);

/// Seconds of a seed's budget kept, besides the recovery, for an
/// attempt's bring-up, heal, final check and teardown when its main phase
/// is shortened.
pub const RESERVE: f64 = 5.0;

/// The shortest main phase an attempt is started with.
const MIN_MAIN: f64 = 1.0;

/// What to hunt for how long.
#[derive(Debug, Clone)]
pub struct HuntPlan {
    /// Wall-clock budget of each seed.
    pub budget: Duration,
    /// How many seeds: the test's seed, then seed + 1...
    pub seeds: u32,
}

/// One test run of a hunt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The run's seed.
    pub seed: u64,
    /// Its run directory.
    pub dir: PathBuf,
    /// Its verdict.
    pub verdict: Validity,
    /// Its wall time, start to stored results, in seconds.
    pub wall_seconds: f64,
    /// Client ops it completed.
    pub ops: u64,
    /// Its main phase's time limit (shortened near the end of the budget).
    pub time_limit: f64,
}

/// The hunt of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedHunt {
    /// The seed (attempt 0's own seed).
    pub seed: u64,
    /// True when an attempt proved an anomaly.
    pub found: bool,
    /// How: `online` (proven while the main phase ran) or `final` (by the
    /// final check only); `null` when nothing was found.
    pub by: Option<String>,
    /// Wall seconds from the seed's start to the proof; `null` when
    /// nothing was found (more than the budget).
    pub seconds: Option<f64>,
    /// Client ops completed until the proof, over all attempts; `null`
    /// when nothing was found.
    pub ops: Option<u64>,
    /// The checker that proved it and its summary.
    pub anomaly: Option<String>,
    /// The run directory of the finding attempt.
    pub dir: Option<PathBuf>,
    /// Attempts run.
    pub runs: u32,
    /// Attempts whose verdict was `unknown`.
    pub unknown_runs: u32,
    /// Wall seconds the seed took in all.
    pub spent_seconds: f64,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

/// `hunt.json`: a whole hunt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HuntReport {
    /// The test's name.
    pub test: String,
    /// When the hunt started (RFC 3339).
    pub start: String,
    /// Each seed's budget, seconds.
    pub budget_seconds: f64,
    /// The seeds hunted, in order.
    pub seeds: Vec<SeedHunt>,
    /// Seeds that found an anomaly.
    pub found: u32,
    /// The median time to bug over the seeds, a seed that found nothing
    /// counting as more than the budget; `null` when the median is more
    /// than the budget (see the module docs).
    pub median_seconds: Option<f64>,
    /// The median op count to the bug, the same way.
    pub median_ops: Option<u64>,
    /// Why the hunt stopped before its last seed (a signal), if it did.
    #[serde(default)]
    pub interrupted: Option<String>,
    /// This hunt's directory (`<results>/hunt/<start-time>/`).
    pub dir: PathBuf,
}

impl HuntReport {
    /// The verdict the exit code tells: `invalid` when a seed found an
    /// anomaly, else `unknown` when a run was unknown (or the hunt was
    /// interrupted), else `valid`.
    pub fn verdict(&self) -> Validity {
        if self.found > 0 {
            Validity::Invalid
        } else if self.interrupted.is_some() || self.seeds.iter().any(|s| s.unknown_runs > 0) {
            Validity::Unknown
        } else {
            Validity::Valid
        }
    }
}

/// The median of `xs`, `None` standing for "more than the budget": the
/// middle value, or the mean of the two middle ones; `None` when that
/// involves a `None`.
pub fn median(xs: &[Option<f64>]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = xs.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    m.is_finite().then_some(m)
}

/// Seconds from `from` to the RFC 3339 instant `at`, if it parses.
fn seconds_between(from: chrono::DateTime<chrono::Utc>, at: &str) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let d = at.with_timezone(&chrono::Utc) - from;
    Some((d.num_milliseconds() as f64 / 1000.0).max(0.0))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Hunt: see the module docs. `say` is told one line per attempt and per
/// seed. Fails on a run that cannot run at all (bad input, internal error);
/// a run that ends `unknown` is counted and the hunt goes on.
pub fn hunt(
    spec: &TestSpec,
    plan: &HuntPlan,
    opts: &RunOptions,
    mut say: impl FnMut(String),
) -> Result<HuntReport, RunError> {
    if plan.seeds == 0 {
        return Err(RunError::BadInput("--seeds must be at least 1".into()));
    }
    if plan.budget < MIN_LEFT {
        return Err(RunError::BadInput(format!(
            "--budget must be at least {} s",
            MIN_LEFT.as_secs()
        )));
    }
    let start = chrono::Utc::now();
    let dir = RunDir::create(&spec.results_dir, "hunt", start)
        .map_err(|e| RunError::BadInput(format!("cannot create the hunt directory: {e}")))?;
    let mut report = HuntReport {
        test: spec.name.clone(),
        start: start.to_rfc3339(),
        budget_seconds: plan.budget.as_secs_f64(),
        seeds: Vec::new(),
        found: 0,
        median_seconds: None,
        median_ops: None,
        interrupted: None,
        dir: dir.path.clone(),
    };
    for i in 0..plan.seeds {
        let seed = spec.seed.wrapping_add(u64::from(i));
        let carry = dir.path.join("carry").join(format!("seed-{seed}"));
        std::fs::create_dir_all(&carry)
            .map_err(|e| RunError::Internal(format!("cannot create {}: {e}", carry.display())))?;
        let opts = RunOptions {
            carry: Some(carry),
            ..opts.clone()
        };
        let s = hunt_seed(spec, seed, plan.budget, &opts, &mut say, &mut report)?;
        say(match (s.found, s.seconds) {
            (true, Some(t)) => format!(
                "seed {seed}: found after {t:.1} s, {} ops, {} run(s)",
                s.ops.unwrap_or(0),
                s.runs
            ),
            _ => format!(
                "seed {seed}: nothing found in {:.0} s ({} run(s))",
                plan.budget.as_secs_f64(),
                s.runs
            ),
        });
        report.found += u32::from(s.found);
        report.seeds.push(s);
        let secs: Vec<Option<f64>> = report.seeds.iter().map(|s| s.seconds).collect();
        let ops: Vec<Option<f64>> = report
            .seeds
            .iter()
            .map(|s| s.ops.map(|o| o as f64))
            .collect();
        report.median_seconds = median(&secs).map(round3);
        report.median_ops = median(&ops).map(|o| o.round() as u64);
        dir.write_json("hunt.json", &report)
            .map_err(|e| RunError::Internal(format!("hunt.json: {e}")))?;
        if report.interrupted.is_some() {
            break;
        }
    }
    Ok(report)
}

/// Hunt one seed; sets `report.interrupted` when an attempt was stopped by
/// a signal (the hunt then ends).
fn hunt_seed(
    spec: &TestSpec,
    seed: u64,
    budget: Duration,
    opts: &RunOptions,
    say: &mut impl FnMut(String),
    report: &mut HuntReport,
) -> Result<SeedHunt, RunError> {
    let base = TestSpec {
        seed,
        stop_on_anomaly: true,
        test_count: 1,
        ..spec.clone()
    };
    let started = Instant::now();
    let mut out = SeedHunt {
        seed,
        found: false,
        by: None,
        seconds: None,
        ops: None,
        anomaly: None,
        dir: None,
        runs: 0,
        unknown_runs: 0,
        spent_seconds: 0.0,
        attempts: Vec::new(),
    };
    let mut ops_before = 0u64;
    loop {
        let left = budget.saturating_sub(started.elapsed());
        if left < MIN_LEFT {
            break;
        }
        let room = left.as_secs_f64() - base.workload.recovery - RESERVE;
        let time_limit = base.workload.time_limit.min(room);
        if time_limit < MIN_MAIN {
            break;
        }
        let mut one = base.clone();
        one.seed = base.seed_of_run(out.runs);
        one.workload.time_limit = time_limit;
        let run_start = Instant::now();
        let run_start_utc = chrono::Utc::now();
        let before = started.elapsed().as_secs_f64();
        let outcome = run(&one, opts)?;
        let wall = run_start.elapsed().as_secs_f64();
        out.runs += 1;
        let r = &outcome.results;
        let ops = r.ops.ok + r.ops.fail + r.ops.info;
        out.attempts.push(Attempt {
            seed: one.seed,
            dir: outcome.dir.clone(),
            verdict: outcome.verdict,
            wall_seconds: round3(wall),
            ops,
            time_limit: round3(time_limit),
        });
        say(format!(
            "  seed {seed} run {} (seed {}, {:.0} s): {} in {:.1} s — {}",
            out.runs,
            one.seed,
            time_limit,
            outcome.verdict,
            wall,
            outcome.dir.display()
        ));
        let online = r.online.as_ref().and_then(|o| o.anomaly.as_ref());
        if let Some(a) = online {
            let to_proof = seconds_between(run_start_utc, &a.at).unwrap_or(wall);
            out.found = true;
            out.by = Some("online".into());
            out.seconds = Some(round3(before + to_proof.min(wall)));
            out.ops = Some(ops_before + a.ops);
            out.anomaly = Some(format!("{}: {}", a.checker, a.summary));
            out.dir = Some(outcome.dir.clone());
            break;
        }
        if outcome.verdict == Validity::Invalid {
            let first = r.checkers.iter().find(|c| c.valid == Validity::Invalid);
            out.found = true;
            out.by = Some("final".into());
            out.seconds = Some(round3(before + wall));
            out.ops = Some(ops_before + ops);
            out.anomaly = first.map(|c| format!("{}: {}", c.checker, c.summary));
            out.dir = Some(outcome.dir.clone());
            break;
        }
        if outcome.verdict == Validity::Unknown {
            out.unknown_runs += 1;
        }
        if let Some(why) = &r.interrupted {
            report.interrupted = Some(why.clone());
            break;
        }
        ops_before += ops;
    }
    out.spent_seconds = round3(started.elapsed().as_secs_f64());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_counts_a_seed_that_found_nothing_as_over_the_budget() {
        assert_eq!(median(&[Some(3.0), None, Some(1.0)]), Some(3.0));
        assert_eq!(median(&[Some(3.0), None, None]), None);
        assert_eq!(median(&[Some(2.0), Some(4.0)]), Some(3.0));
        assert_eq!(median(&[Some(2.0), None]), None);
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_time_to_the_proof_comes_from_the_wall_clock_stamp() {
        let from = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(seconds_between(from, "2026-01-01T00:00:02.500Z"), Some(2.5));
        assert_eq!(seconds_between(from, "not a time"), None);
    }
}
