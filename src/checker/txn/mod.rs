//! Transactional anomalies, Elle-style (Kingsbury and Alvaro, VLDB 2020).
//!
//! A history of transactions over lists (list-append) or registers
//! (rw-register) is turned into a dependency graph — write-write,
//! write-read and read-write edges inferred from the values read, plus
//! process and real-time order — and searched for cycles, each classified
//! in Adya's terms (G0, G1c, G-single, G-nonadjacent, G2-item, and the
//! `-process` / `-realtime` variants that need an order edge). Anomalies
//! that need no cycle are found on the way: aborted reads (G1a),
//! intermediate reads (G1b), internal inconsistency, duplicate elements,
//! incompatible orders, and values nobody wrote. Each anomaly rules out
//! consistency models ([`Model`]); the verdict is invalid when an anomaly
//! rules out a model the user asked for (default: strict serializable).
//! Every anomaly comes with the transactions involved and, for a cycle,
//! each step and why it exists, in words.
//!
//! Files: `parse.rs` (history → transactions), `list_append.rs` (what list
//! reads reveal), `graph.rs` (the graph, components, searches),
//! `cycles.rs` (order edges, cycle search and classes), `models.rs` (what
//! each anomaly rules out).

mod cycles;
pub mod generate;
mod graph;
mod list_append;
mod models;
mod parse;
mod rw_register;

pub use models::Model;
pub use parse::Flavor;

use crate::checker::{CheckError, CheckResult, Checker, Validity};
use crate::history::History;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// A cycle's class, after Adya.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum CycleType {
    /// Write cycle: ww edges only (dirty write).
    G0,
    /// Circular information flow: ww and wr edges, at least one wr.
    G1c,
    /// Exactly one rw edge (read skew).
    GSingle,
    /// Several rw edges, no two adjacent.
    GNonadjacent,
    /// Several rw edges, some adjacent (write skew...).
    G2Item,
}

/// Which order edges a cycle needs besides data dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Order {
    /// None: a cycle of data dependencies alone.
    Data,
    /// A process's own order.
    Process,
    /// Real-time order.
    Realtime,
}

/// What kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AnomalyKind {
    /// A dependency cycle.
    Cycle(CycleType, Order),
    /// Aborted read: a value a failed transaction wrote was read.
    G1a,
    /// Intermediate read: a value its writer overwrote in the same
    /// transaction was read.
    G1b,
    /// A transaction's read disagrees with its own earlier reads and writes.
    Internal,
    /// A list holds an element appended once more than once.
    DuplicateElements,
    /// Two reads of a key that no single order of writes explains.
    IncompatibleOrder,
    /// A read of a value no transaction wrote.
    Garbage,
}

impl AnomalyKind {
    /// Elle's name: `G0`, `G-single-realtime`, `G1a`, `internal`...
    pub fn name(self) -> String {
        match self {
            AnomalyKind::Cycle(c, o) => {
                let base = match c {
                    CycleType::G0 => "G0",
                    CycleType::G1c => "G1c",
                    CycleType::GSingle => "G-single",
                    CycleType::GNonadjacent => "G-nonadjacent",
                    CycleType::G2Item => "G2-item",
                };
                match o {
                    Order::Data => base.to_string(),
                    Order::Process => format!("{base}-process"),
                    Order::Realtime => format!("{base}-realtime"),
                }
            }
            AnomalyKind::G1a => "G1a".into(),
            AnomalyKind::G1b => "G1b".into(),
            AnomalyKind::Internal => "internal".into(),
            AnomalyKind::DuplicateElements => "duplicate-elements".into(),
            AnomalyKind::IncompatibleOrder => "incompatible-order".into(),
            AnomalyKind::Garbage => "garbage-read".into(),
        }
    }
}

/// One step of a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The op index of the transaction the step leaves.
    pub from: u64,
    /// The op index of the transaction it reaches.
    pub to: u64,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub kind: String,
    /// Why the edge exists, in words.
    pub why: String,
}

