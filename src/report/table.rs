//! The summary printed at the end of a run (and by `faultline analyze`):
//! a table of checker verdicts, a table of latency quantiles per `f` and
//! completion type, the fault intervals count, the share of the main phase
//! with a quorum up (with a warning when it is low), the overall verdict
//! (and, for an interrupted run, the partial history's), the results path
//! and the seed.

use crate::checker::Validity;
use crate::report::results::Results;
use std::path::Path;
use tabled::builder::Builder;
use tabled::settings::Style;

/// The verdict word, coloured when `color` (green valid, red invalid,
/// yellow unknown).
pub fn verdict_word(v: Validity, color: bool) -> String {
    let (word, code) = match v {
        Validity::Valid => ("VALID", "32"),
        Validity::Invalid => ("INVALID", "31"),
        Validity::Unknown => ("UNKNOWN", "33"),
    };
    if color {
        format!("\x1b[1;{code}m{word}\x1b[0m")
    } else {
        word.to_string()
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The whole summary as text. `color`: ANSI colours for the verdict.
pub fn summary(results: &Results, dir: &Path, color: bool) -> String {
    let mut out = String::new();
    let mut b = Builder::default();
    b.push_record(["checker", "verdict", "summary"]);
    for c in &results.checkers {
        b.push_record([c.checker.clone(), c.valid.to_string(), clip(&c.summary, 90)]);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    out.push_str(&t.to_string());
    out.push('\n');

    if !results.latency.is_empty() {
        let mut b = Builder::default();
        b.push_record(["f", "type", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"]);
        for r in &results.latency {
            b.push_record([
                r.f.clone(),
                r.kind.to_string(),
                r.count.to_string(),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p95_ms),
                format!("{:.2}", r.p99_ms),
                format!("{:.2}", r.max_ms),
            ]);
        }
        let mut t = b.build();
        t.with(Style::rounded());
        out.push_str(&t.to_string());
        out.push('\n');
    }
    let o = &results.ops;
    out.push_str(&format!(
        "ops: {} invoked, {} ok, {} fail, {} info, {} without completion\n",
        o.invoke, o.ok, o.fail, o.info, o.open
    ));
    let n = &results.nemesis;
    out.push_str(&format!(
        "nemesis {}: {} fault(s), {} error(s)\n",
        n.name,
        n.intervals.len(),
        n.errors.len()
    ));
    for s in &n.skipped {
        out.push_str(&format!("  skipped: {s}\n"));
    }
    if let Some(share) = n.quorum_share {
        out.push_str(&format!(
            "quorum up: {:.0} % of the main phase\n",
            share * 100.0
        ));
        if share < super::quorum::LOW_QUORUM_SHARE {
            out.push_str(&format!(
                "warning: a quorum was up only {:.0} % of the main phase: the cluster had \
                 little chance to do wrong, so the verdict says little\n",
                share * 100.0
            ));
        }
    }
    for line in results.promise.iter().flat_map(|p| p.lines()) {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(why) = &results.interrupted {
        out.push_str(&format!("interrupted: {why}\n"));
    }
    let partial = match results.history_valid {
        Some(h) if results.interrupted.is_some() => format!(
            " (interrupted: the partial history checked {})",
            verdict_word(h, color)
        ),
        _ => String::new(),
    };
    out.push_str(&format!(
        "verdict: {}{partial}\nresults: {}\nseed: {}\n",
        verdict_word(results.valid, color),
        dir.display(),
        results.seed
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::latency::OpCounts;
    use crate::report::results::NemesisSummary;

    fn results(valid: Validity, interrupted: Option<&str>, share: Option<f64>) -> Results {
        Results {
            test: "t".into(),
            seed: 7,
            valid: if interrupted.is_some() {
                valid.merge(Validity::Unknown)
            } else {
                valid
            },
            history_valid: Some(valid),
            start: String::new(),
            interrupted: interrupted.map(str::to_string),
            checkers: Vec::new(),
            ops: OpCounts::default(),
            latency: Vec::new(),
            nemesis: NemesisSummary {
                name: "partition+kill".into(),
                quorum_share: share,
                ..Default::default()
            },
            phases: Vec::new(),
            warnings: Vec::new(),
            check_seconds: 0.0,
            promise: None,
            availability: None,
        }
    }

    #[test]
    fn the_summary_shows_the_quorum_share_and_warns_when_it_is_low() {
        let ok = summary(
            &results(Validity::Valid, None, Some(0.75)),
            Path::new("r"),
            false,
        );
        assert!(ok.contains("quorum up: 75 % of the main phase"), "{ok}");
        assert!(!ok.contains("warning"), "{ok}");
        assert!(ok.contains("verdict: VALID\n"), "{ok}");
        let low = summary(
            &results(Validity::Valid, None, Some(1.0 / 3.0)),
            Path::new("r"),
            false,
        );
        assert!(low.contains("quorum up: 33 %"), "{low}");
        assert!(low.contains("warning: a quorum was up only 33 %"), "{low}");
    }

    #[test]
    fn an_interrupted_summary_shows_unknown_and_the_partial_verdict() {
        let s = summary(
            &results(Validity::Valid, Some("SIGINT (Ctrl-C)"), None),
            Path::new("r"),
            false,
        );
        assert!(s.contains("interrupted: SIGINT (Ctrl-C)"), "{s}");
        assert!(
            s.contains("verdict: UNKNOWN (interrupted: the partial history checked VALID)"),
            "{s}"
        );
        let s = summary(
            &results(Validity::Invalid, Some("SIGHUP"), None),
            Path::new("r"),
            false,
        );
        assert!(s.contains("verdict: INVALID"), "{s}");
    }
}
