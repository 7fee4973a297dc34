//! report.html benchmark: `cargo bench --bench report`.
//!
//! Issue 15's target: the report of a 1,000,000-op history is written in
//! under 5 s and is under 20 MB. The history is generated (register
//! workload shape: 200 workers over 100 keys, reads, writes and cas, about
//! 3 % `info` completions, each moving its worker to a new process, so a
//! few thousand processes in all; a partition every 20 s for 8 s, with
//! phases), the results are made up around it (one real linearizability
//! report of an invalid key, so the anomaly section is drawn too), and
//! the run is "stored" in a temporary directory.
//!
//! Rows: `render` (the HTML text only) and `write` (render, plots' PNGs,
//! the file written), each the median of 3 runs (min in brackets), with
//! the file's size. `--ops N` changes the history's size (history ops,
//! invokes and completions counted apart).

use faultline::checker::linearizable::{Linearizable, LinearizableOptions, ModelKind, NilRead};
use faultline::checker::{CheckResult, Checker, Validity};
use faultline::history::{History, Key, Op, OpType, Process};
use faultline::nemesis::intervals::FaultInterval;
use faultline::report::html;
use faultline::report::latency::{latencies, op_counts};
use faultline::report::results::{NemesisSummary, Phase, Results};
use faultline::report::stored::StoredRun;
use faultline::spec::TestSpec;
use faultline::store::RunDir;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A register-shaped history of about `n` ops (invokes and completions).
fn generate(n: usize, seed: u64) -> History {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let workers = 200u64;
    let mut ops: Vec<Op> = Vec::with_capacity(n + 200);
    // Per worker: its process, and the op in flight (completion time, op).
    let mut process: Vec<u64> = (0..workers).collect();
    let mut in_flight: Vec<Option<(u64, Op)>> = vec![None; workers as usize];
    let mut t: u64 = 0;
    let mut value = 0u64;
    let mut next_fault = 5_000_000_000u64;
    let mut fault_on = false;
    while ops.len() < n {
        t += rng.gen_range(500..1500) * 1000; // about 1 ms per step
                                              // The nemesis: a partition every 20 s, for 8 s.
        if t >= next_fault {
            let f = if fault_on {
                "stop-partition"
            } else {
                "start-partition"
            };
            let v = if fault_on {
                Value::Null
            } else {
                json!({"isolated": ["n1"], "rest": ["n2", "n3", "n4", "n5"]})
            };
            let mut inv = Op::invoke(Process::Nemesis, f, v.clone());
            inv.time = t;
            let mut done = inv.clone();
            done.kind = OpType::Ok;
            done.time = t + 1_000_000;
            ops.push(inv);
            ops.push(done);
            next_fault += if fault_on {
                12_000_000_000
            } else {
                8_000_000_000
            };
            fault_on = !fault_on;
        }
        let w = rng.gen_range(0..workers) as usize;
        match in_flight[w].take() {
            Some((done_at, op)) if done_at <= t => {
                let roll: f64 = rng.gen();
                let kind = if roll < if fault_on { 0.15 } else { 0.01 } {
                    OpType::Info
                } else if op.f == "cas" && roll < 0.4 {
                    OpType::Fail
                } else {
                    OpType::Ok
                };
                let v = if op.f == "read" && kind == OpType::Ok {
                    json!(rng.gen_range(0..5))
                } else {
                    op.value.clone()
                };
                let mut c = op.complete(kind, v);
                c.time = t;
                if kind == OpType::Info {
                    c.error = Some(json!("timeout: no answer from n1 within 1 s"));
                    // Jepsen's convention, as the runner's: process + workers.
                    process[w] += workers;
                }
                ops.push(c);
            }
            Some(busy) => in_flight[w] = Some(busy),
            None => {
                let (f, v) = match rng.gen_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => {
                        value += 1;
                        ("write", json!(value % 5))
                    }
                    _ => ("cas", json!([rng.gen_range(0..5), rng.gen_range(0..5)])),
                };
                let mut op = Op::invoke(Process::Client(process[w]), f, v);
                op.key = Some(Key::Int(rng.gen_range(0..100)));
                op.node = Some(format!("n{}", 1 + w % 5));
                op.time = t;
                let latency = rng.gen_range(1_000_000..20_000_000);
                ops.push(op.clone());
                in_flight[w] = Some((t + latency, op));
            }
        }
    }
    History::new(ops)
}

