//! Runner throughput: a full `faultline test` run against the in-process
//! `memory` db (every client one shared `MemoryKv`), rate 0 (as fast as the
//! workers go), the history streamed to `history.jsonl`. Prints sustained
//! client ops per second over the main phase. Target: at least 20,000.
//!
//! `cargo bench --bench runner` (env `FAULTLINE_BENCH_SECS`, default 5;
//! `FAULTLINE_BENCH_WORKERS`, default 8).

use faultline::runner::{self, RunOptions};
use faultline::spec::TestSpec;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs: f64 = env_or("FAULTLINE_BENCH_SECS", 5.0);
    let workers: usize = env_or("FAULTLINE_BENCH_WORKERS", 8);
    let tmp = tempfile::tempdir().expect("tempdir");
    for workload in ["register", "set"] {
        let mut spec = TestSpec::memory(workload, 5, workers, secs, tmp.path());
        spec.name = format!("bench-{workload}");
        spec.workload.rate = 0.0;
        spec.workload.stagger = false;
        spec.workload.recovery = 0.0;
        spec.workload.final_time_limit = 10.0;
        let t = std::time::Instant::now();
        let out = runner::run(&spec, &RunOptions::quiet()).expect("run");
        let r = &out.results;
        let main = r
            .phases
            .iter()
            .find(|p| p.name == "main")
            .expect("a main phase");
        let main_s = (main.end - main.start) as f64 / 1e9;
        let history_mb = std::fs::metadata(out.dir.join("history.jsonl"))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0);
        println!(
            "runner/{workload}: {} ops in {main_s:.2} s main phase = {:.0} ops/s \
             ({workers} workers, history {history_mb:.1} MB streamed; verdict {}; \
             check {:.2} s; whole run {:.2} s)",
            r.ops.invoke,
            r.ops.invoke as f64 / main_s,
            r.valid,
            r.check_seconds,
            t.elapsed().as_secs_f64()
        );
    }
}
