//! The harness's own log: every line goes to `faultline.log` in the run
//! directory, with a UTC timestamp, and to the terminal (above the
//! progress bar, or plainly).

use crate::report::progress::Terminal;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The run's log.
pub struct RunLog {
    file: Mutex<Option<File>>,
    terminal: Arc<Terminal>,
}

impl RunLog {
    /// Log to `path` (created) and `terminal`. A log file that cannot be
    /// created is an error: the run directory is unusable then anyway.
    pub fn create(path: &Path, terminal: Arc<Terminal>) -> std::io::Result<RunLog> {
        let file = File::create(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(RunLog {
            file: Mutex::new(Some(file)),
            terminal,
        })
    }

    /// The terminal view.
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// Log one line.
    pub fn info(&self, msg: impl AsRef<str>) {
        self.write("INFO", msg.as_ref(), true);
    }

    /// Log a warning.
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.write("WARN", msg.as_ref(), true);
    }

    /// Log to the file only (details a person at the terminal does not need).
    pub fn debug(&self, msg: impl AsRef<str>) {
        self.write("DEBUG", msg.as_ref(), false);
    }

    fn write(&self, level: &str, msg: &str, show: bool) {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        if let Some(f) = crate::sync::lock(&self.file).as_mut() {
            let _ = writeln!(f, "{now} {level} {msg}");
        }
        if show {
            let prefix = if level == "WARN" { "warning: " } else { "" };
            self.terminal.println(&format!("{prefix}{msg}"));
        }
    }
}
