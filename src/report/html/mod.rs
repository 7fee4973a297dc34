//! `report.html`: one self-contained file per run (no network, no other
//! file: CSS, script, SVG and data are inline, and it works opened from
//! disk), in this order:
//!
//! 1. **Summary**: test, seed, start, duration, the overall verdict and
//!    each checker's, op counts, the availability headline, warnings, an
//!    interruption, and the resolved `test.yaml` (collapsed);
//! 2. **Anomalies** ([`anomaly`]), when a checker is invalid: the minimal
//!    anomaly first, the ops at fault drawn and explained; for the
//!    transactional checkers always, each cycle drawn ([`txn`]);
//! 3. **Plots**: the SVGs of [`crate::report::plot::render_svgs`];
//! 4. **Faults**: the nemesis's fault intervals as a Gantt chart over the
//!    phases, skipped families and nemesis errors;
//! 5. **Availability** per fault and recoveries, when the run has them;
//! 6. **Timeline**: every client op as a bar per process on a `<canvas>`,
//!    drawn from compact embedded data ([`timeline`]) with zoom, pan and a
//!    tooltip; usable at a million ops.
//!
//! Every value from the history or the system under test (test name, `f`,
//! values, errors, nodes, keys, checker summaries, `test.yaml`) is escaped
//! for where it lands ([`escape`]): HTML text, attribute, or JSON inside a
//! `<script>`.
//!
//! Input is a [`ReportInput`]: a stored run ([`ReportInput::of_run`]) or an
//! imported history checked by `faultline check --report`
//! ([`ReportInput::imported`]), which has no `test.yaml` and no
//! `results.json`.

pub mod anomaly;
pub mod escape;
pub mod timeline;
pub mod txn;

use crate::checker::{CheckResult, Validity};
use crate::history::History;
use crate::nemesis::intervals::{self, FaultInterval};
use crate::report::availability::{Availability, Recovery, Share};
use crate::report::latency::op_counts;
use crate::report::plot::{self, PlotInput};
use crate::report::results::{Phase, Results};
use crate::report::stored::StoredRun;
use crate::spec::TestSpec;
use escape::{esc, esc_into};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The file name of the report in a run directory.
pub const REPORT_FILE: &str = "report.html";

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("timeline.js");

/// Everything a report draws from.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The title: the test's name, or the imported file's name.
    pub title: String,
    /// Where it came from: the run directory, or the imported file.
    pub origin: String,
    /// The history.
    pub history: &'a History,
    /// The resolved test (`test.yaml`); `None` for an imported history.
    pub spec: Option<&'a TestSpec>,
    /// `results.json`; `None` for an imported history or a run that never
    /// finished.
    pub results: Option<&'a Results>,
    /// The checkers' results when there is no `results.json` (an imported
    /// history); ignored when `results` is given.
    pub checkers: Vec<CheckResult>,
    /// The fault intervals (from `results.json`, else paired from the
    /// history's nemesis ops).
    pub intervals: Vec<FaultInterval>,
    /// The phases (none for an imported history).
    pub phases: Vec<Phase>,
    /// Warnings to show (reading the history, writing the report...).
    pub warnings: Vec<String>,
    /// The plots' PNG files, by plot name (set by [`write_to`]): a plot
    /// whose SVG exceeds [`PLOT_SVG_BUDGET`] is inlined as its PNG instead.
    pub pngs: Vec<PathBuf>,
}

impl<'a> ReportInput<'a> {
    /// The report of a stored run.
    pub fn of_run(run: &'a StoredRun) -> ReportInput<'a> {
        let mut input =
            ReportInput::of_parts(&run.dir.path, &run.spec, &run.history, run.results.as_ref());
        input.warnings = run.history_warnings.clone();
        input
    }

    /// The report of a run from its parts, as a run that just finished
    /// holds them (no need to read them back from `dir`).
    pub fn of_parts(
        dir: &Path,
        spec: &'a TestSpec,
        history: &'a History,
        results: Option<&'a Results>,
    ) -> ReportInput<'a> {
        let (intervals, phases) = match results {
            Some(r) => (r.nemesis.intervals.clone(), r.phases.clone()),
            None => (
                intervals::of_run(history, &spec.nemesis.config).0,
                Vec::new(),
            ),
        };
        ReportInput {
            title: spec.name.clone(),
            origin: dir.display().to_string(),
            history,
            spec: Some(spec),
            results,
            checkers: Vec::new(),
            intervals,
            phases,
            warnings: Vec::new(),
            pngs: Vec::new(),
        }
    }

