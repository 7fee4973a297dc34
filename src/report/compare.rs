//! `faultline compare`: several systems run through the same test (same
//! workload, nemesis, time limit, rate, concurrency and seed), side by
//! side. Everything here is computed from stored runs alone
//! ([`StoredRun`]: `test.yaml`, `history.jsonl`, `results.json`), so a
//! comparison can be re-rendered from the run directories with no cluster
//! (`faultline compare --runs DIR1,DIR2`).
//!
//! One [`Row`] per system, with these measures:
//!
//! - **verdict per checker** and its anomaly count ([`anomaly_count`]);
//! - **ops** ok / fail / info of the whole run's client ops (an invoke
//!   that never completed counts as info), as `results.json` counts them;
//! - **throughput**: the `ok` client ops *invoked in the main phase*,
//!   divided by the main phase's length (ops/s); the final reads are left
//!   out, being unpaced and on a healed cluster;
//! - **latency** p50 and p99 (nearest rank, ms) of those same `ok` ops;
//! - **availability during faults**: the share of main-phase ops served
//!   while a fault was in force (see [`crate::report::availability`]);
//! - **recovery after heal**: the median over the run's heals of the time
//!   to the first `ok` op invoked after the heal; **after leader loss**:
//!   the median time from a fault that hit the leader to the first `ok`
//!   write (both only over the events after which the cluster served
//!   again; the count of events measured is kept beside);
//! - **leader changes** seen by the run's sampler (`results.json`
//!   `leader_changes`, see [`crate::runner::leaders`]): absent for a Db
//!   that cannot tell its leader;
//! - the faults each system **skipped**, with the reason.
//!
//! A system whose run could not be made (its setup failed) is a row with
//! its error and exit code, and no measures.
//!
//! [`table`] renders the terminal table; [`render_html`] the
//! self-contained `compare.html` (the report's style, escaper and plots:
//! latency quantiles and throughput of each system side by side);
//! [`write()`] stores it with `compare.json` in
//! `results/compare/<time>/`.

use crate::checker::{CheckResult, Validity};
use crate::exit;
use crate::history::{History, OpType};
use crate::report::html::escape::{esc, esc_into};
use crate::report::latency::quantile;
use crate::report::plot::{self, PlotInput};
use crate::report::results::{Phase, Results};
use crate::report::stored::StoredRun;
use crate::report::table::verdict_word;
use crate::report::verdict;
use crate::store::RunDir;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tabled::builder::Builder;
use tabled::settings::Style;

/// The file name of the page in a comparison directory.
pub const HTML_FILE: &str = "compare.html";
/// The file name of the rows, as JSON, beside it.
pub const JSON_FILE: &str = "compare.json";

const STYLE: &str = include_str!("html/style.css");

/// One checker's verdict of one system's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerCell {
    /// The checker (`linearizable`, `set`...).
    pub checker: String,
    /// Its verdict.
    pub valid: Validity,
    /// Its anomalies ([`anomaly_count`]).
    pub anomalies: u64,
}

/// A median over events, and how many events it is over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Median {
    /// The median, s.
    pub seconds: f64,
    /// How many events were measured (the cluster served again after them).
    pub count: usize,
    /// How many events there were (some may never have been followed by a
    /// served op in the main phase).
    pub of: usize,
}

/// One system of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The system: its cluster's name (or the argument that named it, when
    /// it could not be resolved or run).
    pub system: String,
    /// The run directory; `None` when there is no run.
    pub run: Option<PathBuf>,
    /// Why there is no run (setup failed...); `None` for a run.
    pub error: Option<String>,
    /// The exit code of this system's run (`faultline test`'s).
    pub exit: u8,
    /// The overall verdict; `None` when there is no run.
    pub valid: Option<Validity>,
    /// The seed the run used.
    pub seed: Option<u64>,
    /// Each checker's verdict and anomaly count.
    pub checkers: Vec<CheckerCell>,
    /// Client ops that completed `ok`.
    pub ok: u64,
    /// Client ops that completed `fail`.
    pub fail: u64,
    /// Client ops that completed `info` or never completed.
    pub info: u64,
    /// `ok` ops invoked in the main phase per second of it.
    pub throughput: Option<f64>,
    /// Median latency of those ops, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency of those ops, ms.
    pub p99_ms: Option<f64>,
    /// Share of main-phase ops served while a fault was in force; `None`
    /// when no op ran during a fault.
    pub during_faults: Option<f64>,
    /// Median time to the first ok op after a heal.
    pub after_heal: Option<Median>,
    /// Median time to the first ok write after a leader loss.
    pub after_leader_loss: Option<Median>,
    /// Leader changes seen; `None` when the Db cannot tell its leader.
    pub leader_changes: Option<u64>,
    /// Faults skipped, with the reason.
    pub skipped: Vec<String>,
}

