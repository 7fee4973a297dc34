//! Process faults through the [`crate::db::Db`]: `kill` (SIGKILL, then
//! `start` restarts what was killed) and `pause` (SIGSTOP, then `resume`
//! sends SIGCONT).
//!
//! `kill` / `pause` take `{"target": T, "pick": N}` (see
//! [`super::target`]) and return the nodes hit; `start` / `resume` undo
//! everything this nemesis did and return the nodes touched.

use super::config::NemesisConfig;
use super::family::{target_start, Ask, Family, Member};
use super::target::{nodes_of_op, Target};
use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The kill family: `kill.targets`, when the Db can kill.
pub const KILL: Family = Family {
    name: "kill",
    scenario: false,
    needs_machines: false,
    starts: &["kill"],
    stop: "start",
    targets: Some(kill_targets),
    requires: |caps| supported(caps.kill),
    build: |ask| member(ask, ProcessFault::Kill),
};

/// The pause family: `pause.targets`, when the Db can pause.
pub const PAUSE: Family = Family {
    name: "pause",
    scenario: false,
    needs_machines: false,
    starts: &["pause"],
    stop: "resume",
    targets: Some(pause_targets),
    requires: |caps| supported(caps.pause),
    build: |ask| member(ask, ProcessFault::Pause),
};

fn kill_targets(cfg: &NemesisConfig) -> &[Target] {
    &cfg.kill.targets
}

fn pause_targets(cfg: &NemesisConfig) -> &[Target] {
    &cfg.pause.targets
}

fn supported(yes: bool) -> Result<(), String> {
    match yes {
        true => Ok(()),
        false => Err("the Db does not support it".into()),
    }
}

fn member(ask: Ask<'_>, fault: ProcessFault) -> Option<Member> {
    if ask.targets.is_empty() {
        return None;
    }
    let nemesis = ProcessNemesis {
        fault,
        targets: ask.targets,
        hit: BTreeSet::new(),
    };
    Some(Member {
        starts: target_start(nemesis.start_f(), &nemesis.targets),
        nemesis: Box::new(nemesis),
    })
}

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

    fn family(&self) -> &'static Family {
        match self.fault {
            ProcessFault::Kill => &KILL,
            ProcessFault::Pause => &PAUSE,
        }
    }

    fn start_f(&self) -> &'static str {
        self.family().starts[0]
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
        self.family().fs()
    }

    fn setup(&mut self, _cluster: &Cluster) -> Result<(), NemesisError> {
        Ok(())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        let f = op.f.as_str();
        if f == self.start_f() {
            let default = self.targets.first().copied().unwrap_or(Target::One);
            let (target, chosen) = nodes_of_op(cluster, &op.value, default, self.start_f())?;
            // Who led just before: a fault that hits a leader is a leader
            // loss whatever its target (reports time the first ok write
            // after it), so the value records it.
            let leaders = cluster.db.primaries(cluster);
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
            let leaders_hit: Vec<&String> = hit.iter().filter(|n| leaders.contains(n)).collect();
            let mut v = json!({"target": target.name(), key: hit, "leaders": leaders_hit});
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
        } else if f == self.family().stop {
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