    /// The report of an imported history (`faultline check --report`):
    /// `source` names the file; `checkers` are the results of checking it.
    /// Fault intervals are paired from its nemesis ops, with the stops of
    /// every known fault family (and Jepsen's `stop` when the history uses
    /// Jepsen's `start`/`stop` pair).
    pub fn imported(
        source: &Path,
        history: &'a History,
        checkers: Vec<CheckResult>,
        warnings: Vec<String>,
    ) -> ReportInput<'a> {
        let mut stops: std::collections::HashSet<String> = crate::nemesis::family::REGISTRY
            .iter()
            .map(|f| f.stop.to_string())
            .collect();
        if history
            .ops
            .iter()
            .any(|o| o.process.is_nemesis() && o.f == "stop")
        {
            stops.remove("start");
            stops.insert("stop".into());
        }
        let title = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.display().to_string());
        ReportInput {
            title,
            origin: source.display().to_string(),
            history,
            spec: None,
            results: None,
            checkers,
            intervals: jepsen_convention(intervals::pair(history, &stops).0, history),
            phases: Vec::new(),
            warnings,
            pngs: Vec::new(),
        }
    }

    fn checker_results(&self) -> &[CheckResult] {
        match self.results {
            Some(r) => &r.checkers,
            None => &self.checkers,
        }
    }

    /// The overall verdict: `results.json`'s, else every checker's merged;
    /// `None` when nothing was checked.
    pub fn verdict(&self) -> Option<Validity> {
        match self.results {
            Some(r) => Some(r.valid),
            None if self.checkers.is_empty() => None,
            None => Some(
                self.checkers
                    .iter()
                    .fold(Validity::Valid, |v, c| v.merge(c.valid)),
            ),
        }
    }
}

/// The report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// Creating the directory or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// What [`write_to`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.html`.
    pub html: PathBuf,
    /// The plots' PNG files.
    pub pngs: Vec<PathBuf>,
    /// What went wrong without stopping the report (a plot that could not
    /// be drawn...).
    pub warnings: Vec<String>,
}

/// Write the report of an imported history checked for linearizability
/// (`faultline check --report`) into `dir`: `report.html` and the plots.
pub fn write_imported(
    source: &Path,
    history: &History,
    report: &crate::checker::linearizable::LinearizableReport,
    warnings: &[String],
    dir: &Path,
) -> Result<Written, HtmlError> {
    let mut result = CheckResult::new("linearizable", report.valid, report.summary());
    result.details = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    let input = ReportInput::imported(source, history, vec![result], warnings.to_vec());
    write_to(&input, dir)
}

/// Write the report of an imported history with the results of the
/// checkers run on it (`faultline check --model list-append --report`)
/// into `dir`: `report.html` and the plots.
pub fn write_imported_results(
    source: &Path,
    history: &History,
    results: Vec<CheckResult>,
    warnings: &[String],
    dir: &Path,
) -> Result<Written, HtmlError> {
    let input = ReportInput::imported(source, history, results, warnings.to_vec());
    write_to(&input, dir)
}

/// The report of a stored run, as HTML text.
pub fn render_run(run: &StoredRun) -> String {
    render(&ReportInput::of_run(run))
}

/// Write `report.html` and the plots' PNGs into the run directory.
pub fn write(run: &StoredRun) -> Result<Written, HtmlError> {
    write_to(&ReportInput::of_run(run), &run.dir.path)
}

/// [`write_to`] for a run's own directory, where nothing may fail the
/// run: every problem (also a panic while drawing) comes back as a
/// warning, naming the file.
pub fn write_quietly(input: &ReportInput<'_>, dir: &Path) -> Vec<String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write_to(input, dir))) {
        Ok(Ok(w)) => w.warnings,
        Ok(Err(e)) => vec![format!("{REPORT_FILE}: {e}")],
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            vec![format!("{REPORT_FILE}: drawing the report failed: {msg}")]
        }
    }
}

