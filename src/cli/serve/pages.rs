//! The HTML pages `faultline serve` writes itself: the index of runs, a
//! directory listing and an error page. Small, server-rendered, with an
//! inline style sheet and nothing fetched from anywhere. Every value shown
//! (test, nemesis and file names, error messages...) goes through
//! [`escape`]; every name in a link through [`paths::encode_segment`].

use super::paths;
use super::runs::{RunRow, Verdict};
use std::ffi::OsString;
use std::fmt::Write as _;

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by their entities, safe in
/// element text and in quoted attribute values: the report's escaper, one
/// rule for every page faultline writes.
pub use crate::report::html::escape::esc as escape;

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328;background:#fff}\
h1{font-size:1.4em;margin:0 0 .3em}\
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\
.sub{color:#59636e;margin:0 0 1em}\
form{margin:0 0 1em}form>*{margin-right:.4em}\
table{border-collapse:collapse}\
th,td{padding:.3em .7em;border-bottom:1px solid #d1d9e0;text-align:left;vertical-align:top}\
th{background:#f6f8fa}tbody tr:hover{background:#f6f8fa}\
td.n{text-align:right;font-variant-numeric:tabular-nums}td.nw,td.n{white-space:nowrap}\
.v{display:inline-block;padding:.05em .5em;border-radius:.8em;color:#fff;font-weight:600}\
.v-valid{background:#1a7f37}.v-invalid{background:#cf222e}.v-unknown{background:#bf8700}\
.v-unfinished{background:#818b98}.v-unreadable{background:#6e4c00}\
.why{color:#6e4c00;font-size:.9em;max-width:32em;overflow-wrap:anywhere}.muted{color:#59636e}\
.files{font-size:.85em;margin-left:.5em}\
";

/// A whole page: `title` (escaped here) and `body` (HTML, escaped by the
/// caller).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// The filters of the index, from its query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only runs with this verdict ([`Verdict::name`]).
    pub verdict: Option<String>,
    /// Only tests whose name contains this (case-insensitive).
    pub test: Option<String>,
}

impl Filter {
    /// The filter a query string (`verdict=invalid&test=bank`) asks for;
    /// an error names a bad verdict. Other parameters are ignored.
    pub fn parse(query: Option<&str>) -> Result<Filter, String> {
        let mut f = Filter::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = paths::decode_query_value(v);
            match k {
                "verdict" if v.is_empty() || v == "all" => f.verdict = None,
                "verdict" if Verdict::NAMES.contains(&v.as_str()) => f.verdict = Some(v),
                "verdict" => {
                    return Err(format!(
                        "verdict `{v}` is not one of all, {}",
                        Verdict::NAMES.join(", ")
                    ))
                }
                "test" => f.test = Some(v).filter(|v| !v.trim().is_empty()),
                _ => {}
            }
        }
        Ok(f)
    }

    /// Whether `row` passes.
    pub fn keeps(&self, row: &RunRow) -> bool {
        if let Some(v) = &self.verdict {
            if row.verdict.name() != v {
                return false;
            }
        }
        if let Some(t) = &self.test {
            let t = t.trim().to_lowercase();
            let dir = row.test_dir.to_string_lossy().to_lowercase();
            if !row.test.to_lowercase().contains(&t) && !dir.contains(&t) {
                return false;
            }
        }
        true
    }
}

/// `/runs/<test>/<start>/`, encoded.
pub fn run_href(row: &RunRow) -> String {
    format!(
        "/runs/{}/{}/",
        paths::encode_segment(&row.test_dir),
        paths::encode_segment(&row.start_dir)
    )
}

/// A duration, ns, as people read it: `850 ms`, `12.3 s`, `4 min 05 s`,
/// `1 h 02 min`.
pub fn duration(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s < 1.0 {
        format!("{} ms", (ns as f64 / 1e6).round())
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let s = s.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// The index: the form, a count per verdict and one row per run in
/// `shown` (of `total` runs under `results`, the directory as given).
pub fn index(results: &str, rows: &[RunRow], filter: &Filter) -> String {
    let shown: Vec<&RunRow> = rows.iter().filter(|r| filter.keeps(r)).collect();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>faultline runs</h1>\n<p class=\"sub\">{} · {} run{} · {} shown</p>\n",
        escape(results),
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        shown.len()
    );
    b.push_str(&form(filter));
    // How many of each verdict, each a link to its filter.
    // (Counted among the runs the test filter keeps.)
    let by_test = Filter {
        verdict: None,
        test: filter.test.clone(),
    };
    let test_param = filter
        .test
        .as_deref()
        .map(|t| format!("&amp;test={}", paths::encode_query_value(t)))
        .unwrap_or_default();
    let mut counts = Vec::new();
    for name in Verdict::NAMES {
        let n = rows
            .iter()
            .filter(|r| r.verdict.name() == name && by_test.keeps(r))
            .count();
        if n > 0 {
            counts.push(format!(
                "<a href=\"/?verdict={name}{test_param}\"><span class=\"v v-{name}\">{n} {name}</span></a>"
            ));
        }
    }
    if !counts.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", counts.join(" "));
    }
    if shown.is_empty() {
        b.push_str(if rows.is_empty() {
            "<p class=\"muted\">No runs stored yet.</p>\n"
        } else {
            "<p class=\"muted\">No run matches.</p>\n"
        });
        return page("faultline runs", &b);
    }
    b.push_str(
        "<table>\n<thead><tr><th>test</th><th>started (UTC)</th><th>verdict</th>\
         <th>duration</th><th>nemesis</th><th>seed</th><th>ops</th><th>ok</th>\
         <th>fail</th><th>info</th></tr></thead>\n<tbody>\n",
    );
    for row in shown {
        b.push_str(&index_row(row));
    }
    b.push_str("</tbody></table>\n");
    page("faultline runs", &b)
}

fn form(filter: &Filter) -> String {
    let mut options = String::from("<option value=\"all\">all</option>");
    for name in Verdict::NAMES {
        let selected = if filter.verdict.as_deref() == Some(name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            options,
            "<option value=\"{name}\"{selected}>{name}</option>"
        );
    }
    format!(
        "<form method=\"get\" action=\"/\"><label>verdict <select name=\"verdict\">{options}\
         </select></label><label>test <input name=\"test\" value=\"{}\" \
         placeholder=\"part of a name\"></label><button type=\"submit\">filter</button>\
         <a href=\"/\">clear</a></form>\n",
        escape(filter.test.as_deref().unwrap_or(""))
    )
}

fn index_row(row: &RunRow) -> String {
    let href = run_href(row);
    let started = match row.started {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => row.start_dir.to_string_lossy().into_owned(),
    };
    let name = row.verdict.name();
    let mut verdict = format!("<span class=\"v v-{name}\">{name}</span>");
    if let Verdict::Unreadable(why) = &row.verdict {
        let _ = write!(
            verdict,
            "<div class=\"why\">unreadable: {}</div>",
            escape(why)
        );
    }
    if let Some(why) = &row.interrupted {
        let _ = write!(
            verdict,
            "<div class=\"why\">interrupted: {}</div>",
            escape(why)
        );
    }
    for note in &row.notes {
        let _ = write!(verdict, "<div class=\"why\">{}</div>", escape(note));
    }
    let opt = |v: Option<String>| v.map(|v| escape(&v)).unwrap_or_else(|| "—".into());
    let ops = |f: fn(&crate::report::latency::OpCounts) -> u64| {
        row.ops
            .as_ref()
            .map(|o| f(o).to_string())
            .unwrap_or_else(|| "—".into())
    };
    format!(
        "<tr><td class=\"nw\"><a href=\"{href}\">{test}</a><a class=\"files\" \
         href=\"{href}?list\">files</a></td><td class=\"nw\">{started}</td><td>{verdict}</td><td class=\"n\">{dur}</td><td>{nemesis}</td>\
         <td class=\"n\">{seed}</td><td class=\"n\">{invoke}</td><td class=\"n\">{ok}</td>\
         <td class=\"n\">{fail}</td><td class=\"n\">{info}</td></tr>\n",
        test = escape(&row.test),
        started = escape(&started),
        dur = opt(row.duration_ns.map(duration)),
        nemesis = opt(row.nemesis.clone()),
        seed = opt(row.seed.map(|s| s.to_string())),
        invoke = ops(|o| o.invoke),
        ok = ops(|o| o.ok),
        fail = ops(|o| o.fail),
        info = ops(|o| o.info + o.open),
    )
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The file name.
    pub name: OsString,
    /// A directory (linked with a trailing slash).
    pub dir: bool,
    /// Size in bytes (files).
    pub size: u64,
}

/// A directory below the results directory, to list.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Its path below the results directory, one name per component
    /// (where it really is: symlinks such as `latest` resolved).
    pub crumbs: Vec<OsString>,
    /// What it holds.
    pub entries: Vec<Entry>,
    /// A line shown above the files.
    pub note: Option<&'static str>,
    /// The run, when the directory is one: its summary is shown first.
    pub run: Option<RunRow>,
}

/// A directory's listing page: links up, the run's summary when it is a
/// run, and its files.
pub fn listing(l: &Listing) -> String {
    let title = l
        .crumbs
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" / ");
    let mut b = String::new();
    // Links up: the index, then each parent directory.
    let mut up = String::from("<a href=\"/\">runs</a>");
    let mut href = String::from("/runs/");
    for (i, c) in l.crumbs.iter().enumerate() {
        href.push_str(&paths::encode_segment(c));
        href.push('/');
        let label = escape(&c.to_string_lossy());
        if i + 1 == l.crumbs.len() {
            let _ = write!(up, " / {label}");
        } else {
            let _ = write!(up, " / <a href=\"{href}\">{label}</a>");
        }
    }
    let _ = writeln!(b, "<h1>{}</h1>\n<p class=\"sub\">{up}</p>", escape(&title));
    if let Some(row) = &l.run {
        b.push_str(&run_summary(row));
    }
    if let Some(note) = l.note {
        let _ = writeln!(b, "<p class=\"muted\">{}</p>", escape(note));
    }
    if l.entries.is_empty() {
        b.push_str("<p class=\"muted\">Empty directory.</p>\n");
        return page(&title, &b);
    }
    b.push_str("<table>\n<thead><tr><th>file</th><th>size</th></tr></thead>\n<tbody>\n");
    for e in &l.entries {
        let enc = paths::encode_segment(&e.name);
        let name = escape(&e.name.to_string_lossy());
        if e.dir {
            let _ = writeln!(
                b,
                "<tr><td><a href=\"{href}{enc}/\">{name}/</a></td><td class=\"n\">—</td></tr>"
            );
        } else {
            let _ = writeln!(
                b,
                "<tr><td><a href=\"{href}{enc}\">{name}</a></td><td class=\"n\">{}</td></tr>",
                size(e.size)
            );
        }
    }
    b.push_str("</tbody></table>\n");
    page(&title, &b)
}

/// One line about a run: test, verdict, start, duration, nemesis, seed.
fn run_summary(row: &RunRow) -> String {
    let name = row.verdict.name();
    let mut parts = vec![
        format!("<b>{}</b>", escape(&row.test)),
        format!("<span class=\"v v-{name}\">{name}</span>"),
    ];
    if let Some(t) = row.started {
        parts.push(format!("started {} UTC", t.format("%Y-%m-%d %H:%M:%S")));
    }
    if let Some(ns) = row.duration_ns {
        parts.push(duration(ns));
    }
    if let Some(n) = &row.nemesis {
        parts.push(format!("nemesis {}", escape(n)));
    }
    if let Some(s) = row.seed {
        parts.push(format!("seed {s}"));
    }
    let mut out = format!("<p>{}</p>\n", parts.join(" · "));
    let mut why: Vec<String> = row.notes.clone();
    if let Verdict::Unreadable(w) = &row.verdict {
        why.insert(0, format!("unreadable: {w}"));
    }
    if let Some(i) = &row.interrupted {
        why.push(format!("interrupted: {i}"));
    }
    for w in why {
        let _ = writeln!(out, "<p class=\"why\">{}</p>", escape(&w));
    }
    out
}

/// A size in bytes as people read it.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// An error page: `status` (e.g. `404 Not Found`) and what went wrong.
pub fn error(status: &str, message: &str) -> String {
    page(
        status,
        &format!(
            "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"/\">all runs</a></p>\n",
            escape(status),
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(test: &str, verdict: Verdict) -> RunRow {
        RunRow {
            test_dir: test.into(),
            start_dir: "20261207T151924.436Z".into(),
            test: test.into(),
            started: None,
            verdict,
            interrupted: None,
            duration_ns: Some(2_000_000_000),
            nemesis: Some("<b>nem</b>".into()),
            seed: Some(7),
            ops: None,
            notes: vec![],
        }
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("<script>alert('x\"&')</script>"),
            "&lt;script&gt;alert(&#39;x&quot;&amp;&#39;)&lt;/script&gt;"
        );
        let html = index(
            "res<>",
            &[row("<script>", Verdict::Valid)],
            &Filter::default(),
        );
        assert!(
            !html.contains("<script>") && !html.contains("<b>nem"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;") && html.contains("res&lt;&gt;"));
        assert!(html.contains("href=\"/runs/%3Cscript%3E/20261207T151924.436Z/\""));
    }

    #[test]
    fn filters_parse_and_keep_matching_rows() {
        let f = Filter::parse(Some("verdict=invalid&test=Ba%6Ek&x=1")).unwrap();
        assert_eq!(f.verdict.as_deref(), Some("invalid"));
        assert_eq!(f.test.as_deref(), Some("Bank"));
        assert!(f.keeps(&row("memory-bank", Verdict::Invalid)));
        assert!(!f.keeps(&row("memory-bank", Verdict::Valid)));
        assert!(!f.keeps(&row("memory-set", Verdict::Invalid)));
        let all = Filter::parse(Some("verdict=all&test=")).unwrap();
        assert_eq!(all, Filter::default());
        let unreadable = Filter::parse(Some("verdict=unreadable")).unwrap();
        assert!(unreadable.keeps(&row("x", Verdict::Unreadable("why".into()))));
        let e = Filter::parse(Some("verdict=broken")).unwrap_err();
        assert!(e.contains("`broken`") && e.contains("unfinished"), "{e}");
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(duration(850_000_000), "850 ms");
        assert_eq!(duration(12_340_000_000), "12.3 s");
        assert_eq!(duration(245_000_000_000), "4 min 05 s");
        assert_eq!(duration(3_720_000_000_000), "1 h 02 min");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1_500), "1.5 kB");
        assert_eq!(size(2_500_000), "2.5 MB");
    }
}
