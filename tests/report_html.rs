//! `report.html` from stored runs built by hand: a known anomaly is
//! explained (bars per process, the possible states, the minimal anomaly
//! whenever the checker filled `KeyReport.minimal`), a valid run has no
//! anomaly section, every value from the history is escaped, nothing is
//! fetched from the network, and `faultline check --report` writes the
//! report of an imported history.

use assert_cmd::Command;
use faultline::checker::linearizable::LinearizableReport;
use faultline::checker::Validity;
use faultline::history::jsonl::write_history;
use faultline::history::{History, Key, Op, OpType, Process};
use faultline::report::html;
use faultline::report::stored::StoredRun;
use faultline::report::verdict::{self, Judge, RunFacts};
use faultline::spec::TestSpec;
use faultline::store::RunDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// One op: `(process, type, f, value, time in ms)`.
type Row<'a> = (u64, OpType, &'a str, Value, u64);

fn history(rows: &[Row<'_>], key: Option<Key>) -> History {
    History::new(
        rows.iter()
            .map(|(p, t, f, v, ms)| {
                let mut op = Op::invoke(Process::Client(*p), *f, v.clone());
                op.kind = *t;
                op.time = ms * 1_000_000;
                op.key = key.clone();
                op.node = Some("n1".into());
                op
            })
            .collect(),
    )
}

/// Store `h` as a run of `spec` in `root`, checked by the workload's own
/// checkers, and write its report; returns the run and the report's text.
fn store_and_report(spec: &TestSpec, h: &History, root: &Path) -> (StoredRun, String) {
    let dir = RunDir::create(root, &spec.name, chrono::Utc::now()).unwrap();
    dir.write_spec(spec).unwrap();
    write_history(dir.history_file(), h).unwrap();
    let checked = Judge::for_spec(spec).unwrap().check(h);
    let facts = RunFacts {
        start: "2026-01-01T00:00:00Z".into(),
        nemesis: spec.nemesis.name.clone(),
        ..Default::default()
    };
    verdict::results(spec, h, checked, facts)
        .store(&dir)
        .unwrap();
    let run = StoredRun::load(&dir.path).unwrap();
    let written = html::write(&run).unwrap();
    assert_eq!(written.html, dir.path.join("report.html"));
    let text = std::fs::read_to_string(&written.html).unwrap();
    (run, text)
}

/// A stale read: `write 1` completes, then a read that begins later sees
/// `null` (the empty register).
fn stale_read() -> History {
    use OpType::*;
    history(
        &[
            (0, Invoke, "write", json!(1), 10),
            (0, Ok, "write", json!(1), 12),
            (1, Invoke, "read", Value::Null, 20),
            (2, Invoke, "write", json!(2), 21),
            (2, Ok, "write", json!(2), 23),
            (1, Ok, "read", Value::Null, 25),
        ],
        Some(Key::Int(3)),
    )
}

#[test]
fn a_linearizability_anomaly_is_explained_with_bars_states_and_its_minimal_anomaly() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = TestSpec::memory("register", 3, 3, 1.0, tmp.path());
    let (run, text) = store_and_report(&spec, &stale_read(), tmp.path());
    let results = run.results.as_ref().unwrap();
    assert_eq!(results.valid, Validity::Invalid);
    let report: LinearizableReport =
        serde_json::from_value(results.checkers[0].details.clone()).unwrap();
    let key = &report.keys[0];
    let failure = key.failure.as_ref().unwrap();

    assert!(text.contains("<h2 id=\"anomalies\">Anomalies</h2>"));
    assert!(text.contains("<span class=\"badge verdict v-invalid\">invalid</span>"));
    // The checker's explanation, escaped as text.
    assert!(
        text.contains(&html::escape::esc(&failure.explanation)),
        "no explanation"
    );
    assert!(text.contains("cannot take effect in any of those states"));
    // The bars: an SVG with a row per process and the failing op outlined.
    assert!(text.contains("<svg class=\"bars\""));
    for p in ["process 0", "process 1", "process 2"] {
        assert!(text.contains(p), "no row for {p}");
    }
    assert!(text.contains("✗ read"), "the failing read is not marked");
    assert!(text.contains("stroke=\"#b71c1c\""));
    // The states the read could have seen.
    assert!(text.contains("could hold"));
    for s in &failure.possible_states {
        assert!(
            text.contains(&format!("<li>{}</li>", html::escape::esc(s))),
            "state {s} missing"
        );
    }
    // The minimal anomaly, first, whenever the shrinker filled it in (it
    // does once the reports issue's shrinking is merged).
    if let Some(m) = &key.minimal {
        let head = match m.ops.len() {
            1 => "This op cannot be linearized".to_string(),
            n => format!("These {n} ops cannot be linearized"),
        };
        let at = text.find(&head).expect("minimal anomaly shown");
        assert!(
            at < text.find("<svg class=\"bars\"").unwrap()
                || text[..at].matches("<svg class=\"bars\"").count() == 0,
            "the minimal anomaly comes first"
        );
        for o in &m.ops {
            assert!(text.contains(&html::escape::esc(&o.text)), "{}", o.text);
        }
    }
    // The timeline's data is there, and the canvas.
    assert!(text.contains("<canvas id=\"tl-canvas\">"));
    assert!(text.contains("id=\"tl-meta\""));
}

