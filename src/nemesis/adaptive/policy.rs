//! The adaptive nemesis's choices: from one [`Observation`], the run's
//! RNG and the [`Coverage`] map, the next action, its targets, how long
//! to hold it, and which moment to wait for next.
//!
//! [`decide`] is a pure function of (rng, observation, coverage): the same
//! seed and the same recorded observations give the same decisions, which
//! [`replay`] checks against a recorded episode. Coverage works as in
//! Mallory (Meng et al., CCS 2023): the abstract state of the cluster
//! (roles, moments, faults in force) paired with an action kind and its
//! target role is counted each time it is chosen, and the least-tried
//! pairs are preferred, so the search keeps trying combinations it has not
//! tried in this situation instead of repeating itself.

use super::observe::{Observation, Trigger};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A general-purpose fault action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Do nothing; watch.
    Wait,
    /// Undo every fault in force.
    Heal,
    /// SIGKILL a node; it stays down until `restart` or the heal.
    Kill,
    /// SIGKILL a node and restart it at once (crash-recovery).
    KillRestart,
    /// Restart every killed node.
    Restart,
    /// SIGSTOP a node.
    Pause,
    /// SIGCONT every paused node.
    Resume,
    /// Cut a node off from every other node.
    Isolate,
    /// Partition into halves with the leader on the minority side.
    SplitLeaderMinority,
    /// Partition into halves with the leader on the majority side.
    SplitLeaderMajority,
    /// Cut the link between two nodes.
    CutLink,
    /// A node rejects the connections one peer opens to it (one way).
    Block,
    /// Every node's wall clock jumps back by the same amount.
    ClockBack,
    /// One node's wall clock jumps (forward or back).
    ClockBump,
    /// Kill every node at once, then restart them all.
    CrashAll,
}

impl Action {
    /// Every action, in documentation order.
    pub const ALL: [Action; 15] = [
        Action::Wait,
        Action::Heal,
        Action::Kill,
        Action::KillRestart,
        Action::Restart,
        Action::Pause,
        Action::Resume,
        Action::Isolate,
        Action::SplitLeaderMinority,
        Action::SplitLeaderMajority,
        Action::CutLink,
        Action::Block,
        Action::ClockBack,
        Action::ClockBump,
        Action::CrashAll,
    ];

    /// The action's name in op values.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// It aims at one node chosen by role.
    fn aims(self) -> bool {
        matches!(
            self,
            Action::Kill
                | Action::KillRestart
                | Action::Pause
                | Action::Isolate
                | Action::CutLink
                | Action::Block
                | Action::ClockBump
        )
    }

    /// It moves clocks.
    fn clock(self) -> bool {
        matches!(self, Action::ClockBack | Action::ClockBump)
    }
}

/// Which node an aimed action hits, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The action aims at no node, or at all of them.
    None,
    /// The (highest-term) leader.
    Leader,
    /// A node that follows.
    Follower,
    /// A node that campaigns.
    Candidate,
    /// A follower behind the leader.
    Lagging,
    /// Any node that answers.
    Any,
}

/// Hold times to choose from, ms.
pub const HOLDS_MS: [u64; 4] = [200, 700, 1500, 3000];

/// Clock jumps to choose from, ms (negative: back).
pub const JUMPS_MS: [i64; 4] = [-60_000, -10_000, -2_000, 5_000];

/// One choice of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The action.
    pub action: Action,
    /// The role its target was chosen by.
    pub role: Role,
    /// The nodes it acts on (for a link: both ends; a block: the node
    /// that refuses, then the peer refused).
    pub targets: Vec<String>,
    /// Clock jump, ms, for clock actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump_ms: Option<i64>,
    /// How long to watch before the next decision, ms.
    pub hold_ms: u64,
    /// The moment to wait for before the next decision.
    pub next: Trigger,
    /// Why: the coverage key and how often it had been chosen.
    pub why: String,
}

/// How often each (abstract state, action, role) was chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Count per key `STATE|ACTION|ROLE`.
    pub seen: BTreeMap<String, u64>,
    /// Count per action, over every state: the tie-break, so actions
    /// take turns when the state is new.
    #[serde(default)]
    pub actions: BTreeMap<String, u64>,
}