/// A whole comparison: `compare.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The test all systems ran, in words (workload, nemesis, time, rate,
    /// concurrency, seed), from the first run.
    pub test: String,
    /// One row per system, in the order given.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// The exit code of the comparison: the worst of its rows'
    /// ([`exit::worst`]).
    pub fn exit_code(&self) -> u8 {
        exit::worst(self.rows.iter().map(|r| r.exit))
    }
}

/// The anomalies a checker's result reports: the invalid keys of
/// `linearizable`; the lost, unexpected, duplicated and stale elements of
/// `set`; the bad reads of `bank`; the out-of-bounds reads of `counter`.
/// A checker whose details say none of these counts 1 when invalid, else 0.
pub fn anomaly_count(c: &CheckResult) -> u64 {
    const KEYS: [&str; 7] = [
        "keys_invalid",
        "lost_count",
        "unexpected_count",
        "duplicated_count",
        "stale_count",
        "bad_count",
        "violation_count",
    ];
    let found: Vec<u64> = KEYS
        .iter()
        .filter_map(|k| c.details.get(k).and_then(serde_json::Value::as_u64))
        .collect();
    if found.is_empty() {
        u64::from(c.valid == Validity::Invalid)
    } else {
        found.iter().sum()
    }
}

/// The main phase's span, ns: its phase, or the whole history for a run
/// without phases.
fn main_span(history: &History, phases: &[Phase]) -> Option<(u64, u64)> {
    if let Some(m) = phases.iter().find(|p| p.name == "main") {
        return Some((m.start, m.end));
    }
    let first = history.ops.first()?.time;
    let last = history.ops.last()?.time;
    Some((first, last))
}

/// The latencies (ns) of the `ok` client ops invoked in `[start, end)`.
fn ok_latencies(history: &History, start: u64, end: u64) -> Vec<u64> {
    let mut open: HashMap<crate::history::Process, u64> = HashMap::new();
    let mut out = Vec::new();
    for op in history.ops.iter().filter(|o| o.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, op.time);
            continue;
        }
        let Some(t0) = open.remove(&op.process) else {
            continue;
        };
        if op.kind == OpType::Ok && (start..end).contains(&t0) {
            out.push(op.time.saturating_sub(t0));
        }
    }
    out.sort_unstable();
    out
}

