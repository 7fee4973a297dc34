//! `faultline test`: resolve a test (cluster × workload × nemesis, flags
//! over files) and run it `--test-count` times, stopping at the first run
//! whose verdict is not valid. The exit code is that verdict's (0 valid,
//! 1 invalid, 2 unknown), 254 for bad input (flags, YAML, prerequisites) and
//! 255 when faultline itself fails. `--dry-run` prints the resolved test and
//! the op and fault schedule its seed gives, and touches no node.

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use crate::report::junit;
use crate::runner::{self, Progress, RunError, RunOptions, RunOutcome};
use crate::spec::{self, Concurrency, Overrides, TestSpec};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `faultline test`.
///
/// A test is a cluster × a workload × a nemesis, each a YAML file given by
/// path or by name (`--workload bank` finds `workloads/bank.yaml` in the
/// current directory, else the one shipped with faultline). Flags override
/// the files' fields. With no arguments: 5 local refkv nodes (needs root),
/// the register workload, partitions and kills, 60 s.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    faultline test                                     # the defaults\n  \
    faultline test --workload bank --nemesis all --time-limit 30\n  \
    faultline test --bug stale-read --nemesis partition --seed 7\n  \
    faultline test --cluster memory --nemesis none     # no root needed\n  \
    faultline test --dry-run                           # print the schedule only\n\n\
    Exit codes: 0 valid, 1 invalid (a bug was found), 2 unknown, 254 bad input, 255 internal error.")]
pub struct Args {
    /// The cluster: a file, or a name in clusters/ (refkv, refkv-3, memory).
    #[arg(long, value_name = "FILE|NAME", default_value = spec::load::DEFAULT_CLUSTER)]
    pub cluster: String,
    /// Workload, nemesis, timing, seed and results directory: the flags
    /// `faultline compare` shares.
    #[command(flatten)]
    pub run: RunFlags,
    /// The test's name, for DIR/NAME/ under --results [default:
    /// CLUSTER-WORKLOAD-NEMESIS].
    #[arg(long)]
    pub name: Option<String>,
    /// Switch on a refkv bug in every node (repeatable): stale-read,
    /// no-fsync, commit-old-term, lease-read, vote-twice, txn-split.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Run the test this many times, stopping at the first run that is not
    /// valid; runs after the first use seeds derived from --seed.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub test_count: u32,
    /// Leave the cluster running after the test (remove it later with
    /// `faultline heal`).
    #[arg(long)]
    pub leave_db_running: bool,
    /// Print the resolved test and the op and fault schedule its seed
    /// gives, without touching any node.
    #[arg(long)]
    pub dry_run: bool,
    /// End the main phase as soon as online checking proves an anomaly,
    /// then heal, recover, run the final reads and check as usual (the
    /// run is invalid, not interrupted).
    #[arg(long)]
    pub stop_on_anomaly: bool,
    /// Write a JUnit XML report here: one testsuite per run, one testcase
    /// per checker, the anomaly in `<failure>`; also written when the test
    /// cannot run (one `<error>` case).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

impl Args {
    /// The flags as [`Overrides`] of the files' fields.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            name: self.name.clone(),
            test_count: Some(self.test_count),
            leave_db_running: self.leave_db_running,
            bugs: self.bugs.clone(),
            ..self.run.overrides(&self.cluster)
        }
    }
}

/// The flags of one test that `faultline test` and `faultline compare`
/// share: everything but the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// The workload: a file, or a name in workloads/ (register, set, bank,
    /// counter).
    #[arg(long, value_name = "FILE|NAME", default_value = spec::load::DEFAULT_WORKLOAD)]
    pub workload: String,
    /// The nemesis: a file, a name in nemeses/ (partition-kill, partition,
    /// kill, pause, clock, loss, all, none, crash, skew-partition,
    /// double-vote, figure-8, adaptive), or a comma list of fault families
    /// (partition,kill,pause,clock,loss; election; all; none).
    #[arg(long, value_name = "FILE|NAME|LIST", default_value = spec::load::DEFAULT_NEMESIS)]
    pub nemesis: String,
    /// Number of nodes [default: the cluster file's].
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// Worker threads: a number, or a multiple of the nodes (2n)
    /// [default: the workload file's].
    #[arg(long, value_name = "N|Kn")]
    pub concurrency: Option<Concurrency>,
    /// Ops per second over all workers, 0 = as fast as they go [default:
    /// the workload file's].
    #[arg(long, value_name = "OPS")]
    pub rate: Option<f64>,
    /// Seconds of the main phase, ops and faults [default: the workload
    /// file's].
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<f64>,
    /// Seconds of quiet after healing, before the final reads [default: the
    /// workload file's].
    #[arg(long, value_name = "SECS")]
    pub recovery: Option<f64>,
    /// Seconds between two nemesis ops (a fault's start or its stop)
    /// [default: the nemesis file's].
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,
    /// The seed of every random choice (ops, faults); the same seed replays
    /// the same schedule [default: random, printed].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Where runs are stored: DIR/NAME/START-TIME/.
    #[arg(long = "results", value_name = "DIR", default_value = spec::load::DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
}

