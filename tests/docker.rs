//! The docker backend end to end, through the real binary, on real
//! containers: a 3-node refkv cluster is valid under partitions, kills and
//! pauses, `--bug stale-read` is caught, etcd runs in containers too, the
//! node image is built once and reused, `faultline heal` removes a left
//! cluster, and a missing engine is a clear exit 254. After every run no
//! container or network labelled `faultline=1` is left.
//!
//! Needs a Docker engine (`docker info` must work): without one every test
//! here FAILS with the reason — it never skips. The first run on a machine
//! builds the node image (debootstrap, about 2 minutes, needs root).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// One docker cluster at a time: the tests of this file take turns.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fail loudly, with docker's own reason, when the engine does not answer.
fn require_docker() {
    let out = Command::new("docker").arg("info").output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "these tests need a Docker engine and `docker info` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("these tests need a Docker engine; cannot run `docker`: {e}"),
    }
}

fn cluster(name: &str) -> String {
    format!("{}/clusters/{name}.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn faultline(args: &[&str], results: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .arg("--results")
        .arg(results)
        .env("NO_COLOR", "1")
        .output()
        .expect("run faultline")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tail(out: &Output) -> String {
    let t = text(out);
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `docker ARGS` stdout, lines trimmed, empty ones dropped.
fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Nothing of ours is left: no container, no network labelled
/// `faultline=1`.
fn assert_nothing_left(after: &str) {
    let containers = docker_lines(&[
        "ps",
        "-a",
        "--filter",
        "label=faultline=1",
        "--format",
        "{{.Names}}",
    ]);
    assert!(
        containers.is_empty(),
        "after {after}: containers left: {containers:?}"
    );
    let networks = docker_lines(&[
        "network",
        "ls",
        "--filter",
        "label=faultline=1",
        "--format",
        "{{.Name}}",
    ]);
    assert!(
        networks.is_empty(),
        "after {after}: networks left: {networks:?}"
    );
}

/// The node images that exist, as `tag id` lines.
fn node_images() -> Vec<String> {
    docker_lines(&["images", "faultline-node", "--format", "{{.Tag}} {{.ID}}"])
}

/// The nemesis ops that completed (`ok`) in the one run under `results`.
fn nemesis_fs(results: &Path) -> Vec<String> {
    let mut fs = Vec::new();
    for entry in walk(results) {
        if entry.file_name().and_then(|n| n.to_str()) != Some("history.jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&entry).expect("history");
        for line in text.lines() {
            let op: serde_json::Value = serde_json::from_str(line).expect("an op");
            if op["process"] == "nemesis" && op["type"] == "ok" {
                fs.push(op["f"].as_str().unwrap_or("?").to_string());
            }
        }
    }
    fs
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `faultline heal`. Plain heal visits the local backend first, which
/// refuses while another engineer's local run holds its lock: that is not
/// a verdict on docker, so wait and retry.
fn heal() -> Output {
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("heal")
            .output()
            .expect("faultline heal")
    };
    let mut out = run();
    for _ in 0..40 {
        if out.status.code() != Some(254) || !text(&out).contains("holds /run/faultline/lock") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(10));
        out = run();
    }
    out
}

#[test]
fn refkv_in_containers_is_valid_under_partition_kill_and_pause() {
    require_docker();
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = faultline(
        &[
            "test",
            "--cluster",
            &cluster("docker-3"),
            "--workload",
            "register",
            "--nemesis",
            "partition,kill,pause",
            "--interval",
            "2",
            "--time-limit",
            "15",
            "--seed",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", tail(&out));
    assert!(text(&out).contains("verdict: VALID"), "{}", tail(&out));
    let fs = nemesis_fs(dir.path());
    for f in ["start-partition", "kill", "pause"] {
        assert!(fs.iter().any(|x| x == f), "no {f} happened: {fs:?}");
    }
    assert_nothing_left("a valid run");
}

#[test]
fn stale_read_bug_is_caught_in_containers() {
    require_docker();
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    // The recipe tests/e2e_test.rs uses on the local backend.
    let out = faultline(
        &[
            "test",
            "--cluster",
            &cluster("docker-3"),
            "--nemesis",
            "all",
            "--interval",
            "2",
            "--time-limit",
            "30",
            "--bug",
            "stale-read",
            "--seed",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", tail(&out));
    assert!(text(&out).contains("verdict: INVALID"), "{}", tail(&out));
    assert_nothing_left("a run that found the bug");
}

#[test]
fn the_node_image_is_built_once_and_reused() {
    require_docker();
    let _s = serial();
    let run = || {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = faultline(
            &[
                "test",
                "--cluster",
                &cluster("docker-3"),
                "--nodes",
                "1",
                "--workload",
                "register",
                "--nemesis",
                "none",
                "--time-limit",
                "2",
                "--seed",
                "1",
            ],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", tail(&out));
        out
    };
    // The first run builds the image if no earlier test did.
    run();
    let before = node_images();
    assert!(!before.is_empty(), "no faultline-node image after a run");
    let again = run();
    assert!(
        !text(&again).contains("building node image"),
        "the second provision rebuilt the image:\n{}",
        tail(&again)
    );
    assert_eq!(node_images(), before, "the cached image changed");
    assert_nothing_left("two short runs");
}

#[test]
fn heal_removes_a_cluster_left_running_and_then_finds_nothing() {
    require_docker();
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = faultline(
        &[
            "test",
            "--cluster",
            &cluster("docker-3"),
            "--workload",
            "register",
            "--nemesis",
            "partition,clock",
            "--interval",
            "1",
            "--time-limit",
            "4",
            "--seed",
            "2",
            "--leave-db-running",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", tail(&out));
    let left = docker_lines(&[
        "ps",
        "--filter",
        "label=faultline=1",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(left.len(), 3, "the cluster was not left running: {left:?}");
    let fs = nemesis_fs(dir.path());
    assert!(
        fs.iter().any(|f| f == "start-partition"),
        "no partition: {fs:?}"
    );
    assert!(
        fs.iter()
            .any(|f| f.ends_with("-clock") && f != "reset-clock"),
        "no clock fault: {fs:?}"
    );
    // The partition was healed inside the containers: its chains may stay
    // hooked, but hold no rule.
    for c in &left {
        let rules = docker_lines(&["exec", c, "iptables", "-S"]);
        assert!(
            rules.iter().all(|r| !r.starts_with("-A FAULTLINE")),
            "{c} kept fault rules: {rules:?}"
        );
    }
    // Each node runs under libfaketime reading its own offset file, and
    // libfaketime really moves a process's clock in the container.
    for c in &left {
        let node = c.trim_start_matches("faultline-");
        let env = docker_lines(&[
            "exec",
            c,
            "sh",
            "-c",
            "for p in $(pgrep -f 'faultline node'); do tr '\\0' '\\n' < /proc/$p/environ; done",
        ]);
        let want = format!("FAKETIME_TIMESTAMP_FILE=/run/faultline/faketime/{node}");
        assert!(env.contains(&want), "{c}: no {want} in {env:?}");
    }
    let skew = docker_lines(&[
        "exec",
        &left[0],
        "sh",
        "-c",
        "echo +3600s > /tmp/offset; a=$(date +%s); \
         b=$(LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
         FAKETIME_TIMESTAMP_FILE=/tmp/offset FAKETIME_NO_CACHE=1 date +%s); echo $((b-a))",
    ]);
    let skew: i64 = skew.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(
        (3599..=3601).contains(&skew),
        "libfaketime moved date by {skew} s"
    );
    let healed = heal();
    let said = text(&healed);
    assert_eq!(healed.status.code(), Some(0), "{said}");
    for c in &left {
        assert!(said.contains(&format!("removed container {c}")), "{said}");
    }
    assert!(said.contains("removed network faultline-net"), "{said}");
    assert_nothing_left("faultline heal");
    let again = heal();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to heal on docker"),
        "{}",
        text(&again)
    );
}

#[test]
fn an_unreachable_engine_is_a_clear_bad_input_error() {
    require_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--cluster",
            &cluster("docker-3"),
            "--time-limit",
            "5",
        ])
        .arg("--results")
        .arg(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run faultline");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(254), "{said}");
    assert!(said.contains("Docker engine is unreachable"), "{said}");
    assert!(said.contains("unix:///nonexistent/docker.sock"), "{said}");
    // heal says nothing about docker when there is none.
    let heal = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("heal")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("faultline heal");
    let said = text(&heal);
    assert!(!said.contains("docker"), "{said}");
}

#[test]
fn etcd_in_containers_is_valid_under_partitions() {
    require_docker();
    let _s = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = faultline(
        &[
            "test",
            "--cluster",
            &cluster("etcd-docker"),
            "--workload",
            "register",
            "--nemesis",
            "partition",
            "--interval",
            "3",
            "--time-limit",
            "15",
            "--seed",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", tail(&out));
    assert!(text(&out).contains("verdict: VALID"), "{}", tail(&out));
    let fs = nemesis_fs(dir.path());
    assert!(
        fs.iter().any(|x| x == "start-partition"),
        "no partition happened: {fs:?}"
    );
    assert_nothing_left("an etcd run");
}

/// The `Remote` contract on one real container: exec, an atomic upload and
/// its download, a spawned daemon whose pid is its own, STOP and CONT that
/// return once in effect, and a SIGKILL after which `wait_exit` sees the
/// daemon gone (reaped by the container's init, not left a zombie).
#[test]
fn a_container_keeps_the_remote_contract() {
    use faultline::remote::backend::{build, BackendConfig, Provision};
    use faultline::remote::{DaemonSpec, Signal};
    use std::time::Duration;
    require_docker();
    let _s = serial();
    let work = tempfile::tempdir().expect("tempdir");
    let mut backend = build(&BackendConfig {
        name: "docker".into(),
        cluster: "contract".into(),
        ..BackendConfig::default()
    })
    .expect("the docker backend");
    let names = ["c1".to_string()];
    let nodes = backend
        .provision(&Provision {
            names: &names,
            work_dir: work.path(),
            binary: Path::new(env!("CARGO_BIN_EXE_faultline")),
        })
        .expect("one container");
    let node = &nodes[0];
    let r = &node.remote;
    assert_eq!(node.host, "10.213.8.11");
    assert_eq!(r.exec(&["hostname"]).expect("exec").stdout.trim(), "c1");
    let failed = r
        .exec(&["sh", "-c", "echo oops >&2; exit 7"])
        .expect("exec");
    assert_eq!((failed.status, failed.stderr.trim()), (7, "oops"));
    let version = r
        .exec(&["/usr/local/bin/faultline", "--version"])
        .expect("the mounted binary");
    assert!(version.stdout.starts_with("faultline"), "{version:?}");

    let src = work.path().join("up");
    std::fs::write(&src, "+1.500s").expect("write");
    let there = Path::new("/run/faultline/faketime/c1");
    r.upload(&src, there).expect("upload");
    let back = work.path().join("down");
    r.download(there, &back).expect("download");
    assert_eq!(std::fs::read_to_string(&back).expect("read"), "+1.500s");
    assert!(
        r.libfaketime().expect("asked").is_some(),
        "no libfaketime in the image"
    );

    let pid = r
        .spawn(&DaemonSpec {
            argv: vec!["sleep".into(), "1000".into()],
            env: vec![("FAULTLINE_TEST".into(), "yes".into())],
            cwd: "/var/lib/faultline/data".into(),
            log_file: "/var/lib/faultline/logs/sleep.log".into(),
        })
        .expect("spawn");
    let p = pid.to_string();
    let comm = r.exec(&["cat", &format!("/proc/{p}/comm")]).expect("exec");
    assert_eq!(comm.stdout.trim(), "sleep", "the pid is not the daemon's");
    let state = || {
        r.exec(&[
            "sh",
            "-c",
            &format!("sed -n 's/^State:\\s*\\(.\\).*/\\1/p' /proc/{p}/status"),
        ])
        .expect("exec")
        .stdout
        .trim()
        .to_string()
    };
    r.signal(pid, Signal::Stop).expect("stop");
    assert_eq!(state(), "T");
    r.signal(pid, Signal::Cont).expect("cont");
    assert_ne!(state(), "T");
    assert!(!r.wait_exit(pid, Duration::from_millis(100)).expect("wait"));
    r.signal(pid, Signal::Kill).expect("kill");
    assert!(r.wait_exit(pid, Duration::from_secs(5)).expect("wait"));
    // Reaped by docker-init: not even a zombie remains.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(state(), "", "the killed daemon was not reaped");
    r.signal(pid, Signal::Kill)
        .expect("a second SIGKILL is a no-op");
    assert!(
        r.signal(pid, Signal::Stop).is_err(),
        "STOP of a gone process"
    );

    backend.teardown().expect("teardown");
    backend.teardown().expect("a second teardown");
    assert_nothing_left("teardown");
    assert!(
        node.remote.exec(&["true"]).is_err(),
        "a removed container still answers"
    );
}
