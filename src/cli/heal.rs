//! `faultline heal`: remove whatever killed runs left behind, through each
//! backend's own heal — for the local backend, network namespaces named
//! `faultline-*` and the processes in them, the bridge `faultline0` and its
//! veths, the FORWARD rules tagged `faultline`, the faketime offset files —
//! and nothing else. Prints what it removed.

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use crate::remote::backend::{self, NAMES};
use crate::remote::RemoteError;

/// Arguments of `faultline heal`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `faultline heal`: every backend heals in turn; the first failure
/// stops it.
pub fn run(_args: Args) -> CmdResult {
    for name in NAMES {
        let be =
            backend::build(&backend::BackendConfig::named(name)).map_err(CliError::internal)?;
        match be.heal() {
            Ok(report) => print!("{report}"),
            // Not root, or a live run holds the lock: the user has something to do.
            Err(e @ RemoteError::Host(_)) => return Err(CliError::bad_input(e)),
            Err(e) => return Err(CliError::internal(e)),
        }
    }
    Ok(Validity::Valid)
}
