//! JUnit XML for CI: one `<testsuite>` per run (or per checked history
//! file), one `<testcase>` per checker, the anomaly in `<failure>`.
//!
//! The shape is the common one CI servers read (Jenkins, GitLab, GitHub
//! test reporters): `<testsuites>` holding `<testsuite>`s holding
//! `<testcase>`s, with `tests`, `failures`, `errors` (and, per testsuite,
//! `skipped`) counts that always add up (they are computed from the cases
//! when the XML is written, never stored separately), and `<properties>` on
//! each testsuite (seed, nemesis, run directory...). Only elements and
//! attributes of the Jenkins JUnit schema (junit-10.xsd) are written.
//!
//! How verdicts map, per checker:
//!
//! | verdict / outcome | JUnit |
//! |---|---|
//! | valid | a passed `<testcase>` |
//! | invalid | `<failure type="invalid" message=SUMMARY>`, the explanation as text |
//! | unknown | `<error type="unknown" message=SUMMARY>` |
//! | bad input (exit 254) | one `<testcase name="run">` with `<error type="bad-input">` |
//! | internal error (exit 255) | one `<testcase name="run">` with `<error type="internal">` |
//!
//! Why `unknown` is an `<error>` and not `<skipped>`: an unknown verdict
//! means the property was *not checked* (the search ran out of time or
//! memory, or there were no client ops). CI dashboards count `skipped` as
//! harmless (a test someone chose not to run), so a nightly that went
//! unknown every night would look green while checking nothing. It is not
//! a `<failure>` either: no anomaly was found. JUnit's `error` — "the test
//! could not reach a verdict" — is what it is, and the `type` attribute
//! (`unknown`) tells it apart from a run that failed to run at all.
//! `<skipped>` is used only for the tests of a suite that never ran (the
//! suite was interrupted before them).
//!
//! Every value is escaped for its place (attribute or text), and the
//! characters XML 1.0 forbids (control characters other than tab, line
//! feed and carriage return; U+FFFE, U+FFFF) are dropped: a history value
//! or a system's error message can hold anything.

use crate::checker::{CheckResult, Validity};
use crate::exit;
use crate::report::results::Results;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The longest `message` attribute written; longer summaries are clipped
/// (the whole text is in the element's body).
pub const MAX_MESSAGE: usize = 1_000;
/// The longest element text written (an explanation, `system-out`);
/// longer texts are clipped with a note saying where the rest is.
pub const MAX_TEXT: usize = 64 * 1024;

/// A whole JUnit document: `<testsuites>`.
#[derive(Debug, Clone, PartialEq)]
pub struct JUnit {
    /// The document's name (`faultline test`, a suite's name).
    pub name: String,
    /// Seconds of the whole; `None` = the sum of the testsuites'.
    pub time: Option<f64>,
    /// One per run or per history file.
    pub suites: Vec<TestSuite>,
}

/// One `<testsuite>`: a run, or one checked history file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSuite {
    /// The testsuite's name (the test's name, or the history file).
    pub name: String,
    /// When it started, `YYYY-MM-DDTHH:MM:SS` (UTC, as JUnit wants it).
    pub timestamp: Option<String>,
    /// Seconds it took.
    pub time: f64,
    /// `<property name= value=>` pairs, in order.
    pub properties: Vec<(String, String)>,
    /// The checkers' cases.
    pub cases: Vec<TestCase>,
    /// `<system-out>` of the testsuite (e.g. the results directory), if any.
    pub system_out: Option<String>,
}

/// One `<testcase>`: a checker's verdict on one run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// The checker (`linearizable`, `set`...), or `run` for a run that
    /// produced no verdict.
    pub name: String,
    /// The test's name or the history file.
    pub classname: String,
    /// Seconds the checker took (0 when unknown).
    pub time: f64,
    /// Passed, failed, errored or skipped.
    pub outcome: Outcome,
    /// `<system-out>`: what a passing case still wants to show (an
    /// anomaly a suite expected, say).
    pub system_out: Option<String>,
}

