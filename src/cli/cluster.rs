//! `faultline cluster up|status|down CLUSTER`: a cluster left running for
//! manual experiments.
//!
//! `up` resolves the cluster file as `faultline test` does (a name in
//! `clusters/` or a path; `--bug` and `--nodes` over the file), then runs
//! the very steps a test starts with ([`crate::runner::bring_up`]):
//! provision the nodes through the cluster's backend, set up the Db on
//! each, wait until it serves. It then leaves everything running
//! ([`crate::remote::backend::Backend::leave_up`]: the local backend
//! records a claim, so no run sweeps the cluster away as leftovers) and
//! writes a state file, `RESULTS/clusters/NAME/cluster.json` — the resolved
//! cluster file, each node's address, directories, daemon pid and client
//! address, the time — beside the nodes' data and logs. `status` and `down`
//! read only that file (the cluster file may have changed since) and take
//! the nodes back through the backend
//! ([`crate::remote::backend::Backend::attach`]); `down` kills the
//! daemons, tears the Db and the backend down and removes the directory.
//!
//! Exit codes: 0 done (also `down` of a cluster that is not up, and
//! `status` of a cluster whose nodes are down), 254 what the user can fix
//! (a bad file, not root, already up, not up for `status`), 255 otherwise.

use crate::checker::Validity;
use crate::db::{Cluster, ConsensusState};
use crate::exit::{CliError, CmdResult};
use crate::remote::backend::{self, NoRemote, Provision};
use crate::remote::{Node, Signal};
use crate::runner::bring_up;
use crate::spec::{self, ClusterSpec, Overrides};
use anyhow::anyhow;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The state file's name, in the cluster's directory.
pub const STATE_FILE: &str = "cluster.json";

/// Arguments of `faultline cluster`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    faultline cluster up refkv-3                 # 3 refkv nodes, left running\n  \
    faultline cluster up refkv-3 --bug stale-read\n  \
    faultline cluster status refkv-3             # alive? leader? term?\n  \
    faultline cluster down refkv-3               # remove all of it\n\n\
    The state of a cluster that is up is RESULTS/clusters/NAME/cluster.json, beside its\n\
    nodes' data and logs. While a local cluster is up, `faultline test` on the local\n\
    backend refuses to run; `faultline heal` removes it too.\n\n\
    Exit codes: 0 done, 254 bad input (file, flags, not root, already up), 255 internal error.")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The three actions of `faultline cluster`.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Provision the cluster, set up its Db, wait until it serves, leave it
    /// running and print each node's address and client address.
    Up(UpArgs),
    /// For each node of a cluster that is up: whether its daemon is alive,
    /// and its role, term and leader as it says.
    Status(Target),
    /// Remove everything `up` made: daemons, data, nodes, the state file.
    /// Nothing to do (exit 0) when the cluster is not up.
    Down(Target),
}

/// Arguments of `faultline cluster up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The cluster: a file, or a name in clusters/ (refkv-3, etcd-3...).
    #[arg(value_name = "FILE|NAME")]
    pub cluster: String,
    /// Switch on a refkv bug in every node (repeatable): stale-read,
    /// no-fsync, commit-old-term, lease-read, vote-twice, txn-split.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Number of nodes [default: the cluster file's].
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// Where the cluster's state, data and logs go: DIR/clusters/NAME/.
    #[arg(long = "results", value_name = "DIR", default_value = spec::load::DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
}

/// Which cluster `status` and `down` act on.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The cluster's name (or its file: only the name counts, the state
    /// file holds the rest).
    #[arg(value_name = "NAME|FILE")]
    pub cluster: String,
    /// The `--results` it was brought up with.
    #[arg(long = "results", value_name = "DIR", default_value = spec::load::DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
}

