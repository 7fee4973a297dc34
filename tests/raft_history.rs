//! Client-level checking of the Raft simulator: every seed's client history
//! (writes answered through the server's waiter rules, reads through
//! ReadIndex) is checked by faultline's own linearizability checker, on top
//! of the simulator's Raft invariants. Also the counted catch rate of each
//! switchable bug under random simulation alone.
//!
//! - `RAFT_HISTORY_SEEDS=N` changes the default seed count (600 in release,
//!   40 in debug); `RAFT_HISTORY_SEED=S` replays one seed.
//! - `cargo test --release --test raft_history -- --ignored --nocapture`
//!   runs the 10,000-seed run and prints the catch-rate table
//!   (`RAFT_CATCH_BUGS=commit-old-term,vote-twice` limits it to some bugs,
//!   `RAFT_CATCH_SEEDS=N` changes the 1,000).

use std::time::{Duration, Instant};

use faultline::checker::linearizable::{Linearizable, LinearizableOptions, ModelKind, NilRead};
use faultline::checker::Validity;
use faultline::history::{History, Key, Op, OpType, Process};
use faultline::refkv::bugs::{Bug, Bugs};
use faultline::refkv::raft::sim::{ClientEvent, FaultCounts, Sim, SimFailure, SimOptions};
use serde_json::Value;

/// The simulated clients' events as a faultline history: one process per op
/// (so any concurrency is allowed), keys as `key`, times in ns.
fn history_of(events: &[ClientEvent]) -> History {
    use std::collections::HashMap;
    let mut invokes: HashMap<u64, Op> = HashMap::new();
    let mut ops = Vec::new();
    let ns = |ms: u64| ms * 1_000_000;
    for e in events {
        match *e {
            ClientEvent::Invoke {
                op,
                key,
                write,
                node,
                at_ms,
            } => {
                let (f, value) = match write {
                    Some(v) => ("write", Value::from(v)),
                    None => ("read", Value::Null),
                };
                let mut o = Op::invoke(Process::Client(op), f, value);
                o.key = Some(Key::Int(key as i64));
                o.time = ns(at_ms);
                o.node = Some(format!("n{node}"));
                invokes.insert(op, o.clone());
                ops.push(o);
            }
            ClientEvent::Ok { op, value, at_ms } => {
                if let Some(inv) = invokes.get(&op) {
                    let v = value.map(Value::from).unwrap_or(Value::Null);
                    let mut c = inv.complete(OpType::Ok, v);
                    c.time = ns(at_ms);
                    ops.push(c);
                }
            }
            ClientEvent::Fail { op, at_ms } | ClientEvent::Info { op, at_ms } => {
                if let Some(inv) = invokes.get(&op) {
                    let kind = if matches!(e, ClientEvent::Fail { .. }) {
                        OpType::Fail
                    } else {
                        OpType::Info
                    };
                    let mut c = inv.complete(kind, inv.value.clone());
                    c.time = ns(at_ms);
                    ops.push(c);
                }
            }
        }
    }
    History::new(ops)
}

fn checker() -> Linearizable {
    checker_within(Duration::from_secs(5))
}

fn checker_within(limit: Duration) -> Linearizable {
    Linearizable(LinearizableOptions {
        model: ModelKind::Register,
        init: Value::Null,
        nil_read: NilRead::Empty,
        time_limit: Some(limit),
        memory_limit: Some(256 << 20),
        all_keys: false,
    })
}

/// How one seed ended.
#[derive(Debug)]
enum Outcome {
    /// Invariants held and the history is linearizable.
    Valid { ops: usize, faults: FaultCounts },
    /// The checker could not decide within its budget.
    Unknown(String),
    /// An invariant of the simulator broke.
    Invariant(SimFailure),
    /// The history is not linearizable.
    NotLinearizable(String),
}

fn run_seed(o: SimOptions) -> Outcome {
    run_seed_within(o, Duration::from_secs(5))
}

