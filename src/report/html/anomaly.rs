//! The "anomalies" section: for every invalid checker, what is wrong and
//! the ops at fault. Linearizability: per invalid key, the minimal anomaly
//! first, then the key's relevant ops drawn as bars per process (the ops
//! already linearized marked, the op that fits no state highlighted, with
//! the states it could have seen), then the checker's explanation. Set,
//! bank and counter: the elements or reads at fault and the ops that
//! produced them, looked up in the history. Transactional checkers
//! (list-append, rw-register), valid or not: each anomaly class with its
//! cycles drawn ([`super::txn`]). Lists are bounded
//! ([`LIST`] entries, then "and N more").

use super::escape::esc;
use super::timeline::{truncate, value_text};
use super::txn;
use crate::checker::linearizable::{KeyReport, LinearizableReport, OpRef};
use crate::checker::{CheckResult, Validity};
use crate::history::exact::exact_text;
use crate::history::{History, Op, OpType};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// At most this many elements, reads or keys are shown per list.
pub const LIST: usize = 50;

/// Characters of a value shown inline.
const SHOW: usize = 120;

/// Client ops paired invoke → completion, looked up by either index.
pub struct Pairs<'a> {
    pairs: Vec<(&'a Op, Option<&'a Op>)>,
    by_index: HashMap<u64, usize>,
}

