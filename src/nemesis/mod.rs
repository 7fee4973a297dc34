//! The fault-injection seam.
//!
//! A [`Nemesis`] starts and stops faults on a [`Cluster`]. Every start and
//! stop is an op in the history (process `nemesis`) whose completion value
//! records exactly what was done to which nodes, so a report can shade the
//! fault and a person can replay it. Families: partitions, process faults
//! (kill, pause), clock skew, packet loss, and the election scenarios;
//! each is described once by a [`family::Family`] in its own file and
//! listed in [`family::REGISTRY`]. A [`config::NemesisConfig`] becomes a
//! [`package::Package`] (nemesis, [`schedule::Schedule`], final heal);
//! [`intervals`] pairs a stored history's fault ops from the config alone.

pub mod adaptive;
pub mod clock;
pub mod compose;
pub mod config;
pub mod election;
pub mod family;
pub mod intervals;
pub mod iptables;
pub mod package;
pub mod packet;
pub mod partition;
pub mod process;
pub mod schedule;
pub mod target;

use crate::db::Cluster;
use crate::history::Op;
use serde_json::Value;

/// A fault could not be injected or healed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// A command on a node failed.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// The Db refused (kill, pause...).
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The op asks for something this nemesis does not do.
    #[error("nemesis {nemesis}: {reason}")]
    BadOp {
        /// Which nemesis.
        nemesis: String,
        /// What is wrong.
        reason: String,
    },
}

/// Injects one family of faults.
///
/// Contract: `invoke` performs the op's fault (or its healing) and returns
/// the value for the completion op, naming the nodes touched; `teardown`
/// heals everything this nemesis did and is safe to call twice, also after a
/// failed `invoke`. A nemesis touches only what the harness created.
pub trait Nemesis: Send {
    /// Short name (`partition`, `kill`...).
    fn name(&self) -> &str;
    /// The `f`s of the ops this nemesis handles (`start-partition`...).
    fn fs(&self) -> Vec<String>;
    /// Prepare (e.g. create iptables chains). Called once before the run.
    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError>;
    /// Perform one nemesis op; returns what exactly was done.
    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError>;
    /// Heal everything. Idempotent.
    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError>;
    /// Hand over the run's interrupt flag, set when the main phase ends or
    /// the run stops (Ctrl-C, SIGTERM). A nemesis whose ops take long (a
    /// choreography of many steps) gives up when it is set, so the heal
    /// is not held up; quick nemeses ignore it.
    fn set_interrupt(&mut self, _flag: Interrupt) {}
}

/// A flag shared between the runner and the nemesis: "stop what you are
/// doing" (see [`Nemesis::set_interrupt`]).
pub type Interrupt = std::sync::Arc<std::sync::atomic::AtomicBool>;
