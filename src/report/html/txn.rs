//! Transactional anomalies in the report: the part of the "anomalies"
//! section for the `list-append` and `rw-register` checkers
//! ([`crate::checker::txn`]), valid or not.
//!
//! It works from the checker's `details` (the anomalies kept per class,
//! their transactions and, for a cycle, each step with why it exists) and
//! the history (each transaction's micro-ops and process). Per class: what
//! the class means, the consistency models it rules out, then each
//! anomaly kept (at most [`DRAW_PER_CLASS`]) with its explanation. A
//! cycle is drawn as an SVG of our own ([`cycle_svg`]): the transactions
//! as boxes on a circle in cycle order (two side by side), each step an
//! arrow labelled with its kind and the key and values that justify it,
//! anti-dependencies (rw) dashed. Cycles longer than [`MAX_DRAWN`] are
//! listed only. Non-cycle anomalies (G1a, G1b, internal, duplicates,
//! incompatible orders, garbage reads) get their explanation and their
//! transactions in words.
//!
//! The drawing is a pure function of its input (no randomness, no map
//! iteration order, coordinates rounded), so it can be snapshot-tested;
//! every text from the history is escaped.

use super::anomaly::{pair_text, Pairs, LIST};
use super::escape::esc;
use super::timeline::{truncate, value_text};
use crate::checker::CheckResult;
use serde_json::Value;
use std::fmt::Write as _;

/// Anomalies drawn per class; the others are counted.
pub const DRAW_PER_CLASS: usize = 20;

/// Cycles of more transactions than this are listed, not drawn.
pub const MAX_DRAWN: usize = 12;

/// True for the checkers this module draws.
pub fn is_txn(checker: &str) -> bool {
    matches!(checker, "list-append" | "rw-register")
}

/// One micro-op as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mop {
    /// `append`, `r` or `w` (Elle's `:append` and `read`/`write` spellings
    /// are brought to these).
    pub f: String,
    /// The key, as text.
    pub key: String,
    /// The value appended, written or read (`null`: unknown or nothing).
    pub value: Value,
}

impl Mop {
    /// A micro-op from its `[f, key, value]` array; `None` for any other
    /// shape.
    pub fn of(v: &Value) -> Option<Mop> {
        let a = v.as_array()?;
        if a.len() != 3 {
            return None;
        }
        let f = a[0].as_str()?.trim_start_matches(':');
        let f = match f {
            "read" => "r",
            "write" => "w",
            other => other,
        };
        Some(Mop {
            f: f.to_string(),
            key: value_text(&a[1]),
            value: a[2].clone(),
        })
    }

    /// Whether it writes (append or write).
    pub fn writes(&self) -> bool {
        self.f == "append" || self.f == "w"
    }

    /// Whether it reads.
    pub fn reads(&self) -> bool {
        self.f == "r"
    }

    /// One line: `append x 3`, `r x [1 2 … 8 9] (9)`, `r y nil`.
    pub fn text(&self) -> String {
        let v = match &self.value {
            Value::Null if self.reads() => "nil".to_string(),
            Value::Array(items) => list_text(items),
            other => value_text(other),
        };
        format!("{} {} {}", self.f, self.key, v)
    }
}

/// A list read, shortened: its first two and last three elements when
/// longer than six, with its length (the last elements matter most: they
/// say which appends were seen).
fn list_text(items: &[Value]) -> String {
    let show = |s: &[Value]| s.iter().map(value_text).collect::<Vec<_>>().join(" ");
    if items.len() <= 6 {
        format!("[{}]", show(items))
    } else {
        format!(
            "[{} … {}] ({})",
            show(&items[..2]),
            show(&items[items.len() - 3..]),
            items.len()
        )
    }
}

/// One transaction, as a box of the drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnBox {
    /// Its op index (as the checker names it).
    pub index: u64,
    /// Its process.
    pub process: String,
    /// `ok`, `info`, `fail`, or `pending` (never completed).
    pub outcome: String,
    /// Its micro-ops, with what was read when it completed ok.
    pub mops: Vec<Mop>,
    /// The transaction in words (the box's tooltip).
    pub text: String,
}

