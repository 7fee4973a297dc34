//! The adaptive nemesis end to end, through the real binary, on a real
//! local refkv-3 cluster (correct build): the run is valid, its history
//! has `start-adaptive` ops whose values show real faults chosen from
//! observed states that changed, every episode's decisions replay from
//! its recorded observations, and nothing is left behind. Needs root;
//! skips otherwise. Run under the e2e lock (one 15 s run).

mod local_common;
use faultline::nemesis::adaptive::policy::Coverage;
use faultline::nemesis::adaptive::{recorded_decisions, replay_episode, AdaptiveConfig};
use local_common::{root_or_skip, serial};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The history of the one run stored under `results`.
fn history(results: &Path) -> Vec<Value> {
    let mut stack = vec![results.to_path_buf()];
    let mut found: Option<PathBuf> = None;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("results dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|n| n.to_str()) == Some("history.jsonl") {
                found = Some(p);
            }
        }
    }
    let text = std::fs::read_to_string(found.expect("a history.jsonl")).expect("read history");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("history line is JSON"))
        .collect()
}

/// What a run could leave behind (as tests/e2e_test.rs checks).
fn leftovers() -> Vec<String> {
    let checks = [
        ("namespaces", "ip netns list | grep '^faultline-' || true"),
        ("processes", "pgrep -af '[ ]node --id ' || true"),
        ("rules", "iptables -S FORWARD | grep faultline || true"),
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
fn adaptive_on_refkv_3_acts_on_observed_state_replays_and_leaves_nothing() {
    if !root_or_skip("adaptive_on_refkv_3_acts_on_observed_state_replays_and_leaves_nothing") {
        return;
    }
    let _s = serial();
    let results = std::env::temp_dir().join(format!("faultline-adaptive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--cluster",
            "refkv-3",
            "--nemesis",
            "adaptive",
            "--time-limit",
            "15",
            "--seed",
            "1",
            "--results",
        ])
        .arg(&results)
        .env("NO_COLOR", "1")
        .output()
        .expect("run faultline");
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "correct build valid:\n{said}");

    let ops = history(&results);
    let episodes: Vec<&Value> = ops
        .iter()
        .filter(|o| o["f"] == "start-adaptive" && o["type"] == "ok")
        .map(|o| &o["value"])
        .collect();
    assert!(!episodes.is_empty(), "no completed episode:\n{said}");
    let steps: Vec<&Value> = episodes
        .iter()
        .flat_map(|v| v["steps"].as_array().into_iter().flatten())
        .collect();
    // Real faults happened, named in the op values.
    let done: Vec<&str> = steps
        .iter()
        .flat_map(|s| s["done"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let faulty = [
        "killed",
        "isolated",
        "cut",
        "partitioned",
        "paused",
        "refuses",
        "clock",
    ];
    assert!(
        done.iter().any(|d| faulty.iter().any(|f| d.contains(f))),
        "no fault done: {done:?}"
    );
    // Decisions were made from states the nodes reported, and they changed.
    let states: std::collections::BTreeSet<&str> =
        steps.iter().filter_map(|s| s["state"].as_str()).collect();
    assert!(states.len() >= 2, "states never changed: {states:?}");
    assert!(
        steps.iter().any(|s| s["observed"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["role"] == "leader")),
        "no leader ever observed"
    );
    assert!(episodes.iter().all(|v| v["degraded"] == false));
    // Every episode replays from its pick and recorded observations, with
    // the coverage map carried from the episodes before it.
    let cfg = AdaptiveConfig::default();
    let mut cov = Coverage::default();
    for v in &episodes {
        let again = replay_episode(v, &mut cov, true, cfg.explore_pct).expect("replay");
        assert_eq!(again, recorded_decisions(v).expect("recorded"), "{v}");
    }
    // The heal left nothing behind.
    assert_eq!(leftovers(), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&results);
}
