//! Order edges (process and real time) and the cycle search with its
//! classification (Adya's G0, G1c, G-single, G-nonadjacent, G2-item, and
//! their `-process` and `-realtime` variants).
//!
//! The search goes from the strongest anomaly to the weakest, each in the
//! strongly connected components of the edges it may use: G0 in the
//! components of ww edges, G1c in those of ww and wr, G-single by closing
//! each rw edge with ww and wr only, G-nonadjacent and G2-item by closing
//! rw edges with any data edge. Only then are process edges, and then
//! real-time edges, allowed: a cycle that needs one of them is its
//! variant (`G-single-realtime`: fine under serializability, not under
//! strict serializability). Every component of the data edges yields at
//! least one cycle; the number of searches per component and the edge
//! visits overall are bounded, so the search always ends.

use super::graph::{
    kind_name, pick, Builder, Graph, Kinds, Searcher, DATA, PROCESS, REALTIME, RW, WR, WW,
};
use super::parse::{Outcome, Txns};
use super::{CycleType, Order};

/// One cycle found: the transactions in order (the last links back to
/// the first) and the kind each step is explained by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Its class.
    pub kind: CycleType,
    /// Which order edges it needs.
    pub order: Order,
    /// The transactions (indices into the txn list), `nodes[i] →
    /// nodes[i+1]`, and the last back to the first.
    pub nodes: Vec<usize>,
    /// The kind of each step.
    pub steps: Vec<Kinds>,
}

/// Add process order and real-time order to `g`: consecutive transactions
/// of one process; and for real time, from each committed transaction to
/// those invoked after it completed — only to those not already reached
/// through another such edge (the frontier of completed transactions),
/// which keeps the edges about (transactions × concurrency).
pub fn add_order_edges(t: &Txns, g: &mut Builder) {
    // Process order.
    let mut last: rustc_hash::FxHashMap<u64, usize> = rustc_hash::FxHashMap::default();
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        if let Some(&p) = last.get(&txn.process) {
            g.link(p, i, PROCESS);
        }
        last.insert(txn.process, i);
    }
    // Real time, in history order of invokes and completions.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(t.txns.len() * 2);
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.outcome == Outcome::Fail {
            continue;
        }
        events.push((txn.invoke, false, i));
        if let (Outcome::Ok, Some(c)) = (txn.outcome, txn.complete) {
            events.push((c, true, i));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<usize> = Vec::new();
    let mut preds: rustc_hash::FxHashMap<usize, Vec<usize>> = rustc_hash::FxHashMap::default();
    for (_, completes, i) in events {
        if completes {
            if let Some(p) = preds.remove(&i) {
                frontier.retain(|f| !p.contains(f));
            }
            frontier.push(i);
        } else {
            for &f in &frontier {
                g.link(f, i, REALTIME);
            }
            if t.txns[i].outcome == Outcome::Ok {
                preds.insert(i, frontier.clone());
            }
        }
    }
}

/// Classify a cycle by its steps: no rw → G0 (ww only) or G1c; one rw →
/// G-single; more, none adjacent → G-nonadjacent, else G2-item; the order
/// is the strongest order edge it needs.
pub fn classify(steps: &[Kinds]) -> (CycleType, Order) {
    let rw: Vec<bool> = steps.iter().map(|&k| k == RW).collect();
    let n_rw = rw.iter().filter(|&&r| r).count();
    let kind = match n_rw {
        0 if steps
            .iter()
            .all(|&k| k == WW || k == PROCESS || k == REALTIME) =>
        {
            CycleType::G0
        }
        0 => CycleType::G1c,
        1 => CycleType::GSingle,
        _ => {
            let n = rw.len();
            let adjacent = (0..n).any(|i| rw[i] && rw[(i + 1) % n]);
            if adjacent {
                CycleType::G2Item
            } else {
                CycleType::GNonadjacent
            }
        }
    };
    let order = if steps.contains(&REALTIME) {
        Order::Realtime
    } else if steps.contains(&PROCESS) {
        Order::Process
    } else {
        Order::Data
    };
    (kind, order)
}

/// How hard the search works.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Edge visits in all searches together.
    pub budget: u64,
    /// Searches per component and class.
    pub tries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            budget: 50_000_000,
            tries: 32,
        }
    }
}