impl TxnBox {
    /// The transaction of op `index` in `pairs` (a box with no micro-ops
    /// when the history has no such op).
    pub fn of(index: u64, pairs: &Pairs<'_>) -> TxnBox {
        let Some((inv, comp)) = pairs.of(index) else {
            return TxnBox {
                index,
                process: "?".into(),
                outcome: "pending".into(),
                mops: Vec::new(),
                text: format!("op {index} (not in the history)"),
            };
        };
        let value = match comp {
            Some(c) if c.value.is_array() => &c.value,
            _ => &inv.value,
        };
        let mops: Vec<Mop> = value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Mop::of)
            .collect();
        let outcome = comp.map_or("pending".to_string(), |c| c.kind.to_string());
        // The micro-ops as the boxes show them, then when and where; an op
        // that is no transaction of micro-ops is told as any op.
        let text = if mops.is_empty() {
            pair_text(inv, comp)
        } else {
            let mut t = format!(
                "op {index} by process {}: {} — {outcome}",
                inv.process,
                truncate(
                    &mops.iter().map(Mop::text).collect::<Vec<_>>().join(", "),
                    400
                )
            );
            if let Some(c) = comp.filter(|c| inv.time != 0 || c.time != 0) {
                let _ = write!(
                    t,
                    ", t={:.3}–{:.3} s",
                    inv.time as f64 / 1e9,
                    c.time as f64 / 1e9
                );
            }
            if let Some(n) = comp.and_then(|c| c.node.as_ref()).or(inv.node.as_ref()) {
                let _ = write!(t, ", node {n}");
            }
            t
        };
        TxnBox {
            index,
            process: inv.process.to_string(),
            outcome,
            mops,
            text,
        }
    }

    fn last_write(&self, key: &str) -> Option<&Value> {
        self.mops
            .iter()
            .rev()
            .find(|m| m.writes() && m.key == key)
            .map(|m| &m.value)
    }

    fn first_write(&self, key: &str) -> Option<&Value> {
        self.mops
            .iter()
            .find(|m| m.writes() && m.key == key)
            .map(|m| &m.value)
    }

    fn reads(&self, key: &str) -> bool {
        self.mops.iter().any(|m| m.reads() && m.key == key)
    }
}

/// One step of a cycle, as an arrow of the drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub kind: String,
    /// The short label: the kind, the key and the values (`ww x: 1→2`).
    pub label: String,
    /// Why the edge exists, in words (the arrow's tooltip).
    pub why: String,
}

/// The first key a step's explanation names (`… key x …`).
fn key_named(why: &str) -> Option<&str> {
    let at = why.find("key ")? + 4;
    let rest = &why[at..];
    let end = rest.find([' ', ',']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|k| !k.is_empty())
}

/// The arrow of a step `from → to` of `kind`, explained by `why`: its
/// label names the key the explanation names (else the first key that
/// fits the kind) and the values written: for ww the two versions, for
/// wr the version read, for rw the version the reader missed.
pub fn edge_of(kind: &str, why: &str, from: &TxnBox, to: &TxnBox) -> Edge {
    let fits = |k: &str| match kind {
        "ww" => from.last_write(k).is_some() && to.first_write(k).is_some(),
        "wr" => from.last_write(k).is_some() && to.reads(k),
        "rw" => from.reads(k) && to.first_write(k).is_some(),
        _ => false,
    };
    let key = key_named(why)
        .filter(|k| fits(k))
        .map(str::to_string)
        .or_else(|| from.mops.iter().map(|m| m.key.clone()).find(|k| fits(k)));
    let short = |v: Option<&Value>| truncate(&v.map(value_text).unwrap_or_default(), 10);
    let label = match (kind, key) {
        ("ww", Some(k)) => format!(
            "ww {k}: {}→{}",
            short(from.last_write(&k)),
            short(to.first_write(&k))
        ),
        ("wr", Some(k)) => format!("wr {k}: {}", short(from.last_write(&k))),
        ("rw", Some(k)) => format!("rw {k}: {}", short(to.first_write(&k))),
        ("process", _) => format!("process {}", from.process),
        (other, _) => other.to_string(),
    };
    Edge {
        kind: kind.to_string(),
        label: truncate(&label, 30),
        why: why.to_string(),
    }
}

/// The colour of an edge kind (rw also dashed).
fn edge_color(kind: &str) -> &'static str {
    match kind {
        "ww" => "#6a4c93",
        "wr" => "#0969da",
        "rw" => "#c62828",
        "process" => "#57606a",
        "realtime" => "#00798c",
        _ => "#1f2328",
    }
}

fn outcome_color(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "#2e7d32",
        "fail" => "#c62828",
        "info" => "#ef6c00",
        _ => "#757575",
    }
}

