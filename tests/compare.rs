//! `faultline compare` over in-process memory clusters (no root, a few
//! seconds): one correct store and one that loses writes run through the
//! same test and seed give one valid and one invalid row, exit 1, an
//! escaped `compare.html` and a `compare.json` that `--runs` re-renders
//! from the stored runs alone. The nemesis asks for faults the memory Db
//! cannot take (kill, pause, clock): each is skipped visibly — in the
//! history as a nemesis `skip` op, in results.json, the summary and the
//! table — and never drawn as a fault. The memory Db cannot tell its
//! leader, so no `leaders.jsonl` is written and `leader_changes` is absent.

use assert_cmd::Command;
use faultline::history::jsonl::read_jsonl;
use faultline::history::OpType;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn faultline(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("faultline").unwrap();
    c.current_dir(dir).env("NO_COLOR", "1");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A work dir with `clusters/good.yaml` (a correct memory store) and
/// `clusters/bad.yaml` (one that loses every 5th write, named with markup
/// to show it is escaped).
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("clusters")).unwrap();
    std::fs::write(
        dir.path().join("clusters/good.yaml"),
        "db: memory\nbackend: none\nnodes: 3\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("clusters/bad.yaml"),
        "name: \"<i>bad</i>\"\ndb: memory\nbackend: none\nnodes: 3\n\
         memory:\n  fault: {kind: lose-writes, every: 5}\n",
    )
    .unwrap();
    dir
}

