//! Golden histories for every linearizability model, accept and reject.
//!
//! Histories are written one op per line: `PROCESS TYPE F [VALUE-JSON] [@KEY]`,
//! e.g. `1 invoke write 3` or `2 ok get "ab" @k`.

use faultline::checker::linearizable::{
    Linearizable, LinearizableOptions, LinearizableReport, ModelKind, NilRead,
};
use faultline::checker::{CheckError, Checker, Validity};
use faultline::history::{History, Key, Op, OpType, Process};
use serde_json::{json, Value};
use std::time::Duration;

fn hist(text: &str) -> History {
    let mut ops = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let mut parts: Vec<&str> = line.splitn(4, ' ').collect();
        let mut key = None;
        if let Some(last) = parts.last().copied() {
            if let Some(pos) =
                last.rfind(" @")
                    .or(if last.starts_with('@') { Some(0) } else { None })
            {
                let k = last[pos..].trim().trim_start_matches('@').to_string();
                key = Some(Key::Str(k));
                let n = parts.len();
                parts[n - 1] = last[..pos].trim();
            }
        }
        let kind = match parts[1] {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            t => panic!("bad type {t}"),
        };
        let value: Value = match parts.get(3) {
            Some(v) if !v.is_empty() => {
                serde_json::from_str(v).unwrap_or_else(|e| panic!("line {i}: {v}: {e}"))
            }
            _ => Value::Null,
        };
        let mut op = Op::invoke(Process::Client(parts[0].parse().unwrap()), parts[2], value);
        op.kind = kind;
        op.key = key;
        op.time = i as u64 * 1000;
        ops.push(op);
    }
    History::new(ops)
}

fn opts(model: ModelKind, init: Value, nil_read: NilRead) -> LinearizableOptions {
    LinearizableOptions {
        model,
        init,
        nil_read,
        ..Default::default()
    }
}

fn verdict(o: &LinearizableOptions, text: &str) -> Validity {
    Linearizable(o.clone())
        .check(&hist(text))
        .expect("checkable")
        .valid
}

fn reg() -> LinearizableOptions {
    opts(ModelKind::Register, json!(0), NilRead::Empty)
}
fn cas() -> LinearizableOptions {
    opts(ModelKind::CasRegister, json!(0), NilRead::Empty)
}
fn kv() -> LinearizableOptions {
    opts(ModelKind::Kv, json!(""), NilRead::Empty)
}
fn multi() -> LinearizableOptions {
    opts(
        ModelKind::MultiRegister,
        json!({"x": 0, "y": 0}),
        NilRead::Empty,
    )
}
fn mutex() -> LinearizableOptions {
    opts(ModelKind::Mutex, Value::Null, NilRead::Empty)
}

// ---------------------------------------------------------------- register

#[test]
fn register_sequential_write_then_read_is_valid() {
    let h = "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read 1";
    assert_eq!(verdict(&reg(), h), Validity::Valid);
}

#[test]
fn register_stale_read_is_invalid() {
    let h = "0 invoke write 1\n0 ok write 1\n0 invoke write 2\n0 ok write 2\n1 invoke read\n1 ok read 1";
    assert_eq!(verdict(&reg(), h), Validity::Invalid);
}

#[test]
fn register_lost_write_is_invalid() {
    // The write was acknowledged, yet a later read sees the initial value.
    let h = "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read 0";
    assert_eq!(verdict(&reg(), h), Validity::Invalid);
}

#[test]
fn register_read_concurrent_with_write_may_see_either() {
    let old = "0 invoke write 1\n1 invoke read\n1 ok read 0\n0 ok write 1";
    let new = "0 invoke write 1\n1 invoke read\n1 ok read 1\n0 ok write 1";
    assert_eq!(verdict(&reg(), old), Validity::Valid);
    assert_eq!(verdict(&reg(), new), Validity::Valid);
}

#[test]
fn register_crashed_write_may_or_may_not_have_happened() {
    let not_happened = "0 invoke write 1\n0 info write 1\n1 invoke read\n1 ok read 0";
    let happened = "0 invoke write 1\n0 info write 1\n1 invoke read\n1 ok read 1";
    let happened_late =
        "0 invoke write 1\n0 info write 1\n1 invoke read\n1 ok read 0\n1 invoke read\n1 ok read 1";
    let unhappened =
        "0 invoke write 1\n0 info write 1\n1 invoke read\n1 ok read 1\n1 invoke read\n1 ok read 0";
    assert_eq!(verdict(&reg(), not_happened), Validity::Valid);
    assert_eq!(verdict(&reg(), happened), Validity::Valid);
    assert_eq!(verdict(&reg(), happened_late), Validity::Valid);
    assert_eq!(verdict(&reg(), unhappened), Validity::Invalid);
}

