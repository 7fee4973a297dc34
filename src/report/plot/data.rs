//! What the plots draw, computed from the history before any drawing: each
//! client op as one [`Sample`] (invoke paired with its completion by
//! process, as [`crate::report::latency`] does), the `f`s that get a colour,
//! the deterministic downsampling of the raw latency plot, and the time
//! windows of the quantile and rate plots.
//!
//! Times stay in ns (the history's clock) until drawing; latencies are
//! drawn in ms.

use crate::history::{History, OpType, Process};
use crate::nemesis::intervals::FaultInterval;
use crate::report::latency::quantile;
use crate::report::results::Phase;
use rustc_hash::{FxHashMap, FxHashSet};

/// ns per second.
pub(super) const SEC: u64 = 1_000_000_000;

/// At most this many `f`s get a colour of their own; the rest share one,
/// called `other`.
pub(super) const MAX_FS: usize = 8;

/// Names from the history (`f`s, fault and phase names) longer than this
/// many characters are cut, so that one cannot push the rest off a plot.
const MAX_NAME: usize = 40;

/// `s`, cut to [`MAX_NAME`] characters with an ellipsis.
pub(super) fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_NAME) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// How a client op ended, in the order the raw plot draws them (the rare
/// outcomes last, on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Outcome {
    /// Completed `ok`.
    Ok = 0,
    /// Completed `fail`.
    Fail = 1,
    /// Completed `info`: the latency is how long the client waited before
    /// giving up; the op may still take effect later.
    Info = 2,
    /// An invoke with no completion at all: no latency is known.
    Open = 3,
}

/// One client op: its invoke and how it ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    /// Invoke time, ns.
    pub t: u64,
    /// Completion time, ns (the invoke time for [`Outcome::Open`]).
    pub done: u64,
    /// Index into [`Ops::fs`].
    pub f: u16,
    /// How it ended.
    pub outcome: Outcome,
}

impl Sample {
    /// Completion minus invoke, ns (0 for an open invoke).
    pub fn latency(&self) -> u64 {
        self.done - self.t
    }
}

/// The client ops of a history, paired.
#[derive(Debug, Clone, Default)]
pub(super) struct Ops {
    /// In invoke order; open invokes after the completed ones.
    pub samples: Vec<Sample>,
    /// The `f` names that have a colour, sorted; when more than
    /// [`MAX_FS`] occur, the last is `other (N f)`.
    pub fs: Vec<String>,
    /// Completions whose process had no invoke pending (malformed
    /// history): left out.
    pub orphans: usize,
    /// The latest time of any client op, ns.
    pub last: u64,
}

impl Ops {
    /// Pairs the client ops of `history`.
    pub fn of(history: &History) -> Ops {
        // f names interned in order of first appearance, then renumbered.
        let mut names: Vec<&str> = Vec::new();
        let mut index: FxHashMap<&str, u16> = FxHashMap::default();
        let mut counts: Vec<u64> = Vec::new();
        let mut pending: FxHashMap<u64, (u64, u16)> = FxHashMap::default();
        let mut samples = Vec::new();
        let mut orphans = 0;
        let mut last = 0;
        for op in &history.ops {
            let Process::Client(p) = op.process else {
                continue;
            };
            last = last.max(op.time);
            if op.kind == OpType::Invoke {
                let f = match index.get(op.f.as_str()) {
                    Some(&i) => i,
                    None => {
                        // More than 65,535 distinct fs cannot be coloured
                        // apart anyway: they share the last index.
                        let i = names.len().min(u16::MAX as usize) as u16;
                        if (i as usize) == names.len() {
                            names.push(op.f.as_str());
                            counts.push(0);
                        }
                        index.insert(op.f.as_str(), i);
                        i
                    }
                };
                counts[f as usize] += 1;
                if let Some((t, f0)) = pending.insert(p, (op.time, f)) {
                    // A second invoke on a process before the first
                    // completed: the first never completed.
                    samples.push(open(t, f0));
                }
                continue;
            }
            let Some((t, f)) = pending.remove(&p) else {
                orphans += 1;
                continue;
            };
            let outcome = match op.kind {
                OpType::Ok => Outcome::Ok,
                OpType::Fail => Outcome::Fail,
                _ => Outcome::Info,
            };
            samples.push(Sample {
                t,
                done: op.time.max(t),
                f,
                outcome,
            });
        }
        let mut rest: Vec<(u64, u64, u16)> =
            pending.into_iter().map(|(p, (t, f))| (t, p, f)).collect();
        rest.sort_unstable();
        samples.extend(rest.into_iter().map(|(t, _, f)| open(t, f)));
        // Completions come in completion order; the plots want invoke
        // order (stable, so ties keep history order).
        samples.sort_by_key(|s| s.t);

        let (fs, remap) = colour_fs(&names, &counts);
        for s in &mut samples {
            s.f = remap[s.f as usize];
        }
        Ops {
            samples,
            fs,
            orphans,
            last,
        }
    }

