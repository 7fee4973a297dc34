//! `faultline check` end to end, through the real binary: several files and
//! directories (one line per file and a summary), `--json`, `--all-keys`,
//! `--time-limit` ending in unknown, and bad input — unknown flags, missing
//! files, bad `--init`, malformed histories — exiting 254 with a message
//! that names the flag or `FILE:LINE`.

use assert_cmd::Command;
use faultline::history::jsonl::write_history;
use faultline::history::{History, Key, Op, OpType, Process};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn check(args: &[&str], files: &[&Path]) -> Run {
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .arg("check")
        .args(files)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Ops from `PROCESS TYPE F [VALUE-JSON] [@KEY]` lines.
fn ops(text: &str) -> Vec<Op> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (line, key) = match line.rsplit_once(" @") {
                Some((l, k)) => (l, Some(Key::Str(k.to_string()))),
                None => (line, None),
            };
            let parts: Vec<&str> = line.splitn(4, ' ').collect();
            let mut op = Op::invoke(
                Process::Client(parts[0].parse().unwrap()),
                parts[2],
                parts
                    .get(3)
                    .map_or(Value::Null, |v| serde_json::from_str(v).unwrap()),
            );
            op.kind = match parts[1] {
                "invoke" => OpType::Invoke,
                "ok" => OpType::Ok,
                "fail" => OpType::Fail,
                _ => OpType::Info,
            };
            op.key = key;
            op.time = (i as u64 + 1) * 1_000_000;
            op
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    write_history(&p, &History::new(ops(text))).unwrap();
    p
}

const VALID: &str = "
    0 invoke write 1
    0 ok write 1
    1 invoke read
    1 ok read 1";

/// A stale read: 2 was written and acknowledged, then 1 read.
const STALE: &str = "
    0 invoke write 1
    0 ok write 1
    0 invoke write 2
    0 ok write 2
    1 invoke read
    1 ok read 1";

#[test]
fn several_files_give_one_line_each_a_summary_and_the_merged_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.jsonl", VALID);
    let b = write(dir.path(), "b.jsonl", STALE);
    let c = write(dir.path(), "c.jsonl", VALID);
    let r = check(&["--model", "register", "--init", "0"], &[&a, &b, &c]);
    assert_eq!(r.code, Some(1), "{r}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{}: valid", a.display())),
        "{r}"
    );
    assert!(
        lines[1].starts_with(&format!("{}: invalid", b.display())),
        "{r}"
    );
    // The explanation of the invalid file, indented below its line.
    assert!(
        lines[2].starts_with("  ") && lines[2].contains("read 1"),
        "{r}"
    );
    assert!(r.stdout.contains(&format!("{}: valid", c.display())), "{r}");
    assert_eq!(
        lines.last().copied(),
        Some("3 files: 2 valid, 1 invalid, 0 unknown, 0 unreadable"),
        "{r}"
    );
    // Valid files alone: exit 0.
    let r = check(&["--model", "register", "--init", "0"], &[&a, &c]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stdout
            .ends_with("2 files: 2 valid, 0 invalid, 0 unknown, 0 unreadable\n"),
        "{r}"
    );
    // One file: its line and no summary.
    let r = check(&["--model", "register", "--init", "0"], &[&a]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
}

#[test]
fn a_directory_is_searched_recursively_for_histories() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run1/history.jsonl", VALID);
    write(dir.path(), "run2/history.jsonl", VALID);
    write(dir.path(), "run2/deeper/history.jsonl", STALE);
    std::fs::write(dir.path().join("run1/notes.md"), "not a history").unwrap();
    let r = check(&["--model", "register", "--init", "0"], &[dir.path()]);
    assert_eq!(r.code, Some(1), "{r}");
    let file_lines = r
        .stdout
        .lines()
        .filter(|l| l.starts_with(&dir.path().display().to_string()))
        .count();
    assert_eq!(file_lines, 3, "{r}");
    assert!(!r.stdout.contains("notes.md"), "{r}");
    assert!(
        r.stdout
            .ends_with("3 files: 2 valid, 1 invalid, 0 unknown, 0 unreadable\n"),
        "{r}"
    );
    // An empty directory is bad input.
    let empty = tempfile::tempdir().unwrap();
    let r = check(&[], &[empty.path()]);
    assert_eq!(r.code, Some(254), "{r}");
    assert!(r.stderr.contains("no history files"), "{r}");
}

