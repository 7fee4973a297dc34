//! Process faults through the [`crate::db::Db`]: `kill` (SIGKILL, then
//! `start` restarts what was killed) and `pause` (SIGSTOP, then `resume`
//! sends SIGCONT).
//!
//! `kill` / `pause` take `{"target": T, "pick": N}` (see
//! [`super::target`]) and return the nodes hit; `start` / `resume` undo
//! everything this nemesis did and return the nodes touched.

use super::target::{pick_of, resolve, Target};
use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Which process fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessFault {
    /// SIGKILL / restart.
    Kill,
    /// SIGSTOP / SIGCONT.
    Pause,
}

/// Kills or pauses nodes, and undoes it.
#[derive(Debug)]
pub struct ProcessNemesis {
    fault: ProcessFault,
    /// Targets the schedule chooses from.
    pub targets: Vec<Target>,
    /// Nodes currently killed or paused by us.
    hit: BTreeSet<String>,
}

impl ProcessNemesis {
    /// The kill nemesis.
    pub fn kill(targets: Vec<Target>) -> Self {
        ProcessNemesis {
            fault: ProcessFault::Kill,
            targets,
            hit: BTreeSet::new(),
        }
    }

    /// The pause nemesis.
    pub fn pause(targets: Vec<Target>) -> Self {
        ProcessNemesis {
            fault: ProcessFault::Pause,
            targets,
            hit: BTreeSet::new(),
        }
    }

    fn start_f(&self) -> &'static str {
        match self.fault {
            ProcessFault::Kill => "kill",
            ProcessFault::Pause => "pause",
        }
    }

    fn stop_f(&self) -> &'static str {
        match self.fault {
            ProcessFault::Kill => "start",
            ProcessFault::Pause => "resume",
        }
    }

    /// Undo: restart killed nodes / resume paused ones. Tries every node
    /// and reports the first failure after.
    fn undo(&mut self, cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
        let mut done = Vec::new();
        let mut first_err = None;
        for name in std::mem::take(&mut self.hit) {
            let Some(node) = cluster.node(&name) else {
                continue;
            };
            let r = match self.fault {
                ProcessFault::Kill => cluster.db.start(cluster, node),
                ProcessFault::Pause => cluster.db.resume(cluster, node),
            };
            match r {
                Ok(()) => done.push(name),
                Err(e) => {
                    self.hit.insert(name);
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            None => Ok(done),
            Some(e) => Err(e.into()),
        }
    }
}

impl Nemesis for ProcessNemesis {
    fn name(&self) -> &str {
        self.start_f()
    }

    fn fs(&self) -> Vec<String> {
        vec![self.start_f().into(), self.stop_f().into()]
    }

    fn setup(&mut self, _cluster: &Cluster) -> Result<(), NemesisError> {
        Ok(())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        let f = op.f.as_str();
        if f == self.start_f() {
            let target = match op.value.get("target").and_then(Value::as_str) {
                Some(t) => t.parse::<Target>().map_err(|reason| NemesisError::BadOp {
                    nemesis: self.start_f().into(),
                    reason,
                })?,
                None => self.targets.first().copied().unwrap_or(Target::One),
            };
            let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
            let primaries = if target == Target::Leader {
                cluster.db.primaries(cluster)
            } else {
                Vec::new()
            };
            let chosen = resolve(target, &names, &primaries, pick_of(&op.value));
            let mut hit = Vec::new();
            // A node that cannot be hit (e.g. paused while down) is recorded
            // and the others still are: the value must say what happened.
            let mut failed = serde_json::Map::new();
            for name in &chosen {
                if self.hit.contains(name) {
                    continue; // already down: do not count it twice
                }
                let Some(node) = cluster.node(name) else {
                    continue;
                };
                let r = match self.fault {
                    ProcessFault::Kill => cluster.db.kill(cluster, node),
                    ProcessFault::Pause => cluster.db.pause(cluster, node),
                };
                match r {
                    Ok(()) => {
                        self.hit.insert(name.clone());
                        hit.push(name.clone());
                    }
                    Err(e) => {
                        failed.insert(name.clone(), json!(e.to_string()));
                    }
                }
            }
            let key = match self.fault {
                ProcessFault::Kill => "killed",
                ProcessFault::Pause => "paused",
            };
            let mut v = json!({"target": target.name(), key: hit});
            if chosen.is_empty() {
                v["skipped"] = json!(format!("no node matches target {target}"));
            }
            if !failed.is_empty() {
                if hit.is_empty() {
                    // Nothing happened at all: that is an error of the op.
                    return Err(NemesisError::BadOp {
                        nemesis: self.start_f().into(),
                        reason: format!("{key} nothing: {}", Value::Object(failed)),
                    });
                }
                v["failed"] = Value::Object(failed);
            }
            Ok(v)
        } else if f == self.stop_f() {
            let key = match self.fault {
                ProcessFault::Kill => "started",
                ProcessFault::Pause => "resumed",
            };
            Ok(json!({ key: self.undo(cluster)? }))
        } else {
            Err(NemesisError::BadOp {
                nemesis: self.start_f().into(),
                reason: format!("unknown op f {f:?}"),
            })
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.undo(cluster).map(|_| ())
    }
}
