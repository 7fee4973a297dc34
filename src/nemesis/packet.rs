//! Packet loss: a share of a node's incoming packets is dropped at random
//! (`iptables -m statistic --mode random --probability p -j DROP` in the
//! node's own [`LOSS_CHAIN`]; loopback is spared). `tc netem` is not
//! available on the machines this runs on, so loss lives in iptables.
//!
//! `start-loss` takes `{"target": T, "pick": N}` and returns the nodes and
//! the probability; `stop-loss` flushes the rules everywhere.

use super::iptables::{self, LOSS_CHAIN};
use super::target::{pick_of, resolve, Target};
use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use serde_json::{json, Value};

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
        "loss"
    }

    fn fs(&self) -> Vec<String> {
        vec!["start-loss".into(), "stop-loss".into()]
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        for node in &cluster.nodes {
            iptables::ensure_chain(node, LOSS_CHAIN)?;
        }
        self.heal(cluster).map(|_| ())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match op.f.as_str() {
            "start-loss" => {
                let target = match op.value.get("target").and_then(Value::as_str) {
                    Some(t) => t.parse::<Target>().map_err(|reason| NemesisError::BadOp {
                        nemesis: "loss".into(),
                        reason,
                    })?,
                    None => self.targets.first().copied().unwrap_or(Target::All),
                };
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
                let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
                let primaries = if target == Target::Leader {
                    cluster.db.primaries(cluster)
                } else {
                    Vec::new()
                };
                let chosen = resolve(target, &names, &primaries, pick_of(&op.value));
                self.heal(cluster)?;
                let prob = format!("{p:.4}");
                let rule: Vec<String> = [
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
                ]
                .map(String::from)
                .to_vec();
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
