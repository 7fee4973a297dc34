//! The nemesis side of a run: its schedule on its own task during the main
//! phase, then the heal.
//!
//! Every nemesis op is recorded twice with process `nemesis`: the invoke
//! (what the schedule asked for) and the completion — `ok` with the value
//! the nemesis returned (exactly what was done to which nodes), or `info`
//! with the error when it failed. A failing or panicking nemesis never
//! crashes the run. Nemeses block (they run commands on nodes), so each op
//! runs on the blocking pool, one at a time.
//!
//! [`Faults::heal`] runs the package's final ops in order, each recorded,
//! then `Nemesis::teardown`; the lifecycle calls it on every path out of
//! the main phase — normal end, error, Ctrl-C, SIGTERM, SIGHUP, SIGQUIT.

use super::log::RunLog;
use super::recorder::Recorder;
use super::schedule::NEMESIS_POLL;
use super::signals::Stop;
use crate::db::Cluster;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType, Process};
use crate::nemesis::{package, Interrupt, Nemesis};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The run's nemesis and what it needs.
pub struct Faults {
    nemesis: Arc<Mutex<Box<dyn Nemesis>>>,
    cluster: Cluster,
    recorder: Arc<Recorder>,
    log: Arc<RunLog>,
    /// The `f`s that end a fault (the package's final ops).
    stops: HashSet<String>,
    /// Set when the main phase ends or the run stops; long nemesis ops
    /// give up on it.
    interrupt: Interrupt,
}

fn describe(f: &str, v: &Value) -> String {
    let v = match v {
        Value::Null => String::new(),
        other => format!(" {other}"),
    };
    let mut s = format!("{f}{v}");
    if s.len() > 120 {
        s.truncate(117);
        s.push_str("...");
    }
    s
}

impl Faults {
    /// Wrap `nemesis` for `cluster`; `stops` are the fs that heal.
    pub fn new(
        nemesis: Box<dyn Nemesis>,
        cluster: Cluster,
        recorder: Arc<Recorder>,
        log: Arc<RunLog>,
        stops: HashSet<String>,
    ) -> Faults {
        Faults {
            nemesis: Arc::new(Mutex::new(nemesis)),
            cluster,
            recorder,
            log,
            stops,
            interrupt: Interrupt::default(),
        }
    }

    /// The nemesis's name.
    pub fn name(&self) -> String {
        lock(&self.nemesis).name().to_string()
    }

