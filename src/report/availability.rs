//! Availability and recovery, from the history and the fault intervals
//! alone: the share of client ops that completed `ok` per time window and
//! per fault interval, the time from every fault's end to the first `ok`
//! op after it, and the time from every loss of the leader (a kill, pause
//! or isolation of the node that led) to the first `ok` write.
//!
//! (Skeleton: filled in by the reports issue's availability work.)

use crate::history::History;
use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use serde::{Deserialize, Serialize};

/// The ops that completed in one span of time, and the share of them `ok`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// Start of the span, s since the main phase started.
    pub start_s: f64,
    /// End of the span, s.
    pub end_s: f64,
    /// `ok` completions in the span.
    pub ok: u64,
    /// `fail` completions in the span.
    pub fail: u64,
    /// `info` completions in the span.
    pub info: u64,
    /// `ok / (ok + fail + info)`; `null` when no op completed in the span.
    pub share: Option<f64>,
}

/// Availability during one fault interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultShare {
    /// The fault's start `f` (`start-partition`, `kill`...).
    pub f: String,
    /// What it did, to which nodes, in words.
    pub what: String,
    /// The ops completed while it was in force.
    pub share: Share,
}

/// How long the cluster took to serve again after an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// What happened: the stop `f` (`stop-partition`, `start`, `resume`...)
    /// or, for a leader loss, the fault's start `f`.
    pub event: String,
    /// The nodes it touched, in words.
    pub what: String,
    /// When it happened, s since the main phase started.
    pub at_s: f64,
    /// When the first `ok` op (for a leader loss: the first `ok` write)
    /// invoked after it completed, s; `null` if none did.
    pub first_ok_s: Option<f64>,
    /// `first_ok_s - at_s`; `null` if the cluster never served again.
    pub seconds: Option<f64>,
}

/// Availability and recovery of one run (`results.json` `availability`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// The width of each window, s.
    pub window_s: f64,
    /// The share of ok ops per window over the whole history.
    pub windows: Vec<Share>,
    /// All ops completed while at least one fault was in force.
    pub during_faults: Share,
    /// All ops completed while no fault was in force.
    pub outside_faults: Share,
    /// Per fault interval, in order.
    pub per_fault: Vec<FaultShare>,
    /// After each fault's end: the time to the first ok op.
    pub recoveries: Vec<Recovery>,
    /// After each loss of the leader: the time to the first ok write.
    pub leader_losses: Vec<Recovery>,
}

/// Availability of `history` given its fault intervals and phases.
pub fn compute(history: &History, intervals: &[FaultInterval], phases: &[Phase]) -> Availability {
    let _ = (history, intervals, phases);
    Availability::default()
}
