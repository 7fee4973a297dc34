//! ZooKeeper as a Db on the local backend: a real 3-node ensemble (Debian's
//! zookeeperd, one JVM per namespace) comes up, reports its leader and
//! epoch through `srvr`, elects a new leader in a higher epoch when the
//! leader is killed, takes the old leader back, and leaves no JVM behind;
//! and `faultline test` with the register workload under partitions and
//! kills comes out valid in sync-read mode. Needs root; skips otherwise.

mod local_common;
use faultline::db::zookeeper::{ZooKeeper, ZooKeeperSpec};
use faultline::db::{Cluster, Db};
use faultline::remote::local::process_state;
use local_common::*;
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn zookeeper_ensemble_elects_fails_over_rejoins_and_cleans_up() {
    if !root_or_skip("zookeeper_ensemble_elects_fails_over_rejoins_and_cleans_up") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(3);
    let db = Arc::new(ZooKeeper::new(ZooKeeperSpec::default()));
    let c = Cluster {
        nodes: net.nodes.clone(),
        db: db.clone(),
    };
    let t0 = Instant::now();
    for n in &c.nodes {
        db.setup(&c, n).unwrap();
    }
    let ready = db.await_ready(&c, Duration::from_secs(60));
    let pids: Vec<u32> = c.nodes.iter().filter_map(|n| db.pid(n)).collect();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ready.unwrap();
        eprintln!("3-node ZooKeeper up and serving in {:?}", t0.elapsed());

        // The pid is the JVM's own.
        let pid = db.pid(&c.nodes[0]).unwrap();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(String::from_utf8_lossy(&cmdline).contains("QuorumPeerMain"));

        // Clock faults are declared unsupported, with the reason.
        let clock = db.capabilities().clock.unwrap_err();
        assert!(clock.contains("libfaketime"), "{clock}");

        let leaders = db.primaries(&c);
        assert_eq!(leaders.len(), 1, "{leaders:?}");
        let leader = c.node(&leaders[0]).unwrap().clone();
        let before = db.consensus_state(&c, &leader).unwrap();
        assert!(before.is_leader(), "{before:?}");
        for n in c.nodes.iter().filter(|n| n.name != leader.name) {
            let s = db.consensus_state(&c, n).unwrap();
            assert_eq!(s.role, "follower", "{}: {s:?}", n.name);
            assert_eq!(s.term, before.term, "{}: {s:?}", n.name);
        }

        // Written through one follower, read (sync) through another node.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let others: Vec<_> = c.nodes.iter().filter(|n| n.name != leader.name).collect();
        let a = db.client(&c, others[0]);
        rt.block_on(a.write("k", json!(1))).unwrap();
        assert!(rt.block_on(a.cas("k", json!(1), json!(2))).unwrap());
        assert!(!rt.block_on(a.cas("k", json!(1), json!(3))).unwrap());
        let b = db.client(&c, others[1]);
        assert_eq!(rt.block_on(b.read("k")).unwrap(), Some(json!(2)));

        // Kill the leader: another leads, in a higher epoch.
        let old_pid = db.pid(&leader).unwrap();
        let t_kill = Instant::now();
        db.kill(&c, &leader).unwrap();
        assert_eq!(process_state(old_pid), None, "killed JVM not reaped");
        let mut new_leader = None;
        assert!(
            eventually(Duration::from_secs(20), || {
                let p = db.primaries(&c);
                new_leader = p.first().cloned();
                p.len() == 1 && p[0] != leader.name
            }),
            "no new leader after killing {}",
            leader.name
        );
        let new_leader = new_leader.unwrap();
        eprintln!("new leader {new_leader} after {:?}", t_kill.elapsed());
        let after = db
            .consensus_state(&c, c.node(&new_leader).unwrap())
            .unwrap();
        assert!(after.term > before.term, "{before:?} then {after:?}");
        // The survivors still serve the data.
        assert!(eventually(Duration::from_secs(10), || rt
            .block_on(b.read("k"))
            .ok()
            .flatten()
            == Some(json!(2))));

        // Restart: the old leader rejoins as a follower of the new epoch
        // and serves the data.
        db.start(&c, &leader).unwrap();
        db.start(&c, &leader).unwrap(); // idempotent
        assert!(
            eventually(Duration::from_secs(20), || db
                .consensus_state(&c, &leader)
                .is_some_and(|s| s.role == "follower" && s.term == after.term)),
            "{} did not rejoin: {:?}",
            leader.name,
            db.consensus_state(&c, &leader)
        );
        let back = db.client(&c, &leader);
        assert_eq!(rt.block_on(back.read("k")).unwrap(), Some(json!(2)));

        // Pause: the JVM is stopped and does not answer; resume: it does.
        let victim = c.node(&new_leader).unwrap().clone();
        db.pause(&c, &victim).unwrap();
        assert_eq!(process_state(db.pid(&victim).unwrap()), Some('T'));
        assert!(db.consensus_state(&c, &victim).is_none());
        db.resume(&c, &victim).unwrap();
        assert!(eventually(Duration::from_secs(10), || db
            .consensus_state(&c, &victim)
            .is_some()));
    }));
    // Teardown kills and removes data, twice is fine, no JVM of ours left.
    for n in &c.nodes {
        db.teardown(&c, n).unwrap();
        db.teardown(&c, n).unwrap();
        assert!(!n.data_dir.exists(), "{} data left", n.name);
        assert!(db.pid(n).is_none());
    }
    let all_pids: Vec<u32> = pids
        .into_iter()
        .chain(c.nodes.iter().filter_map(|n| db.pid(n)))
        .collect();
    for pid in all_pids {
        assert_eq!(process_state(pid), None, "JVM {pid} still runs");
    }
    let dir = net.dir.path().display().to_string();
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ours = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains("QuorumPeerMain") && l.contains(&dir))
        .count();
    assert_eq!(ours, 0, "a JVM of this test still runs");
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn register_under_partitions_and_kills_is_valid_with_sync_reads() {
    if !root_or_skip("register_under_partitions_and_kills_is_valid_with_sync_reads") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--cluster",
            "zookeeper-3",
            "--workload",
            "register",
            "--nemesis",
            "partition-kill",
            "--time-limit",
            "30",
            "--seed",
            "1",
            "--results",
        ])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run faultline");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let results = walk(dir.path())
        .into_iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()) == Some("results.json"))
        .expect("results.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    assert_eq!(v["valid"], "valid", "{text}");
    let ok = v["ops"]["ok"].as_u64().unwrap_or(0);
    assert!(ok > 0, "no ok op: {text}");
    let faults = text
        .lines()
        .find(|l| l.starts_with("nemesis partition-kill:"))
        .unwrap_or_default();
    assert!(
        !faults.starts_with("nemesis partition-kill: 0 fault"),
        "{text}"
    );
    eprintln!("{text}");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
