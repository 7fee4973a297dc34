//! `faultline analyze` (to be written).

use crate::exit::{CliError, CmdResult};

/// Arguments of `faultline analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `faultline analyze`.
pub fn run(_args: Args) -> CmdResult {
    Err(CliError::internal(anyhow::anyhow!("`faultline analyze` is not implemented yet")))
}
