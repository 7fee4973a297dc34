//! Election choreographies: short scripts of real faults, timed by what the
//! nodes report of their roles and terms, that steer a consensus group
//! through the rare interleavings some bugs need — the ones a random
//! schedule of partitions and kills almost never produces.
//!
//! Only real faults are used, on the real processes and network:
//!
//! - **cut**: iptables in a node's namespace rejects (TCP reset) everything
//!   from another node, both ways;
//! - **block**: a node rejects the connections *another node opened to it*
//!   (`-m conntrack --ctdir ORIGINAL`), so that node's messages stop while
//!   the blocked node's own messages and their acknowledgements still flow;
//! - **hold**: SIGSTOP a node, let some peers' messages arrive in its socket
//!   buffers (`ss` shows them queued), block those peers again, SIGCONT: the
//!   node then handles exactly the messages that were held;
//! - **kill** (SIGKILL) and **restart** through the [`crate::db::Db`].
//!
//! The state is read with [`crate::db::Db::consensus_state`] (refkv's
//! `/status`), so a Db that cannot tell its roles and terms skips these
//! scenarios. Scenarios:
//!
//! - `double-vote` (exactly 3 nodes): two candidates of one term, each cut
//!   off from the other and both reaching a third node, the voter. The
//!   voter grants both pre-votes (a hold), then votes for the first
//!   candidate (a hold that delivers only its vote request, not its first
//!   appends), is killed and restarted, and then hears the second
//!   candidate's vote request of the *same* term. A voter that persisted its
//!   vote refuses; one that did not (refkv `--bug vote-twice`) elects a
//!   second leader in that term. The cut between the candidates stays until
//!   `stop-election`, so clients meet two leaders.
//!
//! - `figure-8` (exactly 5 nodes): the Raft paper's Figure 8. The leader A
//!   and one follower B are cut off from C, D, E while clients write
//!   through A, so A holds entries of its term that only A and B have.
//!   E is elected by C and D (holds at D), but its first entry reaches C
//!   only, and E is killed. A is elected again in a newer term with D's
//!   vote, and D receives one of A's old-term entries — and, through the
//!   holds, not yet A's first entry of the new term. A leader that counts
//!   replicas of old-term entries (refkv `--bug commit-old-term`) now
//!   commits that entry and acknowledges its client. Then A and B are cut
//!   off from D, E comes back, is elected by C and D (its last entry has a
//!   newer term than D's), and overwrites the entry: an acknowledged write
//!   is lost. The correct build never commits it, so nothing acknowledged
//!   is lost. Splitting A's entries needs `--max-entries-per-message 1`
//!   (see `clusters/refkv-figure-8.yaml`): otherwise the old entry and the
//!   new term's first one travel in one message.
//!
//! - `deposed-leader` (3 nodes or more; clock faults must apply to the
//!   Db): every node's wall clock jumps back by the same
//!   [`DEPOSED_CLOCK_BACK_MS`] (libfaketime, as the `clock` nemesis does),
//!   and only *then* the leader is cut off from every other node. The
//!   others elect a leader of a newer term and commit writes; the choreography
//!   holds until they have committed [`DEPOSED_MIN_COMMITS`] entries past
//!   the old leader's commit index while it still claims to lead (bounded by
//!   [`DEPOSED_HOLD`]), so the old leader's clients meet those writes. A
//!   leader that times a read lease by the wall clock (refkv `--bug
//!   lease-read`) trusts that lease for the whole jump and keeps serving
//!   reads from its own, now stale, state; a correct leader steps down
//!   (check-quorum) within an election timeout. The order matters, and is
//!   why this is a choreography: a leader cut off *before* its clock moves
//!   has already stepped down when the clock jumps — what a random schedule
//!   of `bump-clock` and `isolate-leader` does about half the time.
//!
//! Every wait is bounded, and every wait gives up at once when the run's
//! interrupt flag is set (the main phase ended, or Ctrl-C / SIGTERM), so a
//! choreography never holds up the heal for long.
//!
//! `start-election` takes `{"scenario": S, "pick": N}` and returns the steps
//! taken with their times, the nodes' parts, and the outcome (`two-leaders`
//! or `voter-refused` for `double-vote`; `old-entry-committed-then-lost` or
//! `old-entry-not-committed` for `figure-8`; `deposed-leader-kept-leading`
//! or `old-leader-stepped-down` for `deposed-leader`; or `incomplete` with the step
//! that did not happen — the
//! cluster did not get there, which is not an error). `stop-election` heals
//! everything: rules flushed, paused nodes resumed, killed nodes restarted,
//! clocks set back to real time.

