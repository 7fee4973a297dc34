//! `faultline suite FILE.yaml`: run a list or matrix of tests, print one
//! summary table, write one JUnit file, exit with the worst code.
//!
//! (Skeleton: filled in by the reports issue's CI work.)

use crate::exit::{CliError, CmdResult};
use std::path::PathBuf;

/// Arguments of `faultline suite`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The suite file.
    pub file: PathBuf,
}

/// Run `faultline suite`.
pub fn run(args: Args) -> CmdResult {
    let _ = args;
    Err(CliError::internal(anyhow::anyhow!("suite: not built yet")))
}
