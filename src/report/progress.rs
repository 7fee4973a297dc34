//! Live progress of a run: a progress bar on a TTY (phase, elapsed / limit,
//! ops ok / fail / info, every fault in force), plain status lines
//! otherwise, or nothing.
//!
//! The faults shown are all those in force, one per family, not the last
//! nemesis op: after a `kill` and a partition, a `stop-partition` leaves
//! the kill shown (it once showed `fault: none` while two nodes were still
//! dead and packets were being dropped).
//!
//! Writing to the terminal never panics: when the terminal is gone (a
//! closed window, a dropped SSH session: SIGHUP, then EIO or EPIPE on
//! every write) the run must still heal, tear down and store its results,
//! so a failed write is ignored.
//!
//! The runner bumps the counters from its workers ([`Terminal::count`]),
//! sets the phase and the fault, and calls [`Terminal::tick`] a few times a
//! second; log lines go through [`Terminal::println`] so they never tear
//! the bar.

use crate::history::OpType;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the terminal shows a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A progress bar (stderr is a TTY).
    Bar,
    /// A status line every few seconds.
    Plain,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Mode {
        if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Plain
        }
    }
}

struct Status {
    phase: String,
    phase_start: Instant,
    limit: Option<Duration>,
    /// Every fault in force: its family (the `f` that stops it) → what it
    /// did.
    faults: BTreeMap<String, String>,
    last_plain: Instant,
}

/// The live view of one run.
pub struct Terminal {
    mode: Mode,
    bar: Option<ProgressBar>,
    ok: AtomicU64,
    fail: AtomicU64,
    info: AtomicU64,
    status: Mutex<Status>,
}

/// Seconds between two plain status lines.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Terminal {
    /// A view in `mode`.
    pub fn new(mode: Mode) -> Terminal {
        let bar = (mode == Mode::Bar).then(|| {
            let tpl = if super::color_allowed() {
                "{spinner:.green} {prefix:.bold} [{bar:30.cyan/blue}] {msg}"
            } else {
                "{spinner} {prefix} [{bar:30}] {msg}"
            };
            let style = ProgressStyle::with_template(tpl)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
            bar.set_style(style);
            bar
        });
        Terminal {
            mode,
            bar,
            ok: AtomicU64::new(0),
            fail: AtomicU64::new(0),
            info: AtomicU64::new(0),
            status: Mutex::new(Status {
                phase: "setup".into(),
                phase_start: Instant::now(),
                limit: None,
                faults: BTreeMap::new(),
                last_plain: Instant::now(),
            }),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        crate::sync::lock(&self.status)
    }

    /// Count one client completion.
    pub fn count(&self, kind: OpType) {
        let c = match kind {
            OpType::Ok => &self.ok,
            OpType::Fail => &self.fail,
            OpType::Info => &self.info,
            OpType::Invoke => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Completions so far: (ok, fail, info).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.fail.load(Ordering::Relaxed),
            self.info.load(Ordering::Relaxed),
        )
    }

    /// Enter a phase lasting at most `limit`.
    pub fn phase(&self, name: &str, limit: Option<Duration>) {
        {
            let mut s = self.status();
            s.phase = name.to_string();
            s.phase_start = Instant::now();
            s.limit = limit;
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(name.to_string());
        }
        self.tick();
    }

    /// A fault of `family` is in force, described by `what` (it replaces
    /// the family's previous fault, if any).
    pub fn fault_started(&self, family: &str, what: String) {
        self.status().faults.insert(family.to_string(), what);
    }

    /// The fault of `family` is healed.
    pub fn fault_stopped(&self, family: &str) {
        self.status().faults.remove(family);
    }

    /// Every fault is healed.
    pub fn faults_healed(&self) {
        self.status().faults.clear();
    }

    /// One line of the status, as plain text.
    pub fn line(&self) -> String {
        let s = self.status();
        let (ok, fail, info) = self.counts();
        let elapsed = s.phase_start.elapsed().as_secs_f64();
        let limit = s
            .limit
            .map(|l| format!("/{:.0}s", l.as_secs_f64()))
            .unwrap_or_default();
        let faults = if s.faults.is_empty() {
            "none".to_string()
        } else {
            s.faults.values().cloned().collect::<Vec<_>>().join(" + ")
        };
        let label = if s.faults.len() > 1 {
            "faults"
        } else {
            "fault"
        };
        format!(
            "{:>5.1}s{limit} ok {ok} fail {fail} info {info} | {label}: {faults}",
            elapsed
        )
    }

    /// Refresh the bar, or print a plain status line every few seconds.
    pub fn tick(&self) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    let pos = {
                        let s = self.status();
                        s.limit.map(|l| {
                            (s.phase_start.elapsed().as_secs_f64() / l.as_secs_f64().max(1e-9)
                                * 1000.0)
                                .min(1000.0) as u64
                        })
                    };
                    bar.set_position(pos.unwrap_or(0));
                    bar.set_message(self.line());
                    bar.tick();
                }
            }
            Mode::Plain => {
                let due = {
                    let mut s = self.status();
                    let due = s.last_plain.elapsed() >= PLAIN_EVERY
                        && s.limit.is_some()
                        && s.phase == "main";
                    if due {
                        s.last_plain = Instant::now();
                    }
                    due
                };
                if due {
                    let phase = self.status().phase.clone();
                    let _ = writeln!(std::io::stderr(), "[{phase}] {}", self.line());
                }
            }
        }
    }

    /// Print a log line above the bar (or plainly); nothing when quiet.
    pub fn println(&self, line: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(line),
            (None, _) => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 13): the line showed only the last nemesis op, so
    /// a `stop-partition` after a kill read `fault: none`.
    #[test]
    fn the_line_shows_every_fault_in_force_until_its_own_stop() {
        let t = Terminal::new(Mode::Quiet);
        assert!(t.line().ends_with("| fault: none"), "{}", t.line());
        t.fault_started("start", "kill {\"killed\":[\"n1\",\"n2\"]}".into());
        t.fault_started("stop-loss", "start-loss {\"nodes\":[\"n3\"]}".into());
        t.fault_started("stop-partition", "start-partition isolate-one".into());
        t.fault_stopped("stop-partition");
        let line = t.line();
        assert!(line.contains("| faults: kill"), "{line}");
        assert!(line.contains("start-loss"), "{line}");
        assert!(!line.contains("partition"), "{line}");
        t.fault_stopped("start");
        assert!(t.line().contains("| fault: start-loss"), "{}", t.line());
        t.faults_healed();
        assert!(t.line().ends_with("| fault: none"), "{}", t.line());
    }
}
