//! Which nodes a fault hits: `one`, `leader`, `minority`, `majority`, `all`.
//!
//! The schedule draws a `pick` (a u64) from the run's seeded RNG and puts it
//! in the op's value; [`resolve`] turns target + pick + the live node list
//! into concrete nodes. So the same seed gives the same choices while the
//! schedule itself needs no node names, and the completion value records the
//! concrete nodes.

use super::NemesisError;
use crate::db::Cluster;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// A choice of nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// One random node.
    One,
    /// The node(s) that believe they lead (none when there is no leader).
    Leader,
    /// A random minority: `max(1, (n-1)/2)` nodes.
    Minority,
    /// A random majority: `n/2 + 1` nodes.
    Majority,
    /// Every node.
    All,
}

impl Target {
    /// Every target, in documentation order.
    pub const ALL: [Target; 5] = [
        Target::One,
        Target::Leader,
        Target::Minority,
        Target::Majority,
        Target::All,
    ];

    /// Its name in YAML and op values.
    pub fn name(self) -> &'static str {
        match self {
            Target::One => "one",
            Target::Leader => "leader",
            Target::Minority => "minority",
            Target::Majority => "majority",
            Target::All => "all",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!("unknown target {s:?}; valid: one, leader, minority, majority, all")
            })
    }
}

/// The deterministic RNG of one op, from its pick.
pub fn rng_for(pick: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(pick)
}

/// The `pick` of an op value (0 when absent).
pub fn pick_of(value: &Value) -> u64 {
    value.get("pick").and_then(Value::as_u64).unwrap_or(0)
}

/// The nodes `target` designates among `nodes`, given the current
/// `primaries`; the order of the result follows `nodes`.
pub fn resolve(target: Target, nodes: &[String], primaries: &[String], pick: u64) -> Vec<String> {
    let mut rng = rng_for(pick);
    let mut shuffled: Vec<&String> = nodes.iter().collect();
    shuffled.shuffle(&mut rng);
    let n = nodes.len();
    let chosen: Vec<&String> = match target {
        Target::One => shuffled.into_iter().take(1).collect(),
        Target::Leader => {
            return nodes
                .iter()
                .filter(|x| primaries.contains(x))
                .cloned()
                .collect()
        }
        Target::Minority => shuffled
            .into_iter()
            .take(((n.saturating_sub(1)) / 2).max(1).min(n))
            .collect(),
        Target::Majority => shuffled.into_iter().take((n / 2 + 1).min(n)).collect(),
        Target::All => shuffled,
    };
    nodes
        .iter()
        .filter(|x| chosen.contains(x))
        .cloned()
        .collect()
}

/// The target an op's `value` names (`default` when it names none) and
/// the nodes of `cluster` it designates now; a bad name is an error of
/// `nemesis`.
pub fn nodes_of_op(
    cluster: &Cluster,
    value: &Value,
    default: Target,
    nemesis: &str,
) -> Result<(Target, Vec<String>), NemesisError> {
    let target = match value.get("target").and_then(Value::as_str) {
        Some(t) => t.parse::<Target>().map_err(|reason| NemesisError::BadOp {
            nemesis: nemesis.into(),
            reason,
        })?,
        None => default,
    };
    let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let primaries = if target == Target::Leader {
        cluster.db.primaries(cluster)
    } else {
        Vec::new()
    };
    Ok((target, resolve(target, &names, &primaries, pick_of(value))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn sizes_follow_the_names() {
        let ns = nodes(5);
        assert_eq!(resolve(Target::One, &ns, &[], 7).len(), 1);
        assert_eq!(resolve(Target::Minority, &ns, &[], 7).len(), 2);
        assert_eq!(resolve(Target::Majority, &ns, &[], 7).len(), 3);
        assert_eq!(resolve(Target::All, &ns, &[], 7), ns);
        assert_eq!(resolve(Target::Minority, &nodes(3), &[], 7).len(), 1);
    }

    #[test]
    fn leader_is_the_primaries_or_nothing() {
        let ns = nodes(3);
        assert_eq!(resolve(Target::Leader, &ns, &["n2".into()], 1), vec!["n2"]);
        assert!(resolve(Target::Leader, &ns, &[], 1).is_empty());
        // A primary that is not a cluster node is ignored.
        assert!(resolve(Target::Leader, &ns, &["x".into()], 1).is_empty());
    }

    #[test]
    fn same_pick_same_nodes_different_picks_vary() {
        let ns = nodes(5);
        assert_eq!(
            resolve(Target::Minority, &ns, &[], 42),
            resolve(Target::Minority, &ns, &[], 42)
        );
        let distinct: std::collections::BTreeSet<_> =
            (0..50).map(|p| resolve(Target::One, &ns, &[], p)).collect();
        assert!(distinct.len() > 1);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for t in Target::ALL {
            assert_eq!(t.name().parse::<Target>(), Ok(t));
        }
        assert!("some".parse::<Target>().unwrap_err().contains("minority"));
    }
}
