//! What every [`Db`](super::Db) that runs processes on nodes needs, written
//! once: the daemons it started and their pids ([`Daemons`]), which
//! addresses may be contacted ([`allowed_host`], [`node_url`]), running
//! async HTTP from the blocking Db methods ([`block_on`], [`join_all`]), a
//! client for a node that cannot be used ([`BrokenClient`]) and installing
//! a system's Debian package when it is missing ([`ensure_installed`]).

use super::{DbError, Node};
use crate::client::{KvClient, KvError, MicroOp};
use crate::remote::{DaemonSpec, Signal};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Only the harness's own networks and the hosts a cluster file lists may
/// be contacted ([`crate::remote::contactable`]).
pub fn allowed_host(host: &str) -> bool {
    crate::remote::contactable(host)
}

/// `http://<host>:<port>` of `node`, if its address may be contacted.
pub fn node_url(node: &Node, port: u16) -> Result<String, DbError> {
    if allowed_host(&node.host) {
        Ok(format!("http://{}:{port}", node.host))
    } else {
        Err(DbError::Other(format!(
            "node {}: address {} is neither loopback, nor an address faultline created \
             (10.213.7.0/24, 10.213.8.0/24), nor a host the cluster file lists; faultline \
             contacts no other",
            node.name, node.host
        )))
    }
}

/// A client that fails every call definitely: for a node whose address
/// cannot be used (nothing was sent, so nothing happened).
pub struct BrokenClient(pub String);

#[async_trait::async_trait]
impl KvClient for BrokenClient {
    async fn read(&self, _: &str) -> Result<Option<Value>, KvError> {
        Err(KvError::Definite(self.0.clone()))
    }
    async fn write(&self, _: &str, _: Value) -> Result<(), KvError> {
        Err(KvError::Definite(self.0.clone()))
    }
    async fn cas(&self, _: &str, _: Value, _: Value) -> Result<bool, KvError> {
        Err(KvError::Definite(self.0.clone()))
    }
    async fn txn(&self, _: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        Err(KvError::Definite(self.0.clone()))
    }
}

/// Run `f` on a fresh current-thread runtime in its own thread, so the
/// blocking Db methods work whether or not the caller is inside a tokio
/// runtime.
pub fn block_on<T: Send>(f: impl std::future::Future<Output = T> + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(f))
                .map_err(|e| format!("cannot start a runtime: {e}"))
        })
        .join()
        .map_err(|_| "status query panicked".to_string())?
    })
}

/// Await all futures concurrently, results in order (a tiny `join_all`
/// without the futures crate); a future that panicked is left out.
pub async fn join_all<F: std::future::Future + Send + 'static>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// The one daemon a Db runs on each node, by node name: start, SIGKILL
/// and wait until it is gone, SIGSTOP, SIGCONT.
pub struct Daemons {
    /// What runs (`refkv`, `etcd`...), for messages.
    what: String,
    pids: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Daemons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemons").field("what", &self.what).finish()
    }
}

impl Daemons {
    /// No daemon yet; `what` names them in messages.
    pub fn new(what: &str) -> Self {
        Daemons {
            what: what.to_string(),
            pids: Mutex::new(HashMap::new()),
        }
    }

    fn pids(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        crate::sync::lock(&self.pids)
    }

    /// Start the daemon on `node` and remember its pid.
    pub fn spawn(&self, node: &Node, spec: &DaemonSpec) -> Result<u32, DbError> {
        let pid = node.remote.spawn(spec)?;
        self.pids().insert(node.name.clone(), pid);
        Ok(pid)
    }

    /// The pid of the daemon on `node` if it still runs (a dead one is
    /// forgotten).
    pub fn running(&self, node: &Node) -> Option<u32> {
        let pid = self.pid(node)?;
        match node.remote.wait_exit(pid, Duration::ZERO) {
            Ok(false) => Some(pid),
            _ => {
                self.pids().remove(&node.name);
                None
            }
        }
    }

    /// The pid last started on `node`, running or not.
    pub fn pid(&self, node: &Node) -> Option<u32> {
        self.pids().get(&node.name).copied()
    }

    /// SIGKILL the daemon on `node` and wait (5 s at most) until it is
    /// gone. Nothing to do when none was started.
    pub fn kill(&self, node: &Node) -> Result<(), DbError> {
        let Some(pid) = self.pids().remove(&node.name) else {
            return Ok(());
        };
        node.remote.signal(pid, Signal::Kill)?;
        if node.remote.wait_exit(pid, Duration::from_secs(5))? {
            Ok(())
        } else {
            self.pids().insert(node.name.clone(), pid);
            Err(DbError::Other(format!(
                "node {}: {} (pid {pid}) survived SIGKILL for 5 s",
                node.name, self.what
            )))
        }
    }

    /// SIGSTOP the daemon on `node`; an error when it does not run.
    pub fn pause(&self, node: &Node) -> Result<(), DbError> {
        let pid = self.running(node).ok_or_else(|| {
            DbError::Other(format!(
                "node {}: {} is not running, cannot pause it",
                node.name, self.what
            ))
        })?;
        Ok(node.remote.signal(pid, Signal::Stop)?)
    }

