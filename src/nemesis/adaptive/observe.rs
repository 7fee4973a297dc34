//! What the adaptive nemesis sees: every node's consensus state, polled in
//! parallel with a bounded wait per node (a node that does not answer is
//! `down`), the faults the nemesis itself has in force, and the moments
//! derived from them (a new leader, an election, a follower behind, a
//! leader holding uncommitted entries, two leaders).
//!
//! An [`Observation`] is plain data, written into the history with every
//! decision, so the policy can be replayed from it alone.

use crate::db::{Cluster, ConsensusState};
use serde::{Deserialize, Serialize};

/// One node as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node's name.
    pub name: String,
    /// `leader`, `follower`, `candidate`, `pre-candidate`, or `down` (did
    /// not answer: killed, paused, or the Db cannot tell).
    pub role: String,
    /// Its term (0 when down).
    pub term: u64,
    /// Its commit index, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
    /// The index of its last log entry, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u64>,
}

impl NodeView {
    /// The view of `name` from what it answered (`None`: down).
    pub fn of(name: &str, st: Option<&ConsensusState>) -> Self {
        match st {
            Some(s) => NodeView {
                name: name.to_string(),
                role: s.role.clone(),
                term: s.term,
                commit: s.commit_index,
                last: s.last_index,
            },
            None => NodeView {
                name: name.to_string(),
                role: "down".into(),
                term: 0,
                commit: None,
                last: None,
            },
        }
    }

    /// It answered.
    pub fn up(&self) -> bool {
        self.role != "down"
    }

    /// It campaigns (candidate or pre-candidate).
    pub fn campaigning(&self) -> bool {
        self.role.contains("candidate")
    }
}

/// The faults the nemesis has in force (its own bookkeeping).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    /// Nodes killed and not restarted.
    pub killed: Vec<String>,
    /// Nodes paused and not resumed.
    pub paused: Vec<String>,
    /// Some link is cut or blocked.
    pub cut: bool,
    /// Some clock is moved.
    pub skewed: bool,
}

impl InForce {
    /// Nothing is in force.
    pub fn none(&self) -> bool {
        self.killed.is_empty() && self.paused.is_empty() && !self.cut && !self.skewed
    }
}

/// The cluster at one instant, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Milliseconds since the episode began (not used by the policy).
    pub ms: u64,
    /// Every node, in cluster order.
    pub nodes: Vec<NodeView>,
    /// A leader of a newer term than any seen before appeared since the
    /// previous observation.
    pub new_leader: bool,
    /// The faults in force.
    pub faults: InForce,
}

/// A moment the policy can wait for before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Act at once.
    Now,
    /// Some node leads.
    Leader,
    /// A leader of a newer term was just elected.
    NewLeader,
    /// Some node campaigns, or nobody leads.
    Election,
    /// A leader holds entries it has not committed.
    Uncommitted,
    /// A follower's log is behind the leader's.
    Lag,
}

impl Trigger {
    /// Every trigger, in documentation order.
    pub const ALL: [Trigger; 6] = [
        Trigger::Now,
        Trigger::Leader,
        Trigger::NewLeader,
        Trigger::Election,
        Trigger::Uncommitted,
        Trigger::Lag,
    ];

    /// Whether `obs` is this moment.
    pub fn fires(self, obs: &Observation) -> bool {
        match self {
            Trigger::Now => true,
            Trigger::Leader => obs.leaders().next().is_some(),
            Trigger::NewLeader => obs.new_leader,
            Trigger::Election => {
                obs.nodes.iter().any(NodeView::campaigning) || obs.leaders().next().is_none()
            }
            Trigger::Uncommitted => obs.uncommitted(),
            Trigger::Lag => !obs.lagging().is_empty(),
        }
    }
}

impl Observation {
    /// The nodes that claim to lead.
    pub fn leaders(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.iter().filter(|n| n.role == "leader")
    }

    /// The highest-term leader's name.
    pub fn leader(&self) -> Option<&str> {
        self.leaders()
            .max_by_key(|n| n.term)
            .map(|n| n.name.as_str())
    }

    /// A leader's last index is past its commit index.
    pub fn uncommitted(&self) -> bool {
        self.leaders()
            .any(|l| matches!((l.last, l.commit), (Some(a), Some(c)) if a > c))
    }