/// Write `report.html` and the plots' PNGs of `input` into `dir` (created
/// if missing). A plot that cannot be drawn is a warning in the result and
/// a note in the page, never an error.
pub fn write_to(input: &ReportInput<'_>, dir: &Path) -> Result<Written, HtmlError> {
    std::fs::create_dir_all(dir).map_err(|source| HtmlError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut warnings = Vec::new();
    let plot_input = PlotInput {
        history: input.history,
        intervals: &input.intervals,
        phases: &input.phases,
    };
    let written = if has_times(input.history) {
        plot::write_pngs(&plot_input, dir)
    } else {
        Ok(Vec::new()) // nothing to plot over time: no PNG files either
    };
    let pngs = match written {
        Ok(p) => p,
        Err(e) => {
            warnings.push(format!("plots (PNG): {e}"));
            Vec::new()
        }
    };
    let html = render(&ReportInput {
        pngs: pngs.clone(),
        ..input.clone()
    });
    let path = dir.join(REPORT_FILE);
    let tmp = dir.join(format!(".{REPORT_FILE}.tmp"));
    std::fs::write(&tmp, html).map_err(|source| HtmlError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| HtmlError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Written {
        html: path,
        pngs,
        warnings,
    })
}

fn badge(v: Option<Validity>, class: &str) -> String {
    match v {
        Some(v) => format!("<span class=\"badge {class} v-{v}\">{v}</span>"),
        None => format!("<span class=\"badge {class} v-unknown\">not checked</span>"),
    }
}

fn pct(share: Option<f64>) -> String {
    share.map_or("—".into(), |s| format!("{:.1} %", s * 100.0))
}

fn share_text(s: &Share) -> String {
    format!(
        "{} ({} ok, {} fail, {} info)",
        pct(s.share),
        s.ok,
        s.fail,
        s.info
    )
}

fn s_of(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The report, as HTML text.
pub fn render(input: &ReportInput<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024 + input.history.len() * 12);
    let verdict = input.verdict();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        out,
        "<title>{} — {}</title><style>{STYLE}</style></head><body>",
        esc(&input.title),
        verdict.map_or("not checked".to_string(), |v| v.to_string())
    );
    let anomalies = anomaly::section(input.checker_results(), input.history);
    out.push_str("<nav>");
    for (id, name, shown) in [
        ("summary", "Summary", true),
        ("anomalies", "Anomalies", !anomalies.is_empty()),
        ("plots", "Plots", true),
        ("faults", "Faults", true),
        (
            "availability",
            "Availability",
            input
                .results
                .and_then(|r| r.availability.as_ref())
                .is_some_and(has_availability),
        ),
        ("timeline", "Timeline", true),
    ] {
        if shown {
            let _ = write!(out, "<a href=\"#{id}\">{name}</a>");
        }
    }
    out.push_str("</nav>");
    summary(&mut out, input, verdict);
    if !anomalies.is_empty() {
        out.push_str("<h2 id=\"anomalies\">Anomalies</h2>");
        out.push_str(&anomalies);
    }
    plots(&mut out, input);
    faults(&mut out, input);
    if let Some(a) = input
        .results
        .and_then(|r| r.availability.as_ref())
        .filter(|a| has_availability(a))
    {
        availability(&mut out, a);
    }
    timeline_section(&mut out, input);
    out.push_str("</body></html>\n");
    out
}

