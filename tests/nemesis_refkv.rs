//! The `all` nemesis package against a real refkv cluster in namespaces:
//! leader-targeted faults hit the node that really leads, every family's
//! start op does what its completion says, and the package's final ops
//! heal everything so the cluster serves again. Needs root.

mod local_common;
use faultline::db::refkv::{RefKv, RefKvOptions};
use faultline::db::{Cluster, Db};
use faultline::history::{Op, Process};
use faultline::nemesis::iptables::{rule_count, ELECTION_CHAIN, LOSS_CHAIN, PARTITION_CHAIN};
use faultline::nemesis::package::{build, NemesisConfig};
use faultline::nemesis::target::{resolve, Target};
use faultline::remote::faketime::offset_file as faketime_file;
use faultline::remote::local::process_state;
use local_common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn op(f: &str, value: Value) -> Op {
    Op::invoke(Process::Nemesis, f, value)
}

/// refkv set up on `net`'s nodes with `extra` node flags, serving.
fn serving_refkv(net: &TestNet, extra: &[&str]) -> (Arc<RefKv>, Cluster) {
    let db = Arc::new(RefKv::new(RefKvOptions {
        binary: env!("CARGO_BIN_EXE_faultline").into(),
        extra_args: extra.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }));
    let c = Cluster {
        nodes: net.nodes.clone(),
        db: db.clone(),
    };
    for n in &c.nodes {
        db.setup(&c, n).unwrap();
    }
    db.await_ready(&c, Duration::from_secs(15)).unwrap();
    (db, c)
}

