//! Read-write registers: what reads of unique writes reveal.
//!
//! Every write puts a value unique to its key, so a value read names the
//! transaction that wrote it (a **wr** edge). A register's reads, unlike a
//! list's, do not show the whole order of writes; as Elle does by default,
//! the version order is inferred only from what is certain: the initial
//! (nil) version precedes every other, and a committed transaction that
//! read version `a` of a key and then wrote `b` to it put `b` right after
//! `a` (**ww** from `a`'s writer to it). A read of `a` then precedes every
//! version known to follow `a` directly (**rw**). Orders that are true but
//! not inferred (two blind writes) are missed, not invented: the checker
//! can miss anomalies here, never report false ones.
//!
//! Found without cycles: internal inconsistency (a read that does not
//! return the transaction's own earlier write or read), aborted reads
//! (G1a), intermediate reads (G1b: a value its writer overwrote in the same
//! transaction) and values nobody wrote.

use super::graph::{Builder, Kinds, REALTIME, RW, WR, WW};
use super::parse::{Id, Mop, Outcome, Txns};
use super::{Anomaly, AnomalyKind};
use crate::checker::CheckError;
use rustc_hash::FxHashMap;

/// What the analysis keeps to explain edges after the search.
#[derive(Debug, Default)]
pub struct Analysis {
    /// (key, value) → (txn, position among the txn's writes of the key).
    pub writer: FxHashMap<(Id, Id), (usize, usize)>,
    /// Per (txn, key), how many times it wrote the key.
    pub writes: FxHashMap<(usize, Id), usize>,
    /// Per (txn, key), what it read of the key before writing it (`None`:
    /// the initial, nil version).
    pub external: FxHashMap<(usize, Id), Option<Id>>,
    /// Per (key, version), the versions known to follow it directly
    /// (`None`: the initial version).
    pub next: FxHashMap<(Id, Option<Id>), Vec<Id>>,
}

fn show(t: &Txns, v: Option<Id>) -> String {
    v.map_or("nil".to_string(), |v| t.interner.show(v))
}

/// Analyse `t`: the anomalies found without cycles, and the graph of data
/// dependencies between the transactions that may have committed.
pub fn analyse(t: &Txns) -> Result<(Analysis, Vec<Anomaly>, Builder), CheckError> {
    let mut a = Analysis::default();
    let mut anomalies = Vec::new();
    for (i, txn) in t.txns.iter().enumerate() {
        for mop in &txn.mops {
            if let Mop::Write { key, value } = *mop {
                let n = a.writes.entry((i, key)).or_insert(0);
                let pos = *n;
                *n += 1;
                if let Some(&(other, _)) = a.writer.get(&(key, value)) {
                    return Err(CheckError::BadOp {
                        index: txn.index(),
                        reason: format!(
                            "writes {} to key {}, as op {} did: rw-register needs every value \
                             written to a key to be unique",
                            t.interner.show(value),
                            t.interner.show(key),
                            t.txns[other].index()
                        ),
                    });
                }
                a.writer.insert((key, value), (i, pos));
            }
        }
    }
    let mut has_pred: rustc_hash::FxHashSet<(Id, Id)> = rustc_hash::FxHashSet::default();
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        // What this txn knows of each key: its last read or write.
        let mut known: FxHashMap<Id, Option<Id>> = FxHashMap::default();
        let mut wrote: rustc_hash::FxHashSet<Id> = rustc_hash::FxHashSet::default();
        for mop in &txn.mops {
            match *mop {
                Mop::Write { key, value } => {
                    if let Some(prev) = known.get(&key) {
                        // Read (or wrote) `prev`, then wrote `value` over it.
                        a.next.entry((key, *prev)).or_default().push(value);
                        has_pred.insert((key, value));
                    }
                    wrote.insert(key);
                    known.insert(key, Some(value));
                }
                Mop::ReadReg {
                    key,
                    value: Some(v),
                } => {
                    match known.get(&key) {
                        Some(expected) if *expected != v => anomalies.push(Anomaly {
                            kind: AnomalyKind::Internal,
                            txns: vec![txn.index()],
                            explanation: format!(
                                "op {} read key {} = {}, but its own earlier {} of the key \
                                 gives {}",
                                txn.index(),
                                t.interner.show(key),
                                show(t, v),
                                if wrote.contains(&key) {
                                    "write"
                                } else {
                                    "read"
                                },
                                show(t, *expected)
                            ),
                            steps: Vec::new(),
                        }),
                        Some(_) => {}
                        None => {
                            a.external.insert((i, key), v);
                        }
                    }
                    known.insert(key, v);
                    if let Some(v) = v {
                        read_value(t, &a, i, key, v, &mut anomalies);
                    }
                }
                _ => {}
            }
        }
    }
    // Versions with no known predecessor follow the initial one.
    let mut firsts: Vec<(Id, Id)> = a
        .writer
        .keys()
        .filter(|kv| !has_pred.contains(kv))
        .copied()
        .collect();
    firsts.sort_unstable();
    for (k, v) in firsts {
        a.next.entry((k, None)).or_default().push(v);
    }
    let g = edges(t, &a);
    Ok((a, anomalies, g))
}