/// What `faultline cluster up` made, as its state file says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterState {
    /// The cluster's name.
    pub name: String,
    /// When it came up (RFC 3339).
    pub created_at: String,
    /// The cluster file as resolved (flags applied): backend, Db, sections.
    pub spec: ClusterSpec,
    /// The backend's work directory on this machine (the state file's).
    pub work_dir: PathBuf,
    /// The `faultline` binary the nodes run, on this machine.
    pub binary: PathBuf,
    /// The nodes, in order.
    pub nodes: Vec<NodeState>,
}

/// One node of a [`ClusterState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    /// Its name (`n1`...).
    pub name: String,
    /// Its address.
    pub host: String,
    /// Where its client connects (`http://10.213.7.11:8080`), if the Db says.
    pub client: Option<String>,
    /// The pid of the Db's daemon, as the node's remote sees it.
    pub pid: Option<u32>,
    /// Its data directory, on the node.
    pub data_dir: PathBuf,
    /// Its log directory, on the node.
    pub log_dir: PathBuf,
    /// The `faultline` binary as the node sees it, when the backend put one there.
    pub binary: Option<PathBuf>,
}

impl ClusterState {
    /// Read a state file; the error names it.
    pub fn load(path: &Path) -> Result<ClusterState, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}: not a cluster state file: {e}",
                path.display(),
                e.line()
            )
        })
    }

    /// Write it, whole or not at all (a temporary sibling, then a rename).
    pub fn store(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The node names, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

/// The name a cluster argument stands for: a file's stem
/// (`clusters/refkv-3.yaml` → `refkv-3`) or the name itself.
pub fn cluster_name(arg: &str) -> String {
    let p = Path::new(arg);
    let is_file = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    if is_file {
        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
            return stem.to_string();
        }
    }
    arg.to_string()
}

/// The name of the cluster `arg` stands for: the `name` of the cluster
/// file it finds (a file may name itself), else [`cluster_name`] (the file
/// may be gone since `up`).
pub fn target_name(arg: &str) -> String {
    spec::load::find(spec::load::Kind::Cluster, arg, Path::new("."))
        .and_then(|src| spec::load::parse_cluster(&src))
        .map(|c| c.name)
        .unwrap_or_else(|_| cluster_name(arg))
}

/// The directory of cluster `name` under `results`: `results/clusters/NAME/`.
pub fn cluster_dir(results: &Path, name: &str) -> PathBuf {
    results.join("clusters").join(crate::store::safe_name(name))
}

/// Whether this `faultline cluster` command needs root: its backend does
/// (the local one). `None` of a cluster that does not resolve or is not
/// up: the command reports that itself.
pub fn needs_root(args: &Args) -> bool {
    let spec = match &args.action {
        Action::Up(a) => resolve(a).ok(),
        Action::Status(t) | Action::Down(t) => {
            let file = cluster_dir(&t.results_dir, &target_name(&t.cluster)).join(STATE_FILE);
            ClusterState::load(&file).ok().map(|s| s.spec)
        }
    };
    spec.and_then(|s| backend::build(&s.backend_config()).ok())
        .is_some_and(|b| b.needs_root())
}

/// Run `faultline cluster`.
pub fn run(args: Args) -> CmdResult {
    match args.action {
        Action::Up(a) => up(&a),
        Action::Status(t) => status(&t),
        Action::Down(t) => down(&t),
    }
    .map(|()| Validity::Valid)
}

/// The cluster `up` brings up: the file, with `--bug` and `--nodes`.
fn resolve(a: &UpArgs) -> Result<ClusterSpec, CliError> {
    let o = Overrides {
        cluster: Some(a.cluster.clone()),
        nodes: a.nodes,
        bugs: a.bugs.clone(),
        ..Overrides::default()
    };
    let (spec, warnings) =
        spec::resolve_with_warnings(&o, Path::new(".")).map_err(CliError::bad_input)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    Ok(spec.cluster)
}

fn bad(msg: impl Into<String>) -> CliError {
    CliError::bad_input(anyhow!(msg.into()))
}

fn internal(msg: impl Into<String>) -> CliError {
    CliError::internal(anyhow!(msg.into()))
}

