//! `faultline cluster up|status|down` and `faultline heal` of a cluster
//! left up, through the real binary on the local backend (needs root;
//! skips with a note otherwise). A cluster that is up holds the local
//! network: while it is, `faultline test` there refuses, and `down` or
//! `heal` leave nothing behind.

mod local_common;

use faultline::client::refkv::RefKvClient;
use faultline::client::KvClient;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

fn faultline(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FAULTLINE_NO_SUDO", "1")
        .output()
        .expect("run faultline")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `faultline ARGS --results DIR`: exit code, stdout, stderr.
fn cluster(args: &[&str], results: &Path) -> (Option<i32>, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    let r = results.to_str().expect("utf-8 path");
    all.extend(["--results", r]);
    let out = faultline(&all);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn faultline_namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("faultline-"))
        .map(str::to_string)
        .collect()
}

fn alive(pid: u32) -> bool {
    faultline::remote::local::process_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The daemon pids a state file records.
fn pids(state: &Path) -> Vec<u32> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(state).expect("state file")).expect("json");
    v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["pid"].as_u64())
        .map(|p| p as u32)
        .collect()
}

/// Removes whatever a failed assertion left up.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = faultline(&["heal"]);
    }
}

#[test]
fn a_cluster_comes_up_serves_blocks_runs_and_goes_down_leaving_nothing() {
    if !local_common::root_or_skip("cluster_cli") {
        return;
    }
    let _g = local_common::serial();
    let _c = Cleanup;
    let tmp = tempfile::tempdir().expect("tempdir");
    let res = tmp.path();

    let (code, out, err) = cluster(&["cluster", "up", "refkv-3"], res);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let node_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  n") && l.contains("http://10.213.7."))
        .collect();
    assert_eq!(node_lines.len(), 3, "{out}");
    assert!(out.contains("faultline cluster down refkv-3"), "{out}");
    let url = node_lines[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a client URL")
        .to_string();
    assert_eq!(url, "http://10.213.7.11:8080");
    let state = res.join("clusters/refkv-3/cluster.json");
    let pids = pids(&state);
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");

    // A real write and read through the printed URL.
    let client = RefKvClient::new(&url, Duration::from_secs(5)).expect("client");
    let read = faultline::db::support::block_on(async move {
        client.write("hello", json!(42)).await?;
        client.read("hello").await
    })
    .expect("runtime");
    assert_eq!(read.ok().flatten(), Some(json!(42)));

    let (code, out, err) = cluster(&["cluster", "status", "refkv-3"], res);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(out.matches("alive (pid").count(), 3, "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("3 of 3 daemon(s) alive; leader: n") && !last.contains(','),
        "{out}"
    );

    // The network is the cluster's: a test there refuses, so does a second up.
    let (code, _, err) = cluster(
        &[
            "test",
            "--cluster",
            "refkv-3",
            "--nemesis",
            "none",
            "--time-limit",
            "1",
        ],
        res,
    );
    assert_eq!(code, Some(254), "{err}");
    assert!(
        err.contains(
            "the local network is used by cluster refkv-3 (faultline cluster up); run \
             `faultline cluster down refkv-3` first"
        ),
        "{err}"
    );
    let (code, _, err) = cluster(&["cluster", "up", "refkv-3"], res);
    assert_eq!(code, Some(254), "{err}");
    assert!(
        err.contains("already up") && err.contains("faultline cluster down refkv-3"),
        "{err}"
    );
    assert!(pids.iter().all(|&p| alive(p)), "the refusals touched it");

    let (code, out, err) = cluster(&["cluster", "down", "refkv-3"], res);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        faultline_namespaces().is_empty(),
        "{:?}",
        faultline_namespaces()
    );
    assert!(!pids.iter().any(|&p| alive(p)), "{pids:?}");
    assert!(!state.exists());
    assert!(!Path::new("/run/faultline/claim.json").exists());

    let (code, out, _) = cluster(&["cluster", "down", "refkv-3"], res);
    assert_eq!(code, Some(0));
    assert!(out.contains("cluster refkv-3 is not up"), "{out}");
    let (code, _, err) = cluster(&["cluster", "status", "refkv-3"], res);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("cluster refkv-3 is not up"), "{err}");
}

#[test]
fn heal_removes_a_cluster_that_is_up() {
    if !local_common::root_or_skip("cluster_cli") {
        return;
    }
    let _g = local_common::serial();
    let _c = Cleanup;
    let tmp = tempfile::tempdir().expect("tempdir");
    let res = tmp.path();
    let (code, out, err) = cluster(&["cluster", "up", "refkv-3", "--nodes", "2"], res);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let state = res.join("clusters/refkv-3/cluster.json");
    let pids = pids(&state);

    let out = faultline(&["heal"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", text(&out.stderr));
    assert!(said.contains("removed cluster refkv-3"), "{said}");
    assert!(faultline_namespaces().is_empty());
    assert!(!pids.iter().any(|&p| alive(p)), "{pids:?}");
    assert!(!state.exists(), "heal leaves the state file");
    let (code, out, _) = cluster(&["cluster", "down", "refkv-3"], res);
    assert_eq!(code, Some(0));
    assert!(out.contains("not up"), "{out}");
}

#[test]
fn commands_on_what_is_not_there_say_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let res = tmp.path();
    let (code, _, err) = cluster(&["cluster", "status", "no-such"], res);
    assert_eq!(code, Some(254), "{err}");
    assert!(
        err.contains("cluster no-such is not up") && err.contains("faultline cluster up no-such"),
        "{err}"
    );
    let (code, out, _) = cluster(&["cluster", "down", "no-such"], res);
    assert_eq!(code, Some(0));
    assert!(out.contains("cluster no-such is not up: nothing to remove"));
    let (code, _, err) = cluster(&["cluster", "up", "memory"], res);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("has no machines"), "{err}");
    let (code, _, err) = cluster(&["cluster", "up", "no-such-cluster"], res);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("no-such-cluster"), "{err}");

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "db: refkv\nnodes: 3\nbakend: local\n").expect("write");
    let b = bad.to_str().expect("utf-8");
    let out = faultline(&["heal", "--cluster", b]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(err.contains("bad.yaml:3"), "{err}");
    let (code, _, err) = cluster(&["cluster", "up", b], res);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("bad.yaml:3"), "{err}");
}
