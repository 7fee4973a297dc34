//! The results store: where a run's files live and what `results.json` holds.
//!
//! A run is stored under `<results>/<test>/<start-time>/` ([`RunDir`]):
//!
//! - `test.yaml`: the resolved [`TestSpec`], seed included — enough to
//!   replay the run's op and fault schedule;
//! - `history.jsonl`: every op, streamed while the run goes (see
//!   [`crate::history::jsonl`]);
//! - `results.json`: [`Results`] — every checker's verdict and details, the
//!   overall verdict, the seed, op counts, latency quantiles, the nemesis's
//!   fault intervals and the phases, for terminal and HTML reports alike;
//! - `faultline.log`: the harness's own log lines;
//! - `nodes/<node>/`: the logs of each node.
//!
//! `<results>/latest` and `<results>/<test>/latest` are symlinks to the most
//! recent run directory. Start times are UTC, `YYYYmmddTHHMMSS.mmmZ`, so run
//! directories sort by time.

use crate::checker::{CheckResult, Validity};
use crate::report::latency::{LatencyRow, OpCounts};
use crate::spec::TestSpec;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// `test.yaml`.
pub const TEST_FILE: &str = "test.yaml";
/// `history.jsonl`.
pub const HISTORY_FILE: &str = "history.jsonl";
/// `results.json`.
pub const RESULTS_FILE: &str = "results.json";
/// `faultline.log`.
pub const LOG_FILE: &str = "faultline.log";
/// `nodes/`.
pub const NODES_DIR: &str = "nodes";

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// `<results>/<test>/<start-time>/`.
    pub path: PathBuf,
    /// The results root (`<results>`).
    pub root: PathBuf,
}

/// A test name made safe as one path component.
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "test".into()
    } else {
        s
    }
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl RunDir {
    /// Create `<root>/<test>/<start>/` for a run starting at `start`. When
    /// that directory exists already (two runs in one millisecond), a
    /// suffix `-2`, `-3`... is added.
    pub fn create(
        root: &Path,
        test: &str,
        start: chrono::DateTime<chrono::Utc>,
    ) -> io::Result<Self> {
        let stamp = start.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let parent = root.join(safe_name(test));
        std::fs::create_dir_all(&parent).map_err(|e| at(&parent, e))?;
        // Absolute: node daemons run with other working directories, and
        // their data and log paths live under the run directory.
        let parent = std::fs::canonicalize(&parent).map_err(|e| at(&parent, e))?;
        let root = parent
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.to_path_buf());
        let mut n = 1;
        loop {
            let name = if n == 1 {
                stamp.clone()
            } else {
                format!("{stamp}-{n}")
            };
            let path = parent.join(&name);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(RunDir {
                        path,
                        root: root.clone(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(at(&path, e)),
            }
        }
    }

    /// An existing run directory (for `analyze`).
    pub fn open(path: &Path) -> RunDir {
        let root = path
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        RunDir {
            path: path.to_path_buf(),
            root,
        }
    }

    /// `test.yaml`.
    pub fn test_file(&self) -> PathBuf {
        self.path.join(TEST_FILE)
    }
    /// `history.jsonl`.
    pub fn history_file(&self) -> PathBuf {
        self.path.join(HISTORY_FILE)
    }
    /// `results.json`.
    pub fn results_file(&self) -> PathBuf {
        self.path.join(RESULTS_FILE)
    }
    /// `faultline.log`.
    pub fn log_file(&self) -> PathBuf {
        self.path.join(LOG_FILE)
    }
    /// `nodes/<node>/`.
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.path.join(NODES_DIR).join(safe_name(node))
    }

    /// Write `test.yaml`.
    pub fn write_spec(&self, spec: &TestSpec) -> io::Result<()> {
        let text = serde_norway::to_string(spec)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let path = self.test_file();
        std::fs::write(&path, text).map_err(|e| at(&path, e))
    }

    /// Read `test.yaml`; the error names the file.
    pub fn read_spec(&self) -> Result<TestSpec, String> {
        let path = self.test_file();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Write `results.json` (via a temporary file and a rename, so a reader
    /// never sees half of it).
    pub fn write_results(&self, results: &Results) -> io::Result<()> {
        let path = self.results_file();
        let tmp = self.path.join(".results.json.tmp");
        let text = serde_json::to_vec_pretty(results)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        std::fs::write(&tmp, text).map_err(|e| at(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| at(&path, e))
    }

    /// Read `results.json`, if it is there and parses.
    pub fn read_results(&self) -> Option<Results> {
        let text = std::fs::read(self.results_file()).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Point `<root>/latest` and `<root>/<test>/latest` at this run
    /// (relative symlinks, replaced atomically).
    pub fn link_latest(&self) -> io::Result<()> {
        let (Some(test_dir), Some(run_name)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(());
        };
        let Some(test_name) = test_dir.file_name() else {
            return Ok(());
        };
        replace_symlink(&test_dir.join("latest"), Path::new(run_name))?;
        replace_symlink(
            &self.root.join("latest"),
            &Path::new(test_name).join(run_name),
        )
    }
}

fn replace_symlink(link: &Path, target: &Path) -> io::Result<()> {
    let tmp = link.with_file_name(format!(".latest.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| at(&tmp, e))?;
    std::fs::rename(&tmp, link).map_err(|e| at(link, e))
}

pub use crate::nemesis::intervals::FaultInterval;

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
}