impl<'a> Pairs<'a> {
    /// Pair `history`'s client ops (a completion without invoke is
    /// skipped: the checkers report that malformation themselves).
    pub fn new(history: &'a History) -> Pairs<'a> {
        let mut open: HashMap<crate::history::Process, usize> = HashMap::new();
        let mut pairs: Vec<(&Op, Option<&Op>)> = Vec::new();
        let mut by_index = HashMap::new();
        for op in history.ops.iter().filter(|o| o.is_client()) {
            if op.kind == OpType::Invoke {
                open.insert(op.process, pairs.len());
                by_index.insert(op.index, pairs.len());
                pairs.push((op, None));
            } else if let Some(i) = open.remove(&op.process) {
                pairs[i].1 = Some(op);
                by_index.insert(op.index, i);
            }
        }
        Pairs { pairs, by_index }
    }

    /// The pair holding the op with this history index.
    pub fn of(&self, index: u64) -> Option<(&'a Op, Option<&'a Op>)> {
        self.by_index.get(&index).map(|&i| self.pairs[i])
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// One op pair in words: `op 12 by process 3: read → [1,2] ok, t=1.2–1.3 s, node n1`.
pub(super) fn pair_text(inv: &Op, comp: Option<&Op>) -> String {
    let mut s = format!("op {} by process {}: {}", inv.index, inv.process, inv.f);
    let arg = value_text(&inv.value);
    if !arg.is_empty() {
        let _ = write!(s, " {}", truncate(&arg, SHOW));
    }
    match comp {
        Some(c) => {
            let res = value_text(&c.value);
            if !res.is_empty() && c.value != inv.value {
                let _ = write!(s, " → {}", truncate(&res, SHOW));
            }
            let _ = write!(s, " {}", c.kind);
            if inv.time != 0 || c.time != 0 {
                let _ = write!(s, ", t={}–{}", secs(inv.time), secs(c.time));
            }
            if let Some(e) = &c.error {
                let _ = write!(s, ", error {}", truncate(&value_text(e), SHOW));
            }
        }
        None => {
            let _ = write!(s, " never completed, t={}", secs(inv.time));
        }
    }
    if let Some(n) = comp.and_then(|c| c.node.as_ref()).or(inv.node.as_ref()) {
        let _ = write!(s, ", node {n}");
    }
    s
}

/// A set read in words, its value summarized: `op 86 by process 2: read
/// of 40 elements ok, t=0.951–0.952 s, node n3`.
fn read_text(inv: &Op, c: &Op) -> String {
    let n = c.value.as_array().map_or(0, Vec::len);
    let mut s = format!(
        "op {} by process {}: read of {n} element{} {}",
        inv.index,
        inv.process,
        if n == 1 { "" } else { "s" },
        c.kind
    );
    if inv.time != 0 || c.time != 0 {
        let _ = write!(s, ", t={}–{}", secs(inv.time), secs(c.time));
    }
    if let Some(n) = c.node.as_ref().or(inv.node.as_ref()) {
        let _ = write!(s, ", node {n}");
    }
    s
}

/// [`read_text`] for a completed set read of a list, else [`pair_text`].
fn read_or_pair(inv: &Op, comp: Option<&Op>) -> String {
    match comp {
        Some(c) if c.value.is_array() => read_text(inv, c),
        _ => pair_text(inv, comp),
    }
}

fn more(out: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = write!(out, "<p class=\"note\">… and {} more.</p>", total - shown);
    }
}

/// The anomaly section's body for `checkers` (empty when none is invalid).
pub fn section(checkers: &[CheckResult], history: &History) -> String {
    // Transactional checkers are shown valid too: their report says which
    // anomalies were looked for and that none (or only allowed ones) was found.
    let shown: Vec<&CheckResult> = checkers
        .iter()
        .filter(|c| c.valid == Validity::Invalid || txn::is_txn(&c.checker))
        .collect();
    if shown.is_empty() {
        return String::new();
    }
    let pairs = Pairs::new(history);
    let mut out = String::new();
    for c in shown {
        let _ = write!(
            out,
            "<div class=\"anomaly{}\"><h3>{} — <span class=\"badge v-{}\">{}</span></h3>",
            if c.valid == Validity::Invalid {
                ""
            } else {
                " checked"
            },
            esc(&c.checker),
            c.valid,
            c.valid
        );
        if c.checker != "linearizable" {
            let _ = write!(out, "<p>{}</p>", esc(&c.summary));
        }
        match c.checker.as_str() {
            "linearizable" => linearizable(&mut out, &c.details),
            "set" => set(&mut out, &c.details, &pairs),
            "bank" => bank(&mut out, &c.details, &pairs),
            "counter" => counter(&mut out, &c.details, &pairs),
            name if txn::is_txn(name) => txn::section(&mut out, c, &pairs),
            _ => {}
        }
        out.push_str("</div>\n");
    }
    out
}

fn linearizable(out: &mut String, details: &Value) {
    let report: LinearizableReport = match serde_json::from_value(details.clone()) {
        Ok(r) => r,
        Err(e) => {
            let _ = write!(
                out,
                "<p class=\"warn\">The checker's details cannot be drawn: {}</p>",
                esc(&e.to_string())
            );
            return;
        }
    };
    let keys: Vec<&KeyReport> = report
        .keys
        .iter()
        .filter(|k| k.valid == Validity::Invalid)
        .collect();
    for k in keys.iter().take(LIST) {
        key(out, k, &report);
    }
    more(out, keys.len(), keys.len().min(LIST));
}

fn key(out: &mut String, k: &KeyReport, report: &LinearizableReport) {
    let name = match &k.key {
        Some(key) => format!("key {key}"),
        None => "the history".to_string(),
    };
    let _ = write!(
        out,
        "<h3>{} ({} ops, model {})</h3>",
        esc(&name),
        k.ops,
        esc(&report.model.to_string())
    );
    let minimal_ids: HashSet<u64> = k
        .minimal
        .iter()
        .flat_map(|m| m.ops.iter().map(|o| o.index))
        .collect();
    if let Some(m) = &k.minimal {
        let _ = write!(
            out,
            "<div class=\"minimal\" id=\"minimal-{}\"><b class=\"big\">{}</b> \
             <span class=\"note\">(shrunk from {} ops in {:.0} ms{})</span><p>{}</p><ol class=\"mono\">",
            esc(&name.replace(' ', "-")),
            match m.ops.len() {
                1 => "This op cannot be linearized".to_string(),
                n => format!("These {n} ops cannot be linearized"),
            },
            m.from_ops,
            m.elapsed_ms,
            if m.one_minimal {
                "; no single op can be removed"
            } else {
                "; time budget ran out before it was 1-minimal"
            },
            // The explanation's first line; its op lines are the list below
            // and its other lines (what real time orders) follow the list.
            esc(m.explanation.lines().next().unwrap_or_default())
        );
        for o in &m.ops {
            let _ = write!(out, "<li>{}</li>", esc(&o.text));
        }
        out.push_str("</ol>");
        let op_lines: HashSet<&str> = m.ops.iter().map(|o| o.text.as_str()).collect();
        let rest: Vec<String> = m
            .explanation
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !op_lines.contains(l))
            .map(esc)
            .collect();
        if !rest.is_empty() {
            let _ = write!(out, "<p>{}</p>", rest.join("<br>"));
        }
        out.push_str(&op_bars(&m.ops, None, &HashSet::new(), &HashSet::new()));
        out.push_str("</div>");
    }
    let Some(f) = &k.failure else {
        out.push_str("<p class=\"note\">The checker gave no failure point for this key.</p>");
        return;
    };
    // The drawing: ops linearized last, the concurrent ops, the failing
    // op and the minimal anomaly's ops, once each.
    let mut ops: Vec<OpRef> = Vec::new();
    let mut seen = HashSet::new();
    for o in f
        .last_linearized
        .iter()
        .chain(&f.concurrent)
        .chain(std::iter::once(&f.op))
        .chain(k.minimal.iter().flat_map(|m| m.ops.iter()))
    {
        if seen.insert(o.index) {
            ops.push(o.clone());
        }
    }
    let linearized: HashSet<u64> = f.last_linearized.iter().map(|o| o.index).collect();
    let _ = write!(
        out,
        "<p>The key's relevant ops, one row per process: the last {} op(s) of one linearization \
         of the prefix (<b style=\"color:#0969da\">blue outline ✓</b>), the ops concurrent with the \
         failing op, and the op that fits no state (<b style=\"color:#c62828\">red outline ✗</b>){}.</p>",
        f.last_linearized.len(),
        if minimal_ids.is_empty() {
            ""
        } else {
            "; ◆ marks the ops of the minimal anomaly"
        }
    );
    out.push_str(&op_bars(&ops, Some(f.op.index), &linearized, &minimal_ids));
    let _ = write!(
        out,
        "<p>Just before {} completed, {} could hold{}:</p><ul class=\"mono\">",
        esc(&f.op.text),
        esc(report.model.noun()),
        if f.states_truncated {
            " (more states were possible than listed)"
        } else {
            ""
        }
    );
    if f.possible_states.is_empty() {
        out.push_str("<li>no state at all</li>");
    }
    for s in f.possible_states.iter().take(LIST) {
        let _ = write!(out, "<li>{}</li>", esc(&truncate(s, 400)));
    }
    out.push_str("</ul>");
    more(
        out,
        f.possible_states.len(),
        f.possible_states.len().min(LIST),
    );
    let _ = write!(out, "<div class=\"explain\">{}</div>", esc(&f.explanation));
}

const OUTCOME_COLORS: [(&str, &str); 4] = [
    ("ok", "#2e7d32"),
    ("fail", "#c62828"),
    ("info", "#ef6c00"),
    ("pending", "#9e9e9e"),
];

fn outcome_color(outcome: &str) -> &'static str {
    OUTCOME_COLORS
        .iter()
        .find(|(o, _)| *o == outcome)
        .map_or("#9e9e9e", |(_, c)| c)
}

