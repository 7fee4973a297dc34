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

pub mod load;
pub mod suite;

pub use load::{
    resolve, resolve_in, resolve_with_warnings, FieldError, Kind, Origin, Overrides, SpecError,
};

use crate::checker::Checker;
pub use crate::db::custom::CustomSpec;
pub use crate::db::etcd::EtcdSpec;
pub use crate::db::memory::MemorySpec;
pub use crate::db::refkv::RefKvSpec;
pub use crate::db::zookeeper::ZooKeeperSpec;
use crate::nemesis::package::NemesisConfig;
use crate::refkv::bugs::Bugs;
pub use crate::remote::docker::DockerSpec;
pub use crate::remote::ssh::SshSpec;
use crate::workload::Strictness;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A cluster file (`clusters/*.yaml`): which system, on which backend, how
/// many nodes, and the options of the system in its own section (`refkv:`,
/// `memory:`; see [`crate::db::registry`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ClusterFile", rename_all = "kebab-case")]
pub struct ClusterSpec {
    /// The cluster's name (the file's stem when loaded from a file).
    pub name: String,
    /// The system under test: `refkv` (default), or `memory` (an in-process
    /// linearizable store with no nodes, for testing the harness itself).
    pub db: String,
    /// Where nodes run: `local` (network namespaces on this machine, the
    /// default), `ssh` (remote hosts, configured by `ssh:`), `docker`
    /// (containers on this machine, `docker:`) or `none` (no nodes, only
    /// with `db: memory`).
    pub backend: String,
    /// Number of nodes (default 5).
    pub nodes: usize,
    /// Seconds to wait for the cluster to serve after setup (default 30).
    pub ready_timeout: f64,
    /// refkv's options, its bugs included.
    pub refkv: RefKvSpec,
    /// The memory Db's options; only with `db: memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySpec>,
    /// etcd's options (ports...).
    pub etcd: EtcdSpec,
    /// ZooKeeper's options (read mode, ports...).
    pub zookeeper: ZooKeeperSpec,
    /// A bring-your-own system's description; only with `db: custom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomSpec>,
    /// The SSH backend's hosts and credentials; only with `backend: ssh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSpec>,
    /// The Docker backend's node image.
    pub docker: DockerSpec,
}

impl ClusterSpec {
    /// What the backend is built from (see
    /// [`crate::remote::backend::build`]).
    pub fn backend_config(&self) -> crate::remote::backend::BackendConfig {
        crate::remote::backend::BackendConfig {
            name: self.backend.clone(),
            cluster: self.name.clone(),
            ssh: self.ssh.clone(),
            docker: self.docker.clone(),
        }
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: "refkv".into(),
            db: "refkv".into(),
            backend: "local".into(),
            nodes: 5,
            ready_timeout: 30.0,
            refkv: RefKvSpec::default(),
            memory: None,
            etcd: EtcdSpec::default(),
            zookeeper: ZooKeeperSpec::default(),
            custom: None,
            ssh: None,
            docker: DockerSpec::default(),
        }
    }
}

/// A cluster file as written: [`ClusterSpec`] and the keys it no longer
/// has, which still load into where they belong now (see
/// [`load::deprecations`] for the warning).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
struct ClusterFile {
    name: String,
    db: String,
    backend: String,
    nodes: usize,
    /// Deprecated: refkv's bugs, now `refkv.bugs` (added to them).
    bugs: Bugs,
    ready_timeout: f64,
    refkv: RefKvSpec,
    memory: Option<MemorySpec>,
    etcd: EtcdSpec,
    zookeeper: ZooKeeperSpec,
    custom: Option<CustomSpec>,
    ssh: Option<SshSpec>,
    docker: DockerSpec,
}

impl Default for ClusterFile {
    fn default() -> Self {
        let c = ClusterSpec::default();
        ClusterFile {
            name: c.name,
            db: c.db,
            backend: c.backend,
            nodes: c.nodes,
            bugs: Bugs::none(),
            ready_timeout: c.ready_timeout,
            refkv: c.refkv,
            memory: c.memory,
            etcd: c.etcd,
            zookeeper: c.zookeeper,
            custom: c.custom,
            ssh: c.ssh,
            docker: c.docker,
        }
    }
}

