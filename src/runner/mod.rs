//! One test run, from provisioning to the stored verdict.
//!
//! [`run`] executes a resolved [`TestSpec`]: provision the nodes through a
//! [`crate::remote::backend::Backend`] and set up the Db, drive the workload's generator
//! over `concurrency` workers ([`worker`]) — paced over all of them
//! ([`schedule`]) — while the nemesis package injects faults on its own
//! task ([`faults`]), heal (always, also after an error, Ctrl-C, SIGTERM,
//! SIGHUP or SIGQUIT: [`signals`]), recover, run the final reads, collect
//! the node logs, tear down ([`lifecycle`]), check
//! ([`crate::report::verdict`]) and store everything under
//! `results/<test>/<start-time>/` ([`crate::store`]), streaming the history
//! as it goes ([`recorder`]); `report.html` and the plots' PNGs are written
//! last ([`crate::report::html`]), and a report that cannot be written is
//! a warning, never a failed run. A run cut short by a signal is `unknown`
//! unless its partial history is already `invalid`.
//!
//! The library prints no report: `run` returns a [`RunOutcome`] and the
//! caller renders it (the CLI prints [`crate::report::table::summary`]).
//!
//! One seed drives every random choice (op choices, stagger, fault
//! schedule); it is printed at the start and stored in `test.yaml` and
//! `results.json`. [`dry_run`] prints the schedule that seed gives without
//! touching a node; [`analyze`] re-checks a stored run
//! ([`crate::report::stored::StoredRun`]).
//!
//! `run` and `analyze` build their own tokio runtime: call them from plain
//! threads, not from inside a runtime.

pub mod bring_up;
pub mod faults;
pub mod hunt;
pub mod leaders;
pub mod lifecycle;
pub mod log;
pub mod online;
pub mod recorder;
pub mod schedule;
pub mod signals;
pub mod worker;

use crate::checker::Validity;
use crate::report::html;
use crate::report::progress::{Mode, Terminal};
use crate::report::results::Results;
use crate::report::stored::StoredRun;
use crate::report::verdict::{self, Judge};
use crate::report::ReportError;
use crate::spec::TestSpec;
use crate::store::RunDir;
use log::RunLog;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How a run reports at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A progress bar on a TTY, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines only.
    Plain,
    /// Nothing but errors.
    Quiet,
}

impl Progress {
    fn mode(self) -> Mode {
        match self {
            Progress::Auto => Mode::auto(),
            Progress::Plain => Mode::Plain,
            Progress::Quiet => Mode::Quiet,
        }
    }
}

/// Options of a run that are not part of the test itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Terminal output.
    pub progress: Progress,
    /// The `faultline` binary the nodes run (`faultline node`); default: the
    /// current executable. (What a Db needs of the cluster file comes from
    /// its own section of it, e.g. the memory Db's fault.)
    pub binary: Option<PathBuf>,
    /// A directory that lives across the attempts of one `faultline hunt`
    /// seed (`None` outside a hunt): a nemesis that learns may read what an
    /// earlier attempt left there and write what this one learned, so the
    /// next attempt starts from it. The runner itself neither reads nor
    /// writes it; it exists before the run starts.
    pub carry: Option<PathBuf>,
}

impl RunOptions {
    /// No terminal output, everything else at its default: for runs driven
    /// from code (tests, benches) rather than a terminal.
    pub fn quiet() -> RunOptions {
        RunOptions {
            progress: Progress::Quiet,
            ..RunOptions::default()
        }
    }
}

/// What a finished run produced: all a caller needs to render it
/// (`report::table::summary(&outcome.results, &outcome.dir, color)`).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The overall verdict (every checker composed).
    pub verdict: Validity,
    /// The run directory `results/<test>/<start-time>/`.
    pub dir: PathBuf,
    /// Everything `results.json` holds.
    pub results: Results,
}

/// Why a run could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The user has something to fix (config, prerequisites, root): exit 254.
    #[error("{0}")]
    BadInput(String),
    /// faultline itself failed: exit 255.
    #[error("{0}")]
    Internal(String),
}

fn runtime() -> Result<tokio::runtime::Runtime, RunError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("faultline-run")
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the async runtime: {e}")))
}

