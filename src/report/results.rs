//! `results.json`: what a run (or `faultline analyze`) concluded — every
//! checker's verdict, the overall verdict, the seed, op counts, latency
//! quantiles, the nemesis's fault intervals and the phases — for terminal
//! and HTML reports alike. [`Results::store`] and [`Results::load`] put it
//! in and take it out of a [`RunDir`].

use crate::checker::{CheckResult, Validity};
use crate::nemesis::intervals::FaultInterval;
use crate::report::latency::{LatencyRow, OpCounts};
use crate::store::{RunDir, StoreError, RESULTS_FILE};
use serde::{Deserialize, Serialize};

/// What the nemesis did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NemesisSummary {
    /// The nemesis's name.
    pub name: String,
    /// Fault intervals, in order.
    pub intervals: Vec<FaultInterval>,
    /// The share (0 to 1) of the main phase with a quorum up, from the
    /// intervals (see `report::quorum`); `null` without a main phase.
    #[serde(default)]
    pub quorum_share: Option<f64>,
    /// Families or targets the Db cannot support, each with the reason.
    pub skipped: Vec<String>,
    /// Nemesis ops that failed (`info` completions), as `f: error`.
    pub errors: Vec<String>,
}

/// One phase of a run, in ns since the main phase started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// `main`, `heal`, `recovery`, `final`.
    pub name: String,
    /// Start, ns.
    pub start: u64,
    /// End, ns.
    pub end: u64,
}

/// The first anomaly online checking proved while the main phase ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineAnomaly {
    /// Seconds since the main phase started, when it was proven.
    pub seconds: f64,
    /// When it was proven, on the wall clock (RFC 3339, UTC, ms).
    #[serde(default)]
    pub at: String,
    /// Client ops completed (`ok`, `fail` or `info`) in the prefix that
    /// proved it.
    pub ops: u64,
    /// The checker that proved it.
    pub checker: String,
    /// That checker's summary.
    pub summary: String,
}

/// What online checking (`runner::online`) did during the main phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OnlineSummary {
    /// The checkers run online (those whose anomalies in a prefix are
    /// final: `Checker::prefix_closed`).
    #[serde(default)]
    pub checkers: Vec<String>,
    /// The workload's checkers left to the final check only.
    #[serde(default)]
    pub offline: Vec<String>,
    /// Checks run (one per checker, or per changed key, per window).
    #[serde(default)]
    pub checks: u64,
    /// The first anomaly proven, if any.
    #[serde(default)]
    pub anomaly: Option<OnlineAnomaly>,
    /// True when `--stop-on-anomaly` was on.
    #[serde(default)]
    pub stop_on_anomaly: bool,
    /// Seconds since the main phase started when the main phase was ended
    /// early because of the anomaly (`--stop-on-anomaly`); `null` when it
    /// ran its full time.
    #[serde(default)]
    pub stopped_early_at: Option<f64>,
}

/// `results.json`: everything a report draws.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The test's name.
    pub test: String,
    /// The run's seed.
    pub seed: u64,
    /// The overall verdict (the exit code's): every checker's merged, and
    /// `unknown` for an interrupted run unless that is `invalid`.
    pub valid: Validity,
    /// The checkers' merged verdict of the history as recorded; differs
    /// from `valid` only for an interrupted run (the partial verdict).
    #[serde(default)]
    pub history_valid: Option<Validity>,
    /// When the run started (RFC 3339, UTC).
    pub start: String,
    /// Why the run was cut short (a signal), or `null` when it ran to its
    /// end.
    #[serde(default)]
    pub interrupted: Option<String>,
    /// Each checker's verdict, summary and details.
    pub checkers: Vec<CheckResult>,
    /// Client op counts.
    pub ops: OpCounts,
    /// Latency quantiles per `f` and completion type.
    pub latency: Vec<LatencyRow>,
    /// The faults.
    pub nemesis: NemesisSummary,
    /// The phases and their times.
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Things that went wrong without stopping the run (a node log that
    /// could not be fetched, a torn history line...).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Seconds the checkers took.
    #[serde(default)]
    pub check_seconds: f64,
    /// What the checks held the system to: its Db's promise and every
    /// check relaxed below it (or stronger than it). Absent in runs stored
    /// before promises were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promise: Option<crate::workload::Strictness>,
    /// Availability and recovery, computed from the history and the fault
    /// intervals. Absent in runs stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<crate::report::availability::Availability>,
    /// How many times the leader changed during the run, as the sampler of
    /// `runner::leaders` saw it (`leaders.jsonl`): the samples whose sole
    /// leader (exactly one node claiming) is a node that was not the sole
    /// leader of the sample before, the run's first leader not counted —
    /// a move `n1 → n2` and a loss and return `n1 → none → n1` count one
    /// each. Absent when the Db cannot tell its leader (the memory Db) and
    /// in runs stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_changes: Option<u64>,
    /// Online checking during the main phase: the first anomaly it proved
    /// and whether the main phase ended early on it. Absent in runs stored
    /// before online checking existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<OnlineSummary>,
}

impl Results {
    /// Write `results.json` into `dir` (via a temporary file and a rename,
    /// so a reader never sees half of it).
    pub fn store(&self, dir: &RunDir) -> Result<(), StoreError> {
        dir.write_json(RESULTS_FILE, self)
    }

    /// Read `results.json` from `dir`, if it is there and parses.
    pub fn load(dir: &RunDir) -> Option<Results> {
        dir.read_json(RESULTS_FILE).ok()
    }
}
