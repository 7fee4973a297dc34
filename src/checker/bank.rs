//! The bank checker: money moves between a fixed set of accounts in
//! transactions, so every read of all accounts must see the same total and
//! no negative balance (snapshot isolation or better; Jepsen's `bank`).
//!
//! Ops: `transfer` (value `{"from", "to", "amount"}`; not judged here — a
//! transfer that would overdraw is a `fail` with no effect) and `read` (on
//! an `ok` completion, value: an object mapping each account name to its
//! balance). Every `ok` read is checked: exactly the configured accounts,
//! integer balances, none negative, summing to the configured total. A read
//! breaking any of these is a *bad read*, listed with what is wrong.
//!
//! Verdict: invalid when any `ok` read is bad; unknown when no read was
//! `ok`; valid otherwise.

use super::{CheckError, CheckResult, Checker, Validity};
use crate::history::{History, OpType};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// At most this many bad reads are listed in the details.
const LIST_LIMIT: usize = 100;

/// The bank checker; name `bank`.
#[derive(Debug, Clone)]
pub struct BankChecker {
    /// The account names every read must show.
    pub accounts: Vec<String>,
    /// The total every read must sum to.
    pub total: i64,
}

impl BankChecker {
    /// What is wrong with one read's value; empty when it is right.
    fn problems(&self, value: &Value) -> Vec<Value> {
        let Some(map) = value.as_object() else {
            return vec![json!({"kind": "not-an-object"})];
        };
        let mut out = Vec::new();
        let expected: BTreeSet<&str> = self.accounts.iter().map(String::as_str).collect();
        for a in &expected {
            if !map.contains_key(*a) {
                out.push(json!({"kind": "missing-account", "account": a}));
            }
        }
        // i128: a sum of i64 balances cannot overflow it, so a huge
        // balance can never wrap or saturate into the right total.
        let mut sum: i128 = 0;
        let mut numeric = true;
        for (a, b) in map {
            if !expected.contains(a.as_str()) {
                out.push(json!({"kind": "unexpected-account", "account": a}));
            }
            match b.as_i64() {
                Some(b) => {
                    sum += i128::from(b);
                    if b < 0 {
                        out.push(json!({"kind": "negative", "account": a, "balance": b}));
                    }
                }
                None => {
                    numeric = false;
                    out.push(json!({"kind": "non-integer", "account": a, "balance": b}));
                }
            }
        }
        if numeric && sum != i128::from(self.total) {
            out.push(json!({"kind": "wrong-total", "expected": self.total, "found": sum}));
        }
        out
    }
}

impl Checker for BankChecker {
    fn name(&self) -> &str {
        "bank"
    }

    /// Yes: each `ok` read is judged alone (its accounts, balances and
    /// total), and a read in a prefix stays the same read in every
    /// extension.
    fn prefix_closed(&self) -> bool {
        true
    }

    fn check(&self, history: &History) -> Result<CheckResult, CheckError> {
        let pairs = history.pairs()?;
        let mut reads = 0usize;
        let mut bad: Vec<Value> = Vec::new();
        let mut bad_count = 0usize;
        let (mut transfers_ok, mut transfers_fail, mut transfers_info) = (0usize, 0usize, 0usize);
        for (inv, comp) in &pairs {
            match (inv.f.as_str(), comp.map(|c| c.kind)) {
                ("read", Some(OpType::Ok)) => {
                    let Some(c) = comp else { continue };
                    reads += 1;
                    let problems = self.problems(&c.value);
                    if !problems.is_empty() {
                        bad_count += 1;
                        if bad.len() < LIST_LIMIT {
                            bad.push(json!({
                                "index": c.index,
                                "process": c.process,
                                "time": c.time,
                                "value": c.value,
                                "problems": problems,
                            }));
                        }
                    }
                }
                ("transfer", Some(OpType::Ok)) => transfers_ok += 1,
                ("transfer", Some(OpType::Fail)) => transfers_fail += 1,
                ("transfer", _) => transfers_info += 1,
                _ => {}
            }
        }
        let valid = Validity::of_invariant(bad_count, reads);
        let summary = format!(
            "{reads} ok reads, {bad_count} bad (total must be {} over {} accounts, none negative); transfers {transfers_ok} ok, {transfers_fail} fail, {transfers_info} info",
            self.total,
            self.accounts.len()
        );
        let mut r = CheckResult::new("bank", valid, summary);
        r.details = json!({
            "read_count": reads,
            "bad_count": bad_count,
            "bad_reads": bad,
            "total": self.total,
            "accounts": self.accounts,
            "transfers": {"ok": transfers_ok, "fail": transfers_fail, "info": transfers_info},
        });
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::set::tests::h;
    use OpType::{Fail, Info, Invoke as Inv, Ok as Okk};

    fn bank() -> BankChecker {
        BankChecker {
            accounts: vec!["0".into(), "1".into()],
            total: 10,
        }
    }

    fn t(from: u32, to: u32, amount: i64) -> Value {
        json!({"from": from, "to": to, "amount": amount})
    }

    #[test]
    fn accepts_reads_with_the_total_whatever_transfers_did() {
        let r = bank()
            .check(&h(&[
                (0, Inv, "transfer", t(0, 1, 3)),
                (0, Okk, "transfer", t(0, 1, 3)),
                (1, Inv, "transfer", t(1, 0, 50)),
                (1, Fail, "transfer", t(1, 0, 50)),
                (2, Inv, "transfer", t(1, 0, 1)),
                (2, Info, "transfer", t(1, 0, 1)),
                (3, Inv, "read", Value::Null),
                (3, Okk, "read", json!({"0": 2, "1": 8})),
                (3, Inv, "read", Value::Null),
                (3, Fail, "read", Value::Null),
            ]))
            .unwrap();
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(
            r.details["transfers"],
            json!({"ok": 1, "fail": 1, "info": 1})
        );
    }

    #[test]
    fn rejects_a_wrong_total() {
        let r = bank()
            .check(&h(&[
                (3, Inv, "read", Value::Null),
                (3, Okk, "read", json!({"0": 2, "1": 5})),
            ]))
            .unwrap();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(
            r.details["bad_reads"][0]["problems"][0]["kind"],
            "wrong-total"
        );
        assert_eq!(r.details["bad_reads"][0]["problems"][0]["found"], 7);
    }

    #[test]
    fn rejects_a_negative_balance_even_with_the_right_total() {
        let r = bank()
            .check(&h(&[
                (3, Inv, "read", Value::Null),
                (3, Okk, "read", json!({"0": -1, "1": 11})),
            ]))
            .unwrap();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["bad_reads"][0]["problems"][0]["kind"], "negative");
    }

    #[test]
    fn rejects_missing_extra_and_non_integer_accounts() {
        let r = bank()
            .check(&h(&[
                (3, Inv, "read", Value::Null),
                (3, Okk, "read", json!({"0": 10, "2": 0})),
                (3, Inv, "read", Value::Null),
                (3, Okk, "read", json!({"0": "x", "1": 10})),
                (3, Inv, "read", Value::Null),
                (3, Okk, "read", json!([10, 0])),
            ]))
            .unwrap();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["bad_count"], 3);
    }

    #[test]
    fn no_ok_read_is_unknown() {
        let r = bank()
            .check(&h(&[
                (3, Inv, "read", Value::Null),
                (3, Info, "read", Value::Null),
            ]))
            .unwrap();
        assert_eq!(r.valid, Validity::Unknown);
    }
}
