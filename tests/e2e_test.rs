//! `faultline test` end to end, through the real binary, on real local
//! refkv clusters (network namespaces, iptables, libfaketime): the
//! correct build is valid under every nemesis family, the refkv bugs are
//! caught (exit 1), and a run killed with SIGKILL leaves a history that
//! `faultline analyze` checks and leftovers that `faultline heal` removes.
//! Needs root; skips otherwise. Each run is 30 s of faults plus setup,
//! recovery and final reads.

mod local_common;
use local_common::{root_or_skip, serial};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn faultline(results: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("test")
        .args(args)
        .arg("--results")
        .arg(results)
        .env("NO_COLOR", "1")
        .output()
        .expect("run faultline")
}

fn tail(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Run `faultline test ARGS` (space-separated) and expect `code`; returns
/// the output for more checks.
fn expect(args: &str, code: i32) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let argv: Vec<&str> = args.split_whitespace().collect();
    let out = faultline(dir.path(), &argv);
    assert_eq!(
        out.status.code(),
        Some(code),
        "faultline test {args}\n{}",
        tail(&out)
    );
    out
}

#[test]
fn correct_refkv_is_valid_under_every_nemesis_family() {
    if !root_or_skip("correct_refkv_is_valid_under_every_nemesis_family") {
        return;
    }
    let _s = serial();
    for family in ["partition", "kill", "pause", "clock", "loss"] {
        let out = expect(
            &format!("--nemesis {family} --interval 3 --time-limit 30 --seed 1"),
            0,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("verdict: VALID"), "{family}: {stdout}");
    }
}

