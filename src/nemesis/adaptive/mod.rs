//! The adaptive nemesis (family `adaptive`): instead of drawing faults at
//! random, it watches what the nodes say of their consensus state (role,
//! term, commit and last index, through [`crate::db::Db::consensus_state`])
//! and chooses the next fault, its targets and its timing from that
//! feedback, steered by a coverage map of (abstract state, action) pairs
//! so it keeps trying combinations it has not tried yet (see [`policy`]).
//!
//! One `start-adaptive` op is an *episode*: up to `adaptive.max-steps`
//! steps within `adaptive.episode-secs`, each step
//!
//! 1. waits (bounded by `adaptive.trigger-wait-ms`) for the moment the
//!    previous decision asked for: a leader, a new leader just elected, an
//!    election under way, a leader holding uncommitted entries, a follower
//!    behind — polling every node every `adaptive.poll-ms` ([`observe`]);
//! 2. decides ([`policy::decide`]) an action among general fault
//!    primitives: kill, kill and restart at once, restart, pause, resume,
//!    isolate a node, split the cluster with the leader on the minority or
//!    majority side, cut a link, block one way, jump every clock back,
//!    bump one clock, crash every node at once, heal, or wait; aimed at a
//!    node by role (leader, follower, candidate, lagging, any);
//! 3. acts, through the election choreographies' primitives (their
//!    iptables chain, the Db's kill/start/pause/resume, libfaketime), and
//!    holds for the chosen time.
//!
//! The op's completion value records every step: what was observed, which
//! trigger fired, the decision and why (its coverage key and count), what
//! was done. The decisions are a pure function of the op's `pick`, the
//! recorded observations and the coverage map at the episode's start, so
//! [`replay_episode`] re-derives them from a stored op value. The coverage
//! map lives for the run, and across runs when `adaptive.coverage-file`
//! names a file (read at setup, written after each episode); inside
//! `faultline hunt` it is carried from one attempt of a seed to the next
//! by default (`crate::runner::CARRIED_COVERAGE`), and the map a run
//! started from is kept in its run directory
//! (`crate::runner::STARTING_COVERAGE`) for the replay.
//!
//! Faults stay in force between steps; `stop-adaptive` and `teardown` heal
//! all (rules flushed, nodes resumed and restarted, clocks reset), and an
//! episode ends at once when the run's interrupt flag is set. Its rules
//! live in the election chain, which `faultline heal` already removes.
//!
//! A Db that reports no consensus state still gets faults (degraded: every
//! node looks `down`, the choice is random among actions on any node; the
//! op value says `"degraded": true`). The family needs machines (iptables),
//! so a run on the memory Db is refused with that reason.

pub mod observe;
pub mod policy;

use super::election::ElectionNemesis;
use super::family::{Ask, Family, Member};
use super::iptables::{self, ELECTION_CHAIN};
use super::target::{pick_of, rng_for};
use super::{Interrupt, Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use observe::{observe, InForce, Observation, Trigger};
use policy::{Action, Coverage, Decision, Limits};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long after a newer term's leader appears the moment counts as a
/// "new leader", ms.
const NEW_LEADER_MS: u128 = 1000;

/// The adaptive family: a scenario (it takes over the whole cluster),
/// when the Db can kill and pause.
pub const FAMILY: Family = Family {
    name: "adaptive",
    scenario: true,
    needs_machines: true,
    starts: &["start-adaptive"],
    stop: "stop-adaptive",
    targets: None,
    requires: |caps| {
        if caps.kill && caps.pause {
            Ok(())
        } else {
            Err("the Db cannot kill and pause".into())
        }
    },
    build: member,
};

fn member(ask: Ask<'_>) -> Option<Member> {
    Some(Member {
        starts: vec![(FAMILY.starts[0].to_string(), None)],
        nemesis: Box::new(AdaptiveNemesis::new(
            ask.config.adaptive.clone(),
            ask.caps.clock.is_ok(),
        )),
    })
}

/// Adaptive options (`adaptive:` in a nemesis file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct AdaptiveConfig {
    /// Longest episode (one `start-adaptive` op), seconds.
    pub episode_secs: f64,
    /// Most decisions in one episode.
    pub max_steps: usize,
    /// Time between two polls of the nodes, ms.
    pub poll_ms: u64,
    /// Longest wait for a trigger's moment, ms (then the step acts on
    /// what it sees).
    pub trigger_wait_ms: u64,
    /// Chance in 100 of choosing among all open actions rather than the
    /// least-tried ones.
    pub explore_pct: u32,
    /// A JSON file that carries the coverage map across runs (read at
    /// setup when it exists, written after each episode).
    pub coverage_file: Option<String>,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            episode_secs: 12.0,
            max_steps: 10,
            poll_ms: 50,
            trigger_wait_ms: 1500,
            explore_pct: 10,
            coverage_file: None,
        }
    }
}