    /// `Nemesis::setup`, on the blocking pool.
    pub async fn setup(&self) -> Result<(), String> {
        let (n, c) = (self.nemesis.clone(), self.cluster.clone());
        let flag = self.interrupt.clone();
        match tokio::task::spawn_blocking(move || {
            let mut n = lock(&n);
            n.set_interrupt(flag);
            n.setup(&c)
        })
        .await
        {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("nemesis setup panicked: {e}")),
        }
    }

    /// Perform and record one nemesis op; returns the completion.
    pub async fn invoke(&self, f: String, value: Value) -> Op {
        let op = self
            .recorder
            .record(Op::invoke(Process::Nemesis, f.clone(), value));
        let (n, c, o) = (self.nemesis.clone(), self.cluster.clone(), op.clone());
        let r = tokio::task::spawn_blocking(move || lock(&n).invoke(&c, &o)).await;
        let done = match r {
            Ok(Ok(v)) => op.complete(OpType::Ok, v),
            Ok(Err(e)) => {
                let mut d = op.complete(OpType::Info, op.value.clone());
                d.error = Some(Value::String(e.to_string()));
                d
            }
            Err(e) => {
                let mut d = op.complete(OpType::Info, op.value.clone());
                d.error = Some(Value::String(format!("nemesis panicked: {e}")));
                d
            }
        };
        let done = self.recorder.record(done);
        let term = self.log.terminal();
        // The family of the op: the f that stops it. A stop (also a failed
        // one, after which the fault's state is unknown) removes the
        // family's fault from the live view; a start adds it — a failed
        // start too, marked, since it may have done part of its work.
        let stop = if self.stops.contains(&f) {
            Some(f.clone())
        } else {
            package::stop_of(&f).map(str::to_string)
        };
        let is_stop = self.stops.contains(&f);
        match (&done.kind, &done.error) {
            (OpType::Info, Some(e)) => {
                self.log.warn(format!("nemesis {f} failed: {e}"));
                match (&stop, is_stop) {
                    (Some(s), true) => term.fault_stopped(s),
                    (Some(s), false) => term.fault_started(s, format!("{f} (failed)")),
                    (None, _) => {}
                }
            }
            _ => {
                let what = describe(&f, &done.value);
                self.log.info(format!("nemesis {what}"));
                match (&stop, is_stop) {
                    (Some(s), true) => term.fault_stopped(s),
                    (Some(s), false) => term.fault_started(s, what),
                    (None, _) => term.fault_started(&f, what),
                }
            }
        }
        done
    }

    /// Run `schedule` (ops of process `nemesis`) until `limit` since
    /// `start`, the schedule is done, or the run stops. An op in progress
    /// then is finished first (nemeses cannot be cut off halfway; the heal
    /// follows at once), but it is told through the interrupt flag, so a
    /// long one gives up early.
    pub async fn run_schedule(
        &self,
        mut schedule: Box<dyn Generator>,
        mut rng: ChaCha8Rng,
        start: Instant,
        limit: Duration,
        stop: &Stop,
    ) {
        let flag = self.interrupt.clone();
        let watch = stop.clone();
        let watcher = tokio::spawn(async move {
            watch.sleep(limit.saturating_sub(start.elapsed())).await;
            flag.store(true, Ordering::SeqCst);
        });
        self.schedule_loop(&mut schedule, &mut rng, start, limit, stop)
            .await;
        self.interrupt.store(true, Ordering::SeqCst);
        watcher.abort();
    }

    async fn schedule_loop(
        &self,
        schedule: &mut Box<dyn Generator>,
        rng: &mut ChaCha8Rng,
        start: Instant,
        limit: Duration,
        stop: &Stop,
    ) {
        loop {
            let elapsed = start.elapsed();
            if stop.is_set() || elapsed >= limit {
                return;
            }
            let ctx = GenCtx {
                elapsed,
                thread: 0,
                threads: 1,
            };
            match schedule.next(&ctx, rng) {
                Next::Op { f, value, .. } => {
                    self.invoke(f, value).await;
                }
                Next::Pending => {
                    let left = limit.saturating_sub(start.elapsed());
                    if !stop.sleep(NEMESIS_POLL.min(left)).await {
                        return;
                    }
                }
                Next::Done => return,
            }
        }
    }

    /// Heal: the final ops in order (each recorded), then teardown. Returns
    /// the problems met (also logged); never fails.
    pub async fn heal(&self, final_ops: &[(String, Value)]) -> Vec<String> {
        let mut problems = Vec::new();
        for (f, v) in final_ops {
            let done = self.invoke(f.clone(), v.clone()).await;
            if let Some(e) = done.error {
                problems.push(format!("heal {f}: {e}"));
            }
        }
        let (n, c) = (self.nemesis.clone(), self.cluster.clone());
        match tokio::task::spawn_blocking(move || lock(&n).teardown(&c)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(format!("nemesis teardown: {e}")),
            Err(e) => problems.push(format!("nemesis teardown panicked: {e}")),
        }
        for p in &problems {
            self.log.warn(p);
        }
        self.log.terminal().faults_healed();
        problems
    }
}

