//! etcd as a Db on the local backend: a real 3-member cluster of Debian's
//! etcd in network namespaces. The control plane (leader and term through
//! `/v3/maintenance/status`, kill / restart / pause / resume / teardown)
//! does what the Db contract says, and short register and list-append runs
//! under partitions and kills are valid. Needs root; skips otherwise.

mod local_common;

use faultline::checker::Validity;
use faultline::db::etcd::{Etcd, EtcdSpec};
use faultline::db::{Cluster, Db};
use faultline::history::jsonl::read_jsonl;
use faultline::history::{OpType, Process};
use faultline::nemesis::package::NemesisConfig;
use faultline::remote::local::process_state;
use faultline::runner::{self, Progress, RunOptions};
use faultline::spec::{ClusterSpec, Concurrency, NemesisSpec, TestSpec, WorkloadSpec};
use local_common::*;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// No etcd process of ours is left on the machine.
fn no_etcd_left(pids: &[u32]) {
    for pid in pids {
        assert_eq!(process_state(*pid), None, "etcd pid {pid} still there");
    }
}

#[test]
fn etcd_members_elect_fail_over_rejoin_and_clean_up() {
    if !root_or_skip("etcd_members_elect_fail_over_rejoin_and_clean_up") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(3);
    let db = Arc::new(Etcd::new(EtcdSpec::default()));
    let c = Cluster {
        nodes: net.nodes.clone(),
        db: db.clone(),
    };
    let t0 = Instant::now();
    for n in &c.nodes {
        db.setup(&c, n).unwrap();
    }
    db.await_ready(&c, Duration::from_secs(20)).unwrap();
    eprintln!("3-member etcd up and serving in {:?}", t0.elapsed());
    let mut pids: Vec<u32> = c.nodes.iter().filter_map(|n| db.pid(n)).collect();
    assert_eq!(pids.len(), 3);

    // One leader, which every member's consensus state names.
    let leaders = db.primaries(&c);
    assert_eq!(leaders.len(), 1, "{leaders:?}");
    let leader = c.node(&leaders[0]).unwrap().clone();
    let ls = db.consensus_state(&c, &leader).unwrap();
    assert!(ls.is_leader(), "{ls:?}");
    assert!(ls.term > 0, "{ls:?}");
    assert_eq!(ls.leader.as_deref(), Some(leader.name.as_str()));
    for n in c.nodes.iter().filter(|n| n.name != leader.name) {
        let s = db.consensus_state(&c, n).unwrap();
        assert_eq!(s.role, "follower", "{}: {s:?}", n.name);
        assert_eq!(s.leader.as_deref(), Some(leader.name.as_str()), "{s:?}");
        assert_eq!(s.term, ls.term, "{s:?}");
    }

    // A client writes through one member and reads through another.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = db.client(&c, &c.nodes[0]);
    let b = db.client(&c, &c.nodes[2]);
    rt.block_on(a.write("k", json!(1))).unwrap();
    assert_eq!(rt.block_on(b.read("k")).unwrap(), Some(json!(1)));

    // Kill the leader: gone, reaped; another member leads in a later term.
    let old_pid = db.pid(&leader).unwrap();
    db.kill(&c, &leader).unwrap();
    assert_eq!(process_state(old_pid), None, "killed etcd not reaped");
    assert!(db.pid(&leader).is_none());
    assert!(db.consensus_state(&c, &leader).is_none());
    let mut new_term = 0;
    assert!(
        eventually(Duration::from_secs(10), || {
            let p = db.primaries(&c);
            if p.len() != 1 || p[0] == leader.name {
                return false;
            }
            let s = c.node(&p[0]).and_then(|n| db.consensus_state(&c, n));
            new_term = s.map(|s| s.term).unwrap_or(0);
            new_term > ls.term
        }),
        "no new leader in a later term after killing {}",
        leader.name
    );

    // Restart with the same command: the data dir holds a member, so etcd
    // rejoins with its data and follows the new leader.
    db.start(&c, &leader).unwrap();
    db.start(&c, &leader).unwrap(); // idempotent
    pids.extend(db.pid(&leader));
    let back = db.client(&c, &leader);
    assert!(
        eventually(Duration::from_secs(10), || rt
            .block_on(back.read("k"))
            .ok()
            .flatten()
            == Some(json!(1))),
        "restarted member does not serve the data"
    );
    let s = db.consensus_state(&c, &leader).unwrap();
    assert!(s.term >= new_term && s.leader.is_some(), "{s:?}");

    // Pause: stopped, no status; resume: answers again.
    let victim = c
        .nodes
        .iter()
        .find(|n| !db.primaries(&c).contains(&n.name))
        .unwrap()
        .clone();
    db.pause(&c, &victim).unwrap();
    let vpid = db.pid(&victim).unwrap();
    assert_eq!(process_state(vpid), Some('T'));
    assert!(db.consensus_state(&c, &victim).is_none());
    assert!(!db.primaries(&c).is_empty(), "two members still lead");
    db.resume(&c, &victim).unwrap();
    assert!(eventually(Duration::from_secs(5), || db
        .consensus_state(&c, &victim)
        .is_some()));

    // Logs exist; teardown kills and removes data; twice is fine.
    for n in &c.nodes {
        let logs = db.log_files(&c, n);
        assert!(logs.iter().all(|l| l.exists()), "{logs:?}");
    }
    for n in &c.nodes {
        db.teardown(&c, n).unwrap();
        db.teardown(&c, n).unwrap();
        assert!(!n.data_dir.exists(), "{} data left", n.name);
        assert!(db.pid(n).is_none());
    }
    no_etcd_left(&pids);
}

