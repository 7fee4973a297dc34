//! `faultline heal` after a crashed run removes every namespace, process,
//! link, rule and faketime file faultline left — and nothing it did not
//! create. Needs root; skips with a note otherwise.

mod local_common;
use faultline::nemesis::partition::PartitionNemesis;
use faultline::nemesis::Nemesis;
use faultline::remote::faketime::{offset_file as faketime_file, write_offset};
use faultline::remote::local::{self, process_state, LocalNet};
use faultline::remote::DaemonSpec;
use local_common::*;
use serde_json::json;
use std::process::Command;
use std::sync::Arc;

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Things that are not faultline's; removed by this guard, never by heal.
struct Bystanders;

const KEEP_NS: &str = "fltest-keep";
const KEEP_RULE: &str = "-i fltestkeep0 -m comment --comment faultline-user -j ACCEPT";

impl Bystanders {
    fn create() -> Bystanders {
        sh(&format!("ip netns add {KEEP_NS}"));
        sh(&format!("iptables -w -A FORWARD {KEEP_RULE}"));
        Bystanders
    }
}

impl Drop for Bystanders {
    fn drop(&mut self) {
        sh(&format!("ip netns del {KEEP_NS}"));
        sh(&format!("iptables -w -D FORWARD {KEEP_RULE}"));
    }
}

#[test]
fn heal_after_a_crashed_run_leaves_nothing_and_touches_nothing_else() {
    if !root_or_skip("heal_after_a_crashed_run_leaves_nothing_and_touches_nothing_else") {
        return;
    }
    let _s = serial();
    let _bystanders = Bystanders::create();
    // A run that dies mid-fault: daemons up, a partition in force, skewed clocks.
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = vec!["n1".into(), "n2".into(), "n3".into()];
    let (net, nodes) = LocalNet::create(&names, dir.path()).unwrap();
    let mut pids = Vec::new();
    for n in &nodes {
        pids.push(
            n.remote
                .spawn(&DaemonSpec {
                    argv: vec!["sleep".into(), "300".into()],
                    env: vec![],
                    cwd: n.data_dir.clone(),
                    log_file: n.log_dir.join("sleep.log"),
                })
                .unwrap(),
        );
        write_offset(n, 5_000).unwrap();
    }
    let c = faultline::db::Cluster {
        nodes: nodes.clone(),
        db: Arc::new(HttpDb::default()),
    };
    let mut nem = PartitionNemesis::default();
    nem.setup(&c).unwrap();
    nem.invoke(
        &c,
        &faultline::history::Op::invoke(
            faultline::history::Process::Nemesis,
            "start-partition",
            json!({"kind": "random-halves", "pick": 1}),
        ),
    )
    .unwrap();
    net.leave(); // as if faultline were SIGKILLed here

    assert!(sh("ip netns list").contains("faultline-n2"));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("heal")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "heal failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "deleted namespace faultline-n1",
        "deleted namespace faultline-n3",
        "deleted link faultline0",
        "deleted rule -A FORWARD -i faultline0",
        "killed process",
        "deleted file /run/faultline/faketime/n2",
    ] {
        assert!(stdout.contains(want), "report lacks {want:?}:\n{stdout}");
    }
    assert_eq!(stdout.matches("killed process").count(), 3, "{stdout}");

    // Nothing of faultline's is left...
    let netns = sh("ip netns list");
    assert!(!netns.contains("faultline-"), "{netns}");
    assert!(!std::path::Path::new("/sys/class/net/faultline0").exists());
    assert!(sh("ip -o link show")
        .lines()
        .all(|l| !l.contains("faultline")));
    assert!(!sh("iptables -w -S FORWARD").contains("--comment faultline "));
    assert!(!sh("iptables -w -S FORWARD")
        .lines()
        .any(|l| l.ends_with("--comment faultline -j ACCEPT")));
    for (n, pid) in names.iter().zip(&pids) {
        assert!(!faketime_file(n).exists());
        // Killed; at most a zombie of this test process remains.
        assert!(
            matches!(process_state(*pid), None | Some('Z')),
            "pid {pid} alive"
        );
    }
    // ...and what is not faultline's is untouched.
    assert!(
        netns.contains(KEEP_NS),
        "heal deleted a namespace it did not create"
    );
    assert!(
        sh("iptables -w -S FORWARD").contains("--comment faultline-user"),
        "heal deleted a rule it did not create"
    );
    // Healing again finds nothing.
    let again = local::heal_all().unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn heal_refuses_while_a_run_is_live() {
    if !root_or_skip("heal_refuses_while_a_run_is_live") {
        return;
    }
    let _s = serial();
    let net = TestNet::new(1);
    let e = local::heal_all().unwrap_err().to_string();
    assert!(e.contains("in progress"), "{e}");
    assert!(
        sh("ip netns list").contains("faultline-n1"),
        "heal touched a live run"
    );
    drop(net);
    assert!(!sh("ip netns list").contains("faultline-"));
}

#[test]
fn create_removes_what_a_killed_run_left() {
    if !root_or_skip("create_removes_what_a_killed_run_left") {
        return;
    }
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (net, _) = LocalNet::create(&["old1".into(), "old2".into()], dir.path()).unwrap();
    net.leave();
    let net = TestNet::new(2);
    let left = net.net.as_ref().unwrap().leftovers();
    assert!(
        left.namespaces.contains(&"faultline-old1".to_string()),
        "{left:?}"
    );
    assert!(!sh("ip netns list").contains("faultline-old"));
    drop(net);
}

#[test]
fn heal_without_root_exits_254_saying_so() {
    if !root_or_skip("heal_without_root_exits_254_saying_so") {
        return;
    }
    // Drop to nobody for this one command (setpriv is util-linux).
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_faultline"))
        .arg("heal")
        // Where sudo exists, faultline would re-run itself under it.
        .env("FAULTLINE_NO_SUDO", "1")
        .output();
    let Ok(out) = out else {
        eprintln!("note: setpriv not available; skipping");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("Permission denied") && out.status.code() != Some(254) {
        eprintln!("note: nobody cannot execute the test binary here; skipping: {stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
}

#[test]
fn prerequisites_are_present_on_this_machine() {
    if !root_or_skip("prerequisites_are_present_on_this_machine") {
        return;
    }
    // root_or_skip installed iptables, iproute2 and libfaketime when missing:
    // now nothing is missing, and no install is needed.
    local::ensure_prerequisites(false).unwrap();
    assert!(local::libfaketime_path().is_some());
}