use crate::sync::lock;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::memory::Fault;
    use crate::db::memory::MemoryDb;
    use crate::nemesis::NemesisError;
    use crate::report::progress::{Mode, Terminal};
    use std::sync::atomic::AtomicBool;

    /// A nemesis whose one op lasts until it is interrupted (at most 20 s).
    struct Slow {
        irq: Interrupt,
        interrupted: Arc<AtomicBool>,
    }

    impl Nemesis for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        fn fs(&self) -> Vec<String> {
            vec!["start-slow".into()]
        }
        fn setup(&mut self, _: &Cluster) -> Result<(), NemesisError> {
            Ok(())
        }
        fn invoke(&mut self, _: &Cluster, _: &Op) -> Result<Value, NemesisError> {
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(20) {
                if self.irq.load(Ordering::SeqCst) {
                    self.interrupted.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(Value::Null)
        }
        fn teardown(&mut self, _: &Cluster) -> Result<(), NemesisError> {
            Ok(())
        }
        fn set_interrupt(&mut self, flag: Interrupt) {
            self.irq = flag;
        }
    }

    /// One op at once, then nothing.
    struct Once(bool);

    impl Generator for Once {
        fn next(&mut self, _: &GenCtx, _: &mut dyn rand::RngCore) -> Next {
            if std::mem::replace(&mut self.0, true) {
                Next::Done
            } else {
                Next::Op {
                    f: "start-slow".into(),
                    key: None,
                    value: Value::Null,
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_nemesis_op_is_interrupted_when_the_main_phase_ends() {
        let dir = tempfile::tempdir().unwrap();
        let term = Arc::new(Terminal::new(Mode::Quiet));
        let log = Arc::new(RunLog::create(&dir.path().join("log"), term).unwrap());
        let recorder = Arc::new(Recorder::create(&dir.path().join("h.jsonl")).unwrap());
        let cluster = Cluster {
            nodes: Vec::new(),
            db: Arc::new(MemoryDb::new(Fault::None)),
        };
        let interrupted = Arc::new(AtomicBool::new(false));
        let faults = Faults::new(
            Box::new(Slow {
                irq: Interrupt::default(),
                interrupted: interrupted.clone(),
            }),
            cluster,
            recorder,
            log,
            HashSet::new(),
        );
        faults.setup().await.unwrap();
        let t = Instant::now();
        faults
            .run_schedule(
                Box::new(Once(false)),
                rand::SeedableRng::seed_from_u64(1),
                Instant::now(),
                Duration::from_millis(300),
                &Stop::new(),
            )
            .await;
        assert!(interrupted.load(Ordering::SeqCst), "never told to stop");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    /// Answers every op with its own value: enough to drive the live view.
    struct Echo;

    impl Nemesis for Echo {
        fn name(&self) -> &str {
            "echo"
        }
        fn fs(&self) -> Vec<String> {
            Vec::new()
        }
        fn setup(&mut self, _: &Cluster) -> Result<(), NemesisError> {
            Ok(())
        }
        fn invoke(&mut self, _: &Cluster, op: &Op) -> Result<Value, NemesisError> {
            Ok(op.value.clone())
        }
        fn teardown(&mut self, _: &Cluster) -> Result<(), NemesisError> {
            Ok(())
        }
    }

    /// Regression (issue 13): the progress line showed only the last
    /// nemesis op, so a `stop-partition` hid a kill still in force.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_progress_line_keeps_a_kill_shown_after_a_partition_heals() {
        let dir = tempfile::tempdir().unwrap();
        let term = Arc::new(Terminal::new(Mode::Quiet));
        let log = Arc::new(RunLog::create(&dir.path().join("log"), term.clone()).unwrap());
        let recorder = Arc::new(Recorder::create(&dir.path().join("h.jsonl")).unwrap());
        let cluster = Cluster {
            nodes: Vec::new(),
            db: Arc::new(MemoryDb::new(Fault::None)),
        };
        let stops = crate::report::verdict::stop_fs(&Default::default());
        let faults = Faults::new(Box::new(Echo), cluster, recorder, log, stops);
        let kill = serde_json::json!({"killed": ["n1", "n2"]});
        faults.invoke("kill".into(), kill).await;
        faults
            .invoke(
                "start-partition".into(),
                serde_json::json!({"kind": "bridge"}),
            )
            .await;
        faults.invoke("stop-partition".into(), Value::Null).await;
        let line = term.line();
        assert!(line.contains("kill"), "{line}");
        assert!(!line.contains("bridge"), "{line}");
        faults.heal(&[("start".into(), Value::Null)]).await;
        assert!(term.line().ends_with("fault: none"), "{}", term.line());
    }
}