/// An SVG of `ops` as bars per process on a time axis (the op index when
/// no op has a time): invoke to completion, coloured ok / info / fail /
/// pending, labelled `f value`; `failing` outlined red, `linearized`
/// outlined blue, `minimal` marked ◆. Each bar's `<title>` is the op in
/// words.
pub fn op_bars(
    ops: &[OpRef],
    failing: Option<u64>,
    linearized: &HashSet<u64>,
    minimal: &HashSet<u64>,
) -> String {
    if ops.is_empty() {
        return String::new();
    }
    let timed = ops
        .iter()
        .any(|o| o.invoke_time != 0 || o.complete_time.is_some_and(|t| t != 0));
    let start = |o: &OpRef| {
        if timed {
            o.invoke_time as f64
        } else {
            o.index as f64
        }
    };
    let end = |o: &OpRef| {
        if timed {
            o.complete_time.map(|t| t as f64)
        } else {
            o.complete_index.map(|t| t as f64)
        }
    };
    // Event order, as Knossos draws it: every distinct invoke or
    // completion time is one slot, so concurrency stays legible however
    // far apart in time the ops are (the axis labels give the times).
    let mut events: Vec<f64> = ops
        .iter()
        .flat_map(|o| std::iter::once(start(o)).chain(end(o)))
        .collect();
    events.sort_by(f64::total_cmp);
    events.dedup();
    let slots = events.len() as f64 + 1.0;
    let slot = |v: f64| events.partition_point(|e| *e < v) as f64;
    let mut procs: Vec<&str> = ops.iter().map(|o| o.process.as_str()).collect();
    procs.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    procs.dedup();
    let (gut, width, row_h, top) = (110.0, 1100.0, 34.0, 8.0);
    let plot_w = width - gut - 20.0;
    let height = top + row_h * procs.len() as f64 + 44.0;
    let x = |i: f64| gut + (i + 0.5) / slots * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-size=\"11\">"
    );
    for (r, p) in procs.iter().enumerate() {
        let y = top + r as f64 * row_h;
        if r % 2 == 0 {
            let _ = write!(
                s,
                "<rect x=\"0\" y=\"{y}\" width=\"{width}\" height=\"{row_h}\" fill=\"#f6f8fa\"/>"
            );
        }
        let _ = write!(
            s,
            "<text x=\"6\" y=\"{}\" fill=\"#57606a\">process {}</text>",
            y + row_h / 2.0 + 4.0,
            esc(&truncate(p, 12))
        );
    }
    for o in ops {
        let r = procs.iter().position(|p| *p == o.process).unwrap_or(0);
        let y = top + r as f64 * row_h;
        let x0 = x(slot(start(o)));
        let x1 = x(end(o).map_or(slots - 0.5, slot)).max(x0 + 6.0);
        let color = outcome_color(&o.outcome);
        let (stroke, sw, mark) = if Some(o.index) == failing {
            ("#b71c1c", 3.0, "✗ ")
        } else if linearized.contains(&o.index) {
            ("#0969da", 2.0, "✓ ")
        } else {
            ("none", 0.0, "")
        };
        let diamond = if minimal.contains(&o.index) {
            "◆ "
        } else {
            ""
        };
        let label = if o.value.is_null() {
            o.f.clone()
        } else {
            format!("{} {}", o.f, value_text(&o.value))
        };
        let _ = write!(
            s,
            "<g><title>{}</title><rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\" rx=\"2\" \
             fill=\"{color}\" fill-opacity=\"0.85\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>\
             <text x=\"{x0:.1}\" y=\"{:.1}\" fill=\"#1f2328\">{}{}{}</text></g>",
            esc(&o.text),
            y + 17.0,
            x1 - x0,
            y + 13.0,
            diamond,
            mark,
            esc(&truncate(&label, 48))
        );
    }
    // Axis.
    let ay = top + row_h * procs.len() as f64 + 6.0;
    let _ = write!(
        s,
        "<line x1=\"{gut}\" y1=\"{ay}\" x2=\"{}\" y2=\"{ay}\" stroke=\"#8c959f\"/>",
        gut + plot_w
    );
    let every = (events.len() / 8).max(1);
    for (i, v) in events.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let label = if timed {
            format!("{:.4} s", v / 1e9)
        } else {
            format!("#{v}")
        };
        let xx = x(i as f64);
        let _ = write!(
            s,
            "<line x1=\"{xx:.1}\" y1=\"{ay}\" x2=\"{xx:.1}\" y2=\"{}\" stroke=\"#8c959f\"/>\
             <text x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
            ay + 4.0,
            ay + 16.0,
            esc(&label)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#57606a\">{}</text></svg>",
        gut + plot_w,
        ay + 28.0,
        if timed {
            "events in real-time order (spacing not to scale); time since the test started"
        } else {
            "events in history order (no times recorded)"
        }
    );
    s
}