    /// Answering non-leaders whose log is shorter than the leader's.
    pub fn lagging(&self) -> Vec<&str> {
        let Some(top) = self.leaders().filter_map(|l| l.last).max() else {
            return Vec::new();
        };
        self.nodes
            .iter()
            .filter(|n| n.up() && n.role != "leader" && n.last.is_some_and(|x| x < top))
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Nobody answered: the Db cannot report consensus state (or every
    /// node is down).
    pub fn blind(&self) -> bool {
        !self.nodes.iter().any(NodeView::up)
    }

    /// The abstract state the coverage map counts: the roles pattern,
    /// the moments, the faults in force. Few enough values that pairs
    /// with actions repeat, distinct enough that new situations show.
    pub fn abstract_state(&self) -> String {
        let count = |f: &dyn Fn(&NodeView) -> bool| self.nodes.iter().filter(|n| f(n)).count();
        let l = count(&|n| n.role == "leader");
        let c = count(&|n| n.campaigning());
        let d = count(&|n| !n.up());
        let f = self.nodes.len() - l - c - d;
        let mut s = format!("L{l}C{c}F{f}D{d}");
        for (flag, name) in [
            (self.new_leader, "new"),
            (self.uncommitted(), "unc"),
            (!self.lagging().is_empty(), "lag"),
            (!self.faults.killed.is_empty(), "killed"),
            (!self.faults.paused.is_empty(), "paused"),
            (self.faults.cut, "cut"),
            (self.faults.skewed, "skew"),
        ] {
            if flag {
                s.push('+');
                s.push_str(name);
            }
        }
        s
    }
}

/// Poll every node of `cluster` at once (each bounded by the Db's own
/// status timeout); `max_term` is the highest leader term seen so far and
/// is raised by what this poll sees.
pub fn observe(cluster: &Cluster, faults: &InForce, max_term: &mut u64, ms: u64) -> Observation {
    let states: Vec<Option<ConsensusState>> = std::thread::scope(|s| {
        let handles: Vec<_> = cluster
            .nodes
            .iter()
            .map(|n| s.spawn(move || cluster.db.consensus_state(cluster, n)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    let nodes: Vec<NodeView> = cluster
        .nodes
        .iter()
        .zip(&states)
        .map(|(n, st)| NodeView::of(&n.name, st.as_ref()))
        .collect();
    let top = nodes
        .iter()
        .filter(|n| n.role == "leader")
        .map(|n| n.term)
        .max()
        .unwrap_or(0);
    let new_leader = top > *max_term;
    *max_term = (*max_term).max(top);
    Observation {
        ms,
        nodes,
        new_leader,
        faults: faults.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A node's view, for tests (also the policy's).
    pub(crate) fn node(name: &str, role: &str, term: u64, commit: u64, last: u64) -> NodeView {
        NodeView {
            name: name.into(),
            role: role.into(),
            term,
            commit: Some(commit),
            last: Some(last),
        }
    }

    #[test]
    fn moments_are_read_from_the_nodes_states() {
        let mut obs = Observation {
            ms: 0,
            nodes: vec![
                node("n1", "leader", 3, 10, 12),
                node("n2", "follower", 3, 10, 12),
                node("n3", "follower", 3, 8, 9),
            ],
            new_leader: false,
            faults: InForce::default(),
        };
        assert!(Trigger::Uncommitted.fires(&obs));
        assert!(Trigger::Lag.fires(&obs));
        assert_eq!(obs.lagging(), vec!["n3"]);
        assert!(!Trigger::Election.fires(&obs));
        assert!(!Trigger::NewLeader.fires(&obs));
        assert_eq!(obs.abstract_state(), "L1C0F2D0+unc+lag");
        obs.nodes[0] = NodeView::of("n1", None);
        obs.nodes[1].role = "candidate".into();
        obs.faults.killed = vec!["n1".into()];
        assert!(Trigger::Election.fires(&obs));
        assert!(!Trigger::Lag.fires(&obs) && !Trigger::Uncommitted.fires(&obs));
        assert_eq!(obs.abstract_state(), "L0C1F1D1+killed");
        assert!(!obs.blind());
    }
}