/// What became of a test case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// An anomaly was found (`<failure>`).
    Failure {
        /// `type`: `invalid`, or `expectation` in a suite.
        kind: String,
        /// `message`: one line.
        message: String,
        /// The element's text: the explanation.
        text: String,
    },
    /// No verdict (`<error>`).
    Error {
        /// `type`: `unknown`, `bad-input`, `internal`.
        kind: String,
        /// `message`: one line.
        message: String,
        /// The element's text.
        text: String,
    },
    /// Not run (`<skipped>`).
    Skipped {
        /// `message`: why.
        message: String,
    },
}

/// Counts of a set of cases: `(tests, failures, errors, skipped)`.
fn counts<'a>(cases: impl IntoIterator<Item = &'a TestCase>) -> (usize, usize, usize, usize) {
    let (mut t, mut f, mut e, mut s) = (0, 0, 0, 0);
    for c in cases {
        t += 1;
        match c.outcome {
            Outcome::Passed => {}
            Outcome::Failure { .. } => f += 1,
            Outcome::Error { .. } => e += 1,
            Outcome::Skipped { .. } => s += 1,
        }
    }
    (t, f, e, s)
}

impl JUnit {
    /// A document holding `suites`.
    pub fn new(name: impl Into<String>, suites: Vec<TestSuite>) -> JUnit {
        JUnit {
            name: name.into(),
            time: None,
            suites,
        }
    }

    /// `(tests, failures, errors, skipped)` over every testsuite.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        counts(self.suites.iter().flat_map(|s| &s.cases))
    }

    /// The XML text.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        // No `skipped` here: the Jenkins schema (junit-10.xsd) has it on
        // `testsuite` only.
        let (t, f, e, _) = self.counts();
        let time = self
            .time
            .unwrap_or_else(|| self.suites.iter().map(|s| s.time).sum());
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" \
             time=\"{}\">",
            attr(&self.name),
            seconds(time)
        );
        for suite in &self.suites {
            suite.write_xml(&mut out);
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// Write the XML to `path` (via a temporary file and a rename, so a CI
    /// step never reads half of it). The error names the file.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "junit.xml".into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        let fail =
            |e: std::io::Error| format!("{}: cannot write the JUnit file: {e}", path.display());
        std::fs::write(&tmp, self.to_xml()).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e)
        })
    }
}

/// Check, before a run, that a JUnit file can be written at `path`: its
/// directory exists and `path` is not a directory. The error names the
/// flag and the path (bad input).
pub fn check_path(path: &Path) -> Result<(), String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|p| !p.is_dir()) {
        return Err(format!(
            "--junit {}: no such directory {}",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("--junit {}: is a directory", path.display()));
    }
    Ok(())
}

impl TestSuite {
    /// `(tests, failures, errors, skipped)` of this testsuite.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        counts(&self.cases)
    }

    fn write_xml(&self, out: &mut String) {
        let (t, f, e, s) = self.counts();
        let _ = write!(
            out,
            "  <testsuite name=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" \
             skipped=\"{s}\" time=\"{}\"",
            attr(&self.name),
            seconds(self.time)
        );
        if let Some(ts) = &self.timestamp {
            let _ = write!(out, " timestamp=\"{}\"", attr(ts));
        }
        out.push_str(">\n");
        if !self.properties.is_empty() {
            out.push_str("    <properties>\n");
            for (k, v) in &self.properties {
                let _ = writeln!(
                    out,
                    "      <property name=\"{}\" value=\"{}\"/>",
                    attr(k),
                    attr(v)
                );
            }
            out.push_str("    </properties>\n");
        }
        for c in &self.cases {
            c.write_xml(out);
        }
        if let Some(so) = &self.system_out {
            let _ = writeln!(out, "    <system-out>{}</system-out>", text(so));
        }
        out.push_str("  </testsuite>\n");
    }
}

impl TestCase {
    fn write_xml(&self, out: &mut String) {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            attr(&self.name),
            attr(&self.classname),
            seconds(self.time)
        );
        if self.outcome == Outcome::Passed && self.system_out.is_none() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        match &self.outcome {
            Outcome::Passed => {}
            Outcome::Failure {
                kind,
                message,
                text: body,
            } => element(out, "failure", kind, message, body),
            Outcome::Error {
                kind,
                message,
                text: body,
            } => element(out, "error", kind, message, body),
            Outcome::Skipped { message } => {
                let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(message));
            }
        }
        if let Some(so) = &self.system_out {
            let _ = writeln!(out, "      <system-out>{}</system-out>", text(so));
        }
        out.push_str("    </testcase>\n");
    }
}