#[test]
fn json_output_is_one_valid_document_with_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.jsonl", VALID);
    let b = write(dir.path(), "b.jsonl", STALE);
    let r = check(&["--model", "register", "--init", "0", "--json"], &[&a, &b]);
    assert_eq!(r.code, Some(1), "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    assert_eq!(doc["valid"], json!("invalid"), "{doc:#}");
    assert_eq!(
        doc["counts"],
        json!({"valid": 1, "invalid": 1, "unknown": 0, "error": 0})
    );
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], json!(a.display().to_string()));
    assert_eq!(files[0]["valid"], json!("valid"));
    assert_eq!(files[1]["valid"], json!("invalid"));
    // The report carries what a later HTML report draws: the op that could
    // not be linearized and the states possible before it.
    let failure = &files[1]["report"]["keys"][0]["failure"];
    assert_eq!(failure["op"]["f"], json!("read"), "{failure:#}");
    assert_eq!(failure["op"]["value"], json!(1), "{failure:#}");
    assert_eq!(failure["possible_states"], json!(["2"]), "{failure:#}");
    assert!(failure["explanation"]
        .as_str()
        .unwrap()
        .contains("could hold 2"));
    // A bad file in --json mode: still one document, the error in it.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"type\":\"invoke\"\n").unwrap();
    let r = check(&["--json"], &[&a, &bad]);
    assert_eq!(r.code, Some(254), "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    assert_eq!(doc["valid"], Value::Null);
    assert!(doc["files"][1]["error"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}:1: ", bad.display())));
}

/// Three keys, two of them invalid (stale reads on `a` and `c`).
const TWO_BAD_KEYS: &str = "
    0 invoke write 1 @a
    0 ok write 1 @a
    0 invoke write 2 @a
    0 ok write 2 @a
    1 invoke read @a
    1 ok read 1 @a
    0 invoke write 5 @b
    0 ok write 5 @b
    1 invoke read @b
    1 ok read 5 @b
    0 invoke write 1 @c
    0 ok write 1 @c
    0 invoke write 3 @c
    0 ok write 3 @c
    1 invoke read @c
    1 ok read 1 @c";

#[test]
fn all_keys_decides_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "keys.jsonl", TWO_BAD_KEYS);
    let base = ["--model", "register", "--init", "0", "--json"];
    let r = check(&base, &[&f]);
    assert_eq!(r.code, Some(1), "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let rep = &doc["files"][0]["report"];
    assert_eq!(rep["keys_total"], json!(3));
    assert!(rep["keys_invalid"].as_u64().unwrap() >= 1, "{rep:#}");

    let mut all = base.to_vec();
    all.push("--all-keys");
    let r = check(&all, &[&f]);
    assert_eq!(r.code, Some(1), "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let rep = &doc["files"][0]["report"];
    assert_eq!(rep["keys_invalid"], json!(2), "{rep:#}");
    assert_eq!(rep["keys_valid"], json!(1), "{rep:#}");
    assert_eq!(rep["keys_unknown"], json!(0), "{rep:#}");
    // In text: one explanation per invalid key, each naming its key.
    let r = check(&["--model", "register", "--init", "0", "--all-keys"], &[&f]);
    assert!(r.stdout.contains("2 of 3 key(s) not linearizable"), "{r}");
    assert!(r.stdout.contains("\n  key a: "), "{r}");
    assert!(r.stdout.contains("\n  key c: "), "{r}");
}

#[test]
fn time_limit_ends_a_hard_history_in_unknown() {
    // 40 writes of distinct values that never complete (each may take
    // effect at any time, or never), then a read of a value none of them
    // wrote: proving that invalid means trying every subset of the writes.
    let mut text = String::new();
    for p in 0..40 {
        text.push_str(&format!("{p} invoke write {}\n", p + 1));
    }
    text.push_str("100 invoke read\n100 ok read 999\n");
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hard.jsonl", &text);
    let started = std::time::Instant::now();
    let r = check(
        &["--model", "register", "--init", "0", "--time-limit", "0.3"],
        &[&f],
    );
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stdout.contains(": unknown"), "{r}");
    assert!(r.stdout.contains("time limit"), "{r}");
    assert!(started.elapsed().as_secs_f64() < 10.0);
    // Bad limits are bad input.
    for bad in ["0", "-1", "nan", "soon"] {
        let arg = format!("--time-limit={bad}");
        let r = check(&[&arg], &[&f]);
        assert_eq!(r.code, Some(254), "--time-limit {bad}: {r}");
        assert!(r.stderr.contains("time-limit"), "{r}");
    }
}

