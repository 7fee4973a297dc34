//! Workloads: what the clients do, and how the result is judged.
//!
//! A [`Workload`] brings a [`Generator`] for the main phase, one for the final
//! reads after healing, the translation of its ops into [`KvClient`] calls,
//! and its checkers. Workloads: `register`, `set`, `bank`, `counter`,
//! `list-append`, `rw-register`.
//!
//! Every workload assumes its keys are absent when the run starts (a fresh
//! cluster): an absent key is the initial state (null register, empty set,
//! initial balances, counter 0). [`by_name`] builds one from its name and
//! its YAML `config`; [`drive`] runs one in-process for tests.
//!
//! A workload's checks are as strict as what the system under test promises
//! ([`Consistency`], declared by its Db): [`Workload::checks`] configures
//! the checkers for that promise and lists every [`Departure`] from it — a
//! check its YAML `config` explicitly relaxes below the promise, or one
//! stronger than the promise that the workload cannot weaken (the register
//! workload's linearizability check against a system promising only
//! sequential reads). Departures are recorded in `results.json` and shown
//! in the summary ([`Strictness`]), so a relaxed check never passes for a
//! strict one.

pub mod bank;
pub mod common;
pub mod counter;
pub mod drive;
pub mod register;
pub mod set;
pub mod txn;

use crate::checker::Checker;
use crate::client::KvClient;
use crate::db::Consistency;
use crate::generator::Generator;
use crate::history::Op;
use serde::{Deserialize, Serialize};

/// One kind of data and the invariant it is checked against.
///
/// Contract: `invoke` never panics and never returns an error: a failure of
/// the system is data — the completion is `fail` when the op definitely did
/// not happen and `info` when it may have.
#[async_trait::async_trait]
pub trait Workload: Send + Sync {
    /// Short name (`register`, `set`...).
    fn name(&self) -> &str;
    /// Ops for the main phase (with faults).
    fn generator(&self) -> Box<dyn Generator>;
    /// Ops after healing and recovery (final reads), if any: each worker
    /// thread runs them until the generator is done.
    fn final_generator(&self) -> Option<Box<dyn Generator>>;
    /// Perform `op` (an invoke) through `client`; return its completion.
    async fn invoke(&self, client: &dyn KvClient, op: &Op) -> Op;
    /// The checkers for this workload's history, as strict as `promise`
    /// (what the system under test promises) unless the workload's config
    /// explicitly relaxes them, with every departure from the promise.
    fn checks(&self, promise: Consistency) -> Checks;
}

/// A workload's checkers for one system, and where they depart from what
/// the system promises.
pub struct Checks {
    /// The checkers, configured for the promise.
    pub checkers: Vec<Box<dyn Checker>>,
    /// Where they check less (relaxed by the config) or more than promised.
    pub departures: Vec<Departure>,
}

/// Which way a check departs from the system's promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DepartureKind {
    /// Weaker than the promise, because the workload's config asked: an
    /// anomaly the system promised to exclude may pass as valid.
    Relaxed,
    /// Stronger than the promise: an invalid verdict may be behaviour the
    /// system is allowed.
    Stronger,
}

impl std::fmt::Display for DepartureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DepartureKind::Relaxed => "relaxed",
            DepartureKind::Stronger => "stronger",
        })
    }
}

/// One way a workload's checks differ from what the system promises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departure {
    /// Weaker or stronger than the promise.
    pub kind: DepartureKind,
    /// What is checked differently, in a few words (`stale reads allowed`).
    pub what: String,
    /// The config setting that asked for it
    /// (`config.stale-reads-invalid: false`); `None` when the workload
    /// always checks this way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

impl Departure {
    /// A check the config relaxes below the promise with `setting`.
    pub fn relaxed(what: impl Into<String>, setting: impl Into<String>) -> Self {
        Departure {
            kind: DepartureKind::Relaxed,
            what: what.into(),
            setting: Some(setting.into()),
        }
    }

    /// A check stronger than the promise; `setting` if the config asked.
    pub fn stronger(what: impl Into<String>, setting: Option<String>) -> Self {
        Departure {
            kind: DepartureKind::Stronger,
            what: what.into(),
            setting,
        }
    }
}

/// What a run's checks held the system to: the promise of its Db and every
/// departure from it. Stored in `results.json` as `promise`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strictness {
    /// The Db (`refkv`, `memory`...).
    pub db: String,
    /// What it promises: the strictness the checks default to.
    pub consistency: Consistency,
    /// The workload file whose config was used (`workloads/set.yaml`,
    /// `builtin:workloads/set.yaml`); empty for a workload built in code.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload_file: String,
    /// Where the checks depart from the promise (none: checked exactly as
    /// promised).
    #[serde(default)]
    pub departures: Vec<Departure>,
}

