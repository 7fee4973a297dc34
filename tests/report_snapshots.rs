//! Snapshot tests of what a run leaves for people and tools to read: the
//! `results.json` that `report::verdict::results` assembles, and the
//! terminal summary (`report::table::summary`, no colour), for a crafted
//! register history with a partition and a kill of the leader.
//!
//! The expected files are `tests/snapshots/*`. On a difference the test
//! fails with a line diff (`-` expected, `+` got). When the change is
//! meant, regenerate them and review the diff in git:
//!
//! ```text
//! UPDATE_SNAPSHOTS=1 cargo test --test report_snapshots
//! ```
//!
//! The snapshot is deterministic: the start is a fixed string, the history's
//! times are fixed, and what varies from one check to the next (the
//! seconds the checkers took: `check_seconds`, every `elapsed_ms`, and the
//! `in 0.001 s` of a checker's summary) is zeroed before comparing.

use faultline::history::{History, Key, Op, OpType, Process};
use faultline::report::results::{Phase, Results};
use faultline::report::table::summary;
use faultline::report::verdict::{results, Judge, RunFacts};
use faultline::spec::TestSpec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// ns from s.
fn ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}

/// One op of the crafted history.
enum Step {
    /// A client op: process, f, key, invoke value, invoke s, and its
    /// completion (type, value, s, error).
    Client(
        u64,
        &'static str,
        i64,
        Value,
        f64,
        OpType,
        Value,
        f64,
        Option<&'static str>,
    ),
    /// A nemesis op: f, completion value, completion s (invoked 10 ms
    /// before).
    Nemesis(&'static str, Value, f64),
}

/// A register history over keys 0 and 1, main phase 0 to 5 s: a partition
/// from 1 to 3 s (a write times out, a read of key 1 too), its heal
/// followed by an ok read 0.12 s later; a kill of the leader at 3.5 s, the
/// first ok write after it done at 4.2 s (0.7 s), and the restart at 4.5 s
/// followed by an ok read 0.11 s later; final reads after the main phase.
fn history() -> History {
    use OpType::{Fail, Info, Ok};
    use Step::{Client as C, Nemesis as N};
    let steps = vec![
        C(0, "write", 0, json!(1), 0.10, Ok, json!(1), 0.12, None),
        C(1, "read", 0, json!(null), 0.20, Ok, json!(1), 0.21, None),
        C(
            2,
            "cas",
            0,
            json!([1, 2]),
            0.30,
            Ok,
            json!([1, 2]),
            0.32,
            None,
        ),
        C(3, "write", 1, json!(5), 0.40, Ok, json!(5), 0.41, None),
        N(
            "start-partition",
            json!({"kind": "random-halves", "grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}),
            1.00,
        ),
        C(
            0,
            "write",
            0,
            json!(3),
            1.20,
            Info,
            json!(3),
            2.20,
            Some("timeout"),
        ),
        C(1, "read", 0, json!(null), 1.30, Ok, json!(2), 1.35, None),
        C(
            2,
            "cas",
            0,
            json!([9, 4]),
            1.50,
            Fail,
            json!([9, 4]),
            1.52,
            Some("cas mismatch"),
        ),
        C(
            3,
            "read",
            1,
            json!(null),
            1.60,
            Info,
            json!(null),
            2.60,
            Some("timeout"),
        ),
        N(
            "stop-partition",
            json!({"healed": ["n1", "n2", "n3"]}),
            3.00,
        ),
        C(1, "read", 0, json!(null), 3.10, Ok, json!(3), 3.12, None),
        N("kill", json!({"target": "leader", "killed": ["n2"]}), 3.50),
        C(2, "read", 1, json!(null), 3.60, Ok, json!(5), 3.61, None),
        C(
            10,
            "write",
            0,
            json!(6),
            3.70,
            Fail,
            json!(6),
            3.80,
            Some("no leader"),
        ),
        C(13, "write", 1, json!(7), 3.90, Ok, json!(7), 4.20, None),
        N("start", json!({"started": ["n2"]}), 4.50),
        C(1, "read", 0, json!(null), 4.60, Ok, json!(3), 4.61, None),
        C(2, "write", 1, json!(8), 4.70, Ok, json!(8), 4.71, None),
        // Final reads.
        C(1, "read", 0, json!(null), 6.60, Ok, json!(3), 6.61, None),
        C(2, "read", 1, json!(null), 6.70, Ok, json!(8), 6.71, None),
    ];
    let mut ops: Vec<Op> = Vec::new();
    for s in steps {
        match s {
            C(p, f, key, v, at, kind, out, done, err) => {
                let mut inv = Op::invoke(Process::Client(p), f, v);
                inv.key = Some(Key::Int(key));
                inv.time = ns(at);
                inv.node = Some(format!("n{}", p % 3 + 1));
                let mut c = inv.complete(kind, out);
                c.time = ns(done);
                c.error = err.map(|e| json!(e));
                ops.push(inv);
                ops.push(c);
            }
            N(f, v, done) => {
                let mut inv = Op::invoke(Process::Nemesis, f, json!(null));
                inv.time = ns(done - 0.01);
                let mut c = inv.complete(OpType::Ok, v);
                c.time = ns(done);
                ops.push(inv);
                ops.push(c);
            }
        }
    }
    ops.sort_by_key(|o| (o.time, o.kind != OpType::Invoke));
    History::new(ops)
}

fn phases() -> Vec<Phase> {
    [
        ("main", 0.0, 5.0),
        ("heal", 5.0, 5.2),
        ("recovery", 5.2, 6.2),
        ("final", 6.2, 7.0),
    ]
    .into_iter()
    .map(|(name, a, b)| Phase {
        name: name.into(),
        start: ns(a),
        end: ns(b),
    })
    .collect()
}

/// The `Results` of the crafted run, as the end of a run assembles them.
fn crafted() -> Results {
    let mut spec = TestSpec::memory("register", 3, 4, 5.0, Path::new("results"));
    spec.name = "snapshot-register".into();
    spec.seed = 42;
    spec.nemesis.name = "partition-kill".into();
    spec.nemesis.config.faults = vec!["partition".into(), "kill".into()];
    let h = history();
    let checked = Judge::for_spec(&spec).expect("register checks").check(&h);
    let facts = RunFacts {
        start: "2026-01-01T00:00:00Z".into(),
        nemesis: "partition-kill".into(),
        phases: phases(),
        ..Default::default()
    };
    results(&spec, &h, checked, facts)
}

/// `text` with every duration of the form `in 0.123 s` set to `in 0.000 s`
/// (a checker's summary says how long it took).
fn zero_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("in ") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let num = rest
            .char_indices()
            .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
            .count();
        if num > 0 && rest[num..].starts_with(" s") && rest[..num].contains('.') {
            out.push_str("0.000");
            rest = &rest[num..];
        }
    }
    out.push_str(rest);
    out
}

/// Zero what varies between two checks of the same history.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), &*x) {
                    ("elapsed_ms" | "check_seconds", Value::Number(_)) => *x = json!(0.0),
                    (_, Value::String(s)) => *x = Value::String(zero_durations(s)),
                    _ => normalize(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn snapshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// A line diff of `want` and `got` (longest common subsequence): `-`
/// lines only in `want`, `+` lines only in `got`, a few lines of context.
fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let near = |k: usize| {
        lines[k.saturating_sub(CONTEXT)..(k + CONTEXT + 1).min(lines.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, l)) in lines.iter().enumerate() {
        if near(k) {
            out.push_str(&format!("{c} {l}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  ...\n");
            skipped = true;
        }
    }
    out
}

/// Compare `got` with the snapshot `name`, or write it when
/// `UPDATE_SNAPSHOTS` is set.
fn check_snapshot(name: &str, got: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_SNAPSHOTS=1 cargo test --test report_snapshots",
            path.display()
        )
    });
    if want != got {
        panic!(
            "{} differs from what was produced (- expected, + got):\n{}\n\
             If the change is meant: UPDATE_SNAPSHOTS=1 cargo test --test report_snapshots, \
             and review the diff.",
            path.display(),
            diff(&want, got)
        );
    }
}

