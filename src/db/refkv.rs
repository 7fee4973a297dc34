//! refkv — faultline's bundled Raft key-value store (`faultline node`) — as
//! a [`Db`].
//!
//! Each node runs `<binary> node --id N --cluster ... --data-dir ... --log
//! ...` (flags per `docs/refkv-api.md`) as a daemon through the node's
//! [`crate::remote::Remote`], serving clients on `<host>:client_port` and
//! Raft on `<host>:peer_port`. With `faketime` on, the node runs under
//! libfaketime with its own offset file (initially `+0`), so the clock
//! nemesis can skew it alone.
//!
//! Contract details: `kill` is SIGKILL and waits until the process is gone
//! (reaped); `start` is idempotent (a running node is left alone) and keeps
//! the data; `pause`/`resume` are SIGSTOP/SIGCONT; `primaries` asks every
//! node's `GET /status` with a short timeout; `teardown` kills and deletes
//! the data directory (logs stay for the results). Only addresses in
//! 10.213.7.0/24 or 127.0.0.0/8 are ever contacted.

use super::registry::{DbContext, DbEntry};
use super::support::{
    block_on, join_all, node_url, poll_ready, ready_round_trip, remove_data_dir, BrokenClient,
    Daemons,
};
use super::{Capabilities, Cluster, ConsensusState, Consistency, Db, DbError, Node};
use crate::client::refkv::RefKvClient;
use crate::client::KvClient;
use crate::refkv::bugs::Bugs;
use crate::remote::faketime::{self, write_offset};
use crate::remote::DaemonSpec;
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a refkv cluster is run.
#[derive(Debug, Clone)]
pub struct RefKvOptions {
    /// The `faultline` binary that provides `faultline node` (absolute path).
    pub binary: PathBuf,
    /// Bugs switched on in every node.
    pub bugs: Bugs,
    /// Client (HTTP API) port on each node's address.
    pub client_port: u16,
    /// Raft peer port on each node's address.
    pub peer_port: u16,
    /// Run nodes under libfaketime, so clock faults apply.
    pub faketime: bool,
    /// More `faultline node` flags (`--election-timeout-ms 300`...).
    pub extra_args: Vec<String>,
}

impl Default for RefKvOptions {
    fn default() -> Self {
        RefKvOptions {
            binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("faultline")),
            bugs: Bugs::none(),
            client_port: 8080,
            peer_port: 8081,
            faketime: true,
            extra_args: Vec::new(),
        }
    }
}

impl RefKvOptions {
    /// The options a cluster file's `refkv` section gives, nodes running
    /// `binary`.
    pub fn from_spec(spec: &RefKvSpec, binary: PathBuf) -> Self {
        RefKvOptions {
            binary,
            bugs: spec.bugs.clone(),
            client_port: spec.client_port,
            peer_port: spec.peer_port,
            faketime: spec.faketime,
            extra_args: spec.extra_args.clone(),
        }
    }
}

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "refkv";

/// This Db in the [registry](super::registry): it runs on machines (the
/// `local` backend).
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |_| RefKv::CONSISTENCY,
    backends: &["local", "ssh", "docker"],
    check,
    build,
};

/// refkv's section of a cluster file (`refkv:`).
///
/// A cluster naming another Db may carry it (as every stored run's
/// `test.yaml` always did), but may switch on no bug in it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct RefKvSpec {
    /// Run nodes under libfaketime so clock faults apply (default true).
    pub faketime: bool,
    /// Client (HTTP) port on each node's address (default 8080).
    pub client_port: u16,
    /// Raft peer port on each node's address (default 8081).
    pub peer_port: u16,
    /// More `faultline node` flags, e.g. `[--election-timeout-ms, "300"]`.
    pub extra_args: Vec<String>,
    /// Bugs switched on in every node (default none; `--bug` adds to them).
    /// Formerly the cluster file's top-level `bugs`, still read there.
    pub bugs: Bugs,
}

impl Default for RefKvSpec {
    fn default() -> Self {
        RefKvSpec {
            faketime: true,
            client_port: 8080,
            peer_port: 8081,
            extra_args: Vec::new(),
            bugs: Bugs::none(),
        }
    }
}