/// The comparison directories under `results/compare/`, oldest first.
fn comparisons(results: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(results.join("compare"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_valid_and_an_invalid_system_side_by_side_and_rerendered_from_their_runs() {
    let dir = workdir();
    let results = dir.path().join("results");
    let out = faultline(dir.path())
        .args([
            "compare",
            "good",
            "--db",
            "bad",
            "--workload",
            "register",
            "--nemesis",
            "kill,pause,clock",
            "--time-limit",
            "2",
            "--rate",
            "200",
            "--recovery",
            "0.2",
            "--concurrency",
            "4",
            "--seed",
            "7",
            "--results",
        ])
        .arg(&results)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );

    // One table: a row per system, the verdict and each checker's.
    // (after each run's own summary, which has tables too)
    let table = stdout
        .rfind("compare: workload register")
        .map(|i| &stdout[i..])
        .expect("the comparison's table");
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("│ ")).collect();
    assert_eq!(rows.len(), 3, "header + 2 rows:\n{stdout}");
    assert!(rows[0].contains("linearizable") && rows[0].contains("p99 ms"));
    assert!(
        rows[1].contains("good") && rows[1].contains("VALID"),
        "{stdout}"
    );
    assert!(
        rows[2].contains("<i>bad</i>") && rows[2].contains("INVALID"),
        "{stdout}"
    );
    assert!(stdout.contains("seed 7"), "{stdout}");
    // Skipped faults, per system.
    for sys in ["good", "<i>bad</i>"] {
        assert!(
            stdout.contains(&format!("{sys}: skipped: clock: the memory db")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{sys}: skipped: kill: the Db does not support it")),
            "{stdout}"
        );
    }

    // compare.html and compare.json, the page escaped.
    let cmp = comparisons(&results);
    assert_eq!(cmp.len(), 1, "{cmp:?}");
    let html = std::fs::read_to_string(cmp[0].join("compare.html")).unwrap();
    assert!(!html.contains("<i>bad</i>"), "unescaped system name");
    assert!(html.contains("&lt;i&gt;bad&lt;/i&gt;"));
    assert!(html.contains("v-valid") && html.contains("v-invalid"));
    // Each run's report, linked relative to the page.
    let links: Vec<&str> = html
        .split("<a href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|l| l.starts_with("../../"))
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    for l in &links {
        assert!(cmp[0].join(l).is_file(), "{l}");
    }
    // Latency quantiles and rate for each system: four plots.
    assert_eq!(html.matches("<svg").count(), 4);
    let c = json(&cmp[0].join("compare.json"));
    let jrows = c["rows"].as_array().unwrap();
    assert_eq!(jrows.len(), 2);
    assert_eq!(jrows[0]["valid"], "valid");
    assert_eq!(jrows[1]["valid"], "invalid");
    assert_eq!(jrows[0]["seed"], 7);
    assert_eq!(jrows[1]["seed"], 7);
    assert!(jrows[1]["checkers"][0]["anomalies"].as_u64().unwrap() >= 1);
    assert!(jrows[0]["throughput"].as_f64().unwrap() > 10.0);
    assert!(jrows[0]["leader_changes"].is_null());

    // Each run: the skips are nemesis ops in the history, no fault
    // interval, no leaders.jsonl, no leader_changes.
    let runs: Vec<PathBuf> = jrows
        .iter()
        .map(|r| PathBuf::from(r["run"].as_str().unwrap()))
        .collect();
    for run in &runs {
        let h = read_jsonl(run.join("history.jsonl")).unwrap().history;
        let skips: Vec<_> = h
            .ops
            .iter()
            .filter(|o| o.process.is_nemesis() && o.kind == OpType::Info)
            .collect();
        assert_eq!(
            skips.len(),
            5,
            "kill/pause (and their leader targets), clock"
        );
        assert!(skips.iter().all(|o| o.f == "skip"));
        assert!(skips
            .iter()
            .any(|o| o.value["skipped"].as_str().unwrap().starts_with("clock: ")));
        let first_client = h.ops.iter().position(|o| o.is_client()).unwrap();
        let last_skip = h.ops.iter().rposition(|o| o.process.is_nemesis()).unwrap();
        assert!(
            last_skip < first_client,
            "skips at the start of the main phase"
        );
        let r = json(&run.join("results.json"));
        assert_eq!(r["nemesis"]["intervals"], serde_json::json!([]));
        assert_eq!(r["nemesis"]["skipped"].as_array().unwrap().len(), 5);
        assert_eq!(r["availability"]["per_fault"], serde_json::json!([]));
        assert!(r.get("leader_changes").is_none(), "memory: no leader");
        assert!(!run.join("leaders.jsonl").exists());
        let report = std::fs::read_to_string(run.join("report.html")).unwrap();
        assert!(report.contains("No fault was injected"));
    }

    // --runs: the same rows from the stored runs alone.
    let out = faultline(dir.path())
        .arg("compare")
        .arg("--runs")
        .arg(format!("{},{}", runs[0].display(), runs[1].display()))
        .arg("--results")
        .arg(&results)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let cmp = comparisons(&results);
    assert_eq!(cmp.len(), 2);
    let again = json(&cmp[1].join("compare.json"));
    assert_eq!(again["rows"], c["rows"]);
    assert_eq!(again["test"], c["test"]);
    assert!(text(&out.stdout).contains("INVALID"));

    // Only the valid run: exit 0.
    let out = faultline(dir.path())
        .arg("compare")
        .arg("--runs")
        .arg(&runs[0])
        .arg("--results")
        .arg(&results)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_system_exits_254_naming_it_and_listing_the_clusters() {
    let dir = workdir();
    let out = faultline(dir.path())
        .args(["compare", "--db", "good,nosuch", "--time-limit", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    let e = text(&out.stderr);
    assert!(e.contains("nosuch"), "{e}");
    for name in ["good", "bad", "memory", "refkv"] {
        assert!(e.contains(name), "lists {name}: {e}");
    }
    assert!(
        !dir.path().join("results").exists(),
        "nothing ran before the systems resolved"
    );
}

#[test]
fn bad_arguments_exit_254() {
    let dir = workdir();
    let not_a_run = dir.path().join("clusters");
    for args in [
        vec!["compare".to_string()],
        vec![
            "compare".into(),
            "--runs".into(),
            not_a_run.display().to_string(),
        ],
        vec![
            "compare".into(),
            "--runs".into(),
            dir.path().join("nope").display().to_string(),
        ],
        vec![
            "compare".into(),
            "good".into(),
            "--runs".into(),
            not_a_run.display().to_string(),
        ],
    ] {
        let out = faultline(dir.path()).args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(254),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("error"), "{args:?}");
    }
}

/// True when running as root; otherwise says why the test is skipped.
fn root_or_skip(test: &str) -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        eprintln!("note: skipping {test}: needs root (network namespaces, iptables)");
        return false;
    }
    if let Err(e) = faultline::remote::local::ensure_prerequisites(true) {
        panic!("{test}: local backend prerequisites: {e}");
    }
    true
}

/// refkv and etcd, 3 nodes each, under kills for 8 s: the table prints one
/// valid row per system, each run's leader sampler writes
/// `leaders.jsonl` and `leader_changes` is counted, and a kill that hit
/// the leader shows as a leader change. Needs root; skips otherwise.
#[test]
fn compare_refkv_and_etcd_prints_the_table_and_counts_leader_changes() {
    if !root_or_skip("compare_refkv_and_etcd_prints_the_table_and_counts_leader_changes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = faultline(dir.path())
        .args([
            "compare",
            "--db",
            "refkv-3,etcd-3",
            "--nemesis",
            "kill",
            "--time-limit",
            "8",
            "--interval",
            "2",
            "--recovery",
            "1",
            "--seed",
            "3",
            "--results",
        ])
        .arg(&results)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let table: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("refkv-3") || l.contains("etcd-3"))
        .collect();
    assert!(
        table.iter().any(|l| l.contains("refkv-3")) && table.iter().any(|l| l.contains("etcd-3")),
        "{stdout}"
    );
    let cmp = comparisons(&results);
    let c = json(&cmp[0].join("compare.json"));
    let rows = c["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{c}");
    for row in rows {
        assert_eq!(row["valid"], "valid", "{row}");
        let run = PathBuf::from(row["run"].as_str().unwrap());
        let samples = std::fs::read_to_string(run.join("leaders.jsonl")).expect("leaders.jsonl");
        let first: Value = serde_json::from_str(samples.lines().next().unwrap()).unwrap();
        assert_eq!(first["leaders"].as_array().unwrap().len(), 1, "{samples}");
        let r = json(&run.join("results.json"));
        let changes = r["leader_changes"].as_u64().expect("leader_changes");
        assert_eq!(row["leader_changes"].as_u64(), Some(changes));
        let losses = r["availability"]["leader_losses"].as_array().unwrap().len();
        if losses > 0 {
            assert!(changes >= 1, "a kill hit the leader: {samples}");
        }
    }
    assert!(stdout.contains("leader changes seen:"), "{stdout}");
}