impl AdaptiveConfig {
    /// Check the values; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.episode_secs.is_finite() && self.episode_secs > 0.0) {
            return Err(format!(
                "adaptive.episode-secs: {} is not a positive number of seconds",
                self.episode_secs
            ));
        }
        if self.max_steps == 0 {
            return Err("adaptive.max-steps: must be at least 1".into());
        }
        if !(10..=1000).contains(&self.poll_ms) {
            return Err(format!(
                "adaptive.poll-ms: {} is not between 10 and 1000",
                self.poll_ms
            ));
        }
        if self.trigger_wait_ms > 60_000 {
            return Err(format!(
                "adaptive.trigger-wait-ms: {} is above 60000",
                self.trigger_wait_ms
            ));
        }
        if self.explore_pct > 100 {
            return Err(format!(
                "adaptive.explore-pct: {} is above 100",
                self.explore_pct
            ));
        }
        if self
            .coverage_file
            .as_deref()
            .is_some_and(|f| f.trim().is_empty())
        {
            return Err("adaptive.coverage-file: empty path".into());
        }
        Ok(())
    }
}

/// One recorded step of an episode (as in the op value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The moment waited for, and whether it came before the wait ended.
    pub trigger: Trigger,
    /// It came.
    pub fired: bool,
    /// What the decision was made from.
    pub observed: Observation,
    /// The abstract state (coverage key part).
    pub state: String,
    /// The decision.
    pub decision: Decision,
    /// What was done.
    pub done: Vec<String>,
    /// A fault that could not be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The adaptive nemesis.
pub struct AdaptiveNemesis {
    cfg: AdaptiveConfig,
    clock: bool,
    /// Performs and heals the faults.
    act: ElectionNemesis,
    coverage: Coverage,
    /// Highest leader term seen.
    max_term: u64,
    /// When a leader of a newer term last appeared.
    fresh_at: Option<Instant>,
    /// Some node ever answered (else the Db tells nothing: degraded).
    ever_answered: bool,
    irq: Interrupt,
}

impl AdaptiveNemesis {
    /// A nemesis with options `cfg`; `clock`: clock faults apply to the Db.
    pub fn new(cfg: AdaptiveConfig, clock: bool) -> Self {
        AdaptiveNemesis {
            cfg,
            clock,
            act: ElectionNemesis::new(Vec::new()),
            coverage: Coverage::default(),
            max_term: 0,
            fresh_at: None,
            ever_answered: false,
            irq: Interrupt::default(),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            clock: self.clock,
            explore_pct: self.cfg.explore_pct,
        }
    }

    fn in_force(&self) -> InForce {
        let (killed, paused, cut, skewed) = self.act.in_force();
        InForce {
            killed,
            paused,
            cut,
            skewed,
        }
    }

    fn look(&mut self, cluster: &Cluster, t0: Instant) -> Observation {
        let faults = self.in_force();
        let mut obs = observe(
            cluster,
            &faults,
            &mut self.max_term,
            t0.elapsed().as_millis() as u64,
        );
        if obs.new_leader {
            self.fresh_at = Some(Instant::now());
        }
        obs.new_leader = self
            .fresh_at
            .is_some_and(|t| t.elapsed().as_millis() < NEW_LEADER_MS);
        self.ever_answered |= !obs.blind();
        obs
    }