fn element(out: &mut String, tag: &str, kind: &str, message: &str, body: &str) {
    let _ = writeln!(
        out,
        "      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>",
        attr(kind),
        attr(&clip(message, MAX_MESSAGE)),
        text(body)
    );
}

/// Seconds as JUnit writes them: a plain decimal, three places, never
/// negative, NaN or infinite.
fn seconds(s: f64) -> String {
    let s = if s.is_finite() && s > 0.0 { s } else { 0.0 };
    format!("{s:.3}")
}

/// True for the characters XML 1.0 allows in a document.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// `s` escaped for an attribute value in double quotes: `& < > " '`
/// as entities, tab and line breaks as character references (so a parser
/// keeps them instead of normalising them to spaces), characters XML 1.0
/// forbids dropped.
pub fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` escaped for element text: `& < >` as entities (so `]]>` cannot
/// appear), carriage returns as `&#13;`, characters XML 1.0 forbids
/// dropped.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `n` characters of `s`, ending in `…` when clipped.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The explanation of a checker's result in words, for a `<failure>`: its
/// summary, then for linearizability every invalid key's minimal anomaly
/// (when the shrinker found one) and explanation, and for other checkers
/// their details (the elements, reads or transfers at fault) as JSON.
/// Bounded by [`MAX_TEXT`].
pub fn explanation(c: &CheckResult) -> String {
    let mut out = c.summary.clone();
    let keys = c.details.get("keys").and_then(Value::as_array);
    if let Some(keys) = keys.filter(|_| c.checker == "linearizable") {
        for k in keys {
            if k.get("valid").and_then(Value::as_str) != Some("invalid") {
                continue;
            }
            let minimal = k
                .get("minimal")
                .and_then(|m| m.get("explanation"))
                .and_then(Value::as_str);
            let failure = k
                .get("failure")
                .and_then(|f| f.get("explanation"))
                .and_then(Value::as_str);
            // Either may already be in the summary (it leads with the
            // first invalid key's explanation).
            if let Some(m) = minimal.filter(|m| !c.summary.contains(m)) {
                out.push_str("\n\nminimal anomaly: ");
                out.push_str(m);
            }
            if let Some(f) = failure.filter(|f| !c.summary.contains(f)) {
                out.push_str("\n\n");
                out.push_str(f);
            }
        }
    } else if !c.details.is_null() {
        if let Ok(json) = serde_json::to_string_pretty(&c.details) {
            out.push_str("\n\ndetails: ");
            out.push_str(&json);
        }
    }
    if out.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("\n… (clipped: the whole is in results.json)");
    }
    out
}

/// Seconds a checker took, from its details' `elapsed_ms` when it records
/// one; 0 otherwise.
fn checker_seconds(c: &CheckResult) -> f64 {
    c.details
        .get("elapsed_ms")
        .and_then(Value::as_f64)
        .map(|ms| ms / 1e3)
        .unwrap_or(0.0)
}

/// One checker's verdict as a test case of `classname`.
pub fn case_of_check(classname: &str, c: &CheckResult) -> TestCase {
    let outcome = match c.valid {
        Validity::Valid => Outcome::Passed,
        Validity::Invalid => Outcome::Failure {
            kind: "invalid".into(),
            message: c.summary.clone(),
            text: explanation(c),
        },
        Validity::Unknown => Outcome::Error {
            kind: "unknown".into(),
            message: c.summary.clone(),
            text: explanation(c),
        },
    };
    TestCase {
        name: c.checker.clone(),
        classname: classname.to_string(),
        time: checker_seconds(c),
        outcome,
        system_out: None,
    }
}

/// JUnit's timestamp (`YYYY-MM-DDTHH:MM:SS`, UTC) of an RFC 3339 time;
/// `None` when it does not parse.
pub fn timestamp(rfc3339: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(rfc3339).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    })
}