fn summary(out: &mut String, input: &ReportInput<'_>, verdict: Option<Validity>) {
    let _ = write!(
        out,
        "<h1 id=\"summary\">{} {}</h1><dl class=\"kv\">",
        esc(&input.title),
        badge(verdict, "verdict")
    );
    let mut kv = |k: &str, v: String| {
        let _ = write!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    kv(
        if input.spec.is_some() {
            "run"
        } else {
            "history"
        },
        format!("<code>{}</code>", esc(&input.origin)),
    );
    if let Some(r) = input.results {
        kv("seed", r.seed.to_string());
        kv("start", esc(&r.start));
    } else if let Some(s) = input.spec {
        kv("seed", s.seed.to_string());
    }
    if let Some(s) = input.spec {
        kv(
            "test",
            esc(&format!(
                "{} on {} ({} nodes, db {}), nemesis {}, {} workers",
                s.workload.name,
                s.cluster.name,
                s.cluster.nodes,
                s.cluster.db,
                s.nemesis.name,
                s.concurrency
            )),
        );
    }
    let duration = match input.phases.iter().map(|p| p.end).max() {
        Some(end) => {
            Some(end.saturating_sub(input.phases.iter().map(|p| p.start).min().unwrap_or(0)))
        }
        None => match (input.history.ops.first(), input.history.ops.last()) {
            (Some(a), Some(b)) if b.time > a.time => Some(b.time - a.time),
            _ => None,
        },
    };
    if let Some(d) = duration {
        let phases: Vec<String> = input
            .phases
            .iter()
            .map(|p| format!("{} {:.1} s", p.name, s_of(p.end.saturating_sub(p.start))))
            .collect();
        kv(
            "duration",
            format!(
                "{:.1} s{}",
                s_of(d),
                if phases.is_empty() {
                    String::new()
                } else {
                    esc(&format!(" ({})", phases.join(", ")))
                }
            ),
        );
    }
    let counts = match input.results {
        Some(r) => r.ops.clone(),
        None => op_counts(input.history),
    };
    kv(
        "client ops",
        format!(
            "{} invoked: {} ok, {} fail, {} info, {} never completed; {} nemesis ops",
            counts.invoke,
            counts.ok,
            counts.fail,
            counts.info,
            counts.open,
            input
                .history
                .ops
                .iter()
                .filter(|o| o.process.is_nemesis())
                .count()
        ),
    );
    if let Some(r) = input.results {
        if let Some(i) = &r.interrupted {
            kv(
                "interrupted",
                format!("<b>{}</b> (partial history: {})", esc(i), {
                    r.history_valid.map_or("—".into(), |v| v.to_string())
                }),
            );
        }
        if let Some(c) = r.leader_changes {
            kv(
                "leader changes",
                format!("{c} (seen every 250 ms, <code>leaders.jsonl</code>)"),
            );
        }
        if let Some(q) = r.nemesis.quorum_share {
            kv("quorum up", pct(Some(q)));
        }
        if let Some(a) = r.availability.as_ref().filter(|a| has_availability(a)) {
            let recovered: Vec<f64> = a.recoveries.iter().filter_map(|x| x.seconds).collect();
            let never = a.recoveries.iter().filter(|x| x.seconds.is_none()).count();
            let mut line = if ops_in(&a.during_faults) == 0 {
                format!(
                    "served {} (no op invoked during a fault)",
                    pct(a.outside_faults.share)
                )
            } else {
                format!(
                    "ops served during faults {}, outside faults {}",
                    pct(a.during_faults.share),
                    pct(a.outside_faults.share)
                )
            };
            if !a.recoveries.is_empty() {
                let max = recovered.iter().copied().fold(0.0, f64::max);
                let _ = write!(
                    line,
                    "; {} recoveries, slowest {max:.2} s{}",
                    a.recoveries.len(),
                    if never > 0 {
                        format!(", {never} never served again")
                    } else {
                        String::new()
                    }
                );
            }
            kv("availability", esc(&line));
        }
        if let Some(p) = &r.promise {
            let mut line = format!("{} (the promise of db {})", p.consistency, p.db);
            for d in p.lines() {
                let _ = write!(line, "; {d}");
            }
            kv("checked as", esc(&line));
        }
    }
    out.push_str("</dl>");

    // Checkers.
    let checkers = input.checker_results();
    if checkers.is_empty() {
        out.push_str(
            "<p class=\"warn\">No checker results: the run has no results.json \
             (it did not finish); <code>faultline analyze</code> checks it.</p>",
        );
    } else {
        out.push_str("<table><tr><th>checker</th><th>verdict</th><th>summary</th></tr>");
        for c in checkers {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.checker),
                badge(Some(c.valid), ""),
                esc(&c.summary)
            );
        }
        out.push_str("</table>");
    }
    let mut warnings: Vec<&String> = input.warnings.iter().collect();
    if let Some(r) = input.results {
        warnings.extend(&r.warnings);
    }
    for w in warnings {
        let _ = write!(out, "<div class=\"warn\">{}</div>", esc(w));
    }
    if let Some(s) = input.spec {
        match serde_norway::to_string(s) {
            Ok(yaml) => {
                out.push_str("<details><summary>test.yaml (the resolved test)</summary><pre>");
                esc_into(out, &yaml);
                out.push_str("</pre></details>");
            }
            Err(e) => {
                let _ = write!(
                    out,
                    "<p class=\"warn\">test.yaml cannot be shown: {}</p>",
                    esc(&e.to_string())
                );
            }
        }
    }
}