    fn stopping(&self) -> bool {
        self.irq.load(Ordering::SeqCst)
    }

    /// Poll until `trigger` fires or `until`; the last observation and
    /// whether it fired.
    fn wait(
        &mut self,
        cluster: &Cluster,
        trigger: Trigger,
        t0: Instant,
        until: Instant,
    ) -> (Observation, bool) {
        let poll = Duration::from_millis(self.cfg.poll_ms);
        loop {
            let obs = self.look(cluster, t0);
            if trigger.fires(&obs) {
                return (obs, true);
            }
            if self.stopping() || Instant::now() + poll >= until {
                return (obs, false);
            }
            std::thread::sleep(poll);
        }
    }

    /// Watch for `ms` (keeping the new-leader moment up to date).
    fn hold(&mut self, cluster: &Cluster, t0: Instant, ms: u64, until: Instant) {
        let end = (Instant::now() + Duration::from_millis(ms)).min(until);
        let poll = Duration::from_millis(self.cfg.poll_ms);
        while Instant::now() < end && !self.stopping() {
            self.look(cluster, t0);
            std::thread::sleep(poll.min(end.saturating_duration_since(Instant::now())));
        }
    }

    /// Perform `d`; what was done, and the first failure.
    fn perform(&mut self, cluster: &Cluster, d: &Decision) -> (Vec<String>, Option<String>) {
        let mut done = Vec::new();
        let r = self.perform_inner(cluster, d, &mut done);
        (done, r.err().map(|e| e.to_string()))
    }

