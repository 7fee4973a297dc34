//! Online checking, `--stop-on-anomaly` and `faultline hunt` against the
//! in-process `memory` db (backend `none`): no root, a few seconds each.
//! A store with stale reads ends its main phase early, invalid, with a
//! complete history; a correct store runs its full time, valid; a hunt
//! measures a time to bug on the faulty store and finds nothing on the
//! correct one.

use faultline::checker::Validity;
use faultline::client::memory::Fault;
use faultline::history::jsonl::read_jsonl;
use faultline::history::OpType;
use faultline::report::results::Results;
use faultline::runner::hunt::{self, HuntPlan, HuntReport};
use faultline::runner::{self, RunOptions};
use faultline::spec::{MemorySpec, TestSpec};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn spec(results: &Path, secs: f64, fault: Fault) -> TestSpec {
    let mut s = TestSpec::memory("register", 3, 4, secs, results);
    s.seed = 5;
    s.workload.rate = 300.0;
    s.workload.recovery = 0.2;
    s.workload.final_time_limit = 5.0;
    s.cluster.memory = Some(MemorySpec { fault });
    s
}

fn read_results(dir: &Path) -> Results {
    let text = std::fs::read(dir.join("results.json")).expect("results.json");
    serde_json::from_slice(&text).expect("results.json parses")
}

fn main_seconds(r: &Results) -> f64 {
    let main = r.phases.iter().find(|p| p.name == "main").expect("main");
    (main.end - main.start) as f64 / 1e9
}

#[test]
fn stop_on_anomaly_ends_the_main_phase_early_and_the_run_is_invalid_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = spec(tmp.path(), 30.0, Fault::StaleReads { every: 3 });
    s.stop_on_anomaly = true;
    let out = runner::run(&s, &RunOptions::quiet()).expect("run");
    assert_eq!(
        out.verdict,
        Validity::Invalid,
        "{:#?}",
        out.results.checkers
    );
    let r = read_results(&out.dir);
    assert_eq!(r.interrupted, None, "an anomaly is no interruption");
    assert!(main_seconds(&r) < 10.0, "main ran {} s", main_seconds(&r));
    let online = r.online.expect("online section");
    assert!(online.stop_on_anomaly);
    let a = online.anomaly.expect("an online anomaly");
    assert_eq!(a.checker, "linearizable");
    assert!(a.seconds > 0.0 && a.seconds < 10.0, "{a:?}");
    assert!(a.ops > 0);
    assert!(!a.at.is_empty());
    assert_eq!(online.stopped_early_at.map(|t| t >= a.seconds), Some(true));
    // The rest of the run happened: heal and recovery, and the final check
    // agrees.
    let names: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["main", "heal", "recovery"]);
    assert_eq!(r.history_valid, Some(Validity::Invalid));
    let h = read_jsonl(out.dir.join("history.jsonl")).unwrap().history;
    let invokes = h.ops.iter().filter(|o| o.kind == OpType::Invoke).count() as u64;
    assert_eq!(r.ops.invoke, invokes);
    assert_eq!(r.ops.ok + r.ops.fail + r.ops.info + r.ops.open, invokes);
    let summary = faultline::report::table::summary(&r_again(&out.dir), &out.dir, false);
    assert!(summary.contains("online: first anomaly at"), "{summary}");
}

fn r_again(dir: &Path) -> Results {
    read_results(dir)
}

#[test]
fn without_the_flag_online_checking_records_the_anomaly_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), 3.0, Fault::StaleReads { every: 3 });
    let out = runner::run(&s, &RunOptions::quiet()).expect("run");
    assert_eq!(out.verdict, Validity::Invalid);
    let r = read_results(&out.dir);
    assert!(main_seconds(&r) >= 2.9, "main ran {} s", main_seconds(&r));
    let online = r.online.expect("online section");
    assert!(!online.stop_on_anomaly);
    assert!(online.anomaly.is_some());
    assert_eq!(online.stopped_early_at, None);
}

