//! A refkv cluster of real `faultline node` processes on loopback ports, for
//! process-level tests and benchmarks (no root needed).
//!
//! Contract: every process the cluster starts is SIGKILLed when the
//! [`LocalCluster`] is dropped (also when a test panics), so a failing test
//! leaves nothing running. Ports are picked free by binding port 0; data and
//! logs live under the directory the caller gives.

use crate::refkv::wire::NodeStatus;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One node's fixed identity.
#[derive(Debug, Clone)]
pub struct LocalNode {
    /// `n1`, `n2`...
    pub name: String,
    /// HTTP API address.
    pub client_addr: SocketAddr,
    /// Raft address.
    pub peer_addr: SocketAddr,
    /// WAL directory.
    pub data_dir: PathBuf,
    /// Event log file.
    pub log: PathBuf,
}

/// A running (or partly running) local cluster.
pub struct LocalCluster {
    binary: PathBuf,
    nodes: Vec<LocalNode>,
    procs: Vec<Option<Child>>,
    args: Vec<String>,
    cluster_flag: String,
}

/// A free loopback port (bound then released; good enough for tests).
pub fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

impl LocalCluster {
    /// Lay out `n` nodes under `dir` and start them all with `args` (e.g.
    /// `--bug no-fsync`, `--election-timeout-ms 150`).
    pub fn start(binary: &Path, n: usize, dir: &Path, args: &[&str]) -> io::Result<Self> {
        let mut nodes = Vec::new();
        for i in 1..=n {
            let name = format!("n{i}");
            nodes.push(LocalNode {
                client_addr: free_addr()?,
                peer_addr: free_addr()?,
                data_dir: dir.join(&name),
                log: dir.join(format!("{name}.log")),
                name,
            });
        }
        let cluster_flag = nodes
            .iter()
            .map(|m| format!("{}={}/{}", m.name, m.client_addr, m.peer_addr))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = LocalCluster {
            binary: binary.to_path_buf(),
            procs: (0..n).map(|_| None).collect(),
            nodes,
            args: args.iter().map(|s| s.to_string()).collect(),
            cluster_flag,
        };
        for i in 0..n {
            c.start_node(i)?;
        }
        Ok(c)
    }

    /// The nodes.
    pub fn nodes(&self) -> &[LocalNode] {
        &self.nodes
    }

    /// The `--cluster` flag the nodes run with.
    pub fn cluster_flag(&self) -> &str {
        &self.cluster_flag
    }

    /// `http://ADDR` of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].client_addr)
    }

    /// Start node `i` (if not running), with the cluster's extra args.
    pub fn start_node(&mut self, i: usize) -> io::Result<()> {
        if self.procs[i].is_some() {
            return Ok(());
        }
        let n = &self.nodes[i];
        fs::create_dir_all(&n.data_dir)?;
        let child = Command::new(&self.binary)
            .arg("node")
            .args(["--id", &n.name])
            .args(["--cluster", &self.cluster_flag])
            .arg("--data-dir")
            .arg(&n.data_dir)
            .arg("--log")
            .arg(&n.log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.procs[i] = Some(child);
        Ok(())
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM node `i` and wait for it to exit (SIGKILL after `timeout`).
    /// Returns its exit status when it exited by itself.
    pub fn terminate(&mut self, i: usize, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.procs[i].take()?;
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Send a signal (SIGSTOP, SIGCONT...) to node `i`.
    pub fn signal(&self, i: usize, sig: nix::sys::signal::Signal) {
        if let Some(c) = &self.procs[i] {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
        }
    }

    /// Whether node `i` was started and has not been killed or stopped.
    pub fn is_running(&self, i: usize) -> bool {
        self.procs[i].is_some()
    }

    /// The status of node `i`, if it answers within 500 ms.
    pub async fn status(&self, http: &reqwest::Client, i: usize) -> Option<NodeStatus> {
        let r = http
            .get(format!("{}/status", self.url(i)))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Wait until a running node reports itself leader and a majority of the
    /// running nodes agree on it; returns its position.
    pub async fn wait_leader(&self, http: &reqwest::Client, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut statuses = Vec::new();
            for i in 0..self.nodes.len() {
                if self.is_running(i) {
                    statuses.push((i, self.status(http, i).await));
                }
            }
            for (i, s) in &statuses {
                if let Some(s) = s {
                    if s.role == "leader" {
                        let agree = statuses
                            .iter()
                            .filter(|(_, o)| {
                                o.as_ref().and_then(|o| o.leader.as_deref()) == Some(&s.id)
                            })
                            .count();
                        if agree * 2 > self.nodes.len() {
                            return Some(*i);
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}