#[test]
fn usage_errors_exit_254_naming_the_flag_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.jsonl", VALID);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--frobnicate"], "--frobnicate"),
        (vec!["--init", "{x:0}"], "--init"),
        (vec!["--init", "[1,"], "--init"),
        (vec!["--model", "queue"], "queue"),
        (vec!["--nil-read", "maybe"], "maybe"),
        (vec!["--format", "xml"], "xml"),
    ];
    for (args, names) in cases {
        let r = check(&args, &[&a]);
        assert_eq!(r.code, Some(254), "{args:?}: {r}");
        assert!(r.stderr.contains(names), "{args:?}: {r}");
        assert!(!r.stderr.contains("panicked"), "{r}");
    }
    // No file at all.
    let r = check(&[], &[]);
    assert_eq!(r.code, Some(254), "{r}");
    // A missing file, named.
    let missing = dir.path().join("missing.jsonl");
    let r = check(&[], &[&missing]);
    assert_eq!(r.code, Some(254), "{r}");
    assert!(r.stderr.contains(&missing.display().to_string()), "{r}");
    // --init of the wrong shape for the model: bad input, not a verdict.
    let r = check(&["--model", "kv", "--init", "5"], &[&a]);
    assert_eq!(r.code, Some(254), "{r}");
    assert!(r.stderr.contains("init"), "{r}");
}

#[test]
fn malformed_files_exit_254_with_file_and_line_after_checking_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.jsonl", VALID);
    let cases = [
        // Syntax error on line 3.
        (
            "syntax.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":0}\n{\"type\":\"ok\" \"process\":1}\n{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n",
            3,
        ),
        // A completion without an invoke, line 2.
        (
            "orphan.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":0}\n",
            2,
        ),
        // An op the model has no meaning for, line 2 (blank line 1).
        (
            "unknown-f.jsonl",
            "\n{\"type\":\"invoke\",\"process\":0,\"f\":\"frob\"}\n{\"type\":\"ok\",\"process\":0,\"f\":\"frob\"}\n",
            2,
        ),
        // EDN: a map opened on line 2 is not closed when line 3 closes the
        // vector: the error is at line 3 and names where the map opened.
        (
            "broken.edn",
            "[{:type :invoke, :f :read, :process 0}\n {:type :ok, :f :read, :process 0, :value 1\n]\n",
            3,
        ),
        // Porcupine log with a bad :type on line 2.
        (
            "kv.txt",
            "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n{:process 0, :type :done, :f :get, :key \"0\", :value \"\"}\n",
            2,
        ),
    ];
    for (name, text, line) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let r = check(&["--model", "register", "--init", "0"], &[&good, &p]);
        assert_eq!(r.code, Some(254), "{name}: {r}");
        let at = format!("{}:{line}: ", p.display());
        assert!(r.stderr.contains(&at), "{name}: expected {at:?}: {r}");
        // The good file was still checked and reported.
        assert!(
            r.stdout.contains(&format!("{}: valid", good.display())),
            "{r}"
        );
        assert!(r.stdout.contains("1 unreadable"), "{r}");
        if name == "broken.edn" {
            assert!(
                r.stderr
                    .contains("the `{` opened at line 2, column 2 is not closed"),
                "{r}"
            );
        }
        assert!(!r.stderr.contains("panicked"), "{r}");
    }
}