/// One anomaly found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// Its kind.
    #[serde(skip)]
    pub kind: AnomalyKind,
    /// The op indices of the transactions involved (completions where they
    /// have one).
    pub txns: Vec<u64>,
    /// What happened, in words.
    pub explanation: String,
    /// A cycle's steps, in order (empty for other anomalies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// What one check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Transactions checked (every `txn` op).
    pub txns: usize,
    /// Of which committed (`ok`).
    pub committed: usize,
    /// Edges in the dependency graph.
    pub edges: usize,
    /// Every anomaly found.
    pub anomalies: Vec<Anomaly>,
    /// Whether the cycle search stopped at its budget (then more cycles
    /// may exist than were found).
    pub search_exhausted: bool,
}

impl Report {
    /// The models some anomaly rules out, strongest first.
    pub fn ruled_out(&self) -> Vec<Model> {
        let mut out: Vec<Model> = Vec::new();
        for a in &self.anomalies {
            for m in models::excluded_by(a.kind) {
                if !out.contains(m) {
                    out.push(*m);
                }
            }
        }
        out.sort();
        out
    }
}

/// Check a transactional history of `flavor` (see the module docs).
pub fn analyse(history: &History, flavor: Flavor) -> Result<Report, CheckError> {
    let t = parse::txns(history, flavor)?;
    enum Analysis {
        List(list_append::Analysis),
        Reg(rw_register::Analysis),
    }
    let (analysis, mut anomalies, mut builder) = match flavor {
        Flavor::ListAppend => {
            let (a, x, g) = list_append::analyse(&t)?;
            (Analysis::List(a), x, g)
        }
        Flavor::RwRegister => {
            let (a, x, g) = rw_register::analyse(&t)?;
            (Analysis::Reg(a), x, g)
        }
    };
    let explain = |x: usize, y: usize, k| match &analysis {
        Analysis::List(a) => list_append::explain(&t, a, x, y, k),
        Analysis::Reg(a) => rw_register::explain(&t, a, x, y, k),
    };
    cycles::add_order_edges(&t, &mut builder);
    let graph = builder.build();
    let (found, exhausted) = cycles::search(&graph, cycles::Limits::default());
    for c in found {
        let n = c.nodes.len();
        let steps: Vec<Step> = (0..n)
            .map(|i| {
                let (x, y) = (c.nodes[i], c.nodes[(i + 1) % n]);
                Step {
                    from: t.txns[x].index(),
                    to: t.txns[y].index(),
                    kind: cycles::step_name(c.steps[i]).to_string(),
                    why: explain(x, y, c.steps[i]),
                }
            })
            .collect();
        let kind = AnomalyKind::Cycle(c.kind, c.order);
        let names: Vec<String> = steps
            .iter()
            .map(|s| format!("op {} -{}-> ", s.from, s.kind))
            .collect();
        let explanation = format!(
            "{}op {}: a cycle, so each of these transactions would have to precede itself \
             ({})",
            names.concat(),
            steps.first().map(|s| s.from).unwrap_or(0),
            kind.name()
        );
        anomalies.push(Anomaly {
            kind,
            txns: c.nodes.iter().map(|&x| t.txns[x].index()).collect(),
            explanation,
            steps,
        });
    }
    anomalies.sort_by_key(|a| a.kind);
    Ok(Report {
        txns: t.txns.len(),
        committed: t
            .txns
            .iter()
            .filter(|x| x.outcome == parse::Outcome::Ok)
            .count(),
        edges: graph.edge_count(),
        anomalies,
        search_exhausted: exhausted,
    })
}

/// How many anomalies of one kind the details keep (all are counted).
const KEEP_PER_KIND: usize = 8;

/// The Elle-style checker of list-append or rw-register histories, judged
/// against the consistency models asked for.
#[derive(Debug, Clone)]
pub struct TxnChecker {
    flavor: Flavor,
    models: Vec<Model>,
}

