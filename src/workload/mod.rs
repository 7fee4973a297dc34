//! Workloads: what the clients do, and how the result is judged.
//!
//! A [`Workload`] brings a [`Generator`] for the main phase, one for the final
//! reads after healing, the translation of its ops into [`KvClient`] calls,
//! and its checkers. Workloads: `register`, `set`, `bank`, `counter`.
//!
//! Every workload assumes its keys are absent when the run starts (a fresh
//! cluster): an absent key is the initial state (null register, empty set,
//! initial balances, counter 0). [`by_name`] builds one from its name and
//! its YAML `config`; [`drive`] runs one in-process for tests.

pub mod bank;
pub mod common;
pub mod counter;
pub mod drive;
pub mod register;
pub mod set;

use crate::checker::Checker;
use crate::client::KvClient;
use crate::generator::Generator;
use crate::history::Op;

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
    /// The checkers for this workload's history.
    fn checkers(&self) -> Vec<Box<dyn Checker>>;
}

/// The workloads [`by_name`] knows.
pub const NAMES: &[&str] = &["register", "set", "bank", "counter"];

/// The workload called `name`, configured by `cfg` (a JSON object of that
/// workload's `Config` fields; `null` = all defaults). Errors name the
/// unknown workload and the valid names, or the bad field.
pub fn by_name(name: &str, cfg: &serde_json::Value) -> Result<Box<dyn Workload>, String> {
    Ok(match name {
        "register" => Box::new(register::Register::from_config(cfg)?),
        "set" => Box::new(set::Set::from_config(cfg)?),
        "bank" => Box::new(bank::Bank::from_config(cfg)?),
        "counter" => Box::new(counter::Counter::from_config(cfg)?),
        other => {
            return Err(format!(
                "unknown workload {other:?}: expected one of {}",
                NAMES.join(", ")
            ))
        }
    })
}