#[test]
fn register_read_only_a_pending_write_explains_is_valid() {
    // Process 0's write never completes (no completion at all).
    let h = "0 invoke write 5\n1 invoke read\n1 ok read 5";
    assert_eq!(verdict(&reg(), h), Validity::Valid);
    let h = "0 invoke write 5\n1 invoke read\n1 ok read 6";
    assert_eq!(verdict(&reg(), h), Validity::Invalid);
}

#[test]
fn register_failed_write_must_be_ignored() {
    let saw_failed = "0 invoke write 7\n0 fail write 7\n1 invoke read\n1 ok read 7";
    let ignored = "0 invoke write 7\n0 fail write 7\n1 invoke read\n1 ok read 0";
    assert_eq!(verdict(&reg(), saw_failed), Validity::Invalid);
    assert_eq!(verdict(&reg(), ignored), Validity::Valid);
}

#[test]
fn nil_read_meaning_is_an_option_not_a_guess() {
    let h = "1 invoke read\n1 ok read null";
    assert_eq!(
        verdict(&opts(ModelKind::Register, json!(0), NilRead::Empty), h),
        Validity::Invalid
    );
    assert_eq!(
        verdict(&opts(ModelKind::Register, json!(0), NilRead::Any), h),
        Validity::Valid
    );
    assert_eq!(
        verdict(&opts(ModelKind::Register, Value::Null, NilRead::Empty), h),
        Validity::Valid
    );
    let h = "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read null";
    assert_eq!(
        verdict(&opts(ModelKind::Register, Value::Null, NilRead::Empty), h),
        Validity::Invalid
    );
}

#[test]
fn register_explanation_names_the_op_and_the_possible_states() {
    let h = "0 invoke write 3\n0 ok write 3\n0 invoke write 4\n2 invoke write 9\n2 fail write 9\n7 invoke read\n7 ok read 1\n0 ok write 4";
    let r = Linearizable(reg()).check(&hist(h)).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    let rep: LinearizableReport = serde_json::from_value(r.details).unwrap();
    let f = rep.keys[0].failure.as_ref().expect("failure report");
    assert_eq!(f.op.process, "7");
    assert_eq!(f.op.value, json!(1));
    let mut states = f.possible_states.clone();
    states.sort();
    assert_eq!(states, vec!["3", "4"], "{}", f.explanation);
    assert!(
        f.explanation.contains("could hold 3 or 4") || f.explanation.contains("could hold 4 or 3"),
        "{}",
        f.explanation
    );
    assert!(
        f.explanation.contains("by process 7 (read 1"),
        "{}",
        f.explanation
    );
    assert!(r.summary.contains("not linearizable"), "{}", r.summary);
}

#[test]
fn unknown_op_is_an_error_not_a_verdict() {
    let h = "0 invoke frobnicate 1\n0 ok frobnicate 1";
    match Linearizable(reg()).check(&hist(h)) {
        Err(CheckError::BadOp { index, reason }) => {
            assert_eq!(index, 0);
            assert!(reason.contains("frobnicate"), "{reason}");
        }
        other => panic!("expected BadOp, got {other:?}"),
    }
}

#[test]
fn completion_without_invoke_is_malformed() {
    let h = "0 ok write 1";
    assert!(matches!(
        Linearizable(reg()).check(&hist(h)),
        Err(CheckError::Malformed(_))
    ));
}

// ------------------------------------------------------------ cas-register

#[test]
fn cas_from_the_right_value_is_valid() {
    let h = "0 invoke cas [0,2]\n0 ok cas [0,2]\n1 invoke read\n1 ok read 2";
    assert_eq!(verdict(&cas(), h), Validity::Valid);
}

#[test]
fn cas_from_the_wrong_value_is_invalid() {
    let h = "0 invoke cas [1,2]\n0 ok cas [1,2]";
    assert_eq!(verdict(&cas(), h), Validity::Invalid);
    let h = "0 invoke write 1\n0 ok write 1\n0 invoke write 3\n0 ok write 3\n1 invoke cas [1,2]\n1 ok cas [1,2]";
    assert_eq!(verdict(&cas(), h), Validity::Invalid);
}

