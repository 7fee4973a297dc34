//! The smallest possible runner: drive a [`Workload`] against one
//! [`KvClient`] in-process, with `threads` concurrent workers, no rate limit,
//! no nemesis, then its final reads, and return the history.
//!
//! It exists so the workloads and their checkers can be tested end to end
//! (generator → invoke → history → checker) against
//! [`MemoryKv`](crate::client::memory::MemoryKv) without a cluster, and as a
//! reference for the real runner (`src/runner`), which adds rates, phases,
//! nemeses and streaming to disk. It follows the same rules: one seeded RNG
//! for every choice, one op in flight per process, and a worker whose op ends
//! in `info` continues as a new process (`process + threads`).

use super::Workload;
use crate::client::KvClient;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{History, Op, OpType, Process};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How [`drive`] runs.
#[derive(Debug, Clone, Copy)]
pub struct DriveOptions {
    /// Concurrent worker threads.
    pub threads: usize,
    /// Ops of the main phase (all threads together).
    pub ops: usize,
    /// The seed of the one RNG.
    pub seed: u64,
}

struct Shared {
    generator: Box<dyn Generator>,
    rng: ChaCha8Rng,
    issued: usize,
    limit: usize,
    ops: Vec<Op>,
}

/// Run the main phase (`opts.ops` ops) and then the final generator, if any,
/// and return the history.
pub async fn drive(
    workload: Arc<dyn Workload>,
    client: Arc<dyn KvClient>,
    opts: DriveOptions,
) -> History {
    let start = Instant::now();
    let rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let shared = Arc::new(Mutex::new(Shared {
        generator: workload.generator(),
        rng,
        issued: 0,
        limit: opts.ops,
        ops: Vec::new(),
    }));
    let threads = opts.threads.max(1);
    // Process numbers carry over from the main phase to the final one.
    let mut processes: Vec<u64> = (0..threads as u64).collect();
    processes = run_phase(&workload, &client, &shared, processes, start).await;
    if let Some(g) = workload.final_generator() {
        {
            let mut s = lock(&shared);
            s.generator = g;
            s.issued = 0;
            s.limit = usize::MAX;
        }
        run_phase(&workload, &client, &shared, processes, start).await;
    }
    let ops = std::mem::take(&mut lock(&shared).ops);
    History::new(ops)
}

use crate::sync::lock;

async fn run_phase(
    workload: &Arc<dyn Workload>,
    client: &Arc<dyn KvClient>,
    shared: &Arc<Mutex<Shared>>,
    processes: Vec<u64>,
    start: Instant,
) -> Vec<u64> {
    let threads = processes.len();
    let mut set = tokio::task::JoinSet::new();
    for (thread, process) in processes.into_iter().enumerate() {
        let (workload, client, shared) = (workload.clone(), client.clone(), shared.clone());
        set.spawn(async move {
            let mut process = process;
            loop {
                let invoke = {
                    let mut s = lock(&shared);
                    if s.issued >= s.limit {
                        break;
                    }
                    let ctx = GenCtx {
                        elapsed: start.elapsed(),
                        thread,
                        threads,
                    };
                    let s = &mut *s;
                    match s.generator.next(&ctx, &mut s.rng) {
                        Next::Op { f, key, value } => {
                            s.issued += 1;
                            let mut op = Op::invoke(Process::Client(process), f, value);
                            op.key = key;
                            op.time = start.elapsed().as_nanos() as u64;
                            s.ops.push(op.clone());
                            Some(op)
                        }
                        Next::Pending => None,
                        Next::Done => break,
                    }
                };
                let Some(invoke) = invoke else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let mut done = workload.invoke(client.as_ref(), &invoke).await;
                done.process = invoke.process;
                done.time = start.elapsed().as_nanos() as u64;
                let info = done.kind == OpType::Info;
                lock(&shared).ops.push(done);
                if info {
                    process += threads as u64;
                }
            }
            (thread, process)
        });
    }
    let mut out = vec![0; threads];
    while let Some(r) = set.join_next().await {
        if let Ok((thread, process)) = r {
            out[thread] = process;
        }
    }
    out
}