/// G1a, G1b and values nobody wrote, for txn `i`'s read of `key` = `v`.
fn read_value(t: &Txns, a: &Analysis, i: usize, key: Id, v: Id, out: &mut Vec<Anomaly>) {
    let reader = t.txns[i].index();
    let Some(&(w, pos)) = a.writer.get(&(key, v)) else {
        out.push(Anomaly {
            kind: AnomalyKind::Garbage,
            txns: vec![reader],
            explanation: format!(
                "op {reader} read key {} = {}, which no transaction wrote",
                t.interner.show(key),
                t.interner.show(v)
            ),
            steps: Vec::new(),
        });
        return;
    };
    if w == i {
        return;
    }
    if t.txns[w].outcome == Outcome::Fail {
        out.push(Anomaly {
            kind: AnomalyKind::G1a,
            txns: vec![t.txns[w].index(), reader],
            explanation: format!(
                "op {reader} read key {} = {}, written by op {} — a transaction that failed \
                 (aborted): an aborted read",
                t.interner.show(key),
                t.interner.show(v),
                t.txns[w].index()
            ),
            steps: Vec::new(),
        });
    } else if pos + 1 < a.writes.get(&(w, key)).copied().unwrap_or(0) {
        out.push(Anomaly {
            kind: AnomalyKind::G1b,
            txns: vec![t.txns[w].index(), reader],
            explanation: format!(
                "op {reader} read key {} = {}, which op {} overwrote later in the same \
                 transaction: an intermediate read",
                t.interner.show(key),
                t.interner.show(v),
                t.txns[w].index()
            ),
            steps: Vec::new(),
        });
    }
}

fn edges(t: &Txns, a: &Analysis) -> Builder {
    let mut g = Builder::new(t.txns.len());
    let live = |w: usize| t.txns[w].outcome != Outcome::Fail;
    let writer = |k: Id, v: Id| a.writer.get(&(k, v)).map(|w| w.0).filter(|&w| live(w));
    let mut versions: Vec<&(Id, Option<Id>)> = a.next.keys().collect();
    versions.sort_unstable();
    for &(k, prev) in versions {
        let vs = &a.next[&(k, prev)];
        let Some(from) = prev.and_then(|p| writer(k, p)) else {
            continue;
        };
        for v in vs {
            if let Some(to) = writer(k, *v) {
                g.link(from, to, WW);
            }
        }
    }
    let mut ext: Vec<(&(usize, Id), &Option<Id>)> = a.external.iter().collect();
    ext.sort_unstable_by_key(|(k, _)| **k);
    for (&(i, k), &v) in ext {
        let read_writer = v.and_then(|v| writer(k, v));
        if let Some(w) = read_writer {
            g.link(w, i, WR);
        }
        for nv in a.next.get(&(k, v)).into_iter().flatten() {
            if let Some(w) = writer(k, *nv) {
                if Some(w) != read_writer {
                    g.link(i, w, RW);
                }
            }
        }
    }
    g
}

/// Why edge `x → y` of kind `kind` exists, in words.
pub fn explain(t: &Txns, a: &Analysis, x: usize, y: usize, kind: Kinds) -> String {
    let op = |i: usize| format!("op {}", t.txns[i].index());
    let wrote = |i: usize, k: Id| {
        t.txns[i].mops.iter().find_map(|m| match m {
            Mop::Write { key, value } if *key == k => Some(*value),
            _ => None,
        })
    };
    let keys = |i: usize| {
        let mut ks: Vec<Id> = t.txns[i].mops.iter().map(Mop::key).collect();
        ks.dedup();
        ks
    };
    match kind {
        WW | WR => {
            let reader = y;
            for k in keys(reader) {
                if let Some(Some(v)) = a.external.get(&(reader, k)) {
                    if a.writer.get(&(k, *v)).map(|w| w.0) == Some(x) {
                        return match (kind, wrote(y, k)) {
                            (WW, Some(w)) => format!(
                                "{} read key {} = {}, which {} wrote, then wrote {} over it",
                                op(y),
                                t.interner.show(k),
                                t.interner.show(*v),
                                op(x),
                                t.interner.show(w)
                            ),
                            _ => format!(
                                "{} read key {} = {}, which {} wrote",
                                op(y),
                                t.interner.show(k),
                                t.interner.show(*v),
                                op(x)
                            ),
                        };
                    }
                }
            }
            format!("{} depends on what {} wrote", op(y), op(x))
        }
        RW => {
            for k in keys(x) {
                let Some(&v) = a.external.get(&(x, k)) else {
                    continue;
                };
                for nv in a.next.get(&(k, v)).into_iter().flatten() {
                    if a.writer.get(&(k, *nv)).map(|w| w.0) == Some(y) {
                        return format!(
                            "{} read key {} = {}, and {} wrote {}, a version after it",
                            op(x),
                            t.interner.show(k),
                            show(t, v),
                            op(y),
                            t.interner.show(*nv)
                        );
                    }
                }
            }
            format!("{} read a version {} overwrote", op(x), op(y))
        }
        REALTIME => format!(
            "{} completed (at {:.3} s) before {} was invoked (at {:.3} s)",
            op(x),
            t.txns[x].complete_time.unwrap_or(0) as f64 / 1e9,
            op(y),
            t.txns[y].invoke_time as f64 / 1e9
        ),
        _ => format!(
            "process {} ran {} and then {}",
            t.txns[x].process,
            op(x),
            op(y)
        ),
    }
}