    /// How many ended each way: ok, fail, info, open.
    pub fn counts(&self) -> [usize; 4] {
        let mut c = [0; 4];
        for s in &self.samples {
            c[s.outcome as usize] += 1;
        }
        c
    }
}

fn open(t: u64, f: u16) -> Sample {
    Sample {
        t,
        done: t,
        f,
        outcome: Outcome::Open,
    }
}

/// The `f`s that get a colour (the [`MAX_FS`] most frequent, or
/// `MAX_FS - 1` and `other`), sorted by name, and each interned index's
/// new index.
fn colour_fs(names: &[&str], counts: &[u64]) -> (Vec<String>, Vec<u16>) {
    let mut by_count: Vec<usize> = (0..names.len()).collect();
    by_count.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(names[a].cmp(names[b])));
    let own = if names.len() > MAX_FS {
        MAX_FS - 1
    } else {
        names.len()
    };
    let mut kept: Vec<usize> = by_count[..own].to_vec();
    kept.sort_by(|&a, &b| names[a].cmp(names[b]));
    let mut fs: Vec<String> = kept.iter().map(|&i| clip(names[i])).collect();
    let mut remap = vec![own as u16; names.len()];
    for (new, &old) in kept.iter().enumerate() {
        remap[old] = new as u16;
    }
    if names.len() > own {
        fs.push(format!("other ({} f)", names.len() - own));
    }
    (fs, remap)
}

/// The end of the time axis, ns: the latest op, fault or phase.
pub(super) fn time_end(ops: &Ops, intervals: &[FaultInterval], phases: &[Phase]) -> u64 {
    let faults = intervals
        .iter()
        .map(|i| i.end.unwrap_or(i.start).max(i.start));
    let phases = phases.iter().map(|p| p.end.max(p.start));
    faults.chain(phases).fold(ops.last, u64::max)
}

/// The width of the quantile and rate windows for a time axis of `end` ns:
/// about a hundredth of the run, but at least one second, unless that would
/// give fewer than ten windows (a run shorter than 10 s); always a 1-2-5
/// multiple of a power of ten ns.
pub(super) fn window(end: u64) -> u64 {
    let end = if end == 0 { SEC } else { end };
    nice_ceil(end.div_ceil(100)).max(SEC.min(nice_ceil(end.div_ceil(10))))
}

/// The smallest 1, 2 or 5 × 10^k that is ≥ `x` (≥ 1).
fn nice_ceil(x: u64) -> u64 {
    let mut p: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            if let Some(v) = p.checked_mul(m) {
                if v >= x {
                    return v;
                }
            }
        }
        match p.checked_mul(10) {
            Some(q) => p = q,
            None => return u64::MAX,
        }
    }
}

/// How many windows of `w` ns cover `0..=end`: `end / w`, at least one;
/// the last window also takes the remainder (so it spans `w` to `2w`), so
/// that a sliver of a window at the end is not drawn as a spike or a drop.
pub(super) fn window_count(end: u64, w: u64) -> usize {
    (end / w).max(1) as usize
}

/// Window `i` of `n`: where it starts and how long it is, ns (at least 1).
fn window_span(i: usize, n: usize, end: u64, w: u64) -> (u64, u64) {
    let from = i as u64 * w;
    let len = if i + 1 == n {
        end.saturating_sub(from)
    } else {
        w
    };
    (from, len.max(1))
}

/// The window of `n` that time `t` (ns) falls in.
fn window_of(t: u64, n: usize, w: u64) -> usize {
    ((t / w) as usize).min(n - 1)
}

/// A latency in ms as drawn: at least 1 µs, so a log axis can show it.
pub(super) fn lat_ms(ns: u64) -> f64 {
    (ns as f64 / 1e6).max(MIN_MS)
}