/// The legend of the edge colours, as HTML.
pub fn legend() -> String {
    let mut s = String::from("<p class=\"note legend\">Arrows:");
    for (k, what) in [
        (
            "ww",
            "write-write: the second overwrote or appended after the first",
        ),
        ("wr", "write-read: the second read what the first wrote"),
        (
            "rw",
            "read-write, dashed: the second wrote a version the first did not see",
        ),
        ("process", "the same process, later"),
        ("realtime", "began after the first completed"),
    ] {
        let _ = write!(
            s,
            "<span style=\"background:{}\"></span><b>{k}</b> {what}",
            edge_color(k)
        );
    }
    s.push_str(
        ". Box outline: <b style=\"color:#2e7d32\">ok</b>, <b style=\"color:#ef6c00\">info</b>. \
                Hover a box or an arrow for its full text.</p>",
    );
    s
}

const BOX_W: f64 = 220.0;
const LINE_H: f64 = 14.0;
const MOP_LINES: usize = 6;
/// Characters of a micro-op line that fit in a box (monospace, 11 px).
const MOP_CHARS: usize = 31;

fn box_lines(b: &TxnBox) -> Vec<String> {
    let mut lines: Vec<String> = b
        .mops
        .iter()
        .map(|m| truncate(&m.text(), MOP_CHARS))
        .collect();
    if lines.len() > MOP_LINES {
        let more = lines.len() - (MOP_LINES - 1);
        lines.truncate(MOP_LINES - 1);
        lines.push(format!("+{more} more micro-ops"));
    }
    lines
}

type Pt = (f64, f64);

fn norm(v: Pt) -> Pt {
    let l = v.0.hypot(v.1);
    if l < 1e-9 {
        (1.0, 0.0)
    } else {
        (v.0 / l, v.1 / l)
    }
}

/// Where a ray from the centre `c` of a box (half sizes `hw`, `hh`) in
/// direction `u` leaves it.
fn exit(c: Pt, u: Pt, hw: f64, hh: f64) -> Pt {
    let u = norm(u);
    let tx = if u.0.abs() < 1e-9 {
        f64::INFINITY
    } else {
        hw / u.0.abs()
    };
    let ty = if u.1.abs() < 1e-9 {
        f64::INFINITY
    } else {
        hh / u.1.abs()
    };
    let t = tx.min(ty);
    (c.0 + u.0 * t, c.1 + u.1 * t)
}

