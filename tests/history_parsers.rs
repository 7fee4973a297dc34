//! The importers never panic: random bytes, EDN-ish token soup, truncations
//! and byte mutations of valid files go through every importer (jsonl, edn,
//! jepsen-log, porcupine) and format detection. Each returns a history or an
//! error whose message names the file and, for content errors, a line that
//! exists: `FILE:LINE: what is wrong`.

mod support;

use faultline::checker::linearizable::{Linearizable, LinearizableOptions, ModelKind};
use faultline::history::import::{detect, load, parse_bytes, sniff, Format, ImportError};
use faultline::history::jsonl::write_history;
use faultline::history::{History, Key, Op, OpType, Process};
use proptest::prelude::*;
use serde_json::json;
use std::path::Path;

const NAME: &str = "h.in";

const EDN: &str = r#"; a Knossos-style history
[{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}
 {:type :ok, :f :write, :value 1, :process 0, :time 20}
 {:type :info, :f :start, :value "Cut off {:n1 #{:n2}}", :process :nemesis}
 {:type :invoke, :f :cas, :value [1 2], :process 1, :time 30}
 {:type :info, :f :cas, :value [1 2], :process 1, :error :timed-out}
 {:type :invoke, :f :read, :value nil, :process 2, :key "k"}
 {:type :ok, :f :read, :value #{1 2}, :process 2, :key "k", :node "n1", :x 1.5M, :y 1/2, :z \c}
 #_{:discarded true}
 {:type :invoke, :f :txn, :value [[:read :x nil] [:write :y 3]], :process 3}
 {:type :fail, :f :txn, :value [[:read :x nil] [:write :y 3]], :process 3, :error "aborted"}]
"#;

const LOG: &str =
    "2018-02-02 17:51:10,424{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:invoke\t:read\tnil\n\
2018-02-02 17:51:10,430{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:ok\t:read\t3\n\
INFO  jepsen.util - 17\t:invoke\t:cas\t[4 4]\n\
INFO  jepsen.core - some other message\n\
INFO  jepsen.util - 17\t:info\t:cas\t:timed-out\n\
INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
INFO  jepsen.util - 4    :invoke    :write    2\n\
INFO  jepsen.util - 4    :fail    :write    2    :no-leader\n";

const PORCUPINE: &str = r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}
{:process 2, :type :invoke, :f :put, :key "1", :value "z"}
{:process 2, :type :ok, :f :put, :key "1", :value "z"}
"#;

fn jsonl() -> String {
    let mut ops = Vec::new();
    let w = Op::invoke(Process::Client(0), "write", json!(1));
    ops.push(w.clone());
    ops.push(w.complete(OpType::Ok, json!(1)));
    let mut r = Op::invoke(Process::Client(1), "read", json!(null));
    r.key = Some(Key::Str("k".into()));
    r.node = Some("n1".into());
    ops.push(r.clone());
    let mut info = r.complete(OpType::Info, json!(null));
    info.error = Some(json!("timeout"));
    ops.push(info);
    ops.push(Op::invoke(Process::Nemesis, "kill", json!(["n2"])));
    ops.push(Op::invoke(Process::Client(7), "cas", json!([1, 2])));
    History::new(ops)
        .ops
        .iter()
        .map(|o| serde_json::to_string(o).unwrap() + "\n")
        .collect()
}

fn samples() -> Vec<(Format, String)> {
    vec![
        (Format::Jsonl, jsonl()),
        (Format::Edn, EDN.to_string()),
        (Format::JepsenLog, LOG.to_string()),
        (Format::Porcupine, PORCUPINE.to_string()),
    ]
}

