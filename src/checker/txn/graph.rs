//! The dependency graph: transactions as nodes, edges labelled with why
//! one must precede the other, and the search for cycles in it.
//!
//! Edges are write-write ([`WW`]), write-read ([`WR`]), read-write
//! ([`RW`], an anti-dependency), process order ([`PROCESS`]) and real-time
//! order ([`REALTIME`]); one pair of transactions may be linked for several
//! reasons, so an edge carries a bit set. Strongly connected components
//! come from an iterative Tarjan (no recursion: a history of 100,000
//! transactions must not overflow the stack); cycles inside a component
//! come from breadth-first searches restricted to it, so each one found is
//! a shortest cycle through its first edge.

/// A bit set of edge kinds.
pub type Kinds = u8;
/// Write-write: the first wrote a version the second overwrote.
pub const WW: Kinds = 1;
/// Write-read: the second read what the first wrote.
pub const WR: Kinds = 2;
/// Read-write (anti-dependency): the first read a version the second
/// overwrote.
pub const RW: Kinds = 4;
/// Process order: the same process ran the first, then the second.
pub const PROCESS: Kinds = 8;
/// Real-time order: the first completed before the second was invoked.
pub const REALTIME: Kinds = 16;
/// The data dependencies.
pub const DATA: Kinds = WW | WR | RW;

/// The name of one edge kind.
pub fn kind_name(k: Kinds) -> &'static str {
    match k {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "?",
    }
}

/// The one kind of `kinds` a cycle step is explained by, among `allowed`:
/// the data dependencies first (ww, wr, then rw), then process, then real
/// time.
pub fn pick(kinds: Kinds, allowed: Kinds) -> Kinds {
    let k = kinds & allowed;
    [WW, WR, RW, PROCESS, REALTIME]
        .into_iter()
        .find(|b| k & b != 0)
        .unwrap_or(0)
}

/// Edges as they are found, any order, duplicates allowed; [`Builder::build`]
/// merges them into a [`Graph`].
#[derive(Debug, Default, Clone)]
pub struct Builder {
    n: usize,
    edges: Vec<(u32, u32, Kinds)>,
}

impl Builder {
    /// A graph of `n` nodes, no edges yet.
    pub fn new(n: usize) -> Self {
        Builder {
            n,
            edges: Vec::new(),
        }
    }

    /// Add `kind` to the edge `a → b` (self-loops are ignored: a
    /// transaction does not depend on itself).
    pub fn link(&mut self, a: usize, b: usize, kind: Kinds) {
        if a != b {
            self.edges.push((a as u32, b as u32, kind));
        }
    }

    /// The graph: one edge per ordered pair, its kinds merged, each node's
    /// edges sorted by target.
    pub fn build(mut self) -> Graph {
        self.edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let mut offsets = vec![0u32; self.n + 1];
        let mut targets: Vec<u32> = Vec::with_capacity(self.edges.len());
        let mut kinds: Vec<Kinds> = Vec::with_capacity(self.edges.len());
        let mut last: Option<(u32, u32)> = None;
        for (a, b, k) in self.edges {
            if last == Some((a, b)) {
                if let Some(x) = kinds.last_mut() {
                    *x |= k;
                }
                continue;
            }
            last = Some((a, b));
            offsets[a as usize + 1] += 1;
            targets.push(b);
            kinds.push(k);
        }
        for i in 0..self.n {
            offsets[i + 1] += offsets[i];
        }
        Graph {
            offsets,
            targets,
            kinds,
        }
    }
}

/// A directed graph over nodes `0..n` with labelled edges (compressed
/// rows: each node's edges are one slice, sorted by target).
#[derive(Debug, Default, Clone)]
pub struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    kinds: Vec<Kinds>,
}

