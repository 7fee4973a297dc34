//! `faultline analyze RUN_DIR [--json]`: re-check a stored run — also one
//! cut short by a crash or SIGKILL (a torn last history line is dropped,
//! invokes without completion count as `info`) — rewrite its
//! `results.json` and print the summary (or, with `--json`, the new
//! `results.json`). Exit code: the verdict (0/1/2); 254 when the directory
//! is not a run, its `test.yaml` or history is malformed; 255 on an
//! internal failure.

use crate::exit::{CliError, CmdResult};
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
}

/// Run `faultline analyze`.
pub fn run(args: Args) -> CmdResult {
    let outcome = runner::analyze(&args.run_dir).map_err(|e| match e {
        RunError::BadInput(m) => CliError::bad_input(anyhow::anyhow!(m)),
        RunError::Internal(m) => CliError::internal(anyhow::anyhow!(m)),
    })?;
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
