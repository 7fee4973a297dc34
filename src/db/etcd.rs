//! etcd as a [`Db`]: Debian's `etcd-server` (3.4), installed when missing.
//!
//! Each node runs `/usr/bin/etcd --name <node> --data-dir <node's data dir>`
//! with its client URL `http://<host>:<client-port>` and peer URL
//! `http://<host>:<peer-port>` on the node's own address (never 0.0.0.0),
//! `--initial-cluster` naming every node, `--initial-cluster-state new` and
//! a cluster token derived from the nodes' names and addresses. Its stdout
//! and stderr (etcd's zap log) go to `<log dir>/etcd.log`.
//!
//! Restarting a killed member runs the same command: once its data dir holds
//! a member, etcd ignores the `--initial-cluster*` flags and rejoins with
//! its data (the root test checks this).
//!
//! Timeouts: `--heartbeat-interval 100 --election-timeout 1000` (ms), etcd's
//! own defaults, stated explicitly. They suit a 2-core machine shared with
//! the harness: etcd's tuning guide asks for an election timeout of about
//! ten heartbeats and well above the round trip plus fsync time, and a
//! shorter timeout makes elections flap when the CPU is busy, which a test
//! would then report as unavailability that is the machine's, not etcd's.
//!
//! The leader, term and raft indexes come from each member's
//! `POST /v3/maintenance/status` (500 ms timeout; a paused or cut-off
//! member answers nothing, so it is `None`); member ids are mapped to node
//! names through `/v3/cluster/member/list`, asked once and cached.
//!
//! `consensus_state` reports `leader` or `follower` only: etcd's status does
//! not say when a member campaigns. The `double-vote` choreography ends
//! `incomplete` on etcd ("still leads after 10 s"), most likely because
//! etcd's rafthttp streams are opened by the *receiving* member, so
//! blocking the connections a peer opened does not silence it.
//!
//! The data plane is [`crate::client::etcd::EtcdClient`]. etcd's default
//! reads are linearizable (ReadIndex through the leader), so the promise
//! is [`Consistency::Linearizable`].

use super::registry::{DbContext, DbEntry};
use super::support::{
    block_on, ensure_installed, join_all, node_url, poll_ready, ready_round_trip, remove_data_dir,
    BrokenClient, Daemons,
};
use super::{Capabilities, Cluster, ConsensusState, Consistency, Db, DbError, Node};
use crate::client::etcd::{EtcdClient, CLIENT_TIMEOUT};
use crate::client::KvClient;
use crate::remote::DaemonSpec;
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "etcd";

/// This Db in the [registry](super::registry).
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |_| Etcd::CONSISTENCY,
    backends: &["local", "ssh", "docker"],
    check,
    build,
};

/// The etcd binary the Debian package installs.
pub const BINARY: &str = "/usr/bin/etcd";
/// The Debian package providing [`BINARY`].
pub const PACKAGE: &str = "etcd-server";
/// Why clock faults cannot apply to etcd. Checked on etcd 3.4.23: under
/// `LD_PRELOAD=libfaketime.so.1 FAKETIME=+100d`, `date` is 100 days ahead
/// while etcd's log timestamps stay on the real time.
pub const NO_CLOCK: &str = "etcd is a Go binary: it reads time through the vDSO, not libc, \
     and ignores libfaketime";

/// etcd's section of a cluster file (`etcd:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct EtcdSpec {
    /// Client port on each node's address (default 2379).
    pub client_port: u16,
    /// Peer port on each node's address (default 2380).
    pub peer_port: u16,
    /// Raft heartbeat interval in ms (`--heartbeat-interval`, default 100).
    pub heartbeat_interval: u64,
    /// Raft election timeout in ms (`--election-timeout`, default 1000; at
    /// least 5 heartbeats, at most 50000, as etcd requires).
    pub election_timeout: u64,
    /// More `etcd` flags, e.g. `[--snapshot-count, "10000"]`.
    pub extra_args: Vec<String>,
}

impl Default for EtcdSpec {
    fn default() -> Self {
        EtcdSpec {
            client_port: 2379,
            peer_port: 2380,
            heartbeat_interval: 100,
            election_timeout: 1000,
            extra_args: Vec::new(),
        }
    }
}