impl Graph {
    /// Number of nodes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn range(&self, a: usize) -> std::ops::Range<usize> {
        self.offsets[a] as usize..self.offsets[a + 1] as usize
    }

    /// The kinds of edge `a → b` (0 when there is none).
    pub fn kinds(&self, a: usize, b: usize) -> Kinds {
        let r = self.range(a);
        match self.targets[r.clone()].binary_search(&(b as u32)) {
            Ok(i) => self.kinds[r.start + i],
            Err(_) => 0,
        }
    }

    /// The edges leaving `a`: targets and their kinds.
    pub fn out(&self, a: usize) -> impl Iterator<Item = (usize, Kinds)> + '_ {
        let r = self.range(a);
        self.targets[r.clone()]
            .iter()
            .zip(&self.kinds[r])
            .map(|(&t, &k)| (t as usize, k))
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// The strongly connected components of more than one node, using only
    /// edges with a kind in `mask`. Iterative Tarjan.
    pub fn sccs(&self, mask: Kinds) -> Vec<Vec<usize>> {
        const UNSEEN: u32 = u32::MAX;
        let n = self.len();
        let mut index = vec![UNSEEN; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<usize> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        // (node, position in its edge list)
        let mut work: Vec<(usize, usize)> = Vec::new();
        for root in 0..n {
            if index[root] != UNSEEN {
                continue;
            }
            work.push((root, 0));
            while let Some(&mut (v, ref mut pos)) = work.last_mut() {
                if *pos == 0 && index[v] == UNSEEN {
                    index[v] = next;
                    low[v] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[v] = true;
                }
                let r = self.range(v);
                let mut descended = false;
                while r.start + *pos < r.end {
                    let (w, k) = (self.targets[r.start + *pos], self.kinds[r.start + *pos]);
                    *pos += 1;
                    if k & mask == 0 {
                        continue;
                    }
                    let w = w as usize;
                    if index[w] == UNSEEN {
                        work.push((w, 0));
                        descended = true;
                        break;
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                }
                if descended {
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
        out
    }
}

/// Breadth-first searches confined to a set of nodes, reusing their
/// buffers; each search costs what it explores, and all of them together
/// stop at a budget of edge visits.
pub struct Searcher<'g> {
    graph: &'g Graph,
    member: Vec<u32>,
    member_stamp: u32,
    seen: Vec<u32>,
    parent: Vec<u32>,
    stamp: u32,
    queue: std::collections::VecDeque<usize>,
    /// Edge visits left before searches give up.
    pub budget: u64,
}

impl<'g> Searcher<'g> {
    /// Searches over `graph` with `budget` edge visits in all.
    pub fn new(graph: &'g Graph, budget: u64) -> Self {
        let n = graph.len();
        Searcher {
            graph,
            member: vec![0; n],
            member_stamp: 0,
            seen: vec![0; n],
            parent: vec![0; n],
            stamp: 0,
            queue: std::collections::VecDeque::new(),
            budget,
        }
    }

    /// Confine the following searches to `nodes`.
    pub fn confine(&mut self, nodes: &[usize]) {
        self.member_stamp += 1;
        for &v in nodes {
            self.member[v] = self.member_stamp;
        }
    }

    /// A shortest path `from → ... → to` inside the confined set using
    /// edges with a kind in `mask`, as its nodes (both ends included), or
    /// `None` (also when the budget ran out).
    pub fn path(&mut self, from: usize, to: usize, mask: Kinds) -> Option<Vec<usize>> {
        self.stamp += 1;
        self.queue.clear();
        self.seen[from] = self.stamp;
        self.queue.push_back(from);
        while let Some(v) = self.queue.pop_front() {
            for (w, k) in self.graph.out(v) {
                if self.budget == 0 {
                    return None;
                }
                self.budget -= 1;
                if k & mask == 0
                    || self.member[w] != self.member_stamp
                    || self.seen[w] == self.stamp
                {
                    continue;
                }
                self.seen[w] = self.stamp;
                self.parent[w] = v as u32;
                if w == to {
                    let mut path = vec![to];
                    let mut x = to;
                    while x != from {
                        x = self.parent[x] as usize;
                        path.push(x);
                    }
                    path.reverse();
                    return Some(path);
                }
                self.queue.push_back(w);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sccs_find_cycles_and_only_through_allowed_kinds() {
        let mut b = Builder::new(5);
        b.link(0, 1, WW);
        b.link(1, 2, WR);
        b.link(2, 0, RW);
        b.link(3, 4, WW);
        b.link(3, 3, WW);
        let g = b.clone().build();
        assert_eq!(g.sccs(DATA), vec![vec![0, 1, 2]]);
        assert!(g.sccs(WW | WR).is_empty());
        assert_eq!(g.edge_count(), 4);
        b.link(2, 0, WW);
        let g = b.build();
        assert_eq!(g.kinds(2, 0), RW | WW);
        assert_eq!(g.kinds(0, 2), 0);
        assert_eq!(g.sccs(WW | WR), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 300_000;
        let mut b = Builder::new(n);
        for i in 0..n - 1 {
            b.link(i, i + 1, WW);
        }
        b.link(n - 1, 0, RW);
        let g = b.build();
        let s = g.sccs(DATA);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].len(), n);
        assert!(g.sccs(WW).is_empty());
    }

    #[test]
    fn paths_are_shortest_and_confined() {
        let mut b = Builder::new(4);
        b.link(0, 1, WW);
        b.link(1, 2, WW);
        b.link(0, 2, RW);
        b.link(2, 3, WW);
        let g = b.build();
        let mut s = Searcher::new(&g, 1_000);
        s.confine(&[0, 1, 2]);
        assert_eq!(s.path(0, 2, DATA), Some(vec![0, 2]));
        assert_eq!(s.path(0, 2, WW), Some(vec![0, 1, 2]));
        assert_eq!(s.path(0, 3, DATA), None);
        let mut broke = Searcher::new(&g, 1);
        broke.confine(&[0, 1, 2]);
        assert_eq!(broke.path(0, 2, WW), None);
    }

    #[test]
    fn pick_prefers_data_dependencies() {
        assert_eq!(pick(RW | WW, DATA), WW);
        assert_eq!(pick(REALTIME | RW, DATA | REALTIME), RW);
        assert_eq!(pick(REALTIME | PROCESS, REALTIME), REALTIME);
        assert_eq!(pick(WW, RW), 0);
    }
}