/// `faultline cluster up`.
fn up(a: &UpArgs) -> Result<(), CliError> {
    let spec = resolve(a)?;
    let name = spec.name.clone();
    let be = backend::build(&spec.backend_config()).map_err(|e| bad(e.to_string()))?;
    if !be.has_machines() {
        return Err(bad(format!(
            "cluster {name} has no machines (backend {}): there is nothing to leave running; \
             run it in a test instead (`faultline test --cluster {name} --nemesis none`)",
            be.name()
        )));
    }
    drop(be);
    let dir = cluster_dir(&a.results_dir, &name);
    let state_file = dir.join(STATE_FILE);
    if state_file.exists() {
        return Err(bad(format!(
            "cluster {name} is already up (see {}); run `faultline cluster down {name}` first",
            state_file.display()
        )));
    }
    // What a failed `up` left (its logs) makes way for this one.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    // Absolute paths: `heal` and `down` may run from anywhere.
    let dir = dir
        .canonicalize()
        .map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    let state_file = dir.join(STATE_FILE);
    let binary = Provision::own_binary();
    eprintln!(
        "bringing up cluster {name}: {} on {} node(s), backend {}",
        spec.db, spec.nodes, spec.backend
    );
    let mut made = bring_up::bring_up(&spec, Some(binary.clone()), &dir).map_err(|e| {
        let logs = dir.join("logs");
        let e = super::test::run_error(e);
        if logs.exists() {
            let code = e.code();
            let msg = format!("{e} (the nodes' logs are in {})", logs.display());
            if code == crate::exit::BAD_INPUT {
                bad(msg)
            } else {
                internal(msg)
            }
        } else {
            e
        }
    })?;
    let cluster = &made.cluster;
    let state = ClusterState {
        name: name.clone(),
        created_at: chrono::Utc::now().to_rfc3339(),
        spec: spec.clone(),
        work_dir: dir.clone(),
        binary,
        nodes: cluster
            .nodes
            .iter()
            .map(|n| NodeState {
                name: n.name.clone(),
                host: n.host.clone(),
                client: cluster.db.client_address(n),
                pid: cluster.db.pid(n),
                data_dir: n.data_dir.clone(),
                log_dir: n.log_dir.clone(),
                binary: n.binary.clone(),
            })
            .collect(),
    };
    if let Err(e) = state.store(&state_file) {
        let problems = bring_up::teardown(cluster, made.backend.as_mut());
        let _ = std::fs::remove_dir_all(&dir);
        return Err(internal(format!(
            "cannot write the state file, cluster {name} removed again: {e}{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!("; teardown: {}", problems.join("; "))
            }
        )));
    }
    made.backend
        .leave_up(&name, &state_file)
        .map_err(|e| internal(format!("{e}; `faultline cluster down {name}` removes it")))?;
    print!("{}", render_up(&state, made.ready_after));
    Ok(())
}

/// What `up` prints: one line per node, then how to use it.
pub fn render_up(state: &ClusterState, ready_after: Duration) -> String {
    let s = &state.spec;
    let mut out = format!(
        "cluster {} is up: {} on {} node(s), backend {}, serving after {:.1} s\n",
        state.name,
        s.db,
        state.nodes.len(),
        s.backend,
        ready_after.as_secs_f64()
    );
    let rows: Vec<Vec<String>> = state
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.host.clone(),
                n.client.clone().unwrap_or_else(|| "-".into()),
                n.pid.map_or_else(|| "-".into(), |p| format!("pid {p}")),
            ]
        })
        .collect();
    out.push_str(&table(&rows));
    out.push_str(&format!(
        "state, data and logs: {}\n",
        state.work_dir.display()
    ));
    // Only faultline's own commands: a fresh Debian lacks the usual HTTP and TCP clients.
    out.push_str("try:\n");
    out.push_str(&format!("  faultline cluster status {}\n", state.name));
    out.push_str(&format!("  faultline cluster down {}\n", state.name));
    out
}

