//! What a person sees, and what a run concluded: the live progress of a run
//! at the terminal ([`progress`]), the checks and the assembly of
//! `results.json` ([`verdict`], [`results`]), latency quantiles
//! ([`latency`]), the share of the main phase with a quorum up
//! ([`quorum`]) and the final summary table of checker verdicts and
//! latencies ([`table`]).
//!
//! Reports work from a stored run alone ([`stored::StoredRun`]: its
//! `test.yaml`, `history.jsonl` and `results.json`) and never reach a node:
//! this module does not use `remote`.
//!
//! Terminal output respects `NO_COLOR` (<https://no-color.org>): when it is
//! set (to anything), no ANSI colour is written.

pub mod availability;
pub mod compare;
pub mod html;
pub mod junit;
pub mod latency;
pub mod plot;
pub mod progress;
pub mod quorum;
pub mod results;
pub mod stored;
pub mod table;
pub mod verdict;

use std::path::PathBuf;

/// True when colours may be written to a terminal: `NO_COLOR` is unset.
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none()
}

/// Why a stored run could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The path is not a directory.
    #[error("{}: not a run directory", .0.display())]
    NotARun(PathBuf),
    /// A file of the run (`test.yaml`, `results.json`) could not be read
    /// or written; the message names it.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// `history.jsonl` is malformed; the message names the file and line.
    #[error(transparent)]
    History(#[from] crate::history::import::ImportError),
    /// The workload's checkers cannot be built from the test's config.
    #[error("workload: {0}")]
    Workload(String),
}