#[test]
fn a_lost_set_element_names_its_add_and_the_read_that_missed_it() {
    use OpType::*;
    let tmp = tempfile::tempdir().unwrap();
    let spec = TestSpec::memory("set", 3, 3, 1.0, tmp.path());
    let h = history(
        &[
            (0, Invoke, "add", json!(41), 1),
            (0, Ok, "add", json!(41), 2),
            (1, Invoke, "read", Value::Null, 3),
            (1, Ok, "read", json!([41]), 4),
            (1, Invoke, "read", Value::Null, 5),
            (1, Ok, "read", json!([]), 6),
        ],
        None,
    );
    let (run, text) = store_and_report(&spec, &h, tmp.path());
    assert_eq!(run.results.as_ref().unwrap().valid, Validity::Invalid);
    assert!(text.contains("Lost: 1 acknowledged element(s) vanished"));
    // The add, the last read that saw it and the read that missed it.
    assert!(text.contains("op 0 by process 0: add 41"), "add not named");
    assert!(text.contains("op 2 by process 1: read of 1 element ok"));
    assert!(text.contains("op 4 by process 1: read of 0 elements ok"));
}

#[test]
fn a_valid_run_says_valid_and_has_no_anomaly_section() {
    use OpType::*;
    let tmp = tempfile::tempdir().unwrap();
    let spec = TestSpec::memory("register", 3, 3, 1.0, tmp.path());
    let h = history(
        &[
            (0, Invoke, "write", json!(1), 10),
            (0, Ok, "write", json!(1), 12),
            (1, Invoke, "read", Value::Null, 20),
            (1, Ok, "read", json!(1), 25),
        ],
        Some(Key::Int(1)),
    );
    let (_, text) = store_and_report(&spec, &h, tmp.path());
    assert!(text.contains("<span class=\"badge verdict v-valid\">valid</span>"));
    assert!(!text.contains("id=\"anomalies\""));
    assert!(!text.contains("class=\"anomaly\""));
    assert!(text.contains("<h2 id=\"timeline\">"));
    assert!(text.contains("test.yaml (the resolved test)"));
}

const XSS: [&str; 2] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
];

#[test]
fn every_value_from_the_history_is_escaped() {
    use OpType::*;
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = TestSpec::memory("register", 3, 3, 1.0, tmp.path());
    spec.name = format!("t{}{}", XSS[0], XSS[1]);
    let both = format!("{}{}", XSS[0], XSS[1]);
    let mut h = history(
        &[
            (0, Invoke, "write", json!(both), 10),
            (0, Ok, "write", json!(both), 12),
            (1, Invoke, "read", Value::Null, 20),
            (1, Ok, "read", json!(XSS[1]), 25),
            (2, Invoke, XSS[0], json!(XSS[0]), 26),
            (2, Info, XSS[0], json!(XSS[0]), 27),
        ],
        Some(Key::Str(XSS[1].into())),
    );
    for op in &mut h.ops {
        op.node = Some(XSS[1].into());
    }
    h.ops[5].error = Some(json!(both));
    // A fault whose f and value are hostile too.
    let mut nem = Op::invoke(Process::Nemesis, XSS[0], json!(XSS[1]));
    nem.time = 15_000_000;
    let mut done = nem.clone();
    done.kind = Ok;
    done.time = 16_000_000;
    h.ops.insert(2, nem);
    h.ops.insert(3, done);
    let h = History::new(h.ops);
    let (_, text) = store_and_report(&spec, &h, tmp.path());

    assert!(!text.contains("<script>alert"), "raw <script>alert");
    assert!(!text.contains("<img"), "raw <img");
    // Our own script elements only: the timeline's meta, data and code.
    assert_eq!(text.matches("<script").count(), 3);
    // The text is there, escaped, in HTML text and in the script data.
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(text.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(text.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"));
}

/// The values of every `src=`, `href=` and CSS `url(` in `text`.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for pat in ["src=\"", "href=\"", "src='", "href='", "url("] {
        let mut rest = text;
        while let Some(i) = rest.find(pat) {
            rest = &rest[i + pat.len()..];
            let end = rest.find(['"', '\'', ')']).unwrap_or(rest.len()).min(200);
            out.push(rest[..end].trim().to_string());
        }
    }
    out
}