/// Jepsen records every nemesis completion as `:info`, so an imported
/// history whose nemesis never completed `ok` follows that convention: its
/// faults were in force, not failed (faultline's own histories complete a
/// fault that worked `ok`, and one that failed `info`).
fn jepsen_convention(mut ivs: Vec<FaultInterval>, history: &History) -> Vec<FaultInterval> {
    let any_ok = history
        .ops
        .iter()
        .any(|o| o.process.is_nemesis() && o.kind == crate::history::OpType::Ok);
    if !any_ok {
        for iv in &mut ivs {
            iv.ok = true;
        }
    }
    ivs
}

/// True when the history's client ops carry times (Knossos histories, for
/// one, record none: every op at 0), so that plots over time mean something.
fn has_times(history: &History) -> bool {
    let mut times = history.ops.iter().filter(|o| o.is_client()).map(|o| o.time);
    match times.next() {
        Some(first) => times.any(|t| t != first),
        None => false,
    }
}

fn plots(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<h2 id=\"plots\">Plots</h2>");
    if !has_times(input.history) {
        out.push_str(
            "<p class=\"note\">The history records no op times (every client op at the \
             same instant, as in Knossos histories): there is nothing to plot over time.</p>",
        );
        return;
    }
    let plot_input = PlotInput {
        history: input.history,
        intervals: &input.intervals,
        phases: &input.phases,
    };
    match plot::render_svgs(&plot_input) {
        Ok(ps) if ps.is_empty() => out.push_str("<p class=\"note\">No plots were drawn.</p>"),
        Ok(ps) => {
            for p in ps {
                // The plot draws its own title.
                let _ = write!(
                    out,
                    "<div class=\"plot\" id=\"plot-{}\" title=\"{}\">",
                    esc(p.name),
                    esc(&p.title)
                );
                if p.svg.len() <= PLOT_SVG_BUDGET {
                    // plotters' output: it escapes the text it draws.
                    out.push_str(strip_xml_prolog(&p.svg));
                } else {
                    inline_png(out, &p, &input.pngs);
                }
                out.push_str("</div>");
            }
        }
        Err(e) => {
            let _ = write!(
                out,
                "<p class=\"warn\">The plots could not be drawn: {}</p>",
                esc(&e.to_string())
            );
        }
    }
}

/// Above this many bytes a plot's SVG (one element per point: a raw
/// latency plot of a million ops) is not inlined; its PNG is, as a
/// `data:` URI, so the file stays small and self-contained.
pub const PLOT_SVG_BUDGET: usize = 3_000_000;

/// The PNG of plot `p` (`<name>.png` among `pngs`) as an inline image, or
/// a note when there is none.
fn inline_png(out: &mut String, p: &plot::Plot, pngs: &[PathBuf]) {
    let file = pngs
        .iter()
        .find(|f| f.file_stem().is_some_and(|s| s == p.name));
    match file.map(std::fs::read) {
        Some(Ok(bytes)) => {
            out.push_str("<img alt=\"");
            esc_into(out, &p.title);
            out.push_str("\" style=\"max-width:100%\" src=\"data:image/png;base64,");
            timeline::base64_into(out, &bytes);
            out.push_str("\">");
        }
        _ => {
            let _ = write!(
                out,
                "<p class=\"note\">This plot's SVG ({:.1} MB) is too large to inline; see {}.png beside this file.</p>",
                p.svg.len() as f64 / 1e6,
                esc(p.name)
            );
        }
    }
}

/// An SVG document without its `<?xml ...?>` line, to inline it in HTML.
fn strip_xml_prolog(svg: &str) -> &str {
    let s = svg.trim_start();
    if s.starts_with("<?xml") {
        if let Some(end) = s.find("?>") {
            return s[end + 2..].trim_start();
        }
    }
    s
}