/// Parses and checks the contract: no panic (a panic fails the test
/// anyway), and an error names the file and an existing line.
fn parse_ok_or_named(bytes: &[u8], format: Format) -> Result<usize, String> {
    // Lines of the input: an error may name the line just past a last
    // newline (an unclosed collection at end of file).
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    match parse_bytes(NAME, bytes, format) {
        Ok(l) => {
            if l.lines.len() != l.history.len() {
                return Err(format!(
                    "{format}: {} lines for {} ops",
                    l.lines.len(),
                    l.history.len()
                ));
            }
            if l.lines.iter().any(|&n| n == 0 || n > lines) {
                return Err(format!("{format}: op line out of range: {:?}", l.lines));
            }
            // Loaded histories are structurally sound.
            l.history
                .pairs()
                .map_err(|e| format!("{format}: loaded but malformed: {e}"))?;
            // Whatever loads, every model checks it or rejects an op with an
            // error: never a panic.
            for model in ModelKind::ALL {
                let o = LinearizableOptions {
                    model,
                    time_limit: Some(std::time::Duration::from_millis(200)),
                    ..Default::default()
                };
                let _ = Linearizable(o).analyze(&l.history);
            }
            Ok(l.history.len())
        }
        Err(e) => {
            let msg = e.to_string();
            match &e {
                ImportError::Syntax { line, message, .. } => {
                    if !msg.starts_with(&format!("{NAME}:{line}: ")) {
                        return Err(format!("{format}: message {msg:?}"));
                    }
                    if *line == 0 || *line > lines {
                        return Err(format!("{format}: line {line} of {lines}: {msg}"));
                    }
                    if message.trim().is_empty() {
                        return Err(format!("{format}: empty message"));
                    }
                }
                other => return Err(format!("{format}: not a syntax error: {other}")),
            }
            Ok(0)
        }
    }
}

#[test]
fn samples_parse_in_their_format_and_are_detected() {
    for (format, text) in samples() {
        let l =
            parse_bytes(NAME, text.as_bytes(), format).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(l.history.len() >= 5, "{format}: {} ops", l.history.len());
        assert_eq!(sniff(text.as_bytes()), Some(format), "{format}");
    }
    let edn = parse_bytes(NAME, EDN.as_bytes(), Format::Edn)
        .unwrap()
        .history;
    assert_eq!(edn.len(), 9);
    assert_eq!(edn.ops[2].process, Process::Nemesis);
    assert_eq!(edn.ops[6].value, json!([1, 2]));
    let log = parse_bytes(NAME, LOG.as_bytes(), Format::JepsenLog)
        .unwrap()
        .history;
    assert_eq!(log.len(), 7, "{:?}", log.ops);
    // `:info ... :timed-out`: indeterminate, the keyword is the error.
    assert_eq!(log.ops[3].kind, OpType::Info);
    assert_eq!(log.ops[3].error, Some(json!("timed-out")));
    assert_eq!(log.ops[3].value, json!([4, 4]));
    assert_eq!(log.ops[1].time, 6_000_000);
}

#[test]
fn every_truncation_of_every_sample_is_a_history_or_a_named_error() {
    for (format, text) in samples() {
        let b = text.as_bytes();
        for cut in 0..=b.len() {
            parse_ok_or_named(&b[..cut], format).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            // Format detection on the truncated head never panics either.
            let _ = sniff(&b[..cut]);
        }
    }
}

