//! A bring-your-own system as a [`Db`], described entirely in the cluster
//! file's `custom:` section, whose nodes speak refkv's HTTP protocol
//! (`docs/refkv-api.md`, version 1). How to describe a system:
//! `docs/bring-your-own.md`.
//!
//! The section gives argv lists (never shell strings) with placeholders
//! ([`PLACEHOLDERS`]) to install, start and stop the system on a node, its
//! ports, an HTTP path that answers 2xx once a node is up, and where each
//! node's JSON status names the leader (or `leader: none`). Every command
//! and field is checked when the cluster file is loaded (an unknown
//! placeholder is a [`FieldError`] naming e.g. `custom.start[3]`).
//!
//! Contract, as refkv's: the started command is the node's daemon (its pid
//! is what `kill` SIGKILLs and `pause` SIGSTOPs, so it must not fork into
//! the background); `start` re-runs the start command keeping the data;
//! `teardown` runs the stop command (default: SIGTERM, then SIGKILL after
//! 5 s) and removes the node's own data directory. Clients are
//! [`RefKvClient`]s on `http://HOST:CLIENT_PORT`; only addresses in
//! 10.213.7.0/24 or 127.0.0.0/8 are ever contacted.
//!
//! The status polling and the ready round trip resemble refkv's
//! (`super::refkv`), but are driven by the section's paths and fields, so
//! they live here rather than in a helper shared with refkv.

use super::registry::{DbContext, DbEntry};
use super::support::{
    block_on, join_all, node_url, poll_ready, ready_round_trip, remove_data_dir, BrokenClient,
    Daemons,
};
use super::{Capabilities, Cluster, ConsensusState, Consistency, Db, DbError, Node};
use crate::client::refkv::RefKvClient;
use crate::client::KvClient;
use crate::remote::faketime::{self, write_offset};
use crate::remote::{DaemonSpec, Signal};
use crate::spec::load::FieldError;
use crate::spec::ClusterSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name of this Db in a cluster file's `db`.
pub const NAME: &str = "custom";

/// This Db in the [registry](super::registry): it promises what its
/// section declares.
pub const ENTRY: DbEntry = DbEntry {
    name: NAME,
    consistency: |c| {
        c.custom
            .as_ref()
            .map(|s| s.consistency)
            .unwrap_or(Consistency::Linearizable)
    },
    backends: &["local", "ssh", "docker"],
    check,
    build,
};

/// The placeholders a command may use, each written `{name}` inside any
/// argument (`--listen={host}:{client_port}`); `{{` and `}}` are a literal
/// brace.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("node", "this node's name (n1, n2...)"),
    (
        "nodes",
        "every node's name, comma-separated, in order (n1,n2,n3)",
    ),
    (
        "peers",
        "every node as NAME=HOST:CLIENT_PORT/HOST:PEER_PORT, comma-separated, in order \
         (refkv's --cluster)",
    ),
    ("host", "this node's address"),
    ("client_port", "the section's client-port"),
    ("peer_port", "the section's peer-port"),
    (
        "data_dir",
        "this node's data directory (removed by teardown)",
    ),
    (
        "log_dir",
        "this node's log directory (kept with the results)",
    ),
    (
        "binary",
        "the faultline binary (so `{binary} node ...` runs refkv)",
    ),
    (
        "cwd",
        "the directory faultline was started in (to find a script of the project)",
    ),
];