impl Coverage {
    fn key(state: &str, a: Action, r: Role) -> String {
        format!("{state}|{}|{}", a.name(), role_name(r))
    }

    /// Times `(state, a, r)` was chosen.
    pub fn count(&self, state: &str, a: Action, r: Role) -> u64 {
        self.seen.get(&Self::key(state, a, r)).copied().unwrap_or(0)
    }

    /// Times `(state, a)` was chosen, whatever the role.
    pub fn count_action(&self, state: &str, a: Action) -> u64 {
        let prefix = format!("{state}|{}|", a.name());
        self.seen
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Times `a` was chosen, in any state.
    pub fn count_global(&self, a: Action) -> u64 {
        self.actions.get(&a.name()).copied().unwrap_or(0)
    }

    fn note(&mut self, state: &str, a: Action, r: Role) {
        *self.seen.entry(Self::key(state, a, r)).or_insert(0) += 1;
        *self.actions.entry(a.name()).or_insert(0) += 1;
    }
}

fn role_name(r: Role) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What the policy knows of the run besides the observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Clock faults apply to the Db.
    pub clock: bool,
    /// Chance in 100 of a uniform choice instead of the least-tried one.
    pub explore_pct: u32,
}

/// The nodes of `obs` a role designates.
fn nodes_of(obs: &Observation, role: Role) -> Vec<String> {
    let leader = obs.leader();
    let names = |f: &dyn Fn(&super::observe::NodeView) -> bool| -> Vec<String> {
        obs.nodes
            .iter()
            .filter(|n| f(n))
            .map(|n| n.name.clone())
            .collect()
    };
    match role {
        Role::None => Vec::new(),
        Role::Leader => leader.map(|l| vec![l.to_string()]).unwrap_or_default(),
        Role::Follower => names(&|n| n.role == "follower"),
        Role::Candidate => names(&|n| n.campaigning()),
        Role::Lagging => obs.lagging().into_iter().map(str::to_string).collect(),
        Role::Any => {
            if obs.blind() {
                // Degraded (the Db tells nothing): any node not known down
                // by our own doing.
                names(&|n| !obs.faults.killed.contains(&n.name))
            } else {
                names(&|n| n.up())
            }
        }
    }
}

/// The (action, role) pairs open in `obs`.
pub fn options(obs: &Observation, lim: Limits) -> Vec<(Action, Role)> {
    let n = obs.nodes.len();
    let down = obs.nodes.iter().filter(|x| !x.up()).count();
    let blind = obs.blind() && obs.faults.killed.len() < n;
    let mut out = Vec::new();
    for a in Action::ALL {
        let open = match a {
            Action::Wait | Action::CrashAll => true,
            Action::Heal => !obs.faults.none(),
            Action::Restart => !obs.faults.killed.is_empty(),
            Action::Resume => !obs.faults.paused.is_empty(),
            // Keep one node answering: a dead cluster shows nothing.
            Action::Kill | Action::Pause => blind || down + 1 < n,
            Action::SplitLeaderMinority | Action::SplitLeaderMajority => {
                n >= 3 && obs.leader().is_some()
            }
            Action::CutLink | Action::Block => n >= 2,
            _ => true,
        } && (!a.clock() || lim.clock);
        if !open {
            continue;
        }
        if a.aims() {
            let roles: &[Role] = if blind {
                &[Role::Any]
            } else {
                &[
                    Role::Leader,
                    Role::Follower,
                    Role::Candidate,
                    Role::Lagging,
                    Role::Any,
                ]
            };
            for &r in roles {
                if !nodes_of(obs, r).is_empty() {
                    out.push((a, r));
                }
            }
        } else {
            out.push((a, Role::None));
        }
    }
    out
}