fn check(cluster: &ClusterSpec) -> Result<(), FieldError> {
    let r = &cluster.refkv;
    if cluster.db != NAME {
        if !r.bugs.is_empty() {
            return Err(FieldError::new(
                "refkv.bugs",
                format!("only refkv has switchable bugs, not {}", cluster.db),
            ));
        }
        return Ok(());
    }
    if r.client_port == 0 {
        return Err(FieldError::new("refkv.client-port", "must not be 0"));
    }
    if r.peer_port == 0 {
        return Err(FieldError::new("refkv.peer-port", "must not be 0"));
    }
    if r.client_port == r.peer_port {
        return Err(FieldError::new(
            "refkv.peer-port",
            format!("equals client-port ({})", r.client_port),
        ));
    }
    Ok(())
}

fn build(cluster: &ClusterSpec, ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    let binary = match &ctx.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| DbError::Other(format!("cannot find faultline's own binary: {e}")))?,
    };
    Ok(Arc::new(RefKv::new(RefKvOptions::from_spec(
        &cluster.refkv,
        binary,
    ))))
}

/// Per-call timeout of the data-plane clients (above the node's default
/// 5 s request timeout, so the node's own 504 arrives first).
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(5_500);
/// Timeout of one `/status` query.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// refkv as a [`Db`].
pub struct RefKv {
    opts: RefKvOptions,
    daemons: Daemons,
    /// Whether clock faults can apply, as known before any node is seen
    /// (`faketime: false`, a static binary).
    clock: Result<(), String>,
    /// The libfaketime of each node asked so far (`None`: not installed).
    faketime_libs: Mutex<HashMap<String, Option<PathBuf>>>,
}

impl std::fmt::Debug for RefKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefKv").field("opts", &self.opts).finish()
    }
}

/// True when the file is a dynamically linked ELF (has a PT_INTERP
/// program header): only those load LD_PRELOAD libraries such as
/// libfaketime. `None` when the file cannot be read or is not 64-bit ELF.
pub fn is_dynamic_elf(path: &Path) -> Option<bool> {
    let data = std::fs::read(path).ok()?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| -> Option<u16> {
        Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?))
    };
    let u64_at = |o: usize| -> Option<u64> {
        Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?))
    };
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let off = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(data.get(off..off + 4)?.try_into().ok()?);
        if p_type == 3 {
            return Some(true);
        }
    }
    Some(false)
}

impl RefKv {
    /// What refkv promises: every read goes through Raft's ReadIndex (the
    /// leader confirms it still leads and waits until it has applied the
    /// commit index), so reads are linearizable, like writes. The
    /// `stale-read` and `lease-read` bugs break this promise on purpose.
    pub const CONSISTENCY: Consistency = Consistency::Linearizable;

    /// refkv with these options.
    pub fn new(opts: RefKvOptions) -> Self {
        // Whether libfaketime is installed is asked of each node, by `setup`.
        let clock = if !opts.faketime {
            Err("refkv runs without libfaketime (faketime: false)".to_string())
        } else if is_dynamic_elf(&opts.binary) == Some(false) {
            Err(format!(
                "{} is statically linked, so libfaketime cannot skew it",
                opts.binary.display()
            ))
        } else {
            Ok(())
        };
        RefKv {
            opts,
            daemons: Daemons::new(NAME),
            clock,
            faketime_libs: Mutex::new(HashMap::new()),
        }
    }

    /// The libfaketime on `node`, asked of the node once and remembered.
    fn libfaketime(&self, node: &Node) -> Result<Option<PathBuf>, DbError> {
        if let Some(lib) = crate::sync::lock(&self.faketime_libs).get(&node.name) {
            return Ok(lib.clone());
        }
        let lib = node.remote.libfaketime()?;
        crate::sync::lock(&self.faketime_libs).insert(node.name.clone(), lib.clone());
        Ok(lib)
    }

    /// Whether clock faults apply: not with `faketime: false`, nor when a
    /// node set up so far has no libfaketime, nor for a static binary.
    fn clock_capability(&self) -> Result<(), String> {
        if !self.opts.faketime {
            return self.clock.clone();
        }
        let missing = crate::sync::lock(&self.faketime_libs)
            .values()
            .any(Option::is_none);
        if missing {
            return Err(faketime::NOT_INSTALLED.to_string());
        }
        self.clock.clone()
    }

