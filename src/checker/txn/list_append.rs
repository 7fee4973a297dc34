//! List-append: what each read of a list reveals about the order of
//! transactions.
//!
//! Every append writes a value unique to its key, so an element read names
//! the transaction that appended it, and a list read is a prefix of the
//! key's version order (Elle's insight: lists make the order of writes
//! visible). From the longest read of each key come:
//!
//! - **ww**: consecutive elements `…, a, b, …` of a key: the writer of `a`
//!   precedes the writer of `b`;
//! - **wr**: a read whose last element is `a`: the writer of `a` precedes
//!   the reader;
//! - **rw**: a read that ends just before `b`: the reader precedes the
//!   writer of `b` (it read a version `b`'s writer overwrote).
//!
//! A transaction's own earlier appends are left out of what it read
//! (its *external* read). Found without any cycle: duplicate elements,
//! internal inconsistency (a read that does not show the transaction's own
//! earlier reads and appends), aborted reads (G1a: an element a failed
//! transaction appended), intermediate reads (G1b: a read ending at an
//! element its writer appended more after), elements nobody appended, and
//! incompatible orders (two reads of a key, neither a prefix of the other).

use super::graph::{Builder, Kinds, REALTIME, RW, WR, WW};
use super::parse::{Id, Mop, Outcome, Txns};
use super::{Anomaly, AnomalyKind};
use crate::checker::CheckError;
use rustc_hash::FxHashMap;

/// What the analysis keeps to explain edges after the search.
#[derive(Debug, Default)]
pub struct Analysis {
    /// (key, element) → (txn, position of this append among the txn's
    /// appends to that key).
    pub writer: FxHashMap<(Id, Id), (usize, usize)>,
    /// Per key, the longest list read: the version order known.
    pub order: FxHashMap<Id, Vec<Id>>,
    /// Per (txn, key), what it read of the key before its own appends.
    pub external: FxHashMap<(usize, Id), Vec<Id>>,
    /// Per (txn, key), how many elements it appended to the key.
    pub appends: FxHashMap<(usize, Id), usize>,
}