/// The ops that made a set element what it is: its add, the last read
/// that saw it and the first read after it was known that missed it.
struct ElementOps<'a> {
    add: Option<(&'a Op, Option<&'a Op>)>,
    last_seen: Option<(&'a Op, &'a Op)>,
    first_missing: Option<(&'a Op, &'a Op)>,
}

fn set(out: &mut String, d: &Value, pairs: &Pairs<'_>) {
    let lost: Vec<&Value> = d["lost"]
        .as_array()
        .map(|a| a.iter().take(LIST).collect())
        .unwrap_or_default();
    let lost_total = d["lost_count"].as_u64().unwrap_or(lost.len() as u64) as usize;
    if !lost.is_empty() {
        let _ = write!(
            out,
            "<h3>Lost: {lost_total} acknowledged element(s) vanished</h3>\
             <p>Each was known to be in the set (its add was ok, or a read saw it), \
             yet a read that began later did not see it.</p>\
             <table><tr><th>element</th><th>its add</th><th>last read that saw it</th>\
             <th>first later read that missed it</th></tr>"
        );
        let texts: Vec<String> = lost.iter().map(|v| exact_text(v)).collect();
        let found = element_ops(&texts, pairs);
        for (v, ops) in lost.iter().zip(&found) {
            let _ = write!(
                out,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                esc(&truncate(&value_text(v), SHOW)),
                esc(&ops.add.map_or("no add in the history".into(), |(i, c)| pair_text(i, c))),
                esc(&ops.last_seen.map_or("none".into(), |(i, c)| read_text(i, c))),
                esc(&ops.first_missing.map_or("—".into(), |(i, c)| read_text(i, c))),
            );
        }
        out.push_str("</table>");
        more(out, lost_total, lost.len());
    }
    list_rows(
        out,
        d,
        "unexpected",
        "Unexpected: read but never (successfully) added",
        &["element", "why", "first read that saw it"],
        |v| {
            let read = v["first_read"].as_u64();
            vec![
                value_text(&v["element"]),
                value_text(&v["why"]),
                read.and_then(|i| pairs.of(i))
                    .map_or("—".into(), |(i, c)| read_or_pair(i, c)),
            ]
        },
    );
    list_rows(
        out,
        d,
        "duplicated",
        "Duplicated: one read saw an element more than once",
        &["element", "times", "the read"],
        |v| {
            vec![
                value_text(&v["element"]),
                value_text(&v["count"]),
                v["read"]
                    .as_u64()
                    .and_then(|i| pairs.of(i))
                    .map_or("—".into(), |(i, c)| read_or_pair(i, c)),
            ]
        },
    );
    list_rows(
        out,
        d,
        "bad_reads",
        "Reads whose value is not a list",
        &["the read", "value"],
        |v| {
            vec![
                v["index"]
                    .as_u64()
                    .and_then(|i| pairs.of(i))
                    .map_or("—".into(), |(i, c)| pair_text(i, c)),
                value_text(&v["value"]),
            ]
        },
    );
    if d["stale_count"].as_u64().unwrap_or(0) > 0 {
        list_rows(
            out,
            d,
            "stale",
            "Stale reads: an element known to be there was missed, then seen again",
            &["element", "stale reads", "latency"],
            |v| {
                vec![
                    value_text(&v["element"]),
                    format!(
                        "{} (ops {})",
                        value_text(&v["stale_read_count"]),
                        value_text(&v["stale_reads"])
                    ),
                    format!("{} ms", value_text(&v["latency_ms"])),
                ]
            },
        );
    }
}

