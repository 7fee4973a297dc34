//! Each nemesis family really injects its fault and really heals it, on real
//! namespaces with real processes (`faultline probe` HTTP and UDP servers
//! stand in for a database). Needs root; skips with a note otherwise.

mod local_common;
use faultline::db::{Cluster, Db};
use faultline::history::{Op, Process};
use faultline::nemesis::clock::{ClockNemesis, ClockParams};
use faultline::nemesis::packet::LossNemesis;
use faultline::nemesis::partition::{PartitionKind, PartitionNemesis};
use faultline::nemesis::process::ProcessNemesis;
use faultline::nemesis::target::Target;
use faultline::nemesis::Nemesis;
use faultline::remote::faketime::{self, offset_file as faketime_file, write_offset};
use faultline::remote::local::process_state;
use faultline::remote::DaemonSpec;
use faultline::remote::Node;
use local_common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn op(f: &str, value: Value) -> Op {
    Op::invoke(Process::Nemesis, f, value)
}

/// What happened when one node tried to connect to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connect {
    Connected,
    /// Failed at once with a reset ("Connection refused").
    Refused,
    /// No answer within the 1 s budget.
    Silent,
}

/// Try a TCP connection from `a` to `b`'s port 8000 (1 s budget).
fn pair_connect(a: &Node, b: &Node) -> Connect {
    let argv = probe(&[
        "tcp-connect",
        &format!("{}:8000", b.host),
        "--timeout-ms",
        "1000",
    ]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = a.remote.exec(&argv).unwrap();
    if out.success() {
        Connect::Connected
    } else if out.stderr.contains("Connection refused") {
        Connect::Refused
    } else {
        Connect::Silent
    }
}

/// Outcome for every ordered pair, tried in parallel.
fn connect_all(nodes: &[Node]) -> Vec<(String, String, Connect)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .flat_map(|a| {
                nodes
                    .iter()
                    .filter(move |b| b.name != a.name)
                    .map(move |b| (a, b))
            })
            .map(|(a, b)| s.spawn(move || (a.name.clone(), b.name.clone(), pair_connect(a, b))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// The ordered pairs that connect.
fn reachability(nodes: &[Node]) -> BTreeSet<(String, String)> {
    connect_all(nodes)
        .into_iter()
        .filter(|(_, _, c)| *c == Connect::Connected)
        .map(|(a, b, _)| (a, b))
        .collect()
}

fn all_pairs(nodes: &[Node]) -> BTreeSet<(String, String)> {
    nodes
        .iter()
        .flat_map(|a| {
            nodes
                .iter()
                .filter(|b| b.name != a.name)
                .map(|b| (a.name.clone(), b.name.clone()))
        })
        .collect()
}

fn drops(grudge: &Value, a: &str, b: &str) -> bool {
    grudge[a]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x == b))
}

#[test]
fn partitions_really_cut_tcp_and_heal() {
    if !root_or_skip("partitions_really_cut_tcp_and_heal") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(5);
    let db = Arc::new(HttpDb::default());
    *db.leaders.lock().unwrap() = vec!["n3".into()];
    let c = cluster(&net, db.clone());
    for n in &c.nodes {
        start_http(n, Vec::new());
    }
    let everyone = all_pairs(&c.nodes);
    assert_eq!(reachability(&c.nodes), everyone, "before any fault");
    let mut nem = PartitionNemesis::new(PartitionKind::ALL.to_vec());
    nem.setup(&c).unwrap();
    for kind in PartitionKind::ALL {
        let v = nem
            .invoke(
                &c,
                &op("start-partition", json!({"kind": kind.name(), "pick": 17})),
            )
            .unwrap();
        assert_eq!(v["kind"], kind.name());
        let g = &v["grudge"];
        assert!(
            g.as_object().is_some_and(|o| !o.is_empty()),
            "{kind}: empty grudge {v}"
        );
        // a reaches b over TCP exactly when neither drops the other's packets.
        let expected: BTreeSet<(String, String)> = everyone
            .iter()
            .filter(|(a, b)| !drops(g, a, b) && !drops(g, b, a))
            .cloned()
            .collect();
        let outcome = connect_all(&c.nodes);
        let connected: BTreeSet<(String, String)> = outcome
            .iter()
            .filter(|(_, _, r)| *r == Connect::Connected)
            .map(|(a, b, _)| (a.clone(), b.clone()))
            .collect();
        assert_eq!(connected, expected, "{kind}: grudge {g}");
        // Regression: cut connections must fail at once with a reset, not
        // hang in retransmits (a reset rejected on the receiver's INPUT was
        // dropped by the sender's own rule, and the OUTPUT reject's reset,
        // which carries the peer's address, by the sender's INPUT rule).
        // Only a one-way cut may leave a connect hanging (no SYN-ACK).
        if kind != PartitionKind::OneWay {
            let silent: Vec<_> = outcome
                .iter()
                .filter(|(_, _, r)| *r == Connect::Silent)
                .collect();
            assert!(
                silent.is_empty(),
                "{kind}: connects hung instead of being refused: {silent:?}"
            );
        } else {
            // Peers of a deaf node are refused at once.
            for (a, b, r) in &outcome {
                if drops(g, b, a) {
                    assert_eq!(*r, Connect::Refused, "one-way: {a} -> {b}");
                }
            }
        }
        if kind == PartitionKind::IsolateLeader {
            assert_eq!(g["n3"].as_array().map(Vec::len), Some(4), "{g}");
        }
        // The harness (clients) still reaches every node.
        for n in &c.nodes {
            assert!(
                host_connects(&n.host, 8000),
                "{kind}: harness cut off from {}",
                n.name
            );
        }
        let healed = nem.invoke(&c, &op("stop-partition", Value::Null)).unwrap();
        assert_eq!(healed["healed"].as_array().map(Vec::len), Some(5));
        assert_eq!(reachability(&c.nodes), everyone, "{kind}: after heal");
    }
    // Teardown is idempotent and heals a partition left in force.
    nem.invoke(
        &c,
        &op(
            "start-partition",
            json!({"kind": "random-halves", "pick": 1}),
        ),
    )
    .unwrap();
    nem.teardown(&c).unwrap();
    nem.teardown(&c).unwrap();
    assert_eq!(reachability(&c.nodes), everyone, "after teardown");
}

/// Start a UDP receiver on `node` port 9000 logging each datagram.
fn udp_receiver(node: &Node) -> std::path::PathBuf {
    let log = node.log_dir.join("udp.log");
    node.remote
        .spawn(&DaemonSpec {
            argv: probe(&["udp-recv", &format!("{}:9000", node.host)]),
            env: vec![],
            cwd: node.data_dir.clone(),
            log_file: log.clone(),
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    log
}

/// Send `n` datagrams tagged `tag` from `from` to `to`:9000.
fn udp_send(from: &Node, to: &Node, tag: &str, n: usize) {
    let argv = probe(&[
        "udp-send",
        &format!("{}:9000", to.host),
        "--tag",
        tag,
        "--count",
        &n.to_string(),
        "--gap-us",
        "500",
    ]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    from.remote.exec_ok(&argv).unwrap();
    std::thread::sleep(Duration::from_millis(300));
}

fn received(log: &std::path::Path, tag: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == tag)
        .count()
}

#[test]
fn one_way_partition_is_one_way() {
    if !root_or_skip("one_way_partition_is_one_way") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(2);
    let c = cluster(&net, Arc::new(HttpDb::default()));
    let logs: Vec<_> = c.nodes.iter().map(udp_receiver).collect();
    let mut nem = PartitionNemesis::default();
    nem.setup(&c).unwrap();
    let v = nem
        .invoke(
            &c,
            &op("start-partition", json!({"kind": "one-way", "pick": 3})),
        )
        .unwrap();
    let g = v["grudge"].as_object().unwrap();
    assert_eq!(g.len(), 1, "{v}");
    let (deaf, _) = g.iter().next().unwrap();
    let (d, o) = if deaf == "n1" { (0, 1) } else { (1, 0) };
    udp_send(&c.nodes[o], &c.nodes[d], "to-deaf", 20);
    udp_send(&c.nodes[d], &c.nodes[o], "from-deaf", 20);
    assert_eq!(
        received(&logs[d], "to-deaf"),
        0,
        "the deaf node heard its peer"
    );
    assert_eq!(
        received(&logs[o], "from-deaf"),
        20,
        "the other direction was cut too"
    );
    nem.invoke(&c, &op("stop-partition", Value::Null)).unwrap();
    udp_send(&c.nodes[o], &c.nodes[d], "healed", 20);
    assert_eq!(received(&logs[d], "healed"), 20, "not healed");
}

#[test]
fn packet_loss_drops_a_measurable_share_and_heals() {
    if !root_or_skip("packet_loss_drops_a_measurable_share_and_heals") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(2);
    let c = cluster(&net, Arc::new(HttpDb::default()));
    let log = udp_receiver(&c.nodes[0]);
    let mut nem = LossNemesis::new(0.5, vec![Target::All]);
    nem.setup(&c).unwrap();
    let v = nem
        .invoke(
            &c,
            &op(
                "start-loss",
                json!({"target": "all", "pick": 0, "probability": 0.5}),
            ),
        )
        .unwrap();
    assert_eq!(v["nodes"], json!(["n1", "n2"]));
    udp_send(&c.nodes[1], &c.nodes[0], "lossy", 400);
    let got = received(&log, "lossy");
    eprintln!("loss p=0.5: {got} of 400 datagrams received");
    // Binomial(400, 0.5): mean 200, sd 10; 120..280 is 8 sd wide.
    assert!((120..=280).contains(&got), "received {got} of 400 at p=0.5");
    nem.invoke(&c, &op("stop-loss", Value::Null)).unwrap();
    udp_send(&c.nodes[1], &c.nodes[0], "clean", 400);
    let got = received(&log, "clean");
    assert!(got >= 395, "after heal received only {got} of 400");
    nem.teardown(&c).unwrap();
    nem.teardown(&c).unwrap();
}

#[test]
fn kill_really_kills_and_start_restarts() {
    if !root_or_skip("kill_really_kills_and_start_restarts") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(3);
    let db = Arc::new(HttpDb::default());
    let c = cluster(&net, db.clone());
    for n in &c.nodes {
        db.setup(&c, n).unwrap();
    }
    let mut nem = ProcessNemesis::kill(vec![Target::One]);
    let v = nem
        .invoke(&c, &op("kill", json!({"target": "one", "pick": 2})))
        .unwrap();
    let killed: Vec<String> = serde_json::from_value(v["killed"].clone()).unwrap();
    assert_eq!(killed.len(), 1, "{v}");
    let victim = c.node(&killed[0]).unwrap().clone();
    assert!(
        !host_connects(&victim.host, 8000),
        "killed node still serves"
    );
    for n in c.nodes.iter().filter(|n| n.name != victim.name) {
        assert!(host_connects(&n.host, 8000), "{} went down too", n.name);
    }
    let v = nem.invoke(&c, &op("start", Value::Null)).unwrap();
    assert_eq!(v["started"], json!(killed));
    assert!(host_connects(&victim.host, 8000));
    // Leader target hits the leader.
    *db.leaders.lock().unwrap() = vec!["n2".into()];
    let before = db.pid_of("n2").unwrap();
    let v = nem
        .invoke(&c, &op("kill", json!({"target": "leader", "pick": 0})))
        .unwrap();
    assert_eq!(v["killed"], json!(["n2"]));
    assert!(
        process_state(before).is_none(),
        "pid {before} still exists (not reaped?)"
    );
    // Teardown restarts it; twice is fine.
    nem.teardown(&c).unwrap();
    nem.teardown(&c).unwrap();
    let after = db.pid_of("n2").unwrap();
    assert_ne!(before, after);
    assert!(host_connects("10.213.7.12", 8000));
}

#[test]
fn pause_really_stops_answering_and_resume_answers_again() {
    if !root_or_skip("pause_really_stops_answering_and_resume_answers_again") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(2);
    let db = Arc::new(HttpDb::default());
    let c = cluster(&net, db.clone());
    for n in &c.nodes {
        db.setup(&c, n).unwrap();
    }
    let mut nem = ProcessNemesis::pause(vec![Target::One]);
    let v = nem
        .invoke(&c, &op("pause", json!({"target": "one", "pick": 9})))
        .unwrap();
    let paused: Vec<String> = serde_json::from_value(v["paused"].clone()).unwrap();
    assert_eq!(paused.len(), 1);
    let victim = c.node(&paused[0]).unwrap().clone();
    let pid = db.pid_of(&victim.name).unwrap();
    assert_eq!(process_state(pid), Some('T'));
    assert!(
        !http_answers(&victim.host, 8000, Duration::from_millis(500)),
        "paused node answered"
    );
    let v = nem.invoke(&c, &op("resume", Value::Null)).unwrap();
    assert_eq!(v["resumed"], json!(paused));
    assert_ne!(process_state(pid), Some('T'));
    assert!(http_answers(&victim.host, 8000, Duration::from_secs(2)));
    // Teardown resumes a node left paused.
    nem.invoke(&c, &op("pause", json!({"target": "all", "pick": 0})))
        .unwrap();
    nem.teardown(&c).unwrap();
    for n in &c.nodes {
        assert_ne!(
            process_state(db.pid_of(&n.name).unwrap()),
            Some('T'),
            "{}",
            n.name
        );
    }
    nem.teardown(&c).unwrap();
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The node's clock under faketime minus the real clock, in seconds.
fn skew_s(node: &Node) -> f64 {
    let mut argv = vec!["env".to_string()];
    for (k, v) in faketime::node_env(node)
        .unwrap()
        .expect("libfaketime installed")
    {
        argv.push(format!("{k}={v}"));
    }
    argv.extend(["date".to_string(), "+%s.%N".to_string()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let before = now_s();
    let out = node.remote.exec_ok(&argv).unwrap();
    let after = now_s();
    out.stdout.trim().parse::<f64>().unwrap() - (before + after) / 2.0
}

#[test]
fn clock_skew_really_reads_differently_and_resets() {
    if !root_or_skip("clock_skew_really_reads_differently_and_resets") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(2);
    let c: Cluster = cluster(&net, Arc::new(HttpDb::default()));
    let params = ClockParams {
        min_skew_ms: 10,
        max_skew_ms: 100_000,
        strobe_delta_ms: 5_000,
        strobe_period_ms: 20,
        strobe_duration_ms: 300,
    };
    let mut nem = ClockNemesis::new(params, Ok(()));
    nem.setup(&c).unwrap();
    for n in &c.nodes {
        assert!(skew_s(n).abs() < 0.5, "{} skewed before any fault", n.name);
    }
    // A running process sees the new offset without restarting.
    let n1 = &c.nodes[0];
    let ticker = n1.log_dir.join("ticker.log");
    n1.remote
        .spawn(&DaemonSpec {
            argv: probe(&["clock", "--interval-ms", "50"]),
            env: faketime::node_env(n1).unwrap().unwrap(),
            cwd: n1.data_dir.clone(),
            log_file: ticker.clone(),
        })
        .unwrap();
    write_offset(n1, 30_000).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let last: f64 = std::fs::read_to_string(&ticker)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (last - now_s() - 30.0).abs() < 1.0,
        "running process reads {last}"
    );
    assert!((skew_s(n1) - 30.0).abs() < 0.5);
    assert!(skew_s(&c.nodes[1]).abs() < 0.5, "n2 skewed by n1's fault");

    // bump-clock: each node reported reads its reported offset.
    let mut v = Value::Null;
    for pick in 0..20 {
        v = nem
            .invoke(&c, &op("bump-clock", json!({"pick": pick})))
            .unwrap();
        let offs = v["offsets_ms"].as_object().unwrap();
        if offs.values().any(|ms| ms.as_i64().unwrap().abs() >= 2000) {
            break;
        }
    }
    for (name, ms) in v["offsets_ms"].as_object().unwrap() {
        let expect = ms.as_i64().unwrap() as f64 / 1000.0;
        let got = skew_s(c.node(name).unwrap());
        assert!(
            (got - expect).abs() < 0.5,
            "{name}: expected {expect} s, reads {got} s"
        );
    }
    // bump-clock back: every clock goes back by the same amount.
    let _ = nem.invoke(&c, &op("reset-clock", Value::Null)).unwrap();
    let v = nem
        .invoke(
            &c,
            &op("bump-clock", json!({"pick": 9, "direction": "back"})),
        )
        .unwrap();
    let bumps: Vec<i64> = v["bumped_ms"]
        .as_object()
        .unwrap()
        .values()
        .map(|ms| ms.as_i64().unwrap())
        .collect();
    assert_eq!(bumps.len(), c.nodes.len(), "{v}");
    assert!(bumps.iter().all(|ms| *ms < 0 && *ms == bumps[0]), "{v}");
    for n in &c.nodes {
        let got = skew_s(n);
        assert!(
            (got - bumps[0] as f64 / 1000.0).abs() < 0.5,
            "{}: expected {} ms back, reads {got} s",
            n.name,
            bumps[0]
        );
    }
    // strobe flips and leaves the clocks where they were.
    let before: Vec<String> = c
        .nodes
        .iter()
        .map(|n| std::fs::read_to_string(faketime_file(&n.name)).unwrap())
        .collect();
    let v = nem
        .invoke(&c, &op("strobe-clock", json!({"pick": 4})))
        .unwrap();
    assert!(v["flips"].as_u64().unwrap() >= 5, "{v}");
    let after: Vec<String> = c
        .nodes
        .iter()
        .map(|n| std::fs::read_to_string(faketime_file(&n.name)).unwrap())
        .collect();
    assert_eq!(before, after);
    // reset-clock: back to the real time everywhere.
    let v = nem.invoke(&c, &op("reset-clock", Value::Null)).unwrap();
    assert_eq!(v["reset"], json!(["n1", "n2"]));
    for n in &c.nodes {
        assert!(skew_s(n).abs() < 0.5, "{} still skewed after reset", n.name);
    }
    nem.teardown(&c).unwrap();
    nem.teardown(&c).unwrap();

    // A Db that ignores libfaketime: skipped with the reason, nothing touched.
    write_offset(n1, 7_000).unwrap();
    let mut off = ClockNemesis::new(ClockParams::default(), Err("static binary".into()));
    let v = off
        .invoke(&c, &op("bump-clock", json!({"pick": 1})))
        .unwrap();
    assert_eq!(v, json!({"skipped": "static binary"}));
    off.teardown(&c).unwrap();
    assert!((skew_s(n1) - 7.0).abs() < 0.5);
}