/// The smallest latency drawn, ms.
pub(super) const MIN_MS: f64 = 0.001;

/// The virtual pixel grid the downsampling counts in (about the plot
/// area's size in pixels).
const GRID: (f64, f64) = (1000.0, 400.0);

/// The samples the raw latency plot draws: all of them when there are at
/// most `limit`; otherwise one per cell of a grid over the plot (per `f`
/// and outcome), the cell growing from about one pixel until at most
/// `limit` cells are occupied (cells of 1, 2, 3, 4, 6, 9... pixels). Which
/// sample of a cell is kept depends only on its index ([`scatter`]), so the
/// choice is deterministic, and every f/outcome present in a region of the
/// plot stays visible there.
pub(super) struct Drawn {
    /// Indices into [`Ops::samples`], in drawing order (by outcome, then
    /// invoke time).
    pub idx: Vec<usize>,
    /// The cell's side in pixels; 0 when nothing was left out.
    pub cell: u32,
}

/// See [`Drawn`]. `x_end` is the end of the time axis (ns) and `y` the
/// latency axis's range in ms (log scale); open invokes sit in the top row.
pub(super) fn downsample(samples: &[Sample], x_end: u64, y: (f64, f64), limit: usize) -> Drawn {
    let order = |idx: &mut Vec<usize>| idx.sort_by_key(|&i| (samples[i].outcome, i));
    if samples.len() <= limit {
        let mut idx: Vec<usize> = (0..samples.len()).collect();
        order(&mut idx);
        return Drawn { idx, cell: 0 };
    }
    let (lo, hi) = (y.0.log10(), y.1.log10());
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let x_end = x_end.max(1) as f64;
    // Each sample's grid position, computed once.
    let pos: Vec<(u32, u32)> = samples
        .iter()
        .map(|s| {
            let col = (s.t as f64 / x_end * GRID.0).clamp(0.0, GRID.0) as u32;
            let row = if s.outcome == Outcome::Open {
                GRID.1 as u32
            } else {
                ((lat_ms(s.latency()).log10() - lo) / span * GRID.1).clamp(0.0, GRID.1) as u32
            };
            (col, row)
        })
        .collect();
    let key = |i: usize, cell: u32| {
        let (col, row) = pos[i];
        let s = &samples[i];
        ((col / cell) as u64) << 44
            | ((row / cell) as u64) << 24
            | (s.f as u64) << 8
            | s.outcome as u64
    };
    let mut cell: u32 = 1;
    // The smallest cell that leaves at most `limit` occupied; a cell as
    // large as the grid leaves one per f and outcome, the fewest possible,
    // whatever the limit.
    while (cell as f64) < GRID.0 {
        let mut seen: FxHashSet<u64> = FxHashSet::default();
        let fits = (0..samples.len()).all(|i| {
            seen.insert(key(i, cell));
            seen.len() <= limit
        });
        if fits {
            break;
        }
        cell = (cell + 1).max(cell * 3 / 2);
    }
    let mut kept: FxHashMap<u64, (u64, usize)> = FxHashMap::default();
    for i in 0..samples.len() {
        let h = scatter(i as u64);
        let e = kept.entry(key(i, cell)).or_insert((h, i));
        if h < e.0 {
            *e = (h, i);
        }
    }
    let mut idx: Vec<usize> = kept.into_values().map(|(_, i)| i).collect();
    order(&mut idx);
    Drawn { idx, cell }
}