#[test]
fn failed_cas_is_ignored_and_crashed_cas_may_apply() {
    let h = "0 invoke cas [0,5]\n0 fail cas [0,5]\n1 invoke read\n1 ok read 5";
    assert_eq!(verdict(&cas(), h), Validity::Invalid);
    let h = "0 invoke cas [0,5]\n0 info cas [0,5]\n1 invoke read\n1 ok read 5";
    assert_eq!(verdict(&cas(), h), Validity::Valid);
    // The crashed cas can only apply from 0: after a write of 1 it cannot.
    let h = "1 invoke write 1\n1 ok write 1\n0 invoke cas [0,5]\n0 info cas [0,5]\n1 invoke read\n1 ok read 5";
    assert_eq!(verdict(&cas(), h), Validity::Invalid);
}

#[test]
fn cas_register_rejects_malformed_cas_value() {
    let h = "0 invoke cas 3\n0 ok cas 3";
    assert!(matches!(
        Linearizable(cas()).check(&hist(h)),
        Err(CheckError::BadOp { .. })
    ));
}

// ---------------------------------------------------------------------- kv

#[test]
fn kv_concurrent_appends_may_land_in_either_order() {
    let ab = "0 invoke append \"a\"\n1 invoke append \"b\"\n0 ok append \"a\"\n1 ok append \"b\"\n2 invoke get\n2 ok get \"ab\"";
    let ba = ab.replace("\"ab\"", "\"ba\"");
    assert_eq!(verdict(&kv(), ab), Validity::Valid);
    assert_eq!(verdict(&kv(), &ba), Validity::Valid);
}

#[test]
fn kv_sequential_appends_keep_real_time_order() {
    let h = "0 invoke append \"a\"\n0 ok append \"a\"\n1 invoke append \"b\"\n1 ok append \"b\"\n2 invoke get\n2 ok get \"ba\"";
    assert_eq!(verdict(&kv(), h), Validity::Invalid);
    assert_eq!(
        verdict(&kv(), &h.replace("\"ba\"", "\"ab\"")),
        Validity::Valid
    );
}

#[test]
fn kv_lost_append_and_stale_get_are_invalid() {
    let lost = "0 invoke append \"a\"\n0 ok append \"a\"\n2 invoke get\n2 ok get \"\"";
    assert_eq!(verdict(&kv(), lost), Validity::Invalid);
    let stale = "0 invoke put \"x\"\n0 ok put \"x\"\n0 invoke put \"y\"\n0 ok put \"y\"\n2 invoke get\n2 ok get \"x\"";
    assert_eq!(verdict(&kv(), stale), Validity::Invalid);
}

#[test]
fn kv_crashed_append_may_or_may_not_have_happened() {
    let base = "0 invoke append \"a\"\n0 info append \"a\"\n1 invoke append \"b\"\n1 ok append \"b\"\n2 invoke get\n2 ok get ";
    assert_eq!(verdict(&kv(), &format!("{base}\"b\"")), Validity::Valid);
    assert_eq!(verdict(&kv(), &format!("{base}\"ab\"")), Validity::Valid);
    assert_eq!(verdict(&kv(), &format!("{base}\"ba\"")), Validity::Valid);
    assert_eq!(verdict(&kv(), &format!("{base}\"a\"")), Validity::Invalid);
}

#[test]
fn kv_failed_put_is_ignored() {
    let h = "0 invoke put \"x\"\n0 fail put \"x\"\n2 invoke get\n2 ok get \"x\"";
    assert_eq!(verdict(&kv(), h), Validity::Invalid);
    let h = "0 invoke put \"x\"\n0 fail put \"x\"\n2 invoke get\n2 ok get \"\"";
    assert_eq!(verdict(&kv(), h), Validity::Valid);
}

#[test]
fn kv_keys_are_independent_and_all_keys_decides_every_one() {
    let h = "0 invoke append \"a\" @k1\n0 ok append \"a\" @k1\n1 invoke get @k2\n1 ok get \"a\" @k2\n2 invoke get @k1\n2 ok get \"a\" @k1";
    let mut o = kv();
    o.all_keys = true;
    let r = Linearizable(o).analyze(&hist(h)).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.keys_total, 2);
    assert_eq!((r.keys_valid, r.keys_invalid), (1, 1));
    let bad = r
        .keys
        .iter()
        .find(|k| k.valid == Validity::Invalid)
        .unwrap();
    assert_eq!(bad.key, Some(Key::Str("k2".into())));
}

