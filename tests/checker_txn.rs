//! Golden list-append histories: exactly one known anomaly each, beside a
//! valid twin that differs as little as possible, and the models each
//! anomaly rules out.
//!
//! Histories are written one event per line: `P inv` (process P invokes
//! its next transaction) and `P ok MOPS` / `P fail MOPS` / `P info MOPS`
//! (it completes), MOPS in Elle's shape as JSON: `[["append","x",1],
//! ["r","x",[1]]]`. The invoke carries the completion's micro-ops with
//! every read unknown, as a client records it.

use faultline::checker::txn::{Flavor, Model, TxnChecker};
use faultline::checker::{Checker, Validity};
use faultline::history::{History, Op, OpType, Process};
use serde_json::Value;

fn hist(text: &str) -> History {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut ops = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut parts = line.splitn(3, ' ');
        let p: u64 = parts.next().and_then(|x| x.parse().ok()).expect("process");
        let kind = parts.next().expect("type");
        let (kind, value) = if kind == "inv" {
            // The invoke's micro-ops are its completion's, reads unknown.
            let done = lines[i + 1..]
                .iter()
                .find(|l| l.starts_with(&format!("{p} ")) && !l.ends_with(" inv"))
                .expect("a completion");
            let mops: Value =
                serde_json::from_str(done.splitn(3, ' ').nth(2).expect("mops")).expect("json");
            let planned: Vec<Value> = mops
                .as_array()
                .expect("a list")
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    if m[0] == "r" {
                        m[2] = Value::Null;
                    }
                    m
                })
                .collect();
            (OpType::Invoke, Value::Array(planned))
        } else {
            let kind = match kind {
                "ok" => OpType::Ok,
                "fail" => OpType::Fail,
                "info" => OpType::Info,
                t => panic!("bad type {t}"),
            };
            let v: Value = serde_json::from_str(parts.next().expect("mops")).expect("json");
            (kind, v)
        };
        let mut op = Op::invoke(Process::Client(p), "txn", value);
        op.kind = kind;
        op.time = i as u64 * 1_000_000;
        ops.push(op);
    }
    History::new(ops)
}