/// Flags faultline sets itself, which `extra-args` may not override.
const OWN_FLAGS: &[&str] = &[
    "--name",
    "--data-dir",
    "--listen-client-urls",
    "--advertise-client-urls",
    "--listen-peer-urls",
    "--initial-advertise-peer-urls",
    "--initial-cluster",
    "--initial-cluster-state",
    "--initial-cluster-token",
    "--heartbeat-interval",
    "--election-timeout",
];

fn check(cluster: &ClusterSpec) -> Result<(), FieldError> {
    let e = &cluster.etcd;
    // Another Db ignores this section (a cluster file may be reused with
    // `--db`).
    if cluster.db != NAME {
        return Ok(());
    }
    if e.client_port == 0 {
        return Err(FieldError::new("etcd.client-port", "must not be 0"));
    }
    if e.peer_port == 0 {
        return Err(FieldError::new("etcd.peer-port", "must not be 0"));
    }
    if e.client_port == e.peer_port {
        return Err(FieldError::new(
            "etcd.peer-port",
            format!("equals client-port ({})", e.client_port),
        ));
    }
    if e.heartbeat_interval == 0 {
        return Err(FieldError::new("etcd.heartbeat-interval", "must not be 0"));
    }
    if e.election_timeout < 5 * e.heartbeat_interval {
        return Err(FieldError::new(
            "etcd.election-timeout",
            format!(
                "{} ms is less than 5 heartbeat intervals ({} ms); etcd refuses it",
                e.election_timeout,
                5 * e.heartbeat_interval
            ),
        ));
    }
    if e.election_timeout > 50_000 {
        return Err(FieldError::new(
            "etcd.election-timeout",
            format!("{} ms is above etcd's maximum of 50000", e.election_timeout),
        ));
    }
    for (i, a) in e.extra_args.iter().enumerate() {
        let flag = a.split('=').next().unwrap_or(a);
        if OWN_FLAGS.contains(&flag) {
            return Err(FieldError::new(
                &format!("etcd.extra-args[{i}]"),
                format!("{flag} is set by faultline itself"),
            ));
        }
    }
    Ok(())
}

fn build(cluster: &ClusterSpec, _ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    Ok(Arc::new(Etcd::new(cluster.etcd.clone())))
}

/// Timeout of one status or member-list query.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// One member's answer to `/v3/maintenance/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// Its own member id.
    pub member_id: u64,
    /// The leader it knows (0: none).
    pub leader: u64,
    /// Its raft term.
    pub term: u64,
    /// Its raft commit index.
    pub raft_index: u64,
    /// Its applied index.
    pub applied_index: u64,
}

/// A uint64 the gateway sends as a string (or, defensively, a number).
fn gw_u64(v: &Value, field: &str) -> Option<u64> {
    match v.get(field)? {
        Value::String(s) => s.parse().ok(),
        n => n.as_u64(),
    }
}

impl MemberStatus {
    /// Parse a status answer; `None` when a field is missing.
    pub fn parse(v: &Value) -> Option<Self> {
        Some(MemberStatus {
            member_id: gw_u64(v.get("header")?, "member_id")?,
            leader: gw_u64(v, "leader").unwrap_or(0),
            term: gw_u64(v, "raftTerm")
                .or_else(|| gw_u64(v, "raft_term"))
                .unwrap_or(0),
            raft_index: gw_u64(v, "raftIndex")
                .or_else(|| gw_u64(v, "raft_index"))
                .unwrap_or(0),
            applied_index: gw_u64(v, "raftAppliedIndex")
                .or_else(|| gw_u64(v, "raft_applied_index"))
                .unwrap_or(0),
        })
    }

    /// The member believes it leads.
    pub fn is_leader(&self) -> bool {
        self.leader != 0 && self.leader == self.member_id
    }
}