#[test]
fn the_report_references_nothing_outside_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = TestSpec::memory("register", 3, 3, 1.0, tmp.path());
    let (_, text) = store_and_report(&spec, &stale_read(), tmp.path());
    let refs = references(&text);
    assert!(!refs.is_empty(), "the nav links are references too");
    for r in &refs {
        assert!(
            r.starts_with('#') || r.starts_with("data:"),
            "reference to something outside the file: {r}"
        );
    }
    assert!(!text.contains("@import"));
    assert!(!text.contains("<link"));
    assert!(!text.contains("<iframe"));
    // A network URL appears only as the SVG namespace.
    let urls = text.matches("http://").count() + text.matches("https://").count();
    let namespaces = text.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        + text
            .matches("xmlns:xlink=\"http://www.w3.org/1999/xlink\"")
            .count();
    assert_eq!(urls, namespaces, "a URL that is not an SVG namespace");
}

fn corpus_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/knossos/cas-register")
        .join(rel)
}

#[test]
fn check_report_writes_the_report_of_an_imported_history() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("one");
    let bad = corpus_file("bad/rethink-fail-smaller.edn");
    let run = Command::cargo_bin("faultline")
        .unwrap()
        .args([
            "check",
            "--model",
            "cas-register",
            "--init",
            "0",
            "--nil-read",
            "any",
        ])
        .arg(&bad)
        .arg("--report")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(text.contains("rethink-fail-smaller.edn"));
    assert!(text.contains("<h2 id=\"anomalies\">"));
    assert!(text.contains("cannot take effect in any of those states"));
    assert!(text.contains("<svg class=\"bars\""));

    // Several files: one directory per file.
    let many = tmp.path().join("many");
    let good = corpus_file("good/cas-register-bug.edn");
    let run = Command::cargo_bin("faultline")
        .unwrap()
        .args([
            "check",
            "--model",
            "cas-register",
            "--init",
            "0",
            "--nil-read",
            "any",
        ])
        .arg(&bad)
        .arg(&good)
        .arg("--report")
        .arg(&many)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&many)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let valid = dirs
        .iter()
        .find(|d| d.to_string_lossy().contains("cas-register-bug"))
        .unwrap();
    let text = std::fs::read_to_string(valid.join("report.html")).unwrap();
    assert!(text.contains("v-valid\">valid</span>"));
    assert!(!text.contains("id=\"anomalies\""));
}

#[test]
fn check_report_into_an_unwritable_place_is_bad_input_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let run = Command::cargo_bin("faultline")
        .unwrap()
        .args([
            "check",
            "--model",
            "cas-register",
            "--init",
            "0",
            "--nil-read",
            "any",
        ])
        .arg(corpus_file("bad/rethink-fail-smaller.edn"))
        .arg("--report")
        .arg(file.join("under-a-file"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(254), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("under-a-file"), "{stderr}");
}

/// A G-single (read skew) in Elle's EDN: op 3 appends x and z, op 4 reads
/// x and appends y, op 5 reads y but not z; op 7 reads z afterwards. With
/// `z_seen`, op 5 reads z too: its valid twin.
fn g_single_edn(z_seen: bool) -> String {
    let z = if z_seen { "[1]" } else { "[]" };
    format!(
        "{{:type :invoke, :f :txn, :value [[:append :x 1] [:append :z 1]], :process 1, :time 1}}\n\
         {{:type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]], :process 2, :time 2}}\n\
         {{:type :invoke, :f :txn, :value [[:r :y nil] [:r :z nil]], :process 3, :time 3}}\n\
         {{:type :ok, :f :txn, :value [[:append :x 1] [:append :z 1]], :process 1, :time 4}}\n\
         {{:type :ok, :f :txn, :value [[:r :x [1]] [:append :y 1]], :process 2, :time 5}}\n\
         {{:type :ok, :f :txn, :value [[:r :y [1]] [:r :z {z}]], :process 3, :time 6}}\n\
         {{:type :invoke, :f :txn, :value [[:r :z nil]], :process 4, :time 7}}\n\
         {{:type :ok, :f :txn, :value [[:r :z [1]]], :process 4, :time 8}}\n"
    )
}

