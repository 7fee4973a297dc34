//! Leader changes seen during a run: a background sampler asks the Db who
//! leads ([`crate::db::Db::primaries`]) every [`SAMPLE_EVERY`], from the
//! start of the main phase through the final reads, on a thread of its own
//! (the Db's control plane blocks), and writes each change of the answer
//! to `leaders.jsonl` in the run directory, one JSON object a line:
//! `{"time": NS, "leaders": ["n3"]}`, `time` on the history's clock (ns
//! since the recorder started). The first sample is always written.
//!
//! A Db that cannot tell its leader (`capabilities().primaries` false, as
//! the memory Db) is not sampled: no file is written and `results.json`
//! has no `leader_changes`.
//!
//! # Leader changes
//!
//! Each sample is reduced to its *sole leader*: the node when exactly one
//! node says it leads, else none (no leader, several nodes claiming, or no
//! answer). [`leader_changes`] counts the samples whose sole leader is a
//! node that was not the sole leader of the sample before — a move to
//! another node (`n1 → n2`: 1), or a return after a time with no sole
//! leader (`n1 → none → n1`: 1, `n1 → none → n2`: 1) — not counting the
//! first leader of the run. A run that ends without a sole leader counts
//! the loss only if a leader came back. So it is the number of elections
//! the sampler saw win, minus the first; an election faster than a sample
//! that re-elects the same node is not seen.
//!
//! Stopping wakes the sampler at once: the run's end waits at most for the
//! one `primaries` call under way.

use crate::db::Cluster;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the Db is asked who leads.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The file name of the samples in a run directory.
pub const LEADERS_FILE: &str = "leaders.jsonl";

/// One line of `leaders.jsonl`: who said they led at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// ns since the run clock started (the history's clock).
    pub time: u64,
    /// The nodes that said they led, sorted.
    pub leaders: Vec<String>,
}

impl Sample {
    /// The sole leader: the node when exactly one leads, else `None`.
    pub fn sole(&self) -> Option<&str> {
        match self.leaders.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }
}

/// The leader changes in `samples` (in time order), as the module docs
/// define them: samples whose sole leader is a node that was not the sole
/// leader of the sample before, the first leader of the run not counted.
/// Only the changes need be given: repeating a sample changes nothing.
pub fn leader_changes(samples: &[Sample]) -> u64 {
    let mut changes = 0;
    let mut prev: Option<&str> = None;
    let mut seen_any = false;
    for s in samples {
        let now = s.sole();
        if let Some(node) = now {
            if prev != Some(node) {
                if seen_any {
                    changes += 1;
                }
                seen_any = true;
            }
        }
        prev = now;
    }
    changes
}

/// Read `leaders.jsonl`: the samples, or `None` when there is no file. A
/// line that does not parse (a torn last line) ends the reading.
pub fn read(path: &Path) -> Option<Vec<Sample>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map_while(|l| serde_json::from_str(l).ok())
            .collect(),
    )
}

struct Shared {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// The running sampler; [`Sampler::stop`] ends it and says what it saw.
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<Result<Vec<Sample>, String>>>,
}

/// What a sampler saw, once stopped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Every change of the answer (the first sample included).
    pub samples: Vec<Sample>,
    /// [`leader_changes`] of them.
    pub changes: u64,
    /// A problem writing the file (the count is still right).
    pub error: Option<String>,
}

/// Something that can tell who leads; the Db of a cluster in a run.
pub trait Primaries: Send + 'static {
    /// The nodes that say they lead now.
    fn primaries(&self) -> Vec<String>;
}

impl Primaries for Cluster {
    fn primaries(&self) -> Vec<String> {
        self.db.primaries(self)
    }
}

