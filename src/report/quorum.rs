//! How much of the main phase a quorum was up: the share of time in which
//! a majority of the cluster's nodes were running and could all reach each
//! other, computed from the nemesis's fault intervals alone.
//!
//! A valid verdict means something only if the system was asked to work:
//! a run whose cluster was dead or cut to pieces most of the time checked
//! little (issue 13: five nodes killed for the last 40 s of 60 s, and the
//! run said "valid"). The summary shows this share and warns below
//! [`LOW_QUORUM_SHARE`].
//!
//! The rules, from what each start op's completion says it did: a node is
//! down while a `kill` or `pause` that hit it is in force (`killed` /
//! `paused` in the value); two nodes cannot reach each other while a
//! partition's grudge has either drop the other (a one-way cut breaks a
//! round trip too); a quorum is up when some set of at least `n / 2 + 1` up
//! nodes can all reach each other. Packet loss and clock faults slow or
//! confuse a cluster without cutting it, and count as up. A fault whose
//! start op failed (`info`) is not counted: what it did is unknown. The
//! election choreographies kill, pause and cut nodes inside one op, and
//! their steps are not modelled here: they count as up.

use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use serde_json::Value;
use std::collections::BTreeSet;

/// Below this share of the main phase with a quorum up, the summary warns
/// that the verdict says little.
pub const LOW_QUORUM_SHARE: f64 = 0.5;

/// The largest cluster for which the exact search runs; beyond it the
/// share is not computed (`None`), rather than guessed.
const MAX_NODES: usize = 64;

/// The share (0 to 1) of the `main` phase with a quorum of `nodes` up,
/// given the fault `intervals` (times in the history's clock). `None`
/// when there is no main phase of positive length, or no nodes.
pub fn quorum_share(
    nodes: &[String],
    intervals: &[FaultInterval],
    phases: &[Phase],
) -> Option<f64> {
    let main = phases.iter().find(|p| p.name == "main")?;
    if main.end <= main.start || nodes.is_empty() || nodes.len() > MAX_NODES {
        return None;
    }
    let faults: Vec<Effect> = intervals
        .iter()
        .filter(|iv| iv.ok)
        .filter_map(|iv| Effect::of(iv, nodes))
        .collect();
    // The state only changes at a fault's start or end: check each stretch
    // between two such instants once.
    let mut cuts: BTreeSet<u64> = [main.start, main.end].into();
    for f in &faults {
        for t in [Some(f.start), f.end].into_iter().flatten() {
            if t > main.start && t < main.end {
                cuts.insert(t);
            }
        }
    }
    let cuts: Vec<u64> = cuts.into_iter().collect();
    let mut up_ns = 0u64;
    for w in cuts.windows(2) {
        let (from, to) = (w[0], w[1]);
        let in_force: Vec<&Effect> = faults
            .iter()
            .filter(|f| f.start <= from && f.end.is_none_or(|e| e > from))
            .collect();
        if quorum_up(nodes.len(), &in_force) {
            up_ns += to - from;
        }
    }
    Some(up_ns as f64 / (main.end - main.start) as f64)
}

/// What one fault does to the cluster, as node indexes.
struct Effect {
    start: u64,
    end: Option<u64>,
    /// Nodes not running.
    down: Vec<usize>,
    /// Pairs that cannot reach each other.
    cut: Vec<(usize, usize)>,
}

impl Effect {
    fn of(iv: &FaultInterval, nodes: &[String]) -> Option<Effect> {
        let index = |v: &Value| v.as_str().and_then(|n| nodes.iter().position(|x| x == n));
        let list = |key: &str| -> Vec<usize> {
            iv.value
                .get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(index).collect())
                .unwrap_or_default()
        };
        let (down, cut) = match iv.f.as_str() {
            "kill" => (list("killed"), Vec::new()),
            "pause" => (list("paused"), Vec::new()),
            "start-partition" => {
                let mut cut = Vec::new();
                if let Some(g) = iv.value.get("grudge").and_then(Value::as_object) {
                    for (node, drops) in g {
                        let Some(a) = nodes.iter().position(|x| x == node) else {
                            continue;
                        };
                        for b in drops.as_array().into_iter().flatten().filter_map(index) {
                            cut.push((a, b));
                        }
                    }
                }
                (Vec::new(), cut)
            }
            _ => return None,
        };
        Some(Effect {
            start: iv.start,
            end: iv.end,
            down,
            cut,
        })
    }
}

/// True when at least a majority of the `n` nodes are up and pairwise
/// reachable under the faults `in_force`.
fn quorum_up(n: usize, in_force: &[&Effect]) -> bool {
    let majority = n / 2 + 1;
    let mut up = vec![true; n];
    let mut reach = vec![vec![true; n]; n];
    for f in in_force {
        for &d in &f.down {
            up[d] = false;
        }
        for &(a, b) in &f.cut {
            reach[a][b] = false;
            reach[b][a] = false;
        }
    }
    let candidates: Vec<usize> = (0..n).filter(|&i| up[i]).collect();
    clique_of_size(&candidates, &reach, majority, &mut Vec::new())
}