// ---------------------------------------------------------- multi-register

#[test]
fn multi_register_txn_is_atomic() {
    let torn = "0 invoke txn [[\"write\",\"x\",1],[\"write\",\"y\",1]]\n0 ok txn [[\"write\",\"x\",1],[\"write\",\"y\",1]]\n\
                1 invoke txn [[\"read\",\"x\",null],[\"read\",\"y\",null]]\n1 ok txn [[\"read\",\"x\",1],[\"read\",\"y\",0]]";
    assert_eq!(verdict(&multi(), torn), Validity::Invalid);
    let whole = torn.replace("[\"read\",\"y\",0]", "[\"read\",\"y\",1]");
    assert_eq!(verdict(&multi(), &whole), Validity::Valid);
}

#[test]
fn multi_register_crashed_txn_and_failed_txn() {
    let crashed = "0 invoke txn [[\"write\",\"x\",1],[\"write\",\"y\",1]]\n0 info txn [[\"write\",\"x\",1],[\"write\",\"y\",1]]\n\
                   1 invoke txn [[\"read\",\"x\",null],[\"read\",\"y\",null]]\n1 ok txn [[\"read\",\"x\",1],[\"read\",\"y\",1]]";
    assert_eq!(verdict(&multi(), crashed), Validity::Valid);
    let failed = crashed.replace("0 info", "0 fail");
    assert_eq!(verdict(&multi(), &failed), Validity::Invalid);
}

// -------------------------------------------------------------------- mutex

#[test]
fn mutex_double_acquire_is_invalid() {
    let h = "0 invoke acquire\n0 ok acquire\n1 invoke acquire\n1 ok acquire";
    assert_eq!(verdict(&mutex(), h), Validity::Invalid);
    let h = "0 invoke acquire\n0 ok acquire\n0 invoke release\n0 ok release\n1 invoke acquire\n1 ok acquire";
    assert_eq!(verdict(&mutex(), h), Validity::Valid);
}

#[test]
fn mutex_release_when_unlocked_is_invalid_unless_it_failed() {
    assert_eq!(
        verdict(&mutex(), "0 invoke release\n0 ok release"),
        Validity::Invalid
    );
    assert_eq!(
        verdict(&mutex(), "0 invoke release\n0 fail release"),
        Validity::Valid
    );
}

#[test]
fn mutex_crashed_acquire_may_not_have_happened() {
    let h = "0 invoke acquire\n0 info acquire\n1 invoke acquire\n1 ok acquire";
    assert_eq!(verdict(&mutex(), h), Validity::Valid);
    // ... but if it happened, nobody else can hold the lock before a release.
    let h = "0 invoke acquire\n0 info acquire\n1 invoke release\n1 ok release\n1 invoke acquire\n1 ok acquire";
    assert_eq!(verdict(&mutex(), h), Validity::Valid);
}

// ------------------------------------------------------------------ budgets

#[test]
fn memory_budget_ends_in_unknown() {
    let h = "0 invoke write 1\n0 ok write 1\n1 invoke read\n1 ok read 1";
    let mut o = reg();
    o.memory_limit = Some(1);
    let r = Linearizable(o).check(&hist(h)).unwrap();
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.summary.contains("memory"), "{}", r.summary);
}

#[test]
fn time_budget_ends_in_unknown() {
    use faultline::checker::linearizable::generate::{random_history, GenOptions};
    // Many concurrent writes of distinct values with rare reads: a large
    // search. A zero time limit must stop it, not hang.
    let h = random_history(&GenOptions {
        model: ModelKind::Register,
        ops: 20_000,
        concurrency: 40,
        values: 1000,
        seed: 1,
        ..Default::default()
    });
    let mut o = reg();
    o.time_limit = Some(Duration::ZERO);
    let r = Linearizable(o).check(&h).unwrap();
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    assert!(r.summary.contains("time limit"), "{}", r.summary);
}

// ------------------------------------- a verdict means something was checked

fn every_checker() -> Vec<Box<dyn Checker>> {
    use faultline::checker::{bank::BankChecker, counter::CounterChecker, set::SetChecker};
    vec![
        Box::new(Linearizable(reg())),
        Box::new(SetChecker {
            stale_reads_invalid: true,
        }),
        Box::new(CounterChecker),
        Box::new(BankChecker {
            accounts: vec!["a".into()],
            total: 0,
        }),
    ]
}

