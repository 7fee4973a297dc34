//! `faultline compare`: run the same test — workload, nemesis, time
//! limit, rate, concurrency and seed — on several systems, one after the
//! other, as ordinary runs stored under `results/`, then print one table
//! and write `results/compare/<time>/compare.html` and `compare.json`
//! ([`crate::report::compare`]). `--runs` re-renders a comparison from
//! stored runs, touching no node.
//!
//! Each system is a cluster name or file, resolved exactly as `--cluster`
//! is. All are resolved before any runs: an unknown one is bad input (254,
//! the message names it and lists the clusters). A system whose run fails
//! (its setup, say) is a row with its error, and the others still run.
//! The exit code is the worst of the systems' ([`crate::exit::worst`]).

use super::test::RunFlags;
use crate::checker::Validity;
use crate::exit::{self, CliError, CmdResult};
use crate::report::compare::{self, Comparison, Row};
use crate::report::stored::StoredRun;
use crate::runner::RunOptions;
use crate::spec::{self, Overrides, TestSpec};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `faultline compare`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    faultline compare --db refkv-3,etcd --workload register --nemesis partition,kill --time-limit 30\n  \
    faultline compare refkv-3 etcd zookeeper --seed 7\n  \
    faultline compare --runs results/a/20260101T000000.000Z,results/b/20260101T000100.000Z\n\n\
    Exit codes: the worst of the systems' runs: 0 valid, 1 invalid, 2 unknown, 254 bad input, 255 internal error.")]
pub struct Args {
    /// The systems: cluster names in clusters/ or cluster files, as for
    /// `faultline test --cluster` (also comma lists).
    #[arg(value_name = "SYSTEM", value_delimiter = ',')]
    pub systems: Vec<String>,
    /// The systems, as a comma list (added to the positional ones).
    #[arg(long = "db", value_name = "LIST", value_delimiter = ',')]
    pub db: Vec<String>,
    /// Compare these stored run directories instead of running anything
    /// (comma list).
    #[arg(
        long,
        value_name = "DIRS",
        value_delimiter = ',',
        conflicts_with = "db"
    )]
    pub runs: Vec<PathBuf>,
    /// Workload, nemesis, timing, seed (one random seed, printed, for
    /// every system when not given) and results directory (the comparison
    /// goes to DIR/compare/TIME/): the flags of `faultline test`.
    #[command(flatten)]
    pub run: RunFlags,
}

impl Args {
    /// The systems named, in order.
    fn systems(&self) -> Vec<String> {
        self.systems
            .iter()
            .chain(&self.db)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The overrides of `system`'s test: the same for every system but
    /// the cluster.
    fn overrides(&self, system: &str, seed: u64) -> Overrides {
        Overrides {
            seed: Some(seed),
            ..self.run.overrides(system)
        }
    }
}

fn bad(m: impl std::fmt::Display) -> CliError {
    CliError::bad_input(anyhow::anyhow!("{m}"))
}

/// Row labels: each system's cluster name, `#2`, `#3`... on repeats.
fn labels(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let seen = out
            .iter()
            .filter(|l| **l == n || l.starts_with(&format!("{n}#")))
            .count();
        out.push(if seen == 0 {
            n
        } else {
            format!("{n}#{}", seen + 1)
        });
    }
    out
}

/// True when a system to run resolves to a backend that needs root
/// (`--runs` never does; a system that does not resolve is reported by
/// [`run`]).
pub fn needs_root(args: &Args) -> bool {
    args.runs.is_empty()
        && args.systems().iter().any(|s| {
            spec::resolve(&args.overrides(s, 0))
                .ok()
                .and_then(|spec| crate::remote::backend::build(&spec.cluster.backend_config()).ok())
                .is_some_and(|b| b.needs_root())
        })
}

