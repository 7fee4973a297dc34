//! `faultline suite FILE.yaml`: run a list or matrix of tests, print one
//! summary table, write one JUnit file, exit with the worst code.
//!
//! The suite file ([`crate::spec::suite`]) is loaded and every test in it
//! resolved exactly as `faultline test` resolves its flags before anything
//! runs: an unknown key, a bad value or an unknown workload is bad input
//! (exit 254) naming the suite file, the line and the field, and no test
//! runs. Then the tests run one after the other, in this process, through
//! [`runner::run`] — the same path as `faultline test` — with a progress
//! line per test.
//!
//! In-process rather than a child `faultline test` per entry: the run's
//! [`runner::RunOutcome`] (verdict, op counts, checker results) comes back
//! as a value for the table and the JUnit file, with no re-reading of
//! `results.json` or parsing of another process's output; the suite asks
//! for root once (not once per child under sudo); and each run already
//! owns its async runtime, heals and tears down its cluster on every path.
//! A panic inside one run is caught and recorded as that test's internal
//! error (255), and the suite goes on with the next.
//!
//! The exit code is the worst of the tests' codes by severity
//! ([`exit::severity`]): 0 valid < 2 unknown < 1 invalid < 254 bad input <
//! 255 internal error. A test with `expect: invalid` (or `unknown`)
//! counts 0 when its verdict is the expected one, and otherwise 2 if its
//! verdict is unknown, else 1 (a missed bug fails the suite as a found one
//! fails a plain test). A signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) ends
//! the suite: a run it cuts short is healed and stored as always, one that
//! arrives between runs stops the suite at the next test, and the tests
//! not run are listed as skipped.

use crate::checker::Validity;
use crate::exit::{self, CliError, CmdResult};
use crate::report::junit::{self, JUnit, TestSuite};
use crate::runner::signals::{self, Stop};
use crate::runner::{self, RunError, RunOptions, RunOutcome};
use crate::spec::suite::{self as spec_suite, SuiteTest};
use crate::spec::{self, TestSpec};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tabled::builder::Builder;
use tabled::settings::Style;

/// Arguments of `faultline suite`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    faultline suite suites/smoke.yaml --junit junit.xml    # memory cluster, no root, seconds\n  \
    faultline suite suites/nightly.yaml --junit junit.xml  # local refkv cluster, root\n  \
    faultline suite suites/nightly.yaml --dry-run          # list the tests, run nothing\n\n\
    Exit code: the worst test's, by severity 0 valid < 2 unknown < 1 invalid < 254 bad input \
    < 255 internal error.")]
pub struct Args {
    /// The suite file (YAML: `name`, `defaults`, `tests`, `matrix`).
    pub file: PathBuf,
    /// Write a JUnit XML report of every test here (one testsuite per
    /// test, one testcase per checker).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Where runs are stored: DIR/NAME/START-TIME/.
    #[arg(long = "results", value_name = "DIR", default_value = spec::load::DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// List the resolved tests (name, seed, cluster, workload, nemesis,
    /// time limit, expected verdict) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One line of the summary table: how one test of the suite ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The test's name (`results/<name>/`).
    pub test: String,
    /// Its seed.
    pub seed: u64,
    /// The verdict it had to reach.
    pub expect: Validity,
    /// `valid`, `invalid`, `unknown`, `bad input`, `internal error` or
    /// `skipped`.
    pub verdict: String,
    /// The test's exit code (after its expectation); `None` when skipped.
    pub code: Option<u8>,
    /// Client ops invoked.
    pub ops: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The run directory, if the run got one.
    pub dir: Option<PathBuf>,
}

