//! One run, start to end, as named phases: provision → set up the Db
//! (`setup_db`) → set up the nemesis → main (workers and nemesis,
//! `main_phase`) → heal (`heal_phase`) → recovery (`recovery_phase`) →
//! final reads (`final_phase`) → collect node logs → tear down
//! (`teardown`) → (the caller checks and stores). One helper,
//! `Timeline::phase`, shows each phase at the terminal and records its
//! times on the history's clock (`phases` in `results.json`: main, heal,
//! recovery, final).
//!
//! The order of cleanup is the point of this file. Once the backend has
//! provisioned nodes, they are torn down on every path (unless
//! `leave_db_running`); once the nemesis is set up, it is healed on every
//! path — normal end, a failure in between, Ctrl-C, SIGTERM, SIGHUP or
//! SIGQUIT — because
//! nothing between setup and heal returns early.

use super::bring_up;
use super::faults::Faults;
use super::leaders::{self, Sampler};
use super::log::RunLog;
use super::online;
use super::recorder::Recorder;
use super::schedule::{rng, Pacer, Stream};
use super::signals::{self, Stop};
use super::worker::{self, Env, PhasePlan, Worker};
use super::{RunError, RunOptions};
use crate::db::{Cluster, Db};
use crate::generator::Generator;
use crate::history::{History, Op, OpType, Process};
use crate::nemesis::intervals::SKIP_F;
use crate::nemesis::package;
use crate::remote::backend::{self, Backend, BackendError, Provision};
use crate::remote::Node;
use crate::report::progress::Terminal;
use crate::report::results::{OnlineSummary, Phase};
use crate::report::verdict::RunFacts;
use crate::spec::TestSpec;
use crate::store::RunDir;
use crate::workload::Workload;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What the lifecycle hands back for checking.
pub struct Finished {
    /// The whole history (also on disk).
    pub history: History,
    /// Everything else `results.json` says.
    pub facts: RunFacts,
}

/// Check the spec before touching anything. The per-file checks are the
/// spec's own (`ClusterSpec::validate`...), so a `TestSpec` built in code
/// is held to the same rules as one loaded from YAML; on top, what only the
/// runner knows: faults that need machines cannot run on backend none.
pub fn precheck(spec: &TestSpec) -> Result<(), RunError> {
    let bad = |part: &str, e: crate::spec::load::FieldError| {
        RunError::BadInput(format!("{part}: {}: {}", e.field, e.message))
    };
    if spec.concurrency == 0 {
        return Err(RunError::BadInput("concurrency must be at least 1".into()));
    }
    spec.cluster.validate().map_err(|e| bad("cluster", e))?;
    spec.workload
        .validate()
        .map_err(|e| bad(&format!("workload {}", spec.workload.name), e))?;
    spec.nemesis
        .validate()
        .map_err(|e| bad(&format!("nemesis {}", spec.nemesis.name), e))?;
    let be = backend::build(&spec.cluster.backend_config())?;
    if !be.has_machines() {
        let fams = spec.nemesis.config.families().unwrap_or_default();
        let needs = |f: &str| crate::nemesis::family::by_name(f).is_some_and(|d| d.needs_machines);
        if let Some(f) = fams.iter().find(|f| needs(f)) {
            return Err(RunError::BadInput(format!(
                "nemesis {}: fault family {f} needs machines to run iptables on; backend none \
                 has none (use faults: [] with db memory)",
                spec.nemesis.name
            )));
        }
    }
    Ok(())
}

/// The capabilities the Db of `spec` will have, without starting anything
/// (for dry runs): the Db is built, which touches no node, and asked.
pub fn planned_capabilities(spec: &TestSpec) -> Result<crate::db::Capabilities, RunError> {
    Ok(make_db(spec, &RunOptions::default())?.capabilities())
}

/// The Db the cluster names ([`bring_up::make_db`]).
fn make_db(spec: &TestSpec, opts: &RunOptions) -> Result<Arc<dyn Db>, RunError> {
    bring_up::make_db(&spec.cluster, opts.binary.clone())
}

/// Run `f` on the blocking pool; a panic is an internal error.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RunError::Internal(format!("{what} panicked: {e}")))
}

