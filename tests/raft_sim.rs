//! Deterministic simulation of the Raft core: many seeds of random faults
//! with the safety invariants checked after every step, liveness after
//! healing. `RAFT_SIM_SEEDS=N` runs more seeds; `RAFT_SIM_SEED=S` replays one
//! seed with a trace.

use faultline::refkv::bugs::Bugs;
use faultline::refkv::raft::sim::{run_seeds, Sim, SimOptions};

fn seeds() -> u64 {
    std::env::var("RAFT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 100 } else { 600 })
}

#[test]
fn correct_build_passes_every_seed() {
    if let Ok(seed) = std::env::var("RAFT_SIM_SEED") {
        let seed: u64 = seed.parse().expect("RAFT_SIM_SEED must be a number");
        let mut o = SimOptions::random(seed, Bugs::none());
        o.trace = std::env::var("RAFT_SIM_TRACE").is_ok();
        match Sim::new(o).run() {
            Ok(s) => eprintln!("seed {seed}: ok {s:?}"),
            Err(f) => panic!("{f}"),
        }
        return;
    }
    let n = seeds();
    match run_seeds(0, n, &Bugs::none()) {
        Ok((n, stats)) => {
            eprintln!("{n} seeds ok: {stats:?}");
            // Every fault kind of the random regime must actually fire.
            eprintln!("faults fired over {n} seeds:");
            for (kind, count) in stats.faults.table() {
                eprintln!("  {kind:<20} {count}");
                assert!(count > 0, "fault kind {kind} never fired in {n} seeds");
            }
        }
        Err(f) => panic!("{f}\nreplay: RAFT_SIM_SEED={} RAFT_SIM_TRACE=1 cargo test --test raft_sim correct_build", f.seed),
    }
}