/// The summary table: test, seed, verdict (with the expectation when it is
/// not `valid`), exit code, ops, duration and results directory, one row
/// per test in the order run.
pub fn summary_table(rows: &[Row]) -> String {
    let mut b = Builder::default();
    b.push_record([
        "test", "seed", "verdict", "exit", "ops", "duration", "results",
    ]);
    for r in rows {
        let verdict = if r.expect == Validity::Valid {
            r.verdict.clone()
        } else {
            format!("{} (expect {})", r.verdict, r.expect)
        };
        b.push_record([
            r.test.clone(),
            r.seed.to_string(),
            verdict,
            r.code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            r.ops.to_string(),
            format!("{:.1} s", r.seconds),
            r.dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    format!("{t}\n")
}

/// The exit code of a test that reached `got` when it had to reach
/// `expected`: 0 on a match; otherwise the verdict's own code, and 1 for a
/// valid verdict where an anomaly was expected (the bug was missed).
pub fn code_for(expected: Validity, got: Validity) -> u8 {
    if got == expected {
        exit::VALID
    } else if got == Validity::Unknown {
        exit::UNKNOWN
    } else {
        exit::INVALID
    }
}

/// A resolved test of the suite.
struct Planned {
    test: SuiteTest,
    spec: TestSpec,
    /// JUnit classname: the test's name, with its seed when several tests
    /// of the suite share the name.
    classname: String,
}

fn bad(m: impl std::fmt::Display) -> CliError {
    CliError::bad_input(anyhow::anyhow!("{m}"))
}

/// Load and resolve every test of the suite; any error is bad input
/// naming the suite file and the line.
fn plan(args: &Args) -> Result<(String, Vec<Planned>, Vec<String>), CliError> {
    let suite = spec_suite::load(&args.file).map_err(bad)?;
    let suite_dir = args
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut planned = Vec::with_capacity(suite.tests.len());
    let mut warnings = Vec::new();
    for t in suite.tests {
        let o = t.entry.overrides(&suite_dir, &args.results_dir);
        let (spec, w) = spec::resolve_with_warnings(&o, Path::new("."))
            .map_err(|e| bad(format!("{}: {e}", t.origin)))?;
        for w in w {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        planned.push(Planned {
            classname: spec.name.clone(),
            test: t,
            spec,
        });
    }
    // Classnames tell tests apart: the seed when names repeat, then the
    // position when seeds repeat too.
    let names: Vec<String> = planned.iter().map(|p| p.classname.clone()).collect();
    for (p, name) in planned.iter_mut().zip(&names) {
        if names.iter().filter(|n| *n == name).count() > 1 {
            p.classname = format!("{name} (seed {})", p.spec.seed);
        }
    }
    let seeded: Vec<String> = planned.iter().map(|p| p.classname.clone()).collect();
    for (i, p) in planned.iter_mut().enumerate() {
        if seeded.iter().filter(|n| **n == p.classname).count() > 1 {
            p.classname = format!("{} #{}", p.classname, i + 1);
        }
    }
    Ok((suite.name, planned, warnings))
}

/// Whether running this suite needs root: some test's backend does (the
/// local backend). A suite that does not load or resolve asks for nothing
/// (`run` reports it, exit 254); `--dry-run` never needs root.
pub fn needs_root(args: &Args) -> bool {
    if args.dry_run {
        return false;
    }
    let Ok((_, planned, _)) = plan(args) else {
        return false;
    };
    planned.iter().any(|p| {
        crate::remote::backend::build(&p.spec.cluster.backend_config())
            .map(|b| b.needs_root())
            .unwrap_or(false)
    })
}

fn properties(spec: &TestSpec, origin: &str) -> Vec<(String, String)> {
    vec![
        ("test".to_string(), spec.name.clone()),
        ("seed".to_string(), spec.seed.to_string()),
        ("nemesis".to_string(), spec.nemesis.name.clone()),
        ("suite-entry".to_string(), origin.to_string()),
    ]
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    }
}

/// Run one planned test: its row, its JUnit testsuite and whether it was
/// interrupted (which ends the suite).
fn run_one(p: &Planned) -> (Row, TestSuite, bool) {
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner::run(&p.spec, &RunOptions::quiet())
    }));
    let seconds = started.elapsed().as_secs_f64();
    let expect = p.test.expect();
    let failed = |code: u8, message: String| {
        let row = Row {
            test: p.spec.name.clone(),
            seed: p.spec.seed,
            expect,
            verdict: if code == exit::BAD_INPUT {
                "bad input".into()
            } else {
                "internal error".into()
            },
            code: Some(code),
            ops: 0,
            seconds,
            dir: None,
        };
        let mut props = properties(&p.spec, &p.test.origin);
        props.push(("expect".to_string(), expect.to_string()));
        let suite = junit::suite_of_error(&p.classname, code, &message, props, seconds);
        (row, suite, false, message)
    };
    let (row, suite, interrupted, error) = match result {
        Ok(Ok(RunOutcome {
            verdict,
            dir,
            results,
        })) => {
            let code = code_for(expect, verdict);
            let mut suite = junit::suite_of_run(&results, &dir, &p.classname, seconds)
                .expecting(expect, verdict);
            suite
                .properties
                .push(("suite-entry".to_string(), p.test.origin.clone()));
            let row = Row {
                test: p.spec.name.clone(),
                seed: p.spec.seed,
                expect,
                verdict: verdict.to_string(),
                code: Some(code),
                ops: results.ops.invoke,
                seconds,
                dir: Some(dir),
            };
            (row, suite, results.interrupted.is_some(), String::new())
        }
        Ok(Err(RunError::BadInput(m))) => failed(exit::BAD_INPUT, m),
        Ok(Err(RunError::Internal(m))) => failed(exit::INTERNAL, m),
        Err(panic) => failed(
            exit::INTERNAL,
            format!("the run panicked: {}", panic_message(panic.as_ref())),
        ),
    };
    if !error.is_empty() {
        eprintln!("faultline: {}: {error}", p.spec.name);
    }
    (row, suite, interrupted)
}