/// The section of a cluster file describing a bring-your-own system
/// (`custom:`), only with `db: custom`.
///
/// A cluster with `db: custom` must have one (a forgotten section is an
/// error, not a silent default). [`CustomSpec::default`] is faultline's own
/// refkv described as bring-your-own, for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CustomSpec {
    /// The system's name, in messages (default `custom`).
    #[serde(default = "default_name")]
    pub name: String,
    /// A command run once on each node before its first start (optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<String>,
    /// The command that runs one node in the foreground (required).
    #[serde(default)]
    pub start: Vec<String>,
    /// The command that stops a node at teardown (optional; default:
    /// SIGTERM to the started process, SIGKILL after 5 s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// The port clients use on each node's address (default 8080).
    #[serde(default = "default_client_port")]
    pub client_port: u16,
    /// The port nodes talk to each other on (default 8081); only passed to
    /// the commands through `{peer_port}` and `{peers}`.
    #[serde(default = "default_peer_port")]
    pub peer_port: u16,
    /// How to tell a node is up (default `GET /status`).
    #[serde(default)]
    pub ready: ReadySpec,
    /// Where a node's status names the leader, or `none` (default: the
    /// field `leader` of `GET /status`).
    #[serde(default)]
    pub leader: LeaderSpec,
    /// Where a node's status gives its role and term, for the election
    /// nemeses (optional; without it they cannot run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleSpec>,
    /// What the system promises its clients (default `linearizable`).
    #[serde(default = "default_consistency")]
    pub consistency: Consistency,
    /// Run nodes under libfaketime, so clock faults apply (default false:
    /// only a dynamically linked program that reads the clock through libc
    /// is affected).
    #[serde(default)]
    pub faketime: bool,
    /// Which process faults the system takes (default: all).
    #[serde(default)]
    pub capabilities: CapabilitySpec,
    /// How long a client waits for one answer, in milliseconds (default
    /// 5500). Keep it above the system's own request timeout, so its
    /// answer arrives first.
    #[serde(default = "default_client_timeout_ms")]
    pub client_timeout_ms: u64,
    /// More log files of a node to keep with the results (commands'
    /// placeholders apply); its stdout and stderr are always kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_files: Vec<String>,
}

fn default_name() -> String {
    NAME.to_string()
}
fn default_client_port() -> u16 {
    8080
}
fn default_peer_port() -> u16 {
    8081
}
fn default_consistency() -> Consistency {
    Consistency::Linearizable
}
fn default_client_timeout_ms() -> u64 {
    5_500
}
fn default_status_path() -> String {
    "/status".to_string()
}

/// `ready:` — a node is up when `GET path` answers 2xx; the cluster is
/// ready when every node is up and a write then read of one key through
/// the leader (or the first node) round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReadySpec {
    /// The HTTP path (default `/status`).
    #[serde(default = "default_status_path")]
    pub path: String,
}

impl Default for ReadySpec {
    fn default() -> Self {
        ReadySpec {
            path: default_status_path(),
        }
    }
}

/// `leader:` — `none`, or the JSON field of an HTTP path that names the
/// leader a node knows (`{path: /status, field: leader}`): a node leads
/// when it names itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LeaderSpec {
    /// A keyword: only `none` is valid (the system cannot tell).
    Keyword(String),
    /// A field of a JSON answer.
    Field(JsonField),
}

impl Default for LeaderSpec {
    fn default() -> Self {
        LeaderSpec::Field(JsonField {
            path: default_status_path(),
            field: "leader".into(),
        })
    }
}

impl LeaderSpec {
    /// The field, or `None` for `leader: none`.
    pub fn field(&self) -> Option<&JsonField> {
        match self {
            LeaderSpec::Field(f) => Some(f),
            LeaderSpec::Keyword(_) => None,
        }
    }
}

/// A field of the JSON answer to `GET path`; `a.b` reaches into objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JsonField {
    /// The HTTP path, starting with `/`.
    #[serde(default = "default_status_path")]
    pub path: String,
    /// The field.
    pub field: String,
}

/// `role:` — where a node's JSON status gives its role (`leader`,
/// `follower`, `candidate`...) and term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoleSpec {
    /// The HTTP path (default `/status`).
    #[serde(default = "default_status_path")]
    pub path: String,
    /// The field holding the role (default `role`).
    #[serde(default = "default_role_field")]
    pub field: String,
    /// The field holding the term (default `term`).
    #[serde(default = "default_term_field")]
    pub term_field: String,
    /// The role value that means leader (default `leader`).
    #[serde(default = "default_leader_value")]
    pub leader_value: String,
}

fn default_role_field() -> String {
    "role".into()
}
fn default_term_field() -> String {
    "term".into()
}
fn default_leader_value() -> String {
    "leader".into()
}

/// `capabilities:` — the process faults the system takes. Clock faults
/// follow `faketime`; leader-targeted faults follow `leader`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CapabilitySpec {
    /// SIGKILL and restart (default true).
    #[serde(default = "yes")]
    pub kill: bool,
    /// SIGSTOP and SIGCONT (default true).
    #[serde(default = "yes")]
    pub pause: bool,
}