    /// `--cluster` for these nodes.
    fn cluster_arg(&self, cluster: &Cluster) -> String {
        cluster
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{}={}:{}/{}:{}",
                    n.name, n.host, self.opts.client_port, n.host, self.opts.peer_port
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node's own event log.
    fn log_file(node: &Node) -> PathBuf {
        node.log_dir.join("refkv.log")
    }

    /// Where the daemon's stdout and stderr go.
    fn stdout_file(node: &Node) -> PathBuf {
        node.log_dir.join("refkv.stdout")
    }

    /// The client URL of a node, if its address may be contacted.
    fn url(&self, node: &Node) -> Result<String, DbError> {
        node_url(node, self.opts.client_port)
    }

    /// The data-plane clients' per-call timeout: [`CLIENT_TIMEOUT`], or half a
    /// second above the nodes' `--request-timeout-ms` when `extra-args` set
    /// it, so that the node's own 504 always arrives first.
    pub fn client_timeout(&self) -> Duration {
        let args = &self.opts.extra_args;
        args.iter()
            .position(|a| a == "--request-timeout-ms")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|ms| Duration::from_millis(ms + 500))
            .unwrap_or(CLIENT_TIMEOUT)
    }

    fn spawn(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        // The node's own copy when the backend put one there.
        let binary = node.binary.as_ref().unwrap_or(&self.opts.binary);
        let mut argv = vec![
            binary.display().to_string(),
            "node".into(),
            "--id".into(),
            node.name.clone(),
            "--cluster".into(),
            self.cluster_arg(cluster),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
            "--log".into(),
            Self::log_file(node).display().to_string(),
        ];
        for bug in self.opts.bugs.iter() {
            argv.push("--bug".into());
            argv.push(bug.name().into());
        }
        argv.extend(self.opts.extra_args.iter().cloned());
        let env = match self.clock {
            Ok(()) => self
                .libfaketime(node)?
                .map(|lib| faketime::env(&lib, &node.name))
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        self.daemons.spawn(
            node,
            &DaemonSpec {
                argv,
                env,
                cwd: node.log_dir.clone(),
                log_file: Self::stdout_file(node),
            },
        )?;
        Ok(())
    }

    /// `GET /status` of every node, concurrently: name → status or error.
    pub fn statuses(&self, cluster: &Cluster) -> Vec<(String, Result<Value, String>)> {
        let urls: Vec<(String, Result<String, String>)> = cluster
            .nodes
            .iter()
            .map(|n| (n.name.clone(), self.url(n).map_err(|e| e.to_string())))
            .collect();
        let res = block_on(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(STATUS_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
            let futs = urls.into_iter().map(|(name, url)| {
                let http = http.clone();
                async move {
                    let r = match url {
                        Err(e) => Err(e),
                        Ok(url) => match http.get(format!("{url}/status")).send().await {
                            Ok(resp) => resp.json::<Value>().await.map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        },
                    };
                    (name, r)
                }
            });
            Ok::<_, String>(join_all(futs).await)
        });
        match res {
            Ok(Ok(v)) => v,
            Ok(Err(e)) | Err(e) => cluster
                .nodes
                .iter()
                .map(|n| (n.name.clone(), Err(e.clone())))
                .collect(),
        }
    }
}

impl Db for RefKv {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kill: true,
            pause: true,
            primaries: true,
            clock: self.clock_capability(),
        }
    }

    fn consistency(&self) -> Consistency {
        Self::CONSISTENCY
    }

    fn setup(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.url(node)?;
        let data = node.data_dir.display().to_string();
        let logs = node.log_dir.display().to_string();
        node.remote.exec_ok(&["mkdir", "-p", &data, &logs])?;
        if self.clock.is_ok() && self.libfaketime(node)?.is_some() {
            write_offset(node, 0)?;
        }
        self.spawn(cluster, node)
    }

    fn teardown(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.kill(cluster, node)?;
        remove_data_dir(node)?;
        let ft = faketime::offset_file(&node.name).display().to_string();
        node.remote.exec(&["rm", "-f", &ft])?;
        Ok(())
    }

    fn start(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        if self.daemons.running(node).is_some() {
            return Ok(());
        }
        self.spawn(cluster, node)
    }

    fn kill(&self, _cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.daemons.kill(node)
    }

    fn pause(&self, _cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.daemons.pause(node)
    }

    fn resume(&self, _cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.daemons.resume(node)
    }

    fn primaries(&self, cluster: &Cluster) -> Vec<String> {
        self.statuses(cluster)
            .into_iter()
            .filter(|(_, s)| {
                s.as_ref()
                    .is_ok_and(|v| v.get("role").and_then(Value::as_str) == Some("leader"))
            })
            .map(|(n, _)| n)
            .collect()
    }

    fn await_ready(&self, cluster: &Cluster, timeout: Duration) -> Result<(), DbError> {
        let every = Duration::from_millis(50);
        poll_ready(cluster, "cluster", timeout, every, |nonce| {
            let statuses = self.statuses(cluster);
            let leader = statuses.iter().find_map(|(_, s)| {
                s.as_ref()
                    .ok()
                    .and_then(|v| v.get("leader").and_then(Value::as_str).map(str::to_string))
            });
            let Some(node) = leader.as_deref().and_then(|l| cluster.node(l)) else {
                let states = statuses
                    .iter()
                    .map(|(n, s)| match s {
                        Ok(v) => format!(
                            "{n}: {} term {}",
                            v.get("role").and_then(Value::as_str).unwrap_or("?"),
                            v.get("term").cloned().unwrap_or(Value::Null)
                        ),
                        Err(e) => format!("{n}: {e}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(format!("no leader ({states})"));
            };
            let url = self.url(node).map_err(|e| e.to_string())?;
            let client =
                RefKvClient::new(&url, Duration::from_secs(2)).map_err(|e| e.to_string())?;
            ready_round_trip(&client, nonce).map_err(|e| format!("leader {}: {e}", node.name))
        })
    }

    fn log_files(&self, _cluster: &Cluster, node: &Node) -> Vec<PathBuf> {
        vec![Self::log_file(node), Self::stdout_file(node)]
    }

    fn client(&self, _cluster: &Cluster, node: &Node) -> Arc<dyn KvClient> {
        let url = match self.url(node) {
            Ok(u) => u,
            Err(e) => return Arc::new(BrokenClient(e.to_string())),
        };
        match RefKvClient::new(&url, self.client_timeout()) {
            Ok(c) => Arc::new(c),
            Err(e) => Arc::new(BrokenClient(format!("node {}: {e}", node.name))),
        }
    }

    fn pid(&self, node: &Node) -> Option<u32> {
        self.daemons.pid(node)
    }

    fn client_address(&self, node: &Node) -> Option<String> {
        self.url(node).ok()
    }

    fn consensus_state(&self, _cluster: &Cluster, node: &Node) -> Option<ConsensusState> {
        let url = self.url(node).ok()?;
        let v: Value = block_on(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(STATUS_TIMEOUT)
                .build()
                .ok()?;
            let resp = http.get(format!("{url}/status")).send().await.ok()?;
            resp.json::<Value>().await.ok()
        })
        .ok()
        .flatten()?;
        Some(ConsensusState {
            role: v.get("role")?.as_str()?.to_string(),
            term: v.get("term")?.as_u64()?,
            leader: v.get("leader").and_then(Value::as_str).map(str::to_string),
            commit_index: v.get("commit_index").and_then(Value::as_u64),
            last_index: v.get("last_index").and_then(Value::as_u64),
            last_term: v.get("last_term").and_then(Value::as_u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_timeout_follows_the_nodes_request_timeout() {
        let db = |extra: &[&str]| {
            RefKv::new(RefKvOptions {
                faketime: false,
                extra_args: extra.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })
        };
        assert_eq!(db(&[]).client_timeout(), CLIENT_TIMEOUT);
        assert_eq!(
            db(&["--request-timeout-ms", "20000"]).client_timeout(),
            Duration::from_millis(20_500)
        );
        assert_eq!(
            db(&["--election-timeout-ms", "1000"]).client_timeout(),
            CLIENT_TIMEOUT
        );
        assert_eq!(
            db(&["--request-timeout-ms", "x"]).client_timeout(),
            CLIENT_TIMEOUT
        );
    }

    #[test]
    fn elf_linkage_is_detected() {
        // The test binary itself is dynamically linked (glibc).
        let me = std::env::current_exe().unwrap();
        assert_eq!(is_dynamic_elf(&me), Some(true));
        // A non-ELF file is not judged.
        let dir = std::env::temp_dir().join(format!("faultline-elf-{}", std::process::id()));
        std::fs::write(&dir, b"#!/bin/sh\n").unwrap();
        assert_eq!(is_dynamic_elf(&dir), None);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn clock_capability_says_why_not() {
        let off = RefKv::new(RefKvOptions {
            faketime: false,
            ..Default::default()
        });
        assert!(off
            .capabilities()
            .clock
            .unwrap_err()
            .contains("faketime: false"));
    }
}