/// The next decision from `obs`, noting it in `coverage`.
pub fn decide(
    rng: &mut impl Rng,
    obs: &Observation,
    coverage: &mut Coverage,
    lim: Limits,
) -> Decision {
    let state = obs.abstract_state();
    let opts = options(obs, lim);
    // First the action kind, then its role: an action aimed by five roles
    // is not five times likelier than crash-all. Least tried in this
    // state first, then least tried anywhere (so actions take turns in a
    // new state), then the role least tried for it here.
    let mut kinds: Vec<Action> = opts.iter().map(|&(a, _)| a).collect();
    kinds.dedup();
    let explore = rng.gen_range(0..100) < lim.explore_pct;
    let score = |a: Action| (coverage.count_action(&state, a), coverage.count_global(a));
    let least = kinds.iter().map(|&a| score(a)).min();
    let pool: Vec<Action> = if explore {
        kinds.clone()
    } else {
        kinds
            .iter()
            .copied()
            .filter(|&a| Some(score(a)) == least)
            .collect()
    };
    let action = pool.choose(rng).copied().unwrap_or(Action::Wait);
    let roles: Vec<Role> = opts
        .iter()
        .filter(|(a, _)| *a == action)
        .map(|&(_, r)| r)
        .collect();
    let least_role = roles
        .iter()
        .map(|&r| coverage.count(&state, action, r))
        .min()
        .unwrap_or(0);
    let role_pool: Vec<Role> = roles
        .iter()
        .copied()
        .filter(|&r| coverage.count(&state, action, r) == least_role)
        .collect();
    let role = role_pool.choose(rng).copied().unwrap_or(Role::None);
    let seen = coverage.count(&state, action, role);
    coverage.note(&state, action, role);
    let mut targets = Vec::new();
    if action.aims() {
        let mut cands = nodes_of(obs, role);
        cands.sort();
        if let Some(t) = cands.choose(rng) {
            targets.push(t.clone());
        }
        if matches!(action, Action::CutLink | Action::Block) {
            let mut others: Vec<String> = obs
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .filter(|x| !targets.contains(x))
                .collect();
            others.sort();
            if let Some(o) = others.choose(rng) {
                targets.push(o.clone());
            }
        }
    }
    if matches!(
        action,
        Action::SplitLeaderMinority | Action::SplitLeaderMajority
    ) {
        // The leader's side: the leader and a few others.
        if let Some(l) = obs.leader() {
            let n = obs.nodes.len();
            let side = if action == Action::SplitLeaderMinority {
                (n - 1) / 2
            } else {
                n / 2 + 1
            };
            let mut others: Vec<String> = obs
                .nodes
                .iter()
                .map(|x| x.name.clone())
                .filter(|x| x != l)
                .collect();
            others.shuffle(rng);
            others.truncate(side.saturating_sub(1));
            others.sort();
            targets.push(l.to_string());
            targets.extend(others);
        }
    }
    let jump_ms = match action {
        Action::ClockBack => Some(JUMPS_MS[rng.gen_range(0..3)]),
        Action::ClockBump => JUMPS_MS.choose(rng).copied(),
        _ => None,
    };
    let hold_ms = *HOLDS_MS.choose(rng).unwrap_or(&700);
    let next = *Trigger::ALL.choose(rng).unwrap_or(&Trigger::Now);
    let why = format!(
        "{state}|{}|{}: chosen {seen} time(s) before; {} of {} action(s) {}",
        action.name(),
        role_name(role),
        pool.len(),
        kinds.len(),
        if explore {
            "open (exploring)"
        } else {
            "least tried"
        },
    );
    Decision {
        action,
        role,
        targets,
        jump_ms,
        hold_ms,
        next,
        why,
    }
}