/// Run `faultline compare`.
pub fn run(args: Args) -> CmdResult {
    let systems = args.systems();
    if !args.runs.is_empty() {
        if !systems.is_empty() {
            return Err(bad("give systems to run or --runs to re-render, not both"));
        }
        return rerender(&args.runs, &args.run.results_dir);
    }
    if systems.is_empty() {
        return Err(bad(
            "no system to compare: give cluster names or files (`faultline compare refkv-3 etcd` \
             or --db refkv-3,etcd), or --runs DIR1,DIR2",
        ));
    }
    let seed = args.run.seed.unwrap_or_else(rand::random);
    // Resolve every system before running any: a typo is found at once.
    let mut specs: Vec<TestSpec> = Vec::new();
    for s in &systems {
        let (spec, warnings) =
            spec::resolve_with_warnings(&args.overrides(s, seed), Path::new("."))
                .map_err(|e| bad(format!("system {s}: {e}")))?;
        for w in &warnings {
            eprintln!("warning: {s}: {w}");
        }
        specs.push(spec);
    }
    let names = labels(specs.iter().map(|s| s.cluster.name.clone()));
    println!(
        "compare: {} on {} — seed {seed}",
        compare::describe_test(&specs[0]),
        names.join(", ")
    );
    let opts = RunOptions::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut runs: Vec<Option<StoredRun>> = Vec::new();
    let mut interrupted = false;
    for (i, (spec, name)) in specs.iter().zip(&names).enumerate() {
        if interrupted {
            rows.push(compare::error_row(
                name,
                "not run: the comparison was interrupted",
                exit::UNKNOWN,
            ));
            runs.push(None);
            continue;
        }
        println!("== {name} ({}/{}) ==", i + 1, specs.len());
        let _ = std::io::stdout().flush();
        match super::test::run_one(spec, &opts) {
            Ok(outcome) => {
                interrupted = outcome.results.interrupted.is_some();
                let (row, run) = stored_row(name, &outcome.dir);
                rows.push(row);
                runs.push(run);
            }
            Err(e) => {
                eprintln!("faultline: {name}: {e}");
                rows.push(compare::error_row(name, &e.to_string(), e.code()));
                runs.push(None);
            }
        }
    }
    finish(
        Comparison {
            created: chrono::Utc::now().to_rfc3339(),
            test: compare::describe_test(&specs[0]),
            rows,
        },
        &runs,
        &args.run.results_dir,
    )
}

/// The row of the run stored in `dir` (and the run), or a row with why it
/// cannot be read.
fn stored_row(name: &str, dir: &Path) -> (Row, Option<StoredRun>) {
    let loaded = StoredRun::load(dir).map_err(|e| e.to_string());
    match loaded.and_then(|run| compare::row_of(name, &run).map(|row| (row, run))) {
        Ok((row, run)) => (row, Some(run)),
        Err(e) => (compare::error_row(name, &e, exit::INTERNAL), None),
    }
}

/// `--runs`: the comparison of stored runs; one that cannot be read is
/// bad input naming it.
fn rerender(dirs: &[PathBuf], results: &Path) -> CmdResult {
    let mut loaded = Vec::new();
    for d in dirs {
        loaded.push(StoredRun::load(d).map_err(|e| bad(format!("--runs: {e}")))?);
    }
    let names = labels(loaded.iter().map(|r| r.spec.cluster.name.clone()));
    let mut rows = Vec::new();
    for (run, name) in loaded.iter().zip(&names) {
        rows.push(
            compare::row_of(name, run)
                .map_err(|e| bad(format!("--runs: {}: {e}", run.dir.path.display())))?,
        );
    }
    let test = compare::describe_test(&loaded[0].spec);
    let runs: Vec<Option<StoredRun>> = loaded.into_iter().map(Some).collect();
    finish(
        Comparison {
            created: chrono::Utc::now().to_rfc3339(),
            test,
            rows,
        },
        &runs,
        results,
    )
}

/// Print the table, write the page and the JSON, and turn the worst exit
/// code into the command's result.
fn finish(c: Comparison, runs: &[Option<StoredRun>], results: &Path) -> CmdResult {
    let color =
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && crate::report::color_allowed();
    let mut out = std::io::stdout();
    let _ = write!(out, "{}", compare::table(&c, color));
    match compare::write(results, &c, runs) {
        Ok(w) => {
            let _ = writeln!(out, "comparison: {}", w.html.display());
        }
        Err(e) => eprintln!("warning: the comparison could not be written: {e}"),
    }
    let _ = out.flush();
    let code = c.exit_code();
    match code {
        exit::VALID => Ok(Validity::Valid),
        exit::INVALID => Ok(Validity::Invalid),
        exit::UNKNOWN => Ok(Validity::Unknown),
        _ => {
            let failed: Vec<String> = c
                .rows
                .iter()
                .filter(|r| r.exit == code)
                .map(|r| r.system.clone())
                .collect();
            let e = anyhow::anyhow!(
                "compare: {} could not be run (see the table)",
                failed.join(", ")
            );
            Err(if code == exit::BAD_INPUT {
                CliError::bad_input(e)
            } else {
                CliError::internal(e)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_systems_get_numbered_labels() {
        let l = labels(["memory", "refkv", "memory", "memory"].map(String::from));
        assert_eq!(l, ["memory", "refkv", "memory#2", "memory#3"]);
    }
}