impl RunFlags {
    /// These flags as [`Overrides`] of the files' fields, for `cluster`;
    /// the flags only `faultline test` has are left at their defaults.
    pub fn overrides(&self, cluster: &str) -> Overrides {
        Overrides {
            cluster: Some(cluster.to_string()),
            workload: Some(self.workload.clone()),
            nemesis: Some(self.nemesis.clone()),
            name: None,
            nodes: self.nodes,
            concurrency: self.concurrency,
            rate: self.rate,
            time_limit: self.time_limit,
            recovery: self.recovery,
            interval: self.interval,
            test_count: Some(1),
            leave_db_running: false,
            seed: self.seed,
            results_dir: Some(self.results_dir.clone()),
            bugs: Vec::new(),
        }
    }
}

/// A run failure as the command's error: bad input 254, internal 255.
pub(crate) fn run_error(e: RunError) -> CliError {
    match e {
        RunError::BadInput(m) => CliError::bad_input(anyhow::anyhow!(m)),
        RunError::Internal(m) => CliError::internal(anyhow::anyhow!(m)),
    }
}

/// Print the summary table of a finished run. A failed write is ignored:
/// the terminal may be gone (SIGHUP), the results are stored already, and
/// the exit code still tells the verdict.
fn print_summary(outcome: &RunOutcome) {
    let color =
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && crate::report::color_allowed();
    let mut out = std::io::stdout();
    let _ = write!(
        out,
        "{}",
        crate::report::table::summary(&outcome.results, &outcome.dir, color)
    );
    let _ = out.flush();
}

/// Run one resolved test through the runner and print its summary (unless
/// `opts` is quiet): the one code path of a run for `faultline test` and
/// `faultline compare`.
pub(crate) fn run_one(spec: &TestSpec, opts: &RunOptions) -> Result<RunOutcome, CliError> {
    let outcome = runner::run(spec, opts).map_err(run_error)?;
    if opts.progress != Progress::Quiet {
        print_summary(&outcome);
    }
    Ok(outcome)
}

/// Run `faultline test`, writing the `--junit` report (also of a test that
/// could not run) when asked.
pub fn run(args: Args) -> CmdResult {
    // A dry run checks nothing: no JUnit file.
    let Some(path) = args.junit.clone().filter(|_| !args.dry_run) else {
        return run_tests(&args, &mut Vec::new());
    };
    junit::check_path(&path).map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    let started = std::time::Instant::now();
    let mut suites = Vec::new();
    let result = run_tests(&args, &mut suites);
    if let Err(e) = &result {
        let name = args.name.clone().unwrap_or_else(|| "faultline test".into());
        suites.push(junit::suite_of_error(
            &name,
            e.code(),
            &e.to_string(),
            Vec::new(),
            started.elapsed().as_secs_f64(),
        ));
    }
    let mut doc = junit::JUnit::new("faultline test", suites);
    doc.time = Some(started.elapsed().as_secs_f64());
    doc.write(&path)
        .map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    result
}

/// Resolve and run the test; one JUnit testsuite per finished run is
/// pushed to `junit`.
fn run_tests(args: &Args, junit: &mut Vec<junit::TestSuite>) -> CmdResult {
    let (spec, warnings) = spec::resolve_with_warnings(&args.overrides(), Path::new("."))
        .map_err(CliError::bad_input)?;
    let spec = TestSpec {
        stop_on_anomaly: args.stop_on_anomaly,
        ..spec
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if args.dry_run {
        let schedule = runner::dry_run(&spec).map_err(run_error)?;
        // A closed pipe (`| head`) ends the listing quietly, not in a panic.
        let mut out = std::io::stdout().lock();
        let lines = spec
            .summary()
            .into_iter()
            .chain(std::iter::once(String::new()))
            .chain(schedule);
        for line in lines {
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
        return Ok(Validity::Valid);
    }
    // The runner logs each run's seed itself; the summary is printed here.
    let opts = RunOptions::default();
    let mut verdict = Validity::Valid;
    for i in 0..spec.test_count {
        let mut one = spec.clone();
        one.seed = spec.seed_of_run(i);
        if spec.test_count > 1 {
            println!("run {}/{}: seed {}", i + 1, spec.test_count, one.seed);
        }
        let started = std::time::Instant::now();
        let outcome = run_one(&one, &opts)?;
        let classname = if spec.test_count > 1 {
            format!("{} (seed {})", one.name, one.seed)
        } else {
            one.name.clone()
        };
        junit.push(junit::suite_of_run(
            &outcome.results,
            &outcome.dir,
            &classname,
            started.elapsed().as_secs_f64(),
        ));
        verdict = outcome.verdict;
        if verdict != Validity::Valid {
            if spec.test_count > 1 {
                println!(
                    "run {}/{} is {verdict}: stopping (seed {}, {})",
                    i + 1,
                    spec.test_count,
                    one.seed,
                    outcome.dir.display()
                );
            }
            break;
        }
    }
    Ok(verdict)
}