const FAULT_COLORS: [&str; 6] = [
    "#d1495b", "#edae49", "#00798c", "#6a4c93", "#30638e", "#8f2d56",
];

fn faults(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<h2 id=\"faults\">Faults</h2>");
    let ivs = &input.intervals;
    let end_of_history = input
        .history
        .ops
        .iter()
        .map(|o| o.time)
        .max()
        .unwrap_or(0)
        .max(input.phases.iter().map(|p| p.end).max().unwrap_or(0));
    if ivs.is_empty() {
        out.push_str("<p class=\"note\">No fault was injected.</p>");
    } else {
        out.push_str(&gantt(ivs, &input.phases, end_of_history));
    }
    if let Some(r) = input.results {
        if !r.nemesis.name.is_empty() {
            let _ = write!(out, "<p>Nemesis: <b>{}</b>.</p>", esc(&r.nemesis.name));
        }
        if !r.nemesis.skipped.is_empty() {
            out.push_str("<p>Skipped:</p><ul>");
            for s in &r.nemesis.skipped {
                let _ = write!(out, "<li>{}</li>", esc(s));
            }
            out.push_str("</ul>");
        }
        if !r.nemesis.errors.is_empty() {
            out.push_str("<p>Nemesis errors:</p><ul class=\"mono\">");
            for e in r.nemesis.errors.iter().take(anomaly::LIST) {
                let _ = write!(out, "<li>{}</li>", esc(e));
            }
            out.push_str("</ul>");
            if r.nemesis.errors.len() > anomaly::LIST {
                let _ = write!(
                    out,
                    "<p class=\"note\">… and {} more.</p>",
                    r.nemesis.errors.len() - anomaly::LIST
                );
            }
        }
    }
}