/// A fixed hash of a sample's index (splitmix64's finaliser): which
/// sample of a cell is drawn, spread over the cell rather than always its
/// earliest, so the kept samples do not line up in columns.
fn scatter(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The latency quantiles drawn for one window and `f`, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Quantiles {
    /// The window's index.
    pub win: usize,
    /// The window's middle, s.
    pub mid: f64,
    /// p50, p95, p99 and max, ms.
    pub q: [f64; 4],
}

/// Per `f` (index of [`Ops::fs`]), the quantiles of the latencies of the
/// completed ops invoked in each window of `w` ns that has any; windows
/// without a completed op are left out (a gap in the line).
pub(super) fn quantiles(ops: &Ops, end: u64, w: u64) -> Vec<Vec<Quantiles>> {
    let n = window_count(end, w);
    let nf = ops.fs.len();
    let mut buckets: Vec<Vec<u64>> = vec![Vec::new(); n * nf];
    for s in ops.samples.iter().filter(|s| s.outcome != Outcome::Open) {
        let win = window_of(s.t, n, w);
        buckets[win * nf + s.f as usize].push(s.latency());
    }
    let mut out = vec![Vec::new(); nf];
    for (i, b) in buckets.iter_mut().enumerate() {
        if b.is_empty() {
            continue;
        }
        b.sort_unstable();
        let (win, f) = (i / nf, i % nf);
        let q = [0.50, 0.95, 0.99, 1.0].map(|q| lat_ms(quantile(b, q)));
        let (from, len) = window_span(win, n, end, w);
        out[f].push(Quantiles {
            win,
            mid: (from as f64 + len as f64 / 2.0) / SEC as f64,
            q,
        });
    }
    out
}

/// The completion rate of one window, ops/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rate {
    /// The window's middle, s.
    pub mid: f64,
    /// ok, fail and info completions per second.
    pub per_s: [f64; 3],
}