fn element_ops<'a>(texts: &[String], pairs: &Pairs<'a>) -> Vec<ElementOps<'a>> {
    let want: HashMap<&str, usize> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut found: Vec<ElementOps> = texts
        .iter()
        .map(|_| ElementOps {
            add: None,
            last_seen: None,
            first_missing: None,
        })
        .collect();
    // Adds first.
    for (inv, comp) in &pairs.pairs {
        if inv.f == "add" {
            if let Some(&i) = want.get(exact_text(&inv.value).as_str()) {
                found[i].add = Some((inv, *comp));
            }
        }
    }
    // When each element became known (index): its ok add's completion.
    let known: Vec<Option<u64>> = found
        .iter()
        .map(|e| match e.add {
            Some((_, Some(c))) if c.kind == OpType::Ok => Some(c.index),
            _ => None,
        })
        .collect();
    // Reads in invoke order: which listed elements each saw.
    let mut reads: Vec<(&Op, &Op, Vec<bool>)> = Vec::new();
    for (inv, comp) in &pairs.pairs {
        let Some(c) = comp.filter(|c| c.kind == OpType::Ok && inv.f == "read") else {
            continue;
        };
        let Some(xs) = c.value.as_array() else {
            continue;
        };
        let mut saw = vec![false; texts.len()];
        for x in xs {
            if let Some(&i) = want.get(exact_text(x).as_str()) {
                saw[i] = true;
            }
        }
        reads.push((inv, c, saw));
    }
    for (i, e) in found.iter_mut().enumerate() {
        let mut cut = known[i];
        for (inv, c, saw) in &reads {
            if saw[i] {
                e.last_seen = match e.last_seen {
                    Some((_, lc)) if lc.index > c.index => e.last_seen,
                    _ => Some((inv, c)),
                };
                cut = Some(cut.map_or(c.index, |k| k.max(c.index)));
            }
        }
        if let Some(cut) = cut {
            e.first_missing = reads
                .iter()
                .find(|(inv, _, saw)| inv.index > cut && !saw[i])
                .map(|(inv, c, _)| (*inv, *c));
        }
    }
    found
}

