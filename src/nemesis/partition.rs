//! Network partitions: iptables rules inside the node namespaces.
//!
//! A partition is a *grudge*: for each node, the nodes whose packets it
//! drops (Jepsen's term). When `a` holds a grudge against `b`, every packet
//! from `b` is dropped in `a`'s namespace (`-s b -j DROP` in
//! [`PARTITION_CHAIN`], hooked from INPUT), and in `b`'s namespace TCP
//! towards `a` is refused on the way out (`-d a -p tcp -j REJECT
//! --reject-with tcp-reset` in [`PARTITION_OUT_CHAIN`], hooked from OUTPUT).
//!
//! Why the reset, and why on the sender's side: a dropped TCP segment is
//! retransmitted with exponential backoff, so a connection caught by a
//! partition may stay silent for seconds after the heal — longer than the
//! fault lasted. A reset makes the sender's connect or send fail at once,
//! and its next attempt after the heal goes straight through. Rejecting on
//! the receiver's INPUT instead would not work for the common symmetric
//! partition: the reset travels back to the sender, whose own rule drops it
//! as a packet from the other side. (The locally generated reset also
//! carries the peer's address as its source; it arrives on `lo`, which the
//! INPUT chain lets through first.) Non-TCP traffic is simply dropped.
//! Traffic from the harness (clients, 10.213.7.1) is never affected.
//!
//! Kinds: `random-halves`, `isolate-one`, `isolate-leader`,
//! `majorities-ring`, `bridge`, `one-way`. `start-partition` takes
//! `{"kind": K, "pick": N}` and returns the grudge it applied;
//! `stop-partition` flushes the rules on every node.

use super::family::{needs_nothing, Ask, Family, Member};
use super::iptables::{self, PARTITION_CHAIN, PARTITION_OUT_CHAIN};
use super::target::{pick_of, rng_for};
use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// For each node, the nodes whose packets it drops.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// A shape of partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// Two random halves that cannot talk to each other.
    RandomHalves,
    /// One random node cut off from all others.
    IsolateOne,
    /// The current leader cut off from all others.
    IsolateLeader,
    /// Each node sees a majority, no two nodes the same majority.
    MajoritiesRing,
    /// Two halves joined only by one node that sees both.
    Bridge,
    /// Half the nodes drop what the other half sends; the other way works.
    OneWay,
}

impl PartitionKind {
    /// Every kind, in documentation order.
    pub const ALL: [PartitionKind; 6] = [
        PartitionKind::RandomHalves,
        PartitionKind::IsolateOne,
        PartitionKind::IsolateLeader,
        PartitionKind::MajoritiesRing,
        PartitionKind::Bridge,
        PartitionKind::OneWay,
    ];

    /// Its name in YAML and op values.
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::RandomHalves => "random-halves",
            PartitionKind::IsolateOne => "isolate-one",
            PartitionKind::IsolateLeader => "isolate-leader",
            PartitionKind::MajoritiesRing => "majorities-ring",
            PartitionKind::Bridge => "bridge",
            PartitionKind::OneWay => "one-way",
        }
    }
}

impl fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PartitionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PartitionKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown partition {s:?}; valid: random-halves, isolate-one, isolate-leader, \
                     majorities-ring, bridge, one-way"
                )
            })
    }
}

/// The grudge that cuts the components off from each other: every node
/// drops every node outside its own component.
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let mut g = Grudge::new();
    for (i, comp) in components.iter().enumerate() {
        let others: BTreeSet<String> = components
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        for n in comp {
            if !others.is_empty() {
                g.insert(n.clone(), others.clone());
            }
        }
    }
    g
}

/// Each node sees itself and its nearest neighbours on a shuffled ring, a
/// majority in all; for an odd node count no two nodes see the same set.
pub fn majorities_ring(ring: &[String]) -> Grudge {
    let n = ring.len();
    let mut g = Grudge::new();
    if n < 3 {
        return g;
    }
    let majority = n / 2 + 1;
    let reach = (majority - 1).div_ceil(2);
    for (i, node) in ring.iter().enumerate() {
        let mut drops = BTreeSet::new();
        for (j, other) in ring.iter().enumerate() {
            let d = (i as isize - j as isize).unsigned_abs();
            let dist = d.min(n - d);
            if dist > reach {
                drops.insert(other.clone());
            }
        }
        if !drops.is_empty() {
            g.insert(node.clone(), drops);
        }
    }
    g
}