/// Search `g` for cycles; returns them, one per (component, class) at
/// most, and whether the budget ran out.
pub fn search(g: &Graph, limits: Limits) -> (Vec<Cycle>, bool) {
    let mut s = Searcher::new(g, limits.budget);
    let mut found: Vec<Cycle> = Vec::new();
    // Data edges first, then with process order, then with real time.
    let stages: [(Kinds, Kinds); 3] = [
        (DATA, 0),
        (DATA | PROCESS, PROCESS),
        (DATA | PROCESS | REALTIME, REALTIME),
    ];
    // The data components, and the G0 / G1c components inside them.
    let data = g.sccs(DATA);
    let mut comp_of = vec![usize::MAX; g.len()];
    for (i, c) in data.iter().enumerate() {
        for &v in c {
            comp_of[v] = i;
        }
    }
    let mut ww: Vec<Vec<Vec<usize>>> = vec![Vec::new(); data.len()];
    for sub in g.sccs(WW) {
        ww[comp_of[sub[0]]].push(sub);
    }
    let mut wwr: Vec<Vec<Vec<usize>>> = vec![Vec::new(); data.len()];
    for sub in g.sccs(WW | WR) {
        wwr[comp_of[sub[0]]].push(sub);
    }
    for (mask, needed) in stages {
        let comps = if needed == 0 {
            data.clone()
        } else {
            g.sccs(mask)
        };
        for (ci, comp) in comps.iter().enumerate() {
            let before = found.len();
            let mut classes: Vec<(CycleType, Order)> = Vec::new();
            let mut keep = |c: Option<Cycle>, found: &mut Vec<Cycle>| {
                if let Some(c) = c {
                    if !classes.contains(&(c.kind, c.order)) {
                        classes.push((c.kind, c.order));
                        found.push(c);
                    }
                }
            };
            if needed == 0 {
                for sub in &ww[ci] {
                    s.confine(sub);
                    keep(close_any(g, &mut s, sub, WW, WW, limits.tries), &mut found);
                }
                for sub in &wwr[ci] {
                    s.confine(sub);
                    keep(
                        close_any(g, &mut s, sub, WR, WW | WR, limits.tries),
                        &mut found,
                    );
                }
                s.confine(comp);
                keep(
                    close_any(g, &mut s, comp, RW, WW | WR, limits.tries),
                    &mut found,
                );
                keep(
                    close_any(g, &mut s, comp, RW, DATA, limits.tries),
                    &mut found,
                );
                if found.len() == before && s.budget > 0 {
                    // Every component holds a cycle: one through any edge.
                    keep(
                        close_any(g, &mut s, comp, mask, mask, usize::MAX),
                        &mut found,
                    );
                }
            } else {
                // Cycles that need an order edge: close each such edge.
                s.confine(comp);
                keep(
                    close_any(g, &mut s, comp, needed, mask, limits.tries),
                    &mut found,
                );
            }
        }
    }
    (found, s.budget == 0)
}

/// A shortest cycle through an edge `a → b` of kind `first` (with no
/// stronger kind of the stage's mask, so the step is explained by it)
/// inside `nodes`, closed by a path `b → a` over `mask`; tries up to
/// `tries` edges.
fn close_any(
    g: &Graph,
    s: &mut Searcher<'_>,
    nodes: &[usize],
    first: Kinds,
    mask: Kinds,
    tries: usize,
) -> Option<Cycle> {
    let allowed = mask | first;
    let mut left = tries;
    for &a in nodes {
        for (b, k) in g.out(a) {
            if left == 0 || s.budget == 0 {
                return None;
            }
            if pick(k, allowed) & first == 0 || nodes.binary_search(&b).is_err() {
                continue;
            }
            left -= 1;
            if let Some(path) = s.path(b, a, mask) {
                let mut cycle = vec![a];
                cycle.extend(path.iter().take(path.len() - 1));
                let steps: Vec<Kinds> = (0..cycle.len())
                    .map(|i| {
                        let (x, y) = (cycle[i], cycle[(i + 1) % cycle.len()]);
                        pick(g.kinds(x, y), allowed)
                    })
                    .collect();
                let (kind, order) = classify(&steps);
                return Some(Cycle {
                    kind,
                    order,
                    nodes: cycle,
                    steps,
                });
            }
        }
    }
    None
}

/// `ww`, `wr`... of a step.
pub fn step_name(k: Kinds) -> &'static str {
    kind_name(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_adya() {
        assert_eq!(classify(&[WW, WW]), (CycleType::G0, Order::Data));
        assert_eq!(classify(&[WW, WR]), (CycleType::G1c, Order::Data));
        assert_eq!(classify(&[WR, RW]), (CycleType::GSingle, Order::Data));
        assert_eq!(
            classify(&[RW, WR, RW, WR]),
            (CycleType::GNonadjacent, Order::Data)
        );
        assert_eq!(classify(&[RW, RW]), (CycleType::G2Item, Order::Data));
        assert_eq!(classify(&[RW, WW, RW]), (CycleType::G2Item, Order::Data));
        assert_eq!(
            classify(&[RW, REALTIME]),
            (CycleType::GSingle, Order::Realtime)
        );
        assert_eq!(classify(&[WW, PROCESS]), (CycleType::G0, Order::Process));
    }

    #[test]
    fn the_search_reports_the_strongest_class_first() {
        // 0 -ww-> 1 -ww-> 0: G0; 2 -wr-> 3 -rw-> 2: G-single.
        let mut b = Builder::new(4);
        b.link(0, 1, WW);
        b.link(1, 0, WW);
        b.link(2, 3, WR);
        b.link(3, 2, RW);
        let (c, out) = search(&b.build(), Limits::default());
        assert!(!out);
        let kinds: Vec<CycleType> = c.iter().map(|c| c.kind).collect();
        assert!(kinds.contains(&CycleType::G0), "{c:?}");
        assert!(kinds.contains(&CycleType::GSingle), "{c:?}");
        assert_eq!(c.len(), 2, "{c:?}");
    }

    #[test]
    fn a_cycle_needing_real_time_is_its_variant_only() {
        let mut b = Builder::new(2);
        b.link(0, 1, RW);
        b.link(1, 0, REALTIME);
        let (c, _) = search(&b.build(), Limits::default());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].kind, c[0].order),
            (CycleType::GSingle, Order::Realtime)
        );
    }

    #[test]
    fn an_acyclic_graph_has_no_cycles() {
        let mut b = Builder::new(3);
        b.link(0, 1, WW);
        b.link(1, 2, RW);
        b.link(0, 2, REALTIME);
        let (c, _) = search(&b.build(), Limits::default());
        assert!(c.is_empty());
    }
}
