//! The worker interpreter: `concurrency` workers, each a logical client
//! thread, ask the phase's generator for ops, wait for their pacing slot,
//! invoke the op through the workload and record invoke and completion.
//!
//! Rules (Jepsen's): one op in flight per process; a worker whose op ends
//! in `info` — or is still in flight when a phase is cut off — continues as
//! a new process (`process + concurrency`) with a freshly opened client,
//! since the old op may still take effect at any time. Worker `i` talks to
//! node `i mod nodes`, so clients spread over the cluster. A phase ends
//! when its generator is done, its time limit passes, or the run is
//! stopped; ops in flight then get `grace` to complete, after which they
//! are abandoned (their invokes stay without completion, which counts as
//! `info`).

use super::log::RunLog;
use super::recorder::Recorder;
use super::schedule::Pacer;
use super::signals::Stop;
use crate::client::KvClient;
use crate::db::Cluster;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType, Process};
use crate::workload::Workload;
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every worker of a run shares.
pub struct Env {
    /// The workload.
    pub workload: Arc<dyn Workload>,
    /// The cluster (for opening clients).
    pub cluster: Cluster,
    /// The history.
    pub recorder: Arc<Recorder>,
    /// The log and terminal.
    pub log: Arc<RunLog>,
    /// The stop flag.
    pub stop: Stop,
}

/// One worker thread's state, carried from phase to phase.
pub struct Worker {
    /// Stable thread number, `0..concurrency`.
    pub thread: usize,
    /// Its current process number.
    pub process: u64,
    /// The node it talks to (index into the cluster's nodes).
    pub node: usize,
    /// Its client.
    pub client: Arc<dyn KvClient>,
    /// True while an op is invoked and not completed.
    pub in_flight: bool,
}

impl Worker {
    /// Workers `0..n`, spread over the nodes, each with a fresh client.
    pub fn spawn_all(env: &Env, n: usize) -> Vec<Worker> {
        let nodes = env.cluster.nodes.len().max(1);
        (0..n)
            .map(|thread| {
                let node = thread % nodes;
                Worker {
                    thread,
                    process: thread as u64,
                    node,
                    client: open(env, node),
                    in_flight: false,
                }
            })
            .collect()
    }
}

/// A fresh client for node `node` (the cluster has at least one node:
/// the runner checks).
fn open(env: &Env, node: usize) -> Arc<dyn KvClient> {
    let nodes = &env.cluster.nodes;
    env.cluster
        .db
        .client(&env.cluster, &nodes[node % nodes.len().max(1)])
}

/// One phase's ops.
pub struct PhasePlan {
    /// Its name (for the log).
    pub name: &'static str,
    /// What to run.
    pub generator: Box<dyn Generator>,
    /// The generator's RNG.
    pub rng: ChaCha8Rng,
    /// Pacing (`None`: as fast as the workers go).
    pub pacer: Option<Pacer>,
    /// No op starts after this long.
    pub limit: Duration,
    /// How long ops in flight at the end may take to complete.
    pub grace: Duration,
    /// What ends the phase early: the run's stop flag, or (main phase) a
    /// flag also set by online checking under `--stop-on-anomaly`.
    pub stop: Stop,
}

struct GenState {
    generator: Box<dyn Generator>,
    rng: ChaCha8Rng,
    pacer: Option<Pacer>,
}

/// How long in-flight ops get after a stop signal.
const STOP_GRACE: Duration = Duration::from_secs(2);

use crate::sync::lock;