#[test]
fn a_correct_store_with_the_flag_runs_its_full_time_and_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = spec(tmp.path(), 3.0, Fault::None);
    s.stop_on_anomaly = true;
    let out = runner::run(&s, &RunOptions::quiet()).expect("run");
    assert_eq!(out.verdict, Validity::Valid, "{:#?}", out.results.checkers);
    let r = read_results(&out.dir);
    assert!(main_seconds(&r) >= 2.9, "main ran {} s", main_seconds(&r));
    let online = r.online.expect("online section");
    assert_eq!(online.checkers, ["linearizable"]);
    assert!(online.checks > 0, "online checking ran");
    assert_eq!(online.anomaly, None);
    assert_eq!(online.stopped_early_at, None);
}

fn check_found(report: &HuntReport, seeds: usize) {
    assert_eq!(report.seeds.len(), seeds);
    for s in &report.seeds {
        assert!(s.found, "{s:#?}");
        assert_eq!(s.by.as_deref(), Some("online"));
        assert!(s.seconds.is_some_and(|t| t > 0.0), "{s:#?}");
        assert!(s.ops.is_some_and(|o| o > 0), "{s:#?}");
        assert!(s
            .dir
            .as_ref()
            .is_some_and(|d| d.join("results.json").exists()));
    }
    assert!(report.median_seconds.is_some());
    assert_eq!(report.verdict(), Validity::Invalid);
}

#[test]
fn hunt_reports_a_time_to_bug_per_seed_on_a_faulty_store() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), 20.0, Fault::StaleReads { every: 5 });
    let plan = HuntPlan {
        budget: Duration::from_secs(30),
        seeds: 2,
    };
    let report = hunt::hunt(&s, &plan, &RunOptions::quiet(), |_| {}).expect("hunt");
    check_found(&report, 2);
    assert_eq!(report.seeds[0].seed, 5);
    assert_eq!(report.seeds[1].seed, 6);
    let stored: HuntReport =
        serde_json::from_slice(&std::fs::read(report.dir.join("hunt.json")).unwrap()).unwrap();
    assert_eq!(stored, report);
    assert!(report.dir.starts_with(tmp.path().join("hunt")));
}

#[test]
fn hunt_on_a_correct_store_finds_nothing_within_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), 2.0, Fault::None);
    let plan = HuntPlan {
        budget: Duration::from_secs(8),
        seeds: 1,
    };
    let started = std::time::Instant::now();
    let report = hunt::hunt(&s, &plan, &RunOptions::quiet(), |_| {}).expect("hunt");
    assert!(started.elapsed() < Duration::from_secs(12));
    let seed = &report.seeds[0];
    assert!(!seed.found);
    assert_eq!(seed.seconds, None);
    assert!(seed.runs >= 1);
    // Each attempt has its own seed, derived from the seed.
    let seeds: std::collections::BTreeSet<u64> = seed.attempts.iter().map(|a| a.seed).collect();
    assert_eq!(seeds.len(), seed.attempts.len());
    assert_eq!(seed.attempts[0].seed, 5);
    assert_eq!(report.median_seconds, None);
    assert_eq!(report.verdict(), Validity::Valid);
}

/// The CLI: exit 1 with a table when a seed found an anomaly, 0 when none
/// did, 254 on a bad flag.
#[test]
fn hunt_command_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = tmp.path().join("stale.yaml");
    std::fs::write(
        &cluster,
        "db: memory\nbackend: none\nnodes: 3\nmemory:\n  fault: {kind: stale-reads, every: 3}\n",
    )
    .unwrap();
    let run = |cluster: &str, budget: &str| {
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["hunt", "--cluster", cluster, "--nemesis", "none"])
            .args(["--time-limit", "3", "--recovery", "0.2", "--rate", "200"])
            .args(["--budget", budget, "--seeds", "1", "--results"])
            .arg(tmp.path())
            .output()
            .expect("faultline runs")
    };
    let found = run(cluster.to_str().unwrap(), "20");
    let text = String::from_utf8_lossy(&found.stdout);
    assert_eq!(
        found.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(text.contains("found: 1/1"), "{text}");
    let none = run("memory", "8");
    let text = String::from_utf8_lossy(&none.stdout);
    assert_eq!(
        none.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&none.stderr)
    );
    assert!(text.contains("found: 0/1"), "{text}");
    let bad = run("memory", "1");
    assert_eq!(bad.status.code(), Some(254));
}