/// The member id → name pairs of a `/v3/cluster/member/list` answer.
pub fn parse_members(v: &Value) -> Vec<(u64, String)> {
    v.get("members")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| {
                    let id = gw_u64(m, "ID")?;
                    let name = m.get("name")?.as_str()?;
                    (!name.is_empty()).then(|| (id, name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// FNV-1a, for a cluster token stable across runs of the same cluster.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// etcd as a [`Db`].
pub struct Etcd {
    spec: EtcdSpec,
    daemons: Daemons,
    /// Member id → node name, learnt from member lists and statuses.
    names: Mutex<HashMap<u64, String>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd").field("spec", &self.spec).finish()
    }
}

impl Etcd {
    /// etcd's default reads are linearizable (`serializable: false`: the
    /// member confirms through ReadIndex that the leader still leads).
    pub const CONSISTENCY: Consistency = Consistency::Linearizable;

    /// etcd with these options.
    pub fn new(spec: EtcdSpec) -> Self {
        Etcd {
            spec,
            daemons: Daemons::new(NAME),
            names: Mutex::new(HashMap::new()),
        }
    }

    fn client_url(&self, node: &Node) -> Result<String, DbError> {
        node_url(node, self.spec.client_port)
    }

    fn peer_url(&self, node: &Node) -> Result<String, DbError> {
        node_url(node, self.spec.peer_port)
    }

    /// `--initial-cluster`: `n1=http://10.213.7.11:2380,...`.
    fn initial_cluster(&self, cluster: &Cluster) -> Result<String, DbError> {
        let parts = cluster
            .nodes
            .iter()
            .map(|n| Ok(format!("{}={}", n.name, self.peer_url(n)?)))
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(parts.join(","))
    }

    /// The log file of `node`: etcd's stdout and stderr.
    fn log_file(node: &Node) -> PathBuf {
        node.log_dir.join("etcd.log")
    }

    /// The full `etcd` command line for `node`.
    pub fn argv(&self, cluster: &Cluster, node: &Node) -> Result<Vec<String>, DbError> {
        let client = self.client_url(node)?;
        let peer = self.peer_url(node)?;
        let initial = self.initial_cluster(cluster)?;
        let token = format!("faultline-{:016x}", fnv1a(&initial));
        let mut argv: Vec<String> = vec![
            BINARY.into(),
            "--name".into(),
            node.name.clone(),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
            "--listen-client-urls".into(),
            client.clone(),
            "--advertise-client-urls".into(),
            client,
            "--listen-peer-urls".into(),
            peer.clone(),
            "--initial-advertise-peer-urls".into(),
            peer,
            "--initial-cluster".into(),
            initial,
            "--initial-cluster-state".into(),
            "new".into(),
            "--initial-cluster-token".into(),
            token,
            "--heartbeat-interval".into(),
            self.spec.heartbeat_interval.to_string(),
            "--election-timeout".into(),
            self.spec.election_timeout.to_string(),
            "--logger".into(),
            "zap".into(),
            "--log-outputs".into(),
            "stderr".into(),
        ];
        argv.extend(self.spec.extra_args.iter().cloned());
        Ok(argv)
    }

    fn spawn(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        let argv = self.argv(cluster, node)?;
        self.daemons.spawn(
            node,
            &DaemonSpec {
                argv,
                env: Vec::new(),
                cwd: node.log_dir.clone(),
                log_file: Self::log_file(node),
            },
        )?;
        Ok(())
    }

    fn status_client(&self, node: &Node) -> Result<EtcdClient, String> {
        let url = self.client_url(node).map_err(|e| e.to_string())?;
        EtcdClient::new(&url, STATUS_TIMEOUT).map_err(|e| e.to_string())
    }

    /// Every member's status, concurrently: name → status or error. Learns
    /// member ids from the answers.
    pub fn statuses(&self, cluster: &Cluster) -> Vec<(String, Result<MemberStatus, String>)> {
        let clients: Vec<(String, Result<EtcdClient, String>)> = cluster
            .nodes
            .iter()
            .map(|n| (n.name.clone(), self.status_client(n)))
            .collect();
        let res = block_on(async move {
            let futs = clients.into_iter().map(|(name, c)| async move {
                let r = match c {
                    Err(e) => Err(e),
                    Ok(c) => match c.status().await {
                        Ok(v) => MemberStatus::parse(&v)
                            .ok_or_else(|| format!("unreadable status answer {v}")),
                        Err(e) => Err(e.to_string()),
                    },
                };
                (name, r)
            });
            join_all(futs).await
        });
        let out = match res {
            Ok(v) => v,
            Err(e) => cluster
                .nodes
                .iter()
                .map(|n| (n.name.clone(), Err(e.clone())))
                .collect(),
        };
        let mut names = crate::sync::lock(&self.names);
        for (name, s) in &out {
            if let Ok(s) = s {
                names.insert(s.member_id, name.clone());
            }
        }
        out
    }

    /// The node name of member `id`, asking `node`'s member list when it is
    /// not known yet.
    fn member_name(&self, node: &Node, id: u64) -> Option<String> {
        if let Some(n) = crate::sync::lock(&self.names).get(&id) {
            return Some(n.clone());
        }
        let c = self.status_client(node).ok()?;
        let members = block_on(async move { c.member_list().await.ok() }).ok()??;
        let mut names = crate::sync::lock(&self.names);
        for (mid, name) in parse_members(&members) {
            names.insert(mid, name);
        }
        names.get(&id).cloned()
    }
}

impl Db for Etcd {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kill: true,
            pause: true,
            primaries: true,
            clock: Err(NO_CLOCK.to_string()),
        }
    }

    fn consistency(&self) -> Consistency {
        Self::CONSISTENCY
    }

    fn setup(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        // Check every address before touching the node.
        self.argv(cluster, node)?;
        ensure_installed(node, BINARY, &[PACKAGE])?;
        let data = node.data_dir.display().to_string();
        let logs = node.log_dir.display().to_string();
        node.remote.exec_ok(&["mkdir", "-p", &data, &logs])?;
        // etcd wants its data dir private.
        node.remote.exec_ok(&["chmod", "700", &data])?;
        self.spawn(cluster, node)
    }

    fn teardown(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.kill(cluster, node)?;
        remove_data_dir(node)?;
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
            .filter(|(_, s)| s.as_ref().is_ok_and(MemberStatus::is_leader))
            .map(|(n, _)| n)
            .collect()
    }

    fn await_ready(&self, cluster: &Cluster, timeout: Duration) -> Result<(), DbError> {
        poll_ready(
            cluster,
            NAME,
            timeout,
            Duration::from_millis(100),
            |nonce| {
                let statuses = self.statuses(cluster);
                let leader = statuses
                    .iter()
                    .find(|(_, s)| s.as_ref().is_ok_and(MemberStatus::is_leader))
                    .and_then(|(n, _)| cluster.node(n));
                let Some(node) = leader else {
                    let states = statuses
                        .iter()
                        .map(|(n, s)| match s {
                            Ok(s) if s.leader == 0 => format!("{n}: no leader, term {}", s.term),
                            Ok(s) => format!("{n}: follower, term {}", s.term),
                            Err(e) => format!("{n}: {e}"),
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    return Err(format!("no member leads ({states})"));
                };
                let url = self.client_url(node).map_err(|e| e.to_string())?;
                let client =
                    EtcdClient::new(&url, Duration::from_secs(2)).map_err(|e| e.to_string())?;
                ready_round_trip(&client, nonce).map_err(|e| format!("leader {}: {e}", node.name))
            },
        )
    }

    fn log_files(&self, _cluster: &Cluster, node: &Node) -> Vec<PathBuf> {
        vec![Self::log_file(node)]
    }

    fn client(&self, _cluster: &Cluster, node: &Node) -> Arc<dyn KvClient> {
        let url = match self.client_url(node) {
            Ok(u) => u,
            Err(e) => return Arc::new(BrokenClient(e.to_string())),
        };
        match EtcdClient::new(&url, CLIENT_TIMEOUT) {
            Ok(c) => Arc::new(c),
            Err(e) => Arc::new(BrokenClient(format!("node {}: {e}", node.name))),
        }
    }

    fn pid(&self, node: &Node) -> Option<u32> {
        self.daemons.pid(node)
    }

    /// The member's own status: `leader` when it leads, else `follower`
    /// (with the leader it knows, if any). etcd's status does not say when
    /// a member campaigns, so `candidate` is never reported.
    fn client_address(&self, node: &Node) -> Option<String> {
        self.client_url(node).ok()
    }

    fn consensus_state(&self, _cluster: &Cluster, node: &Node) -> Option<ConsensusState> {
        let c = self.status_client(node).ok()?;
        let v = block_on(async move { c.status().await.ok() }).ok()??;
        let s = MemberStatus::parse(&v)?;
        crate::sync::lock(&self.names).insert(s.member_id, node.name.clone());
        let leader = match s.leader {
            0 => None,
            id => self.member_name(node, id),
        };
        Some(ConsensusState {
            role: if s.is_leader() { "leader" } else { "follower" }.into(),
            term: s.term,
            leader,
            commit_index: Some(s.raft_index),
            last_index: None,
            last_term: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(etcd: EtcdSpec) -> ClusterSpec {
        ClusterSpec {
            db: NAME.into(),
            backend: "local".into(),
            etcd,
            ..ClusterSpec::default()
        }
    }

    #[test]
    fn the_spec_is_checked_field_by_field() {
        assert_eq!(check(&cluster(EtcdSpec::default())), Ok(()));
        let field = |e: EtcdSpec| check(&cluster(e)).unwrap_err().field;
        let d = EtcdSpec::default;
        assert_eq!(
            field(EtcdSpec {
                client_port: 0,
                ..d()
            }),
            "etcd.client-port"
        );
        assert_eq!(
            field(EtcdSpec {
                peer_port: 2379,
                ..d()
            }),
            "etcd.peer-port"
        );
        assert_eq!(
            field(EtcdSpec {
                election_timeout: 400,
                ..d()
            }),
            "etcd.election-timeout"
        );
        assert_eq!(
            field(EtcdSpec {
                heartbeat_interval: 0,
                ..d()
            }),
            "etcd.heartbeat-interval"
        );
        assert_eq!(
            field(EtcdSpec {
                extra_args: vec!["--snapshot-count".into(), "5".into(), "--name=x".into()],
                ..d()
            }),
            "etcd.extra-args[2]"
        );
        // Another Db ignores etcd's section.
        let mut other = cluster(EtcdSpec {
            client_port: 0,
            ..d()
        });
        other.db = "refkv".into();
        assert_eq!(check(&other), Ok(()));
    }

    #[test]
    fn status_and_member_list_answers_are_parsed() {
        let v: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"7541111273865473075","member_id":"13768253459432985520",
                "revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"24576",
                "leader":"13768253459432985520","raftIndex":"4","raftTerm":"2",
                "raftAppliedIndex":"4","dbSizeInUse":"16384"}"#,
        )
        .unwrap();
        let s = MemberStatus::parse(&v).unwrap();
        assert!(s.is_leader());
        assert_eq!((s.term, s.raft_index, s.applied_index), (2, 4, 4));
        let mut follower = v.clone();
        follower["leader"] = json!("17");
        assert!(!MemberStatus::parse(&follower).unwrap().is_leader());
        let mut leaderless = v.clone();
        leaderless.as_object_mut().unwrap().remove("leader");
        let s = MemberStatus::parse(&leaderless).unwrap();
        assert_eq!(s.leader, 0);
        assert!(!s.is_leader());
        assert_eq!(MemberStatus::parse(&json!({"leader": "1"})), None);

        let m: Value = serde_json::from_str(
            r#"{"members":[{"ID":"13768253459432985520","name":"n1","peerURLs":["http://x"]},
                {"ID":"5","name":"","peerURLs":["http://y"]}]}"#,
        )
        .unwrap();
        assert_eq!(parse_members(&m), vec![(13768253459432985520, "n1".into())]);
    }

    #[test]
    fn clock_faults_are_refused_with_the_reason() {
        let db = Etcd::new(EtcdSpec::default());
        let caps = db.capabilities();
        assert!(caps.kill && caps.pause && caps.primaries);
        assert!(caps.clock.unwrap_err().contains("libfaketime"));
        assert_eq!(db.consistency(), Consistency::Linearizable);
    }

    #[test]
    fn cluster_tokens_are_stable_and_differ_between_clusters() {
        assert_eq!(fnv1a("n1=a"), fnv1a("n1=a"));
        assert_ne!(fnv1a("n1=a"), fnv1a("n1=b"));
    }
}
