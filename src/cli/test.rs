//! `faultline test` (to be written).

use crate::exit::{CliError, CmdResult};

/// Arguments of `faultline test`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `faultline test`.
pub fn run(_args: Args) -> CmdResult {
    Err(CliError::internal(anyhow::anyhow!("`faultline test` is not implemented yet")))
}