/// The median of `xs` (the mean of the middle two for an even count).
fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn median_of(rs: &[crate::report::availability::Recovery]) -> Option<Median> {
    if rs.is_empty() {
        return None;
    }
    let xs: Vec<f64> = rs.iter().filter_map(|r| r.seconds).collect();
    let count = xs.len();
    median(xs).map(|seconds| Median {
        seconds,
        count,
        of: rs.len(),
    })
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// The results of a stored run: its `results.json`, or (a run that never
/// stored one) the history checked again, which is then `unknown` unless
/// invalid.
pub fn results_of(run: &StoredRun) -> Result<Results, String> {
    match &run.results {
        Some(r) => Ok(r.clone()),
        None => verdict::reanalyze(run).map_err(|e| e.to_string()),
    }
}

/// The row of one system's stored run, labelled `system`.
pub fn row_of(system: &str, run: &StoredRun) -> Result<Row, String> {
    let r = results_of(run)?;
    let (throughput, p50_ms, p99_ms) = match main_span(&run.history, &r.phases) {
        Some((start, end)) => {
            let lat = ok_latencies(&run.history, start, end);
            let secs = end.saturating_sub(start) as f64 / 1e9;
            let tp = (secs > 0.0).then(|| lat.len() as f64 / secs);
            if lat.is_empty() {
                (tp, None, None)
            } else {
                (
                    tp,
                    Some(ms(quantile(&lat, 0.50))),
                    Some(ms(quantile(&lat, 0.99))),
                )
            }
        }
        None => (None, None, None),
    };
    let a = r.availability.as_ref();
    Ok(Row {
        system: system.to_string(),
        run: Some(run.dir.path.clone()),
        error: None,
        exit: exit::for_validity(r.valid),
        valid: Some(r.valid),
        seed: Some(r.seed),
        checkers: r
            .checkers
            .iter()
            .map(|c| CheckerCell {
                checker: c.checker.clone(),
                valid: c.valid,
                anomalies: anomaly_count(c),
            })
            .collect(),
        ok: r.ops.ok,
        fail: r.ops.fail,
        info: r.ops.info + r.ops.open,
        throughput,
        p50_ms,
        p99_ms,
        during_faults: a.and_then(|a| a.during_faults.share),
        after_heal: a.and_then(|a| median_of(&a.recoveries)),
        after_leader_loss: a.and_then(|a| median_of(&a.leader_losses)),
        leader_changes: r.leader_changes,
        skipped: r.nemesis.skipped.clone(),
    })
}

/// The row of a system that has no run: `error` says why, `code` is the
/// exit code it would have had.
pub fn error_row(system: &str, error: &str, code: u8) -> Row {
    Row {
        system: system.to_string(),
        run: None,
        error: Some(error.to_string()),
        exit: code,
        valid: None,
        seed: None,
        checkers: Vec::new(),
        ok: 0,
        fail: 0,
        info: 0,
        throughput: None,
        p50_ms: None,
        p99_ms: None,
        during_faults: None,
        after_heal: None,
        after_leader_loss: None,
        leader_changes: None,
        skipped: Vec::new(),
    }
}

/// A test in words: what every system of a comparison
/// shares.
pub fn describe_test(s: &crate::spec::TestSpec) -> String {
    format!(
        "workload {}, nemesis {}, {} s, rate {}, {} workers, seed {}",
        s.workload.name,
        s.nemesis.name,
        s.workload.time_limit,
        if s.workload.rate > 0.0 {
            format!("{}/s", s.workload.rate)
        } else {
            "unlimited".into()
        },
        s.concurrency,
        s.seed
    )
}

/// The checker names of all rows, in order of first appearance.
fn checker_names(rows: &[Row]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in rows.iter().flat_map(|r| &r.checkers) {
        if !out.contains(&c.checker) {
            out.push(c.checker.clone());
        }
    }
    out
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("—".into(), |v| format!("{v:.digits$}"))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

fn median_text(m: Option<Median>) -> String {
    match m {
        Some(m) if m.count > 0 => format!("{:.2} s ({}/{})", m.seconds, m.count, m.of),
        Some(m) => format!("never (0/{})", m.of),
        None => "—".into(),
    }
}

fn cell_text(c: Option<&CheckerCell>, color: bool) -> String {
    match c {
        Some(c) if c.anomalies > 0 => format!("{} ({})", verdict_word(c.valid, color), c.anomalies),
        Some(c) => verdict_word(c.valid, color),
        None => "—".into(),
    }
}

/// The header of the table's columns after the checkers.
const MEASURES: [&str; 9] = [
    "ok/fail/info",
    "ok ops/s",
    "p50 ms",
    "p99 ms",
    "avail. in faults",
    "recover after heal",
    "first write after leader loss",
    "leader changes",
    "exit",
];

/// The comparison as terminal text: one table (rows: systems; columns:
/// the verdict, each checker's verdict with its anomaly count in
/// parentheses, then the measures), then each system's skipped faults,
/// errors and run directory. `color`: ANSI colours for verdicts.
pub fn table(c: &Comparison, color: bool) -> String {
    let names = checker_names(&c.rows);
    let mut b = Builder::default();
    let mut head = vec!["system".to_string(), "verdict".to_string()];
    head.extend(names.iter().cloned());
    head.extend(MEASURES.iter().map(|s| s.to_string()));
    b.push_record(head);
    for r in &c.rows {
        let mut rec = vec![
            r.system.clone(),
            r.valid.map_or("ERROR".into(), |v| verdict_word(v, color)),
        ];
        for n in &names {
            rec.push(cell_text(
                r.checkers.iter().find(|x| &x.checker == n),
                color,
            ));
        }
        if r.run.is_some() {
            rec.push(format!("{}/{}/{}", r.ok, r.fail, r.info));
            rec.push(opt(r.throughput, 1));
            rec.push(opt(r.p50_ms, 2));
            rec.push(opt(r.p99_ms, 2));
            rec.push(pct(r.during_faults));
            rec.push(median_text(r.after_heal));
            rec.push(median_text(r.after_leader_loss));
            rec.push(r.leader_changes.map_or("—".into(), |n| n.to_string()));
        } else {
            rec.extend(std::iter::repeat_n("—".to_string(), MEASURES.len() - 1));
        }
        rec.push(r.exit.to_string());
        b.push_record(rec);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    let mut out = format!("compare: {}\n{t}\n", c.test);
    out.push_str(
        "recover: median s to the first ok op after a heal / ok write after a leader loss \
         (measured/events); —: none, or not known for this system\n",
    );
    for r in &c.rows {
        if let Some(e) = &r.error {
            out.push_str(&format!("{}: error: {e}\n", r.system));
        }
        for s in &r.skipped {
            out.push_str(&format!("{}: skipped: {s}\n", r.system));
        }
        if let Some(d) = &r.run {
            out.push_str(&format!("{}: {}\n", r.system, d.display()));
        }
    }
    out
}

fn badge(v: Option<Validity>) -> String {
    match v {
        Some(v) => format!("<span class=\"badge v-{v}\">{v}</span>"),
        None => "<span class=\"badge v-invalid\">error</span>".into(),
    }
}

/// The plots of one system shown side by side: the plot names drawn.
const SIDE_BY_SIDE: [&str; 2] = ["latency-quantiles", "rate"];

/// The page: a summary of the shared test, the table (the same columns
/// as [`table`]), skipped faults and errors per system, then each plot of
/// `SIDE_BY_SIDE` (latency quantiles, rate) with one system beside the other. `runs[i]` is row
/// `i`'s stored run, if any (for the plots). Every text from a run is
/// escaped. With `base` (the directory the page is written to), each run
/// under the same results directory links to its `report.html` by a
/// relative path, so the results directory can be moved whole.
pub fn render_html(c: &Comparison, runs: &[Option<StoredRun>], base: Option<&Path>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let systems: Vec<&str> = c.rows.iter().map(|r| r.system.as_str()).collect();
    let _ = write!(
        out,
        "<title>compare {}</title><style>{STYLE}\n\
         .side {{ display: flex; gap: 12px; flex-wrap: wrap; }}\n\
         .side figure {{ flex: 1 1 420px; margin: 0; min-width: 0; }}\n\
         .side figcaption {{ font-weight: 600; margin: 4px 0; }}\n\
         .side svg {{ width: 100%; height: auto; }}</style></head><body>",
        esc(&systems.join(", "))
    );
    let _ = write!(
        out,
        "<h1 id=\"summary\">Comparison: {}</h1><dl class=\"kv\"><dt>test</dt><dd>{}</dd>\
         <dt>created</dt><dd>{}</dd><dt>exit</dt><dd>{}</dd></dl>",
        esc(&systems.join(" vs ")),
        esc(&c.test),
        esc(&c.created),
        c.exit_code()
    );
    let names = checker_names(&c.rows);
    out.push_str("<table><tr><th>system</th><th>verdict</th>");
    for n in &names {
        let _ = write!(out, "<th>{}</th>", esc(n));
    }
    for m in MEASURES {
        let _ = write!(out, "<th>{}</th>", esc(m));
    }
    out.push_str("</tr>");
    for r in &c.rows {
        let _ = write!(
            out,
            "<tr><td><b>{}</b></td><td>{}</td>",
            esc(&r.system),
            badge(r.valid)
        );
        for n in &names {
            match r.checkers.iter().find(|x| &x.checker == n) {
                Some(cell) => {
                    let _ = write!(
                        out,
                        "<td>{} {}</td>",
                        badge(Some(cell.valid)),
                        if cell.anomalies > 0 {
                            format!(
                                "{} anomal{}",
                                cell.anomalies,
                                if cell.anomalies == 1 { "y" } else { "ies" }
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                None => out.push_str("<td>—</td>"),
            }
        }
        if r.run.is_some() {
            for v in [
                format!("{} / {} / {}", r.ok, r.fail, r.info),
                opt(r.throughput, 1),
                opt(r.p50_ms, 2),
                opt(r.p99_ms, 2),
                pct(r.during_faults),
                median_text(r.after_heal),
                median_text(r.after_leader_loss),
                r.leader_changes.map_or("—".into(), |n| n.to_string()),
            ] {
                let _ = write!(out, "<td class=\"num\">{}</td>", esc(&v));
            }
        } else {
            let _ = write!(
                out,
                "<td colspan=\"{}\" class=\"warn\">{}</td>",
                MEASURES.len() - 1,
                esc(r.error.as_deref().unwrap_or("no run"))
            );
        }
        let _ = write!(out, "<td class=\"num\">{}</td></tr>", r.exit);
    }
    out.push_str(
        "</table><p class=\"note\">Throughput and latency: ok client ops invoked in the \
        main phase. Availability: share of main-phase ops served while a fault was in force. \
        Recovery: median seconds to the first ok op after a heal, and to the first ok write \
        after a fault that hit the leader (events measured / events). Leader changes: sampled \
        every 250 ms; — for a system that cannot tell its leader.</p>",
    );

    out.push_str("<h2 id=\"runs\">Runs</h2><ul>");
    for r in &c.rows {
        let _ = write!(out, "<li><b>{}</b>: ", esc(&r.system));
        match (&r.run, &r.error) {
            (Some(d), _) => {
                let _ = write!(out, "<code>{}</code>", esc(&d.display().to_string()));
                if let Some(rel) = base.and_then(|b| report_link(b, d)) {
                    let _ = write!(out, " — <a href=\"{}\">report</a>", esc(&rel));
                }
                if let Some(s) = r.seed {
                    let _ = write!(out, " (seed {s})");
                }
            }
            (None, Some(e)) => {
                let _ = write!(out, "<span class=\"warn\">{}</span>", esc(e));
            }
            (None, None) => out.push_str("no run"),
        }
        if !r.skipped.is_empty() {
            out.push_str("<ul>");
            for s in &r.skipped {
                let _ = write!(out, "<li>skipped: {}</li>", esc(s));
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    plots(&mut out, c, runs);
    out.push_str("</body></html>\n");
    out
}

/// The relative link from a page in `base` (`<results>/compare/<time>/`)
/// to the `report.html` of the run in `run` (`<results>/<test>/<time>/`),
/// when both are under the same results directory and the report exists.
fn report_link(base: &Path, run: &Path) -> Option<String> {
    let root = base.parent()?.parent()?;
    let rel = run.strip_prefix(root).ok()?;
    if !run.join(crate::report::html::REPORT_FILE).is_file() {
        return None;
    }
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(format!(
        "../../{}/{}",
        parts.join("/"),
        crate::report::html::REPORT_FILE
    ))
}

/// The plots of [`SIDE_BY_SIDE`], one section each, a figure per system.
fn plots(out: &mut String, c: &Comparison, runs: &[Option<StoredRun>]) {
    let mut drawn: Vec<(String, Result<Vec<plot::Plot>, String>)> = Vec::new();
    for (row, run) in c.rows.iter().zip(runs) {
        let Some(run) = run else { continue };
        let r = results_of(run).ok();
        let (intervals, phases) = match &r {
            Some(r) => (r.nemesis.intervals.clone(), r.phases.clone()),
            None => (Vec::new(), Vec::new()),
        };
        let input = PlotInput {
            history: &run.history,
            intervals: &intervals,
            phases: &phases,
        };
        let svgs = if run.history.ops.iter().any(|o| o.is_client()) {
            plot::render_svgs(&input).map_err(|e| e.to_string())
        } else {
            Err("no client op to plot".into())
        };
        drawn.push((row.system.clone(), svgs));
    }
    out.push_str("<h2 id=\"plots\">Plots</h2>");
    if drawn.is_empty() {
        out.push_str("<p class=\"note\">No run to plot.</p>");
        return;
    }
    for name in SIDE_BY_SIDE {
        let _ = write!(out, "<h3>{}</h3><div class=\"side\">", esc(name));
        for (system, svgs) in &drawn {
            out.push_str("<figure><figcaption>");
            esc_into(out, system);
            out.push_str("</figcaption>");
            match svgs {
                Ok(ps) => match ps.iter().find(|p| p.name == name) {
                    // plotters' output: it escapes the text it draws.
                    Some(p) if p.svg.len() <= crate::report::html::PLOT_SVG_BUDGET => {
                        out.push_str(&p.svg)
                    }
                    Some(p) => {
                        let _ = write!(
                            out,
                            "<p class=\"note\">too large to inline ({:.1} MB): see the run's {}.png</p>",
                            p.svg.len() as f64 / 1e6,
                            esc(p.name)
                        );
                    }
                    None => out.push_str("<p class=\"note\">not drawn</p>"),
                },
                Err(e) => {
                    let _ = write!(out, "<p class=\"note\">{}</p>", esc(e));
                }
            }
            out.push_str("</figure>");
        }
        out.push_str("</div>");
    }
}

/// Where a comparison was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// `results/compare/<time>/`.
    pub dir: PathBuf,
    /// `compare.html` in it.
    pub html: PathBuf,
    /// `compare.json` in it.
    pub json: PathBuf,
}

/// Write `compare.html` and `compare.json` into a new
/// `<results>/compare/<time>/`.
pub fn write(
    results: &Path,
    c: &Comparison,
    runs: &[Option<StoredRun>],
) -> Result<Written, String> {
    let dir = RunDir::create(results, "compare", chrono::Utc::now()).map_err(|e| e.to_string())?;
    dir.write_json(JSON_FILE, c).map_err(|e| e.to_string())?;
    let html = dir.path.join(HTML_FILE);
    std::fs::write(&html, render_html(c, runs, Some(&dir.path)))
        .map_err(|e| format!("{}: {e}", html.display()))?;
    Ok(Written {
        json: dir.path.join(JSON_FILE),
        html,
        dir: dir.path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anomalies_are_counted_from_each_checkers_details() {
        let mut c = CheckResult::new("set", Validity::Invalid, "x");
        c.details = json!({"lost_count": 2, "unexpected_count": 0, "stale_count": 1, "duplicated_count": 0});
        assert_eq!(anomaly_count(&c), 3);
        c.details = json!({"keys_invalid": 1});
        assert_eq!(anomaly_count(&c), 1);
        c.details = json!(null);
        assert_eq!(anomaly_count(&c), 1);
        c.valid = Validity::Valid;
        assert_eq!(anomaly_count(&c), 0);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn an_error_row_is_shown_with_its_error_and_escaped() {
        let c = Comparison {
            created: "now".into(),
            test: "t".into(),
            rows: vec![error_row("<b>x</b>", "setup failed: <script>", 254)],
        };
        let t = table(&c, false);
        assert!(t.contains("ERROR"), "{t}");
        assert!(t.contains("<b>x</b>: error: setup failed: <script>"), "{t}");
        assert_eq!(c.exit_code(), 254);
        let h = render_html(&c, &[None], None);
        assert!(!h.contains("<script>") && !h.contains("<b>x</b>"), "{h}");
        assert!(h.contains("&lt;b&gt;x&lt;/b&gt;"));
    }
}