fn run_seed_within(o: SimOptions, limit: Duration) -> Outcome {
    let seed = o.seed;
    let mut sim = Sim::new(o);
    let stats = match sim.run() {
        Ok(s) => s,
        Err(f) => return Outcome::Invariant(f),
    };
    let h = history_of(sim.client_history());
    match checker_within(limit).analyze(&h) {
        Ok(r) => match r.valid {
            Validity::Valid => Outcome::Valid {
                ops: h.len(),
                faults: stats.faults,
            },
            Validity::Unknown => Outcome::Unknown(format!("seed {seed}: {}", r.summary())),
            Validity::Invalid => Outcome::NotLinearizable(format!("seed {seed}: {}", r.summary())),
        },
        Err(e) => Outcome::Unknown(format!("seed {seed}: checker error: {e}")),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// Run `seeds` correct-build seeds from 0; panic on any invariant broken or
/// history not linearizable; return (ops, unknown keys, fault counts).
fn correct_build_over(seeds: u64) -> (usize, u64, FaultCounts) {
    let (mut ops, mut unknown, mut faults) = (0, 0, FaultCounts::default());
    for seed in 0..seeds {
        match run_seed(SimOptions::random(seed, Bugs::none())) {
            Outcome::Valid { ops: n, faults: f } => {
                ops += n;
                faults.add(&f);
            }
            Outcome::Unknown(why) => {
                eprintln!("unknown: {why}");
                unknown += 1;
            }
            Outcome::Invariant(f) => panic!(
                "{f}\nreplay: RAFT_HISTORY_SEED={} cargo test --release --test raft_history",
                f.seed
            ),
            Outcome::NotLinearizable(why) => panic!("not linearizable: {why}"),
        }
    }
    (ops, unknown, faults)
}

#[test]
fn correct_build_histories_are_linearizable_through_the_server_rules() {
    if let Some(seed) = env_u64("RAFT_HISTORY_SEED") {
        let mut o = SimOptions::random(seed, Bugs::none());
        o.trace = std::env::var_os("RAFT_SIM_TRACE").is_some();
        eprintln!("seed {seed}: {:?}", run_seed(o));
        return;
    }
    let seeds =
        env_u64("RAFT_HISTORY_SEEDS").unwrap_or(if cfg!(debug_assertions) { 40 } else { 600 });
    let started = Instant::now();
    let (ops, unknown, _) = correct_build_over(seeds);
    eprintln!(
        "{seeds} seeds, {ops} client ops: linearizable ({unknown} undecided) in {:.1?}",
        started.elapsed()
    );
    assert!(ops > seeds as usize * 100, "clients barely ran: {ops} ops");
    assert!(
        unknown * 100 <= seeds,
        "{unknown} of {seeds} seeds undecided by the checker"
    );
}

/// The conversion and the checker can fail: a real history with one read
/// changed to a value never written is rejected.
#[test]
fn a_tampered_simulator_history_is_rejected() {
    let mut sim = Sim::new(SimOptions::random(3, Bugs::none()));
    sim.run().unwrap_or_else(|f| panic!("{f}"));
    let mut events = sim.client_history().to_vec();
    assert_eq!(
        checker().analyze(&history_of(&events)).unwrap().valid,
        Validity::Valid
    );
    let reads: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Invoke {
                op, write: None, ..
            } => Some(*op),
            _ => None,
        })
        .collect();
    let mut tampered = false;
    for e in events.iter_mut() {
        if let ClientEvent::Ok { op, value, .. } = e {
            if !tampered && reads.contains(op) {
                // Values written are small and unique: this one never was.
                *value = Some(u64::MAX - 1);
                tampered = true;
            }
        }
    }
    assert!(tampered, "the history has an answered read");
    assert_eq!(
        checker().analyze(&history_of(&events)).unwrap().valid,
        Validity::Invalid
    );
}

/// 10,000 seeds of the correct build, each checked by the invariants and the
/// linearizability checker. Prints seeds, time and result.
#[test]
#[ignore = "about ten minutes; run with --ignored --nocapture"]
fn ten_thousand_seeds_linearizable() {
    let seeds = env_u64("RAFT_HISTORY_BIG").unwrap_or(10_000);
    let started = Instant::now();
    let (ops, unknown, faults) = correct_build_over(seeds);
    eprintln!(
        "{seeds} seeds, {ops} client ops: no invariant broken, every history linearizable \
         ({unknown} undecided) in {:.1?}",
        started.elapsed()
    );
    for (name, n) in faults.table() {
        eprintln!("  {name:<20} {n}");
    }
    assert!(unknown * 100 <= seeds);
}

/// How often random simulation alone (no scripted schedule) catches each
/// switchable bug, per 1,000 seeds: by a simulator invariant, or by the
/// linearizability checker on a run that kept every invariant. For
/// `no-fsync` the ack-durability invariant (which restates the bug) is off,
/// so only its consequences count. The checker gets one second per seed
/// here (a history it cannot decide in time counts as not caught).
#[test]
#[ignore = "a few minutes; run with --ignored --nocapture"]
fn catch_rate_of_each_bug_per_thousand_seeds() {
    let seeds = env_u64("RAFT_CATCH_SEEDS").unwrap_or(1_000);
    eprintln!(
        "| bug | seeds caught / {seeds} | by invariant | by checker | undecided | first seed | kinds |"
    );
    eprintln!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut total_caught = 0;
    // RAFT_CATCH_BUGS=a,b limits the table to those bugs.
    let only: Option<Vec<String>> = std::env::var("RAFT_CATCH_BUGS")
        .ok()
        .map(|v| v.split(',').map(|b| b.trim().to_string()).collect());
    // The simulator has no transactions: `txn-split` lives in the server's
    // transaction path, which only a real cluster runs (tests/e2e_test.rs).
    for bug in Bug::ALL.into_iter().filter(|b| *b != Bug::TxnSplit) {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|b| b == bug.name()))
        {
            continue;
        }
        let (mut by_inv, mut by_chk, mut undecided, mut first) = (0u64, 0u64, 0u64, None);
        let mut kinds: std::collections::BTreeMap<String, u64> = Default::default();
        for seed in 0..seeds {
            let mut o = SimOptions::random(seed, bug.into());
            o.check_ack_durability = bug != Bug::NoFsync;
            let caught = match run_seed_within(o, Duration::from_secs(1)) {
                Outcome::Invariant(f) => {
                    let kind = format!("{}", f.violation);
                    let kind = kind.split(':').next().unwrap_or("?").to_string();
                    *kinds.entry(kind).or_default() += 1;
                    by_inv += 1;
                    true
                }
                Outcome::NotLinearizable(_) => {
                    *kinds.entry("not linearizable".into()).or_default() += 1;
                    by_chk += 1;
                    true
                }
                Outcome::Unknown(_) => {
                    undecided += 1;
                    false
                }
                Outcome::Valid { .. } => false,
            };
            if caught && first.is_none() {
                first = Some(seed);
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "| {bug} | {} | {by_inv} | {by_chk} | {undecided} | {} | {} |",
            by_inv + by_chk,
            first.map_or("-".into(), |s| s.to_string()),
            kinds.join(", ")
        );
        total_caught += by_inv + by_chk;
    }
    assert!(total_caught > 0, "random simulation caught no bug at all");
}
