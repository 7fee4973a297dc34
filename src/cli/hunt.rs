//! `faultline hunt`: time to bug. The flags of `faultline test` choose the
//! test; for each of `--seeds` seeds it runs fresh tests with
//! `--stop-on-anomaly` until one proves an anomaly or `--budget` wall
//! seconds are spent ([`crate::runner::hunt`]), then prints one table —
//! per seed: found or not, seconds and ops to the first proven anomaly,
//! runs, the finding run's directory — with the median, and writes
//! `<results>/hunt/<start-time>/hunt.json`.
//!
//! Exit codes: 1 when a seed found an anomaly, 0 when none did and every
//! run was valid, 2 when none did and some run was unknown, 254 bad input,
//! 255 internal error.

use super::test::{run_error, Args as TestArgs};
use crate::exit::{CliError, CmdResult};
use crate::runner::hunt::{self, HuntPlan, HuntReport};
use crate::runner::{Progress, RunOptions};
use crate::spec::{self, Overrides, TestSpec};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tabled::builder::Builder;
use tabled::settings::Style;

/// Arguments of `faultline hunt`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    faultline hunt --bug stale-read --nemesis all --budget 120 --seeds 3\n  \
    faultline hunt --cluster memory --nemesis none --budget 10 --seeds 2\n\n\
    Exit codes: 1 an anomaly was found, 0 none (all runs valid), 2 none but some run was \
    unknown, 254 bad input, 255 internal error.")]
pub struct Args {
    /// Wall seconds each seed may take, bring-up and teardown included.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub budget: f64,
    /// How many seeds: --seed (default 1), --seed + 1...
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub seeds: u32,
    /// The test: the flags of `faultline test` (--stop-on-anomaly is
    /// always on; --dry-run, --test-count, --leave-db-running and --junit
    /// do not apply).
    #[command(flatten)]
    pub test: TestArgs,
}

impl Args {
    /// The test's overrides; the seed defaults to 1, so a hunt replays.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            seed: Some(self.test.run.seed.unwrap_or(1)),
            test_count: Some(1),
            ..self.test.overrides()
        }
    }
}

fn bad(m: impl std::fmt::Display) -> CliError {
    CliError::bad_input(anyhow::anyhow!("{m}"))
}

/// True when the hunt's test runs on a backend that needs root.
pub fn needs_root(args: &Args) -> bool {
    spec::resolve(&args.overrides())
        .ok()
        .and_then(|s| crate::remote::backend::build(&s.cluster.backend_config()).ok())
        .is_some_and(|b| b.needs_root())
}

/// Run `faultline hunt`.
pub fn run(args: Args) -> CmdResult {
    let t = &args.test;
    if t.dry_run || t.test_count != 1 || t.leave_db_running || t.junit.is_some() {
        return Err(bad(
            "hunt runs its own tests: --dry-run, --test-count, --leave-db-running and --junit \
             do not apply",
        ));
    }
    if !args.budget.is_finite() || args.budget < hunt::MIN_LEFT.as_secs_f64() {
        return Err(bad(format!(
            "--budget {}: give at least {} seconds",
            args.budget,
            hunt::MIN_LEFT.as_secs()
        )));
    }
    if args.seeds == 0 {
        return Err(bad("--seeds 0: give at least one seed"));
    }
    let (spec, warnings) = spec::resolve_with_warnings(&args.overrides(), Path::new("."))
        .map_err(CliError::bad_input)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let spec = TestSpec {
        stop_on_anomaly: true,
        ..spec
    };
    let plan = HuntPlan {
        budget: Duration::from_secs_f64(args.budget),
        seeds: args.seeds,
    };
    println!(
        "hunt {}: {} seed(s) from {}, {:.0} s each",
        spec.name, plan.seeds, spec.seed, args.budget
    );
    let opts = RunOptions {
        progress: Progress::Quiet,
        ..RunOptions::default()
    };
    let report = hunt::hunt(&spec, &plan, &opts, |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
    .map_err(run_error)?;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", table(&report));
    let _ = out.flush();
    Ok(report.verdict())
}

/// The hunt's table: one row per seed, then the median and where
/// `hunt.json` is.
pub fn table(r: &HuntReport) -> String {
    let mut b = Builder::default();
    b.push_record(["seed", "found", "seconds", "ops", "runs", "by", "run"]);
    for s in &r.seeds {
        b.push_record([
            s.seed.to_string(),
            if s.found { "yes" } else { "no" }.to_string(),
            s.seconds
                .map_or(format!("> {:.0}", r.budget_seconds), |t| format!("{t:.1}")),
            s.ops.map_or("—".into(), |o| o.to_string()),
            s.runs.to_string(),
            s.by.clone().unwrap_or_else(|| "—".into()),
            s.dir
                .as_ref()
                .map_or("—".into(), |d| d.display().to_string()),
        ]);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    let median = r
        .median_seconds
        .map_or(format!("> {:.0} s (budget)", r.budget_seconds), |m| {
            format!("{m:.1} s")
        });
    let mut out = format!("{t}\n");
    out.push_str(&format!(
        "found: {}/{} seed(s); median time to bug: {median}{}\n",
        r.found,
        r.seeds.len(),
        r.median_ops.map_or(String::new(), |o| format!(", {o} ops")),
    ));
    if let Some(why) = &r.interrupted {
        out.push_str(&format!("interrupted: {why}\n"));
    }
    out.push_str(&format!("hunt: {}\n", r.dir.join("hunt.json").display()));
    out
}