fn yes() -> bool {
    true
}

impl Default for CapabilitySpec {
    fn default() -> Self {
        CapabilitySpec {
            kill: true,
            pause: true,
        }
    }
}

impl Default for CustomSpec {
    /// faultline's own refkv, described as bring-your-own.
    fn default() -> Self {
        let args = [
            "{binary}",
            "node",
            "--id",
            "{node}",
            "--cluster",
            "{peers}",
            "--data-dir",
            "{data_dir}",
            "--log",
            "{log_dir}/refkv.log",
        ];
        CustomSpec {
            name: "refkv-byo".into(),
            install: Vec::new(),
            start: args.iter().map(|s| s.to_string()).collect(),
            stop: Vec::new(),
            client_port: default_client_port(),
            peer_port: default_peer_port(),
            ready: ReadySpec::default(),
            leader: LeaderSpec::default(),
            role: Some(RoleSpec {
                path: default_status_path(),
                field: default_role_field(),
                term_field: default_term_field(),
                leader_value: default_leader_value(),
            }),
            consistency: Consistency::Linearizable,
            faketime: false,
            capabilities: CapabilitySpec::default(),
            client_timeout_ms: default_client_timeout_ms(),
            log_files: vec!["{log_dir}/refkv.log".into()],
        }
    }
}

/// The values of the placeholders for one node.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    /// The values for `node` of a cluster whose nodes are `all`.
    pub fn for_node(
        spec: &CustomSpec,
        binary: &std::path::Path,
        cwd: &std::path::Path,
        all: &[(String, String)],
        node: &Node,
    ) -> Vars {
        let peers = all
            .iter()
            .map(|(name, host)| {
                format!(
                    "{name}={host}:{}/{host}:{}",
                    spec.client_port, spec.peer_port
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let nodes = all
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut m = BTreeMap::new();
        m.insert("node", node.name.clone());
        m.insert("nodes", nodes);
        m.insert("peers", peers);
        m.insert("host", node.host.clone());
        m.insert("client_port", spec.client_port.to_string());
        m.insert("peer_port", spec.peer_port.to_string());
        m.insert("data_dir", node.data_dir.display().to_string());
        m.insert("log_dir", node.log_dir.display().to_string());
        m.insert("binary", binary.display().to_string());
        m.insert("cwd", cwd.display().to_string());
        Vars(m)
    }

    /// Set one placeholder (for tests and tools).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        if let Some((k, _)) = PLACEHOLDERS.iter().find(|(k, _)| *k == name) {
            self.0.insert(k, value.into());
        }
    }
}