impl Strictness {
    /// One line per departure, for the summary:
    /// `relaxed: stale reads allowed by workloads/set.yaml
    /// (config.stale-reads-invalid: false; refkv promises linearizable
    /// reads)`. Nothing when the checks are exactly the promise.
    pub fn lines(&self) -> Vec<String> {
        self.departures
            .iter()
            .map(|d| {
                let by = match (&d.setting, self.workload_file.as_str()) {
                    (None, _) => String::new(),
                    (Some(_), "") => " by the workload's config".to_string(),
                    (Some(_), file) => format!(" by {file}"),
                };
                let setting = d
                    .setting
                    .as_ref()
                    .map(|s| format!("{s}; "))
                    .unwrap_or_default();
                let consequence = match d.kind {
                    DepartureKind::Relaxed => "",
                    DepartureKind::Stronger => ": an invalid verdict may be within that promise",
                };
                format!(
                    "{}: {}{by} ({setting}{} promises {}{consequence})",
                    d.kind,
                    d.what,
                    self.db,
                    self.consistency.describe()
                )
            })
            .collect()
    }
}

/// One workload a workload file may name.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadEntry {
    /// The name in a workload file's `name` (`register`).
    pub name: &'static str,
    /// Build it from its `config` (`null` = all defaults); errors name the
    /// bad field.
    pub build: fn(&serde_json::Value) -> Result<Box<dyn Workload>, String>,
}

/// Every workload, in the order error messages list them: adding one is a
/// new module and one line here.
pub const WORKLOADS: &[WorkloadEntry] = &[
    WorkloadEntry {
        name: "register",
        build: |cfg| Ok(Box::new(register::Register::from_config(cfg)?)),
    },
    WorkloadEntry {
        name: "set",
        build: |cfg| Ok(Box::new(set::Set::from_config(cfg)?)),
    },
    WorkloadEntry {
        name: "bank",
        build: |cfg| Ok(Box::new(bank::Bank::from_config(cfg)?)),
    },
    WorkloadEntry {
        name: "counter",
        build: |cfg| Ok(Box::new(counter::Counter::from_config(cfg)?)),
    },
    WorkloadEntry {
        name: "list-append",
        build: |cfg| {
            Ok(Box::new(txn::Txn::from_config(
                crate::checker::txn::Flavor::ListAppend,
                cfg,
            )?))
        },
    },
    WorkloadEntry {
        name: "rw-register",
        build: |cfg| {
            Ok(Box::new(txn::Txn::from_config(
                crate::checker::txn::Flavor::RwRegister,
                cfg,
            )?))
        },
    },
];

/// The names of [`WORKLOADS`], in order: the workloads [`by_name`] knows.
pub const NAMES: &[&str] = &names();

const fn names() -> [&'static str; WORKLOADS.len()] {
    let mut out = [""; WORKLOADS.len()];
    let mut i = 0;
    while i < WORKLOADS.len() {
        out[i] = WORKLOADS[i].name;
        i += 1;
    }
    out
}

/// The workload called `name`, configured by `cfg` (a JSON object of that
/// workload's `Config` fields; `null` = all defaults). Errors name the
/// unknown workload and the valid names, or the bad field.
pub fn by_name(name: &str, cfg: &serde_json::Value) -> Result<Box<dyn Workload>, String> {
    match WORKLOADS.iter().find(|w| w.name == name) {
        Some(w) => (w.build)(cfg),
        None => Err(format!(
            "unknown workload {name:?}: expected one of {}",
            NAMES.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a sequential Db gets: the checks that only a linearizable
    /// system could pass say so; the bank and set checks fit its promise.
    #[test]
    fn a_sequential_db_is_told_which_checks_exceed_its_promise() {
        let stronger = |name: &str| {
            by_name(name, &serde_json::Value::Null)
                .unwrap()
                .checks(Consistency::Sequential)
                .departures
        };
        assert_eq!(
            stronger("register"),
            vec![Departure::stronger("checked for linearizability", None)]
        );
        assert_eq!(stronger("counter").len(), 1);
        assert_eq!(stronger("bank"), vec![]);
        assert_eq!(stronger("set"), vec![]);
        for name in NAMES {
            let w = by_name(name, &serde_json::Value::Null).unwrap();
            assert_eq!(
                w.checks(Consistency::Linearizable).departures,
                vec![],
                "{name}"
            );
        }
        let s = Strictness {
            db: "zookeeper".into(),
            consistency: Consistency::Sequential,
            workload_file: "workloads/register.yaml".into(),
            departures: stronger("register"),
        };
        assert_eq!(
            s.lines(),
            vec![
                "stronger: checked for linearizability (zookeeper promises only sequential \
                 reads: an invalid verdict may be within that promise)"
                    .to_string()
            ]
        );
    }
}