fn check(text: &str, models: &[Model]) -> (Validity, Vec<String>, Value) {
    let c = TxnChecker::new(Flavor::ListAppend, models.to_vec());
    let r = c.check(&hist(text)).expect("checkable");
    let types: Vec<String> = r.details["anomaly-types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| t.as_str().expect("name").to_string())
        .collect();
    (r.valid, types, r.details)
}

fn strict(text: &str) -> (Validity, Vec<String>) {
    let (v, t, _) = check(text, &[]);
    (v, t)
}

fn invalid_with(text: &str, kind: &str) -> Value {
    let (v, types, details) = check(text, &[]);
    assert_eq!(v, Validity::Invalid, "{details:#}");
    assert_eq!(types, vec![kind.to_string()], "{details:#}");
    details
}

fn valid(text: &str) {
    let (v, types, details) = check(text, &[]);
    assert_eq!(v, Validity::Valid, "{details:#}");
    assert!(types.is_empty(), "{details:#}");
}

#[test]
fn a_serial_history_is_valid() {
    valid(
        r#"
        1 inv
        1 ok [["append","x",1]]
        2 inv
        2 ok [["r","x",[1]],["append","x",2]]
        1 inv
        1 ok [["r","x",[1,2]],["append","y",1],["r","y",[1]]]
        "#,
    );
}

#[test]
fn g0_write_cycle() {
    let d = invalid_with(
        r#"
        1 inv
        2 inv
        1 ok [["append","x",1],["append","y",1]]
        2 ok [["append","x",2],["append","y",2]]
        3 inv
        3 ok [["r","x",[1,2]],["r","y",[2,1]]]
        "#,
        "G0",
    );
    assert_eq!(d["not"][5], "read-uncommitted", "{d:#}");
    let steps = &d["anomalies"]["G0"][0]["steps"];
    assert_eq!(steps.as_array().map(Vec::len), Some(2), "{d:#}");
    let why = steps[0]["why"].as_str().expect("why");
    assert!(why.contains("right after it"), "{why}");
    valid(
        r#"
        1 inv
        2 inv
        1 ok [["append","x",1],["append","y",1]]
        2 ok [["append","x",2],["append","y",2]]
        3 inv
        3 ok [["r","x",[1,2]],["r","y",[1,2]]]
        "#,
    );
}

#[test]
fn g1a_aborted_read() {
    let d = invalid_with(
        r#"
        1 inv
        1 fail [["append","x",1]]
        2 inv
        2 ok [["r","x",[1]]]
        "#,
        "G1a",
    );
    assert!(
        !d["not"]
            .as_array()
            .expect("not")
            .contains(&Value::from("read-uncommitted")),
        "{d:#}"
    );
    valid(
        r#"
        1 inv
        1 fail [["append","x",1]]
        2 inv
        2 ok [["r","x",[]]]
        "#,
    );
}

#[test]
fn g1b_intermediate_read() {
    invalid_with(
        r#"
        1 inv
        2 inv
        2 ok [["r","x",[1]]]
        1 ok [["append","x",1],["append","x",2]]
        3 inv
        3 ok [["r","x",[1,2]]]
        "#,
        "G1b",
    );
    valid(
        r#"
        1 inv
        2 inv
        2 ok [["r","x",[1,2]]]
        1 ok [["append","x",1],["append","x",2]]
        "#,
    );
}

#[test]
fn g1c_circular_information_flow() {
    invalid_with(
        r#"
        1 inv
        2 inv
        1 ok [["append","x",1],["r","y",[1]]]
        2 ok [["append","y",1],["r","x",[1]]]
        "#,
        "G1c",
    );
    valid(
        r#"
        1 inv
        2 inv
        1 ok [["append","x",1],["r","y",[1]]]
        2 ok [["append","y",1],["r","x",[]]]
        "#,
    );
}

#[test]
fn g_single_read_skew() {
    let d = invalid_with(
        r#"
        1 inv
        2 inv
        3 inv
        1 ok [["append","x",1],["append","y",1]]
        2 ok [["r","x",[]],["r","y",[1]]]
        3 ok [["r","x",[1]]]
        "#,
        "G-single",
    );
    let not = d["not"].as_array().expect("not");
    assert!(not.contains(&Value::from("snapshot-isolation")), "{d:#}");
    assert!(!not.contains(&Value::from("read-committed")), "{d:#}");
    let steps = d["anomalies"]["G-single"][0]["steps"]
        .as_array()
        .expect("steps");
    let rw = steps
        .iter()
        .find(|s| s["kind"] == "rw")
        .expect("an rw step");
    assert!(
        rw["why"]
            .as_str()
            .expect("why")
            .contains("read key x empty"),
        "{rw:#}"
    );
    valid(
        r#"
        1 inv
        2 inv
        3 inv
        1 ok [["append","x",1],["append","y",1]]
        2 ok [["r","x",[1]],["r","y",[1]]]
        3 ok [["r","x",[1]]]
        "#,
    );
}

const WRITE_SKEW: &str = r#"
    1 inv
    2 inv
    1 ok [["r","x",[]],["append","y",1]]
    2 ok [["r","y",[]],["append","x",1]]
    3 inv
    3 ok [["r","x",[1]],["r","y",[1]]]
    "#;

#[test]
fn g2_item_write_skew_is_allowed_by_snapshot_isolation_only() {
    invalid_with(WRITE_SKEW, "G2-item");
    let (v, types, _) = check(WRITE_SKEW, &[Model::SnapshotIsolation]);
    assert_eq!((v, types), (Validity::Valid, vec!["G2-item".to_string()]));
    let (v, _, _) = check(WRITE_SKEW, &[Model::Serializable]);
    assert_eq!(v, Validity::Invalid);
    valid(
        r#"
        1 inv
        1 ok [["r","x",[]],["append","y",1]]
        2 inv
        2 ok [["r","y",[1]],["append","x",1]]
        3 inv
        3 ok [["r","x",[1]],["r","y",[1]]]
        "#,
    );
}

#[test]
fn g_nonadjacent() {
    let text = r#"
        1 inv
        2 inv
        3 inv
        4 inv
        5 inv
        1 ok [["r","x",[]],["r","w",[1]]]
        2 ok [["append","x",1],["append","y",1]]
        3 ok [["r","y",[1]],["r","z",[]]]
        4 ok [["append","z",1],["append","w",1]]
        5 ok [["r","x",[1]],["r","z",[1]]]
        "#;
    let d = invalid_with(text, "G-nonadjacent");
    assert_eq!(
        d["anomalies"]["G-nonadjacent"][0]["steps"]
            .as_array()
            .map(Vec::len),
        Some(4),
        "{d:#}"
    );
    assert_eq!(
        check(text, &[Model::SnapshotIsolation]).0,
        Validity::Invalid
    );
    assert_eq!(check(text, &[Model::ReadCommitted]).0, Validity::Valid);
    valid(&text.replace(r#"["r","z",[]]"#, r#"["r","z",[1]]"#));
}

#[test]
fn internal_inconsistency() {
    invalid_with(
        r#"
        1 inv
        1 ok [["append","x",1],["r","x",[]]]
        "#,
        "internal",
    );
    valid(
        r#"
        1 inv
        1 ok [["append","x",1],["r","x",[1]]]
        "#,
    );
}

#[test]
fn duplicate_elements() {
    invalid_with(
        r#"
        1 inv
        1 ok [["append","x",1]]
        2 inv
        2 ok [["r","x",[1,1]]]
        "#,
        "duplicate-elements",
    );
}

#[test]
fn incompatible_orders() {
    let (v, types) = strict(
        r#"
        1 inv
        2 inv
        1 ok [["append","x",1]]
        2 ok [["append","x",2]]
        3 inv
        4 inv
        3 ok [["r","x",[1,2]]]
        4 ok [["r","x",[2,1]]]
        "#,
    );
    assert_eq!(v, Validity::Invalid);
    assert!(
        types.contains(&"incompatible-order".to_string()),
        "{types:?}"
    );
}

#[test]
fn garbage_reads() {
    invalid_with(
        r#"
        1 inv
        1 ok [["r","x",[9]]]
        "#,
        "garbage-read",
    );
}

#[test]
fn a_stale_read_after_a_completed_append_is_g_single_realtime() {
    let text = r#"
        1 inv
        1 ok [["append","x",1]]
        2 inv
        2 ok [["r","x",[]]]
        3 inv
        3 ok [["r","x",[1]]]
        "#;
    let d = invalid_with(text, "G-single-realtime");
    assert_eq!(d["not"], serde_json::json!(["strict-serializable"]));
    assert_eq!(check(text, &[Model::Serializable]).0, Validity::Valid);
    // Concurrent instead of after: nothing.
    valid(
        r#"
        1 inv
        2 inv
        1 ok [["append","x",1]]
        2 ok [["r","x",[]]]
        3 inv
        3 ok [["r","x",[1]]]
        "#,
    );
}

#[test]
fn the_same_process_gives_the_process_variant() {
    invalid_with(
        r#"
        1 inv
        1 ok [["append","x",1]]
        1 inv
        1 ok [["r","x",[]]]
        3 inv
        3 ok [["r","x",[1]]]
        "#,
        "G-single-process",
    );
}

#[test]
fn info_appends_that_were_read_count_and_unread_ones_do_not() {
    valid(
        r#"
        1 inv
        1 info [["append","x",1]]
        2 inv
        2 ok [["r","x",[1]]]
        4 inv
        4 info [["append","x",2]]
        "#,
    );
}

#[test]
fn no_committed_transaction_is_unknown() {
    let (v, _) = strict(
        r#"
        1 inv
        1 fail [["append","x",1]]
        "#,
    );
    assert_eq!(v, Validity::Unknown);
}

#[test]
fn non_unique_appends_are_an_error_naming_the_op() {
    let c = TxnChecker::new(Flavor::ListAppend, vec![]);
    let e = c
        .check(&hist(
            r#"
            1 inv
            1 ok [["append","x",1]]
            2 inv
            2 ok [["append","x",1]]
            "#,
        ))
        .expect_err("not unique");
    assert!(
        e.to_string()
            .contains("op 3: appends 1 to key x, as op 1 did"),
        "{e}"
    );
}

/// Elle's own EDN shape, through the real binary.
const WRITE_SKEW_EDN: &str = r#"{:type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]], :process 0, :time 1}
{:type :invoke, :f :txn, :value [[:r :y nil] [:append :x 1]], :process 1, :time 2}
{:type :ok, :f :txn, :value [[:r :x []] [:append :y 1]], :process 0, :time 3}
{:type :ok, :f :txn, :value [[:r :y []] [:append :x 1]], :process 1, :time 4}
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 2, :time 5}
{:type :ok, :f :txn, :value [[:r :x [1]] [:r :y [1]]], :process 2, :time 6}
"#;

fn faultline_check(args: &[&str], file: &std::path::Path) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .args(args)
        .arg(file)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_reads_elle_edn_and_judges_against_the_models_asked() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("ws.edn");
    std::fs::write(&f, WRITE_SKEW_EDN).expect("write");
    let (code, out, _) = faultline_check(&["--model", "list-append"], &f);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("G2-item"), "{out}");
    assert!(
        out.contains("op 2 -rw-> op 3: op 2 read key x empty, without 1, the next element, which op 3 appended"),
        "{out}"
    );
    let (code, out, _) = faultline_check(
        &[
            "--model",
            "list-append",
            "--consistency-models",
            "snapshot-isolation",
        ],
        &f,
    );
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = faultline_check(
        &["--model", "list-append", "--consistency-models", "causal"],
        &f,
    );
    assert_eq!(code, 254);
    assert!(
        err.contains("unknown consistency model \"causal\""),
        "{err}"
    );
    std::fs::write(
        &f,
        "{:type :invoke, :f :txn, :value [[:incr :x 1]], :process 4}\n{:type :ok, :f :txn, :value [[:incr :x 1]], :process 4}\n",
    )
    .expect("write");
    let (code, _, err) = faultline_check(&["--model", "list-append"], &f);
    assert_eq!(code, 254);
    assert!(
        err.contains("ws.edn:2: micro-op 0 has function \"incr\""),
        "{err}"
    );
}