fn check_txn_report(file: &Path, model: &str, out: &Path) -> (Option<i32>, String) {
    let run = Command::cargo_bin("faultline")
        .unwrap()
        .args(["check", "--model", model])
        .arg(file)
        .arg("--report")
        .arg(out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    (run.status.code(), text)
}

#[test]
fn check_report_of_a_list_append_history_draws_its_cycle_and_its_valid_twin_has_none() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("g-single.edn");
    std::fs::write(&bad, g_single_edn(false)).unwrap();
    let (code, text) = check_txn_report(&bad, "list-append", &tmp.path().join("bad"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("<h2 id=\"anomalies\">"), "{text}");
    assert!(text.contains("G-single — 1 found"), "{text}");
    assert!(
        text.contains(
            "Rules out: <b>strict-serializable, serializable, snapshot-isolation, repeatable-read</b>"
        ),
        "{text}"
    );
    let svg = text
        .split("<svg class=\"txn-cycle\"")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("the cycle drawn");
    assert_eq!(svg.matches("<g class=\"txn\">").count(), 3, "{svg}");
    assert_eq!(svg.matches("stroke-dasharray").count(), 1, "{svg}");
    assert!(svg.contains(">rw z: 1</text>"), "{svg}");
    assert!(svg.contains(">wr x: 1</text>"), "{svg}");
    assert!(
        text.contains("op 5 -rw-&gt; op 3: op 5 read key z empty"),
        "{text}"
    );

    let good = tmp.path().join("twin.edn");
    std::fs::write(&good, g_single_edn(true)).unwrap();
    let (code, text) = check_txn_report(&good, "list-append", &tmp.path().join("good"));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("<b>No anomaly</b>: 4 committed of 4 transactions"),
        "{text}"
    );
    assert!(!text.contains("<svg class=\"txn-cycle\""), "{text}");
    assert!(text.contains("list-append — <span class=\"badge v-valid\">valid</span>"));
}

#[test]
fn a_history_with_many_anomalies_gives_a_report_of_bounded_size() {
    // 60 independent G0 write cycles, each on its own two keys.
    let mut edn = String::new();
    for i in 0..60 {
        let (x, y) = (format!("x{i}"), format!("y{i}"));
        for (p, v) in [(1, 1), (2, 2)] {
            edn.push_str(&format!(
                "{{:type :invoke, :f :txn, :value [[:append :{x} {v}] [:append :{y} {v}]], :process {p}}}\n"
            ));
        }
        for (p, v) in [(1, 1), (2, 2)] {
            edn.push_str(&format!(
                "{{:type :ok, :f :txn, :value [[:append :{x} {v}] [:append :{y} {v}]], :process {p}}}\n"
            ));
        }
        edn.push_str(&format!(
            "{{:type :invoke, :f :txn, :value [[:r :{x} nil] [:r :{y} nil]], :process 3}}\n\
             {{:type :ok, :f :txn, :value [[:r :{x} [1 2]] [:r :{y} [2 1]]], :process 3}}\n"
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("many.edn");
    std::fs::write(&file, edn).unwrap();
    let (code, text) = check_txn_report(&file, "list-append", &tmp.path().join("r"));
    assert_eq!(code, Some(1), "{}", &text[..text.len().min(2000)]);
    assert!(text.contains("G0 — 60 found"), "{text}");
    let drawn = text.matches("<svg class=\"txn-cycle\"").count();
    assert!((1..=20).contains(&drawn), "{drawn} drawn");
    assert!(
        text.contains(&format!("… and {} more G0", 60 - drawn)),
        "{text}"
    );
}

#[test]
fn check_report_of_an_rw_register_history_draws_its_cycle() {
    // Write skew on registers: each reads the other's key unwritten, then
    // writes its own; a later read sees both writes.
    let edn = "{:type :invoke, :f :txn, :value [[:r :x nil] [:w :y 1]], :process 0}\n\
               {:type :invoke, :f :txn, :value [[:r :y nil] [:w :x 1]], :process 1}\n\
               {:type :ok, :f :txn, :value [[:r :x nil] [:w :y 1]], :process 0}\n\
               {:type :ok, :f :txn, :value [[:r :y nil] [:w :x 1]], :process 1}\n\
               {:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 2}\n\
               {:type :ok, :f :txn, :value [[:r :x 1] [:r :y 1]], :process 2}\n";
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ws.edn");
    std::fs::write(&file, edn).unwrap();
    let (code, text) = check_txn_report(&file, "rw-register", &tmp.path().join("r"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("rw-register — <span class=\"badge v-invalid\">"),
        "{text}"
    );
    assert!(text.contains("G2-item — 1 found"), "{text}");
    let svg = text
        .split("<svg class=\"txn-cycle\"")
        .nth(1)
        .expect("the cycle drawn");
    assert_eq!(svg.matches("stroke-dasharray").count(), 2, "{svg}");
    assert!(svg.contains(">w x 1</text>"), "{svg}");
}