/// Watch for SIGINT, SIGTERM, SIGHUP and SIGQUIT for the whole suite, on
/// a thread of its own: during a run the run's own listener stops it
/// (healed, stored); between runs (while a run's history is checked, say)
/// nothing else would hear the signal. The suite then stops at the next
/// test boundary. `None` when the listener cannot start (the suite still
/// stops on a signal that interrupts a run).
fn watch_signals() -> Option<Stop> {
    let stop = Stop::new();
    let flag = stop.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    std::thread::Builder::new()
        .name("faultline-suite-signals".into())
        .spawn(move || {
            rt.block_on(signals::listen(flag, |m| {
                let name = m.split(':').next().unwrap_or("a signal");
                eprintln!("faultline suite: {name}: the suite stops after this test");
            }))
        })
        .ok()?;
    Some(stop)
}

/// Run `faultline suite`.
pub fn run(args: Args) -> CmdResult {
    if let Some(j) = &args.junit {
        junit::check_path(j).map_err(bad)?;
    }
    let (name, planned, warnings) = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            // CI shows the broken suite file in its test report too.
            if let Some(j) = args.junit.as_ref().filter(|_| !args.dry_run) {
                let file = args.file.display().to_string();
                let suite = junit::suite_of_error(&file, e.code(), &e.to_string(), Vec::new(), 0.0);
                let _ = JUnit::new(file, vec![suite]).write(j);
            }
            return Err(e);
        }
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let n = planned.len();
    let mut out = std::io::stdout();
    if args.dry_run {
        let mut b = Builder::default();
        b.push_record([
            "#",
            "test",
            "seed",
            "cluster",
            "workload",
            "nemesis",
            "time-limit",
            "expect",
            "entry",
        ]);
        for (i, p) in planned.iter().enumerate() {
            b.push_record([
                (i + 1).to_string(),
                p.spec.name.clone(),
                p.spec.seed.to_string(),
                p.spec.cluster.name.clone(),
                p.spec.workload.name.clone(),
                p.spec.nemesis.name.clone(),
                format!("{} s", p.spec.workload.time_limit),
                p.test.expect().to_string(),
                p.test.origin.clone(),
            ]);
        }
        let mut t = b.build();
        t.with(Style::rounded());
        let _ = writeln!(out, "suite {name}: {n} test(s)\n{t}");
        return Ok(Validity::Valid);
    }
    let _ = writeln!(out, "suite {name}: {n} test(s)");
    let signalled = watch_signals();
    let signalled = || signalled.as_ref().is_some_and(Stop::is_set);
    let started = Instant::now();
    let mut rows = Vec::with_capacity(n);
    let mut suites = Vec::with_capacity(n);
    let mut stopped = false;
    for (i, p) in planned.iter().enumerate() {
        if !stopped && signalled() {
            let _ = writeln!(out, "stopped by a signal: skipping the remaining tests");
            stopped = true;
        }
        if stopped {
            let why = "not run: the suite was interrupted";
            rows.push(Row {
                test: p.spec.name.clone(),
                seed: p.spec.seed,
                expect: p.test.expect(),
                verdict: "skipped".into(),
                code: None,
                ops: 0,
                seconds: 0.0,
                dir: None,
            });
            suites.push(junit::suite_of_skipped(
                &p.classname,
                why,
                properties(&p.spec, &p.test.origin),
            ));
            continue;
        }
        let _ = writeln!(
            out,
            "[{}/{n}] {} (seed {}) — {}",
            i + 1,
            p.spec.name,
            p.spec.seed,
            p.test.origin
        );
        let _ = out.flush();
        let (row, suite, interrupted) = run_one(p);
        let _ = writeln!(
            out,
            "[{}/{n}] {}: {}{} (exit {}, {} ops, {:.1} s){}",
            i + 1,
            row.test,
            row.verdict,
            if row.expect == Validity::Valid {
                String::new()
            } else {
                format!(", expected {}", row.expect)
            },
            row.code.unwrap_or(exit::INTERNAL),
            row.ops,
            row.seconds,
            row.dir
                .as_ref()
                .map(|d| format!(" {}", d.display()))
                .unwrap_or_default()
        );
        let _ = out.flush();
        rows.push(row);
        suites.push(suite);
        if interrupted {
            let _ = writeln!(out, "interrupted: stopping the suite");
            stopped = true;
        }
    }
    let mut doc = JUnit::new(name.clone(), suites);
    doc.time = Some(started.elapsed().as_secs_f64());
    let (tests, failures, errors, skipped) = doc.counts();
    let worst = exit::worst(rows.iter().filter_map(|r| r.code));
    let _ = write!(out, "\n{}", summary_table(&rows));
    let _ = writeln!(
        out,
        "suite {name}: {n} test(s) in {:.1} s; JUnit: {tests} case(s), {failures} failure(s), \
         {errors} error(s), {skipped} skipped; exit {worst}",
        started.elapsed().as_secs_f64()
    );
    let _ = out.flush();
    if let Some(path) = &args.junit {
        doc.write(path).map_err(bad)?;
        let _ = writeln!(out, "JUnit: {}", path.display());
    }
    match worst {
        exit::VALID => Ok(Validity::Valid),
        exit::UNKNOWN => Ok(Validity::Unknown),
        exit::INVALID => Ok(Validity::Invalid),
        exit::BAD_INPUT => Err(bad(format!(
            "suite {name}: a test could not run (bad input, exit 254): see its row above"
        ))),
        _ => Err(CliError::internal(anyhow::anyhow!(
            "suite {name}: a test failed inside faultline (exit {worst}): see its row above"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: &str, dry_run: bool) -> Args {
        Args {
            file: Path::new(env!("CARGO_MANIFEST_DIR")).join(file),
            junit: None,
            results_dir: PathBuf::from("results"),
            dry_run,
        }
    }

    #[test]
    fn only_a_suite_with_local_tests_needs_root() {
        assert!(needs_root(&args("suites/nightly.yaml", false)));
        assert!(!needs_root(&args("suites/nightly.yaml", true)));
        assert!(!needs_root(&args("suites/smoke.yaml", false)));
        assert!(!needs_root(&args("suites/no-such-suite.yaml", false)));
    }

    #[test]
    fn tests_sharing_a_name_get_their_seed_in_the_classname() {
        let (name, planned, _) = plan(&args("suites/nightly.yaml", true)).unwrap();
        assert_eq!(name, "nightly");
        let classes: Vec<&str> = planned.iter().map(|p| p.classname.as_str()).collect();
        assert!(classes.contains(&"bug-stale-read"), "{classes:?}");
        assert!(classes.contains(&"refkv-set-kill (seed 2)"), "{classes:?}");
        let mut unique = classes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), classes.len(), "{classes:?}");
    }

    #[test]
    fn an_expectation_met_is_zero_and_a_missed_one_is_not() {
        use Validity::*;
        assert_eq!(code_for(Valid, Valid), 0);
        assert_eq!(code_for(Valid, Invalid), 1);
        assert_eq!(code_for(Valid, Unknown), 2);
        assert_eq!(code_for(Invalid, Invalid), 0);
        assert_eq!(code_for(Invalid, Valid), 1, "a missed bug fails");
        assert_eq!(code_for(Invalid, Unknown), 2);
        assert_eq!(code_for(Unknown, Unknown), 0);
        assert_eq!(code_for(Unknown, Valid), 1);
    }
}
