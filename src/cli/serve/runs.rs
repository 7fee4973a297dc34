//! The runs of a results directory, one [`RunRow`] per
//! `<results>/<test>/<start-time>/`, read for the index page.
//!
//! Only small files are read: `results.json` (every column is in it) and,
//! for a run without one, `test.yaml` (name, seed, nemesis) and the last
//! line of `history.jsonl` (how long it ran so far). The history is never
//! read whole. Symlinks (`latest`) are skipped, and a file that resolves
//! outside the results directory is not opened. A file that cannot be read
//! or parsed makes its row say why; it never fails the whole list.

use super::paths;
use crate::checker::Validity;
use crate::report::latency::OpCounts;
use crate::report::results::Phase;
use crate::store::{HISTORY_FILE, RESULTS_FILE, TEST_FILE};
use serde::Deserialize;
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What a run concluded, as the index shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `results.json` says valid.
    Valid,
    /// `results.json` says invalid.
    Invalid,
    /// `results.json` says unknown.
    Unknown,
    /// No `results.json`: the run is going on, or was killed.
    Unfinished,
    /// `results.json` is there but cannot be read; why.
    Unreadable(String),
}

impl Verdict {
    /// The name used in the page and in `?verdict=`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
            Verdict::Unfinished => "unfinished",
            Verdict::Unreadable(_) => "unreadable",
        }
    }

    /// Every name [`Verdict::name`] gives, in the order the form lists them.
    pub const NAMES: [&'static str; 5] =
        ["valid", "invalid", "unknown", "unfinished", "unreadable"];
}

/// One run, as a row of the index.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The test directory's name (`<results>/<test>/`).
    pub test_dir: OsString,
    /// The run directory's name (`<start-time>`).
    pub start_dir: OsString,
    /// The test's name: `results.json`'s, else `test.yaml`'s, else the
    /// directory's.
    pub test: String,
    /// When it started, from the directory name (UTC).
    pub started: Option<chrono::NaiveDateTime>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the run was cut short, if it was.
    pub interrupted: Option<String>,
    /// How long it ran, ns: the end of its last phase, else the time of the
    /// last op in its history.
    pub duration_ns: Option<u64>,
    /// The nemesis's name.
    pub nemesis: Option<String>,
    /// The seed.
    pub seed: Option<u64>,
    /// Client op counts (from `results.json` only).
    pub ops: Option<OpCounts>,
    /// Files of the run that could not be read, each with why (besides
    /// an unreadable `results.json`, which is the verdict).
    pub notes: Vec<String>,
}

/// The part of `results.json` the index shows; the rest is ignored.
#[derive(Debug, Deserialize)]
struct IndexResults {
    test: String,
    valid: Validity,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    interrupted: Option<String>,
    #[serde(default)]
    ops: Option<OpCounts>,
    #[serde(default)]
    nemesis: Option<IndexNemesis>,
    #[serde(default)]
    phases: Vec<Phase>,
}

#[derive(Debug, Deserialize)]
struct IndexNemesis {
    name: String,
}

/// The part of `test.yaml` the index shows.
#[derive(Debug, Deserialize)]
struct IndexSpec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    nemesis: Option<IndexSpecNemesis>,
}

#[derive(Debug, Deserialize)]
struct IndexSpecNemesis {
    #[serde(default)]
    name: Option<String>,
}

/// The part of a history line the index needs.
#[derive(Debug, Deserialize)]
struct LastOp {
    time: u64,
}

/// Files bigger than this are not read for the index (a `results.json` is
/// a few kB, a minimal anomaly included).
const MAX_INDEX_FILE: u64 = 64 << 20;

/// How much of the end of `history.jsonl` is read to find its last line.
const HISTORY_TAIL: u64 = 64 << 10;

/// Every run under `root` (canonical), newest first. Errors only when
/// `root` itself cannot be listed.
pub fn scan(root: &Path) -> std::io::Result<Vec<RunRow>> {
    let mut rows = Vec::new();
    for test in std::fs::read_dir(root)? {
        let Ok(test) = test else { continue };
        // `file_type` does not follow symlinks: `latest` is skipped.
        if !test.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // `clusters/` holds the state of `faultline cluster up`, not runs.
        if test.file_name() == "clusters" {
            continue;
        }
        let Ok(runs) = std::fs::read_dir(test.path()) else {
            continue;
        };
        for run in runs {
            let Ok(run) = run else { continue };
            if !run.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            rows.push(read_run(root, test.file_name(), run.file_name()));
        }
    }
    rows.sort_by(|a, b| {
        // Newest first; names that are no start time last.
        b.started
            .is_some()
            .cmp(&a.started.is_some())
            .then_with(|| b.started.cmp(&a.started))
            .then_with(|| b.start_dir.cmp(&a.start_dir))
            .then_with(|| a.test_dir.cmp(&b.test_dir))
    });
    Ok(rows)
}