/// The SVG of a cycle: `nodes[i]` → `nodes[i+1]` by `edges[i]`, and the
/// last node back to the first by the last edge. Empty when there are
/// fewer than two nodes, more than [`MAX_DRAWN`], or the edges do not
/// match the nodes.
pub fn cycle_svg(nodes: &[TxnBox], edges: &[Edge]) -> String {
    let n = nodes.len();
    if !(2..=MAX_DRAWN).contains(&n) || edges.len() != n {
        return String::new();
    }
    let lines: Vec<Vec<String>> = nodes.iter().map(box_lines).collect();
    let most = lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let box_h = 26.0 + LINE_H * most as f64;
    let (hw, hh) = (BOX_W / 2.0, box_h / 2.0);
    // Centres: two side by side; more on a circle, clockwise from the top,
    // far enough apart for the boxes and the labels between them.
    let (centres, middle): (Vec<Pt>, Pt) = if n == 2 {
        (
            vec![(0.0, 0.0), (BOX_W + 240.0, 0.0)],
            (BOX_W / 2.0 + 120.0, 0.0),
        )
    } else {
        let chord = BOX_W.hypot(box_h) + 120.0;
        let r = chord / (2.0 * (std::f64::consts::PI / n as f64).sin());
        let c = (0..n)
            .map(|i| {
                let a =
                    -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
                (r * a.cos(), r * a.sin())
            })
            .collect();
        (c, (0.0, 0.0))
    };
    // Bounds, grown by every box, curve and label.
    let mut lo = (f64::INFINITY, f64::INFINITY);
    let mut hi = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut grow = |p: Pt, dx: f64, dy: f64| {
        lo = (lo.0.min(p.0 - dx), lo.1.min(p.1 - dy));
        hi = (hi.0.max(p.0 + dx), hi.1.max(p.1 + dy));
    };
    for c in &centres {
        grow(*c, hw, hh);
    }
    let mut arrows = String::new();
    for (i, e) in edges.iter().enumerate() {
        let (a, b) = (centres[i], centres[(i + 1) % n]);
        let d = norm((b.0 - a.0, b.1 - a.1));
        let m = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        let mut nrm = (-d.1, d.0);
        let out = (m.0 - middle.0, m.1 - middle.1);
        if n > 2 && nrm.0 * out.0 + nrm.1 * out.1 < 0.0 {
            nrm = (-nrm.0, -nrm.1);
        }
        let span = (b.0 - a.0).hypot(b.1 - a.1);
        let bend = if n == 2 { 70.0 } else { 0.12 * span };
        let ctrl = (m.0 + nrm.0 * bend, m.1 + nrm.1 * bend);
        let start = exit(a, (ctrl.0 - a.0, ctrl.1 - a.1), hw + 3.0, hh + 3.0);
        let end = exit(b, (ctrl.0 - b.0, ctrl.1 - b.1), hw + 3.0, hh + 3.0);
        let tip = norm((end.0 - ctrl.0, end.1 - ctrl.1));
        let back = (end.0 - tip.0 * 11.0, end.1 - tip.1 * 11.0);
        let (w1, w2) = (
            (back.0 - tip.1 * 4.5, back.1 + tip.0 * 4.5),
            (back.0 + tip.1 * 4.5, back.1 - tip.0 * 4.5),
        );
        let mid = (
            0.25 * start.0 + 0.5 * ctrl.0 + 0.25 * end.0,
            0.25 * start.1 + 0.5 * ctrl.1 + 0.25 * end.1,
        );
        let label_at = (mid.0 + nrm.0 * 10.0, mid.1 + nrm.1 * 10.0 + 4.0);
        let label_w = e.label.chars().count() as f64 * 6.4;
        grow(mid, 2.0, 2.0);
        grow(label_at, label_w / 2.0 + 4.0, 12.0);
        let color = edge_color(&e.kind);
        let dash = if e.kind == "rw" {
            " stroke-dasharray=\"7 4\""
        } else {
            ""
        };
        let _ = write!(
            arrows,
            "<g class=\"edge edge-{}\"><title>op {} -{}-&gt; op {}: {}</title>\
             <path d=\"M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{dash}/>\
             <polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{color}\" font-weight=\"600\" \
             stroke=\"#fff\" stroke-width=\"4\" paint-order=\"stroke\">{}</text></g>",
            esc(&e.kind),
            nodes[i].index,
            esc(&e.kind),
            nodes[(i + 1) % n].index,
            esc(&e.why),
            start.0,
            start.1,
            ctrl.0,
            ctrl.1,
            end.0,
            end.1,
            end.0,
            end.1,
            w1.0,
            w1.1,
            w2.0,
            w2.1,
            label_at.0,
            label_at.1,
            esc(&e.label)
        );
    }
    let mut boxes = String::new();
    for ((b, c), ls) in nodes.iter().zip(&centres).zip(&lines) {
        let (x, y) = (c.0 - hw, c.1 - hh);
        let _ = write!(
            boxes,
            "<g class=\"txn\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_W}\" \
             height=\"{box_h}\" rx=\"5\" fill=\"#f6f8fa\" stroke=\"{}\" stroke-width=\"1.6\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"600\" fill=\"#1f2328\">op {} · process {} · {}</text>",
            esc(&b.text),
            outcome_color(&b.outcome),
            x + 8.0,
            y + 16.0,
            b.index,
            esc(&truncate(&b.process, 12)),
            esc(&b.outcome)
        );
        for (j, l) in ls.iter().enumerate() {
            let _ = write!(
                boxes,
                "<text class=\"mono\" x=\"{:.1}\" y=\"{:.1}\" fill=\"#1f2328\" \
                 font-family=\"ui-monospace, DejaVu Sans Mono, monospace\">{}</text>",
                x + 8.0,
                y + 32.0 + LINE_H * j as f64,
                esc(l)
            );
        }
        boxes.push_str("</g>");
    }
    let pad = 10.0;
    let (x0, y0) = (lo.0 - pad, lo.1 - pad);
    let (w, h) = (hi.0 - lo.0 + 2.0 * pad, hi.1 - lo.1 + 2.0 * pad);
    format!(
        "<svg class=\"txn-cycle\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" \
         viewBox=\"{x0:.1} {y0:.1} {w:.1} {h:.1}\" font-size=\"11\" role=\"img\" \
         aria-label=\"a cycle of {n} transactions\">{arrows}{boxes}</svg>"
    )
}