impl Sampler {
    /// Start sampling `source` every `every`, times from `t0`, writing
    /// changes to `path`. `None` when the thread cannot be started (then
    /// nothing is sampled, and the caller records no count).
    pub fn start(
        source: impl Primaries,
        t0: Instant,
        every: Duration,
        path: PathBuf,
    ) -> Option<Sampler> {
        let shared = Arc::new(Shared {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("leader-sampler".into())
            .spawn(move || sample_loop(&source, t0, every, &path, &s))
            .ok()?;
        Some(Sampler {
            shared,
            thread: Some(thread),
        })
    }

    /// Stop sampling and wait for the thread (at most the `primaries` call
    /// under way). Blocking: call it off the async runtime's workers.
    pub fn stop(mut self) -> Seen {
        self.signal();
        let joined = self.thread.take().map(|t| t.join());
        let (samples, error) = match joined {
            Some(Ok(Ok(s))) => (s, None),
            Some(Ok(Err(e))) => (Vec::new(), Some(e)),
            Some(Err(_)) => (Vec::new(), Some("the leader sampler panicked".into())),
            None => (Vec::new(), None),
        };
        Seen {
            changes: leader_changes(&samples),
            samples,
            error,
        }
    }

    fn signal(&self) {
        *crate::sync::lock(&self.shared.stopped) = true;
        self.shared.wake.notify_all();
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // A sampler dropped without `stop` (an early return) still ends.
        self.signal();
    }
}

fn sample_loop(
    source: &impl Primaries,
    t0: Instant,
    every: Duration,
    path: &Path,
    shared: &Shared,
) -> Result<Vec<Sample>, String> {
    let mut file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut samples: Vec<Sample> = Vec::new();
    let mut error = None;
    loop {
        let mut leaders = source.primaries();
        leaders.sort();
        leaders.dedup();
        let sample = Sample {
            time: t0.elapsed().as_nanos() as u64,
            leaders,
        };
        if samples.last().map(|s| &s.leaders) != Some(&sample.leaders) {
            if error.is_none() {
                let line = serde_json::to_string(&sample).unwrap_or_default();
                if let Err(e) = writeln!(file, "{line}") {
                    error = Some(format!("{}: {e}", path.display()));
                }
            }
            samples.push(sample);
        }
        let stopped = crate::sync::lock(&shared.stopped);
        if *stopped {
            break;
        }
        let (stopped, _) = shared
            .wake
            .wait_timeout_while(stopped, every, |s| !*s)
            .unwrap_or_else(|p| p.into_inner());
        if *stopped {
            break;
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(samples),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn s(t: u64, l: &[&str]) -> Sample {
        Sample {
            time: t,
            leaders: l.iter().map(|x| x.to_string()).collect(),
        }
    }

    #[test]
    fn changes_count_new_sole_leaders_but_not_the_first() {
        assert_eq!(leader_changes(&[]), 0);
        assert_eq!(leader_changes(&[s(0, &[]), s(1, &["n1"])]), 0);
        assert_eq!(leader_changes(&[s(0, &["n1"]), s(1, &["n2"])]), 1);
        // Lost and back to the same node: one election seen.
        assert_eq!(
            leader_changes(&[s(0, &["n1"]), s(1, &[]), s(2, &["n1"])]),
            1
        );
        // Lost at the end: not counted until a leader comes back.
        assert_eq!(leader_changes(&[s(0, &["n1"]), s(1, &[])]), 0);
        // Two claiming is no sole leader.
        assert_eq!(
            leader_changes(&[s(0, &["n1"]), s(1, &["n1", "n2"]), s(2, &["n2"])]),
            1
        );
        assert_eq!(
            leader_changes(&[
                s(0, &["n1"]),
                s(1, &["n3"]),
                s(2, &[]),
                s(3, &["n3"]),
                s(4, &["n2"])
            ]),
            3
        );
    }

    /// A fake Db whose leader moves along a script, one step per call.
    struct Script {
        steps: Vec<Vec<String>>,
        calls: Arc<AtomicUsize>,
    }

    impl Primaries for Script {
        fn primaries(&self) -> Vec<String> {
            let i = self.calls.fetch_add(1, Ordering::SeqCst);
            self.steps[i.min(self.steps.len() - 1)].clone()
        }
    }

    #[test]
    fn the_sampler_writes_each_change_and_stops_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(LEADERS_FILE);
        let steps: Vec<Vec<String>> = [
            &["n1"][..],
            &["n1"],
            &[],
            &["n2"],
            &["n2"],
            &["n3", "n1"],
            &["n1"],
        ]
        .iter()
        .map(|l| l.iter().map(|x| x.to_string()).collect())
        .collect();
        let calls = Arc::new(AtomicUsize::new(0));
        let fake = Script {
            steps: steps.clone(),
            calls: calls.clone(),
        };
        let sampler = Sampler::start(fake, Instant::now(), Duration::from_millis(5), path.clone())
            .expect("thread");
        while calls.load(Ordering::SeqCst) < steps.len() + 2 {
            std::thread::sleep(Duration::from_millis(2));
        }
        // A long interval now would not delay the stop: it wakes at once.
        let t = Instant::now();
        let seen = sampler.stop();
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(seen.error, None);
        let got: Vec<Vec<String>> = seen.samples.iter().map(|s| s.leaders.clone()).collect();
        let want: Vec<Vec<String>> = [&["n1"][..], &[], &["n2"], &["n1", "n3"], &["n1"]]
            .iter()
            .map(|l| l.iter().map(|x| x.to_string()).collect())
            .collect();
        assert_eq!(got, want);
        // n1 → none → n2 (1) → two claim → n1 (2).
        assert_eq!(seen.changes, 2);
        let from_file = read(&path).expect("leaders.jsonl");
        assert_eq!(from_file, seen.samples);
        assert!(from_file.windows(2).all(|w| w[0].time <= w[1].time));
    }

    /// A fake Db: the memory Db, but whose leader moves along a script.
    struct MovingLeader {
        inner: crate::db::memory::MemoryDb,
        script: Script,
    }

    impl crate::db::Db for MovingLeader {
        fn name(&self) -> &str {
            "moving-leader"
        }
        fn capabilities(&self) -> crate::db::Capabilities {
            crate::db::Capabilities {
                primaries: true,
                ..self.inner.capabilities()
            }
        }
        fn consistency(&self) -> crate::db::Consistency {
            self.inner.consistency()
        }
        fn setup(&self, c: &Cluster, n: &crate::remote::Node) -> Result<(), crate::db::DbError> {
            self.inner.setup(c, n)
        }
        fn teardown(&self, c: &Cluster, n: &crate::remote::Node) -> Result<(), crate::db::DbError> {
            self.inner.teardown(c, n)
        }
        fn start(&self, c: &Cluster, n: &crate::remote::Node) -> Result<(), crate::db::DbError> {
            self.inner.start(c, n)
        }
        fn kill(&self, c: &Cluster, n: &crate::remote::Node) -> Result<(), crate::db::DbError> {
            self.inner.kill(c, n)
        }
        fn pause(&self, c: &Cluster, n: &crate::remote::Node) -> Result<(), crate::db::DbError> {
            self.inner.pause(c, n)
        }
        fn resume(&self, c: &Cluster, n: &crate::remote::Node) -> Result<(), crate::db::DbError> {
            self.inner.resume(c, n)
        }
        fn primaries(&self, _c: &Cluster) -> Vec<String> {
            self.script.primaries()
        }
        fn await_ready(&self, c: &Cluster, t: Duration) -> Result<(), crate::db::DbError> {
            self.inner.await_ready(c, t)
        }
        fn log_files(&self, c: &Cluster, n: &crate::remote::Node) -> Vec<PathBuf> {
            self.inner.log_files(c, n)
        }
        fn client(&self, c: &Cluster, n: &crate::remote::Node) -> Arc<dyn crate::client::KvClient> {
            self.inner.client(c, n)
        }
        fn pid(&self, n: &crate::remote::Node) -> Option<u32> {
            self.inner.pid(n)
        }
    }

    #[test]
    fn a_cluster_is_sampled_through_its_dbs_primaries() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(LEADERS_FILE);
        let calls = Arc::new(AtomicUsize::new(0));
        let steps: Vec<Vec<String>> = [&["n2"][..], &["n2"], &["n1"], &["n1"]]
            .iter()
            .map(|l| l.iter().map(|x| x.to_string()).collect())
            .collect();
        let db = MovingLeader {
            inner: crate::db::memory::MemoryDb::new(Default::default()),
            script: Script {
                steps: steps.clone(),
                calls: calls.clone(),
            },
        };
        let cluster = Cluster {
            nodes: Vec::new(),
            db: Arc::new(db),
        };
        let sampler = Sampler::start(
            cluster,
            Instant::now(),
            Duration::from_millis(5),
            path.clone(),
        )
        .expect("thread");
        while calls.load(Ordering::SeqCst) < steps.len() + 1 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let seen = sampler.stop();
        assert_eq!(seen.changes, 1, "{:?}", seen.samples);
        assert_eq!(read(&path).expect("file").len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["leaders"], serde_json::json!(["n2"]));
        assert!(first["time"].is_u64());
    }

    #[test]
    fn a_slow_interval_still_stops_within_one_sample() {
        let tmp = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let fake = Script {
            steps: vec![vec!["n1".into()]],
            calls: calls.clone(),
        };
        let sampler = Sampler::start(
            fake,
            Instant::now(),
            Duration::from_secs(60),
            tmp.path().join(LEADERS_FILE),
        )
        .expect("thread");
        while calls.load(Ordering::SeqCst) < 1 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let t = Instant::now();
        let seen = sampler.stop();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(seen.changes, 0);
        assert_eq!(seen.samples.len(), 1);
    }
}