/// The phases of a run on the history's clock (ns since the recorder
/// started): each is shown at the terminal while it runs, and recorded as
/// a [`Phase`] of `results.json` when it ends.
struct Timeline {
    recorder: Arc<Recorder>,
    term: Arc<Terminal>,
    phases: Vec<Phase>,
}

impl Timeline {
    fn new(recorder: Arc<Recorder>, term: Arc<Terminal>) -> Timeline {
        Timeline {
            recorder,
            term,
            phases: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        self.recorder.elapsed().as_nanos() as u64
    }

    /// Run `body` as phase `name` (meant to last at most `limit`, for the
    /// progress bar) and record when it started and ended.
    async fn phase<T>(
        &mut self,
        name: &str,
        limit: Option<Duration>,
        body: impl Future<Output = T>,
    ) -> T {
        self.term.phase(name, limit);
        let start = self.now();
        let out = body.await;
        self.phases.push(Phase {
            name: name.to_string(),
            start,
            end: self.now(),
        });
        out
    }
}

/// The whole run up to the checks.
pub async fn execute(
    spec: &TestSpec,
    opts: &RunOptions,
    dir: &RunDir,
    log: Arc<RunLog>,
    start: String,
    workload: Arc<dyn Workload>,
) -> Result<Finished, RunError> {
    let stop = Stop::new();
    let l2 = log.clone();
    let listener = tokio::spawn(signals::listen(stop.clone(), move |m| l2.warn(m)));
    let t2 = log.terminal().clone();
    let ticker = tokio::spawn(async move {
        loop {
            t2.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let run = Run {
        spec,
        dir,
        log: &log,
        stop: &stop,
    };
    let r = provisioned(&run, opts, start, workload).await;
    ticker.abort();
    listener.abort();
    r
}

/// What every step of one run reads.
struct Run<'a> {
    spec: &'a TestSpec,
    dir: &'a RunDir,
    log: &'a Arc<RunLog>,
    stop: &'a Stop,
}

/// Provision the nodes and make the Db, run `with_cluster`, then collect
/// the node logs and tear down: once provisioned, on every path.
async fn provisioned(
    run: &Run<'_>,
    opts: &RunOptions,
    start: String,
    workload: Arc<dyn Workload>,
) -> Result<Finished, RunError> {
    let Run { spec, dir, log, .. } = *run;
    let names = bring_up::node_names(spec.cluster.nodes);
    let work_dir = dir.path.join("work");
    let mut be = backend::build(&spec.cluster.backend_config())?;
    log.info(format!(
        "provisioning {} node(s) on backend {}",
        names.len(),
        be.name()
    ));
    let wd = work_dir.clone();
    let binary = opts.binary.clone().unwrap_or_else(Provision::own_binary);
    let (be, nodes) = blocking("provisioning", move || {
        let r = bring_up::provision(be.as_mut(), &names, &wd, &binary);
        (be, r)
    })
    .await?;
    let mut be: Box<dyn Backend> = be;
    let nodes: Vec<Node> = nodes?;
    let db = match make_db(spec, opts) {
        Ok(db) => db,
        Err(e) => {
            let _ = blocking("backend teardown", move || be.teardown()).await;
            return Err(e);
        }
    };
    let cluster = Cluster { nodes, db };
    let mut warnings = Vec::new();
    let r = with_cluster(run, &cluster, workload, &mut warnings, start).await;

    // Node logs, then teardown: on every path.
    log.terminal().phase("teardown", None);
    collect_node_logs(&cluster, dir, log).await;
    if spec.leave_db_running {
        be.leave();
        log.info("leaving the cluster running (--leave-db-running); `faultline heal` removes it");
    } else {
        warnings.extend(teardown(&cluster, be, &work_dir, log).await);
    }
    let mut f = r?;
    f.facts.warnings.extend(warnings);
    Ok(f)
}

/// Fetch every node's log files into the run directory; what failed is
/// logged, not an error.
async fn collect_node_logs(cluster: &Cluster, dir: &RunDir, log: &RunLog) {
    let (c, d) = (cluster.clone(), dir.clone());
    let fetched = blocking("collecting node logs", move || collect_logs(&c, &d)).await;
    match fetched {
        Ok(problems) => {
            for p in problems {
                log.debug(format!("node log: {p}"));
            }
        }
        Err(e) => log.warn(e.to_string()),
    }
}

/// Tear the Db down on every node, then the backend, and remove the work
/// directory; returns (and logs) what failed.
async fn teardown(
    cluster: &Cluster,
    mut be: Box<dyn Backend>,
    work_dir: &Path,
    log: &RunLog,
) -> Vec<String> {
    let c = cluster.clone();
    let problems = blocking("teardown", move || bring_up::teardown(&c, be.as_mut()))
        .await
        .unwrap_or_else(|e| vec![e.to_string()]);
    for p in &problems {
        log.warn(p);
    }
    let _ = std::fs::remove_dir_all(work_dir);
    log.info("cluster torn down");
    problems
}

/// Copy each node's log files into `nodes/<node>/`; returns what failed.
fn collect_logs(cluster: &Cluster, dir: &RunDir) -> Vec<String> {
    bring_up::download_logs(cluster, &dir.path.join(crate::store::NODES_DIR))
}

/// A backend failure as a run failure: an unknown backend and problems on
/// the harness's own machine (root, prerequisites, the run lock) are the
/// user's to fix (exit 254); anything else is faultline's own (255).
impl From<BackendError> for RunError {
    fn from(e: BackendError) -> Self {
        if e.is_user_fixable() {
            RunError::BadInput(e.to_string())
        } else {
            RunError::Internal(e.to_string())
        }
    }
}

/// Set up the Db on every node, then wait until it serves
/// ([`bring_up::setup_db`]).
async fn setup_db(spec: &TestSpec, cluster: &Cluster, log: &RunLog) -> Result<(), RunError> {
    let c = cluster.clone();
    let s = spec.cluster.clone();
    let took = blocking("db setup", move || bring_up::setup_db(&s, &c)).await??;
    log.info(format!(
        "{} serving on {} node(s) after {:.2} s",
        cluster.db.name(),
        cluster.nodes.len(),
        took.as_secs_f64()
    ));
    Ok(())
}

/// Set up the Db, build the nemesis and open the history, then run the
/// phases: nemesis setup, main, heal, recovery, final reads.
async fn with_cluster(
    run: &Run<'_>,
    cluster: &Cluster,
    workload: Arc<dyn Workload>,
    warnings: &mut Vec<String>,
    start: String,
) -> Result<Finished, RunError> {
    let Run {
        spec,
        dir,
        log,
        stop,
    } = *run;
    setup_db(spec, cluster, log).await?;
    let pkg = package::build(&spec.nemesis.config, &cluster.db.capabilities())
        .map_err(|e| RunError::BadInput(format!("nemesis {}: {e}", spec.nemesis.name)))?;
    for s in &pkg.skipped {
        log.info(format!("nemesis skips {s}"));
    }
    let recorder = Arc::new(
        Recorder::create(&dir.history_file())
            .map_err(|e| RunError::Internal(format!("history: {e}")))?,
    );
    let stops = pkg.stop_fs();
    let faults = Faults::new(
        pkg.nemesis,
        cluster.clone(),
        recorder.clone(),
        log.clone(),
        stops,
    );
    let facts = RunFacts {
        start,
        nemesis: faults.name(),
        skipped: pkg.skipped.clone(),
        ..Default::default()
    };
    let nemesis = Nemesis {
        faults,
        schedule: pkg.schedule,
        final_ops: pkg.final_ops,
        leaders: cluster
            .db
            .capabilities()
            .primaries
            .then(|| dir.path.join(leaders::LEADERS_FILE)),
    };
    let env = Arc::new(Env {
        workload,
        cluster: cluster.clone(),
        recorder,
        log: log.clone(),
        stop: stop.clone(),
    });
    with_nemesis(spec, env, nemesis, warnings, facts).await
}

/// The nemesis of a run and what it will do.
struct Nemesis {
    faults: Faults,
    schedule: Box<dyn Generator>,
    final_ops: Vec<(String, serde_json::Value)>,
    /// Where to sample the leaders to; `None` when the Db cannot tell them.
    leaders: Option<PathBuf>,
}

/// Record each fault the Db cannot take in the history, as a nemesis op
/// `skip` that completes `info` with `{"skipped": reason}`: the history
/// says what the nemesis would have done and why it did not. Such ops are
/// no fault intervals ([`crate::nemesis::intervals::pair`] leaves them out).
fn record_skipped(recorder: &Recorder, skipped: &[String]) {
    for reason in skipped {
        let invoke = recorder.record(Op::invoke(
            Process::Nemesis,
            SKIP_F,
            serde_json::Value::Null,
        ));
        recorder.record(invoke.complete(OpType::Info, serde_json::json!({ "skipped": reason })));
    }
}

/// Start the leader sampler (see [`leaders`]) when the Db can tell its
/// leader; a sampler that cannot start is a warning.
fn start_sampler(env: &Env, path: Option<PathBuf>) -> Option<Sampler> {
    let path = path?;
    let s = Sampler::start(
        env.cluster.clone(),
        env.recorder.t0(),
        leaders::SAMPLE_EVERY,
        path,
    );
    if s.is_none() {
        env.log
            .warn("cannot start the leader sampler: leader changes not counted");
    }
    s
}

/// Set up the nemesis, then run the phases. From the nemesis setup on,
/// nothing returns before the heal: the phases return no errors, and a
/// failed nemesis setup skips the main phase, heals, and fails the run
/// only after.
async fn with_nemesis(
    spec: &TestSpec,
    env: Arc<Env>,
    nemesis: Nemesis,
    warnings: &mut Vec<String>,
    mut facts: RunFacts,
) -> Result<Finished, RunError> {
    let Nemesis {
        faults,
        schedule,
        final_ops,
        leaders,
    } = nemesis;
    let (log, stop, recorder) = (&env.log, &env.stop, &env.recorder);
    let term = log.terminal().clone();
    let mut timeline = Timeline::new(recorder.clone(), term.clone());

    // From here on, nothing returns before the heal.
    let setup = faults.setup().await;
    if let Err(e) = &setup {
        log.warn(format!("nemesis {} setup failed: {e}", facts.nemesis));
    }
    let mut workers = Worker::spawn_all(&env, spec.concurrency);
    let mut sampler = None;
    if setup.is_ok() {
        record_skipped(recorder, &facts.skipped);
        sampler = start_sampler(&env, leaders);
        let (ws, online) = main_phase(spec, &env, &faults, schedule, workers, &mut timeline).await;
        workers = ws;
        facts.online = online;
    }
    let final_ops = if setup.is_ok() { final_ops } else { Vec::new() };
    warnings.extend(heal_phase(&faults, &final_ops, &mut timeline, log).await);
    if setup.is_ok() && !stop.is_set() && spec.workload.recovery > 0.0 {
        recovery_phase(spec, stop, &mut timeline).await;
    }
    if setup.is_ok() && !stop.is_set() {
        final_phase(spec, &env, workers, &mut timeline).await;
    }
    if let Some(s) = sampler {
        match blocking("leader sampler", move || s.stop()).await {
            Ok(seen) => {
                if let Some(e) = seen.error {
                    log.warn(format!("leaders: {e}"));
                    facts.warnings.push(format!("leaders: {e}"));
                }
                facts.leader_changes = Some(seen.changes);
            }
            Err(e) => log.warn(e.to_string()),
        }
    }

    let (history, err) = recorder.finish();
    if let Some(e) = err {
        log.warn(format!("history: {e}"));
        facts.warnings.push(format!("history: {e}"));
    }
    facts.phases = timeline.phases;
    facts.interrupted = stop.reason();
    if let Err(e) = setup {
        return Err(RunError::Internal(format!(
            "nemesis {} setup failed: {e}",
            facts.nemesis
        )));
    }
    term.finish();
    Ok(Finished { history, facts })
}

/// The main phase: the workload's ops on every worker, paced, while the
/// nemesis runs its fault schedule, for the workload's time limit — or
/// until a stop signal, or (`stop_on_anomaly`) until online checking
/// proves an anomaly. Online checking ([`online`]) runs throughout; what
/// it found is returned with the workers.
async fn main_phase(
    spec: &TestSpec,
    env: &Arc<Env>,
    faults: &Faults,
    schedule: Box<dyn Generator>,
    workers: Vec<Worker>,
    timeline: &mut Timeline,
) -> (Vec<Worker>, Option<OnlineSummary>) {
    // The main phase's own end: set by a stop signal (forwarded) or by
    // online checking. Not the run's stop flag: an anomaly is no
    // interruption, and heal, recovery and final reads run as usual.
    let end = Stop::new();
    let forward = {
        let (stop, end) = (env.stop.clone(), end.clone());
        tokio::spawn(async move {
            stop.wait().await;
            end.trigger("stopped");
        })
    };
    let online = match spec.checks_of(env.workload.as_ref()) {
        Ok((checkers, _)) => Some(online::Online::start(
            online::Engine::new(checkers, online::WINDOW),
            env.recorder.clone(),
            std::time::Instant::now(),
            spec.stop_on_anomaly.then(|| end.clone()),
            env.log.clone(),
        )),
        Err(e) => {
            env.log.warn(format!(
                "online checking off: cannot build the checkers: {e}"
            ));
            None
        }
    };
    let w = &spec.workload;
    let limit = Duration::from_secs_f64(w.time_limit);
    env.log.info(format!(
        "main phase: {} for {:.0} s, {} worker(s), rate {}, nemesis {}",
        w.name,
        w.time_limit,
        spec.concurrency,
        if w.rate > 0.0 {
            format!("{}/s{}", w.rate, if w.stagger { " staggered" } else { "" })
        } else {
            "unlimited".into()
        },
        faults.name()
    ));
    let run = async {
        let plan = PhasePlan {
            name: "main",
            generator: env.workload.generator(),
            rng: rng(spec.seed, Stream::Workload),
            pacer: Some(Pacer::new(w.rate, w.stagger, spec.seed)),
            limit,
            grace: Duration::from_secs(10),
            stop: end.clone(),
        };
        let (ws, ()) = tokio::join!(
            worker::run_phase(env, workers, plan),
            faults.run_schedule(
                schedule,
                rng(spec.seed, Stream::Nemesis),
                env.recorder.t0(),
                limit,
                &end
            )
        );
        ws
    };
    let ws = timeline.phase("main", Some(limit), run).await;
    forward.abort();
    (ws, online.map(online::Online::finish))
}

/// Heal: run the nemesis's final ops (none when its setup failed) and undo
/// whatever else it did. Returns what could not be healed.
async fn heal_phase(
    faults: &Faults,
    final_ops: &[(String, serde_json::Value)],
    timeline: &mut Timeline,
    log: &RunLog,
) -> Vec<String> {
    let problems = timeline.phase("heal", None, faults.heal(final_ops)).await;
    log.info("healed");
    problems
}

/// Recovery: a quiet time after healing (cut short by a stop signal).
async fn recovery_phase(spec: &TestSpec, stop: &Stop, timeline: &mut Timeline) {
    let d = Duration::from_secs_f64(spec.workload.recovery);
    timeline.phase("recovery", Some(d), stop.sleep(d)).await;
}

/// Final reads: the workload's final generator on every worker, unpaced,
/// if the workload has one.
async fn final_phase(
    spec: &TestSpec,
    env: &Arc<Env>,
    workers: Vec<Worker>,
    timeline: &mut Timeline,
) {
    let w = &spec.workload;
    let Some(g) = env.workload.final_generator() else {
        return;
    };
    let d = Duration::from_secs_f64(w.final_time_limit);
    env.log
        .info(format!("final reads (at most {:.0} s)", w.final_time_limit));
    let run = async {
        let plan = PhasePlan {
            name: "final",
            generator: g,
            rng: rng(spec.seed, Stream::Final),
            pacer: None,
            limit: d,
            grace: Duration::ZERO,
            stop: env.stop.clone(),
        };
        worker::run_phase(env, workers, plan).await;
    };
    timeline.phase("final", Some(d), run).await;
}
