//! `faultline analyze RUN_DIR [--json]`: re-check a stored run — also one
//! cut short by a crash or SIGKILL (a torn last history line is dropped,
//! invokes without completion count as `info`) — rewrite its
//! `results.json` and print the summary (or, with `--json`, the new
//! `results.json`). Exit code: the verdict (0/1/2); 254 when the directory
//! is not a run, its `test.yaml` or history is malformed; 255 on an
//! internal failure. `--junit FILE` also writes the verdicts as JUnit XML.

use crate::exit::{CliError, CmdResult};
use crate::report::junit;
use crate::runner::{self, RunError};
use std::path::PathBuf;

/// Arguments of `faultline analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run directory (`results/<test>/<start-time>/`, or `results/latest`).
    pub run_dir: PathBuf,
    /// Print `results.json` instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Write a JUnit XML report here: one testcase per checker, the anomaly
    /// in `<failure>`; one `<error>` case when the run cannot be read.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Run `faultline analyze`.
pub fn run(args: Args) -> CmdResult {
    if let Some(path) = &args.junit {
        junit::check_path(path).map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    }
    let started = std::time::Instant::now();
    let analyzed = runner::analyze(&args.run_dir).map_err(|e| match e {
        RunError::BadInput(m) => CliError::bad_input(anyhow::anyhow!(m)),
        RunError::Internal(m) => CliError::internal(anyhow::anyhow!(m)),
    });
    if let Some(path) = &args.junit {
        let seconds = started.elapsed().as_secs_f64();
        let suite = match &analyzed {
            Ok(o) => junit::suite_of_run(&o.results, &o.dir, &o.results.test, seconds),
            Err(e) => junit::suite_of_error(
                &args.run_dir.display().to_string(),
                e.code(),
                &e.to_string(),
                Vec::new(),
                seconds,
            ),
        };
        junit::JUnit::new("faultline analyze", vec![suite])
            .write(path)
            .map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    }
    let outcome = analyzed?;
    if args.json {
        let text = serde_json::to_string_pretty(&outcome.results)
            .map_err(|e| CliError::internal(anyhow::anyhow!(e)))?;
        println!("{text}");
    } else {
        for w in &outcome.results.warnings {
            eprintln!("warning: {w}");
        }
        let color =
            std::io::IsTerminal::is_terminal(&std::io::stdout()) && crate::report::color_allowed();
        print!(
            "{}",
            crate::report::table::summary(&outcome.results, &outcome.dir, color)
        );
    }
    Ok(outcome.verdict)
}