/// A finished (or re-analysed) run as a testsuite: one case per checker,
/// named by the checker, classname `classname` (the test's name for a
/// single run); `time` is the run's wall-clock seconds. Properties: test,
/// seed, nemesis, verdict, run directory, start, and why it was
/// interrupted when it was. With no checker at all (nothing judged the
/// history), one `<error type="unknown">` case named `verdict`.
pub fn suite_of_run(results: &Results, dir: &Path, classname: &str, time: f64) -> TestSuite {
    let mut properties = vec![
        ("test".to_string(), results.test.clone()),
        ("seed".to_string(), results.seed.to_string()),
        ("nemesis".to_string(), results.nemesis.name.clone()),
        ("verdict".to_string(), results.valid.to_string()),
        ("run-dir".to_string(), dir.display().to_string()),
        ("start".to_string(), results.start.clone()),
    ];
    if let Some(why) = &results.interrupted {
        properties.push(("interrupted".to_string(), why.clone()));
    }
    let mut cases: Vec<TestCase> = results
        .checkers
        .iter()
        .map(|c| case_of_check(classname, c))
        .collect();
    if cases.is_empty() {
        cases.push(TestCase {
            name: "verdict".into(),
            classname: classname.to_string(),
            time: results.check_seconds,
            outcome: Outcome::Error {
                kind: "unknown".into(),
                message: format!("{}: no checker judged the history", results.valid),
                text: String::new(),
            },
            system_out: None,
        });
    }
    if let Some(why) = &results.interrupted {
        // An interrupted run's verdict is unknown unless it is invalid:
        // say why on the cases that would otherwise look like a pass.
        if results.valid == Validity::Unknown {
            for c in &mut cases {
                if c.outcome == Outcome::Passed {
                    c.outcome = Outcome::Error {
                        kind: "unknown".into(),
                        message: format!("the run was interrupted ({why}): the history is partial"),
                        text: String::new(),
                    };
                }
            }
        }
    }
    TestSuite {
        name: classname.to_string(),
        timestamp: timestamp(&results.start),
        time,
        properties,
        cases,
        system_out: Some(format!("results: {}", dir.display())),
    }
}

/// A run that produced no verdict — bad input (exit 254) or an internal
/// error (255) — as a testsuite of one `<error>` case named `run`
/// holding `message`.
pub fn suite_of_error(
    classname: &str,
    code: u8,
    message: &str,
    properties: Vec<(String, String)>,
    time: f64,
) -> TestSuite {
    let kind = if code == exit::BAD_INPUT {
        "bad-input"
    } else {
        "internal"
    };
    TestSuite {
        name: classname.to_string(),
        timestamp: None,
        time,
        properties,
        cases: vec![TestCase {
            name: "run".into(),
            classname: classname.to_string(),
            time,
            outcome: Outcome::Error {
                kind: kind.into(),
                message: format!("exit {code}: {}", first_line(message)),
                text: message.to_string(),
            },
            system_out: None,
        }],
        system_out: None,
    }
}