/// Is there a set of `need` nodes among `cands` (plus those in `chosen`)
/// that all reach each other? A plain backtracking search: clusters are
/// small, and the bound `chosen + cands < need` prunes early.
fn clique_of_size(
    cands: &[usize],
    reach: &[Vec<bool>],
    need: usize,
    chosen: &mut Vec<usize>,
) -> bool {
    if chosen.len() >= need {
        return true;
    }
    for (i, &c) in cands.iter().enumerate() {
        if chosen.len() + cands.len() - i < need {
            return false;
        }
        let rest: Vec<usize> = cands[i + 1..]
            .iter()
            .copied()
            .filter(|&o| reach[c][o])
            .collect();
        chosen.push(c);
        let found = clique_of_size(&rest, reach, need, chosen);
        chosen.pop();
        if found {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: u64 = 1_000_000_000;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn main(secs: u64) -> Vec<Phase> {
        vec![Phase {
            name: "main".into(),
            start: 0,
            end: secs * S,
        }]
    }

    fn fault(f: &str, value: Value, from: u64, to: Option<u64>) -> FaultInterval {
        FaultInterval {
            f: f.into(),
            value,
            start: from * S,
            end: to.map(|t| t * S),
            stop_f: None,
            ok: true,
        }
    }

    fn share(n: usize, ivs: &[FaultInterval], secs: u64) -> f64 {
        quorum_share(&nodes(n), ivs, &main(secs)).unwrap()
    }

    #[test]
    fn no_faults_is_all_up_and_no_main_phase_is_none() {
        assert_eq!(share(5, &[], 60), 1.0);
        assert_eq!(quorum_share(&nodes(5), &[], &[]), None);
    }

    /// The run of issue 13: every node killed at 18 s of 60, never
    /// restarted before the end.
    #[test]
    fn all_killed_for_the_last_40_s_of_60_leaves_a_third() {
        let ivs = [fault(
            "kill",
            json!({"target": "all", "killed": nodes(5)}),
            20,
            None,
        )];
        let s = share(5, &ivs, 60);
        assert!((s - 1.0 / 3.0).abs() < 1e-9, "{s}");
        assert!(s < LOW_QUORUM_SHARE);
    }

    #[test]
    fn a_minority_down_keeps_a_quorum_a_majority_down_does_not() {
        let minority = [fault("kill", json!({"killed": ["n1", "n2"]}), 0, Some(60))];
        assert_eq!(share(5, &minority, 60), 1.0);
        let majority = [fault(
            "pause",
            json!({"paused": ["n1", "n2", "n3"]}),
            0,
            Some(30),
        )];
        assert_eq!(share(5, &majority, 60), 0.5);
    }

    #[test]
    fn overlapping_faults_combine_a_kill_and_a_partition() {
        // n1, n2 killed; {n3} cut from {n4, n5}: 2 up nodes reach each
        // other, not 3. Over 10..20 only.
        let ivs = [
            fault("kill", json!({"killed": ["n1", "n2"]}), 0, Some(20)),
            fault(
                "start-partition",
                json!({"kind": "isolate-one", "grudge": {"n3": ["n1", "n2", "n4", "n5"],
                    "n4": ["n3"], "n5": ["n3"], "n1": ["n3"], "n2": ["n3"]}}),
                10,
                Some(40),
            ),
        ];
        assert_eq!(share(5, &ivs, 40), 0.75);
    }

    #[test]
    fn a_majorities_ring_leaves_no_node_set_that_all_reach_each_other() {
        // Each node sees itself and its two ring neighbours: 3 of 5, but
        // no 3 of them see each other.
        let g = json!({"n1": ["n3", "n4"], "n2": ["n4", "n5"], "n3": ["n5", "n1"],
                       "n4": ["n1", "n2"], "n5": ["n2", "n3"]});
        let ivs = [fault("start-partition", json!({"grudge": g}), 0, None)];
        assert_eq!(share(5, &ivs, 10), 0.0);
        // A one-way cut of two nodes from three leaves the three.
        let g = json!({"n1": ["n3", "n4", "n5"], "n2": ["n3", "n4", "n5"]});
        let ivs = [fault("start-partition", json!({"grudge": g}), 0, None)];
        assert_eq!(share(5, &ivs, 10), 1.0);
    }

    #[test]
    fn failed_starts_loss_and_clock_faults_do_not_count() {
        let mut failed = fault("kill", json!({"target": "all"}), 0, None);
        failed.ok = false;
        let ivs = [
            failed,
            fault("start-loss", json!({"nodes": nodes(5)}), 0, None),
            fault("bump-clock", json!({}), 0, None),
        ];
        assert_eq!(share(5, &ivs, 10), 1.0);
    }
}
