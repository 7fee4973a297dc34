//! JUnit output and `faultline suite`: snapshots of the JUnit XML of a
//! crafted valid, invalid and unknown run and of the suite summary table
//! (`UPDATE_SNAPSHOTS=1` rewrites `tests/snapshots/`); suites of
//! memory-cluster tests run through the binary (exit code by severity,
//! the JUnit file parsed and its counts checked); a malformed suite file
//! exits 254 naming file:line; `check --junit` on corpus histories and
//! `analyze --junit` on a memory run. Nothing here needs root.

use assert_cmd::Command;
use faultline::checker::{CheckResult, Validity};
use faultline::cli::suite::{summary_table, Row};
use faultline::report::junit::{self, JUnit};
use faultline::report::results::Results;
use serde_json::json;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------
// A small XML reader: enough to prove the output is well-formed XML 1.0
// (one root, tags balanced, attributes quoted and unique, only the five
// predefined entities and character references, no forbidden character)
// and to walk the tree.

#[derive(Debug, Clone)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn num(&self, k: &str) -> usize {
        self.attr(k)
            .unwrap_or_else(|| panic!("<{}> has no {k}", self.name))
            .parse()
            .unwrap_or_else(|_| panic!("<{}> {k} is not a number", self.name))
    }
    fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or("unterminated entity")? + i;
        let ent = &rest[i + 1..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(format!("bad reference &{ent};"))?,
            _ if ent.starts_with('#') => ent[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or(format!("bad reference &{ent};"))?,
            _ => return Err(format!("unknown entity &{ent};")),
        };
        if !xml_char(c) {
            return Err(format!("reference to a forbidden character &{ent};"));
        }
        out.push(c);
        rest = &rest[end + 1..];
    }
    if rest.contains('<') {
        return Err("a raw '<' in text or attribute".into());
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_xml(doc: &str) -> Result<Element, String> {
    if let Some(c) = doc.chars().find(|c| !xml_char(*c)) {
        return Err(format!("forbidden character U+{:04X}", c as u32));
    }
    let mut s = doc;
    if let Some(rest) = s.strip_prefix("<?xml") {
        s = &rest[rest.find("?>").ok_or("unterminated declaration")? + 2..];
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let Some(lt) = s.find('<') else {
            if !s.trim().is_empty() {
                return Err("text after the root".into());
            }
            break;
        };
        let text = &s[..lt];
        match stack.last_mut() {
            Some(top) => top.text.push_str(&unescape(text)?),
            None if !text.trim().is_empty() => return Err("text outside the root".into()),
            None => {}
        }
        s = &s[lt..];
        let gt = s.find('>').ok_or("unterminated tag")?;
        let tag = &s[1..gt];
        s = &s[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let el = stack.pop().ok_or("close tag with nothing open")?;
            if el.name != name.trim() {
                return Err(format!("</{name}> closes <{}>", el.name));
            }
            match stack.last_mut() {
                Some(p) => p.children.push(el),
                None if root.is_none() => root = Some(el),
                None => return Err("two roots".into()),
            }
            continue;
        }
        let (body, empty) = match tag.strip_suffix('/') {
            Some(b) => (b, true),
            None => (tag, false),
        };
        let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad tag name {name:?}"));
        }
        let mut attrs = Vec::new();
        let mut a = body[name_end..].trim_start();
        while !a.is_empty() {
            let eq = a
                .find('=')
                .ok_or(format!("attribute without value in <{name}>"))?;
            let k = a[..eq].trim().to_string();
            let rest = &a[eq + 1..];
            if !rest.starts_with('"') {
                return Err(format!("unquoted attribute {k} in <{name}>"));
            }
            let close = rest[1..].find('"').ok_or("unterminated attribute")? + 1;
            let v = unescape(&rest[1..close])?;
            if attrs.iter().any(|(n, _)| *n == k) {
                return Err(format!("attribute {k} twice in <{name}>"));
            }
            attrs.push((k, v));
            a = rest[close + 1..].trim_start();
        }
        let el = Element {
            name: name.to_string(),
            attrs,
            children: Vec::new(),
            text: String::new(),
        };
        if empty {
            match stack.last_mut() {
                Some(p) => p.children.push(el),
                None if root.is_none() => root = Some(el),
                None => return Err("two roots".into()),
            }
        } else {
            stack.push(el);
        }
    }
    if !stack.is_empty() {
        return Err(format!("<{}> never closed", stack[0].name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// The attributes the Jenkins JUnit schema (junit-10.xsd, the one CI
/// servers read) allows on each element, required ones first, `|`
/// between required and optional; an unknown element or attribute fails.
fn schema_attributes(el: &Element) {
    let (required, optional): (&[&str], &[&str]) = match el.name.as_str() {
        "testsuites" => (
            &[],
            &["name", "time", "tests", "failures", "disabled", "errors"],
        ),
        "testsuite" => (
            &["tests"],
            &[
                "name",
                "failures",
                "errors",
                "time",
                "disabled",
                "skipped",
                "skips",
                "timestamp",
                "hostname",
                "id",
                "package",
                "assertions",
                "file",
                "skip",
                "log",
                "url",
            ],
        ),
        "testcase" => (
            &["name"],
            &[
                "assertions",
                "time",
                "timestamp",
                "classname",
                "status",
                "class",
                "file",
                "line",
                "log",
                "group",
                "url",
            ],
        ),
        "failure" | "error" | "skipped" => (&[], &["type", "message"]),
        "property" => (&["name", "value"], &[]),
        "properties" | "system-out" | "system-err" => (&[], &[]),
        other => panic!("<{other}> is not in the JUnit schema"),
    };
    for r in required {
        assert!(el.attr(r).is_some(), "<{}> needs {r}", el.name);
    }
    for (k, _) in &el.attrs {
        assert!(
            required.contains(&k.as_str()) || optional.contains(&k.as_str()),
            "<{}> may not have {k}",
            el.name
        );
    }
    for c in &el.children {
        schema_attributes(c);
    }
}

/// Parse a JUnit document and check its structure against the common
/// schema: `testsuites` > `testsuite` (properties?, testcase*,
/// system-out?) > `testcase` (at most one of failure / error / skipped,
/// system-out?), with every count consistent. Returns the root and the
/// totals `(tests, failures, errors, skipped)`.
fn check_junit(doc: &str) -> (Element, (usize, usize, usize, usize)) {
    let root = parse_xml(doc).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{doc}"));
    assert_eq!(root.name, "testsuites");
    let mut total = (0, 0, 0, 0);
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite");
        assert!(suite.attr("name").is_some());
        let order: Vec<&str> = suite.children.iter().map(|c| c.name.as_str()).collect();
        let rank = |n: &str| match n {
            "properties" => 0,
            "testcase" => 1,
            "system-out" => 2,
            other => panic!("unexpected <{other}> in <testsuite>"),
        };
        assert!(
            order.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
            "{order:?}"
        );
        for p in suite.all("properties") {
            for prop in &p.children {
                assert_eq!(prop.name, "property");
                assert!(prop.attr("name").is_some() && prop.attr("value").is_some());
            }
        }
        let mut counts = (0, 0, 0, 0);
        for case in suite.all("testcase") {
            assert!(case.attr("name").is_some() && case.attr("classname").is_some());
            let t: f64 = case.attr("time").unwrap().parse().unwrap();
            assert!(t >= 0.0);
            counts.0 += 1;
            let verdicts: Vec<&str> = case
                .children
                .iter()
                .map(|c| c.name.as_str())
                .filter(|n| *n != "system-out")
                .collect();
            assert!(verdicts.len() <= 1, "{verdicts:?}");
            match verdicts.first() {
                Some(&"failure") => counts.1 += 1,
                Some(&"error") => counts.2 += 1,
                Some(&"skipped") => counts.3 += 1,
                None => {}
                Some(other) => panic!("unexpected <{other}> in <testcase>"),
            }
        }
        assert_eq!(
            (
                suite.num("tests"),
                suite.num("failures"),
                suite.num("errors"),
                suite.num("skipped")
            ),
            counts,
            "counts of testsuite {:?}",
            suite.attr("name")
        );
        total = (
            total.0 + counts.0,
            total.1 + counts.1,
            total.2 + counts.2,
            total.3 + counts.3,
        );
    }
    assert_eq!(
        (root.num("tests"), root.num("failures"), root.num("errors")),
        (total.0, total.1, total.2)
    );
    schema_attributes(&root);
    (root, total)
}

#[test]
fn the_xml_reader_rejects_what_is_not_well_formed() {
    assert!(parse_xml("<a><b></a></b>").is_err());
    assert!(parse_xml("<a x=1/>").is_err());
    assert!(parse_xml("<a>&nbsp;</a>").is_err());
    assert!(parse_xml("<a>\u{1}</a>").is_err());
    assert!(parse_xml("<a>&#1;</a>").is_err());
    assert!(parse_xml("<a/><b/>").is_err());
    assert!(parse_xml("<a x=\"1\" x=\"2\"/>").is_err());
    let ok = parse_xml("<?xml version=\"1.0\"?>\n<a q=\"&quot;&#10;\">x &amp; y<b/></a>").unwrap();
    assert_eq!(ok.attr("q"), Some("\"\n"));
    assert_eq!(ok.text, "x & y");
}

// ---------------------------------------------------------------------
// Snapshots.

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// Compare `actual` with `tests/snapshots/NAME`; `UPDATE_SNAPSHOTS=1`
/// writes it instead.
fn snapshot(name: &str, actual: &str) {
    let path = snapshot_dir().join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (UPDATE_SNAPSHOTS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A run's results with every varying field fixed.
fn results(valid: Validity, checkers: Vec<CheckResult>) -> Results {
    serde_json::from_value(json!({
        "test": "refkv-register-partition",
        "seed": 42,
        "valid": valid,
        "start": "2026-01-02T03:04:05.678+00:00",
        "checkers": checkers,
        "ops": {"invoke": 1200, "ok": 1000, "fail": 150, "info": 50, "open": 0},
        "latency": [],
        "nemesis": {"name": "partition", "intervals": [], "skipped": [], "errors": []},
        "check_seconds": 0.5,
    }))
    .unwrap()
}

fn doc_of(r: &Results) -> String {
    let suite = junit::suite_of_run(
        r,
        Path::new("results/refkv-register-partition/20260102T030405.678Z"),
        &r.test,
        33.25,
    );
    JUnit::new("faultline test", vec![suite]).to_xml()
}

#[test]
fn snapshot_of_a_valid_run() {
    let mut lin = CheckResult::new(
        "linearizable",
        Validity::Valid,
        "linearizable (cas-register): 1200 ops over 12 key(s) in 0.250 s",
    );
    lin.details = json!({"elapsed_ms": 250.0, "keys": []});
    let doc = doc_of(&results(Validity::Valid, vec![lin]));
    let (_, counts) = check_junit(&doc);
    assert_eq!(counts, (1, 0, 0, 0));
    snapshot("junit_valid.xml", &doc);
}

#[test]
fn snapshot_of_an_invalid_run_holds_the_explanation_and_minimal_anomaly() {
    let mut lin = CheckResult::new(
        "linearizable",
        Validity::Invalid,
        "not linearizable (cas-register): key 3: op 41 by process 7 (read \"<script>alert(1)</script>\") \
         cannot take effect",
    );
    lin.details = json!({
        "valid": "invalid",
        "elapsed_ms": 120.0,
        "keys": [
            {"key": 1, "valid": "valid"},
            {
                "key": 3,
                "valid": "invalid",
                "failure": {"explanation": "key 3: op 41 by process 7 (read \"<script>alert(1)</script>\") cannot take effect"},
                "minimal": {"explanation": "these 3 ops cannot be linearized, whatever the other 97 ops of key 3 did: write 1 & read 2\u{1}"}
            },
            {
                "key": 5,
                "valid": "invalid",
                "failure": {"explanation": "key 5: op 77 by process 2 (cas [1,2]) cannot take effect"}
            }
        ]
    });
    let mut set = CheckResult::new("set", Validity::Valid, "1000 adds, all read");
    set.details = json!({"lost": []});
    let doc = doc_of(&results(Validity::Invalid, vec![lin, set]));
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts, (2, 1, 0, 0));
    let failure = &root.children[0].all("testcase")[0].children[0];
    assert_eq!(failure.name, "failure");
    assert_eq!(failure.attr("type"), Some("invalid"));
    assert!(failure
        .attr("message")
        .unwrap()
        .contains("<script>alert(1)</script>"));
    assert!(
        failure.text.contains("minimal anomaly: these 3 ops"),
        "{}",
        failure.text
    );
    assert!(
        failure.text.contains("write 1 & read 2"),
        "{}",
        failure.text
    );
    assert!(failure.text.contains("key 5: op 77"), "{}", failure.text);
    assert!(!doc.contains("<script>"), "escaped");
    snapshot("junit_invalid.xml", &doc);
}

#[test]
fn snapshot_of_an_unknown_run_is_an_error_case() {
    let lin = CheckResult::new(
        "linearizable",
        Validity::Unknown,
        "unknown (cas-register): 1 of 12 key(s) undecided: time limit of 60 s reached",
    );
    let mut bank = CheckResult::new("bank", Validity::Invalid, "2 bad reads: total 99 ≠ 100");
    bank.details = json!({"bad_count": 2, "bad_reads": [{"index": 7, "problems": [{"kind": "wrong-total", "found": 99}]}]});
    let doc = doc_of(&results(Validity::Invalid, vec![lin, bank]));
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts, (2, 1, 1, 0));
    let cases = root.children[0].all("testcase");
    assert_eq!(cases[0].children[0].name, "error");
    assert_eq!(cases[0].children[0].attr("type"), Some("unknown"));
    assert!(cases[1].children[0].text.contains("\"wrong-total\""));
    snapshot("junit_unknown.xml", &doc);
}

#[test]
fn a_run_that_could_not_run_is_an_error_case() {
    let suite = junit::suite_of_error(
        "refkv-register-kill",
        254,
        "the local backend needs root\nrun it with sudo",
        vec![("seed".into(), "1".into())],
        0.25,
    );
    let doc = JUnit::new("s", vec![suite]).to_xml();
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts, (1, 0, 1, 0));
    let err = &root.children[0].all("testcase")[0].children[0];
    assert_eq!(err.attr("type"), Some("bad-input"));
    assert_eq!(
        err.attr("message"),
        Some("exit 254: the local backend needs root")
    );
    assert_eq!(err.text, "the local backend needs root\nrun it with sudo");
}

#[test]
fn snapshot_of_the_suite_summary_table() {
    let row = |test: &str, seed, expect, verdict: &str, code, ops, dir: Option<&str>| Row {
        test: test.into(),
        seed,
        expect,
        verdict: verdict.into(),
        code,
        ops,
        seconds: 12.34,
        dir: dir.map(PathBuf::from),
    };
    let rows = vec![
        row(
            "refkv-register-partition",
            1,
            Validity::Valid,
            "valid",
            Some(0),
            1500,
            Some("results/refkv-register-partition/20260102T030405.678Z"),
        ),
        row(
            "refkv-set-kill",
            2,
            Validity::Valid,
            "unknown",
            Some(2),
            1420,
            Some("results/refkv-set-kill/20260102T030505.000Z"),
        ),
        row(
            "bug-stale-read",
            1,
            Validity::Invalid,
            "invalid",
            Some(0),
            1510,
            Some("results/bug-stale-read/20260102T030605.000Z"),
        ),
        row(
            "bug-no-fsync",
            1,
            Validity::Invalid,
            "valid",
            Some(1),
            1600,
            Some("results/bug-no-fsync/20260102T030705.000Z"),
        ),
        row(
            "refkv-bank-pause",
            3,
            Validity::Valid,
            "bad input",
            Some(254),
            0,
            None,
        ),
        row(
            "refkv-bank-kill",
            3,
            Validity::Valid,
            "skipped",
            None,
            0,
            None,
        ),
    ];
    snapshot("suite_table.txt", &summary_table(&rows));
}

#[test]
fn the_worst_code_follows_severity() {
    use faultline::exit::{severity, worst};
    assert!(severity(0) < severity(2));
    assert!(severity(2) < severity(1));
    assert!(severity(1) < severity(254));
    assert!(severity(254) < severity(255));
    assert_eq!(worst([0, 2, 0]), 2);
    assert_eq!(worst([2, 1, 0]), 1);
    assert_eq!(worst([1, 254, 2]), 254);
    assert_eq!(worst([254, 255, 1]), 255);
}

// ---------------------------------------------------------------------
// Through the binary.

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn faultline(args: &[&str], cwd: &Path) -> Out {
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .current_dir(cwd)
        .env("FAULTLINE_NO_SUDO", "1")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const STALE_CLUSTER: &str =
    "db: memory\nbackend: none\nnodes: 3\nmemory:\n  fault: {kind: stale-reads, every: 3}\n";

/// A suite of memory tests, each well under 2 s.
fn memory_suite(dir: &Path, tests: &str) -> PathBuf {
    std::fs::write(dir.join("stale.yaml"), STALE_CLUSTER).unwrap();
    let p = dir.join("suite.yaml");
    std::fs::write(
        &p,
        format!(
            "name: memtest\ndefaults: {{ cluster: memory, nemesis: none, time_limit: 0.5, \
             recovery: 0, seed: 1 }}\ntests:\n{tests}"
        ),
    )
    .unwrap();
    p
}

fn str_of(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_memory_suite_passes_with_an_expected_bug_and_writes_consistent_junit() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = memory_suite(
        tmp.path(),
        "  - { workload: register }\n  - { workload: set }\n  \
         - { name: stale, cluster: stale.yaml, rate: 200, workload: register, expect: invalid }\n",
    );
    let junit = tmp.path().join("junit.xml");
    let results = tmp.path().join("results");
    let out = faultline(
        &[
            "suite",
            str_of(&suite),
            "--junit",
            str_of(&junit),
            "--results",
            str_of(&results),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(0), "{out}");
    for t in ["memory-register-none", "memory-set-none", "stale"] {
        assert!(out.stdout.contains(t), "{out}");
    }
    assert!(out.stdout.contains("invalid (expect invalid)"), "{out}");
    let doc = std::fs::read_to_string(&junit).unwrap();
    let (root, counts) = check_junit(&doc);
    assert_eq!(root.attr("name"), Some("memtest"));
    assert_eq!(root.children.len(), 3, "one testsuite per test");
    // register: linearizable; set: set; stale: linearizable + expect.
    assert_eq!(counts.1 + counts.2 + counts.3, 0, "{doc}");
    assert!(counts.0 >= 4, "{doc}");
    let stale = &root.children[2];
    let props = &stale.all("properties")[0].children;
    let prop = |k: &str| {
        props
            .iter()
            .find(|p| p.attr("name") == Some(k))
            .and_then(|p| p.attr("value"))
            .map(str::to_string)
    };
    assert_eq!(prop("seed").as_deref(), Some("1"));
    assert_eq!(prop("nemesis").as_deref(), Some("none"));
    assert_eq!(prop("expect").as_deref(), Some("invalid"));
    assert!(Path::new(&prop("run-dir").unwrap())
        .join("results.json")
        .is_file());
}

#[test]
fn a_suite_exits_with_its_worst_code_and_counts_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = memory_suite(
        tmp.path(),
        "  - { workload: register }\n  - { name: stale, cluster: stale.yaml, rate: 200, workload: register }\n  \
         - { name: missed, workload: set, expect: invalid }\n",
    );
    let junit = tmp.path().join("junit.xml");
    let results = tmp.path().join("results");
    let out = faultline(
        &[
            "suite",
            str_of(&suite),
            "--junit",
            str_of(&junit),
            "--results",
            str_of(&results),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(1), "{out}");
    let doc = std::fs::read_to_string(&junit).unwrap();
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts.1, 2, "the stale read and the missed bug: {doc}");
    let missed = &root.children[2];
    let expect = missed
        .all("testcase")
        .into_iter()
        .find(|c| c.attr("name") == Some("expect"))
        .expect("an expect case");
    assert_eq!(
        expect.children[0].attr("message"),
        Some("expected invalid, got valid")
    );
}

#[test]
fn runs_that_cannot_start_are_error_cases_and_exit_254() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = memory_suite(
        tmp.path(),
        "  - { workload: register }\n  - { workload: set }\n",
    );
    // A file where the results directory should be: no run can start.
    let results = tmp.path().join("not-a-dir");
    std::fs::write(&results, "").unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = faultline(
        &[
            "suite",
            str_of(&suite),
            "--junit",
            str_of(&junit),
            "--results",
            str_of(&results),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    let doc = std::fs::read_to_string(&junit).unwrap();
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts, (2, 0, 2, 0), "{doc}");
    let err = &root.children[0].all("testcase")[0].children[0];
    assert_eq!(err.attr("type"), Some("bad-input"));
    assert!(
        err.attr("message").unwrap().starts_with("exit 254: "),
        "{doc}"
    );
    assert!(out.stdout.contains("bad input"), "{out}");
}

#[test]
fn a_malformed_suite_exits_254_naming_file_and_line_before_running() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let suite = memory_suite(
        tmp.path(),
        "  - { workload: register }\n  - { workload: set, time-limt: 1 }\n",
    );
    let out = faultline(
        &["suite", str_of(&suite), "--results", str_of(&results)],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    assert!(out.stderr.contains("suite.yaml:5:"), "{out}");
    assert!(out.stderr.contains("time-limt"), "{out}");
    assert!(!results.exists(), "nothing ran");

    // A value only resolution catches: the entry's line is named.
    let suite = memory_suite(
        tmp.path(),
        "  - { workload: register }\n  - { workload: regster }\n",
    );
    let out = faultline(
        &["suite", str_of(&suite), "--results", str_of(&results)],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    assert!(out.stderr.contains("suite.yaml:5 (tests[1])"), "{out}");
    assert!(out.stderr.contains("regster"), "{out}");
    assert!(!results.exists(), "nothing ran");

    // With --junit, the error is also a JUnit error case.
    let junit = tmp.path().join("broken.xml");
    let out = faultline(
        &[
            "suite",
            str_of(&suite),
            "--junit",
            str_of(&junit),
            "--results",
            str_of(&results),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    let (root, counts) = check_junit(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(counts, (1, 0, 1, 0));
    let err = &root.children[0].all("testcase")[0].children[0];
    assert!(err.text.contains("regster"), "{}", err.text);

    let out = faultline(&["suite", "nope.yaml"], tmp.path());
    assert_eq!(out.code, Some(254), "{out}");
    assert!(out.stderr.contains("nope.yaml"), "{out}");
}

#[test]
fn the_shipped_suites_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (suite, n) in [("suites/smoke.yaml", 5), ("suites/nightly.yaml", 35)] {
        let out = faultline(&["suite", suite, "--dry-run"], root);
        assert_eq!(out.code, Some(0), "{out}");
        assert!(out.stdout.contains(&format!("{n} test(s)")), "{out}");
    }
}

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(rel)
}

#[test]
fn check_writes_junit_for_corpus_histories() {
    let tmp = tempfile::tempdir().unwrap();
    let junit = tmp.path().join("check.xml");
    let bad = corpus("knossos/cas-register/bad/cas-failure.edn");
    let good = corpus("knossos/cas-register/good/memstress3-0.edn");
    let out = faultline(
        &[
            "check",
            str_of(&bad),
            str_of(&good),
            "--model",
            "cas-register",
            "--init",
            "0",
            "--nil-read",
            "any",
            "--junit",
            str_of(&junit),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(1), "{out}");
    let doc = std::fs::read_to_string(&junit).unwrap();
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts, (2, 1, 0, 0), "{doc}");
    let case = &root.children[0].all("testcase")[0];
    assert_eq!(case.attr("classname"), Some(str_of(&bad)));
    assert_eq!(case.attr("name"), Some("linearizable"));
    let failure = &case.children[0];
    assert!(
        failure
            .attr("message")
            .unwrap()
            .contains("not linearizable"),
        "{doc}"
    );

    // An unreadable file is an error case; the exit code is 254.
    let broken = tmp.path().join("broken.jsonl");
    std::fs::write(&broken, "{not json\n").unwrap();
    let out = faultline(
        &[
            "check",
            str_of(&broken),
            str_of(&good),
            "--junit",
            str_of(&junit),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    let doc = std::fs::read_to_string(&junit).unwrap();
    let (root, counts) = check_junit(&doc);
    assert_eq!(counts.2, 1, "{doc}");
    assert_eq!(
        root.children[0].all("testcase")[0].children[0].attr("type"),
        Some("bad-input")
    );
}

#[test]
fn analyze_and_test_write_junit_for_a_memory_run() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let test_xml = tmp.path().join("test.xml");
    let out = faultline(
        &[
            "test",
            "--cluster",
            "memory",
            "--nemesis",
            "none",
            "--workload",
            "set",
            "--time-limit",
            "0.5",
            "--recovery",
            "0",
            "--seed",
            "3",
            "--results",
            str_of(&results),
            "--junit",
            str_of(&test_xml),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(0), "{out}");
    let (root, counts) = check_junit(&std::fs::read_to_string(&test_xml).unwrap());
    assert_eq!(counts, (1, 0, 0, 0));
    let suite = &root.children[0];
    let run_dir = suite.all("properties")[0]
        .children
        .iter()
        .find(|p| p.attr("name") == Some("run-dir"))
        .and_then(|p| p.attr("value"))
        .unwrap()
        .to_string();

    let analyze_xml = tmp.path().join("analyze.xml");
    let out = faultline(
        &["analyze", &run_dir, "--junit", str_of(&analyze_xml)],
        tmp.path(),
    );
    assert_eq!(out.code, Some(0), "{out}");
    let (root, counts) = check_junit(&std::fs::read_to_string(&analyze_xml).unwrap());
    assert_eq!(counts, (1, 0, 0, 0));
    let case = &root.children[0].all("testcase")[0];
    assert_eq!(case.attr("classname"), Some("memory-set-none"));
    assert_eq!(case.attr("name"), Some("set"));

    // Not a run: one error case, exit 254.
    let out = faultline(
        &[
            "analyze",
            str_of(tmp.path()),
            "--junit",
            str_of(&analyze_xml),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    let (_, counts) = check_junit(&std::fs::read_to_string(&analyze_xml).unwrap());
    assert_eq!(counts, (1, 0, 1, 0));

    // A --junit path in a missing directory is refused before running.
    let out = faultline(
        &[
            "test",
            "--cluster",
            "memory",
            "--nemesis",
            "none",
            "--junit",
            "/nonexistent/x.xml",
        ],
        tmp.path(),
    );
    assert_eq!(out.code, Some(254), "{out}");
    assert!(out.stderr.contains("/nonexistent"), "{out}");
}

#[test]
fn a_signal_stops_the_run_and_the_suite_and_the_rest_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path().join("long.yaml");
    std::fs::write(
        &suite,
        "defaults: { cluster: memory, nemesis: none, time-limit: 5, recovery: 0, seed: 1 }\n\
         tests:\n  - { workload: register }\n  - { workload: set }\n  - { workload: bank }\n",
    )
    .unwrap();
    let junit = tmp.path().join("junit.xml");
    let results = tmp.path().join("results");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faultline"))
        .current_dir(tmp.path())
        .args([
            "suite",
            str_of(&suite),
            "--junit",
            str_of(&junit),
            "--results",
            str_of(&results),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first test to start (however loaded the machine), then
    // give its run a moment to be under way.
    use std::io::BufRead;
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("[1/3]") {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{seen}{rest}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    let (root, counts) = check_junit(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(counts.3, 2, "two tests skipped: {text}");
    let first = &root.children[0];
    assert!(
        first.all("properties")[0]
            .children
            .iter()
            .any(|p| p.attr("name") == Some("interrupted")),
        "{text}"
    );
    assert_eq!(counts.2, 1, "the interrupted run is unknown: {text}");
}