/// A table of the first [`LIST`] entries of `d[field]`, one row each.
fn list_rows(
    out: &mut String,
    d: &Value,
    field: &str,
    title: &str,
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) {
    let Some(items) = d[field].as_array().filter(|a| !a.is_empty()) else {
        return;
    };
    let total = d[format!("{field}_count")]
        .as_u64()
        .map_or(items.len(), |n| n as usize)
        .max(items.len());
    let _ = write!(out, "<h3>{} ({total})</h3><table><tr>", esc(title));
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for item in items.iter().take(LIST) {
        out.push_str("<tr>");
        for cell in row(item) {
            let _ = write!(
                out,
                "<td class=\"mono\">{}</td>",
                esc(&truncate(&cell, 400))
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    more(out, total, items.len().min(LIST));
}

/// Ops of `f` concurrent with the op pair holding `index` (invoked before
/// it completed, not completed before it was invoked), at most `max`.
fn concurrent<'a>(pairs: &Pairs<'a>, index: u64, f: &str, max: usize) -> Vec<String> {
    let Some((inv, comp)) = pairs.of(index) else {
        return Vec::new();
    };
    let end = comp.map_or(u64::MAX, |c| c.index);
    pairs
        .pairs
        .iter()
        .filter(|(i, c)| {
            i.f == f
                && i.index < end
                && c.is_none_or(|c| c.index > inv.index)
                && i.index != inv.index
        })
        .take(max)
        .map(|(i, c)| pair_text(i, *c))
        .collect()
}

fn problem_text(p: &Value) -> String {
    let kind = p["kind"].as_str().unwrap_or("problem");
    match kind {
        "wrong-total" => format!(
            "total {} instead of {}",
            value_text(&p["found"]),
            value_text(&p["expected"])
        ),
        "negative" => format!(
            "account {} is negative ({})",
            value_text(&p["account"]),
            value_text(&p["balance"])
        ),
        "missing-account" => format!("account {} is missing", value_text(&p["account"])),
        "unexpected-account" => format!("account {} was never created", value_text(&p["account"])),
        "non-integer" => format!(
            "account {} holds {}, not an integer",
            value_text(&p["account"]),
            value_text(&p["balance"])
        ),
        "not-an-object" => "the read is not a map of accounts".into(),
        other => other.to_string(),
    }
}

fn bank(out: &mut String, d: &Value, pairs: &Pairs<'_>) {
    let _ = write!(
        out,
        "<p>Every read must show the accounts {} summing to {}, none negative.</p>",
        esc(&truncate(&value_text(&d["accounts"]), 400)),
        esc(&value_text(&d["total"]))
    );
    let Some(bad) = d["bad_reads"].as_array() else {
        return;
    };
    let total = d["bad_count"].as_u64().map_or(bad.len(), |n| n as usize);
    let _ = write!(
        out,
        "<h3>Bad reads ({total})</h3><table><tr><th>the read</th><th>what is wrong</th>\
         <th>transfers concurrent with it</th></tr>"
    );
    for b in bad.iter().take(LIST) {
        let index = b["index"].as_u64().unwrap_or(u64::MAX);
        let read = pairs
            .of(index)
            .map_or(format!("op {index}"), |(i, c)| pair_text(i, c));
        let problems: Vec<String> = b["problems"]
            .as_array()
            .map(|ps| ps.iter().map(problem_text).collect())
            .unwrap_or_default();
        let conc = concurrent(pairs, index, "transfer", 8);
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(&read),
            esc(&problems.join("; ")),
            if conc.is_empty() {
                "none".to_string()
            } else {
                conc.iter().map(|c| esc(c)).collect::<Vec<_>>().join("<br>")
            }
        );
    }
    out.push_str("</table>");
    more(out, total, bad.len().min(LIST));
}

fn counter(out: &mut String, d: &Value, pairs: &Pairs<'_>) {
    let Some(vs) = d["violations"].as_array() else {
        return;
    };
    let total = d["violation_count"]
        .as_u64()
        .map_or(vs.len(), |n| n as usize);
    let _ = write!(
        out,
        "<p>A read must lie between the sum of the increments acknowledged before it began \
         and the sum of those that may have happened before it ended.</p>\
         <h3>Reads out of bounds ({total})</h3><table><tr><th>the read</th><th>read</th><th>allowed</th>\
         <th>problem</th><th>increments concurrent with it</th></tr>"
    );
    for v in vs.iter().take(LIST) {
        let index = v["index"].as_u64().unwrap_or(u64::MAX);
        let read = pairs
            .of(index)
            .map_or(format!("op {index}"), |(i, c)| pair_text(i, c));
        let conc = concurrent(pairs, index, "add", 8);
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} … {}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(&read),
            esc(&truncate(&value_text(&v["value"]), SHOW)),
            esc(&value_text(&v["lower"])),
            esc(&value_text(&v["upper"])),
            esc(&value_text(&v["problem"])),
            if conc.is_empty() {
                "none".to_string()
            } else {
                conc.iter().map(|c| esc(c)).collect::<Vec<_>>().join("<br>")
            }
        );
    }
    out.push_str("</table>");
    more(out, total, vs.len().min(LIST));
}