#[test]
fn bug_stale_read_is_caught_under_all_faults() {
    if !root_or_skip("bug_stale_read_is_caught_under_all_faults") {
        return;
    }
    let _s = serial();
    let out = expect(
        "--bug stale-read --nemesis all --interval 2 --time-limit 30 --seed 1 --test-count 3",
        1,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verdict: INVALID"));
}

#[test]
fn bug_no_fsync_is_caught_by_crashing_the_cluster() {
    if !root_or_skip("bug_no_fsync_is_caught_by_crashing_the_cluster") {
        return;
    }
    let _s = serial();
    expect(
        "--bug no-fsync --nemesis crash --workload set --time-limit 30 --seed 1 --test-count 3",
        1,
    );
}

#[test]
fn bug_lease_read_is_caught_by_clocks_going_back_while_the_leader_is_cut_off() {
    if !root_or_skip("bug_lease_read_is_caught_by_clocks_going_back_while_the_leader_is_cut_off") {
        return;
    }
    let _s = serial();
    expect("--cluster refkv-fast-timeout --bug lease-read --nemesis skew-partition --workload register-reads --time-limit 40 --seed 1 --test-count 3", 1);
}

/// The same run without the bug finds nothing: the nemesis and workload
/// that catch lease-read do not produce false alarms.
#[test]
fn correct_refkv_is_valid_under_the_lease_read_setup() {
    if !root_or_skip("correct_refkv_is_valid_under_the_lease_read_setup") {
        return;
    }
    let _s = serial();
    expect("--cluster refkv-fast-timeout --nemesis skew-partition --workload register-reads --time-limit 40 --seed 1", 0);
}

/// What a run could leave behind, found without faultline's own code.
/// Run `faultline test ARGS`, expect `code`, and return every
/// `start-election` outcome the history records.
fn election_outcomes(args: &str, code: i32) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let argv: Vec<&str> = args.split_whitespace().collect();
    let out = faultline(dir.path(), &argv);
    assert_eq!(
        out.status.code(),
        Some(code),
        "faultline test {args}\n{}",
        tail(&out)
    );
    let mut outcomes = Vec::new();
    for entry in walk(dir.path()) {
        if entry.file_name().and_then(|n| n.to_str()) != Some("history.jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&entry).expect("history");
        for line in text.lines() {
            let Ok(op) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if op["f"] == "start-election" && op["type"] == "ok" {
                outcomes.push(op["value"]["outcome"].as_str().unwrap_or("?").to_string());
            }
        }
    }
    outcomes
}

/// Every file under `dir` (results directories are shallow).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// One choreography case: `faultline test ARGS` exits `code`, and the
/// history records the outcome `reached` at least once and `never` (an
/// outcome prefix) no time — so the run got to the decisive step, and what
/// happened there is what the verdict says.
fn choreography_case(name: &str, args: &str, code: i32, reached: &str, never: Option<&str>) {
    if !root_or_skip(name) {
        return;
    }
    let _s = serial();
    let outcomes = election_outcomes(args, code);
    assert!(
        outcomes.iter().any(|o| o == reached),
        "{name}: never {reached}: {outcomes:?}"
    );
    if let Some(never) = never {
        assert!(
            !outcomes.iter().any(|o| o.starts_with(never)),
            "{name}: {never}: {outcomes:?}"
        );
    }
}

#[test]
fn bug_vote_twice_is_caught_by_the_double_vote_choreography() {
    choreography_case(
        "bug_vote_twice_is_caught_by_the_double_vote_choreography",
        "--cluster refkv-3-slow-election --bug vote-twice --nemesis double-vote \
         --time-limit 25 --seed 1 --test-count 3",
        1,
        "two-leaders",
        None,
    );
}

#[test]
fn correct_refkv_is_valid_under_the_double_vote_choreography() {
    // The voter kept its vote across the restart.
    choreography_case(
        "correct_refkv_is_valid_under_the_double_vote_choreography",
        "--cluster refkv-3-slow-election --nemesis double-vote --time-limit 45 --seed 1",
        0,
        "voter-refused",
        Some("two-leaders"),
    );
}

#[test]
fn bug_commit_old_term_is_caught_by_the_figure_8_choreography() {
    choreography_case(
        "bug_commit_old_term_is_caught_by_the_figure_8_choreography",
        "--cluster refkv-figure-8 --bug commit-old-term --nemesis figure-8 --workload set \
         --time-limit 40 --seed 1 --test-count 3",
        1,
        "old-entry-committed-then-lost",
        None,
    );
}

#[test]
fn correct_refkv_is_valid_under_the_figure_8_choreography() {
    // The leader did not commit the old entry by counting replicas.
    choreography_case(
        "correct_refkv_is_valid_under_the_figure_8_choreography",
        "--cluster refkv-figure-8 --nemesis figure-8 --workload set --time-limit 40 --seed 1",
        0,
        "old-entry-not-committed",
        Some("old-entry-committed"),
    );
}

fn leftovers() -> Vec<String> {
    // `[ ]` keeps the process pattern from matching this shell's own
    // command line.
    let checks = [
        ("namespaces", "ip netns list | grep '^faultline-' || true"),
        ("processes", "pgrep -af '[ ]node --id ' || true"),
        ("rules", "iptables -S FORWARD | grep faultline || true"),
        (
            "links",
            "ip -o link show | grep -E 'faultline0|faultline-h' || true",
        ),
        (
            "faketime files",
            "ls /run/faultline/faketime 2>/dev/null || true",
        ),
    ];
    let mut found = Vec::new();
    for (what, cmd) in checks {
        let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !text.is_empty() {
            found.push(format!("{what}: {text}"));
        }
    }
    found
}

#[test]
fn sigkill_mid_run_leaves_a_checkable_history_and_heal_cleans_up() {
    if !root_or_skip("sigkill_mid_run_leaves_a_checkable_history_and_heal_cleans_up") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--nemesis",
            "partition,clock",
            "--interval",
            "1",
            "--time-limit",
            "60",
            "--seed",
            "5",
            "--results",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn faultline test");
    // Long enough for the cluster to serve and a few faults to start.
    std::thread::sleep(Duration::from_secs(6));
    child.kill().expect("SIGKILL faultline");
    child.wait().expect("reap");

    let latest = dir.path().join("latest");
    let history = std::fs::read_to_string(latest.join("history.jsonl")).expect("history.jsonl");
    assert!(
        history.lines().count() > 50,
        "the killed run recorded only {} ops",
        history.lines().count()
    );
    assert!(history.contains("\"nemesis\""), "no nemesis op recorded");
    assert!(
        !leftovers().is_empty(),
        "a SIGKILLed run should leave its cluster behind for heal to find"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("analyze")
        .arg(&latest)
        .env("NO_COLOR", "1")
        .output()
        .expect("analyze");
    // The run never finished: its verdict is unknown (exit 2), not valid.
    assert_eq!(out.status.code(), Some(2), "analyze: {}", tail(&out));
    assert!(latest.join("results.json").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("heal")
        .output()
        .expect("heal");
    assert_eq!(out.status.code(), Some(0), "heal: {}", tail(&out));
    assert_eq!(leftovers(), Vec::<String>::new(), "heal left these behind");
    // A second heal finds nothing to do.
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("heal")
        .output()
        .expect("heal");
    assert_eq!(out.status.code(), Some(0));
}