/// The placeholders `arg` uses, in order, or what is wrong with it (an
/// unknown placeholder, an unclosed or stray brace).
pub fn placeholders(arg: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(i) = rest.find(['{', '}']) {
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.starts_with(c as char) {
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(format!("stray `}}` in {arg:?} (write `}}}}` for a brace)"));
        }
        let Some(end) = after.find('}') else {
            return Err(format!(
                "unclosed `{{` in {arg:?} (write `{{{{` for a brace)"
            ));
        };
        let name = &after[..end];
        if !PLACEHOLDERS.iter().any(|(k, _)| *k == name) {
            return Err(format!(
                "unknown placeholder {{{name}}}: expected one of {}",
                PLACEHOLDERS
                    .iter()
                    .map(|(k, _)| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push(name);
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// `arg` with its placeholders replaced by their values.
pub fn expand(arg: &str, vars: &Vars) -> Result<String, String> {
    placeholders(arg)?;
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.starts_with(c as char) {
            out.push(c as char);
            rest = &after[1..];
            continue;
        }
        // `placeholders` accepted it: a `{name}`.
        let end = after.find('}').unwrap_or(after.len());
        let name = &after[..end];
        out.push_str(vars.0.get(name).map(String::as_str).unwrap_or(""));
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// Every argument of a command expanded; the error names the argument.
pub fn expand_argv(argv: &[String], vars: &Vars) -> Result<Vec<String>, String> {
    argv.iter()
        .enumerate()
        .map(|(i, a)| expand(a, vars).map_err(|e| format!("[{i}]: {e}")))
        .collect()
}

fn check_command(field: &str, argv: &[String], required: bool) -> Result<(), FieldError> {
    if argv.is_empty() {
        if required {
            return Err(FieldError::new(
                field,
                "is required: the command (an argv list) that runs one node in the \
                 foreground, e.g. [python3, server.py, --id, \"{node}\"]",
            ));
        }
        return Ok(());
    }
    for (i, a) in argv.iter().enumerate() {
        placeholders(a).map_err(|e| FieldError::new(&format!("{field}[{i}]"), e))?;
    }
    if argv[0].trim().is_empty() {
        return Err(FieldError::new(
            &format!("{field}[0]"),
            "is an empty program",
        ));
    }
    Ok(())
}

fn check_path(field: &str, path: &str) -> Result<(), FieldError> {
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(FieldError::new(
            field,
            format!("{path:?} is not an HTTP path starting with `/`"),
        ));
    }
    Ok(())
}

fn check_field(field: &str, name: &str) -> Result<(), FieldError> {
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return Err(FieldError::new(
            field,
            format!("{name:?} is not a JSON field name (a or a.b)"),
        ));
    }
    Ok(())
}

/// Check a `custom:` section's values; errors name the field
/// (`custom.start[3]`, `custom.leader`...).
pub fn check_spec(s: &CustomSpec) -> Result<(), FieldError> {
    if s.name.trim().is_empty() {
        return Err(FieldError::new("custom.name", "must not be empty"));
    }
    check_command("custom.install", &s.install, false)?;
    check_command("custom.start", &s.start, true)?;
    check_command("custom.stop", &s.stop, false)?;
    for (i, f) in s.log_files.iter().enumerate() {
        placeholders(f).map_err(|e| FieldError::new(&format!("custom.log-files[{i}]"), e))?;
    }
    if s.client_port == 0 {
        return Err(FieldError::new("custom.client-port", "must not be 0"));
    }
    if s.peer_port == 0 {
        return Err(FieldError::new("custom.peer-port", "must not be 0"));
    }
    if s.client_port == s.peer_port {
        return Err(FieldError::new(
            "custom.peer-port",
            format!("equals client-port ({})", s.client_port),
        ));
    }
    check_path("custom.ready.path", &s.ready.path)?;
    match &s.leader {
        LeaderSpec::Keyword(k) if k == "none" => {}
        LeaderSpec::Keyword(k) => {
            return Err(FieldError::new(
                "custom.leader",
                format!("{k:?}: expected `none` or {{path: /status, field: leader}}"),
            ))
        }
        LeaderSpec::Field(f) => {
            check_path("custom.leader.path", &f.path)?;
            check_field("custom.leader.field", &f.field)?;
        }
    }
    if let Some(r) = &s.role {
        check_path("custom.role.path", &r.path)?;
        check_field("custom.role.field", &r.field)?;
        check_field("custom.role.term-field", &r.term_field)?;
    }
    if s.client_timeout_ms == 0 {
        return Err(FieldError::new("custom.client-timeout-ms", "must not be 0"));
    }
    Ok(())
}

fn check(cluster: &ClusterSpec) -> Result<(), FieldError> {
    match &cluster.custom {
        Some(_) if cluster.db != NAME => Err(FieldError::new(
            NAME,
            format!(
                "is the section of db custom; this cluster's db is {}",
                cluster.db
            ),
        )),
        Some(s) => check_spec(s),
        None if cluster.db == NAME => Err(FieldError::new(
            NAME,
            "db custom needs a `custom:` section describing the system (at least \
             `start`); see docs/bring-your-own.md",
        )),
        None => Ok(()),
    }
}

fn build(cluster: &ClusterSpec, ctx: &DbContext) -> Result<Arc<dyn Db>, DbError> {
    let binary = match &ctx.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| DbError::Other(format!("cannot find faultline's own binary: {e}")))?,
    };
    let spec = cluster.custom.clone().ok_or_else(|| {
        DbError::Other("db custom needs a `custom:` section describing the system".into())
    })?;
    check_spec(&spec).map_err(|e| DbError::Other(format!("{}: {}", e.field, e.message)))?;
    let cwd = std::env::current_dir()
        .map_err(|e| DbError::Other(format!("cannot read the working directory: {e}")))?;
    Ok(Arc::new(Custom::new(spec, binary, cwd)))
}

/// Timeout of one status query.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// A bring-your-own system as a [`Db`].
pub struct Custom {
    spec: CustomSpec,
    binary: PathBuf,
    cwd: PathBuf,
    daemons: Daemons,
    /// The libfaketime of each node asked so far (`None`: not installed).
    faketime_libs: Mutex<HashMap<String, Option<PathBuf>>>,
}

impl std::fmt::Debug for Custom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Custom").field("spec", &self.spec).finish()
    }
}

/// `v.a.b` for the field `a.b`.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    name.split('.').try_fold(v, |v, k| v.get(k))
}