/// `r` with what varies between two checks of the same history zeroed.
fn normalized(mut r: Results) -> Results {
    r.check_seconds = 0.0;
    for c in &mut r.checkers {
        c.summary = zero_durations(&c.summary);
        normalize(&mut c.details);
    }
    r
}

/// `results.json` as the run writes it (`RunDir::write_json`: pretty JSON
/// of `Results`, fields in their declared order).
#[test]
fn results_json_matches_its_snapshot() {
    let r = normalized(crafted());
    let mut text = serde_json::to_string_pretty(&r).unwrap();
    text.push('\n');
    check_snapshot("results.json", &text);
    // And the file reads back as the same results.
    let back: Results = serde_json::from_str(&text).unwrap();
    assert_eq!(back.availability, r.availability);
}

#[test]
fn the_summary_table_matches_its_snapshot() {
    let r = normalized(crafted());
    let text = summary(
        &r,
        Path::new("results/snapshot-register/20260101T000000.000Z"),
        false,
    );
    assert!(!text.contains('\x1b'), "colour without colour:\n{text}");
    check_snapshot("summary.txt", &text);
}

/// The crafted answers the snapshot holds, checked outright, so that a
/// wrong snapshot cannot be regenerated into passing.
#[test]
fn the_crafted_run_has_its_known_availability() {
    let a = crafted().availability.expect("availability");
    let rec: Vec<(&str, f64, Option<f64>)> = a
        .recoveries
        .iter()
        .map(|r| (r.event.as_str(), r.at_s, r.seconds))
        .collect();
    assert_eq!(
        rec,
        [
            ("stop-partition", 3.0, Some(0.12)),
            ("start", 4.5, Some(0.11))
        ]
    );
    assert_eq!(a.leader_losses.len(), 1);
    assert_eq!(
        (a.leader_losses[0].at_s, a.leader_losses[0].seconds),
        (3.5, Some(0.7))
    );
    // During the faults [1, 3) and [3.5, 4.5): 7 ops, 3 ok.
    assert_eq!(
        (
            a.during_faults.ok,
            a.during_faults.fail,
            a.during_faults.info
        ),
        (3, 2, 2)
    );
    // Outside: 4 before, 1 read at 3.1 s, 2 after 4.5 s; final reads left out.
    assert_eq!((a.outside_faults.ok, a.outside_faults.total()), (7, 7));
    assert_eq!(a.window_s, 1.0);
    assert_eq!(a.windows.len(), 5);
}

#[test]
fn the_diff_shows_the_changed_lines_with_context() {
    let d = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
    assert_eq!(d, "  ...\n  b\n  c\n- d\n+ D\n  e\n  f\n  ...\n");
    assert_eq!(
        zero_durations("ok: 3 ops in 0.013 s, in 2 keys"),
        "ok: 3 ops in 0.000 s, in 2 keys"
    );
}