#[test]
fn init_nil_read_and_format_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    // A nil read before any write: valid with init null (empty register),
    // invalid with init 0 and nil-read empty, valid with nil-read any.
    let f = write(
        dir.path(),
        "nil.jsonl",
        "1 invoke read\n1 ok read null\n0 invoke write 1\n0 ok write 1",
    );
    let code = |args: &[&str]| check(args, &[&f]).code;
    assert_eq!(code(&["--model", "register"]), Some(0));
    assert_eq!(code(&["--model", "register", "--init", "0"]), Some(1));
    assert_eq!(
        code(&["--model", "register", "--init", "0", "--nil-read", "any"]),
        Some(0)
    );
    // A Porcupine log under a neutral name, format forced; kv's init.
    let kv = dir.path().join("kv.dat");
    std::fs::write(
        &kv,
        "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x\"}\n\
         {:process 0, :type :ok, :f :append, :key \"0\", :value \"x\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n\
         {:process 1, :type :ok, :f :get, :key \"0\", :value \"ax\"}\n",
    )
    .unwrap();
    let kvcode = |args: &[&str]| check(args, &[&kv]).code;
    assert_eq!(kvcode(&["--model", "kv", "--format", "porcupine"]), Some(1));
    assert_eq!(
        kvcode(&["--model", "kv", "--format", "porcupine", "--init", "\"a\""]),
        Some(0)
    );
}

#[test]
fn values_beyond_64_bits_are_compared_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = |r: &str| {
        format!(
            "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":18446744073709551617}}\n\
             {{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":18446744073709551617}}\n\
             {{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}}\n\
             {{\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":{r}}}\n"
        )
    };
    let edn = |r: &str| {
        format!(
            "[{{:type :invoke, :f :write, :value 18446744073709551617N, :process 0}}\n\
             {{:type :ok, :f :write, :value 18446744073709551617, :process 0}}\n\
             {{:type :invoke, :f :read, :process 1}}\n\
             {{:type :ok, :f :read, :value {r}, :process 1}}]\n"
        )
    };
    let cases = [
        ("same.jsonl", jsonl("18446744073709551617"), 0),
        ("off-by-one.jsonl", jsonl("18446744073709551616"), 1),
        ("same.edn", edn("18446744073709551617"), 0),
        ("off-by-one.edn", edn("18446744073709551616"), 1),
    ];
    for (name, text, code) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let r = check(&["--model", "register"], &[&f]);
        assert_eq!(r.code, Some(code), "{name}: {r}");
    }
}

#[test]
fn an_unrepresentable_number_exits_254_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "exp.jsonl",
            "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n\
             {\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":1e99999999999999999999}\n",
            2,
            45,
        ),
        (
            "inf.edn",
            "[{:type :invoke, :f :read, :process 1}\n {:type :ok, :f :read, :value ##Inf, :process 1}]\n",
            2,
            31,
        ),
    ];
    for (name, text, line, col) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let r = check(&["--model", "register"], &[&p]);
        assert_eq!(r.code, Some(254), "{name}: {r}");
        let at = format!("{}:{line}: ", p.display());
        assert!(r.stderr.contains(&at), "{name}: expected {at:?}: {r}");
        assert!(r.stderr.contains("cannot be kept exactly"), "{name}: {r}");
        assert!(
            r.stderr.contains(&format!("(column {col})")),
            "{name}: expected column {col}: {r}"
        );
    }
}

#[test]
fn a_history_without_client_operations_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.jsonl", "");
    let nemesis = dir.path().join("nemesis.jsonl");
    std::fs::write(
        &nemesis,
        "{\"type\":\"invoke\",\"process\":\"nemesis\",\"f\":\"start-partition\"}\n\
         {\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start-partition\",\"value\":\"cut\"}\n",
    )
    .unwrap();
    let edn = dir.path().join("nemesis.edn");
    std::fs::write(&edn, "[{:type :info, :f :start, :process :nemesis}]\n").unwrap();
    for f in [&empty, &nemesis, &edn] {
        let r = check(&["--model", "register"], &[f]);
        assert_eq!(r.code, Some(2), "{r}");
        assert!(r.stdout.contains("no client operations"), "{r}");
    }
    // With a valid file beside it, the merged verdict is still unknown.
    let good = write(dir.path(), "good.jsonl", VALID);
    let r = check(&["--model", "register", "--init", "0"], &[&good, &empty]);
    assert_eq!(r.code, Some(2), "{r}");
}