    /// SIGCONT the daemon on `node`; nothing when it was killed meanwhile.
    pub fn resume(&self, node: &Node) -> Result<(), DbError> {
        match self.running(node) {
            Some(pid) => Ok(node.remote.signal(pid, Signal::Cont)?),
            None => Ok(()),
        }
    }
}

/// Try `attempt` (given the attempt's number, from 1: a fresh nonce for a
/// ready key) every `every` until it succeeds or `timeout` has passed.
/// The error is [`DbError::NotReady`] for the cluster's first node:
/// `"<what> not serving after <timeout>: <the last attempt's reason>"`.
/// What every Db's [`super::Db::await_ready`] loop shares.
pub fn poll_ready(
    cluster: &super::Cluster,
    what: &str,
    timeout: Duration,
    every: Duration,
    mut attempt: impl FnMut(u64) -> Result<(), String>,
) -> Result<(), DbError> {
    let deadline = std::time::Instant::now() + timeout;
    let mut n = 0;
    loop {
        n += 1;
        let last = match attempt(n) {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        if std::time::Instant::now() >= deadline {
            return Err(DbError::NotReady {
                node: cluster
                    .nodes
                    .first()
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
                reason: format!("{what} not serving after {timeout:?}: {last}"),
            });
        }
        std::thread::sleep(every);
    }
}

/// The key the Dbs' ready checks write; no workload uses it.
pub const READY_KEY: &str = "__faultline_ready";

/// Write `nonce` to [`READY_KEY`] through `client`, then read it back: the
/// round trip every Db's ready check ends with. The error says which step
/// failed, or what the read saw instead.
pub fn ready_round_trip(client: &dyn KvClient, nonce: u64) -> Result<(), String> {
    block_on(async move {
        let want = serde_json::json!(nonce);
        client
            .write(READY_KEY, want.clone())
            .await
            .map_err(|e| format!("write: {e}"))?;
        match client
            .read(READY_KEY)
            .await
            .map_err(|e| format!("read: {e}"))?
        {
            Some(v) if v == want => Ok(()),
            other => Err(format!("read {other:?} after writing {nonce}")),
        }
    })?
}

/// Remove `node`'s data directory, never anything that is not a node's own
/// directory (a path of at most two components, such as `/` or `/var`, is
/// left alone).
pub fn remove_data_dir(node: &Node) -> Result<(), DbError> {
    if node.data_dir.components().count() > 2 {
        let data = node.data_dir.display().to_string();
        node.remote.exec_ok(&["rm", "-rf", &data])?;
    }
    Ok(())
}

/// Serialises package installs: the nodes of one machine share its dpkg.
static INSTALL: Mutex<()> = Mutex::new(());

/// Make sure `program` exists on `node`, installing the Debian `packages`
/// through the node's [`crate::remote::Remote::install`] when it does not.
/// The error names the node, the program and the packages.
pub fn ensure_installed(node: &Node, program: &str, packages: &[&str]) -> Result<(), DbError> {
    let _one_at_a_time = crate::sync::lock(&INSTALL);
    if node.remote.exec(&["test", "-x", program])?.success() {
        return Ok(());
    }
    node.remote.install(packages).map_err(|e| {
        DbError::Other(format!(
            "node {}: {program} is missing and installing {} failed: {e}",
            node.name,
            packages.join(" ")
        ))
    })?;
    if node.remote.exec(&["test", "-x", program])?.success() {
        Ok(())
    } else {
        Err(DbError::Other(format!(
            "node {}: {program} is still missing after installing {}",
            node.name,
            packages.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_ready_retries_until_it_succeeds_or_names_the_last_reason() {
        let cluster = super::super::Cluster {
            nodes: Vec::new(),
            db: std::sync::Arc::new(super::super::memory::MemoryDb::new(
                crate::client::memory::Fault::None,
            )),
        };
        let mut seen = Vec::new();
        let ok = poll_ready(&cluster, "x", Duration::from_secs(5), Duration::ZERO, |n| {
            seen.push(n);
            if n == 3 {
                Ok(())
            } else {
                Err(format!("try {n}"))
            }
        });
        assert!(ok.is_ok());
        assert_eq!(seen, [1, 2, 3]);
        let e = poll_ready(&cluster, "sys", Duration::ZERO, Duration::ZERO, |n| {
            Err(format!("try {n}"))
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("sys not serving after 0ns: try 1"),
            "{e}"
        );
    }

    #[test]
    fn the_ready_round_trip_sees_its_write_or_says_what_it_saw() {
        use crate::client::memory::{Fault, MemoryKv};
        let good = MemoryKv::with_fault(Fault::None);
        assert_eq!(ready_round_trip(&good, 7), Ok(()));
        let broken = BrokenClient("down".into());
        let e = ready_round_trip(&broken, 7).unwrap_err();
        assert!(e.starts_with("write: ") && e.contains("down"), "{e}");
    }

    #[test]
    fn only_harness_addresses_are_allowed() {
        for ok in [
            "10.213.7.11",
            "10.213.8.12",
            "127.0.0.1",
            "127.5.5.5",
            "::1",
        ] {
            assert!(allowed_host(ok), "{ok}");
        }
        for bad in ["10.213.9.1", "8.8.8.8", "example.com", "192.168.1.1", ""] {
            assert!(!allowed_host(bad), "{bad}");
        }
    }
}