    fn perform_inner(
        &mut self,
        cluster: &Cluster,
        d: &Decision,
        done: &mut Vec<String>,
    ) -> Result<(), NemesisError> {
        let all: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        let t = d.targets.first().cloned().unwrap_or_default();
        match d.action {
            Action::Wait => {}
            Action::Heal => done.extend(self.act.heal(cluster)?),
            Action::Kill => {
                self.act.kill(cluster, &t)?;
                done.push(format!("killed {t}"));
            }
            Action::KillRestart => {
                self.act.kill(cluster, &t)?;
                self.act.start(cluster, &t)?;
                done.push(format!("killed and restarted {t}"));
            }
            Action::Restart => {
                for k in self.in_force().killed {
                    self.act.start(cluster, &k)?;
                    done.push(format!("restarted {k}"));
                }
            }
            Action::Pause => {
                self.act.pause(cluster, &t)?;
                done.push(format!("paused {t}"));
            }
            Action::Resume => {
                for p in self.in_force().paused {
                    self.act.resume(cluster, &p)?;
                    done.push(format!("resumed {p}"));
                }
            }
            Action::Isolate => {
                for o in all.iter().filter(|o| **o != t) {
                    self.act.cut(cluster, &t, o)?;
                }
                done.push(format!("isolated {t}"));
            }
            Action::SplitLeaderMinority | Action::SplitLeaderMajority => {
                let other: Vec<&String> = all.iter().filter(|x| !d.targets.contains(x)).collect();
                for a in &d.targets {
                    for b in &other {
                        self.act.cut(cluster, a, b)?;
                    }
                }
                done.push(format!(
                    "partitioned {} | {}",
                    d.targets.join(" "),
                    other
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            Action::CutLink => {
                if let [a, b] = d.targets.as_slice() {
                    self.act.cut(cluster, a, b)?;
                    done.push(format!("cut {a} - {b}"));
                }
            }
            Action::Block => {
                if let [a, b] = d.targets.as_slice() {
                    self.act.block(cluster, a, &[b.as_str()], true)?;
                    done.push(format!("{a} refuses {b}'s connections"));
                }
            }
            Action::ClockBack => {
                let ms = d.jump_ms.unwrap_or(-10_000);
                for n in &all {
                    self.act.skew(cluster, n, ms)?;
                }
                done.push(format!("every clock moved by {ms} ms"));
            }
            Action::ClockBump => {
                let ms = d.jump_ms.unwrap_or(5_000);
                self.act.skew(cluster, &t, ms)?;
                done.push(format!("clock of {t} moved by {ms} ms"));
            }
            Action::CrashAll => {
                for n in &all {
                    self.act.kill(cluster, n)?;
                }
                for n in &all {
                    self.act.start(cluster, n)?;
                }
                done.push("killed every node, restarted them all".into());
            }
        }
        Ok(())
    }

    /// One episode (see the module docs).
    fn episode(&mut self, cluster: &Cluster, pick: u64) -> Value {
        let mut rng = rng_for(pick);
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs_f64(self.cfg.episode_secs);
        let pairs_before = self.coverage.seen.len();
        let mut steps: Vec<Step> = Vec::new();
        let mut trigger = Trigger::Leader;
        let mut degraded = false;
        for _ in 0..self.cfg.max_steps {
            if self.stopping() || Instant::now() >= until {
                break;
            }
            let wait_end =
                (Instant::now() + Duration::from_millis(self.cfg.trigger_wait_ms)).min(until);
            let (observed, fired) = self.wait(cluster, trigger, t0, wait_end);
            if self.stopping() {
                break;
            }
            degraded |= !self.ever_answered;
            let lim = self.limits();
            let decision = policy::decide(&mut rng, &observed, &mut self.coverage, lim);
            let (done, error) = self.perform(cluster, &decision);
            steps.push(Step {
                trigger,
                fired,
                state: observed.abstract_state(),
                observed,
                decision: decision.clone(),
                done,
                error,
            });
            self.hold(cluster, t0, decision.hold_ms, until);
            trigger = decision.next;
        }
        let mut value = json!({
            "pick": pick,
            "degraded": degraded,
            "steps": steps,
            "coverage": {"pairs": self.coverage.seen.len(), "new": self.coverage.seen.len() - pairs_before},
        });
        if self.stopping() {
            value["interrupted"] = json!(true);
        }
        if degraded {
            value["note"] = json!("the Db reports no consensus state: random actions on any node");
        }
        if let Err(e) = self.save_coverage() {
            value["coverage-file-error"] = json!(e);
        }
        value
    }

    fn load_coverage(&mut self) -> Result<(), NemesisError> {
        let Some(path) = &self.cfg.coverage_file else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(bad(format!("adaptive.coverage-file {path}: {e}"))),
        };
        self.coverage = serde_json::from_str(&text)
            .map_err(|e| bad(format!("adaptive.coverage-file {path}: {e}")))?;
        Ok(())
    }

    fn save_coverage(&self) -> Result<(), String> {
        let Some(path) = &self.cfg.coverage_file else {
            return Ok(());
        };
        let text = serde_json::to_string(&self.coverage).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))
    }
}

fn bad(reason: String) -> NemesisError {
    NemesisError::BadOp {
        nemesis: "adaptive".into(),
        reason,
    }
}

/// Re-derive the decisions of a recorded `start-adaptive` op value from
/// its pick and observations, with `coverage` as it was when the episode
/// began (empty for a run's first episode; the map is advanced as the
/// episode did), and `clock`/`explore_pct` as the run had them. Returns
/// the recomputed decisions; equal to the recorded ones for a faithful
/// replay.
pub fn replay_episode(
    value: &Value,
    coverage: &mut Coverage,
    clock: bool,
    explore_pct: u32,
) -> Result<Vec<Decision>, String> {
    let pick = pick_of(value);
    let steps: Vec<Step> = serde_json::from_value(value.get("steps").cloned().unwrap_or(json!([])))
        .map_err(|e| format!("start-adaptive value: steps: {e}"))?;
    let obs: Vec<Observation> = steps.into_iter().map(|s| s.observed).collect();
    let lim = Limits { clock, explore_pct };
    Ok(policy::replay(&mut rng_for(pick), &obs, coverage, lim))
}

/// The decisions recorded in a `start-adaptive` op value.
pub fn recorded_decisions(value: &Value) -> Result<Vec<Decision>, String> {
    let steps: Vec<Step> = serde_json::from_value(value.get("steps").cloned().unwrap_or(json!([])))
        .map_err(|e| format!("start-adaptive value: steps: {e}"))?;
    Ok(steps.into_iter().map(|s| s.decision).collect())
}