mod deposed_leader;
mod double_vote;
mod figure_8;
mod primitives;

pub use deposed_leader::{DEPOSED_CLOCK_BACK_MS, DEPOSED_HOLD, DEPOSED_MIN_COMMITS};
pub use primitives::{held_from, parse_ss_held};

use super::family::{Ask, Family, Member};
use super::iptables::{self, ELECTION_CHAIN};
use super::{Interrupt, Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use crate::remote::faketime::write_offset;
use crate::remote::Node;
use primitives::{Halt, Incomplete, Steps};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// The scenarios, in documentation order.
pub const SCENARIOS: [&str; 3] = ["double-vote", "figure-8", "deposed-leader"];

/// The election family: a scenario of `election.targets` at a time, when
/// the Db can kill, pause and tell its leader.
pub const FAMILY: Family = Family {
    name: "election",
    scenario: true,
    needs_machines: false,
    starts: &["start-election"],
    stop: "stop-election",
    targets: None,
    requires: |caps| {
        if caps.kill && caps.pause && caps.primaries {
            Ok(())
        } else {
            Err("the Db cannot kill, pause and tell its leader".into())
        }
    },
    build: member,
};

fn member(ask: Ask<'_>) -> Option<Member> {
    let scenarios = ask.config.election.targets.clone();
    Some(Member {
        starts: vec![(
            FAMILY.starts[0].to_string(),
            Some(("scenario", scenarios.clone())),
        )],
        nemesis: Box::new(ElectionNemesis::new(scenarios)),
    })
}

/// The election-choreography nemesis.
#[derive(Debug, Default)]
pub struct ElectionNemesis {
    /// Scenarios the schedule chooses from.
    pub scenarios: Vec<String>,
    /// Per node: peers whose every packet it rejects.
    cut_from: BTreeMap<String, BTreeSet<String>>,
    /// Per node: peers whose own connections to it it rejects.
    blocked: BTreeMap<String, BTreeSet<String>>,
    /// Nodes paused by us.
    paused: BTreeSet<String>,
    /// Nodes killed by us and not restarted yet.
    killed: BTreeSet<String>,
    /// Nodes whose clock we moved and have not set back yet.
    skewed: BTreeSet<String>,
    /// Set when the run's main phase ends or the run stops.
    irq: Interrupt,
}

impl ElectionNemesis {
    /// A nemesis choosing among `scenarios` (all when empty).
    pub fn new(scenarios: Vec<String>) -> Self {
        ElectionNemesis {
            scenarios,
            ..Default::default()
        }
    }

    /// Undo everything: flush our rules, resume and restart what we stopped.
    /// Also the actuator's heal for [`super::adaptive`], which drives
    /// these primitives.
    pub(crate) fn heal(&mut self, cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
        self.cut_from.clear();
        self.blocked.clear();
        let mut heal = Heal {
            touched: Vec::new(),
            first_err: iptables::flush_all(&cluster.nodes, &[ELECTION_CHAIN])
                .err()
                .map(Into::into),
        };
        // Paused nodes first: a node both paused and killed is restarted.
        let paused = std::mem::take(&mut self.paused);
        heal.each(
            cluster,
            paused,
            |name| format!("resumed {name}"),
            |n| Ok(cluster.db.resume(cluster, n)?),
        );
        let killed = std::mem::take(&mut self.killed);
        heal.each(
            cluster,
            killed,
            |name| format!("restarted {name}"),
            |n| Ok(cluster.db.start(cluster, n)?),
        );
        // A clock not set back stays listed, so a second heal tries again.
        let skewed = std::mem::take(&mut self.skewed);
        self.skewed = heal.each(
            cluster,
            skewed,
            |name| format!("clock of {name} reset"),
            |n| Ok(write_offset(n, 0)?),
        );
        match heal.first_err {
            None => Ok(heal.touched),
            Some(e) => Err(e),
        }
    }
}

impl ElectionNemesis {
    /// What this nemesis has in force: killed nodes, paused nodes, whether
    /// some link is cut or blocked, whether some clock is moved.
    pub(crate) fn in_force(&self) -> (Vec<String>, Vec<String>, bool, bool) {
        let any = |m: &BTreeMap<String, BTreeSet<String>>| m.values().any(|s| !s.is_empty());
        (
            self.killed.iter().cloned().collect(),
            self.paused.iter().cloned().collect(),
            any(&self.cut_from) || any(&self.blocked),
            !self.skewed.is_empty(),
        )
    }
}

/// What a heal did, and its first failure (it goes on past failures).
struct Heal {
    touched: Vec<String>,
    first_err: Option<NemesisError>,
}

impl Heal {
    /// `undo` each node of `names` (gone nodes are skipped), noting
    /// `done(name)`; returns the names it failed on.
    fn each(
        &mut self,
        cluster: &Cluster,
        names: BTreeSet<String>,
        done: fn(&str) -> String,
        undo: impl Fn(&Node) -> Result<(), NemesisError>,
    ) -> BTreeSet<String> {
        let mut failed = BTreeSet::new();
        for name in names {
            let Some(n) = cluster.node(&name) else {
                continue;
            };
            match undo(n) {
                Ok(()) => self.touched.push(done(&name)),
                Err(e) => {
                    self.first_err.get_or_insert(e);
                    failed.insert(name);
                }
            }
        }
        failed
    }
}

impl Nemesis for ElectionNemesis {
    fn name(&self) -> &str {
        FAMILY.name
    }

    fn fs(&self) -> Vec<String> {
        FAMILY.fs()
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        iptables::ensure_chains(&cluster.nodes, &[ELECTION_CHAIN])?;
        self.heal(cluster).map(|_| ())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match op.f.as_str() {
            "start-election" => {
                let scenario = op
                    .value
                    .get("scenario")
                    .and_then(Value::as_str)
                    .or_else(|| self.scenarios.first().map(String::as_str))
                    .unwrap_or("double-vote")
                    .to_string();
                let pick = super::target::pick_of(&op.value);
                // A new choreography starts from a healed cluster.
                self.heal(cluster)?;
                let mut steps = Steps::new();
                let r = match scenario.as_str() {
                    "double-vote" => self.double_vote(cluster, pick, &mut steps),
                    "figure-8" => self.figure_8(cluster, pick, &mut steps),
                    "deposed-leader" => self.deposed_leader(cluster, &mut steps),
                    other => {
                        return Err(NemesisError::BadOp {
                            nemesis: "election".into(),
                            reason: format!(
                                "unknown scenario {other:?}; valid: {}",
                                SCENARIOS.join(", ")
                            ),
                        })
                    }
                };
                match r {
                    Ok(mut v) => {
                        v["scenario"] = json!(scenario);
                        v["steps"] = json!(steps.steps);
                        Ok(v)
                    }
                    Err(Halt::Incomplete(Incomplete(mut why))) => {
                        if self.irq.load(Ordering::SeqCst) {
                            why = format!("interrupted, the run is ending ({why})");
                        }
                        steps.note(format!("gave up: {why}"));
                        let healed = self.heal(cluster)?;
                        Ok(json!({
                            "scenario": scenario,
                            "outcome": "incomplete",
                            "reason": why,
                            "steps": steps.steps,
                            "healed": healed,
                        }))
                    }
                    Err(Halt::Error(e)) => {
                        let _ = self.heal(cluster);
                        Err(e)
                    }
                }
            }
            "stop-election" => Ok(json!({"healed": self.heal(cluster)?})),
            other => Err(NemesisError::BadOp {
                nemesis: "election".into(),
                reason: format!("unknown op f {other:?}"),
            }),
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.heal(cluster).map(|_| ())
    }

    fn set_interrupt(&mut self, flag: Interrupt) {
        self.irq = flag;
    }
}
