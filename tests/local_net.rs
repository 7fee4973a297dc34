//! The local backend builds a real network: namespaces that reach each other
//! over the bridge, a harness that reaches them, and nothing left after
//! destroy.

mod local_common;
use faultline::remote::local::{self, LocalNet};
use local_common::*;
use std::time::Duration;

fn netns_list() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn forward_rules() -> String {
    let out = std::process::Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn nodes_reach_each_other_and_destroy_removes_everything() {
    if !root_or_skip("nodes_reach_each_other_and_destroy_removes_everything") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(3);
    assert_eq!(
        net.nodes
            .iter()
            .map(|n| n.host.as_str())
            .collect::<Vec<_>>(),
        ["10.213.7.11", "10.213.7.12", "10.213.7.13"]
    );
    assert!(netns_list().contains("faultline-n2"));
    assert!(forward_rules().contains("--comment faultline"));
    for n in &net.nodes {
        start_http(n, Vec::new());
    }
    // Node to node over the bridge (this crosses the host FORWARD chain).
    assert!(tcp_connects(&net.nodes[0], "10.213.7.12", 8000));
    assert!(tcp_connects(&net.nodes[2], "10.213.7.11", 8000));
    // Loopback is up inside a namespace.
    let lo = net.nodes[0]
        .remote
        .exec(&["ip", "-o", "addr", "show", "lo"])
        .unwrap();
    assert!(lo.stdout.contains("127.0.0.1"), "{}", lo.stdout);
    // No route outside 10.213.7.0/24: a namespace cannot reach the world.
    let route = net.nodes[0]
        .remote
        .exec(&["ip", "route", "get", "1.1.1.1"])
        .unwrap();
    assert!(
        !route.success(),
        "namespace has a route out: {}",
        route.stdout
    );

    let mut net = net;
    let report = net.net.take().unwrap().destroy().unwrap();
    assert!(
        report.namespaces.contains(&"faultline-n1".to_string()),
        "{report:?}"
    );
    assert_eq!(
        report.processes.len(),
        0,
        "daemons are killed by the remote first: {report:?}"
    );
    assert!(!netns_list().contains("faultline-"));
    assert!(!forward_rules().contains("--comment faultline"));
    assert!(!std::path::Path::new("/sys/class/net/faultline0").exists());
}

#[test]
fn spawned_daemon_is_signalled_and_reaped() {
    if !root_or_skip("spawned_daemon_is_signalled_and_reaped") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(1);
    let node = &net.nodes[0];
    let pid = start_http(node, Vec::new());
    // setsid: the daemon leads its own session.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    assert_eq!(fields[3], pid.to_string(), "session id is the pid");
    node.remote
        .signal(pid, faultline::remote::Signal::Kill)
        .unwrap();
    assert!(node.remote.wait_exit(pid, Duration::from_secs(5)).unwrap());
    assert_eq!(
        local::process_state(pid),
        None,
        "killed daemon was not reaped"
    );
    // A pid that is not in the node's namespace is refused.
    assert!(node
        .remote
        .signal(std::process::id(), faultline::remote::Signal::Cont)
        .is_err());
}

#[test]
fn bad_node_names_are_refused_before_anything_is_created() {
    if !root_or_skip("bad_node_names_are_refused_before_anything_is_created") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let e = LocalNet::create(&["n1".into(), "a b".into()], dir.path()).unwrap_err();
    assert!(e.to_string().contains("\"a b\""), "{e}");
    let e = LocalNet::create(&["n1".into(), "n1".into()], dir.path()).unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
    assert!(!netns_list().contains("faultline-"));
}