/// A test that never ran (the suite stopped before it) as a testsuite of
/// one `<skipped>` case named `run`.
pub fn suite_of_skipped(
    classname: &str,
    why: &str,
    properties: Vec<(String, String)>,
) -> TestSuite {
    TestSuite {
        name: classname.to_string(),
        timestamp: None,
        time: 0.0,
        properties,
        cases: vec![TestCase {
            name: "run".into(),
            classname: classname.to_string(),
            time: 0.0,
            outcome: Outcome::Skipped {
                message: why.to_string(),
            },
            system_out: None,
        }],
        system_out: None,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

impl TestSuite {
    /// Judge this run against a suite entry's `expect`ed verdict instead of
    /// "valid". When `expected` is `Valid` nothing changes. Otherwise a case
    /// named `expect` is added: passed when `got == expected`, else a
    /// `<failure type="expectation">` saying both; and the checkers' own
    /// cases stop counting as failures or errors (the anomaly a suite
    /// expects is what it asked for), their explanation kept in
    /// `<system-out>` for whoever wants to read it. Cases of a run with no
    /// verdict (`run`) are left as they are.
    pub fn expecting(mut self, expected: Validity, got: Validity) -> TestSuite {
        if expected == Validity::Valid || self.cases.iter().any(|c| c.name == "run") {
            return self;
        }
        for c in &mut self.cases {
            let shown = match &c.outcome {
                Outcome::Failure { kind, text, .. } | Outcome::Error { kind, text, .. } => {
                    Some(format!("{kind}: {text}"))
                }
                _ => None,
            };
            if let Some(shown) = shown {
                c.outcome = Outcome::Passed;
                c.system_out = Some(shown);
            }
        }
        let classname = self
            .cases
            .first()
            .map(|c| c.classname.clone())
            .unwrap_or_else(|| self.name.clone());
        let outcome = if got == expected {
            Outcome::Passed
        } else {
            Outcome::Failure {
                kind: "expectation".into(),
                message: format!("expected {expected}, got {got}"),
                text: format!(
                    "this test expects the verdict {expected} (a known bug must be found) \
                     but the run's verdict is {got}"
                ),
            }
        };
        self.properties
            .push(("expect".to_string(), expected.to_string()));
        self.cases.push(TestCase {
            name: "expect".into(),
            classname,
            time: 0.0,
            outcome,
            system_out: None,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_forbidden_characters() {
        let nasty = "<script>alert('x' & \"y\")</script>\u{0}\u{1b}\u{FFFF}\t\n\r]]>é";
        assert_eq!(
            attr(nasty),
            "&lt;script&gt;alert(&apos;x&apos; &amp; &quot;y&quot;)&lt;/script&gt;\
             &#9;&#10;&#13;]]&gt;é"
        );
        assert_eq!(
            text(nasty),
            "&lt;script&gt;alert('x' &amp; \"y\")&lt;/script&gt;\t\n&#13;]]&gt;é"
        );
    }

    #[test]
    fn seconds_are_never_negative_or_nan() {
        assert_eq!(seconds(1.23456), "1.235");
        assert_eq!(seconds(-1.0), "0.000");
        assert_eq!(seconds(f64::NAN), "0.000");
        assert_eq!(seconds(f64::INFINITY), "0.000");
    }

    #[test]
    fn counts_follow_the_outcomes() {
        let case = |outcome| TestCase {
            name: "c".into(),
            classname: "k".into(),
            time: 0.0,
            outcome,
            system_out: None,
        };
        let suite = TestSuite {
            name: "s".into(),
            timestamp: None,
            time: 1.0,
            properties: vec![],
            cases: vec![
                case(Outcome::Passed),
                case(Outcome::Failure {
                    kind: "invalid".into(),
                    message: "m".into(),
                    text: "t".into(),
                }),
                case(Outcome::Error {
                    kind: "unknown".into(),
                    message: "m".into(),
                    text: "t".into(),
                }),
                case(Outcome::Skipped {
                    message: "m".into(),
                }),
            ],
            system_out: None,
        };
        assert_eq!(suite.counts(), (4, 1, 1, 1));
        let doc = JUnit::new("d", vec![suite.clone(), suite]);
        assert_eq!(doc.counts(), (8, 2, 2, 2));
        let xml = doc.to_xml();
        assert!(xml.contains(
            "<testsuites name=\"d\" tests=\"8\" failures=\"2\" errors=\"2\" time=\"2.000\">"
        ));
    }

    #[test]
    fn an_expected_invalid_verdict_passes_and_a_missed_one_fails() {
        let c = CheckResult::new("set", Validity::Invalid, "1 lost");
        let suite = TestSuite {
            name: "s".into(),
            timestamp: None,
            time: 1.0,
            properties: vec![],
            cases: vec![case_of_check("s", &c)],
            system_out: None,
        };
        let found = suite
            .clone()
            .expecting(Validity::Invalid, Validity::Invalid);
        assert_eq!(found.counts(), (2, 0, 0, 0));
        assert!(found.cases[0]
            .system_out
            .as_deref()
            .unwrap()
            .contains("1 lost"));
        let missed = suite.clone().expecting(Validity::Invalid, Validity::Valid);
        assert_eq!(missed.counts(), (2, 1, 0, 0));
        assert_eq!(
            suite.clone().expecting(Validity::Valid, Validity::Invalid),
            suite
        );
    }
}