impl TxnChecker {
    /// A checker of `flavor` histories judging them against `models`
    /// (empty: strict serializable).
    pub fn new(flavor: Flavor, models: Vec<Model>) -> Self {
        let models = if models.is_empty() {
            vec![Model::StrictSerializable]
        } else {
            models
        };
        TxnChecker { flavor, models }
    }
}

impl Checker for TxnChecker {
    fn name(&self) -> &str {
        match self.flavor {
            Flavor::ListAppend => "list-append",
            Flavor::RwRegister => "rw-register",
        }
    }

    /// Yes. Every anomaly is justified by ops of the prefix whose
    /// observations an extension does not change: an internal
    /// inconsistency, a duplicate element or a value nobody wrote is one
    /// committed transaction's own reads (the writer of a value read was
    /// invoked before the read completed, so it is in the prefix); an
    /// aborted read (G1a) reads a `fail`ed write, which stays failed;
    /// an intermediate read (G1b) reads a write its transaction
    /// overwrote, which stays so. Edges of the graph come from committed
    /// reads and writes of the prefix and from process and real-time order
    /// among its ops, and an extension only adds ops, reads and
    /// completions: an open transaction that commits adds edges, one that
    /// fails makes reads of its writes G1a, neither removes an edge. So a
    /// cycle of the prefix is a cycle of every extension.
    fn prefix_closed(&self) -> bool {
        true
    }

    fn check(&self, history: &History) -> Result<CheckResult, CheckError> {
        let r = analyse(history, self.flavor)?;
        let ruled_out = r.ruled_out();
        let violated: Vec<Model> = self
            .models
            .iter()
            .copied()
            .filter(|m| ruled_out.contains(m))
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut kept: BTreeMap<String, Vec<&Anomaly>> = BTreeMap::new();
        for a in &r.anomalies {
            let name = a.kind.name();
            *counts.entry(name.clone()).or_default() += 1;
            let v = kept.entry(name).or_default();
            if v.len() < KEEP_PER_KIND {
                v.push(a);
            }
        }
        // What each kind found rules out, so a report can say it per class.
        let rules_out: BTreeMap<String, Vec<&str>> = r
            .anomalies
            .iter()
            .map(|a| {
                let ms = models::excluded_by(a.kind).iter().map(|m| m.name());
                (a.kind.name(), ms.collect())
            })
            .collect();
        let asked: Vec<&str> = self.models.iter().map(|m| m.name()).collect();
        let valid = if !violated.is_empty() {
            Validity::Invalid
        } else if r.committed == 0 {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        let summary = match valid {
            Validity::Invalid => format!(
                "{} anomal{} ({}) rule out {}",
                r.anomalies.len(),
                if r.anomalies.len() == 1 { "y" } else { "ies" },
                counts
                    .iter()
                    .map(|(k, n)| format!("{k} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                violated
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Validity::Unknown => format!("no committed transaction among {} txn op(s)", r.txns),
            Validity::Valid if r.anomalies.is_empty() => format!(
                "{} committed of {} transactions, {} dependency edges: no anomaly ({})",
                r.committed,
                r.txns,
                r.edges,
                asked.join(", ")
            ),
            Validity::Valid => format!(
                "{} committed of {} transactions: {} anomal{} found, all allowed by {}",
                r.committed,
                r.txns,
                r.anomalies.len(),
                if r.anomalies.len() == 1 { "y" } else { "ies" },
                asked.join(", ")
            ),
        };
        let mut result = CheckResult::new(self.name(), valid, summary);
        result.details = json!({
            "models": asked,
            "not": ruled_out.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "anomaly-types": counts.keys().collect::<Vec<_>>(),
            "counts": counts,
            "anomalies": kept,
            "rules-out": rules_out,
            "txns": r.txns,
            "committed": r.committed,
            "edges": r.edges,
            "search-exhausted": r.search_exhausted,
        });
        Ok(result)
    }
}
