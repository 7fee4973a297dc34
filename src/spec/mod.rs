//! Test specifications: the YAML files under `clusters/`, `workloads/` and
//! `nemeses/`, and the resolved [`TestSpec`] the runner executes.
//!
//! A test is cluster × workload × nemesis. Each part is a YAML file found by
//! path or by name (`--workload register` finds `workloads/register.yaml`);
//! command-line flags override fields. Loading is strict: unknown keys,
//! wrong types and unknown names are errors naming `FILE:LINE:COL` and the
//! valid names (see [`SpecError`]). The resolved [`TestSpec`] is what the
//! runner reads and what `test.yaml` in a run directory stores, seed
//! included, so a run can be repeated exactly.

use crate::nemesis::package::NemesisConfig;
use crate::node::bugs::Bugs;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A cluster file (`clusters/*.yaml`): which system, on which backend, how
/// many nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ClusterSpec {
    /// The cluster's name (the file's stem when loaded from a file).
    pub name: String,
    /// The system under test: `refkv` (default), or `memory` (an in-process
    /// linearizable store with no nodes, for testing the harness itself).
    pub db: String,
    /// Where nodes run: `local` (network namespaces on this machine, the
    /// default) or `none` (no nodes, only with `db: memory`). Later: `ssh`,
    /// `docker`.
    pub backend: String,
    /// Number of nodes (default 5).
    pub nodes: usize,
    /// refkv bugs switched on in every node (default none).
    pub bugs: Bugs,
    /// Seconds to wait for the cluster to serve after setup (default 30).
    pub ready_timeout: f64,
    /// refkv options.
    pub refkv: RefKvSpec,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: "refkv".into(),
            db: "refkv".into(),
            backend: "local".into(),
            nodes: 5,
            bugs: Bugs::none(),
            ready_timeout: 30.0,
            refkv: RefKvSpec::default(),
        }
    }
}

/// refkv's options in a cluster file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Default for RefKvSpec {
    fn default() -> Self {
        RefKvSpec {
            faketime: true,
            client_port: 8080,
            peer_port: 8081,
            extra_args: Vec::new(),
        }
    }
}

/// How many worker threads: a number, or a multiple of the node count
/// (`2n`), as Jepsen's `--concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Exactly this many workers.
    Fixed(usize),
    /// This many workers per node.
    PerNode(usize),
}

impl Concurrency {
    /// The number of workers for a cluster of `nodes` nodes (at least 1).
    pub fn resolve(self, nodes: usize) -> usize {
        match self {
            Concurrency::Fixed(n) => n.max(1),
            Concurrency::PerNode(k) => (k * nodes.max(1)).max(1),
        }
    }
}

impl std::str::FromStr for Concurrency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("concurrency {s:?}: expected a number (10) or a multiple of the nodes (2n)");
        if let Some(k) = s.strip_suffix('n') {
            let k = if k.is_empty() { 1 } else { k.parse().map_err(|_| bad())? };
            if k == 0 {
                return Err(bad());
            }
            Ok(Concurrency::PerNode(k))
        } else {
            let n: usize = s.parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            Ok(Concurrency::Fixed(n))
        }
    }
}

impl std::fmt::Display for Concurrency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Concurrency::Fixed(n) => write!(f, "{n}"),
            Concurrency::PerNode(k) => write!(f, "{k}n"),
        }
    }
}

impl Serialize for Concurrency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Concurrency::Fixed(n) => s.serialize_u64(*n as u64),
            Concurrency::PerNode(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom("concurrency must be at least 1")),
            Raw::N(n) => Ok(Concurrency::Fixed(n as usize)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A workload file (`workloads/*.yaml`): which workload, its load shape and
/// phase lengths, and the workload's own `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct WorkloadSpec {
    /// The workload: `register`, `set`, `bank`, `counter`.
    pub name: String,
    /// Worker threads (default `2n`).
    pub concurrency: Concurrency,
    /// Ops per second over all workers; 0 = as fast as they go (default 50).
    pub rate: f64,
    /// Random gaps averaging 1/rate instead of even spacing (default true).
    pub stagger: bool,
    /// Seconds of the main phase, ops and faults (default 60).
    pub time_limit: f64,
    /// Seconds of quiet after healing, before the final reads (default 3).
    pub recovery: f64,
    /// Upper bound in seconds for the final phase (default 20).
    pub final_time_limit: f64,
    /// The workload's own options (see its module); `null` = defaults.
    pub config: serde_json::Value,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            name: "register".into(),
            concurrency: Concurrency::PerNode(2),
            rate: 50.0,
            stagger: true,
            time_limit: 60.0,
            recovery: 3.0,
            final_time_limit: 20.0,
            config: serde_json::Value::Null,
        }
    }
}

/// A nemesis file (`nemeses/*.yaml`) with its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NemesisSpec {
    /// The nemesis's name (file stem, or the `--nemesis` list as given).
    pub name: String,
    /// Which faults, how often, on which targets.
    #[serde(flatten)]
    pub config: NemesisConfig,
}

impl Default for NemesisSpec {
    fn default() -> Self {
        NemesisSpec {
            name: "partition-kill".into(),
            config: NemesisConfig::default(),
        }
    }
}

/// One fully resolved test: what the runner executes and what `test.yaml`
/// stores. Every field is decided (no "default" left to guess), so a stored
/// spec replays the same op and fault schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestSpec {
    /// The test's name, used for `results/<name>/` (default
    /// `<cluster>-<workload>-<nemesis>`).
    pub name: String,
    /// The cluster.
    pub cluster: ClusterSpec,
    /// The workload.
    pub workload: WorkloadSpec,
    /// The nemesis.
    pub nemesis: NemesisSpec,
    /// Worker threads, resolved from `workload.concurrency` and the node count.
    pub concurrency: usize,
    /// The one seed of every random choice of the run.
    pub seed: u64,
    /// Where runs are stored (default `results`).
    pub results_dir: PathBuf,
    /// Leave the cluster running after the test (Jepsen's
    /// `--leave-db-running`); `faultline heal` removes it later.
    pub leave_db_running: bool,
    /// Repeat the test this many times, stopping at the first failure.
    pub test_count: u32,
}
