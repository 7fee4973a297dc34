//! Shared helpers for the tests of the local backend and the nemeses: they
//! need root and real namespaces, run one at a time, and always clean up.
#![allow(dead_code)]

use faultline::client::{KvClient, KvError, MicroOp};
use faultline::db::{Capabilities, Cluster, Consistency, Db, DbError};
use faultline::remote::local::LocalNet;
use faultline::remote::Node;
use faultline::remote::{DaemonSpec, Signal};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// True when we can run; otherwise prints why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        eprintln!("note: skipping {test}: needs root (network namespaces, iptables)");
        return false;
    }
    // The local backend installs what it needs (iptables, libfaketime) with
    // apt-get, as `faultline test` does on a fresh machine.
    static PREREQS: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Err(e) = PREREQS.get_or_init(|| {
        faultline::remote::local::ensure_prerequisites(true).map_err(|e| e.to_string())
    }) {
        panic!("{test}: local backend prerequisites: {e}");
    }
    true
}

static SERIAL: Mutex<()> = Mutex::new(());

/// One namespace test at a time in this binary (the run lock serialises
/// binaries).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fresh local network of `n` nodes named `n1..`; destroyed on drop.
pub struct TestNet {
    /// The network (dropped first).
    pub net: Option<LocalNet>,
    /// Its nodes.
    pub nodes: Vec<Node>,
    /// The work directory.
    pub dir: tempfile::TempDir,
}

impl TestNet {
    /// Build it.
    pub fn new(n: usize) -> TestNet {
        let dir = tempfile::tempdir().expect("tempdir");
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let (net, nodes) = LocalNet::create(&names, dir.path()).expect("LocalNet::create");
        TestNet {
            net: Some(net),
            nodes,
            dir,
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if let Some(net) = self.net.take() {
            let _ = net.destroy();
        }
    }
}

/// The argv of `faultline probe ARGS...`: the network and clock programs the
/// tests run inside namespaces are part of the binary under test, so the
/// tests need no tool (python3, curl, nc) the project does not install.
pub fn probe(args: &[&str]) -> Vec<String> {
    [env!("CARGO_BIN_EXE_faultline"), "probe"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

/// Can `from` open a TCP connection to `ip:port` (within 2 s)?
pub fn tcp_connects(from: &Node, ip: &str, port: u16) -> bool {
    let argv = probe(&[
        "tcp-connect",
        &format!("{ip}:{port}"),
        "--timeout-ms",
        "2000",
    ]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    from.remote
        .exec(&argv)
        .map(|o| o.success())
        .unwrap_or(false)
}

/// Can the harness itself open a TCP connection to `ip:port`?
pub fn host_connects(ip: &str, port: u16) -> bool {
    let Ok(addr) = format!("{ip}:{port}").parse::<SocketAddr>() else {
        return false;
    };
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Does an HTTP GET to `ip:port` get an answer within `timeout`?
pub fn http_answers(ip: &str, port: u16, timeout: Duration) -> bool {
    let Ok(addr) = format!("{ip}:{port}").parse::<SocketAddr>() else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP"))
}

/// Poll `f` until true or `timeout`.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start an HTTP server (`faultline probe http-serve`) on the node's
/// address, port 8000.
pub fn start_http(node: &Node, env: Vec<(String, String)>) -> u32 {
    let pid = node
        .remote
        .spawn(&DaemonSpec {
            argv: probe(&["http-serve", &format!("{}:8000", node.host)]),
            env,
            cwd: node.data_dir.clone(),
            log_file: node.log_dir.join("http.log"),
        })
        .expect("spawn faultline probe http-serve");
    assert!(
        eventually(Duration::from_secs(10), || host_connects(&node.host, 8000)),
        "faultline probe http-serve on {} never listened",
        node.name
    );
    pid
}

/// A Db whose "system" is one probe HTTP server per node: real processes
/// in the real namespaces, for testing the process nemeses without refkv.
#[derive(Default)]
pub struct HttpDb {
    pids: Mutex<HashMap<String, u32>>,
    /// Names reported as leaders.
    pub leaders: Mutex<Vec<String>>,
}

impl HttpDb {
    /// The pid on `node`.
    pub fn pid_of(&self, node: &str) -> Option<u32> {
        self.pids.lock().unwrap().get(node).copied()
    }
}

/// A client for a Db with no data plane.
pub struct NoClient;

#[async_trait::async_trait]
impl KvClient for NoClient {
    async fn read(&self, _: &str) -> Result<Option<Value>, KvError> {
        Err(KvError::Unsupported("no data plane".into()))
    }
    async fn write(&self, _: &str, _: Value) -> Result<(), KvError> {
        Err(KvError::Unsupported("no data plane".into()))
    }
    async fn cas(&self, _: &str, _: Value, _: Value) -> Result<bool, KvError> {
        Err(KvError::Unsupported("no data plane".into()))
    }
    async fn txn(&self, _: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        Err(KvError::Unsupported("no data plane".into()))
    }
}

impl Db for HttpDb {
    fn name(&self) -> &str {
        "http"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kill: true,
            pause: true,
            primaries: true,
            clock: Ok(()),
        }
    }
    fn consistency(&self) -> Consistency {
        Consistency::Linearizable
    }
    fn setup(&self, _c: &Cluster, node: &Node) -> Result<(), DbError> {
        let pid = start_http(node, Vec::new());
        self.pids.lock().unwrap().insert(node.name.clone(), pid);
        Ok(())
    }
    fn teardown(&self, c: &Cluster, node: &Node) -> Result<(), DbError> {
        self.kill(c, node)
    }
    fn start(&self, c: &Cluster, node: &Node) -> Result<(), DbError> {
        if self.pid_of(&node.name).is_none() {
            self.setup(c, node)?;
        }
        Ok(())
    }
    fn kill(&self, _c: &Cluster, node: &Node) -> Result<(), DbError> {
        if let Some(pid) = self.pids.lock().unwrap().remove(&node.name) {
            node.remote.signal(pid, Signal::Kill)?;
            node.remote.wait_exit(pid, Duration::from_secs(5))?;
        }
        Ok(())
    }
    fn pause(&self, _c: &Cluster, node: &Node) -> Result<(), DbError> {
        let pid = self
            .pid_of(&node.name)
            .ok_or_else(|| DbError::Other("not running".into()))?;
        Ok(node.remote.signal(pid, Signal::Stop)?)
    }
    fn resume(&self, _c: &Cluster, node: &Node) -> Result<(), DbError> {
        let pid = self
            .pid_of(&node.name)
            .ok_or_else(|| DbError::Other("not running".into()))?;
        Ok(node.remote.signal(pid, Signal::Cont)?)
    }
    fn primaries(&self, _c: &Cluster) -> Vec<String> {
        self.leaders.lock().unwrap().clone()
    }
    fn await_ready(&self, _c: &Cluster, _t: Duration) -> Result<(), DbError> {
        Ok(())
    }
    fn log_files(&self, _c: &Cluster, node: &Node) -> Vec<PathBuf> {
        vec![node.log_dir.join("http.log")]
    }
    fn client(&self, _c: &Cluster, _node: &Node) -> Arc<dyn KvClient> {
        Arc::new(NoClient)
    }
    fn pid(&self, node: &Node) -> Option<u32> {
        self.pid_of(&node.name)
    }
}

/// A cluster over `net` with `db`.
pub fn cluster(net: &TestNet, db: Arc<dyn Db>) -> Cluster {
    Cluster {
        nodes: net.nodes.clone(),
        db,
    }
}