impl Custom {
    /// The system `spec` describes; `{binary}` is `binary`, `{cwd}` is `cwd`.
    pub fn new(spec: CustomSpec, binary: PathBuf, cwd: PathBuf) -> Self {
        let daemons = Daemons::new(&spec.name);
        Custom {
            spec,
            binary,
            cwd,
            daemons,
            faketime_libs: Mutex::new(HashMap::new()),
        }
    }

    /// Its description.
    pub fn spec(&self) -> &CustomSpec {
        &self.spec
    }

    fn vars(&self, cluster: &Cluster, node: &Node) -> Vars {
        let all: Vec<(String, String)> = cluster
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.host.clone()))
            .collect();
        // `{binary}` is the node's own copy when the backend put one there.
        let binary = node.binary.as_ref().unwrap_or(&self.binary);
        Vars::for_node(&self.spec, binary, &self.cwd, &all, node)
    }

    fn command(
        &self,
        cluster: &Cluster,
        node: &Node,
        what: &str,
        argv: &[String],
    ) -> Result<Vec<String>, DbError> {
        expand_argv(argv, &self.vars(cluster, node))
            .map_err(|e| DbError::Other(format!("node {}: custom.{what}{e}", node.name)))
    }

    fn stdout_file(node: &Node) -> PathBuf {
        node.log_dir.join("custom.stdout")
    }

    fn url(&self, node: &Node) -> Result<String, DbError> {
        node_url(node, self.spec.client_port)
    }

    fn libfaketime(&self, node: &Node) -> Result<Option<PathBuf>, DbError> {
        if let Some(lib) = crate::sync::lock(&self.faketime_libs).get(&node.name) {
            return Ok(lib.clone());
        }
        let lib = node.remote.libfaketime()?;
        crate::sync::lock(&self.faketime_libs).insert(node.name.clone(), lib.clone());
        Ok(lib)
    }

    fn spawn(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        let argv = self.command(cluster, node, "start", &self.spec.start)?;
        let env = if self.spec.faketime {
            self.libfaketime(node)?
                .map(|lib| faketime::env(&lib, &node.name))
                .unwrap_or_default()
        } else {
            Vec::new()
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

    /// `GET path` of every node, concurrently: name → JSON answer (or
    /// `null` for a 2xx that is not JSON), or why not.
    pub fn query(&self, cluster: &Cluster, path: &str) -> Vec<(String, Result<Value, String>)> {
        let urls: Vec<(String, Result<String, String>)> = cluster
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    self.url(n)
                        .map(|u| format!("{u}{path}"))
                        .map_err(|e| e.to_string()),
                )
            })
            .collect();
        let res = block_on(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(STATUS_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
            let futs = urls.into_iter().map(|(name, url)| {
                let http = http.clone();
                async move { (name, get_json(&http, url).await) }
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

    /// The leader each node names (`None`: it names none, or did not
    /// answer); empty with `leader: none`.
    fn named_leaders(&self, cluster: &Cluster) -> Vec<(String, Option<String>)> {
        let Some(f) = self.spec.leader.field() else {
            return Vec::new();
        };
        self.query(cluster, &f.path)
            .into_iter()
            .map(|(n, r)| {
                let l = r.ok().and_then(|v| {
                    field(&v, &f.field)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                (n, l)
            })
            .collect()
    }
}

async fn get_json(http: &reqwest::Client, url: Result<String, String>) -> Result<Value, String> {
    let resp = http.get(url?).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

impl Db for Custom {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let clock = if !self.spec.faketime {
            Err(format!(
                "{} runs without libfaketime (custom.faketime: false)",
                self.spec.name
            ))
        } else if crate::sync::lock(&self.faketime_libs)
            .values()
            .any(Option::is_none)
        {
            Err(faketime::NOT_INSTALLED.to_string())
        } else {
            Ok(())
        };
        Capabilities {
            kill: self.spec.capabilities.kill,
            pause: self.spec.capabilities.pause,
            primaries: self.spec.leader.field().is_some(),
            clock,
        }
    }

    fn consistency(&self) -> Consistency {
        self.spec.consistency
    }

    fn setup(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.url(node)?;
        let data = node.data_dir.display().to_string();
        let logs = node.log_dir.display().to_string();
        node.remote.exec_ok(&["mkdir", "-p", &data, &logs])?;
        if !self.spec.install.is_empty() {
            let argv = self.command(cluster, node, "install", &self.spec.install)?;
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = node.remote.exec(&args)?;
            if !out.success() {
                return Err(DbError::Other(format!(
                    "node {}: custom.install {argv:?} failed: {}",
                    node.name,
                    out.stderr.trim()
                )));
            }
        }
        if self.spec.faketime && self.libfaketime(node)?.is_some() {
            write_offset(node, 0)?;
        }
        self.spawn(cluster, node)
    }

    fn teardown(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        if !self.spec.stop.is_empty() {
            let argv = self.command(cluster, node, "stop", &self.spec.stop)?;
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            // A failing stop command is not fatal: SIGKILL follows.
            let _ = node.remote.exec(&args);
        } else if let Some(pid) = self.daemons.running(node) {
            // A paused process handles SIGTERM only once continued.
            let _ = node.remote.signal(pid, Signal::Cont);
            node.remote.signal(pid, Signal::Term)?;
            let _ = node.remote.wait_exit(pid, Duration::from_secs(5));
        }
        self.daemons.kill(node)?;
        remove_data_dir(node)?;
        if self.spec.faketime {
            let ft = faketime::offset_file(&node.name).display().to_string();
            node.remote.exec(&["rm", "-f", &ft])?;
        }
        Ok(())
    }

    fn start(&self, cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        if self.daemons.running(node).is_some() {
            return Ok(());
        }
        self.spawn(cluster, node)
    }

    fn kill(&self, _cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        if !self.spec.capabilities.kill {
            return Err(DbError::Unsupported {
                db: self.spec.name.clone(),
                what: "kill (custom.capabilities.kill: false)".into(),
            });
        }
        self.daemons.kill(node)
    }

    fn pause(&self, _cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        if !self.spec.capabilities.pause {
            return Err(DbError::Unsupported {
                db: self.spec.name.clone(),
                what: "pause (custom.capabilities.pause: false)".into(),
            });
        }
        self.daemons.pause(node)
    }

    fn resume(&self, _cluster: &Cluster, node: &Node) -> Result<(), DbError> {
        self.daemons.resume(node)
    }

    fn primaries(&self, cluster: &Cluster) -> Vec<String> {
        self.named_leaders(cluster)
            .into_iter()
            .filter(|(n, l)| l.as_deref() == Some(n.as_str()))
            .map(|(n, _)| n)
            .collect()
    }

    fn await_ready(&self, cluster: &Cluster, timeout: Duration) -> Result<(), DbError> {
        let what = self.spec.name.as_str();
        poll_ready(
            cluster,
            what,
            timeout,
            Duration::from_millis(100),
            |nonce| {
                let down: Vec<String> = self
                    .query(cluster, &self.spec.ready.path)
                    .into_iter()
                    .filter_map(|(n, r)| r.err().map(|e| format!("{n}: {e}")))
                    .collect();
                if !down.is_empty() {
                    return Err(format!(
                        "GET {} failed: {}",
                        self.spec.ready.path,
                        down.join("; ")
                    ));
                }
                let leader = self
                    .named_leaders(cluster)
                    .into_iter()
                    .find_map(|(_, l)| l)
                    .and_then(|l| cluster.node(&l).cloned());
                let target = match (&self.spec.leader, leader) {
                    (LeaderSpec::Field(_), None) => None,
                    (_, Some(l)) => Some(l),
                    (LeaderSpec::Keyword(_), None) => cluster.nodes.first().cloned(),
                };
                let node = target.ok_or("no node names a leader yet")?;
                let url = self.url(&node).map_err(|e| e.to_string())?;
                let client =
                    RefKvClient::new(&url, Duration::from_secs(2)).map_err(|e| e.to_string())?;
                ready_round_trip(&client, nonce).map_err(|e| format!("through {}: {e}", node.name))
            },
        )
    }

    fn log_files(&self, cluster: &Cluster, node: &Node) -> Vec<PathBuf> {
        let vars = self.vars(cluster, node);
        let mut out = vec![Self::stdout_file(node)];
        out.extend(
            self.spec
                .log_files
                .iter()
                .filter_map(|f| expand(f, &vars).ok())
                .map(PathBuf::from),
        );
        out
    }

    fn client(&self, _cluster: &Cluster, node: &Node) -> Arc<dyn KvClient> {
        let url = match self.url(node) {
            Ok(u) => u,
            Err(e) => return Arc::new(BrokenClient(e.to_string())),
        };
        match RefKvClient::new(&url, Duration::from_millis(self.spec.client_timeout_ms)) {
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
        let r = self.spec.role.as_ref()?;
        let url = format!("{}{}", self.url(node).ok()?, r.path);
        let leader_field = self.spec.leader.field().cloned();
        let role_path = r.path.clone();
        let (v, lv) = block_on(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(STATUS_TIMEOUT)
                .build()
                .ok()?;
            let v = get_json(&http, Ok(url.clone())).await.ok()?;
            let lv = match &leader_field {
                Some(f) if f.path != role_path => {
                    let base = url.strip_suffix(&role_path).unwrap_or(&url);
                    get_json(&http, Ok(format!("{base}{}", f.path))).await.ok()
                }
                _ => Some(v.clone()),
            };
            Some((v, lv))
        })
        .ok()
        .flatten()?;
        let role = field(&v, &r.field)?.as_str()?;
        let role = if role == r.leader_value {
            "leader".to_string()
        } else {
            role.to_string()
        };
        let leader = self.spec.leader.field().and_then(|f| {
            lv.as_ref()
                .and_then(|lv| field(lv, &f.field))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        Some(ConsensusState {
            role,
            term: field(&v, &r.term_field)?.as_u64()?,
            leader,
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
    fn the_default_describes_refkv_and_checks() {
        let s = CustomSpec::default();
        assert_eq!(check_spec(&s), Ok(()));
        assert_eq!(s.start[0], "{binary}");
    }

    /// A forgotten section is an error naming it, not a silent refkv;
    /// with one, the entry builds what it names, with its promise.
    #[test]
    fn the_entry_needs_its_section_and_builds_with_its_promise() {
        let mut cluster = ClusterSpec {
            db: NAME.into(),
            backend: "local".into(),
            ..ClusterSpec::default()
        };
        let e = super::super::registry::check_sections(&cluster).unwrap_err();
        assert_eq!(e.field, "custom");
        assert!(build(&cluster, &DbContext::default()).is_err());
        cluster.custom = Some(CustomSpec::default());
        assert_eq!(super::super::registry::check(&cluster), Ok(()));
        assert_eq!(super::super::registry::check_sections(&cluster), Ok(()));
        let db = build(&cluster, &DbContext::default()).expect("builds");
        assert_eq!(db.name(), NAME);
        assert_eq!(db.consistency(), (ENTRY.consistency)(&cluster));
        assert!(db.capabilities().primaries);
    }

    #[test]
    fn braces_escape_and_stray_ones_are_errors() {
        let mut v = Vars::default();
        v.set("node", "n2");
        assert_eq!(expand("{{x}}-{node}", &v).unwrap(), "{x}-n2");
        assert!(placeholders("a{node").unwrap_err().contains("unclosed"));
        assert!(placeholders("a}b").unwrap_err().contains("stray"));
        assert!(placeholders("{nod}").unwrap_err().contains("{nod}"));
    }
}