#[test]
fn every_sample_through_every_importer() {
    // A file read with the wrong format is an error or a history, never a
    // panic.
    for (_, text) in samples() {
        for format in Format::ALL {
            parse_ok_or_named(text.as_bytes(), format).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // `#_` (discard) and `#tag` (tagged literal) nest as deeply as
    // collections: both overflowed the stack before they were counted.
    for open in ["[", "(", "{:a ", "#{", "#_", "#a ", "#_[#a "] {
        let text = open.repeat(100_000);
        for format in [Format::Edn, Format::Porcupine, Format::JepsenLog] {
            let input = if format == Format::JepsenLog {
                format!("INFO  jepsen.util - 1\t:invoke\t:read\t{text}\n")
            } else {
                text.clone()
            };
            parse_ok_or_named(input.as_bytes(), format).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let deep = "[".repeat(100_000);
    let line = format!("{{\"type\":\"invoke\",\"process\":0,\"f\":\"w\",\"value\":{deep}}}\n");
    parse_ok_or_named(line.as_bytes(), Format::Jsonl).unwrap();
}

#[test]
fn truncated_corpus_files_are_histories_or_named_errors() {
    let dir = support::corpus();
    let entries = support::manifest(&dir);
    // A few files of each kind, cut at many points.
    for e in entries.iter().step_by(9) {
        let bytes = std::fs::read(dir.join(&e.path)).unwrap();
        let format = sniff(&bytes).unwrap_or(Format::Edn);
        let step = (bytes.len() / 40).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            parse_ok_or_named(&bytes[..cut], format)
                .unwrap_or_else(|err| panic!("{} cut at {cut}: {err}", e.path));
        }
    }
}

/// Pieces that EDN, Jepsen logs and Porcupine lines are made of, to build
/// inputs that get past the first byte.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "#{",
        "#_",
        "#inst ",
        "#",
        " ",
        ", ",
        "\n",
        "\t",
        ";",
        ":type",
        ":invoke",
        ":ok",
        ":fail",
        ":info",
        ":process",
        ":nemesis",
        ":f",
        ":read",
        ":write",
        ":value",
        ":key",
        ":time",
        ":error",
        ":index",
        "nil",
        "true",
        "0",
        "1",
        "-1",
        "99999999999999999999999",
        "1N",
        "1.5",
        "1.5M",
        "1/2",
        "1/0",
        "1e999",
        "\"s\"",
        "\"\\u12",
        "\"\\",
        "\"",
        "\\c",
        "\\newline",
        "\\u",
        "sym",
        "INFO  jepsen.util - ",
        "2018-02-02 17:51:10,424 ",
        ":timed-out",
        "é",
        "\u{0}",
        "\u{feff}",
        "{\"type\":",
        "\"invoke\"",
        "\"process\":",
        "\"f\":",
        "\"value\":",
        "\"key\":",
        "\"time\":",
        "-5",
        "18446744073709551616",
        "1.0e400",
    ])
}

fn format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), f in format()) {
        let r = parse_ok_or_named(&bytes, f);
        prop_assert!(r.is_ok(), "{:?}", r);
        let _ = sniff(&bytes);
        let _ = detect(Path::new("h"), &bytes);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(token(), 0..80), f in format()) {
        let text: String = tokens.concat();
        let r = parse_ok_or_named(text.as_bytes(), f);
        prop_assert!(r.is_ok(), "{:?}\ninput: {:?}", r, text);
        let _ = sniff(text.as_bytes());
    }

    /// Valid samples with a few bytes replaced, inserted or removed.
    #[test]
    fn mutated_samples_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        f in prop::option::of(format()),
    ) {
        let (own, text) = samples().swap_remove(which);
        let mut b = text.into_bytes();
        for (at, byte, kind) in edits {
            let i = at.index(b.len().max(1)).min(b.len());
            match kind {
                0 if i < b.len() => b[i] = byte,
                1 => b.insert(i, byte),
                _ if i < b.len() => { b.remove(i); }
                _ => {}
            }
        }
        let r = parse_ok_or_named(&b, f.unwrap_or(own));
        prop_assert!(r.is_ok(), "{:?}\ninput: {:?}", r, String::from_utf8_lossy(&b));
    }
}

#[test]
fn load_from_files_with_detection_never_panics_and_names_the_file() {
    // Through `load` (the path the CLI takes): each sample under a neutral
    // name, detected from content; then cut short.
    let dir = tempfile::tempdir().unwrap();
    for (i, (format, text)) in samples().into_iter().enumerate() {
        let p = dir.path().join(format!("h{i}.txt"));
        std::fs::write(&p, &text).unwrap();
        let l = load(&p, None).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(!l.history.is_empty());
        std::fs::write(&p, &text[..text.len() * 2 / 3]).unwrap();
        if let Err(e) = load(&p, None) {
            assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
        }
    }
    // A file no format claims: the error says so and suggests --format.
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, "hello world\n").unwrap();
    let e = load(&p, None).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: ", p.display())) && e.contains("--format"),
        "{e}"
    );
    // A missing file and a directory are errors naming the path.
    let e = load(&dir.path().join("missing.jsonl"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.jsonl"), "{e}");
    let e = load(dir.path(), None).unwrap_err().to_string();
    assert!(e.contains("directory"), "{e}");
    // A round trip through the writer is detected as jsonl.
    let h = parse_bytes(NAME, EDN.as_bytes(), Format::Edn)
        .unwrap()
        .history;
    let p = dir.path().join("history.jsonl");
    write_history(&p, &h).unwrap();
    assert_eq!(load(&p, None).unwrap().history, h);
}