/// Rows as left-aligned columns, two spaces apart, indented by two.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = width[c]))
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The state of cluster `t` names, or why there is none: `Ok(None)` when
/// it is not up.
fn load_state(t: &Target) -> Result<Option<(ClusterState, PathBuf)>, CliError> {
    let name = target_name(&t.cluster);
    let file = cluster_dir(&t.results_dir, &name).join(STATE_FILE);
    if !file.exists() {
        return Ok(None);
    }
    let state = ClusterState::load(&file).map_err(|e| {
        bad(format!(
            "{e}; `faultline heal` removes a local cluster whatever its state file says"
        ))
    })?;
    Ok(Some((state, file)))
}

/// The nodes of `state` taken back through its backend (which then owns
/// them), or why not.
fn attach(
    state: &ClusterState,
) -> Result<(Box<dyn backend::Backend>, Vec<Node>), backend::BackendError> {
    let mut be = backend::build(&state.spec.backend_config())?;
    let names = state.names();
    let nodes = be.attach(&Provision {
        names: &names,
        work_dir: &state.work_dir,
        binary: &state.binary,
    })?;
    Ok((be, nodes))
}

/// What `status` found of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    /// Whether its daemon runs: `Some(true)` alive, `Some(false)` gone,
    /// `None` unknown (no pid, or the node could not be asked).
    pub alive: Option<bool>,
    /// What it says of its consensus state; `None`: no answer.
    pub consensus: Option<ConsensusState>,
}

/// `faultline cluster status`.
fn status(t: &Target) -> Result<(), CliError> {
    let Some((state, file)) = load_state(t)? else {
        let name = target_name(&t.cluster);
        return Err(bad(format!(
            "cluster {name} is not up (no {}); `faultline cluster up {name}` brings it up",
            cluster_dir(&t.results_dir, &name)
                .join(STATE_FILE)
                .display()
        )));
    };
    let (mut be, nodes, note) = match attach(&state) {
        Ok((be, nodes)) => (Some(be), nodes, None),
        // Still ask the Db over the network; liveness stays unknown.
        Err(e) => (None, detached_nodes(&state), Some(e.to_string())),
    };
    let db = bring_up::make_db(&state.spec, Some(state.binary.clone()))
        .map_err(super::test::run_error)?;
    let cluster = Cluster { nodes, db };
    let seen: Vec<NodeStatus> = cluster
        .nodes
        .iter()
        .zip(&state.nodes)
        .map(|(n, s)| NodeStatus {
            alive: match (be.is_some(), s.pid) {
                (true, Some(pid)) => n
                    .remote
                    .wait_exit(pid, Duration::ZERO)
                    .ok()
                    .map(|gone| !gone),
                _ => None,
            },
            consensus: cluster.db.consensus_state(&cluster, n),
        })
        .collect();
    if let Some(be) = be.as_mut() {
        be.leave_up(&state.name, &file)
            .map_err(|e| internal(e.to_string()))?;
    }
    print!("{}", render_status(&state, &seen, note.as_deref()));
    Ok(())
}

/// The nodes of `state` with no way to run commands on them (a backend
/// that cannot reattach): their addresses still reach their clients.
fn detached_nodes(state: &ClusterState) -> Vec<Node> {
    state
        .nodes
        .iter()
        .map(|n| Node {
            name: n.name.clone(),
            host: n.host.clone(),
            remote: Arc::new(NoRemote::new(&n.name)),
            data_dir: n.data_dir.clone(),
            log_dir: n.log_dir.clone(),
            binary: n.binary.clone(),
        })
        .collect()
}