#[test]
fn all_package_hits_the_real_leader_and_final_ops_heal_everything() {
    if !root_or_skip("all_package_hits_the_real_leader_and_final_ops_heal_everything") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(3);
    let (db, c) = serving_refkv(&net, &[]);

    let cfg: NemesisConfig =
        serde_norway::from_str("faults: [all]\nclock:\n  strobe-duration-ms: 200\n").unwrap();
    let mut pkg = build(&cfg, &db.capabilities()).unwrap();
    assert!(pkg.skipped.is_empty(), "{:?}", pkg.skipped);
    pkg.nemesis.setup(&c).unwrap();

    // isolate-leader cuts the node that leads right now.
    let leader = db.primaries(&c);
    assert_eq!(leader.len(), 1);
    let v = pkg
        .nemesis
        .invoke(
            &c,
            &op(
                "start-partition",
                json!({"kind": "isolate-leader", "pick": 1}),
            ),
        )
        .unwrap();
    assert_eq!(
        v["grudge"][&leader[0]].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
    // The value names the leader it cut off (reports time its loss).
    assert_eq!(v["leaders"], json!([leader[0]]), "{v}");
    let cut = c.node(&leader[0]).unwrap();
    assert_eq!(rule_count(cut, PARTITION_CHAIN).unwrap(), 3, "lo + 2 peers");
    // The majority elects a new leader while the old one is cut off.
    assert!(
        eventually(Duration::from_secs(10), || db
            .primaries(&c)
            .iter()
            .any(|p| *p != leader[0])),
        "majority did not elect a new leader"
    );
    pkg.nemesis
        .invoke(&c, &op("stop-partition", Value::Null))
        .unwrap();
    db.await_ready(&c, Duration::from_secs(15)).unwrap();

    // kill leader: the process that leads is gone.
    let leader = db.primaries(&c);
    let victim = c.node(&leader[0]).unwrap().clone();
    let pid = db.pid(&victim).unwrap();
    let v = pkg
        .nemesis
        .invoke(&c, &op("kill", json!({"target": "leader", "pick": 2})))
        .unwrap();
    assert_eq!(v["killed"], json!([victim.name]));
    assert_eq!(v["leaders"], json!([victim.name]), "the leader it killed");
    assert_eq!(process_state(pid), None);

    // pause one (a live one), bump clocks, lose packets: all in force at once.
    let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
    // Pausing only the killed node did nothing: an error that says why.
    let dead_pick = (0..100u64)
        .find(|p| resolve(Target::One, &names, &[], *p) == [victim.name.clone()])
        .unwrap();
    let e = pkg
        .nemesis
        .invoke(
            &c,
            &op("pause", json!({"target": "one", "pick": dead_pick})),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("not running"), "{e}");
    let live_pick = (0..100u64)
        .find(|p| resolve(Target::One, &names, &[], *p) != [victim.name.clone()])
        .unwrap();
    let v = pkg
        .nemesis
        .invoke(
            &c,
            &op("pause", json!({"target": "one", "pick": live_pick})),
        )
        .unwrap();
    let paused = v["paused"].as_array().cloned().unwrap_or_default();
    let v = pkg
        .nemesis
        .invoke(&c, &op("bump-clock", json!({"pick": 4})))
        .unwrap();
    assert!(
        v["offsets_ms"].as_object().is_some_and(|o| !o.is_empty()),
        "{v}"
    );
    let v = pkg
        .nemesis
        .invoke(&c, &op("start-loss", json!({"target": "all", "pick": 5})))
        .unwrap();
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(3));

    // The final ops heal everything, in order.
    for (f, v) in pkg.final_ops.clone() {
        pkg.nemesis
            .invoke(&c, &op(&f, v))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    for n in &c.nodes {
        assert_eq!(rule_count(n, PARTITION_CHAIN).unwrap(), 0, "{}", n.name);
        assert_eq!(rule_count(n, LOSS_CHAIN).unwrap(), 0, "{}", n.name);
        assert_eq!(
            std::fs::read_to_string(faketime_file(&n.name)).unwrap(),
            "+0"
        );
        let pid = db
            .pid(n)
            .unwrap_or_else(|| panic!("{} not restarted", n.name));
        assert_ne!(
            process_state(pid),
            Some('T'),
            "{} still paused ({paused:?})",
            n.name
        );
    }
    db.await_ready(&c, Duration::from_secs(15)).unwrap();
    pkg.nemesis.teardown(&c).unwrap();
    pkg.nemesis.teardown(&c).unwrap();
    for n in &c.nodes {
        db.teardown(&c, n).unwrap();
    }
}

/// The `double-vote` election choreography on a real 3-node cluster (the
/// correct build): it reaches the decisive step, leaves the candidates cut
/// off from each other (their rules are in force), and `stop-election`
/// removes every rule and leaves every node running and the cluster
/// serving. The voter kept its vote, so there was never a second leader.
#[test]
fn election_double_vote_really_cuts_and_stop_heals() {
    if !root_or_skip("election_double_vote_really_cuts_and_stop_heals") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(3);
    let (db, c) = serving_refkv(&net, &["--election-timeout-ms", "1500"]);
    let cfg: NemesisConfig =
        serde_norway::from_str("faults: [election]\nelection:\n  targets: [double-vote]\n")
            .unwrap();
    let mut pkg = build(&cfg, &db.capabilities()).unwrap();
    pkg.nemesis.setup(&c).unwrap();

    // Writes go on during the choreography, so the voter falls behind.
    let writer = {
        let c = c.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                for n in &c.nodes {
                    let client = c.db.client(&c, n);
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let _ = rt.block_on(client.write("k", json!(i)));
                    i += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        (stop, h)
    };
    let mut outcome = String::new();
    let mut v = Value::Null;
    for pick in 0..3u64 {
        v = pkg
            .nemesis
            .invoke(
                &c,
                &op(
                    "start-election",
                    json!({"scenario": "double-vote", "pick": pick}),
                ),
            )
            .unwrap();
        outcome = v["outcome"].as_str().unwrap_or("").to_string();
        if outcome != "incomplete" {
            break;
        }
        pkg.nemesis
            .invoke(&c, &op("stop-election", Value::Null))
            .unwrap();
    }
    writer.0.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.1.join().unwrap();
    assert_eq!(outcome, "voter-refused", "{v:#}");
    let candidates: Vec<String> = v["parts"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    for name in &candidates {
        let n = c.node(name).unwrap();
        assert!(rule_count(n, ELECTION_CHAIN).unwrap() > 0, "{name} not cut");
    }
    // The candidates really cannot reach each other.
    let (a, b) = (
        c.node(&candidates[0]).unwrap(),
        c.node(&candidates[1]).unwrap(),
    );
    assert!(
        !tcp_connects(a, &b.host, 8081),
        "{} reaches {}",
        a.name,
        b.name
    );

    pkg.nemesis
        .invoke(&c, &op("stop-election", Value::Null))
        .unwrap();
    for n in &c.nodes {
        assert_eq!(rule_count(n, ELECTION_CHAIN).unwrap(), 0, "{}", n.name);
        let pid = db
            .pid(n)
            .unwrap_or_else(|| panic!("{} not running", n.name));
        assert_ne!(process_state(pid), Some('T'), "{} still paused", n.name);
    }
    assert!(
        tcp_connects(a, &b.host, 8081),
        "{} still cut from {}",
        a.name,
        b.name
    );
    db.await_ready(&c, Duration::from_secs(15)).unwrap();
    pkg.nemesis.teardown(&c).unwrap();
    for n in &c.nodes {
        db.teardown(&c, n).unwrap();
    }
}
