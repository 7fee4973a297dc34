//! `faultline test` end to end, through the real binary, on real local
//! refkv clusters (network namespaces, iptables, libfaketime): the
//! correct build is valid under every nemesis family, the refkv bugs are
//! caught (exit 1), and a run killed with SIGKILL leaves a history that
//! `faultline analyze` checks and leftovers that `faultline heal` removes.
//! Needs root; skips otherwise. Each run is 20-40 s of faults plus setup,
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

/// The election outcomes a choreography recipe must reach: (bug build,
/// correct build); `None` for a recipe of random faults.
type Outcomes = Option<(&'static str, &'static str)>;

/// README's bug table, one recipe per refkv bug: the bug, the arguments
/// that catch it (`--bug BUG` added), and the election outcome a run must
/// reach when the recipe is a choreography (bug build, correct build).
/// The correct build runs the same arguments without `--bug`.
const RECIPES: [(&str, &str, Outcomes); 6] = [
    (
        "stale-read",
        "--nemesis all --interval 2 --time-limit 30",
        None,
    ),
    (
        "no-fsync",
        "--nemesis crash --workload set --time-limit 30",
        None,
    ),
    (
        "lease-read",
        "--cluster refkv-fast-timeout --nemesis skew-partition --workload register-reads \
         --time-limit 30",
        Some(("deposed-leader-kept-leading", "old-leader-stepped-down")),
    ),
    (
        "commit-old-term",
        "--cluster refkv-figure-8 --nemesis figure-8 --workload set --time-limit 40",
        Some(("old-entry-committed-then-lost", "old-entry-not-committed")),
    ),
    (
        "vote-twice",
        "--cluster refkv-3-slow-election --nemesis double-vote --time-limit 25",
        Some(("two-leaders", "voter-refused")),
    ),
    (
        "txn-split",
        "--cluster refkv-3 --workload list-append --nemesis partition-kill --interval 3 \
         --time-limit 20",
        None,
    ),
];

fn recipe(bug: &str) -> (&'static str, Outcomes) {
    let (_, args, outcomes) = RECIPES
        .iter()
        .find(|(b, _, _)| *b == bug)
        .expect("a recipe of README's bug table");
    (args, *outcomes)
}

/// What one recipe run gave: its exit code, the history time (seconds
/// since the main phase began) of the first op the checker names as
/// anomalous, and every `start-election` outcome.
struct RecipeRun {
    code: Option<i32>,
    first_anomaly_s: Option<f64>,
    outcomes: Vec<String>,
    /// What each `stop-election` says it healed.
    healed: Vec<String>,
    out: Output,
}