impl From<ClusterFile> for ClusterSpec {
    fn from(f: ClusterFile) -> Self {
        let mut refkv = f.refkv;
        for bug in f.bugs.iter() {
            refkv.bugs.insert(bug);
        }
        ClusterSpec {
            name: f.name,
            db: f.db,
            backend: f.backend,
            nodes: f.nodes,
            ready_timeout: f.ready_timeout,
            refkv,
            memory: f.memory,
            etcd: f.etcd,
            zookeeper: f.zookeeper,
            custom: f.custom,
            ssh: f.ssh,
            docker: f.docker,
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
        let bad =
            || format!("{s:?} is not a number of workers (10) or a multiple of the nodes (2n)");
        if let Some(k) = s.strip_suffix('n') {
            let k = if k.is_empty() {
                1
            } else {
                k.parse().map_err(|_| bad())?
            };
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
        // A visitor rather than an untagged enum, so errors keep their
        // position in the file.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Concurrency;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of workers (10) or a multiple of the nodes (2n)")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Concurrency, E> {
                match usize::try_from(n) {
                    Ok(0) | Err(_) => Err(E::custom(format!("{n} is not a number of workers ≥ 1"))),
                    Ok(n) => Ok(Concurrency::Fixed(n)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Concurrency, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("{n} is not a number of workers ≥ 1"))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Concurrency, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
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
    /// The file this workload was loaded from (`workloads/set.yaml`,
    /// `builtin:workloads/set.yaml`), set by the loader whatever the file
    /// says: the summary names it when its `config` relaxes a check below
    /// what the Db promises. Empty for a workload built in code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
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
            file: String::new(),
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
    /// End the main phase as soon as online checking proves an anomaly
    /// (`--stop-on-anomaly`); heal, recovery, final reads and the final
    /// check run as usual.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_on_anomaly: bool,
}

impl TestSpec {
    /// A fault-free test of `workload` against the in-process `memory` db
    /// (`backend: none`), for tests and benches of the harness itself: named
    /// `memory-<workload>`, `nodes` nodes, exactly `workers` workers,
    /// `time_limit` seconds of main phase, seed 1, runs stored under
    /// `results_dir`; everything else as a workload file's defaults (rate 50
    /// ops/s staggered, recovery 3 s, final phase at most 20 s). Callers set
    /// the fields they care about on the result.
    pub fn memory(
        workload: &str,
        nodes: usize,
        workers: usize,
        time_limit: f64,
        results_dir: &Path,
    ) -> TestSpec {
        TestSpec {
            name: format!("memory-{workload}"),
            cluster: ClusterSpec {
                name: "memory".into(),
                db: "memory".into(),
                backend: "none".into(),
                nodes,
                ..ClusterSpec::default()
            },
            workload: WorkloadSpec {
                name: workload.into(),
                concurrency: Concurrency::Fixed(workers),
                time_limit,
                ..WorkloadSpec::default()
            },
            nemesis: NemesisSpec {
                name: "none".into(),
                config: NemesisConfig {
                    faults: Vec::new(),
                    ..NemesisConfig::default()
                },
            },
            concurrency: workers,
            seed: 1,
            results_dir: results_dir.to_path_buf(),
            leave_db_running: false,
            test_count: 1,
            stop_on_anomaly: false,
        }
    }

    /// The seed of run `run` (0-based) of a `--test-count` series: the
    /// test's own seed for the first run, then seeds derived from it
    /// (SplitMix64), so a series replays from its first seed.
    pub fn seed_of_run(&self, run: u32) -> u64 {
        if run == 0 {
            return self.seed;
        }
        let mut z = self
            .seed
            .wrapping_add(u64::from(run).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The checkers of this test's workload, as strict as its Db promises
    /// unless the workload's config relaxes them, and what they hold the
    /// system to (for `results.json` and the summary). Errors name the
    /// unknown Db or workload, or the bad config field.
    pub fn checks(&self) -> Result<(Vec<Box<dyn Checker>>, Strictness), String> {
        self.consistency()?;
        let w = &self.workload;
        self.checks_of(crate::workload::by_name(&w.name, &w.config)?.as_ref())
    }

    /// [`TestSpec::checks`] from `workload`, already built from this test's
    /// workload section (a run builds it once, for its ops and its checks).
    pub fn checks_of(
        &self,
        workload: &dyn crate::workload::Workload,
    ) -> Result<(Vec<Box<dyn Checker>>, Strictness), String> {
        let consistency = self.consistency()?;
        let w = &self.workload;
        let checks = workload.checks(consistency);
        let strictness = Strictness {
            db: self.cluster.db.clone(),
            consistency,
            workload_file: w.file.clone(),
            departures: checks.departures,
        };
        Ok((checks.checkers, strictness))
    }

    /// What this test's Db promises; the error names an unknown Db.
    fn consistency(&self) -> Result<crate::db::Consistency, String> {
        crate::db::consistency_of(&self.cluster).ok_or_else(|| {
            format!(
                "db {:?} is unknown: expected one of {}",
                self.cluster.db,
                crate::db::registry::NAMES.join(", ")
            )
        })
    }

    /// The resolved test in a few human lines (what `--dry-run` prints
    /// before the schedule).
    pub fn summary(&self) -> Vec<String> {
        let c = &self.cluster;
        let w = &self.workload;
        let n = &self.nemesis;
        let bugs: Vec<String> = c.refkv.bugs.iter().map(|b| b.to_string()).collect();
        let faults = match n.config.families() {
            Ok(f) if f.is_empty() => "none".to_string(),
            Ok(f) => f.join(", "),
            Err(e) => e.to_string(),
        };
        vec![
            format!("test:     {}", self.name),
            format!(
                "cluster:  {} (db {}, backend {}, {} node{}, bugs: {})",
                c.name,
                c.db,
                c.backend,
                c.nodes,
                if c.nodes == 1 { "" } else { "s" },
                if bugs.is_empty() {
                    "none".to_string()
                } else {
                    bugs.join(", ")
                }
            ),
            format!(
                "workload: {} (concurrency {} = {}, rate {}/s{}, time-limit {} s, recovery {} s, \
                 final-time-limit {} s)",
                w.name,
                self.concurrency,
                w.concurrency,
                w.rate,
                if w.stagger { " staggered" } else { "" },
                w.time_limit,
                w.recovery,
                w.final_time_limit
            ),
            format!(
                "checks:   {}",
                match self.checks() {
                    Ok((_, s)) => {
                        let mut line =
                            format!("as {} promises: {}", c.db, s.consistency.describe());
                        for d in s.lines() {
                            line.push_str("; ");
                            line.push_str(&d);
                        }
                        line
                    }
                    Err(e) => e,
                }
            ),
            format!(
                "nemesis:  {} (faults: {faults}; interval {} s, max-fault-duration {} s, \
                 cool-down {} s)",
                n.name, n.config.interval, n.config.max_fault_duration, n.config.cool_down
            ),
            format!(
                "runs:     {}{}",
                self.test_count,
                if self.leave_db_running {
                    ", leaving the db running"
                } else {
                    ""
                }
            ),
            format!("seed:     {}", self.seed),
            format!("results:  {}", self.results_dir.join(&self.name).display()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_spec_is_valid_fault_free_and_round_trips() {
        let s = TestSpec::memory("set", 2, 3, 1.5, Path::new("results"));
        assert!(s.cluster.validate().is_ok());
        assert!(s.workload.validate().is_ok());
        assert!(s.nemesis.validate().is_ok());
        assert!(s.nemesis.config.families().unwrap().is_empty());
        assert_eq!(
            s.concurrency,
            s.workload.concurrency.resolve(s.cluster.nodes)
        );
        let text = serde_norway::to_string(&s).unwrap();
        assert_eq!(serde_norway::from_str::<TestSpec>(&text).unwrap(), s);
    }
}
