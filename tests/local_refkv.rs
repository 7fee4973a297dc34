//! refkv as a Db on the local backend: a real 5-node cluster in namespaces
//! comes up and serves, and kill / start / pause / resume / primaries /
//! teardown do what the Db contract says. Needs root; skips otherwise.

mod local_common;
use faultline::db::refkv::{RefKv, RefKvOptions};
use faultline::db::{Cluster, Db};
use faultline::remote::local::process_state;
use local_common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn refkv_cluster_serves_and_survives_kill_pause_and_restart() {
    if !root_or_skip("refkv_cluster_serves_and_survives_kill_pause_and_restart") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(5);
    let db = Arc::new(RefKv::new(RefKvOptions {
        binary: env!("CARGO_BIN_EXE_faultline").into(),
        ..Default::default()
    }));
    assert!(
        db.capabilities().clock.is_ok(),
        "{:?}",
        db.capabilities().clock
    );
    let c = Cluster {
        nodes: net.nodes.clone(),
        db: db.clone(),
    };
    let t0 = Instant::now();
    for n in &c.nodes {
        db.setup(&c, n).unwrap();
    }
    db.await_ready(&c, Duration::from_secs(15)).unwrap();
    let up = t0.elapsed();
    eprintln!("5-node refkv cluster up and serving in {up:?}");

    // The nodes run under libfaketime with their own offset file.
    let pid = db.pid(&c.nodes[0]).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains("FAKETIME_TIMESTAMP_FILE=/run/faultline/faketime/n1"));

    let leaders = db.primaries(&c);
    assert_eq!(leaders.len(), 1, "{leaders:?}");
    let leader = c.node(&leaders[0]).unwrap().clone();

    // A client writes through one node and reads through another.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = db.client(&c, &c.nodes[1]);
    let b = db.client(&c, &c.nodes[3]);
    rt.block_on(a.write("k", json!(1))).unwrap();
    assert_eq!(rt.block_on(b.read("k")).unwrap(), Some(json!(1)));

    // Kill the leader: gone, reaped; another leader takes over.
    let old_pid = db.pid(&leader).unwrap();
    db.kill(&c, &leader).unwrap();
    assert_eq!(process_state(old_pid), None, "killed refkv not reaped");
    assert!(db.pid(&leader).is_none());
    assert!(
        eventually(Duration::from_secs(10), || {
            let p = db.primaries(&c);
            p.len() == 1 && p[0] != leader.name
        }),
        "no new leader after killing {}",
        leader.name
    );
    // Restart keeps the data: the old leader serves the value again.
    db.start(&c, &leader).unwrap();
    db.start(&c, &leader).unwrap(); // idempotent
    let back = db.client(&c, &leader);
    assert!(
        eventually(Duration::from_secs(10), || rt
            .block_on(back.read("k"))
            .ok()
            .flatten()
            == Some(json!(1))),
        "restarted node does not serve the data"
    );

    // Pause: stopped process, no answer; resume: answers again.
    let victim = c.nodes[2].clone();
    db.pause(&c, &victim).unwrap();
    let vpid = db.pid(&victim).unwrap();
    assert_eq!(process_state(vpid), Some('T'));
    assert!(!http_answers(
        &victim.host,
        8080,
        Duration::from_millis(300)
    ));
    db.resume(&c, &victim).unwrap();
    assert!(eventually(Duration::from_secs(5), || http_answers(
        &victim.host,
        8080,
        Duration::from_millis(500)
    )));

    // Teardown kills and removes data; twice is fine.
    for n in &c.nodes {
        db.teardown(&c, n).unwrap();
        db.teardown(&c, n).unwrap();
        assert!(!n.data_dir.exists(), "{} data left", n.name);
        assert!(db.pid(n).is_none());
    }
}