/// Run one phase over `workers`; returns them, ready for the next phase.
pub async fn run_phase(env: &Arc<Env>, workers: Vec<Worker>, plan: PhasePlan) -> Vec<Worker> {
    let threads = workers.len();
    let start = Instant::now();
    let deadline = start + plan.limit;
    let gen = Arc::new(Mutex::new(GenState {
        generator: plan.generator,
        rng: plan.rng,
        pacer: plan.pacer,
    }));
    let slots: Vec<Arc<Mutex<Worker>>> = workers
        .into_iter()
        .map(|w| Arc::new(Mutex::new(w)))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for slot in &slots {
        let (env, gen, slot) = (env.clone(), gen.clone(), slot.clone());
        let stop = plan.stop.clone();
        set.spawn(async move { work(env, gen, slot, &stop, threads, start, plan.limit).await });
    }
    let hard = tokio::time::sleep_until((deadline + plan.grace).into());
    tokio::pin!(hard);
    let mut stopped = plan.stop.is_set();
    if stopped {
        hard.as_mut().reset((Instant::now() + STOP_GRACE).into());
    }
    loop {
        tokio::select! {
            r = set.join_next() => {
                match r {
                    None => break,
                    Some(Err(e)) if e.is_panic() => {
                        env.log.warn(format!("{} phase: a worker panicked; its op counts as info", plan.name));
                    }
                    _ => {}
                }
            }
            _ = &mut hard => {
                if !set.is_empty() {
                    env.log.info(format!(
                        "{} phase: abandoning {} op(s) still in flight (they count as info)",
                        plan.name,
                        set.len()
                    ));
                }
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
            _ = plan.stop.wait(), if !stopped => {
                stopped = true;
                let t = (Instant::now() + STOP_GRACE).min(deadline + plan.grace);
                hard.as_mut().reset(t.into());
            }
        }
    }
    slots
        .into_iter()
        .map(|s| {
            let mut w = match Arc::try_unwrap(s) {
                Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
                Err(s) => {
                    // A task still holds it (cannot happen after join); copy.
                    let g = lock(&s);
                    Worker {
                        thread: g.thread,
                        process: g.process,
                        node: g.node,
                        client: g.client.clone(),
                        in_flight: true,
                    }
                }
            };
            if w.in_flight {
                w.in_flight = false;
                w.process += threads as u64;
                w.client = open(env, w.node);
            }
            w
        })
        .collect()
}

async fn work(
    env: Arc<Env>,
    gen: Arc<Mutex<GenState>>,
    slot: Arc<Mutex<Worker>>,
    stop: &Stop,
    threads: usize,
    start: Instant,
    limit: Duration,
) {
    let thread = lock(&slot).thread;
    loop {
        if stop.is_set() || start.elapsed() >= limit {
            return;
        }
        let now = start.elapsed();
        let next = {
            let mut g = lock(&gen);
            let g = &mut *g;
            let ctx = GenCtx {
                elapsed: now,
                thread,
                threads,
            };
            match g.generator.next(&ctx, &mut g.rng) {
                Next::Op { f, key, value } => {
                    let at = g.pacer.as_mut().map(|p| p.slot(now));
                    Some((f, key, value, at))
                }
                Next::Pending => None,
                Next::Done => return,
            }
        };
        let Some((f, key, value, at)) = next else {
            if !stop.sleep(Duration::from_millis(1)).await {
                return;
            }
            continue;
        };
        if let Some(at) = at {
            if at >= limit {
                return;
            }
            let wait = at.saturating_sub(start.elapsed());
            if !wait.is_zero() && !stop.sleep(wait).await {
                return;
            }
        }
        let (process, client, node) = {
            let w = lock(&slot);
            (w.process, w.client.clone(), w.node)
        };
        let mut op = Op::invoke(Process::Client(process), f, value);
        op.key = key;
        op.node = env.cluster.nodes.get(node).map(|n| n.name.clone());
        let op = {
            // Mark in flight before the invoke is visible, so an abort in
            // between still moves the worker to a new process.
            lock(&slot).in_flight = true;
            env.recorder.record(op)
        };
        let mut done = env.workload.invoke(client.as_ref(), &op).await;
        done.process = op.process;
        done.node.clone_from(&op.node);
        if done.kind == OpType::Invoke {
            done.kind = OpType::Info;
            done.error = Some("the workload returned an invoke as completion".into());
        }
        let kind = done.kind;
        env.recorder.record(done);
        env.log.terminal().count(kind);
        let mut w = lock(&slot);
        w.in_flight = false;
        if kind == OpType::Info {
            w.process += threads as u64;
            w.client = open(&env, w.node);
        }
    }
}