/// Run one recipe on one seed, the bug switched on or not.
fn run_recipe(bug: &str, seed: u64, with_bug: bool) -> RecipeRun {
    let (args, _) = recipe(bug);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut argv: Vec<String> = args.split_whitespace().map(String::from).collect();
    if with_bug {
        argv.extend(["--bug".to_string(), bug.to_string()]);
    }
    argv.extend(["--seed".to_string(), seed.to_string()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    // Other engineers' runs hold the machine-wide lock for a minute at a
    // time; a run refused for that is not a verdict, so wait and retry.
    let mut out = faultline(dir.path(), &argv);
    for _ in 0..20 {
        if out.status.code() != Some(254)
            || !String::from_utf8_lossy(&out.stderr).contains("holds /run/faultline/lock")
        {
            break;
        }
        std::thread::sleep(Duration::from_secs(15));
        out = faultline(dir.path(), &argv);
    }
    let (first_anomaly_s, outcomes, healed) = read_run(dir.path());
    RecipeRun {
        code: out.status.code(),
        first_anomaly_s,
        outcomes,
        healed,
        out,
    }
}

/// From the stored run under `results`: the time of the first op the
/// checkers name (a linearizability failure's op; the acknowledged add of a
/// lost or unexpected set element), the election outcomes and what the
/// `stop-election` ops healed.
fn read_run(results: &Path) -> (Option<f64>, Vec<String>, Vec<String>) {
    let mut first: Option<f64> = None;
    let mut outcomes = Vec::new();
    let mut healed = Vec::new();
    let mut keep = |t: f64| first = Some(first.map_or(t, |f: f64| f.min(t)));
    for file in walk(results) {
        if file.file_name().and_then(|n| n.to_str()) != Some("results.json") {
            continue;
        }
        let run = file.parent().expect("run directory");
        let results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("results.json"))
                .expect("results.json is JSON");
        let history: Vec<serde_json::Value> = std::fs::read_to_string(run.join("history.jsonl"))
            .expect("history.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        for op in &history {
            if op["f"] == "start-election" && op["type"] == "ok" {
                outcomes.push(op["value"]["outcome"].as_str().unwrap_or("?").to_string());
            }
            if op["f"] == "stop-election" && op["type"] == "ok" {
                for h in op["value"]["healed"].as_array().into_iter().flatten() {
                    healed.push(h.as_str().unwrap_or("?").to_string());
                }
            }
        }
        for c in results["checkers"].as_array().into_iter().flatten() {
            if c["valid"] != "invalid" {
                continue;
            }
            let d = &c["details"];
            if c["checker"] == "linearizable" {
                // The run's check stops at the first invalid key it meets,
                // which need not be the earliest: decide every key.
                let model = d["model"].as_str().unwrap_or("cas-register");
                let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
                    .arg("check")
                    .arg(run.join("history.jsonl"))
                    .args(["--all-keys", "--model", model, "--json"])
                    .output()
                    .expect("faultline check");
                let all: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or_default();
                failure_times(&all, &mut keep);
            }
            // An Elle-style anomaly names its transactions by history index.
            for a in d["anomalies"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for t in a.as_array().into_iter().flatten() {
                    for i in t["txns"].as_array().into_iter().flatten() {
                        if let Some(op) = history.iter().find(|op| op["index"] == *i) {
                            op["time"].as_f64().into_iter().for_each(|t| keep(t / 1e9));
                        }
                    }
                }
            }
            let bad: Vec<&serde_json::Value> = ["lost", "unexpected"]
                .iter()
                .flat_map(|f| d[*f].as_array().into_iter().flatten())
                .collect();
            if let Some(t) = history.iter().find_map(|op| {
                (op["f"] == "add" && op["type"] == "ok" && bad.contains(&&op["value"]))
                    .then(|| op["time"].as_f64())
                    .flatten()
            }) {
                keep(t / 1e9);
            }
        }
    }
    (first, outcomes, healed)
}

/// Every linearizability failure's op invoke time (seconds) found in `v`.
fn failure_times(v: &serde_json::Value, keep: &mut impl FnMut(f64)) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(t) = m
                .get("failure")
                .and_then(|f| f["op"]["invoke_time"].as_f64())
            {
                keep(t / 1e9);
            }
            m.values().for_each(|x| failure_times(x, keep));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| failure_times(x, keep)),
        _ => {}
    }
}

/// One recipe on one seed in CI: the bug build exits 1 in a single run
/// (no `--test-count` retries: a recipe must hold on every seed), and a
/// choreography reached its decisive step.
fn bug_is_caught(bug: &str, seed: u64) {
    let name = format!("bug_{bug}_is_caught");
    if !root_or_skip(&name) {
        return;
    }
    let _s = serial();
    let r = run_recipe(bug, seed, true);
    assert_eq!(r.code, Some(1), "{bug} seed {seed}\n{}", tail(&r.out));
    assert!(
        r.first_anomaly_s.is_some(),
        "{bug} seed {seed}: invalid, yet no anomalous op found"
    );
    if let (_, Some((reached, _))) = recipe(bug) {
        assert!(
            r.outcomes.iter().any(|o| o == reached),
            "{bug} seed {seed}: never {reached}: {:?}",
            r.outcomes
        );
    }
}

/// The same recipe without the bug is valid, and a choreography reached
/// the correct build's outcome, never the bug's.
fn correct_build_is_valid(bug: &str, seed: u64) -> Option<RecipeRun> {
    let name = format!("correct_refkv_is_valid_under_the_{bug}_recipe");
    if !root_or_skip(&name) {
        return None;
    }
    let _s = serial();
    let r = run_recipe(bug, seed, false);
    assert_eq!(
        r.code,
        Some(0),
        "{bug} recipe, seed {seed}\n{}",
        tail(&r.out)
    );
    if let (_, Some((bugged, correct))) = recipe(bug) {
        assert!(
            r.outcomes.iter().any(|o| o == correct),
            "{bug} recipe, seed {seed}: never {correct}: {:?}",
            r.outcomes
        );
        assert!(
            !r.outcomes.iter().any(|o| o == bugged),
            "{bug} recipe, seed {seed}: {bugged} in the correct build: {:?}",
            r.outcomes
        );
    }
    Some(r)
}