/// What `status` prints: one line per node (name, address, client
/// address, daemon, role, term, leader), then how many lead.
pub fn render_status(state: &ClusterState, seen: &[NodeStatus], note: Option<&str>) -> String {
    let s = &state.spec;
    let mut out = format!(
        "cluster {}: {} on {} node(s), backend {}, up since {}\n",
        state.name,
        s.db,
        state.nodes.len(),
        s.backend,
        state.created_at
    );
    let mut rows = vec![vec![
        "NODE".to_string(),
        "ADDRESS".into(),
        "CLIENT".into(),
        "DAEMON".into(),
        "ROLE".into(),
        "TERM".into(),
        "LEADER".into(),
    ]];
    for (n, st) in state.nodes.iter().zip(seen) {
        let daemon = match (st.alive, n.pid) {
            (Some(true), Some(p)) => format!("alive (pid {p})"),
            (Some(false), Some(p)) => format!("gone (pid {p})"),
            _ => "?".into(),
        };
        let (role, term, leader) = match &st.consensus {
            Some(c) => (
                c.role.clone(),
                c.term.to_string(),
                c.leader.clone().unwrap_or_else(|| "-".into()),
            ),
            None => ("unreachable".into(), "-".into(), "-".into()),
        };
        rows.push(vec![
            n.name.clone(),
            n.host.clone(),
            n.client.clone().unwrap_or_else(|| "-".into()),
            daemon,
            role,
            term,
            leader,
        ]);
    }
    out.push_str(&table(&rows));
    let alive = seen.iter().filter(|s| s.alive == Some(true)).count();
    let leaders: Vec<&str> = state
        .nodes
        .iter()
        .zip(seen)
        .filter(|(_, s)| s.consensus.as_ref().is_some_and(ConsensusState::is_leader))
        .map(|(n, _)| n.name.as_str())
        .collect();
    out.push_str(&format!(
        "{alive} of {} daemon(s) alive; leader: {}\n",
        state.nodes.len(),
        if leaders.is_empty() {
            "none".to_string()
        } else {
            leaders.join(", ")
        }
    ));
    if let Some(note) = note {
        out.push_str(&format!("daemons not checked: {note}\n"));
    }
    out
}