/// Decide again from recorded observations, in order, with the RNG of the
/// episode and the coverage map as it was when the episode began: the
/// decisions a replay of that episode makes (compare them with the
/// recorded ones).
pub fn replay(
    rng: &mut impl Rng,
    observations: &[Observation],
    coverage: &mut Coverage,
    lim: Limits,
) -> Vec<Decision> {
    observations
        .iter()
        .map(|o| decide(rng, o, coverage, lim))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::observe::tests::node;
    use super::super::observe::InForce;
    use super::*;
    use crate::nemesis::target::rng_for;

    fn obs(roles: &[&str]) -> Observation {
        Observation {
            ms: 0,
            nodes: roles
                .iter()
                .enumerate()
                .map(|(i, r)| node(&format!("n{}", i + 1), r, 2, 5, 5))
                .collect(),
            new_leader: false,
            faults: InForce::default(),
        }
    }

    const LIM: Limits = Limits {
        clock: true,
        explore_pct: 10,
    };

    fn feedback() -> Vec<Observation> {
        let mut a = obs(&["leader", "follower", "follower"]);
        a.new_leader = true;
        let mut b = obs(&["down", "candidate", "follower"]);
        b.faults.killed = vec!["n1".into()];
        let c = obs(&["follower", "leader", "candidate"]);
        vec![a, b, c.clone(), c.clone(), c]
    }

    #[test]
    fn same_seed_and_feedback_give_the_same_decisions() {
        let log = feedback();
        let first = replay(&mut rng_for(7), &log, &mut Coverage::default(), LIM);
        let again = replay(&mut rng_for(7), &log, &mut Coverage::default(), LIM);
        assert_eq!(first, again);
        assert_eq!(first.len(), log.len());
        // Another seed chooses otherwise somewhere.
        let other = replay(&mut rng_for(8), &log, &mut Coverage::default(), LIM);
        assert_ne!(first, other);
    }

    #[test]
    fn different_observations_change_the_decisions() {
        let log = feedback();
        let mut changed = log.clone();
        for o in &mut changed {
            o.nodes[0].role = "down".into();
            o.faults.paused = vec!["n1".into()];
        }
        let mut differ = 0;
        for seed in 0..10 {
            let a = replay(&mut rng_for(seed), &log, &mut Coverage::default(), LIM);
            let b = replay(&mut rng_for(seed), &changed, &mut Coverage::default(), LIM);
            differ += usize::from(a != b);
            // No decision aims at a node that was seen down.
            for d in &b {
                if matches!(d.action, Action::Kill | Action::Pause | Action::Isolate) {
                    assert!(!d.targets.contains(&"n1".to_string()), "{d:?}");
                }
            }
        }
        assert!(differ >= 8, "observations changed only {differ} of 10 runs");
    }

    #[test]
    fn coverage_prefers_an_untried_pair() {
        let o = obs(&["leader", "follower", "follower"]);
        let state = o.abstract_state();
        let lim = Limits {
            clock: true,
            explore_pct: 0,
        };
        let mut cov = Coverage::default();
        for (a, r) in options(&o, lim) {
            if (a, r) != (Action::ClockBack, Role::None) {
                cov.seen.insert(Coverage::key(&state, a, r), 3);
            }
        }
        for seed in 0..20 {
            let d = decide(&mut rng_for(seed), &o, &mut cov.clone(), lim);
            assert_eq!((d.action, d.role), (Action::ClockBack, Role::None));
            assert!(d.why.contains("chosen 0 time(s)"), "{}", d.why);
        }
        // Once tried, it is counted; tried more than the rest, it is avoided.
        let mut cov2 = cov.clone();
        decide(&mut rng_for(0), &o, &mut cov2, lim);
        assert_eq!(cov2.count(&state, Action::ClockBack, Role::None), 1);
        cov2.seen
            .insert(Coverage::key(&state, Action::ClockBack, Role::None), 4);
        let picks: std::collections::BTreeSet<Action> = (0..40)
            .map(|s| decide(&mut rng_for(s), &o, &mut cov2.clone(), lim).action)
            .collect();
        assert!(!picks.contains(&Action::ClockBack), "{picks:?}");
        assert!(picks.len() > 1, "{picks:?}");
    }

    #[test]
    fn without_clock_faults_no_clock_action_and_blind_runs_pick_any_node() {
        let lim = Limits {
            clock: false,
            explore_pct: 100,
        };
        let blind = obs(&["down", "down", "down"]);
        for seed in 0..50 {
            let d = decide(&mut rng_for(seed), &blind, &mut Coverage::default(), lim);
            assert!(!d.action.clock(), "{d:?}");
            assert!(matches!(d.role, Role::None | Role::Any), "{d:?}");
            if d.action.aims() {
                assert!(!d.targets.is_empty(), "{d:?}");
            }
        }
    }
}
