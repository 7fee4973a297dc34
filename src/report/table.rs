//! The summary printed at the end of a run (and by `faultline analyze`):
//! a table of checker verdicts, a table of latency quantiles per `f` and
//! completion type, the fault intervals count, the share of the main phase
//! with a quorum up (with a warning when it is low), availability during
//! and outside faults with a table of recoveries (after each heal, the time
//! to the first ok op; after each leader loss, to the first ok write; at
//! most [`MAX_RECOVERY_ROWS`] rows, the rest in `results.json`), the
//! overall verdict (and, for an interrupted run, the partial history's),
//! the results path and the seed.

use crate::checker::Validity;
use crate::report::availability::{Availability, Recovery, Share};
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
    if let Some(c) = results.leader_changes {
        out.push_str(&format!("leader changes seen: {c} (leaders.jsonl)\n"));
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
    if let Some(a) = &results.availability {
        out.push_str(&availability(a));
    }
    for line in results.promise.iter().flat_map(|p| p.lines()) {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(line) = results.online.as_ref().and_then(online_line) {
        out.push_str(&line);
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

/// The one summary line of online checking: the first anomaly it proved
/// (when, after how many ops, which checker) and whether the main phase
/// stopped on it; nothing when it proved none.
pub fn online_line(o: &crate::report::results::OnlineSummary) -> Option<String> {
    let a = o.anomaly.as_ref()?;
    let stop = match o.stopped_early_at {
        Some(_) => "; main phase stopped on it",
        None => "",
    };
    Some(format!(
        "online: first anomaly at {:.1} s after {} ops ({}: {}){stop}\n",
        a.seconds,
        a.ops,
        a.checker,
        clip(&a.summary, 80)
    ))
}

/// The most recovery rows the summary shows; the others are counted and
/// left to `results.json`.
pub const MAX_RECOVERY_ROWS: usize = 10;

/// A share as `94 % of 17 ops`, or `no ops`.
fn share_words(s: &Share) -> String {
    match s.share {
        Some(x) => format!("{:.0} % of {} ops", x * 100.0, s.total()),
        None => "no ops".into(),
    }
}

/// The availability lines and the recovery table of the summary.
fn availability(a: &Availability) -> String {
    let head = "availability (share of main-phase ops served, by invoke time)";
    let mut out = if a.fault_s == 0.0 && a.during_faults.total() == 0 {
        format!(
            "{head}: {}, no fault in force\n",
            share_words(&a.outside_faults)
        )
    } else {
        format!(
            "{head}: {} outside faults, {} during faults ({:.1} s)\n",
            share_words(&a.outside_faults),
            share_words(&a.during_faults),
            a.fault_s
        )
    };
    // Heals and leader losses in time order, each with what it waits for.
    let mut rows: Vec<(&Recovery, &str)> = a
        .recoveries
        .iter()
        .map(|r| (r, "any op"))
        .chain(a.leader_losses.iter().map(|r| (r, "write")))
        .collect();
    rows.sort_by(|x, y| x.0.at_s.total_cmp(&y.0.at_s));
    if !rows.is_empty() {
        let mut b = Builder::default();
        b.push_record(["event", "at s", "fault", "first ok", "after s"]);
        for (r, what) in rows.iter().take(MAX_RECOVERY_ROWS) {
            let event = if *what == "write" {
                format!("{} (leader lost)", r.event)
            } else {
                r.event.clone()
            };
            b.push_record([
                event,
                format!("{:.3}", r.at_s),
                clip(&r.what, 40),
                what.to_string(),
                match r.seconds {
                    Some(s) => format!("{s:.3}"),
                    None => "never".into(),
                },
            ]);
        }
        let mut t = b.build();
        t.with(Style::rounded());
        out.push_str(&t.to_string());
        out.push('\n');
        if rows
            .iter()
            .take(MAX_RECOVERY_ROWS)
            .any(|(r, _)| r.seconds.is_none())
        {
            out.push_str("never: no such op invoked after it completed ok in the main phase\n");
        }
        if rows.len() > MAX_RECOVERY_ROWS {
            out.push_str(&format!(
                "{} more in results.json (availability)\n",
                rows.len() - MAX_RECOVERY_ROWS
            ));
        }
    }
    if a.healed_after_main > 0 {
        out.push_str(&format!(
            "{} fault(s) still in force when the main phase ended: no recovery measured\n",
            a.healed_after_main
        ));
    }
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
            leader_changes: None,
            online: None,
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

    #[test]
    fn the_summary_shows_availability_and_caps_the_recovery_rows() {
        let rec = |event: &str, at: f64, secs: Option<f64>| Recovery {
            event: event.into(),
            what: "random-halves: n1 n2 | n3 n4 n5".into(),
            at_s: at,
            first_ok_s: secs.map(|s| at + s),
            seconds: secs,
            op: None,
        };
        let mut r = results(Validity::Valid, None, Some(1.0));
        let share = |ok, info| Share {
            ok,
            info,
            share: Some(ok as f64 / (ok + info) as f64),
            ..Default::default()
        };
        r.availability = Some(Availability {
            window_s: 1.0,
            during_faults: share(1, 3),
            outside_faults: share(19, 1),
            fault_s: 12.5,
            recoveries: (0..12)
                .map(|i| rec("stop-partition", 10.0 + i as f64, Some(0.25)))
                .collect(),
            leader_losses: vec![rec("kill", 2.0, None)],
            healed_after_main: 1,
            ..Default::default()
        });
        let s = summary(&r, Path::new("r"), false);
        assert!(
            s.contains(
                "availability (share of main-phase ops served, by invoke time): 95 % of 20 ops \
                 outside faults, 25 % of 4 ops during faults (12.5 s)"
            ),
            "{s}"
        );
        // The leader loss (2 s) comes first, then 9 of the 12 heals.
        let first = s.lines().find(|l| l.contains("(leader lost)")).unwrap();
        assert!(
            first.contains("2.000") && first.contains("never"),
            "{first}"
        );
        assert_eq!(s.matches("│ stop-partition").count(), 9, "{s}");
        assert!(s.contains("│ 0.250 "), "{s}");
        assert!(s.contains("3 more in results.json (availability)"), "{s}");
        assert!(s.contains("never: no such op"), "{s}");
        assert!(
            s.contains("1 fault(s) still in force when the main phase ended"),
            "{s}"
        );
    }
}