/// Analyse `t`: the anomalies found without cycles, and the graph of data
/// dependencies between the transactions that may have committed.
pub fn analyse(t: &Txns) -> Result<(Analysis, Vec<Anomaly>, Builder), CheckError> {
    let mut a = Analysis::default();
    let mut anomalies = Vec::new();
    // Who appended what.
    for (i, txn) in t.txns.iter().enumerate() {
        for mop in &txn.mops {
            if let Mop::Append { key, value } = *mop {
                let n = a.appends.entry((i, key)).or_insert(0);
                let pos = *n;
                *n += 1;
                if let Some(&(other, _)) = a.writer.get(&(key, value)) {
                    return Err(CheckError::BadOp {
                        index: txn.index(),
                        reason: format!(
                            "appends {} to key {}, as op {} did: list-append needs every \
                             value appended to a key to be unique",
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
    // Inside each committed txn: consistency with itself, external reads,
    // and what each element read says.
    let mut reads_of: FxHashMap<Id, Vec<(usize, usize)>> = FxHashMap::default();
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        let mut known: FxHashMap<Id, Vec<Id>> = FxHashMap::default();
        let mut own: FxHashMap<Id, Vec<Id>> = FxHashMap::default();
        for (m, mop) in txn.mops.iter().enumerate() {
            match mop {
                Mop::Append { key, value } => match known.get_mut(key) {
                    Some(l) => l.push(*value),
                    None => own.entry(*key).or_default().push(*value),
                },
                Mop::ReadList {
                    key,
                    list: Some(list),
                } => {
                    let key = *key;
                    reads_of.entry(key).or_default().push((i, m));
                    check_elements(t, &a, i, key, list, &mut anomalies);
                    let expected_suffix = own.get(&key).cloned().unwrap_or_default();
                    match known.get(&key) {
                        Some(expected) if expected != list => anomalies.push(internal(
                            t,
                            i,
                            key,
                            list,
                            &format!(
                                "its own earlier read and appends give {}",
                                show(t, expected)
                            ),
                        )),
                        Some(_) => {}
                        None if !list.ends_with(&expected_suffix) => anomalies.push(internal(
                            t,
                            i,
                            key,
                            list,
                            &format!(
                                "it appended {} to it before, which the read should end with",
                                show(t, &expected_suffix)
                            ),
                        )),
                        None => {
                            let ext = list[..list.len() - expected_suffix.len()].to_vec();
                            a.external.insert((i, key), ext);
                        }
                    }
                    known.insert(key, list.clone());
                }
                _ => {}
            }
        }
    }
    // The version order of each key: its longest read, which every other
    // read must be a prefix of.
    let mut keys: Vec<Id> = reads_of.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let reads = &reads_of[&key];
        let list_at = |(i, m): (usize, usize)| match &t.txns[i].mops[m] {
            Mop::ReadList { list: Some(l), .. } => l.as_slice(),
            _ => &[],
        };
        let Some(&longest) = reads
            .iter()
            .max_by_key(|&&r| (list_at(r).len(), std::cmp::Reverse(r)))
        else {
            continue;
        };
        let order = list_at(longest);
        if let Some(&bad) = reads.iter().find(|&&r| !order.starts_with(list_at(r))) {
            let (i, j) = (bad.0, longest.0);
            anomalies.push(Anomaly {
                kind: AnomalyKind::IncompatibleOrder,
                txns: vec![t.txns[i].index(), t.txns[j].index()],
                explanation: format!(
                    "op {} read key {} as {} and op {} read it as {}: neither is a prefix of \
                     the other, so no single order of appends explains both",
                    t.txns[i].index(),
                    t.interner.show(key),
                    show(t, list_at(bad)),
                    t.txns[j].index(),
                    show(t, order)
                ),
                steps: Vec::new(),
            });
        }
        a.order.insert(key, order.to_vec());
    }
    // Intermediate reads: an external read that ends at an element its
    // writer appended more after.
    let mut ext: Vec<(&(usize, Id), &Vec<Id>)> = a.external.iter().collect();
    ext.sort_unstable_by_key(|(k, _)| **k);
    for (&(i, key), list) in ext {
        let Some(&last) = list.last() else { continue };
        let Some(&(w, pos)) = a.writer.get(&(key, last)) else {
            continue;
        };
        let total = a.appends.get(&(w, key)).copied().unwrap_or(0);
        if w != i && t.txns[w].outcome != Outcome::Fail && pos + 1 < total {
            anomalies.push(Anomaly {
                kind: AnomalyKind::G1b,
                txns: vec![t.txns[w].index(), t.txns[i].index()],
                explanation: format!(
                    "op {} read key {} as {}, ending at {}; but op {} appended {} more \
                     element(s) to key {} after {} in the same transaction: the read saw an \
                     intermediate state of op {}",
                    t.txns[i].index(),
                    t.interner.show(key),
                    show(t, list),
                    t.interner.show(last),
                    t.txns[w].index(),
                    total - pos - 1,
                    t.interner.show(key),
                    t.interner.show(last),
                    t.txns[w].index()
                ),
                steps: Vec::new(),
            });
        }
    }
    let graph = edges(t, &a);
    Ok((a, anomalies, graph))
}

/// The data dependencies of `a`, over transactions that may have committed.
fn edges(t: &Txns, a: &Analysis) -> Builder {
    let mut g = Builder::new(t.txns.len());
    let live = |i: usize| t.txns[i].outcome != Outcome::Fail;
    let mut keys: Vec<&Id> = a.order.keys().collect();
    keys.sort_unstable();
    for key in keys {
        let order = &a.order[key];
        let writers: Vec<Option<usize>> = order
            .iter()
            .map(|v| a.writer.get(&(*key, *v)).map(|w| w.0).filter(|&w| live(w)))
            .collect();
        for pair in writers.windows(2) {
            if let [Some(x), Some(y)] = pair {
                g.link(*x, *y, WW);
            }
        }
    }
    let mut ext: Vec<(&(usize, Id), &Vec<Id>)> = a.external.iter().collect();
    ext.sort_unstable_by_key(|(k, _)| **k);
    for (&(i, key), list) in ext {
        if let Some(w) = list
            .last()
            .and_then(|v| a.writer.get(&(key, *v)))
            .map(|w| w.0)
            .filter(|&w| live(w))
        {
            g.link(w, i, WR);
        }
        let Some(order) = a.order.get(&key) else {
            continue;
        };
        // The writer of the next version overwrote what was read — unless
        // it also wrote what was read (an intermediate read, G1b, which
        // says it already): versions are ordered per transaction.
        let last_writer = list
            .last()
            .and_then(|v| a.writer.get(&(key, *v)))
            .map(|w| w.0);
        if order.starts_with(list) {
            if let Some(next) = order.get(list.len()) {
                if let Some(&(w, _)) = a.writer.get(&(key, *next)) {
                    if live(w) && last_writer != Some(w) {
                        g.link(i, w, RW);
                    }
                }
            }
        }
    }
    g
}

/// `[1 2 3]`, as Elle writes lists.
fn show(t: &Txns, list: &[Id]) -> String {
    let items: Vec<String> = list.iter().map(|v| t.interner.show(*v)).collect();
    format!("[{}]", items.join(" "))
}

fn internal(t: &Txns, i: usize, key: Id, list: &[Id], why: &str) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::Internal,
        txns: vec![t.txns[i].index()],
        explanation: format!(
            "op {} read key {} as {}, but {}",
            t.txns[i].index(),
            t.interner.show(key),
            show(t, list),
            why
        ),
        steps: Vec::new(),
    }
}

/// Duplicates, elements nobody appended, elements of failed txns.
fn check_elements(t: &Txns, a: &Analysis, i: usize, key: Id, list: &[Id], out: &mut Vec<Anomaly>) {
    let reader = t.txns[i].index();
    let mut seen = rustc_hash::FxHashSet::default();
    for v in list {
        if !seen.insert(*v) {
            out.push(Anomaly {
                kind: AnomalyKind::DuplicateElements,
                txns: vec![reader],
                explanation: format!(
                    "op {reader} read key {} as {}, which holds {} more than once, though \
                     it was appended once",
                    t.interner.show(key),
                    show(t, list),
                    t.interner.show(*v)
                ),
                steps: Vec::new(),
            });
            break;
        }
    }
    for v in list {
        match a.writer.get(&(key, *v)) {
            None => out.push(Anomaly {
                kind: AnomalyKind::Garbage,
                txns: vec![reader],
                explanation: format!(
                    "op {reader} read key {} as {}, but no transaction appended {} to it",
                    t.interner.show(key),
                    show(t, list),
                    t.interner.show(*v)
                ),
                steps: Vec::new(),
            }),
            Some(&(w, _)) if t.txns[w].outcome == Outcome::Fail => out.push(Anomaly {
                kind: AnomalyKind::G1a,
                txns: vec![t.txns[w].index(), reader],
                explanation: format!(
                    "op {reader} read key {} as {}, which holds {}, appended by op {} — a \
                     transaction that failed (aborted): an aborted read",
                    t.interner.show(key),
                    show(t, list),
                    t.interner.show(*v),
                    t.txns[w].index()
                ),
                steps: Vec::new(),
            }),
            Some(_) => {}
        }
    }
}

/// Why edge `x → y` of kind `kind` exists, in words.
pub fn explain(t: &Txns, a: &Analysis, x: usize, y: usize, kind: Kinds) -> String {
    let (tx, ty) = (&t.txns[x], &t.txns[y]);
    let op = |i: usize| format!("op {}", t.txns[i].index());
    match kind {
        WW => {
            for key in keys_of(tx) {
                let Some(order) = a.order.get(&key) else {
                    continue;
                };
                for pair in order.windows(2) {
                    let wx = a.writer.get(&(key, pair[0])).map(|w| w.0);
                    let wy = a.writer.get(&(key, pair[1])).map(|w| w.0);
                    if wx == Some(x) && wy == Some(y) {
                        return format!(
                            "{} appended {} to key {} and {} appended {} right after it",
                            op(x),
                            t.interner.show(pair[0]),
                            t.interner.show(key),
                            op(y),
                            t.interner.show(pair[1])
                        );
                    }
                }
            }
            format!("{} wrote a version {} overwrote", op(x), op(y))
        }
        WR => {
            for key in keys_of(ty) {
                let Some(list) = a.external.get(&(y, key)) else {
                    continue;
                };
                if let Some(last) = list.last() {
                    if a.writer.get(&(key, *last)).map(|w| w.0) == Some(x) {
                        return format!(
                            "{} read key {} as {}, whose last element {} {} appended",
                            op(y),
                            t.interner.show(key),
                            show(t, list),
                            t.interner.show(*last),
                            op(x)
                        );
                    }
                }
            }
            format!("{} read what {} wrote", op(y), op(x))
        }
        RW => {
            for key in keys_of(tx) {
                let Some(list) = a.external.get(&(x, key)) else {
                    continue;
                };
                let Some(next) = a.order.get(&key).and_then(|o| o.get(list.len())) else {
                    continue;
                };
                if a.writer.get(&(key, *next)).map(|w| w.0) == Some(y) {
                    let what = if list.is_empty() {
                        "empty".to_string()
                    } else {
                        format!("as {}", show(t, list))
                    };
                    return format!(
                        "{} read key {} {}, without {}, the next element, which {} appended",
                        op(x),
                        t.interner.show(key),
                        what,
                        t.interner.show(*next),
                        op(y)
                    );
                }
            }
            format!("{} read a version {} overwrote", op(x), op(y))
        }
        REALTIME => format!(
            "{} completed (at {:.3} s) before {} was invoked (at {:.3} s)",
            op(x),
            tx.complete_time.unwrap_or(0) as f64 / 1e9,
            op(y),
            ty.invoke_time as f64 / 1e9
        ),
        _ => format!("process {} ran {} and then {}", tx.process, op(x), op(y)),
    }
}

/// The keys `txn` touches, each once, in order.
fn keys_of(txn: &super::parse::Txn) -> Vec<Id> {
    let mut keys: Vec<Id> = Vec::new();
    for m in &txn.mops {
        if !keys.contains(&m.key()) {
            keys.push(m.key());
        }
    }
    keys
}
