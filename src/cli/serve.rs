//! `faultline serve [--results DIR] [--bind ADDR]`: browse stored runs.
//!
//! (Skeleton: filled in by the reports issue's serve work.)

use crate::exit::{CliError, CmdResult};
use std::path::PathBuf;

/// Arguments of `faultline serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results directory to browse.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
}

/// Run `faultline serve`.
pub fn run(args: Args) -> CmdResult {
    let _ = args;
    Err(CliError::internal(anyhow::anyhow!("serve: not built yet")))
}
