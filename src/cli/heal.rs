//! `faultline heal`: remove whatever killed runs left behind, through each
//! backend's own heal — for the local backend, network namespaces named
//! `faultline-*` and the processes in them, the bridge `faultline0` and its
//! veths, the FORWARD rules tagged `faultline`, the faketime offset files,
//! and a cluster left up by `faultline cluster up` (its claim and state
//! file) — and nothing else. Prints what it removed.
//!
//! The backends that need no configuration (local, docker, none) are
//! visited always; `--cluster FILE` adds the backend that file configures
//! (the SSH backend's hosts), built from it instead of from nothing.

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use crate::remote::backend::{self, BackendConfig, NAMES};
use crate::remote::RemoteError;
use crate::spec::Overrides;
use std::path::Path;

/// Arguments of `faultline heal`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    faultline heal                                # local namespaces, containers\n  \
    faultline heal --cluster clusters/ssh-3.yaml  # also the hosts that file lists\n\n\
    Exit codes: 0 healed (or nothing to heal), 254 bad input (file, not root, a run is live), \
    255 internal error.")]
pub struct Args {
    /// Also heal the backend this cluster file configures (a file, or a
    /// name in clusters/): how the hosts of an `ssh:` section are healed.
    #[arg(long, value_name = "FILE|NAME")]
    pub cluster: Option<String>,
}

/// The backends `faultline heal` visits, in order: each of [`NAMES`]
/// unconfigured, except that the backend `cluster` names is built from it.
pub fn configs(cluster: Option<BackendConfig>) -> Vec<BackendConfig> {
    NAMES
        .iter()
        .map(|name| match &cluster {
            Some(c) if c.name == *name => c.clone(),
            _ => BackendConfig::named(name),
        })
        .collect()
}

/// Run `faultline heal`: every backend heals in turn; the first failure
/// stops it.
pub fn run(args: Args) -> CmdResult {
    let cluster = match &args.cluster {
        None => None,
        Some(arg) => {
            // Resolved as `faultline test` resolves it: a bad field is named
            // with its file and line.
            let o = Overrides {
                cluster: Some(arg.clone()),
                ..Overrides::default()
            };
            let (spec, _) = crate::spec::resolve_with_warnings(&o, Path::new("."))
                .map_err(CliError::bad_input)?;
            Some(spec.cluster.backend_config())
        }
    };
    for config in configs(cluster) {
        let be = backend::build(&config).map_err(|e| {
            if e.is_user_fixable() {
                CliError::bad_input(e)
            } else {
                CliError::internal(e)
            }
        })?;
        match be.heal() {
            Ok(report) => print!("{report}"),
            // Not root, or a live run holds the lock: the user has something to do.
            Err(e @ RemoteError::Host(_)) => return Err(CliError::bad_input(e)),
            Err(e) => return Err(CliError::internal(e)),
        }
    }
    Ok(Validity::Valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_file_configures_its_own_backend_and_the_others_stay_plain() {
        let plain: Vec<String> = configs(None).into_iter().map(|c| c.name).collect();
        assert_eq!(plain, NAMES);
        let ssh = BackendConfig {
            name: "ssh".into(),
            cluster: "ssh-3".into(),
            ..BackendConfig::default()
        };
        let all = configs(Some(ssh.clone()));
        assert_eq!(all.len(), NAMES.len());
        assert_eq!(all.iter().filter(|c| **c == ssh).count(), 1);
        assert!(all
            .iter()
            .filter(|c| c.name != "ssh")
            .all(|c| c.cluster.is_empty()));
    }
}