/// The fault intervals as a Gantt chart: one row per start `f`, phases as
/// bands behind; a fault never healed runs to the end, hatched; a start
/// that failed is drawn dashed.
fn gantt(ivs: &[FaultInterval], phases: &[Phase], end: u64) -> String {
    let mut fs: Vec<&str> = Vec::new();
    for iv in ivs {
        if !fs.contains(&iv.f.as_str()) {
            fs.push(&iv.f);
        }
    }
    let lo = phases
        .iter()
        .map(|p| p.start)
        .min()
        .unwrap_or(0)
        .min(ivs.iter().map(|i| i.start).min().unwrap_or(0));
    let hi = end
        .max(ivs.iter().filter_map(|i| i.end).max().unwrap_or(0))
        .max(lo + 1);
    let (gut, width, row_h, top) = (150.0, 1100.0, 26.0, 22.0);
    let plot_w = width - gut - 20.0;
    let height = top + row_h * fs.len() as f64 + 30.0;
    let x = |t: u64| gut + (t.saturating_sub(lo)) as f64 / (hi - lo) as f64 * plot_w;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-size=\"11\">\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"3\" height=\"6\" fill=\"#000\" fill-opacity=\"0.25\"/></pattern></defs>"
    );
    for (i, p) in phases.iter().enumerate() {
        let (a, b) = (x(p.start), x(p.end.max(p.start)));
        let _ = write!(
            s,
            "<g><title>{} phase: {:.3}–{:.3} s</title><rect x=\"{a:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"/>",
            esc(&p.name),
            s_of(p.start),
            s_of(p.end),
            top - 4.0,
            (b - a).max(0.5),
            row_h * fs.len() as f64 + 8.0,
            if i % 2 == 0 { "#f6f8fa" } else { "#eaeef2" },
        );
        // A phase too narrow for its name keeps it in the tooltip only.
        if b - a >= 6.5 * p.name.chars().count() as f64 + 6.0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"12\" fill=\"#57606a\">{}</text>",
                a + 3.0,
                esc(&p.name)
            );
        }
        s.push_str("</g>");
    }
    for (r, f) in fs.iter().enumerate() {
        let y = top + r as f64 * row_h;
        let _ = write!(
            s,
            "<text x=\"6\" y=\"{:.1}\" fill=\"#1f2328\">{}</text>",
            y + row_h / 2.0 + 4.0,
            esc(&timeline::truncate(f, 22))
        );
    }
    for iv in ivs {
        let r = fs.iter().position(|f| *f == iv.f).unwrap_or(0);
        let y = top + r as f64 * row_h + 4.0;
        let a = x(iv.start);
        let b = x(iv.end.unwrap_or(hi)).max(a + 2.0);
        let color = FAULT_COLORS[r % FAULT_COLORS.len()];
        let what = crate::report::availability::describe(iv);
        let title = format!(
            "{} {} at {:.3} s{}{}",
            iv.f,
            timeline::truncate(&what, 200),
            s_of(iv.start),
            match (iv.end, &iv.stop_f) {
                (Some(e), Some(stop)) => format!(", healed by {stop} at {:.3} s", s_of(e)),
                (Some(e), None) => format!(", ended at {:.3} s", s_of(e)),
                _ => ", never healed".into(),
            },
            if iv.ok { "" } else { " (the start failed)" }
        );
        let _ = write!(
            s,
            "<g><title>{}</title><rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{color}\" \
             fill-opacity=\"{}\" stroke=\"{color}\"{}/>",
            esc(&title),
            b - a,
            row_h - 8.0,
            if iv.ok { "0.75" } else { "0.2" },
            if iv.ok { "" } else { " stroke-dasharray=\"3 2\"" }
        );
        if iv.end.is_none() {
            let _ = write!(
                s,
                "<rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"url(#hatch)\"/>",
                b - a,
                row_h - 8.0
            );
        }
        if b - a > 60.0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#fff\">{}</text>",
                a + 3.0,
                y + row_h / 2.0,
                esc(&timeline::truncate(&what, ((b - a) / 6.5) as usize))
            );
        }
        s.push_str("</g>");
    }
    let ay = top + row_h * fs.len() as f64 + 6.0;
    let _ = write!(
        s,
        "<line x1=\"{gut}\" y1=\"{ay}\" x2=\"{}\" y2=\"{ay}\" stroke=\"#8c959f\"/>",
        gut + plot_w
    );
    for i in 0..=8u64 {
        let t = lo + (hi - lo) * i / 8;
        let xx = x(t);
        let _ = write!(
            s,
            "<line x1=\"{xx:.1}\" y1=\"{ay}\" x2=\"{xx:.1}\" y2=\"{}\" stroke=\"#8c959f\"/>\
             <text x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">{:.1} s</text>",
            ay + 4.0,
            ay + 16.0,
            s_of(t)
        );
    }
    s.push_str("</svg>");
    s
}

/// True when the availability was computed over some op (a run stored
/// before it was recorded, or with no completed op, has nothing to show).
fn has_availability(a: &Availability) -> bool {
    ops_in(&a.during_faults) + ops_in(&a.outside_faults) > 0 || !a.windows.is_empty()
}

/// The ops completed in a span.
fn ops_in(s: &Share) -> u64 {
    s.ok + s.fail + s.info
}

fn recovery_rows(out: &mut String, title: &str, rs: &[Recovery]) {
    if rs.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h3>{}</h3><table><tr><th>event</th><th>what</th><th>at</th><th>first ok</th><th>time to recover</th></tr>",
        esc(title)
    );
    for r in rs {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.3} s</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&r.event),
            esc(&timeline::truncate(&r.what, 200)),
            r.at_s,
            r.first_ok_s.map_or("never".into(), |t| format!("{t:.3} s")),
            r.seconds.map_or("never".into(), |t| format!("{t:.3} s"))
        );
    }
    out.push_str("</table>");
}