/// Run the test once: see the module docs. Logs the seed at the start;
/// prints no summary (the caller renders the [`RunOutcome`]).
pub fn run(spec: &TestSpec, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let carried = carry_coverage(spec, opts);
    let spec = carried.as_ref().unwrap_or(spec);
    lifecycle::precheck(spec)?;
    // The workload is built once: its generators drive the run, its
    // checkers judge the history.
    let workload: Arc<dyn crate::workload::Workload> = Arc::from(
        crate::workload::by_name(&spec.workload.name, &spec.workload.config)
            .map_err(|e| RunError::BadInput(format!("workload: {e}")))?,
    );
    let judge = Judge::for_workload(spec, workload.as_ref()).map_err(bad_input)?;
    let start = chrono::Utc::now();
    let dir = RunDir::create(&spec.results_dir, &spec.name, start)
        .map_err(|e| RunError::BadInput(format!("cannot create the run directory: {e}")))?;
    dir.write_spec(spec)
        .map_err(|e| RunError::Internal(format!("test.yaml: {e}")))?;
    let _ = dir.link_latest();
    keep_starting_coverage(spec, &dir);
    let terminal = Arc::new(Terminal::new(opts.progress.mode()));
    let log = Arc::new(
        RunLog::create(&dir.log_file(), terminal.clone())
            .map_err(|e| RunError::Internal(format!("faultline.log: {e}")))?,
    );
    log.info(format!(
        "test {} — seed {} — results in {}",
        spec.name,
        spec.seed,
        dir.path.display()
    ));
    let rt = runtime()?;
    let finished = rt.block_on(lifecycle::execute(
        spec,
        opts,
        &dir,
        log.clone(),
        start.to_rfc3339(),
        workload,
    ));
    rt.shutdown_timeout(Duration::from_secs(1));
    terminal.finish();
    let finished = match finished {
        Ok(f) => f,
        Err(e) => {
            log.warn(format!("run failed: {e}"));
            return Err(e);
        }
    };
    log.info(format!("checking {} ops", finished.history.len()));
    let checked = judge.check(&finished.history);
    let mut results = verdict::results(spec, &finished.history, checked, finished.facts);
    results
        .store(&dir)
        .map_err(|e| RunError::Internal(format!("results.json: {e}")))?;
    let _ = dir.link_latest();
    for w in write_report(&dir, spec, &finished.history, &mut results) {
        log.warn(w);
    }
    log.debug(format!("verdict {}", results.valid));
    Ok(RunOutcome {
        verdict: results.valid,
        dir: dir.path,
        results,
    })
}

/// The file, in a hunt's carry directory, where the adaptive nemesis keeps
/// its coverage map from one attempt to the next.
pub const CARRIED_COVERAGE: &str = "adaptive-coverage.json";

/// The coverage map an adaptive run started from, copied into its run
/// directory: with the op values, what [`crate::nemesis::adaptive::replay_episode`]
/// needs to replay a run that did not start from an empty map.
pub const STARTING_COVERAGE: &str = "adaptive-coverage-start.json";

/// Inside a hunt ([`RunOptions::carry`]), an adaptive nemesis with no
/// `coverage-file` of its own gets one in the carry directory, so what one
/// attempt tried steers the next (Mallory's coverage, across runs).
/// `None`: the spec stays as it is.
fn carry_coverage(spec: &TestSpec, opts: &RunOptions) -> Option<TestSpec> {
    let carry = opts.carry.as_ref()?;
    let cfg = &spec.nemesis.config;
    let adaptive = cfg
        .descriptors()
        .ok()?
        .iter()
        .any(|f| f.name == crate::nemesis::adaptive::FAMILY.name);
    if !adaptive || cfg.adaptive.coverage_file.is_some() {
        return None;
    }
    let mut out = spec.clone();
    out.nemesis.config.adaptive.coverage_file =
        Some(carry.join(CARRIED_COVERAGE).display().to_string());
    Some(out)
}

/// Copy the coverage file an adaptive run starts from (when it has one and
/// it exists) into the run directory as [`STARTING_COVERAGE`].
fn keep_starting_coverage(spec: &TestSpec, dir: &RunDir) {
    if let Some(file) = &spec.nemesis.config.adaptive.coverage_file {
        let from = Path::new(file);
        if from.is_file() {
            let _ = std::fs::copy(from, dir.path.join(STARTING_COVERAGE));
        }
    }
}