/// The start time a run directory's name gives: `YYYYmmddTHHMMSS.mmmZ`,
/// maybe with a `-N` suffix (two runs in one millisecond).
pub fn start_time(dir_name: &str) -> Option<chrono::NaiveDateTime> {
    let stamp = match dir_name.split_once('-') {
        Some((stamp, n)) if n.bytes().all(|b| b.is_ascii_digit()) => stamp,
        _ => dir_name,
    };
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.fZ").ok()
}

/// The row of `root/test_dir/start_dir` (for the index, and atop the
/// listing of a run without a report).
pub fn read_run(root: &Path, test_dir: OsString, start_dir: OsString) -> RunRow {
    let dir = root.join(&test_dir).join(&start_dir);
    let mut row = RunRow {
        test: test_dir.to_string_lossy().into_owned(),
        started: start_time(&start_dir.to_string_lossy()),
        test_dir,
        start_dir,
        verdict: Verdict::Unfinished,
        interrupted: None,
        duration_ns: None,
        nemesis: None,
        seed: None,
        ops: None,
        notes: Vec::new(),
    };
    if let Ok(Some(bytes)) = read_small(root, &dir.join(COMPARE_FILE)) {
        comparison_row(&mut row, &bytes);
        return row;
    }
    match read_small(root, &dir.join(RESULTS_FILE)) {
        Ok(Some(bytes)) => match parse_json::<IndexResults>(&bytes) {
            Ok(r) => {
                row.test = r.test;
                row.verdict = match r.valid {
                    Validity::Valid => Verdict::Valid,
                    Validity::Invalid => Verdict::Invalid,
                    Validity::Unknown => Verdict::Unknown,
                };
                row.seed = r.seed;
                row.interrupted = r.interrupted;
                row.ops = r.ops;
                row.nemesis = r.nemesis.map(|n| n.name);
                row.duration_ns = r.phases.iter().map(|p| p.end).max();
                if row.duration_ns.is_some() {
                    return row;
                }
            }
            Err(why) => row.verdict = Verdict::Unreadable(format!("{RESULTS_FILE}: {why}")),
        },
        Ok(None) => {}
        Err(why) => row.verdict = Verdict::Unreadable(format!("{RESULTS_FILE}: {why}")),
    }
    if !matches!(
        row.verdict,
        Verdict::Valid | Verdict::Invalid | Verdict::Unknown
    ) {
        // No usable results.json: what test.yaml says.
        match read_small(root, &dir.join(TEST_FILE)) {
            Ok(Some(bytes)) => match serde_norway::from_slice::<IndexSpec>(&bytes) {
                Ok(spec) => {
                    if let Some(name) = spec.name {
                        row.test = name;
                    }
                    row.seed = spec.seed;
                    row.nemesis = spec.nemesis.and_then(|n| n.name);
                }
                Err(e) => row.notes.push(format!("{TEST_FILE}: {e}")),
            },
            Ok(None) => row.notes.push(format!("{TEST_FILE}: missing")),
            Err(why) => row.notes.push(format!("{TEST_FILE}: {why}")),
        }
    }
    match last_op_time(root, &dir.join(HISTORY_FILE)) {
        Ok(t) => row.duration_ns = t,
        Err(why) => row.notes.push(format!("{HISTORY_FILE}: {why}")),
    }
    row
}

/// What `faultline compare` writes beside `compare.html`.
const COMPARE_FILE: &str = "compare.json";

/// The part of `compare.json` the index shows.
#[derive(serde::Deserialize)]
struct IndexComparison {
    rows: Vec<IndexComparisonRow>,
}

#[derive(serde::Deserialize)]
struct IndexComparisonRow {
    system: String,
    exit: u8,
}

