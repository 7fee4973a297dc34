//! One test run, from provisioning to the stored verdict.
//!
//! (Being written: this is the API contract between the runner and the CLI.)
//! [`run`] executes a resolved [`TestSpec`]: provision the backend and the
//! Db, drive the workload's generator over `concurrency` workers while the
//! nemesis package injects faults, heal (always, also after an error,
//! Ctrl-C or SIGTERM), recover, run the final reads, tear down, check and
//! store everything under `results/<test>/<start-time>/`.

use crate::checker::Validity;
use crate::spec::TestSpec;
use std::path::{Path, PathBuf};

/// How a run reports at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A progress bar on a TTY, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines only.
    Plain,
    /// Nothing but errors.
    Quiet,
}

/// Options of a run that are not part of the test itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Terminal output.
    pub progress: Progress,
    /// The `faultline` binary the nodes run (`faultline node`); default: the
    /// current executable.
    pub binary: Option<PathBuf>,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The overall verdict (every checker composed).
    pub verdict: Validity,
    /// The run directory `results/<test>/<start-time>/`.
    pub dir: PathBuf,
}

/// Why a run could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The user has something to fix (config, prerequisites, root): exit 254.
    #[error("{0}")]
    BadInput(String),
    /// faultline itself failed: exit 255.
    #[error("{0}")]
    Internal(String),
}

/// Run the test once.
pub fn run(spec: &TestSpec, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let _ = (spec, opts);
    Err(RunError::Internal("the runner is not written yet".into()))
}

/// The op and fault schedule the seed gives, without touching a node: one
/// line per op, `time process f key value`, over the main phase.
pub fn dry_run(spec: &TestSpec) -> Result<Vec<String>, RunError> {
    let _ = spec;
    Err(RunError::Internal("the runner is not written yet".into()))
}

/// Re-check a stored run (also one cut short by a crash) and rewrite its
/// `results.json`.
pub fn analyze(dir: &Path) -> Result<RunOutcome, RunError> {
    let _ = dir;
    Err(RunError::Internal("the runner is not written yet".into()))
}
