//! Packet loss: a share of a node's incoming packets is dropped at random
//! (`iptables -m statistic --mode random --probability p -j DROP` in the
//! node's own [`LOSS_CHAIN`]; loopback is spared). `tc netem` is not
//! available on the machines this runs on, so loss lives in iptables.
//!
//! `start-loss` takes `{"target": T, "pick": N}` and returns the nodes and
//! the probability; `stop-loss` flushes the rules everywhere.

use super::config::NemesisConfig;
use super::family::{needs_nothing, target_start, Ask, Family, Member};
use super::iptables::{self, LOSS_CHAIN};
use super::target::{nodes_of_op, Target};
use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use serde_json::{json, Value};

/// The packet-loss family: `loss.targets` at `loss.probability`.
pub const FAMILY: Family = Family {
    name: "loss",
    scenario: false,
    needs_machines: true,
    starts: &["start-loss"],
    stop: "stop-loss",
    targets: Some(targets),
    requires: needs_nothing,
    build: member,
};

fn targets(cfg: &NemesisConfig) -> &[Target] {
    &cfg.loss.targets
}

fn member(ask: Ask<'_>) -> Option<Member> {
    if ask.targets.is_empty() {
        return None;
    }
    Some(Member {
        starts: target_start(FAMILY.starts[0], &ask.targets),
        nemesis: Box::new(LossNemesis::new(ask.config.loss.probability, ask.targets)),
    })
}

/// The packet-loss nemesis.
#[derive(Debug)]
pub struct LossNemesis {
    /// The share of incoming packets dropped, in (0, 1].
    pub probability: f64,
    /// Targets the schedule chooses from.
    pub targets: Vec<Target>,
}

impl LossNemesis {
    /// A loss nemesis dropping `probability` of packets.
    pub fn new(probability: f64, targets: Vec<Target>) -> Self {
        LossNemesis {
            probability,
            targets,
        }
    }

    fn heal(&self, cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
        Ok(iptables::flush_all(&cluster.nodes, &[LOSS_CHAIN])?)
    }
}

impl Nemesis for LossNemesis {
    fn name(&self) -> &str {
        FAMILY.name
    }

    fn fs(&self) -> Vec<String> {
        FAMILY.fs()
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        iptables::ensure_chains(&cluster.nodes, &[LOSS_CHAIN])?;
        self.heal(cluster).map(|_| ())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match op.f.as_str() {
            "start-loss" => {
                let default = self.targets.first().copied().unwrap_or(Target::All);
                let (target, chosen) = nodes_of_op(cluster, &op.value, default, "loss")?;
                let p = op
                    .value
                    .get("probability")
                    .and_then(Value::as_f64)
                    .unwrap_or(self.probability);
                if !(p > 0.0 && p <= 1.0) {
                    return Err(NemesisError::BadOp {
                        nemesis: "loss".into(),
                        reason: format!("probability {p} is not in (0, 1]"),
                    });
                }
                self.heal(cluster)?;
                let prob = format!("{p:.4}");
                let rule = iptables::rule(&[
                    "!",
                    "-i",
                    "lo",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &prob,
                    "-j",
                    "DROP",
                ]);
                for name in &chosen {
                    if let Some(node) = cluster.node(name) {
                        iptables::set_rules(node, LOSS_CHAIN, std::slice::from_ref(&rule))?;
                    }
                }
                Ok(json!({"target": target.name(), "probability": p, "nodes": chosen}))
            }
            "stop-loss" => Ok(json!({"healed": self.heal(cluster)?})),
            other => Err(NemesisError::BadOp {
                nemesis: "loss".into(),
                reason: format!("unknown op f {other:?}"),
            }),
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.heal(cluster).map(|_| ())
    }
}
