//! The results store: where a run's files live.
//!
//! A run is stored under `<results>/<test>/<start-time>/` ([`RunDir`]):
//!
//! - `test.yaml`: the resolved [`TestSpec`], seed included — enough to
//!   replay the run's op and fault schedule;
//! - `history.jsonl`: every op, streamed while the run goes (see
//!   [`crate::history::jsonl`]);
//! - `results.json`: every checker's verdict and details, the overall
//!   verdict, the seed, op counts, latency quantiles, the nemesis's fault
//!   intervals and the phases (its type is `crate::report::results::Results`;
//!   this module reads and writes it as any serde value);
//! - `faultline.log`: the harness's own log lines;
//! - `nodes/<node>/`: the logs of each node.
//!
//! `<results>/latest` and `<results>/<test>/latest` are symlinks to the most
//! recent run directory. Start times are UTC, `YYYYmmddTHHMMSS.mmmZ`, so run
//! directories sort by time.
//!
//! This module knows the layout only: it reads and writes files as serde
//! values and never what a report makes of them (`report` uses `store`,
//! never the other way).

use crate::spec::TestSpec;
use serde::de::DeserializeOwned;
use serde::Serialize;
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

/// Why a file of a run directory could not be read or written. Display:
/// `FILE: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing, creating or linking `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// `path` does not hold (or a value cannot become) what was expected.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's or serializer's message.
        reason: String,
    },
}

impl StoreError {
    fn io(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn format(path: &Path, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Format {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

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

impl RunDir {
    /// Create `<root>/<test>/<start>/` for a run starting at `start`. When
    /// that directory exists already (two runs in one millisecond), a
    /// suffix `-2`, `-3`... is added.
    pub fn create(
        root: &Path,
        test: &str,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, StoreError> {
        let stamp = start.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let parent = root.join(safe_name(test));
        std::fs::create_dir_all(&parent).map_err(|e| StoreError::io(&parent, e))?;
        // Absolute: node daemons run with other working directories, and
        // their data and log paths live under the run directory.
        let parent = std::fs::canonicalize(&parent).map_err(|e| StoreError::io(&parent, e))?;
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
                Err(e) => return Err(StoreError::io(&path, e)),
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
    pub fn write_spec(&self, spec: &TestSpec) -> Result<(), StoreError> {
        let path = self.test_file();
        let text = serde_norway::to_string(spec).map_err(|e| StoreError::format(&path, e))?;
        std::fs::write(&path, text).map_err(|e| StoreError::io(&path, e))
    }

    /// Read `test.yaml`; the error names the file.
    pub fn read_spec(&self) -> Result<TestSpec, StoreError> {
        let path = self.test_file();
        let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io(&path, e))?;
        serde_norway::from_str(&text).map_err(|e| StoreError::format(&path, e))
    }

    /// Write `value` as pretty JSON to `name` in the run directory, via a
    /// temporary file and a rename, so a reader never sees half of it.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let path = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        let text = serde_json::to_vec_pretty(value).map_err(|e| StoreError::format(&path, e))?;
        std::fs::write(&tmp, text).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))
    }

    /// Read the JSON file `name` of the run directory.
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, StoreError> {
        let path = self.path.join(name);
        let text = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        serde_json::from_slice(&text).map_err(|e| StoreError::format(&path, e))
    }

    /// Point `<root>/latest` and `<root>/<test>/latest` at this run
    /// (relative symlinks, replaced atomically).
    pub fn link_latest(&self) -> Result<(), StoreError> {
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

fn replace_symlink(link: &Path, target: &Path) -> Result<(), StoreError> {
    let tmp = link.with_file_name(format!(".latest.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, link).map_err(|e| StoreError::io(link, e))
}