/// A comparison's row: `compare SYSTEMS`, with the worst verdict of its
/// systems (an error of one counts as unknown) and a note pointing at
/// `compare.html`.
fn comparison_row(row: &mut RunRow, bytes: &[u8]) {
    match parse_json::<IndexComparison>(bytes) {
        Ok(c) => {
            let systems: Vec<&str> = c.rows.iter().map(|r| r.system.as_str()).collect();
            row.test = format!("compare {}", systems.join(", "));
            let worst = crate::exit::worst(c.rows.iter().map(|r| r.exit));
            row.verdict = match worst {
                0 => Verdict::Valid,
                1 => Verdict::Invalid,
                _ => Verdict::Unknown,
            };
            row.notes
                .push("a comparison: open compare.html for the table".into());
        }
        Err(why) => row.verdict = Verdict::Unreadable(format!("{COMPARE_FILE}: {why}")),
    }
}

/// `bytes` as JSON of `T`; the error names the field and the place.
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// The content of `path` if it is a file inside `root` of at most
/// [`MAX_INDEX_FILE`] bytes; `None` when it does not exist.
fn read_small(root: &Path, path: &Path) -> Result<Option<Vec<u8>>, String> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let real = regular_file_inside(root, path)?;
    let file = std::fs::File::open(&real).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > MAX_INDEX_FILE {
        return Err(format!("{len} bytes, too big to list"));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_INDEX_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(Some(bytes))
}

/// `path`, canonical, if it is a regular file inside `root`: a FIFO would
/// block the listing, a file outside must not be read.
fn regular_file_inside(root: &Path, path: &Path) -> Result<std::path::PathBuf, String> {
    let real = paths::inside(root, path).map_err(|e| e.to_string())?;
    match std::fs::metadata(&real) {
        Ok(m) if m.is_file() => Ok(real),
        Ok(_) => Err("not a regular file".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The `time` of the last complete line of `history.jsonl`, read from its
/// end only; `None` when there is no history or no complete line.
fn last_op_time(root: &Path, path: &Path) -> Result<Option<u64>, String> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let real = regular_file_inside(root, path)?;
    let mut file = std::fs::File::open(&real).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let from = len.saturating_sub(HISTORY_TAIL);
    file.seek(SeekFrom::Start(from))
        .map_err(|e| e.to_string())?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(|e| e.to_string())?;
    // Complete lines only: a run still going may be halfway through one.
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
        return Ok(None);
    };
    let complete = &tail[..end];
    for line in complete.rsplit(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return match serde_json::from_slice::<LastOp>(line) {
            Ok(op) => Ok(Some(op.time)),
            Err(e) => Err(format!("last line: {e}")),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comparison_is_a_row_with_its_systems_and_worst_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("compare").join("20261207T190000.000Z");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(
            run.join(COMPARE_FILE),
            r#"{"created":"x","test":"t","rows":[{"system":"refkv-3","exit":0},{"system":"etcd-3","exit":1}]}"#,
        )
        .unwrap();
        let rows = scan(dir.path()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].test, "compare refkv-3, etcd-3");
        assert_eq!(rows[0].verdict, Verdict::Invalid);
        std::fs::write(run.join(COMPARE_FILE), "{").unwrap();
        let rows = scan(dir.path()).unwrap();
        assert!(matches!(rows[0].verdict, Verdict::Unreadable(_)));
    }

    #[test]
    fn start_times_parse_from_directory_names() {
        let t = start_time("20261207T151924.436Z").unwrap();
        assert_eq!(t.to_string(), "2026-12-07 15:19:24.436");
        assert_eq!(start_time("20261207T151924.436Z-2"), Some(t));
        assert_eq!(start_time("scratch"), None);
        assert_eq!(start_time("20261207T151924.436Z-x"), None);
    }

    #[test]
    fn the_last_complete_history_line_gives_the_duration() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let h = root.join("history.jsonl");
        assert_eq!(last_op_time(&root, &h), Ok(None));
        // A torn last line (a run still writing) is skipped.
        std::fs::write(&h, "{\"time\":5}\n{\"time\":7}\n{\"ti").unwrap();
        assert_eq!(last_op_time(&root, &h), Ok(Some(7)));
        std::fs::write(&h, "{\"time\":5}\nnot json\n").unwrap();
        assert!(last_op_time(&root, &h).unwrap_err().contains("last line"));
    }
}