#[test]
fn bug_stale_read_is_caught_under_all_faults() {
    bug_is_caught("stale-read", 1);
}

#[test]
fn bug_no_fsync_is_caught_by_crashing_the_cluster() {
    bug_is_caught("no-fsync", 1);
}

/// Seed 3 is the seed on which the old recipe (clock and partition faults
/// drawn at random) cut the leader off before its clock moved, and missed
/// the bug; the `deposed-leader` choreography orders the two.
#[test]
fn bug_lease_read_is_caught_by_clocks_going_back_before_the_leader_is_cut_off() {
    bug_is_caught("lease-read", 3);
}

/// The same run without the bug finds nothing: the nemesis and workload
/// that catch lease-read do not produce false alarms, and the cut-off
/// leader steps down.
#[test]
fn correct_refkv_is_valid_under_the_lease_read_setup() {
    let Some(r) = correct_build_is_valid("lease-read", 3) else {
        return;
    };
    // `stop-election` set the clocks it moved back to real time.
    assert!(
        r.healed.iter().any(|h| h.starts_with("clock of ")),
        "no clock reset by stop-election: {:?}",
        r.healed
    );
}

#[test]
fn bug_vote_twice_is_caught_by_the_double_vote_choreography() {
    bug_is_caught("vote-twice", 1);
}

#[test]
fn correct_refkv_is_valid_under_the_double_vote_choreography() {
    // The voter kept its vote across the restart.
    correct_build_is_valid("vote-twice", 1);
}

#[test]
fn bug_commit_old_term_is_caught_by_the_figure_8_choreography() {
    bug_is_caught("commit-old-term", 1);
}

#[test]
fn correct_refkv_is_valid_under_the_figure_8_choreography() {
    // The leader did not commit the old entry by counting replicas.
    correct_build_is_valid("commit-old-term", 1);
}