impl Nemesis for AdaptiveNemesis {
    fn name(&self) -> &str {
        FAMILY.name
    }

    fn fs(&self) -> Vec<String> {
        FAMILY.fs()
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.load_coverage()?;
        iptables::ensure_chains(&cluster.nodes, &[ELECTION_CHAIN])?;
        self.act.setup(cluster)
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match op.f.as_str() {
            "start-adaptive" => {
                let pick = pick_of(&op.value);
                Ok(self.episode(cluster, pick))
            }
            "stop-adaptive" => Ok(json!({"healed": self.act.heal(cluster)?})),
            other => Err(bad(format!("unknown op f {other:?}"))),
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.act.heal(cluster).map(|_| ())
    }

    fn set_interrupt(&mut self, flag: Interrupt) {
        self.act.set_interrupt(flag.clone());
        self.irq = flag;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_field() {
        assert!(AdaptiveConfig::default().validate().is_ok());
        let cases: Vec<(AdaptiveConfig, &str)> = vec![
            (
                AdaptiveConfig {
                    episode_secs: 0.0,
                    ..Default::default()
                },
                "adaptive.episode-secs",
            ),
            (
                AdaptiveConfig {
                    max_steps: 0,
                    ..Default::default()
                },
                "adaptive.max-steps",
            ),
            (
                AdaptiveConfig {
                    poll_ms: 5,
                    ..Default::default()
                },
                "adaptive.poll-ms",
            ),
            (
                AdaptiveConfig {
                    explore_pct: 101,
                    ..Default::default()
                },
                "adaptive.explore-pct",
            ),
            (
                AdaptiveConfig {
                    coverage_file: Some(" ".into()),
                    ..Default::default()
                },
                "adaptive.coverage-file",
            ),
        ];
        for (cfg, field) in cases {
            let e = cfg.validate().unwrap_err();
            assert!(e.starts_with(field), "{e}");
        }
    }

    #[test]
    fn a_recorded_episode_replays_to_the_same_decisions() {
        use observe::NodeView;
        let nodes = |roles: [&str; 3]| -> Vec<NodeView> {
            roles
                .iter()
                .enumerate()
                .map(|(i, r)| NodeView {
                    name: format!("n{}", i + 1),
                    role: r.to_string(),
                    term: 4,
                    commit: Some(3),
                    last: Some(3 + i as u64),
                })
                .collect()
        };
        let observations = [
            nodes(["leader", "follower", "follower"]),
            nodes(["down", "candidate", "follower"]),
            nodes(["follower", "leader", "down"]),
        ];
        // Record an episode as the nemesis does.
        let mut cov = Coverage::default();
        let mut rng = rng_for(99);
        let lim = Limits {
            clock: true,
            explore_pct: 10,
        };
        let steps: Vec<Step> = observations
            .iter()
            .map(|n| {
                let observed = Observation {
                    ms: 0,
                    nodes: n.clone(),
                    new_leader: false,
                    faults: InForce::default(),
                };
                let decision = policy::decide(&mut rng, &observed, &mut cov, lim);
                Step {
                    trigger: Trigger::Now,
                    fired: true,
                    state: observed.abstract_state(),
                    observed,
                    decision,
                    done: vec![],
                    error: None,
                }
            })
            .collect();
        let value = json!({"pick": 99, "steps": steps});
        let recorded = recorded_decisions(&value).unwrap();
        assert_eq!(recorded.len(), 3);
        let again = replay_episode(&value, &mut Coverage::default(), true, 10).unwrap();
        assert_eq!(again, recorded);
        // Another pick, or a different coverage, is not a faithful replay.
        let mut other = value.clone();
        other["pick"] = json!(100);
        let differs = replay_episode(&other, &mut Coverage::default(), true, 10).unwrap();
        assert_ne!(differs, recorded);
        assert!(
            replay_episode(&json!({"steps": 3}), &mut Coverage::default(), true, 10)
                .unwrap_err()
                .contains("steps")
        );
    }
}