fn check_rw(text: &str) -> (Validity, Vec<String>, Value) {
    let c = TxnChecker::new(Flavor::RwRegister, vec![]);
    let r = c.check(&hist(text)).expect("checkable");
    let types: Vec<String> = r.details["anomaly-types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| t.as_str().expect("name").to_string())
        .collect();
    (r.valid, types, r.details)
}

fn rw_invalid_with(text: &str, kind: &str) -> Value {
    let (v, types, d) = check_rw(text);
    assert_eq!(
        (v, types),
        (Validity::Invalid, vec![kind.to_string()]),
        "{d:#}"
    );
    d
}

fn rw_valid(text: &str) {
    let (v, types, d) = check_rw(text);
    assert_eq!((v, types.len()), (Validity::Valid, 0), "{d:#}");
}

#[test]
fn rw_register_serial_history_is_valid() {
    rw_valid(
        r#"
        1 inv
        1 ok [["w","x",1]]
        2 inv
        2 ok [["r","x",1],["w","x",2]]
        3 inv
        3 ok [["r","x",2],["r","y",null]]
        "#,
    );
}

#[test]
fn rw_register_aborted_and_intermediate_reads() {
    rw_invalid_with(
        r#"
        1 inv
        1 fail [["w","x",1]]
        2 inv
        2 ok [["r","x",1]]
        "#,
        "G1a",
    );
    rw_invalid_with(
        r#"
        1 inv
        2 inv
        2 ok [["r","x",1]]
        1 ok [["w","x",1],["w","x",2]]
        "#,
        "G1b",
    );
    rw_valid(
        r#"
        1 inv
        2 inv
        2 ok [["r","x",2]]
        1 ok [["w","x",1],["w","x",2]]
        "#,
    );
}

#[test]
fn rw_register_cycles() {
    rw_invalid_with(
        r#"
        1 inv
        2 inv
        1 ok [["w","x",1],["r","y",1]]
        2 ok [["w","y",1],["r","x",1]]
        "#,
        "G1c",
    );
    let d = rw_invalid_with(
        r#"
        1 inv
        2 inv
        1 ok [["w","x",1],["w","y",1]]
        2 ok [["r","x",null],["r","y",1]]
        "#,
        "G-single",
    );
    let steps = d["anomalies"]["G-single"][0]["steps"]
        .as_array()
        .expect("steps");
    assert!(
        steps.iter().any(|s| s["why"]
            .as_str()
            .is_some_and(|w| w.contains("read key x = nil"))),
        "{d:#}"
    );
    rw_invalid_with(
        r#"
        1 inv
        2 inv
        1 ok [["r","x",null],["w","y",1]]
        2 ok [["r","y",null],["w","x",1]]
        "#,
        "G2-item",
    );
    rw_valid(
        r#"
        1 inv
        1 ok [["r","x",null],["w","y",1]]
        2 inv
        2 ok [["r","y",1],["w","x",1]]
        "#,
    );
    rw_invalid_with(
        r#"
        1 inv
        1 ok [["w","x",1]]
        2 inv
        2 ok [["r","x",null]]
        "#,
        "G-single-realtime",
    );
}

#[test]
fn rw_register_internal_and_garbage() {
    rw_invalid_with(
        r#"
        1 inv
        1 ok [["w","x",2]]
        2 inv
        2 ok [["w","x",1],["r","x",2]]
        "#,
        "internal",
    );
    rw_invalid_with(
        r#"
        1 inv
        1 ok [["r","x",7]]
        "#,
        "garbage-read",
    );
}
