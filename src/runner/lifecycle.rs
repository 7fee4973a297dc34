//! One run, start to end: provision → set up the Db → main phase (workers
//! and nemesis) → heal → recovery → final reads → collect node logs →
//! tear down → (the caller checks and stores).
//!
//! The order of cleanup is the point of this file. Once the backend has
//! provisioned nodes, they are torn down on every path (unless
//! `leave_db_running`); once the nemesis is set up, it is healed on every
//! path — normal end, a failure in between, Ctrl-C, SIGTERM, SIGHUP or
//! SIGQUIT — because
//! nothing between setup and heal returns early.

use super::faults::Faults;
use super::log::RunLog;
use super::recorder::Recorder;
use super::schedule::{rng, Pacer, Stream};
use super::signals::{self, Stop};
use super::verdict::RunFacts;
use super::worker::{self, Env, PhasePlan, Worker};
use super::{RunError, RunOptions};
use crate::db::registry::{self, DbContext};
use crate::db::{Cluster, Db};
use crate::history::History;
use crate::nemesis::package;
use crate::remote::backend::{self, Backend, BackendError};
use crate::remote::Node;
use crate::spec::TestSpec;
use crate::store::{Phase, RunDir};
use std::sync::{Arc, Mutex};
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
    if spec.cluster.backend == "none" {
        let fams = spec.nemesis.config.families().unwrap_or_default();
        if let Some(f) = fams.iter().find(|f| matches!(**f, "partition" | "loss")) {
            return Err(RunError::BadInput(format!(
                "nemesis {}: fault family {f} needs machines to run iptables on; backend none \
                 has none (use faults: [] with db memory)",
                spec.nemesis.name
            )));
        }
    }
    backend::by_name(&spec.cluster.backend)?;
    Ok(())
}

/// The capabilities the Db of `spec` will have, without starting anything
/// (for dry runs): the Db is built, which touches no node, and asked.
pub fn planned_capabilities(spec: &TestSpec) -> Result<crate::db::Capabilities, RunError> {
    Ok(make_db(spec, &RunOptions::default())?.capabilities())
}

