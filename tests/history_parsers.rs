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

// ------------------------------------------------ exact values (issue 13.5)

/// A write of `w` then a read returning `r`, sequential, in `format`.
fn write_then_read(format: Format, w: &str, r: &str) -> String {
    match format {
        Format::Jsonl => format!(
            "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":{w}}}\n\
             {{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":{w}}}\n\
             {{\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null}}\n\
             {{\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":{r}}}\n"
        ),
        Format::Edn => format!(
            "[{{:type :invoke, :f :write, :value {w}, :process 0}}\n\
             {{:type :ok, :f :write, :value {w}, :process 0}}\n\
             {{:type :invoke, :f :read, :value nil, :process 1}}\n\
             {{:type :ok, :f :read, :value {r}, :process 1}}]\n"
        ),
        Format::JepsenLog => format!(
            "INFO  jepsen.util - 0\t:invoke\t:write\t{w}\n\
             INFO  jepsen.util - 0\t:ok\t:write\t{w}\n\
             INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
             INFO  jepsen.util - 1\t:ok\t:read\t{r}\n"
        ),
        Format::Porcupine => format!(
            "{{:process 0, :type :invoke, :f :write, :value {w}}}\n\
             {{:process 0, :type :ok, :f :write, :value {w}}}\n\
             {{:process 1, :type :invoke, :f :read, :value nil}}\n\
             {{:process 1, :type :ok, :f :read, :value {r}}}\n"
        ),
    }
}

/// A read returning `r` from a register that was never written.
fn lone_read(format: Format, r: &str) -> String {
    let text = write_then_read(format, "0", r);
    // Drop the write (the first two lines; EDN keeps its opening bracket).
    let rest: Vec<&str> = text.lines().skip(2).collect();
    let rest = rest.join("\n") + "\n";
    if format == Format::Edn {
        format!("[{rest}")
    } else {
        rest
    }
}

fn register_verdict(format: Format, text: &str) -> faultline::checker::Validity {
    let loaded = parse_bytes(NAME, text.as_bytes(), format)
        .unwrap_or_else(|e| panic!("{format}: {e}\n{text}"));
    let o = LinearizableOptions {
        model: ModelKind::Register,
        ..Default::default()
    };
    Linearizable(o)
        .analyze(&loaded.history)
        .unwrap_or_else(|e| panic!("{format}: {e}"))
        .valid
}

#[test]
fn numbers_beyond_64_bits_compare_exactly_in_every_format() {
    use faultline::checker::Validity::{Invalid, Valid};
    for format in Format::ALL {
        let big = "18446744073709551617";
        // Accept: the value read is the value written.
        assert_eq!(
            register_verdict(format, &write_then_read(format, big, big)),
            Valid,
            "{format}"
        );
        // Reject: one less is another value, though both round to the same
        // f64 (this pair was judged valid before values were kept exactly).
        assert_eq!(
            register_verdict(
                format,
                &write_then_read(format, big, "18446744073709551616")
            ),
            Invalid,
            "{format}"
        );
        let neg = "-92233720368547758090";
        assert_eq!(
            register_verdict(format, &write_then_read(format, neg, neg)),
            Valid,
            "{format}"
        );
        assert_eq!(
            register_verdict(
                format,
                &write_then_read(format, neg, "-92233720368547758091")
            ),
            Invalid,
            "{format}"
        );
    }
}

#[test]
fn a_huge_exponent_is_kept_not_turned_into_null() {
    use faultline::checker::Validity::{Invalid, Valid};
    for format in Format::ALL {
        // Reject: the register was never written, so it holds null; a read
        // of 1e999999 is not null (it used to become null and pass).
        assert_eq!(
            register_verdict(format, &lone_read(format, "1e999999")),
            Invalid,
            "{format}"
        );
        // Accept: the same history reading nil.
        let nil = if format == Format::Jsonl {
            "null"
        } else {
            "nil"
        };
        assert_eq!(
            register_verdict(format, &lone_read(format, nil)),
            Valid,
            "{format}"
        );
        // And a written 1e999999 reads back as itself, not as 1e999998.
        assert_eq!(
            register_verdict(format, &write_then_read(format, "1e999999", "10e999998")),
            Valid,
            "{format}"
        );
        assert_eq!(
            register_verdict(format, &write_then_read(format, "1e999999", "1e999998")),
            Invalid,
            "{format}"
        );
    }
}

#[test]
fn integers_and_decimals_follow_the_documented_rule() {
    use faultline::checker::Validity::{Invalid, Valid};
    for format in Format::ALL {
        let v = |w: &str, r: &str| register_verdict(format, &write_then_read(format, w, r));
        // Decimals by exact decimal value.
        assert_eq!(v("1.0", "1e0"), Valid, "{format}");
        assert_eq!(v("1.50", "1.5"), Valid, "{format}");
        assert_eq!(v("-0.0", "0.0"), Valid, "{format}");
        assert_eq!(
            v("0.1", "0.1000000000000000055511151231257827"),
            Invalid,
            "{format}"
        );
        // Integers by exact value; an integer never equals a decimal.
        assert_eq!(v("-0", "0"), Valid, "{format}");
        assert_eq!(v("1", "1.0"), Invalid, "{format}");
        assert_eq!(v("100", "1e2"), Invalid, "{format}");
    }
    // EDN's own spellings: N and M suffixes, ratios, hex.
    let edn = |w: &str, r: &str| register_verdict(Format::Edn, &write_then_read(Format::Edn, w, r));
    assert_eq!(edn("18446744073709551617N", "18446744073709551617"), Valid);
    assert_eq!(edn("1.5M", "1.5"), Valid);
    assert_eq!(edn("1/4", "0.25"), Valid);
    assert_eq!(edn("0x10000000000000001", "18446744073709551617"), Valid);
    assert_eq!(edn("0x10000000000000000", "18446744073709551617"), Invalid);
}

/// `(line, column)` named by an import error's message.
fn line_and_column(e: &ImportError) -> (usize, usize) {
    let msg = e.to_string();
    let col = msg
        .rsplit_once("(column ")
        .and_then(|(_, c)| c.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no column in {msg:?}"));
    (
        e.line().unwrap_or_else(|| panic!("no line in {msg:?}")),
        col,
    )
}

#[test]
fn an_unrepresentable_number_is_an_error_naming_line_and_column() {
    // (format, written value, read value, the bad literal, its line)
    let cases = [
        (
            Format::Jsonl,
            "1",
            "2e99999999999999999999",
            "2e99999999999999999999",
            4,
        ),
        (Format::Edn, "1", "##Inf", "##Inf", 4),
        (Format::Edn, "1/3", "1", "1/3", 1),
        (Format::JepsenLog, "1", "##NaN", "##NaN", 4),
        (
            Format::JepsenLog,
            "1e-9223372036854775809",
            "1",
            "1e-9223372036854775809",
            1,
        ),
        (Format::Porcupine, "1", "[1 ##-Inf]", "##-Inf", 4),
    ];
    for (format, w, r, bad, line) in cases {
        let text = write_then_read(format, w, r);
        let e = parse_bytes(NAME, text.as_bytes(), format)
            .expect_err(&format!("{format}: accepted\n{text}"));
        assert!(
            e.to_string().contains("cannot be kept exactly"),
            "{format}: {e}"
        );
        let (l, c) = line_and_column(&e);
        assert_eq!(l, line, "{format}: {e}");
        let src = text.lines().nth(l - 1).unwrap_or("");
        assert!(
            src.get(c - 1..).is_some_and(|t| t.starts_with(bad)),
            "{format}: column {c} of {src:?} is not `{bad}`: {e}"
        );
    }
}