/// `faultline cluster down`.
fn down(t: &Target) -> Result<(), CliError> {
    let Some((state, file)) = load_state(t)? else {
        println!(
            "cluster {} is not up: nothing to remove",
            target_name(&t.cluster)
        );
        return Ok(());
    };
    let name = &state.name;
    let (mut be, nodes) = attach(&state).map_err(|e| {
        let msg = format!(
            "cluster {name}: {e}; `faultline heal` (or `faultline heal --cluster FILE`) \
             removes it"
        );
        if e.is_user_fixable() {
            bad(msg)
        } else {
            internal(msg)
        }
    })?;
    let db = match bring_up::make_db(&state.spec, Some(state.binary.clone())) {
        Ok(db) => db,
        Err(e) => {
            let _ = be.teardown();
            return Err(super::test::run_error(e));
        }
    };
    let cluster = Cluster { nodes, db };
    let mut problems = Vec::new();
    // The Db of this process started nothing: the daemons `up` started are
    // killed by the pids it recorded, on their own nodes.
    for (n, s) in cluster.nodes.iter().zip(&state.nodes) {
        let Some(pid) = s.pid else { continue };
        let killed = n
            .remote
            .signal(pid, Signal::Kill)
            .and_then(|()| n.remote.wait_exit(pid, Duration::from_secs(5)));
        match killed {
            Ok(true) => println!("killed {} on {} (pid {pid})", cluster.db.name(), n.name),
            Ok(false) => problems.push(format!("{}: pid {pid} survived SIGKILL for 5 s", n.name)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems.extend(bring_up::teardown(&cluster, be.as_mut()));
    let _ = std::fs::remove_file(&file);
    if problems.is_empty() {
        if let Err(e) = std::fs::remove_dir_all(&state.work_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                problems.push(format!("{}: {e}", state.work_dir.display()));
            }
        }
    }
    if !problems.is_empty() {
        return Err(internal(format!(
            "cluster {name} is down, but: {}; `faultline heal` removes what is left",
            problems.join("; ")
        )));
    }
    println!(
        "cluster {name} is down: {} node(s) removed on backend {}, {} removed",
        state.nodes.len(),
        state.spec.backend,
        state.work_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ClusterState {
        let spec = ClusterSpec {
            name: "refkv-3".into(),
            nodes: 3,
            ..ClusterSpec::default()
        };
        ClusterState {
            name: "refkv-3".into(),
            created_at: "2026-12-07T22:00:00+00:00".into(),
            spec,
            work_dir: PathBuf::from("/r/clusters/refkv-3"),
            binary: PathBuf::from("/usr/bin/faultline"),
            nodes: (1..=3)
                .map(|i| NodeState {
                    name: format!("n{i}"),
                    host: format!("10.213.7.{}", 10 + i),
                    client: Some(format!("http://10.213.7.{}:8080", 10 + i)),
                    pid: Some(100 + i),
                    data_dir: PathBuf::from(format!("/r/clusters/refkv-3/nodes/n{i}/data")),
                    log_dir: PathBuf::from(format!("/r/clusters/refkv-3/nodes/n{i}")),
                    binary: None,
                })
                .collect(),
        }
    }

    #[test]
    fn cluster_names_are_file_stems_or_the_name_itself() {
        assert_eq!(cluster_name("refkv-3"), "refkv-3");
        assert_eq!(cluster_name("clusters/refkv-3.yaml"), "refkv-3");
        assert_eq!(cluster_name("/x/my.cluster.yml"), "my.cluster");
        assert_eq!(
            cluster_dir(Path::new("results"), "refkv-3"),
            PathBuf::from("results/clusters/refkv-3")
        );
    }

    #[test]
    fn a_state_file_reads_back_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STATE_FILE);
        let s = state();
        s.store(&path).expect("store");
        assert_eq!(ClusterState::load(&path), Ok(s));
    }

    #[test]
    fn a_broken_state_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STATE_FILE);
        std::fs::write(&path, "{\n  \"name\": 3\n}\n").expect("write");
        let e = ClusterState::load(&path).expect_err("not a state");
        assert!(e.starts_with(&format!("{}:2:", path.display())), "{e}");
    }

    #[test]
    fn up_prints_a_line_per_node_with_its_url_and_what_to_try() {
        let out = render_up(&state(), Duration::from_millis(1500));
        assert!(
            out.starts_with(
                "cluster refkv-3 is up: refkv on 3 node(s), backend local, serving after 1.5 s\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("  n2  10.213.7.12  http://10.213.7.12:8080  pid 102\n"),
            "{out}"
        );
        assert!(!out.contains("curl") && !out.contains(" nc "), "{out}");
        assert!(
            out.contains("  faultline cluster status refkv-3\n"),
            "{out}"
        );
        assert!(out.contains("  faultline cluster down refkv-3\n"), "{out}");
    }

    #[test]
    fn status_shows_dead_and_unreachable_nodes_as_such() {
        let leader = |role: &str| ConsensusState {
            role: role.into(),
            term: 4,
            leader: Some("n1".into()),
            commit_index: None,
            last_index: None,
            last_term: None,
        };
        let seen = [
            NodeStatus {
                alive: Some(true),
                consensus: Some(leader("leader")),
            },
            NodeStatus {
                alive: Some(true),
                consensus: Some(leader("follower")),
            },
            NodeStatus {
                alive: Some(false),
                consensus: None,
            },
        ];
        let out = render_status(&state(), &seen, None);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("  NODE  ADDRESS"), "{out}");
        assert!(
            lines[2].contains("alive (pid 101)") && lines[2].contains("leader"),
            "{out}"
        );
        assert!(
            lines[4].contains("gone (pid 103)") && lines[4].contains("unreachable"),
            "{out}"
        );
        assert!(
            out.ends_with("2 of 3 daemon(s) alive; leader: n1\n"),
            "{out}"
        );
    }
}