/// The Db the cluster names, from its own section of the cluster file
/// ([`crate::db::registry`]).
fn make_db(spec: &TestSpec, opts: &RunOptions) -> Result<Arc<dyn Db>, RunError> {
    registry::lookup(&spec.cluster.db).map_err(|e| RunError::BadInput(format!("cluster: {e}")))?;
    let ctx = DbContext {
        binary: opts.binary.clone(),
    };
    registry::build(&spec.cluster, &ctx).map_err(|e| RunError::Internal(e.to_string()))
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

/// The whole run up to the checks.
pub async fn execute(
    spec: &TestSpec,
    opts: &RunOptions,
    dir: &RunDir,
    log: Arc<RunLog>,
    start: String,
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
    let r = provisioned(spec, opts, dir, &log, &stop, start).await;
    ticker.abort();
    listener.abort();
    r
}

async fn provisioned(
    spec: &TestSpec,
    opts: &RunOptions,
    dir: &RunDir,
    log: &Arc<RunLog>,
    stop: &Stop,
    start: String,
) -> Result<Finished, RunError> {
    let names: Vec<String> = (1..=spec.cluster.nodes).map(|i| format!("n{i}")).collect();
    let work_dir = dir.path.join("work");
    let mut be = backend::by_name(&spec.cluster.backend)?;
    log.info(format!(
        "provisioning {} node(s) on backend {}",
        names.len(),
        be.name()
    ));
    let wd = work_dir.clone();
    let (be, nodes) = blocking("provisioning", move || {
        let r = be.provision(&names, &wd);
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
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let r = with_cluster(spec, dir, log, stop, &cluster, &warnings, start).await;

    // Node logs, then teardown: on every path.
    log.terminal().phase("teardown", None);
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
    if spec.leave_db_running {
        be.leave();
        log.info("leaving the cluster running (--leave-db-running); `faultline heal` removes it");
    } else {
        let c = cluster.clone();
        let problems = blocking("teardown", move || {
            let mut problems = Vec::new();
            for n in &c.nodes {
                if let Err(e) = c.db.teardown(&c, n) {
                    problems.push(format!("db teardown on {}: {e}", n.name));
                }
            }
            if let Err(e) = be.teardown() {
                problems.push(format!("backend teardown: {e}"));
            }
            problems
        })
        .await
        .unwrap_or_else(|e| vec![e.to_string()]);
        for p in &problems {
            log.warn(p);
        }
        lock(&warnings).extend(problems);
        let _ = std::fs::remove_dir_all(&work_dir);
        log.info("cluster torn down");
    }
    let mut f = r?;
    f.facts.warnings.extend(lock(&warnings).drain(..));
    Ok(f)
}

use crate::sync::lock;

/// Copy each node's log files into `nodes/<node>/`; returns what failed.
fn collect_logs(cluster: &Cluster, dir: &RunDir) -> Vec<String> {
    let mut problems = Vec::new();
    for n in &cluster.nodes {
        for file in cluster.db.log_files(cluster, n) {
            let Some(name) = file.file_name() else {
                continue;
            };
            let dest = dir.node_dir(&n.name).join(name);
            if let Err(e) = n.remote.download(&file, &dest) {
                problems.push(format!("{}: {}: {e}", n.name, file.display()));
            }
        }
    }
    problems
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

/// How a Db setup failure ends the run: a node that cannot be reached or
/// never comes up is something the user must look at (exit 254, the
/// message names the node); anything else is faultline's own failure (255).
fn setup_error(e: &crate::db::DbError, msg: String) -> RunError {
    use crate::db::DbError;
    use crate::remote::RemoteError;
    match e {
        DbError::NotReady { .. }
        | DbError::Unsupported { .. }
        | DbError::Remote(RemoteError::Unreachable { .. } | RemoteError::Host(_)) => {
            RunError::BadInput(msg)
        }
        _ => RunError::Internal(msg),
    }
}

async fn with_cluster(
    spec: &TestSpec,
    dir: &RunDir,
    log: &Arc<RunLog>,
    stop: &Stop,
    cluster: &Cluster,
    warnings: &Arc<Mutex<Vec<String>>>,
    start: String,
) -> Result<Finished, RunError> {
    let term = log.terminal().clone();
    // Db setup on every node, then wait until it serves.
    let c = cluster.clone();
    let ready = Duration::from_secs_f64(spec.cluster.ready_timeout.max(0.0));
    let t = std::time::Instant::now();
    blocking("db setup", move || {
        for n in &c.nodes {
            c.db.setup(&c, n).map_err(|e| {
                setup_error(&e, format!("{} setup on {}: {e}", c.db.name(), n.name))
            })?;
        }
        c.db.await_ready(&c, ready)
            .map_err(|e| setup_error(&e, format!("{} not ready: {e}", c.db.name())))
    })
    .await??;
    log.info(format!(
        "{} serving on {} node(s) after {:.2} s",
        cluster.db.name(),
        cluster.nodes.len(),
        t.elapsed().as_secs_f64()
    ));

    let pkg = package::build(&spec.nemesis.config, &cluster.db.capabilities())
        .map_err(|e| RunError::BadInput(format!("nemesis {}: {e}", spec.nemesis.name)))?;
    for s in &pkg.skipped {
        log.info(format!("nemesis skips {s}"));
    }
    let workload: Arc<dyn crate::workload::Workload> = Arc::from(
        crate::workload::by_name(&spec.workload.name, &spec.workload.config)
            .map_err(|e| RunError::BadInput(format!("workload: {e}")))?,
    );
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
    let nemesis_name = faults.name();
    let mut facts = RunFacts {
        start,
        nemesis: nemesis_name.clone(),
        skipped: pkg.skipped.clone(),
        ..Default::default()
    };
    let mut phases = Vec::new();
    let now = |r: &Recorder| r.elapsed().as_nanos() as u64;

    // From here on, nothing returns before the heal.
    let setup = faults.setup().await;
    if let Err(e) = &setup {
        log.warn(format!("nemesis {nemesis_name} setup failed: {e}"));
    }
    let env = Arc::new(Env {
        workload: workload.clone(),
        cluster: cluster.clone(),
        recorder: recorder.clone(),
        log: log.clone(),
        stop: stop.clone(),
    });
    let mut workers = Worker::spawn_all(&env, spec.concurrency);
    let w = &spec.workload;
    if setup.is_ok() {
        let limit = Duration::from_secs_f64(w.time_limit);
        log.info(format!(
            "main phase: {} for {:.0} s, {} worker(s), rate {}, nemesis {}",
            w.name,
            w.time_limit,
            spec.concurrency,
            if w.rate > 0.0 {
                format!("{}/s{}", w.rate, if w.stagger { " staggered" } else { "" })
            } else {
                "unlimited".into()
            },
            nemesis_name
        ));
        term.phase("main", Some(limit));
        let t0 = now(&recorder);
        let plan = PhasePlan {
            name: "main",
            generator: workload.generator(),
            rng: rng(spec.seed, Stream::Workload),
            pacer: Some(Pacer::new(w.rate, w.stagger, spec.seed)),
            limit,
            grace: Duration::from_secs(10),
        };
        let (ws, ()) = tokio::join!(
            worker::run_phase(&env, workers, plan),
            faults.run_schedule(
                pkg.schedule,
                rng(spec.seed, Stream::Nemesis),
                recorder.t0(),
                limit,
                stop
            )
        );
        workers = ws;
        phases.push(Phase {
            name: "main".into(),
            start: t0,
            end: now(&recorder),
        });
    }

    // Heal: always.
    term.phase("heal", None);
    let t0 = now(&recorder);
    let final_ops = if setup.is_ok() {
        pkg.final_ops
    } else {
        Vec::new()
    };
    let problems = faults.heal(&final_ops).await;
    lock(warnings).extend(problems);
    phases.push(Phase {
        name: "heal".into(),
        start: t0,
        end: now(&recorder),
    });
    log.info("healed");

    if setup.is_ok() && !stop.is_set() && w.recovery > 0.0 {
        let d = Duration::from_secs_f64(w.recovery);
        term.phase("recovery", Some(d));
        let t0 = now(&recorder);
        stop.sleep(d).await;
        phases.push(Phase {
            name: "recovery".into(),
            start: t0,
            end: now(&recorder),
        });
    }
    if setup.is_ok() && !stop.is_set() {
        if let Some(g) = workload.final_generator() {
            let d = Duration::from_secs_f64(w.final_time_limit);
            log.info(format!("final reads (at most {:.0} s)", w.final_time_limit));
            term.phase("final", Some(d));
            let t0 = now(&recorder);
            let plan = PhasePlan {
                name: "final",
                generator: g,
                rng: rng(spec.seed, Stream::Final),
                pacer: None,
                limit: d,
                grace: Duration::ZERO,
            };
            worker::run_phase(&env, workers, plan).await;
            phases.push(Phase {
                name: "final".into(),
                start: t0,
                end: now(&recorder),
            });
        }
    }
    let (history, err) = recorder.finish();
    if let Some(e) = err {
        log.warn(format!("history: {e}"));
        facts.warnings.push(format!("history: {e}"));
    }
    facts.phases = phases;
    facts.interrupted = stop.reason();
    if let Err(e) = setup {
        return Err(RunError::Internal(format!(
            "nemesis {nemesis_name} setup failed: {e}"
        )));
    }
    term.finish();
    Ok(Finished { history, facts })
}

#[cfg(test)]
mod setup_error_tests {
    use super::*;
    use crate::db::DbError;
    use crate::remote::RemoteError;

    #[test]
    fn unreachable_or_unready_nodes_are_the_users_to_fix() {
        let bad = [
            DbError::NotReady {
                node: "n2".into(),
                reason: "no answer".into(),
            },
            DbError::Remote(RemoteError::Unreachable {
                node: "n3".into(),
                reason: "connection refused".into(),
            }),
        ];
        for e in bad {
            let r = setup_error(&e, format!("refkv setup: {e}"));
            assert!(
                matches!(r, RunError::BadInput(ref m) if m.contains("n")),
                "{r:?}"
            );
        }
        let r = setup_error(&DbError::Other("boom".into()), "refkv setup: boom".into());
        assert!(matches!(r, RunError::Internal(_)), "{r:?}");
    }
}