/// The grudge of `kind` over `nodes`, drawing from `pick`. `Err` explains
/// why nothing can be done (no leader, too few nodes).
pub fn grudge_for(
    kind: PartitionKind,
    nodes: &[String],
    primaries: &[String],
    pick: u64,
) -> Result<Grudge, String> {
    let mut rng = rng_for(pick);
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(&mut rng);
    let n = nodes.len();
    if n < 2 {
        return Err(format!(
            "{kind} needs at least 2 nodes, the cluster has {n}"
        ));
    }
    Ok(match kind {
        PartitionKind::RandomHalves => {
            let (a, b) = shuffled.split_at(n / 2);
            complete_grudge(&[a.to_vec(), b.to_vec()])
        }
        PartitionKind::IsolateOne => {
            let (a, b) = shuffled.split_at(1);
            complete_grudge(&[a.to_vec(), b.to_vec()])
        }
        PartitionKind::IsolateLeader => {
            let leaders: Vec<String> = nodes
                .iter()
                .filter(|x| primaries.contains(x))
                .cloned()
                .collect();
            if leaders.is_empty() {
                return Err("no node claims to lead; nothing isolated".into());
            }
            let rest: Vec<String> = nodes
                .iter()
                .filter(|x| !leaders.contains(x))
                .cloned()
                .collect();
            // Several self-proclaimed leaders are each isolated on their own.
            let mut comps: Vec<Vec<String>> = leaders.into_iter().map(|l| vec![l]).collect();
            comps.push(rest);
            complete_grudge(&comps)
        }
        PartitionKind::MajoritiesRing => {
            if n < 3 {
                return Err(format!(
                    "majorities-ring needs at least 3 nodes, the cluster has {n}"
                ));
            }
            majorities_ring(&shuffled)
        }
        PartitionKind::Bridge => {
            if n < 3 {
                return Err(format!(
                    "bridge needs at least 3 nodes, the cluster has {n}"
                ));
            }
            let bridge = shuffled[0].clone();
            let rest = &shuffled[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            let mut g = complete_grudge(&[a.to_vec(), b.to_vec()]);
            g.remove(&bridge);
            g
        }
        PartitionKind::OneWay => {
            let (a, b) = shuffled.split_at(n / 2);
            let from: BTreeSet<String> = b.iter().cloned().collect();
            a.iter().map(|x| (x.clone(), from.clone())).collect()
        }
    })
}

/// The partition nemesis. Handles `start-partition` and `stop-partition`.
#[derive(Debug, Default)]
pub struct PartitionNemesis {
    /// Kinds the schedule may choose from (all when empty).
    pub kinds: Vec<PartitionKind>,
}

impl PartitionNemesis {
    /// A partition nemesis for these kinds.
    pub fn new(kinds: Vec<PartitionKind>) -> Self {
        PartitionNemesis { kinds }
    }

    fn heal(&self, cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
        Ok(iptables::flush_all(
            &cluster.nodes,
            &[PARTITION_CHAIN, PARTITION_OUT_CHAIN],
        )?)
    }

    fn apply(&self, cluster: &Cluster, grudge: &Grudge) -> Result<(), NemesisError> {
        let host = |name: &str| {
            cluster
                .node(name)
                .map(|n| n.host.clone())
                .ok_or_else(|| NemesisError::BadOp {
                    nemesis: "partition".into(),
                    reason: format!("grudge names unknown node {name:?}"),
                })
        };
        for node in &cluster.nodes {
            // First, let through what arrives on loopback: the resets our
            // own OUTPUT rejects generate carry the peer's source address.
            let mut drop_in = vec![iptables::rule(&["-i", "lo", "-j", "RETURN"])];
            for src in grudge.get(&node.name).into_iter().flatten() {
                drop_in.push(iptables::rule(&["-s", &host(src)?, "-j", "DROP"]));
            }
            let mut refuse_out = Vec::new();
            for (dst, drops) in grudge {
                if drops.contains(&node.name) {
                    refuse_out.push(iptables::reset_tcp("-d", &host(dst)?, &[]));
                }
            }
            if drop_in.len() > 1 {
                iptables::set_rules(node, PARTITION_CHAIN, &drop_in)?;
            }
            if !refuse_out.is_empty() {
                iptables::set_rules(node, PARTITION_OUT_CHAIN, &refuse_out)?;
            }
        }
        Ok(())
    }
}

/// The `leaders` that `grudge` leaves talking both ways with fewer than a
/// majority of `nodes` (themselves included): they can no longer commit.
pub fn leaders_cut_off(grudge: &Grudge, nodes: &[String], leaders: &[String]) -> Vec<String> {
    let hears = |a: &String, b: &String| !grudge.get(a).is_some_and(|d| d.contains(b));
    let majority = nodes.len() / 2 + 1;
    leaders
        .iter()
        .filter(|l| {
            let peers = nodes
                .iter()
                .filter(|b| *b == *l || (hears(l, b) && hears(b, l)))
                .count();
            peers < majority
        })
        .cloned()
        .collect()
}

fn grudge_json(g: &Grudge) -> Value {
    json!(g)
}

/// The partition family: the kinds in `partition.targets`, less
/// `isolate-leader` when the Db cannot tell its leader.
pub const FAMILY: Family = Family {
    name: "partition",
    scenario: false,
    needs_machines: true,
    starts: &["start-partition"],
    stop: "stop-partition",
    targets: None,
    requires: needs_nothing,
    build: member,
};

fn member(ask: Ask<'_>) -> Option<Member> {
    let asked = &ask.config.partition.targets;
    let kinds: Vec<PartitionKind> = asked
        .iter()
        .copied()
        .filter(|k| *k != PartitionKind::IsolateLeader || ask.caps.primaries)
        .collect();
    if kinds.len() < asked.len() {
        ask.skipped
            .push("partition isolate-leader: the Db cannot tell its leader".to_string());
    }
    if kinds.is_empty() {
        return None;
    }
    let names = kinds.iter().map(|k| k.name().to_string()).collect();
    Some(Member {
        starts: vec![(FAMILY.starts[0].to_string(), Some(("kind", names)))],
        nemesis: Box::new(PartitionNemesis::new(kinds)),
    })
}

impl Nemesis for PartitionNemesis {
    fn name(&self) -> &str {
        FAMILY.name
    }

    fn fs(&self) -> Vec<String> {
        FAMILY.fs()
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        iptables::ensure_chains(&cluster.nodes, &[PARTITION_CHAIN, PARTITION_OUT_CHAIN])?;
        self.heal(cluster).map(|_| ())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match op.f.as_str() {
            "start-partition" => {
                let kind = match op.value.get("kind").and_then(Value::as_str) {
                    Some(k) => {
                        k.parse::<PartitionKind>()
                            .map_err(|reason| NemesisError::BadOp {
                                nemesis: "partition".into(),
                                reason,
                            })?
                    }
                    None => self
                        .kinds
                        .first()
                        .copied()
                        .unwrap_or(PartitionKind::RandomHalves),
                };
                let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
                // Who led just before: every kind records the leaders it
                // cut off from a majority (a leader loss, whatever the kind).
                let primaries = cluster.db.primaries(cluster);
                // A new partition replaces the previous one.
                self.heal(cluster)?;
                match grudge_for(kind, &names, &primaries, pick_of(&op.value)) {
                    Ok(grudge) => {
                        self.apply(cluster, &grudge)?;
                        let cut = leaders_cut_off(&grudge, &names, &primaries);
                        Ok(
                            json!({"kind": kind.name(), "grudge": grudge_json(&grudge), "leaders": cut}),
                        )
                    }
                    Err(reason) => {
                        Ok(json!({"kind": kind.name(), "grudge": {}, "skipped": reason}))
                    }
                }
            }
            "stop-partition" => Ok(json!({"healed": self.heal(cluster)?})),
            other => Err(NemesisError::BadOp {
                nemesis: "partition".into(),
                reason: format!("unknown op f {other:?}"),
            }),
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.heal(cluster).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// Can `a` hear `b`?
    fn hears(g: &Grudge, a: &str, b: &str) -> bool {
        !g.get(a).is_some_and(|d| d.contains(b))
    }

    #[test]
    fn leaders_cut_off_are_those_left_without_a_two_way_majority() {
        let n = nodes(5);
        let leaders = vec!["n1".to_string()];
        // n1 isolated: cut off.
        let iso = grudge_for(PartitionKind::IsolateLeader, &n, &leaders, 0).unwrap();
        assert_eq!(leaders_cut_off(&iso, &n, &leaders), leaders);
        // No grudge: not cut off; a leader nobody named is never reported.
        assert!(leaders_cut_off(&Grudge::new(), &n, &leaders).is_empty());
        // n1 with n2, n3 on its side: a majority, not cut off.
        let mut g = Grudge::new();
        for (a, b) in [
            ("n1", "n4"),
            ("n1", "n5"),
            ("n2", "n4"),
            ("n2", "n5"),
            ("n3", "n4"),
            ("n3", "n5"),
        ] {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default().insert(a.to_string());
        }
        assert!(leaders_cut_off(&g, &n, &leaders).is_empty());
        // n4 leading on the minority side: cut off.
        assert_eq!(
            leaders_cut_off(&g, &n, &["n4".to_string()]),
            vec!["n4".to_string()]
        );
        // One way is enough to cut: n1 hears nobody (acks never arrive).
        let mut one_way = Grudge::new();
        one_way.insert(
            "n1".into(),
            ["n2", "n3", "n4", "n5"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        assert_eq!(leaders_cut_off(&one_way, &n, &leaders), leaders);
    }

    #[test]
    fn random_halves_is_symmetric_and_splits_in_two() {
        let g = grudge_for(PartitionKind::RandomHalves, &nodes(5), &[], 3).unwrap();
        assert_eq!(g.len(), 5);
        let sizes: BTreeSet<usize> = g.values().map(|d| d.len()).collect();
        assert_eq!(sizes, [2, 3].into_iter().collect());
        for (a, ds) in &g {
            for b in ds {
                assert!(!hears(&g, b, a), "{b} hears {a} although {a} drops {b}");
            }
        }
    }

    #[test]
    fn isolate_leader_cuts_the_leader_and_only_it() {
        let g = grudge_for(PartitionKind::IsolateLeader, &nodes(3), &["n2".into()], 0).unwrap();
        assert_eq!(
            g["n2"],
            ["n1", "n3"].map(String::from).into_iter().collect()
        );
        assert!(hears(&g, "n1", "n3") && hears(&g, "n3", "n1"));
        assert!(grudge_for(PartitionKind::IsolateLeader, &nodes(3), &[], 0).is_err());
    }

    #[test]
    fn majorities_ring_gives_each_node_a_distinct_majority() {
        let ns = nodes(5);
        let g = grudge_for(PartitionKind::MajoritiesRing, &ns, &[], 9).unwrap();
        let mut seen = BTreeSet::new();
        for n in &ns {
            let visible: BTreeSet<&String> = ns.iter().filter(|o| hears(&g, n, o)).collect();
            assert_eq!(visible.len(), 3, "{n} sees {visible:?}");
            assert!(seen.insert(visible), "two nodes see the same majority");
        }
        // Symmetric: a ring neighbour relation.
        for (a, ds) in &g {
            for b in ds {
                assert!(!hears(&g, b, a));
            }
        }
    }

    #[test]
    fn bridge_node_hears_everyone_and_the_sides_do_not_hear_each_other() {
        let ns = nodes(5);
        let g = grudge_for(PartitionKind::Bridge, &ns, &[], 4).unwrap();
        let bridges: Vec<&String> = ns.iter().filter(|n| !g.contains_key(*n)).collect();
        assert_eq!(bridges.len(), 1);
        for (a, ds) in &g {
            assert_eq!(ds.len(), 2, "{a} drops {ds:?}");
            assert!(!ds.contains(bridges[0]));
        }
    }

    #[test]
    fn one_way_drops_in_one_direction_only() {
        let g = grudge_for(PartitionKind::OneWay, &nodes(4), &[], 5).unwrap();
        assert_eq!(g.len(), 2);
        for (a, ds) in &g {
            for b in ds {
                assert!(!hears(&g, a, b) && hears(&g, b, a));
            }
        }
    }

    #[test]
    fn same_pick_same_grudge() {
        for k in PartitionKind::ALL {
            let a = grudge_for(k, &nodes(5), &["n1".into()], 11);
            let b = grudge_for(k, &nodes(5), &["n1".into()], 11);
            assert_eq!(a, b, "{k}");
        }
    }

    #[test]
    fn unknown_kind_is_rejected_naming_the_valid_ones() {
        let e = "halves".parse::<PartitionKind>().unwrap_err();
        assert!(e.contains("random-halves") && e.contains("one-way"));
    }
}