/// What an anomaly class means, in a sentence.
fn meaning(class: &str) -> String {
    let (base, order) = match class.strip_suffix("-realtime") {
        Some(b) => (b, " It needs real-time order: serializable allows it, strict serializable does not."),
        None => match class.strip_suffix("-process") {
            Some(b) => (b, " It needs a process's own order: serializable allows it, strict serializable does not."),
            None => (class, ""),
        },
    };
    let what = match base {
        "G0" => "Write cycle (dirty write): each transaction overwrote or appended after the previous one's write.",
        "G1c" => "Circular information flow: write-write and write-read dependencies only, at least one read.",
        "G-single" => "Read skew: a cycle with exactly one anti-dependency (rw): a transaction missed a write that, through the others, precedes it.",
        "G-nonadjacent" => "A cycle with several anti-dependencies (rw), no two adjacent.",
        "G2-item" => "Write skew: a cycle with adjacent anti-dependencies (rw).",
        "G1a" => "Aborted read: a committed transaction read a value that a failed transaction wrote.",
        "G1b" => "Intermediate read: a transaction read a value that its writer overwrote in the same transaction.",
        "internal" => "Internal inconsistency: a transaction's read disagrees with its own earlier reads and writes.",
        "duplicate-elements" => "A list holds an element that was appended once more than once.",
        "incompatible-order" => "Two reads of a key that no single order of appends explains.",
        "garbage-read" => "A read of a value that no transaction wrote.",
        _ => "",
    };
    format!("{what}{order}")
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The body of a txn checker's block in the anomalies section: models
/// asked and ruled out, then each class and its anomalies, or a line
/// saying there is none.
pub fn section(out: &mut String, c: &CheckResult, pairs: &Pairs<'_>) {
    let d = &c.details;
    let asked = names(&d["models"]);
    let not = names(&d["not"]);
    let _ = write!(
        out,
        "<p>Judged against: <b>{}</b>. This history rules out: {}.</p>",
        esc(&asked.join(", ")),
        if not.is_empty() {
            "no model".to_string()
        } else {
            format!("<b>{}</b>", esc(&not.join(", ")))
        }
    );
    if d["search-exhausted"].as_bool() == Some(true) {
        out.push_str(
            "<p class=\"warn\">The cycle search ran out of its budget: more cycles may exist \
             than are shown.</p>",
        );
    }
    let counts = d["counts"].as_object().cloned().unwrap_or_default();
    if counts.is_empty() {
        let _ = write!(
            out,
            "<p class=\"none\"><b>No anomaly</b>: {} committed of {} transactions, {} dependency \
             edges, no cycle and no aborted, intermediate, inconsistent or garbage read.</p>",
            d["committed"], d["txns"], d["edges"]
        );
        return;
    }
    let has_cycle = d["anomalies"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .flat_map(|l| l.as_array().into_iter().flatten())
        .any(|a| a["steps"].as_array().is_some_and(|s| !s.is_empty()));
    if has_cycle {
        out.push_str(&legend());
    }
    out.push_str("<ul>");
    for (class, n) in &counts {
        let _ = write!(
            out,
            "<li><a href=\"#txn-{}-{}\">{}</a> ×{}</li>",
            esc(&c.checker),
            esc(class),
            esc(class),
            n
        );
    }
    out.push_str("</ul>");
    for (class, n) in &counts {
        let total = n.as_u64().unwrap_or(0) as usize;
        let kept: Vec<&Value> = d["anomalies"][class.as_str()]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let rules_out = names(&d["rules-out"][class.as_str()]);
        let _ = write!(
            out,
            "<h4 id=\"txn-{}-{}\">{} — {} found</h4><p>{}",
            esc(&c.checker),
            esc(class),
            esc(class),
            total,
            esc(&meaning(class))
        );
        if !rules_out.is_empty() {
            let _ = write!(out, " Rules out: <b>{}</b>.", esc(&rules_out.join(", ")));
        }
        out.push_str("</p>");
        for (i, a) in kept.iter().take(DRAW_PER_CLASS).enumerate() {
            anomaly(out, class, i + 1, a, pairs);
        }
        let shown = kept.len().min(DRAW_PER_CLASS);
        if total > shown {
            let _ = write!(
                out,
                "<p class=\"note\">… and {} more {} (the checker keeps the first {} of each class).</p>",
                total - shown,
                esc(class),
                kept.len()
            );
        }
    }
}

/// One anomaly: its explanation, and its cycle drawn and stepped through,
/// or its transactions in words.
fn anomaly(out: &mut String, class: &str, nth: usize, a: &Value, pairs: &Pairs<'_>) {
    let txns: Vec<u64> = a["txns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    let steps: Vec<&Value> = a["steps"]
        .as_array()
        .map(|s| s.iter().collect())
        .unwrap_or_default();
    let _ = write!(
        out,
        "<div class=\"txn-anomaly\"><p><b>{} #{nth}</b>: {}</p>",
        esc(class),
        esc(&truncate(a["explanation"].as_str().unwrap_or(""), 2000))
    );
    if steps.is_empty() {
        out.push_str("<ul class=\"mono\">");
        for t in txns.iter().take(LIST) {
            let _ = write!(out, "<li>{}</li>", esc(&TxnBox::of(*t, pairs).text));
        }
        out.push_str("</ul>");
    } else {
        let nodes: Vec<TxnBox> = steps
            .iter()
            .map(|s| TxnBox::of(s["from"].as_u64().unwrap_or(0), pairs))
            .collect();
        let edges: Vec<Edge> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                edge_of(
                    s["kind"].as_str().unwrap_or("?"),
                    s["why"].as_str().unwrap_or(""),
                    &nodes[i],
                    &nodes[(i + 1) % nodes.len()],
                )
            })
            .collect();
        let svg = cycle_svg(&nodes, &edges);
        if svg.is_empty() {
            let _ = write!(
                out,
                "<p class=\"note\">A cycle of {} transactions: listed, not drawn.</p>",
                nodes.len()
            );
        } else {
            out.push_str("<div class=\"cycle\">");
            out.push_str(&svg);
            out.push_str("</div>");
        }
        out.push_str("<ol class=\"mono\">");
        for s in &steps {
            let _ = write!(
                out,
                "<li>op {} -{}-&gt; op {}: {}</li>",
                s["from"],
                esc(s["kind"].as_str().unwrap_or("?")),
                s["to"],
                esc(s["why"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</ol><details><summary>the transactions</summary><ul class=\"mono\">");
        for b in &nodes {
            let _ = write!(out, "<li>{}</li>", esc(&b.text));
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mop(f: &str, key: &str, value: Value) -> Mop {
        Mop {
            f: f.into(),
            key: key.into(),
            value,
        }
    }

    fn txn(index: u64, process: &str, mops: Vec<Mop>) -> TxnBox {
        TxnBox {
            index,
            process: process.into(),
            outcome: "ok".into(),
            mops,
            text: format!("op {index}"),
        }
    }

    fn edges(nodes: &[TxnBox], steps: &[(&str, &str)]) -> Vec<Edge> {
        steps
            .iter()
            .enumerate()
            .map(|(i, (k, why))| edge_of(k, why, &nodes[i], &nodes[(i + 1) % nodes.len()]))
            .collect()
    }

    /// Two transactions that appended to x and y in opposite orders.
    fn g0() -> (Vec<TxnBox>, Vec<Edge>) {
        let nodes = vec![
            txn(
                2,
                "1",
                vec![mop("append", "x", json!(1)), mop("append", "y", json!(1))],
            ),
            txn(
                3,
                "2",
                vec![mop("append", "x", json!(2)), mop("append", "y", json!(2))],
            ),
        ];
        let e = edges(
            &nodes,
            &[
                (
                    "ww",
                    "op 2 appended 1 to key x and op 3 appended 2 right after it",
                ),
                (
                    "ww",
                    "op 3 appended 2 to key y and op 2 appended 1 right after it",
                ),
            ],
        );
        (nodes, e)
    }

    /// T1 appends x and z; T2 reads x, appends y; T3 reads y, misses z.
    fn g_single() -> (Vec<TxnBox>, Vec<Edge>) {
        let nodes = vec![
            txn(
                5,
                "3",
                vec![mop("r", "y", json!([1])), mop("r", "z", json!([]))],
            ),
            txn(
                3,
                "1",
                vec![mop("append", "x", json!(1)), mop("append", "z", json!(1))],
            ),
            txn(
                4,
                "2",
                vec![mop("r", "x", json!([1])), mop("append", "y", json!(1))],
            ),
        ];
        let e = edges(
            &nodes,
            &[
                (
                    "rw",
                    "op 5 read key z empty, without 1, the next element, which op 3 appended",
                ),
                (
                    "wr",
                    "op 4 read key x as [1], whose last element 1 op 3 appended",
                ),
                (
                    "wr",
                    "op 5 read key y as [1], whose last element 1 op 4 appended",
                ),
            ],
        );
        (nodes, e)
    }

    fn count(s: &str, pat: &str) -> usize {
        s.matches(pat).count()
    }

    #[test]
    fn a_g0_two_cycle_has_two_boxes_two_solid_arrows_labelled_with_keys_and_values() {
        let (nodes, e) = g0();
        let svg = cycle_svg(&nodes, &e);
        assert!(svg.starts_with("<svg class=\"txn-cycle\""), "{svg}");
        assert_eq!(count(&svg, "<g class=\"txn\">"), 2, "{svg}");
        assert_eq!(count(&svg, "<g class=\"edge edge-ww\">"), 2, "{svg}");
        assert_eq!(count(&svg, "<polygon"), 2, "{svg}");
        assert!(!svg.contains("stroke-dasharray"), "{svg}");
        assert!(svg.contains(">ww x: 1→2</text>"), "{svg}");
        assert!(svg.contains(">ww y: 2→1</text>"), "{svg}");
        assert!(svg.contains(">op 2 · process 1 · ok</text>"), "{svg}");
        assert!(svg.contains(">append x 1</text>"), "{svg}");
        // The two arrows between the same boxes bend to opposite sides.
        let paths: Vec<&str> = svg.split("<path d=\"").skip(1).collect();
        assert_eq!(paths.len(), 2);
        assert_ne!(paths[0].split(' ').nth(1), paths[1].split(' ').nth(1));
    }

    #[test]
    fn a_g_single_three_cycle_dashes_its_one_rw_edge() {
        let (nodes, e) = g_single();
        let svg = cycle_svg(&nodes, &e);
        assert_eq!(count(&svg, "<g class=\"txn\">"), 3, "{svg}");
        assert_eq!(count(&svg, "<g class=\"edge "), 3, "{svg}");
        assert_eq!(count(&svg, "stroke-dasharray"), 1, "{svg}");
        assert_eq!(count(&svg, "<g class=\"edge edge-rw\">"), 1, "{svg}");
        assert!(svg.contains(">rw z: 1</text>"), "{svg}");
        assert!(svg.contains(">wr x: 1</text>"), "{svg}");
        assert!(svg.contains(">wr y: 1</text>"), "{svg}");
        assert!(svg.contains(">r z []</text>"), "{svg}");
        // The tooltip says why, escaped.
        assert!(
            svg.contains("<title>op 5 -rw-&gt; op 3: op 5 read key z empty"),
            "{svg}"
        );
    }

    #[test]
    fn the_drawing_is_deterministic_and_rounded() {
        let (nodes, e) = g_single();
        let a = cycle_svg(&nodes, &e);
        assert_eq!(a, cycle_svg(&nodes, &e));
        let (nodes, e) = g0();
        let b = cycle_svg(&nodes, &e);
        // Snapshot of the frame: two boxes side by side, arrows above and below.
        assert!(
            b.starts_with(
                "<svg class=\"txn-cycle\" xmlns=\"http://www.w3.org/2000/svg\" width=\"700\" \
                 height=\"164\" viewBox=\"-120.0 -78.0 700.0 164.0\""
            ),
            "{b}"
        );
        // Every coordinate has at most one decimal.
        for num in b.split(['"', ' ', ',']) {
            if let Some((_, frac)) = num.split_once('.') {
                if num.parse::<f64>().is_ok() {
                    assert!(frac.len() <= 1, "{num} in {b}");
                }
            }
        }
    }

    #[test]
    fn odd_keys_and_values_are_escaped() {
        let evil = "<script>alert('x')</script>&\"";
        let nodes = vec![
            txn(1, evil, vec![mop("append", evil, json!(evil))]),
            txn(2, "2", vec![mop("append", evil, json!("b"))]),
        ];
        let e = edges(
            &nodes,
            &[
                ("ww", &format!("op 1 appended to key {evil}")),
                ("ww", "op 2 appended <b>"),
            ],
        );
        let svg = cycle_svg(&nodes, &e);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert_eq!(count(&svg, "<g class=\"txn\">"), 2, "{svg}");
    }

    #[test]
    fn cycles_too_short_or_too_long_or_mismatched_are_not_drawn() {
        let (nodes, e) = g0();
        assert_eq!(cycle_svg(&nodes[..1], &e[..1]), "");
        assert_eq!(cycle_svg(&nodes, &e[..1]), "");
        let many: Vec<TxnBox> = (0..=MAX_DRAWN as u64)
            .map(|i| txn(i, "1", vec![]))
            .collect();
        let ring: Vec<Edge> = many
            .iter()
            .map(|_| Edge {
                kind: "ww".into(),
                label: "ww".into(),
                why: String::new(),
            })
            .collect();
        assert_eq!(cycle_svg(&many, &ring), "");
        assert_eq!(
            count(&cycle_svg(&many[1..], &ring[1..]), "<g class=\"txn\">"),
            MAX_DRAWN
        );
    }

    #[test]
    fn an_edge_label_names_the_key_its_explanation_names() {
        let a = txn(
            1,
            "7",
            vec![mop("append", "x", json!(1)), mop("append", "y", json!(3))],
        );
        let b = txn(
            2,
            "7",
            vec![mop("append", "x", json!(2)), mop("append", "y", json!(4))],
        );
        assert_eq!(
            edge_of("ww", "op 1 appended 3 to key y and …", &a, &b).label,
            "ww y: 3→4"
        );
        // No key named: the first that fits the kind.
        assert_eq!(
            edge_of("ww", "op 1 wrote a version", &a, &b).label,
            "ww x: 1→2"
        );
        // A named key that does not fit the kind is not trusted.
        assert_eq!(edge_of("wr", "key x", &a, &b).label, "wr");
        assert_eq!(edge_of("process", "", &a, &b).label, "process 7");
        assert_eq!(edge_of("realtime", "", &a, &b).label, "realtime");
    }

    #[test]
    fn micro_ops_read_every_spelling_and_long_lists_are_shortened() {
        let m = Mop::of(&json!([":append", "x", 3])).expect("a mop");
        assert_eq!(m.text(), "append x 3");
        assert!(m.writes() && !m.reads());
        assert_eq!(
            Mop::of(&json!(["read", "k", [1, 2, 3, 4, 5, 6, 7, 8, 9]]))
                .expect("a mop")
                .text(),
            "r k [1 2 … 7 8 9] (9)"
        );
        assert_eq!(
            Mop::of(&json!(["r", "k", null])).expect("a mop").text(),
            "r k nil"
        );
        assert_eq!(Mop::of(&json!(["w", "k"])), None);
        assert_eq!(Mop::of(&json!("w")), None);
    }

    #[test]
    fn a_checked_history_with_odd_keys_is_drawn_escaped_and_named_by_completion() {
        use crate::checker::txn::{Flavor, TxnChecker};
        use crate::checker::Checker;
        use crate::history::{History, Op, OpType, Process};
        let evil = "<script>x</script>";
        let mut ops = Vec::new();
        for (p, v) in [(1, 1), (2, 2)] {
            let m = json!([["append", evil, v], ["append", "y", v]]);
            ops.push(Op::invoke(Process::Client(p), "txn", m));
        }
        for (p, v) in [(1, 1), (2, 2)] {
            let mut o = Op::invoke(
                Process::Client(p),
                "txn",
                json!([["append", evil, v], ["append", "y", v]]),
            );
            o.kind = OpType::Ok;
            ops.push(o);
        }
        ops.push(Op::invoke(
            Process::Client(3),
            "txn",
            json!([["r", evil, null], ["r", "y", null]]),
        ));
        let mut o = Op::invoke(
            Process::Client(3),
            "txn",
            json!([["r", evil, [1, 2]], ["r", "y", [2, 1]]]),
        );
        o.kind = OpType::Ok;
        ops.push(o);
        let h = History::new(ops);
        let r = TxnChecker::new(Flavor::ListAppend, vec![])
            .check(&h)
            .expect("checkable");
        let mut out = String::new();
        section(&mut out, &r, &Pairs::new(&h));
        assert!(out.contains("G0 — 1 found"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(
            out.contains("append &lt;script&gt;x&lt;/script&gt; 1"),
            "{out}"
        );
        // Boxes are named by the completions' indices, as the checker names them.
        assert!(out.contains(">op 2 · process 1 · ok</text>"), "{out}");
        assert!(out.contains(">op 3 · process 2 · ok</text>"), "{out}");
    }
}