#[test]
fn a_history_without_client_operations_is_unknown_for_every_checker() {
    let mut start = Op::invoke(Process::Nemesis, "start-partition", json!(null));
    let nemesis_only = History::new(vec![start.clone(), {
        start.kind = OpType::Info;
        start
    }]);
    for history in [History::default(), nemesis_only] {
        let (overall, results) = faultline::checker::compose(&every_checker(), &history);
        assert_eq!(overall, Validity::Unknown);
        assert_eq!(results.len(), 4);
        for r in &results {
            assert_eq!(r.valid, Validity::Unknown, "{}", r.checker);
            assert_eq!(r.summary, "no client operations", "{}", r.checker);
        }
        // The linearizability checker says so on its own too (what
        // `faultline check` calls).
        let report = Linearizable(reg()).analyze(&history).unwrap();
        assert_eq!(report.valid, Validity::Unknown);
        assert!(
            report.summary().contains("no client operations"),
            "{}",
            report.summary()
        );
    }
    // No checker at all checks nothing either.
    let (overall, _) = faultline::checker::compose(&[], &hist("0 invoke read\n0 ok read 0"));
    assert_eq!(overall, Validity::Unknown);
}

#[test]
fn one_client_operation_is_enough_for_a_verdict() {
    let (overall, results) = faultline::checker::compose(
        &[Box::new(Linearizable(reg())) as Box<dyn Checker>],
        &hist("0 invoke read\n0 ok read 0"),
    );
    assert_eq!(overall, Validity::Valid, "{results:?}");
}

#[test]
fn set_elements_compare_exactly() {
    use faultline::checker::set::SetChecker;
    let set = SetChecker {
        stale_reads_invalid: true,
    };
    // 18446744073709551617 added, 18446744073709551616 read: lost and
    // unexpected, though both are the same f64.
    let h = hist(
        "0 invoke add 18446744073709551617
         0 ok add 18446744073709551617
         1 invoke read
         1 ok read [18446744073709551616]",
    );
    assert_eq!(set.check(&h).unwrap().valid, Validity::Invalid);
    let h = hist(
        "0 invoke add 18446744073709551617
         0 ok add 18446744073709551617
         1 invoke read
         1 ok read [18446744073709551617]",
    );
    assert_eq!(set.check(&h).unwrap().valid, Validity::Valid);
    // 1.5 and 1.50 are one element; 1 and 1.0 are two.
    let h = hist(
        "0 invoke add 1.5
         0 ok add 1.5
         1 invoke read
         1 ok read [1.50]",
    );
    assert_eq!(set.check(&h).unwrap().valid, Validity::Valid);
    let h = hist(
        "0 invoke add 1
         0 ok add 1
         1 invoke read
         1 ok read [1.0]",
    );
    assert_eq!(set.check(&h).unwrap().valid, Validity::Invalid);
}

#[test]
fn cas_and_multi_register_compare_exactly() {
    let big = "18446744073709551617";
    let other = "18446744073709551616";
    let h = |from: &str| {
        format!(
            "0 invoke write {big}\n0 ok write {big}\n1 invoke cas [{from}, 5]\n1 ok cas [{from}, 5]"
        )
    };
    assert_eq!(verdict(&cas(), &h(big)), Validity::Valid);
    assert_eq!(verdict(&cas(), &h(other)), Validity::Invalid);
    let t = |r: &str| {
        format!(
            "0 invoke txn [[\"w\", \"x\", {big}]]\n0 ok txn [[\"w\", \"x\", {big}]]\n\
             1 invoke txn [[\"r\", \"x\", null]]\n1 ok txn [[\"r\", \"x\", {r}]]"
        )
    };
    assert_eq!(verdict(&multi(), &t(big)), Validity::Valid);
    assert_eq!(verdict(&multi(), &t(other)), Validity::Invalid);
}

#[test]
fn counter_sums_that_overflow_are_an_error_not_a_wrapped_bound() {
    use faultline::checker::counter::CounterChecker;
    let max = i64::MAX;
    let h = hist(&format!(
        "0 invoke add {max}\n0 ok add {max}\n0 invoke add {max}\n0 ok add {max}\n\
         1 invoke read\n1 ok read -2"
    ));
    assert!(CounterChecker.check(&h).is_err());
}