/// Write `report.html` and the plots into the run directory, after
/// `results.json`. A report that cannot be written never fails the run:
/// what went wrong is added to the results' warnings (and `results.json`
/// stored again) and returned, for the log.
fn write_report(
    dir: &RunDir,
    spec: &TestSpec,
    history: &crate::history::History,
    results: &mut Results,
) -> Vec<String> {
    let input = html::ReportInput::of_parts(&dir.path, spec, history, Some(results));
    let warnings = html::write_quietly(&input, &dir.path);
    if !warnings.is_empty() {
        results.warnings.extend(warnings.iter().cloned());
        let _ = results.store(dir);
    }
    warnings
}

/// A stored run that cannot be read or checked is the user's to fix.
fn bad_input(e: ReportError) -> RunError {
    RunError::BadInput(e.to_string())
}

/// The op and fault schedule the seed gives, without touching a node: one
/// line per op, `time process f key value`, over the main phase, computed
/// in virtual time (ops complete at once; see [`schedule::simulate`]).
pub fn dry_run(spec: &TestSpec) -> Result<Vec<String>, RunError> {
    lifecycle::precheck(spec)?;
    let workload = crate::workload::by_name(&spec.workload.name, &spec.workload.config)
        .map_err(|e| RunError::BadInput(format!("workload: {e}")))?;
    let caps = lifecycle::planned_capabilities(spec)?;
    let pkg = crate::nemesis::package::build(&spec.nemesis.config, &caps)
        .map_err(|e| RunError::BadInput(format!("nemesis {}: {e}", spec.nemesis.name)))?;
    let w = &spec.workload;
    let planned = schedule::simulate(
        workload.generator(),
        schedule::rng(spec.seed, schedule::Stream::Workload),
        schedule::Pacer::new(w.rate, w.stagger, spec.seed),
        pkg.schedule,
        schedule::rng(spec.seed, schedule::Stream::Nemesis),
        spec.concurrency,
        Duration::from_secs_f64(w.time_limit),
    );
    Ok(planned.iter().map(schedule::Planned::line).collect())
}

/// Re-check a stored run (also one cut short by a crash) and rewrite its
/// `results.json`. A torn last history line is dropped (with a warning);
/// invokes without a completion count as `info`.
pub fn analyze(dir: &Path) -> Result<RunOutcome, RunError> {
    let run = StoredRun::load(dir).map_err(bad_input)?;
    let mut results = verdict::reanalyze(&run).map_err(bad_input)?;
    results
        .store(&run.dir)
        .map_err(|e| RunError::Internal(format!("results.json: {e}")))?;
    write_report(&run.dir, &run.spec, &run.history, &mut results);
    Ok(RunOutcome {
        verdict: results.valid,
        dir: dir.to_path_buf(),
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(faults: &[&str]) -> TestSpec {
        let mut s = TestSpec::memory("register", 3, 2, 1.0, Path::new("/nonexistent"));
        s.nemesis.config.faults = faults.iter().map(|f| f.to_string()).collect();
        s
    }

    fn carrying(dir: &Path) -> RunOptions {
        RunOptions {
            carry: Some(dir.to_path_buf()),
            ..RunOptions::quiet()
        }
    }

    #[test]
    fn a_hunt_carries_the_adaptive_coverage_map_and_nothing_else() {
        let carry = Path::new("/tmp/carry-seed-1");
        let got = carry_coverage(&spec(&["adaptive"]), &carrying(carry)).expect("carried");
        assert_eq!(
            got.nemesis.config.adaptive.coverage_file.as_deref(),
            Some("/tmp/carry-seed-1/adaptive-coverage.json")
        );
        // Outside a hunt, for other nemeses, or with a file of its own: as is.
        assert!(carry_coverage(&spec(&["adaptive"]), &RunOptions::quiet()).is_none());
        assert!(carry_coverage(&spec(&["partition", "kill"]), &carrying(carry)).is_none());
        let mut own = spec(&["adaptive"]);
        own.nemesis.config.adaptive.coverage_file = Some("/tmp/mine.json".into());
        assert!(carry_coverage(&own, &carrying(carry)).is_none());
    }

    #[test]
    fn the_starting_coverage_is_kept_in_the_run_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("cov.json");
        std::fs::write(&file, b"{\"seen\": 1}").unwrap();
        let mut s = spec(&["adaptive"]);
        s.nemesis.config.adaptive.coverage_file = Some(file.display().to_string());
        let dir = RunDir::create(tmp.path(), "t", chrono::Utc::now()).unwrap();
        keep_starting_coverage(&s, &dir);
        let kept = std::fs::read(dir.path.join(STARTING_COVERAGE)).unwrap();
        assert_eq!(kept, b"{\"seen\": 1}");
    }
}
