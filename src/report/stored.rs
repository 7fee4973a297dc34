//! A stored run, read back from its directory alone: everything the
//! reports (the summary table, and the HTML and plots to come) draw from,
//! with no node, backend or live run needed.

use super::results::Results;
use super::ReportError;
use crate::history::jsonl::read_jsonl;
use crate::history::History;
use crate::spec::TestSpec;
use crate::store::RunDir;
use std::path::Path;

/// The files of one run directory, parsed.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The run directory.
    pub dir: RunDir,
    /// `test.yaml`: the resolved test, seed included.
    pub spec: TestSpec,
    /// `history.jsonl`: every op recorded (also of a run cut short).
    pub history: History,
    /// What reading the history repaired or found odd (a torn last line
    /// dropped...), each naming the file and line.
    pub history_warnings: Vec<String>,
    /// `results.json`, when the run stored one and it parses; `None` for a
    /// run that never finished.
    pub results: Option<Results>,
}

impl StoredRun {
    /// Read the run stored in `dir`: `test.yaml` and `history.jsonl` must
    /// be there and parse (the error names the file, and the line);
    /// `results.json` is read when present. A torn last history line is
    /// dropped with a warning.
    pub fn load(dir: &Path) -> Result<StoredRun, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::NotARun(dir.to_path_buf()));
        }
        let run = RunDir::open(dir);
        let spec = run.read_spec()?;
        let loaded = read_jsonl(run.history_file())?;
        let results = Results::load(&run);
        Ok(StoredRun {
            dir: run,
            spec,
            history: loaded.history,
            history_warnings: loaded.warnings,
            results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_not_a_run() {
        let tmp = tempfile::tempdir().unwrap();
        let nope = tmp.path().join("nope");
        let e = StoredRun::load(&nope).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: not a run directory", nope.display())
        );
    }

    #[test]
    fn a_run_is_read_from_its_files_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = TestSpec::memory("set", 2, 3, 1.0, tmp.path());
        let run = RunDir::open(tmp.path());
        run.write_spec(&spec).unwrap();
        // No history yet: the error names the file.
        let e = StoredRun::load(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("history.jsonl"), "{e}");
        std::fs::write(run.history_file(), "").unwrap();
        let stored = StoredRun::load(tmp.path()).unwrap();
        assert_eq!(stored.spec, spec);
        assert!(stored.history.ops.is_empty());
        assert!(stored.results.is_none());
        // A broken test.yaml names test.yaml.
        std::fs::write(run.test_file(), "name: [\n").unwrap();
        let e = StoredRun::load(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("test.yaml"), "{e}");
    }
}
