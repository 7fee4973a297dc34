//! `faultline heal`: remove whatever a killed run left on this machine —
//! network namespaces named `faultline-*` and the processes in them, the
//! bridge `faultline0` and its veths, the FORWARD rules tagged `faultline`,
//! the faketime offset files — and nothing else. Prints what it removed.

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use crate::remote::{local, RemoteError};

/// Arguments of `faultline heal`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `faultline heal`.
pub fn run(_args: Args) -> CmdResult {
    match local::heal_all() {
        Ok(report) => {
            print!("{report}");
            Ok(Validity::Valid)
        }
        // Not root, or a live run holds the lock: the user has something to do.
        Err(e @ RemoteError::Host(_)) => Err(CliError::bad_input(e)),
        Err(e) => Err(CliError::internal(e)),
    }
}