/// The list-append checker's verdict and anomaly classes in the one stored
/// run under `results`, with the run's history.
fn list_append_run(results: &Path) -> (String, Vec<String>, Vec<serde_json::Value>) {
    let file = walk(results)
        .into_iter()
        .find(|f| f.file_name().and_then(|n| n.to_str()) == Some("results.json"))
        .expect("a stored run");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("results.json"))
            .expect("results.json is JSON");
    let c = r["checkers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["checker"] == "list-append")
        .expect("a list-append checker in results.json")
        .clone();
    let kinds = c["details"]["anomaly-types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    let run = file.parent().expect("run directory");
    let history = std::fs::read_to_string(run.join("history.jsonl"))
        .expect("history.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        c["valid"].as_str().unwrap_or("?").to_string(),
        kinds,
        history,
    )
}

/// Reading at proposal time and writing one entry per key lets concurrent
/// transactions interleave: the list-append checker finds dependency
/// cycles (G-single, G2-item) or lists no order of appends explains, not
/// just an exit code.
#[test]
fn bug_txn_split_is_caught_as_elle_anomalies_by_list_append() {
    if !root_or_skip("bug_txn_split_is_caught_as_elle_anomalies_by_list_append") {
        return;
    }
    let _s = serial();
    let (args, _) = recipe("txn-split");
    let dir = tempfile::tempdir().expect("tempdir");
    let argv: Vec<&str> = args
        .split_whitespace()
        .chain(["--bug", "txn-split", "--seed", "1"])
        .collect();
    let out = faultline(dir.path(), &argv);
    assert_eq!(out.status.code(), Some(1), "{}", tail(&out));
    let (valid, kinds, _) = list_append_run(dir.path());
    assert_eq!(valid, "invalid");
    let cycles = ["G-single", "G2-item", "G1c", "G0", "G-nonadjacent"];
    assert!(
        kinds
            .iter()
            .any(|k| cycles.iter().any(|c| k.starts_with(c))),
        "no dependency cycle among {kinds:?}"
    );
}

/// The same recipe on the correct build: valid, and not vacuously so —
/// hundreds of committed transactions, reads of lists of several elements,
/// and both a partition and a kill during the main phase.
#[test]
fn correct_refkv_is_valid_under_list_append_with_partitions_and_kills() {
    let name = "correct_refkv_is_valid_under_list_append_with_partitions_and_kills";
    if !root_or_skip(name) {
        return;
    }
    let _s = serial();
    let (args, _) = recipe("txn-split");
    let dir = tempfile::tempdir().expect("tempdir");
    let argv: Vec<&str> = args.split_whitespace().chain(["--seed", "1"]).collect();
    let out = faultline(dir.path(), &argv);
    assert_eq!(out.status.code(), Some(0), "{}", tail(&out));
    let (valid, kinds, history) = list_append_run(dir.path());
    assert_eq!(valid, "valid", "anomalies: {kinds:?}");
    assert!(kinds.is_empty(), "{kinds:?}");
    let ok: Vec<&serde_json::Value> = history
        .iter()
        .filter(|op| op["f"] == "txn" && op["type"] == "ok")
        .collect();
    let micro = |f: &str| {
        ok.iter()
            .flat_map(|op| op["value"].as_array().into_iter().flatten())
            .filter(|m| m[0] == f)
            .collect::<Vec<_>>()
    };
    let long_reads = micro("r")
        .iter()
        .filter(|m| m[2].as_array().is_some_and(|l| l.len() >= 2))
        .count();
    assert!(ok.len() >= 200, "only {} ok txns", ok.len());
    assert!(micro("append").len() >= 200, "too few appends");
    assert!(long_reads >= 50, "only {long_reads} reads of lists of 2+");
    let faults: Vec<&str> = history
        .iter()
        .filter(|op| op["process"] == "nemesis" && op["type"] == "ok")
        .filter_map(|op| op["f"].as_str())
        .collect();
    for f in ["start-partition", "kill"] {
        assert!(faults.contains(&f), "no {f} in {faults:?}");
    }
}

/// Every recipe on seeds 1-5, bug build and correct build: 60 runs, about
/// 45 minutes, so not in CI. Run it with
/// `cargo test --release --test e2e_test -- --ignored every_recipe --nocapture`;
/// it prints the table README gives (bug × seed → exit code and the time
/// of the first anomalous op) and fails if a recipe missed its bug or the
/// correct build was not valid on any seed. `FAULTLINE_RECIPES=lease-read,vote-twice`
/// and `FAULTLINE_SEEDS=1,2` narrow it.
#[test]
#[ignore = "the 5-seed recipe matrix takes about 45 minutes"]
fn every_recipe_catches_its_bug_on_every_seed() {
    if !root_or_skip("every_recipe_catches_its_bug_on_every_seed") {
        return;
    }
    let _s = serial();
    let bugs: Vec<String> = std::env::var("FAULTLINE_RECIPES")
        .map(|v| v.split(',').map(String::from).collect())
        .unwrap_or_else(|_| RECIPES.iter().map(|(b, _, _)| b.to_string()).collect());
    let seeds: Vec<u64> = std::env::var("FAULTLINE_SEEDS")
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|_| (1..=5).collect());
    let mut misses = Vec::new();
    println!("| bug | seed | bug build: exit, first anomaly | correct build: exit |");
    println!("| --- | --- | --- | --- |");
    for bug in &bugs {
        for &seed in &seeds {
            let b = run_recipe(bug, seed, true);
            let c = run_recipe(bug, seed, false);
            let first = b
                .first_anomaly_s
                .map_or("-".to_string(), |t| format!("{t:.1} s"));
            println!("| {bug} | {seed} | {:?}, {first} | {:?} |", b.code, c.code);
            if b.code != Some(1) {
                misses.push(format!("{bug} seed {seed}: bug build exited {:?}", b.code));
            }
            if c.code != Some(0) {
                misses.push(format!(
                    "{bug} seed {seed}: correct build exited {:?}",
                    c.code
                ));
            }
        }
    }
    assert!(misses.is_empty(), "recipes that did not hold: {misses:#?}");
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

/// What a run could leave behind, found without faultline's own code.
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
