//! SIGTERM in the middle of a run stops it early and cleanly: the main
//! phase ends at once, the heal still runs, the partial history is checked
//! and stored, and `results.json` says why the run was cut short. (Its own
//! test binary: a signal reaches every run of the process.)

use faultline::checker::Validity;
use faultline::nemesis::package::NemesisConfig;
use faultline::runner::{self, Progress, RunOptions};
use faultline::spec::{ClusterSpec, Concurrency, NemesisSpec, TestSpec, WorkloadSpec};
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
    let spec = TestSpec {
        name: "memory-sigterm".into(),
        cluster: ClusterSpec {
            name: "memory".into(),
            db: "memory".into(),
            backend: "none".into(),
            nodes: 2,
            ..Default::default()
        },
        workload: WorkloadSpec {
            name: "set".into(),
            concurrency: Concurrency::Fixed(3),
            rate: 200.0,
            time_limit: 60.0,
            recovery: 10.0,
            ..Default::default()
        },
        nemesis: NemesisSpec {
            name: "none".into(),
            config: NemesisConfig {
                faults: vec![],
                ..Default::default()
            },
        },
        concurrency: 3,
        seed: 1,
        results_dir: tmp.path().to_path_buf(),
        leave_db_running: false,
        test_count: 1,
    };
    let killer = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(1500));
        nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
    });
    let t = Instant::now();
    let out = runner::run(
        &spec,
        &RunOptions {
            progress: Progress::Quiet,
            ..Default::default()
        },
    )
    .expect("run");
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
