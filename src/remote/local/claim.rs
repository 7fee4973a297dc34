//! Who a local network left running belongs to. A run that leaves its
//! cluster running for later commands (`faultline cluster up`) writes a
//! [`Claim`] to `RUN_DIR/claim.json` while it still holds the run lock;
//! [`super::LocalNet::create`] then refuses to sweep that network away as
//! the leftovers of a killed run, and says what removes it. The claim goes
//! with the network: [`super::heal`]'s sweep (`faultline heal`,
//! `faultline cluster down`) deletes it. Without a claim, whatever is left
//! is a crash's leftovers, as before.
//!
//! The file lives on `/run` (a tmpfs): after a reboot the namespaces and
//! the claim are gone together.

use super::host::host_err;
use super::RUN_DIR;
use crate::remote::RemoteError;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// What keeps a local network running between commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Claim {
    /// `faultline cluster up NAME`; `faultline cluster down NAME` removes it.
    Cluster {
        /// The cluster's name.
        name: String,
        /// Its state file (`cluster.json`), which `faultline heal` removes
        /// along with the network.
        state_file: PathBuf,
    },
    /// Left running by a run, for `faultline heal` to remove; also what an
    /// unreadable claim file counts as. (`--leave-db-running` writes no
    /// claim yet: its network is swept by the next run, as before.)
    LeftRun,
}

impl Claim {
    /// The claim file, `RUN_DIR/claim.json`.
    pub fn path() -> PathBuf {
        Path::new(RUN_DIR).join("claim.json")
    }

    /// The claim on the local network now, if any. A file that cannot be
    /// read as a claim still claims the network (as a [`Claim::LeftRun`]:
    /// `faultline heal` removes it), so nothing is swept by mistake.
    pub fn current() -> Option<Claim> {
        let text = fs::read_to_string(Self::path()).ok()?;
        Some(serde_json::from_str(&text).unwrap_or(Claim::LeftRun))
    }

    /// Record this claim (replacing any other): call it while holding the
    /// run lock, right before letting the network go.
    pub(super) fn write(&self) -> Result<(), RemoteError> {
        let path = Self::path();
        fs::create_dir_all(RUN_DIR).map_err(|e| host_err(format!("{RUN_DIR}: {e}")))?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| host_err(format!("{}: {e}", path.display())))?;
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, text + "\n")
            .and_then(|()| fs::rename(&tmp, &path))
            .map_err(|e| host_err(format!("{}: {e}", path.display())))
    }

    /// Remove the claim file and, for a cluster, its state file; returns
    /// what was removed, as `faultline heal` prints it.
    pub(super) fn remove() -> Vec<String> {
        let Some(claim) = Self::current() else {
            return Vec::new();
        };
        let _ = fs::remove_file(Self::path());
        match claim {
            Claim::Cluster { name, state_file } => {
                // Only a state file by its own name: the path came from a file.
                if state_file.file_name().is_some_and(|f| f == "cluster.json") {
                    let _ = fs::remove_file(&state_file);
                }
                vec![format!(
                    "{name} (left up by `faultline cluster up`; state file {} removed)",
                    state_file.display()
                )]
            }
            Claim::LeftRun => vec!["left running by a run (unnamed claim)".into()],
        }
    }

    /// Why a new run may not take the network, and what frees it.
    pub fn refusal(&self) -> String {
        match self {
            Claim::Cluster { name, .. } => format!(
                "the local network is used by cluster {name} (faultline cluster up); run \
                 `faultline cluster down {name}` first"
            ),
            Claim::LeftRun => "the local network is used by a cluster a run left running; \
                 run `faultline heal` first"
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_read_back_as_written_and_say_what_frees_them() {
        let c = Claim::Cluster {
            name: "refkv-3".into(),
            state_file: PathBuf::from("/r/clusters/refkv-3/cluster.json"),
        };
        let text = serde_json::to_string(&c).expect("json");
        assert!(text.contains("\"by\":\"cluster\""), "{text}");
        assert_eq!(serde_json::from_str::<Claim>(&text).ok(), Some(c.clone()));
        assert_eq!(
            c.refusal(),
            "the local network is used by cluster refkv-3 (faultline cluster up); run \
             `faultline cluster down refkv-3` first"
        );
        assert!(Claim::LeftRun.refusal().contains("faultline heal"));
    }
}