/// A real linearizability report of one invalid key (a stale read), so
/// the anomaly section has something to draw.
fn anomaly() -> CheckResult {
    let mk = |p: u64, kind: OpType, f: &str, v: Value, ms: u64| {
        let mut o = Op::invoke(Process::Client(p), f, v);
        o.kind = kind;
        o.time = ms * 1_000_000;
        o.key = Some(Key::Int(7));
        o
    };
    let h = History::new(vec![
        mk(0, OpType::Invoke, "write", json!(1), 10),
        mk(0, OpType::Ok, "write", json!(1), 12),
        mk(1, OpType::Invoke, "read", Value::Null, 20),
        mk(1, OpType::Ok, "read", json!(0), 25),
    ]);
    Linearizable(LinearizableOptions {
        model: ModelKind::CasRegister,
        init: Value::Null,
        nil_read: NilRead::Empty,
        ..Default::default()
    })
    .check(&h)
    .expect("checkable")
}

fn results(h: &History, spec: &TestSpec) -> Results {
    let (intervals, _) = faultline::nemesis::intervals::of_run(h, &spec.nemesis.config);
    let end = h.ops.last().map_or(0, |o| o.time);
    let phases = vec![
        Phase {
            name: "main".into(),
            start: 0,
            end: end * 9 / 10,
        },
        Phase {
            name: "heal".into(),
            start: end * 9 / 10,
            end: end * 9 / 10 + 1_000_000_000,
        },
        Phase {
            name: "final".into(),
            start: end * 9 / 10 + 1_000_000_000,
            end,
        },
    ];
    let availability = faultline::report::availability::compute(h, &intervals, &phases);
    let _: &[FaultInterval] = &intervals;
    Results {
        test: spec.name.clone(),
        seed: spec.seed,
        valid: Validity::Invalid,
        history_valid: Some(Validity::Invalid),
        start: "2026-01-01T00:00:00Z".into(),
        interrupted: None,
        checkers: vec![anomaly()],
        ops: op_counts(h),
        latency: latencies(h),
        nemesis: NemesisSummary {
            name: "partition".into(),
            intervals,
            quorum_share: Some(0.6),
            skipped: Vec::new(),
            errors: Vec::new(),
        },
        phases,
        warnings: Vec::new(),
        check_seconds: 0.0,
        promise: None,
        availability: Some(availability),
        leader_changes: None,
        online: None,
    }
}

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[reps / 2], times[0], last.expect("reps > 0"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--ops")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("temporary directory");
    let mut spec = TestSpec::memory("register", 5, 200, 1000.0, tmp.path());
    spec.name = "bench-register-partition".into();
    spec.nemesis.name = "partition".into();
    spec.nemesis.config.faults = vec!["partition".into()];
    let t = Instant::now();
    let history = generate(n, 42);
    let results = results(&history, &spec);
    let run = StoredRun {
        dir: RunDir::open(tmp.path()),
        spec,
        history,
        history_warnings: Vec::new(),
        results: Some(results),
    };
    let client = run.history.ops.iter().filter(|o| o.is_client()).count();
    let procs: std::collections::HashSet<_> = run.history.ops.iter().map(|o| o.process).collect();
    println!(
        "history: {} ops ({} client, {} processes, {:.0} s), generated in {:.1} s",
        run.history.len(),
        client,
        procs.len(),
        run.history.ops.last().map_or(0, |o| o.time) as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let (med, min, text) = time(3, || html::render_run(&run));
    println!(
        "render:  {:.2} s (min {:.2} s), {:.1} MB",
        med.as_secs_f64(),
        min.as_secs_f64(),
        text.len() as f64 / 1e6
    );
    let (med, min, written) = time(3, || html::write(&run).expect("report written"));
    let size = std::fs::metadata(&written.html).map_or(0, |m| m.len());
    println!(
        "write:   {:.2} s (min {:.2} s), report.html {:.1} MB, {} PNG(s){}",
        med.as_secs_f64(),
        min.as_secs_f64(),
        size as f64 / 1e6,
        written.pngs.len(),
        if written.warnings.is_empty() {
            String::new()
        } else {
            format!(", warnings: {}", written.warnings.join("; "))
        }
    );
    let ok = med.as_secs_f64() < 5.0 && size < 20_000_000;
    println!(
        "target (< 5 s, < 20 MB): {}",
        if ok { "met" } else { "MISSED" }
    );
    if let Ok(out) = std::env::var("FAULTLINE_BENCH_KEEP") {
        let _ = std::fs::copy(&written.html, &out);
        println!("kept a copy in {out}");
    }
}