#[test]
fn a_register_run_on_etcd_under_partitions_and_kills_is_valid() {
    if !root_or_skip("a_register_run_on_etcd_under_partitions_and_kills_is_valid") {
        return;
    }
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = partition_kill_run(&tmp, "etcd-register", "register", 50.0, 30.0, 16);
    assert_eq!(out.verdict, Validity::Valid, "{:#?}", out.results.checkers);
    eprintln!("etcd register run: {:?}", out.results.ops);
    assert!(out.results.ops.ok > 100, "{:?}", out.results.ops);

    // The faults happened: kills and partitions completed in the history.
    let h = read_jsonl(out.dir.join("history.jsonl")).unwrap().history;
    let faults: Vec<_> = h
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Ok)
        .map(|o| o.f.as_str())
        .collect();
    assert!(faults.contains(&"kill"), "{faults:?}");
    assert!(faults.contains(&"start-partition"), "{faults:?}");
    // etcd's logs were collected.
    for n in ["n1", "n2", "n3"] {
        let log = out.dir.join("nodes").join(n).join("etcd.log");
        assert!(log.exists(), "no {}", log.display());
    }
    let left = faultline::remote::local::heal_all().expect("heal");
    assert!(left.is_empty(), "left behind:\n{left}");
}

/// etcd's transactions through the optimistic client (one snapshot txn,
/// one guarded write txn): list-append under partitions and kills finds no
/// anomaly, and not vacuously — hundreds of committed transactions, reads of
/// lists of several elements, and both kinds of fault happened.
#[test]
fn a_list_append_run_on_etcd_under_partitions_and_kills_is_valid() {
    if !root_or_skip("a_list_append_run_on_etcd_under_partitions_and_kills_is_valid") {
        return;
    }
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = partition_kill_run(&tmp, "etcd-list-append", "list-append", 100.0, 20.0, 1);
    assert_eq!(out.verdict, Validity::Valid, "{:#?}", out.results.checkers);
    let checker = out
        .results
        .checkers
        .iter()
        .find(|c| c.checker == "list-append")
        .expect("the list-append checker ran");
    assert_eq!(checker.valid, Validity::Valid);
    eprintln!("etcd list-append run: {:?}", out.results.ops);

    let h = read_jsonl(out.dir.join("history.jsonl")).unwrap().history;
    let ok: Vec<_> = h
        .ops
        .iter()
        .filter(|o| o.f == "txn" && o.kind == OpType::Ok)
        .collect();
    assert!(ok.len() >= 200, "only {} ok txns", ok.len());
    let micro: Vec<&serde_json::Value> = ok
        .iter()
        .flat_map(|o| o.value.as_array().into_iter().flatten())
        .collect();
    let appends = micro.iter().filter(|m| m[0] == "append").count();
    let long_reads = micro
        .iter()
        .filter(|m| m[0] == "r" && m[2].as_array().is_some_and(|l| l.len() >= 2))
        .count();
    assert!(appends >= 200, "only {appends} appends");
    assert!(long_reads >= 50, "only {long_reads} reads of lists of 2+");
    let faults: Vec<_> = h
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Ok)
        .map(|o| o.f.as_str())
        .collect();
    assert!(faults.contains(&"kill"), "{faults:?}");
    assert!(faults.contains(&"start-partition"), "{faults:?}");
    let left = faultline::remote::local::heal_all().expect("heal");
    assert!(left.is_empty(), "left behind:\n{left}");
}

/// One run on 3 etcd members under partitions and kills every 3 s, 2
/// workers a node, stored under `tmp`.
fn partition_kill_run(
    tmp: &tempfile::TempDir,
    name: &str,
    workload: &str,
    rate: f64,
    time_limit: f64,
    seed: u64,
) -> faultline::runner::RunOutcome {
    let spec = TestSpec {
        name: name.into(),
        cluster: ClusterSpec {
            db: "etcd".into(),
            nodes: 3,
            ..Default::default()
        },
        workload: WorkloadSpec {
            name: workload.into(),
            concurrency: Concurrency::PerNode(2),
            rate,
            time_limit,
            recovery: 2.0,
            ..Default::default()
        },
        nemesis: NemesisSpec {
            name: "partition-kill".into(),
            config: NemesisConfig {
                faults: vec!["partition".into(), "kill".into()],
                interval: 3.0,
                ..Default::default()
            },
        },
        concurrency: 6,
        seed,
        results_dir: tmp.path().to_path_buf(),
        leave_db_running: false,
        test_count: 1,
        stop_on_anomaly: false,
    };
    let opts = RunOptions {
        progress: Progress::Plain,
        binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_faultline"))),
        carry: None,
    };
    runner::run(&spec, &opts).expect("run")
}