fn availability(out: &mut String, a: &Availability) {
    out.push_str("<h2 id=\"availability\">Availability</h2>");
    let _ = write!(
        out,
        "<table><tr><th></th><th>ops served</th></tr><tr><td>during faults</td><td>{}</td></tr>\
         <tr><td>outside faults</td><td>{}</td></tr></table>",
        if ops_in(&a.during_faults) == 0 {
            "no op completed during a fault".to_string()
        } else {
            esc(&share_text(&a.during_faults))
        },
        esc(&share_text(&a.outside_faults))
    );
    if !a.per_fault.is_empty() {
        out.push_str("<h3>Per fault</h3><table><tr><th>fault</th><th>what</th><th>from</th><th>to</th><th>ops served</th></tr>");
        for f in &a.per_fault {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.3} s</td><td class=\"num\">{:.3} s</td><td>{}</td></tr>",
                esc(&f.f),
                esc(&timeline::truncate(&f.what, 200)),
                f.share.start_s,
                f.share.end_s,
                esc(&share_text(&f.share))
            );
        }
        out.push_str("</table>");
    }
    recovery_rows(out, "Recovery after each fault's end", &a.recoveries);
    recovery_rows(
        out,
        "After each loss of the leader: time to the first ok write",
        &a.leader_losses,
    );
    if !a.windows.is_empty() {
        let _ = write!(
            out,
            "<p class=\"note\">{} windows of {:.1} s; the lowest share served: {}.</p>",
            a.windows.len(),
            a.window_s,
            pct(a
                .windows
                .iter()
                .filter_map(|w| w.share)
                .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s)))))
        );
    }
}

fn timeline_section(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<h2 id=\"timeline\">Timeline</h2>");
    let mut data = String::new();
    let threads = input.spec.map(|s| s.concurrency);
    let (n, kept) = timeline::embed(
        &mut data,
        input.history,
        &input.intervals,
        &input.phases,
        threads,
    );
    if n == 0 {
        out.push_str("<p class=\"note\">No client op.</p>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"note\">Every client op as a bar from its invoke to its completion, one row per {} \
         (<span style=\"color:#2e7d32\">■ ok</span> <span style=\"color:#c62828\">■ fail</span> \
         <span style=\"color:#ef6c00\">■ info</span> <span style=\"color:#9e9e9e\">■ never completed</span>; \
         fault intervals shaded red). Wheel: zoom; drag: pan; shift+wheel: scroll processes; alt+wheel: row height; \
         hover or click an op for its details.{}</p>",
        if threads.is_some() {
            "worker (a worker whose op ends info goes on as a new process: process + workers)"
        } else {
            "process"
        },
        if kept < n {
            format!(
                " Values are kept (at most {} characters each) for the first {kept} of {n} ops, to bound the file's size.",
                timeline::VALUE_CHARS
            )
        } else {
            format!(
                " Values longer than {} characters are cut.",
                timeline::VALUE_CHARS
            )
        }
    );
    out.push_str(
        "<div class=\"tl-bar\"><button id=\"tl-in\">zoom in</button><button id=\"tl-out\">zoom out</button>\
         <button id=\"tl-left\">◀</button><button id=\"tl-right\">▶</button>\
         <button id=\"tl-taller\">rows +</button><button id=\"tl-shorter\">rows −</button>\
         <button id=\"tl-reset\">reset</button><span id=\"tl-status\" class=\"note\"></span></div>\
         <div id=\"tl-wrap\"><canvas id=\"tl-canvas\"></canvas><div id=\"tl-tip\"></div></div>\n",
    );
    out.push_str(&data);
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_too_large_to_inline_is_embedded_as_its_png_or_named() {
        let tmp = tempfile::tempdir().unwrap();
        let png = tmp.path().join("latency-raw.png");
        std::fs::write(&png, [0x89, b'P', b'N', b'G']).unwrap();
        let p = plot::Plot {
            name: "latency-raw",
            title: "<b>raw</b>".into(),
            svg: "x".repeat(PLOT_SVG_BUDGET + 1),
        };
        let mut out = String::new();
        inline_png(&mut out, &p, std::slice::from_ref(&png));
        assert_eq!(
            out,
            "<img alt=\"&lt;b&gt;raw&lt;/b&gt;\" style=\"max-width:100%\" src=\"data:image/png;base64,iVBORw==\">"
        );
        let mut out = String::new();
        inline_png(&mut out, &p, &[]);
        assert!(
            out.contains("too large to inline; see latency-raw.png"),
            "{out}"
        );
    }

    #[test]
    fn the_xml_prolog_is_dropped_before_inlining() {
        assert_eq!(
            strip_xml_prolog("<?xml version=\"1.0\"?>\n<svg/>"),
            "<svg/>"
        );
        assert_eq!(strip_xml_prolog("<svg/>"), "<svg/>");
    }
}
