//! SIGTERM, SIGHUP or SIGQUIT in the middle of a run stops it early and
//! cleanly: the main phase ends at once, the heal still runs, the partial
//! history is checked and stored, `results.json` says why the run was cut
//! short, and the verdict is `unknown` (exit 2) — an interrupted run must
//! not pass CI. (Its own test binary: a signal reaches every run of the
//! process, so the SIGHUP and SIGQUIT runs are child processes.)

mod local_common;

use faultline::checker::Validity;
use faultline::runner::{self, RunOptions};
use faultline::spec::TestSpec;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
    // A set run without its final read has nothing to lose: its partial
    // history checks valid, but the run was cut short, so it is unknown.
    assert_eq!(
        out.results.history_valid,
        Some(Validity::Valid),
        "{:#?}",
        out.results.checkers
    );
    assert_eq!(out.verdict, Validity::Unknown);
    assert!(out.dir.join("results.json").exists());
}

/// Send `sig` to `child` once its stderr says the main phase runs, and
/// `after` more; drops the child's stdout and stderr first, as a closed
/// terminal would (every later write fails). Returns the exit code.
fn signal_mid_run(mut child: Child, sig: nix::sys::signal::Signal, after: Duration) -> Option<i32> {
    drop(child.stdout.take());
    let stderr = child.stderr.take().expect("piped stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr");
        let main = line.contains("main phase");
        seen.push(line);
        if main {
            break;
        }
    }
    // Dropped here: the read end closes, the child's writes now fail.
    assert!(
        seen.last().is_some_and(|l| l.contains("main phase")),
        "the run never reached its main phase:\n{}",
        seen.join("\n")
    );
    std::thread::sleep(after);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, sig).expect("signal");
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the run did not end within 120 s of {sig}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stored_results(results: &Path) -> faultline::report::results::Results {
    let path = results.join("latest").join("results.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).expect("results.json parses")
}

/// SIGQUIT (Ctrl-\\) stops a run like SIGTERM; the memory db needs no root.
#[test]
fn sigquit_stops_a_run_which_exits_2_with_its_results_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--cluster",
            "memory",
            "--nemesis",
            "none",
            "--workload",
            "set",
            "--time-limit",
            "60",
            "--results",
        ])
        .arg(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faultline test");
    let t = Instant::now();
    let code = signal_mid_run(
        child,
        nix::sys::signal::Signal::SIGQUIT,
        Duration::from_secs(1),
    );
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(code, Some(2), "an interrupted valid run is unknown");
    let r = stored_results(tmp.path());
    assert_eq!(r.interrupted.as_deref(), Some("SIGQUIT"));
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(r.history_valid, Some(Validity::Valid));
}

/// What a run may leave on the machine, checked while holding the run
/// lock (so no other run is half set up meanwhile): namespaces, and node
/// processes whose command line names `under`.
fn leftovers(under: &Path) -> Vec<String> {
    std::fs::create_dir_all(faultline::remote::local::RUN_DIR).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(Path::new(faultline::remote::local::RUN_DIR).join("lock"))
        .unwrap();
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("the run lock");
    let mut found = Vec::new();
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for l in String::from_utf8_lossy(&ns.stdout).lines() {
        if l.starts_with("faultline-") {
            found.push(format!("namespace {l}"));
        }
    }
    let ps = Command::new("pgrep")
        .arg("-af")
        .arg("node --id")
        .output()
        .unwrap();
    for l in String::from_utf8_lossy(&ps.stdout).lines() {
        if l.contains(&*under.to_string_lossy()) {
            found.push(format!("process {l}"));
        }
    }
    found
}

/// Regression (issue 13): SIGHUP — a closed terminal, a dropped SSH
/// session — killed `faultline test` at once: no heal, no teardown, no
/// results.json; 5 namespaces and 5 node processes stayed behind. Now it
/// stops the run like SIGTERM, even with the terminal gone.
#[test]
fn sighup_mid_run_heals_tears_down_stores_results_and_exits_2() {
    if !local_common::root_or_skip("sighup_mid_run_heals_tears_down_stores_results_and_exits_2") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--nodes",
            "3",
            "--nemesis",
            "partition,kill",
            "--interval",
            "2",
            "--time-limit",
            "60",
            "--seed",
            "5",
            "--results",
        ])
        .arg(tmp.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faultline test");
    // Faults at 2 and 4 s: some are in force when the signal comes.
    let code = signal_mid_run(
        child,
        nix::sys::signal::Signal::SIGHUP,
        Duration::from_secs(5),
    );
    let r = stored_results(tmp.path());
    assert_eq!(r.interrupted.as_deref(), Some("SIGHUP"));
    assert_eq!(code, Some(2), "{:#?}", r.checkers);
    assert_eq!(r.history_valid, Some(Validity::Valid), "{:#?}", r.checkers);
    let phases: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(phases, ["main", "heal"]);
    assert!(!r.nemesis.intervals.is_empty(), "no fault was in force");
    assert!(
        r.nemesis.intervals.iter().all(|i| i.end.is_some()),
        "every fault healed: {:#?}",
        r.nemesis.intervals
    );
    let log = std::fs::read_to_string(tmp.path().join("latest").join("faultline.log")).unwrap();
    assert!(log.contains("cluster torn down"), "{log}");
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}