/// Completions per second in each window of `w` ns, by completion time;
/// each window's count is divided by its own length (the last one is
/// longer, see [`window_count`]).
pub(super) fn rates(ops: &Ops, end: u64, w: u64) -> Vec<Rate> {
    let n = window_count(end, w);
    let mut counts = vec![[0u64; 3]; n];
    for s in ops.samples.iter().filter(|s| s.outcome != Outcome::Open) {
        let win = window_of(s.done, n, w);
        counts[win][s.outcome as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let (from, len) = window_span(i, n, end, w);
            let secs = len as f64 / SEC as f64;
            Rate {
                mid: (from as f64 + len as f64 / 2.0) / SEC as f64,
                per_s: c.map(|k| k as f64 / secs),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use serde_json::json;

    pub(crate) fn op(kind: OpType, p: u64, f: &str, t: u64) -> Op {
        let mut o = Op::invoke(Process::Client(p), f, json!(null));
        o.kind = kind;
        o.time = t;
        o
    }

    #[test]
    fn ops_pair_by_process_and_keep_open_invokes_and_orphans() {
        let h = History::new(vec![
            op(OpType::Invoke, 0, "read", 10),
            op(OpType::Invoke, 1, "write", 20),
            op(OpType::Ok, 0, "read", 40),
            op(OpType::Fail, 7, "read", 45),
            op(OpType::Info, 1, "write", 90),
            op(OpType::Invoke, 2, "cas", 95),
        ]);
        let ops = Ops::of(&h);
        assert_eq!(ops.fs, ["cas", "read", "write"]);
        assert_eq!(ops.orphans, 1);
        assert_eq!(ops.last, 95);
        let got: Vec<(u64, u64, &str, Outcome)> = ops
            .samples
            .iter()
            .map(|s| (s.t, s.latency(), ops.fs[s.f as usize].as_str(), s.outcome))
            .collect();
        assert_eq!(
            got,
            [
                (10, 30, "read", Outcome::Ok),
                (20, 70, "write", Outcome::Info),
                (95, 0, "cas", Outcome::Open),
            ]
        );
        assert_eq!(ops.counts(), [1, 0, 1, 1]);
    }

    #[test]
    fn long_names_are_clipped() {
        assert_eq!(clip("read"), "read");
        let long = "é".repeat(50);
        assert_eq!(clip(&long), format!("{}…", "é".repeat(40)));
    }

    #[test]
    fn beyond_eight_fs_the_rarest_share_other() {
        let mut hist = Vec::new();
        for i in 0..10u64 {
            // f{i} occurs i + 1 times: f0 and f1 are the rarest.
            for _ in 0..=i {
                hist.push(op(OpType::Invoke, 0, &format!("f{i}"), 0));
                hist.push(op(OpType::Ok, 0, &format!("f{i}"), 1));
            }
        }
        let ops = Ops::of(&History::new(hist));
        assert_eq!(ops.fs.len(), MAX_FS);
        assert_eq!(ops.fs[..7], ["f3", "f4", "f5", "f6", "f7", "f8", "f9"]);
        assert_eq!(ops.fs[7], "other (3 f)");
        let other = ops.samples.iter().filter(|s| s.f == 7).count();
        assert_eq!(other, 1 + 2 + 3);
    }

    #[test]
    fn windows_are_a_hundredth_of_the_run_at_least_a_second_unless_short() {
        assert_eq!(window(0), SEC / 10);
        assert_eq!(window(60 * SEC), SEC);
        assert_eq!(window(1000 * SEC), 10 * SEC);
        assert_eq!(window(3600 * SEC), 50 * SEC);
        assert_eq!(window(5 * SEC), SEC / 2);
        assert_eq!(window(3_000), 500);
        assert_eq!(window_count(60 * SEC, SEC), 60);
        assert_eq!(window_count(60 * SEC - 1, SEC), 59);
        assert_eq!(window_count(10, SEC), 1);
        assert_eq!(nice_ceil(u64::MAX), u64::MAX);
    }

    #[test]
    fn quantiles_and_rates_per_window() {
        let mut h = Vec::new();
        // Window 0: latencies 1..=100 ms of `read`; window 2: one `write`
        // failing after 5 ms; an open invoke is in neither.
        for i in 0..100u64 {
            h.push(op(OpType::Invoke, 0, "read", i * 1_000_000));
            h.push(op(
                OpType::Ok,
                0,
                "read",
                i * 1_000_000 + (i + 1) * 1_000_000,
            ));
        }
        h.push(op(OpType::Invoke, 1, "write", 2 * SEC + 1));
        h.push(op(OpType::Fail, 1, "write", 2 * SEC + 5_000_001));
        h.push(op(OpType::Invoke, 2, "write", 2 * SEC + 2));
        let ops = Ops::of(&History::new(h));
        let end = 3 * SEC;
        let q = quantiles(&ops, end, SEC);
        assert_eq!(q[0].len(), 1);
        assert_eq!(q[0][0].q, [50.0, 95.0, 99.0, 100.0]);
        assert_eq!(q[0][0].mid, 0.5);
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[1],
            [Quantiles {
                win: 2,
                mid: 2.5,
                q: [5.0; 4]
            }]
        );
        let r = rates(&ops, end, SEC);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].per_s, [100.0, 0.0, 0.0]);
        assert_eq!(r[1].per_s, [0.0; 3]);
        assert_eq!(r[2].per_s, [0.0, 1.0, 0.0]);
        // The last window takes the remainder: 1.5 s, so 1 op is 2/3 per s.
        let longer = rates(&ops, 2 * SEC + SEC / 2, SEC);
        assert_eq!(longer.len(), 2);
        assert!((longer[1].per_s[1] - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(longer[1].mid, 1.75);
    }

    #[test]
    fn downsampling_keeps_all_under_the_limit_and_bounds_the_rest() {
        let samples: Vec<Sample> = (0..50_000u64)
            .map(|i| Sample {
                t: i * 1000,
                // Latencies spread over four decades, pseudo-randomly.
                done: i * 1000 + 1_000 * (1 + (i * 7919) % 10_000),
                f: (i % 3) as u16,
                outcome: if i % 100 == 0 {
                    Outcome::Fail
                } else {
                    Outcome::Ok
                },
            })
            .collect();
        let all = downsample(&samples[..500], 500_000, (0.001, 20.0), 1000);
        assert_eq!(all.cell, 0);
        assert_eq!(all.idx.len(), 500);
        // Drawing order: ok first, the fails on top.
        let first_fail = all
            .idx
            .iter()
            .position(|&i| samples[i].outcome == Outcome::Fail)
            .unwrap();
        assert!(all.idx[first_fail..]
            .iter()
            .all(|&i| samples[i].outcome == Outcome::Fail));

        let some = downsample(&samples, 50_000_000, (0.001, 20.0), 5_000);
        assert!(some.cell >= 2, "{}", some.cell);
        assert!(some.idx.len() <= 5_000, "{}", some.idx.len());
        assert!(some.idx.len() > 1_000, "{}", some.idx.len());
        // Still every f and outcome, and the same choice every time.
        for f in 0..3 {
            assert!(some.idx.iter().any(|&i| samples[i].f == f));
        }
        assert!(some
            .idx
            .iter()
            .any(|&i| samples[i].outcome == Outcome::Fail));
        let again = downsample(&samples, 50_000_000, (0.001, 20.0), 5_000);
        assert_eq!(some.idx, again.idx);
        // A limit below one per f and outcome still ends.
        let tiny = downsample(&samples, 50_000_000, (0.001, 20.0), 2);
        assert!(tiny.idx.len() <= 6, "{}", tiny.idx.len());
    }
}
