//! SIGTERM in the middle of a run stops it early and cleanly: the main
//! phase ends at once, the heal still runs, the partial history is checked
//! and stored, and `results.json` says why the run was cut short. (Its own
//! test binary: a signal reaches every run of the process.)

use faultline::checker::Validity;
use faultline::runner::{self, RunOptions};
use faultline::spec::TestSpec;
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_run_heals_and_stores_a_checked_history() {
    // Install the SIGTERM handler before anything can send the signal, so
    // an early signal cannot kill the test process (tokio never removes it).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let _installed =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = TestSpec::memory("set", 2, 3, 60.0, tmp.path());
    spec.name = "memory-sigterm".into();
    spec.workload.rate = 200.0;
    spec.workload.recovery = 10.0;
    let killer = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(1500));
        nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
    });
    let t = Instant::now();
    let out = runner::run(&spec, &RunOptions::quiet()).expect("run");
    killer.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(out.results.interrupted.as_deref(), Some("SIGTERM"));
    let phases: Vec<&str> = out.results.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        phases,
        ["main", "heal"],
        "no recovery, no final reads after a stop"
    );
    assert!(out.results.ops.invoke > 100);
    // A set run without its final read has nothing to lose: not invalid.
    assert_ne!(
        out.verdict,
        Validity::Invalid,
        "{:#?}",
        out.results.checkers
    );
    assert!(out.dir.join("results.json").exists());
}
