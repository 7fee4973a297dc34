//! The `bank` workload: money moves between `accounts` accounts holding a
//! fixed `total`; every read of all accounts must see that total and no
//! negative balance. Checked by [`BankChecker`].
//!
//! ## How a transfer stays correct with refkv's transactions
//!
//! refkv's `/txn` is atomic but not interactive: its writes are fixed before
//! it is sent, so it cannot compute new balances from the balances it reads.
//! A transfer is therefore an optimistic transaction in two steps:
//!
//! 1. a read-only txn reads both accounts. Each account holds
//!    `{"balance": b, "version": v}` (absent = the initial balance, version
//!    0). If `from` holds less than `amount` the transfer is a `fail` with no
//!    effect. (A read-only txn changes nothing, so any error here is `fail`.)
//! 2. a txn that *validates and writes*: it first appends to the guard keys
//!    `<prefix><from>-v<vf>` and `<prefix><to>-v<vt>` (an absent key is the
//!    empty list, so this succeeds while the versions read are current), then
//!    overwrites both guards with the string `"spent"`, then writes both new
//!    balances with versions `vf+1`, `vt+1`. If another transfer moved
//!    either account in between, it has already spent that guard, the
//!    append hits a non-list, and refkv fails the whole txn definitely with
//!    no effect (`fail`).
//!
//! Each (account, version) is thus consumed by at most one txn, exactly like
//! a compare-and-set over both accounts, so on a store with atomic,
//! linearizable txns the total is conserved and no balance goes negative —
//! even when an `info` txn lands late. Reads are one read-only txn over all
//! accounts.
//!
//! Ops: `transfer` (value `{"from": i, "to": j, "amount": a}`), `read`
//! (value `null`; on `ok`, `{"0": b0, "1": b1, ...}`).

use super::common::{
    complete_error, complete_with_error, keyless, parse_config, pick_weighted, read_all, unknown_f,
    FinalReads,
};
use super::{Checks, Workload};
use crate::checker::bank::BankChecker;
use crate::client::{KvClient, MicroOp};
use crate::db::Consistency;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Relative weights of the op kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mix {
    /// Weight of `transfer` (default 1).
    pub transfer: u32,
    /// Weight of `read` (default 1).
    pub read: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            transfer: 1,
            read: 1,
        }
    }
}

/// Configuration of the `bank` workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Number of accounts, named `0`..`accounts-1` (default 5, at least 2).
    pub accounts: usize,
    /// The money in the bank, split evenly at the start (default 100).
    pub total: i64,
    /// Transfers move `1..=max_transfer` (default 5).
    pub max_transfer: i64,
    /// Prefix of the keys holding accounts and guards (default `"bank-"`).
    pub key_prefix: String,
    /// The op mix of the main phase (default transfer 1, read 1).
    pub mix: Mix,
    /// Reads each worker thread does after healing (default 1).
    pub final_reads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            accounts: 5,
            total: 100,
            max_transfer: 5,
            key_prefix: "bank-".into(),
            mix: Mix::default(),
            final_reads: 1,
        }
    }
}

/// The `bank` workload.
#[derive(Debug, Clone)]
pub struct Bank {
    cfg: Config,
}

impl Bank {
    /// Build from a JSON config (`null` = defaults); errors name the field.
    pub fn from_config(cfg: &Value) -> Result<Self, String> {
        Bank::new(parse_config("bank", cfg)?)
    }

    /// Build from a parsed config, validating it.
    pub fn new(cfg: Config) -> Result<Self, String> {
        if cfg.accounts < 2 {
            return Err("workload bank: field `accounts` must be at least 2".into());
        }
        if cfg.total < 0 {
            return Err("workload bank: field `total` must not be negative".into());
        }
        if cfg.max_transfer < 1 {
            return Err("workload bank: field `max-transfer` must be at least 1".into());
        }
        if cfg.mix.transfer + cfg.mix.read == 0 {
            return Err("workload bank: field `mix` has only zero weights".into());
        }
        Ok(Bank { cfg })
    }

    /// The balance account `i` starts with: `total` split evenly, the
    /// remainder going to the first accounts.
    pub fn initial_balance(&self, i: usize) -> i64 {
        let n = self.cfg.accounts as i64;
        self.cfg.total / n + i64::from((i as i64) < self.cfg.total % n)
    }

    fn account_key(&self, i: usize) -> String {
        format!("{}{i}", self.cfg.key_prefix)
    }

    fn guard_key(&self, i: usize, version: i64) -> String {
        format!("{}{i}-v{version}", self.cfg.key_prefix)
    }

    /// (balance, version) of account `i` from its stored value.
    fn parse_account(&self, i: usize, v: &Value) -> Option<(i64, i64)> {
        match v {
            Value::Null => Some((self.initial_balance(i), 0)),
            Value::Object(m) => Some((m.get("balance")?.as_i64()?, m.get("version")?.as_i64()?)),
            _ => None,
        }
    }

    fn account_index(&self, v: &Value) -> Option<usize> {
        v.as_u64()
            .map(|x| x as usize)
            .filter(|x| *x < self.cfg.accounts)
    }

    async fn transfer(&self, client: &dyn KvClient, op: &Op) -> Op {
        let (Some(from), Some(to), Some(amount)) = (
            self.account_index(&op.value["from"]),
            self.account_index(&op.value["to"]),
            op.value["amount"].as_i64(),
        ) else {
            return complete_with_error(op, OpType::Fail, format!("bad transfer {}", op.value));
        };
        // Step 1: read both accounts. Nothing is written: any error is `fail`.
        let read = client
            .txn(vec![
                MicroOp::read(self.account_key(from)),
                MicroOp::read(self.account_key(to)),
            ])
            .await;
        let read = match read {
            Ok(r) if r.len() == 2 => r,
            Ok(r) => {
                return complete_with_error(
                    op,
                    OpType::Fail,
                    format!("read step returned {} micro-ops, not 2", r.len()),
                )
            }
            Err(e) => return complete_with_error(op, OpType::Fail, format!("read step: {e}")),
        };
        let (Some((bf, vf)), Some((bt, vt))) = (
            self.parse_account(from, &read[0].2),
            self.parse_account(to, &read[1].2),
        ) else {
            return complete_with_error(
                op,
                OpType::Fail,
                format!(
                    "accounts hold unreadable values {} and {}",
                    read[0].2, read[1].2
                ),
            );
        };
        if bf < amount {
            return complete_with_error(
                op,
                OpType::Fail,
                format!(
                    "{}: account {from} holds {bf}",
                    super::common::INSUFFICIENT_FUNDS
                ),
            );
        }
        // Step 2: validate (the guards are unspent) and write, atomically.
        let (gf, gt) = (self.guard_key(from, vf), self.guard_key(to, vt));
        let write = vec![
            MicroOp::append(gf.clone(), json!(true)),
            MicroOp::append(gt.clone(), json!(true)),
            MicroOp::write(gf, json!("spent")),
            MicroOp::write(gt, json!("spent")),
            MicroOp::write(
                self.account_key(from),
                json!({"balance": bf - amount, "version": vf + 1}),
            ),
            MicroOp::write(
                self.account_key(to),
                json!({"balance": bt + amount, "version": vt + 1}),
            ),
        ];
        match client.txn(write).await {
            Ok(_) => op.complete(OpType::Ok, op.value.clone()),
            Err(e) => complete_error(op, &e),
        }
    }

    async fn read(&self, client: &dyn KvClient, op: &Op) -> Op {
        let n = self.cfg.accounts;
        let ops = (0..n).map(|i| MicroOp::read(self.account_key(i))).collect();
        match client.txn(ops).await {
            Ok(r) if r.len() == n => {
                let mut balances = Map::new();
                for (i, m) in r.iter().enumerate() {
                    // An unreadable account is reported as stored, so the
                    // checker flags it.
                    let b = match self.parse_account(i, &m.2) {
                        Some((b, _)) => json!(b),
                        None => m.2.clone(),
                    };
                    balances.insert(i.to_string(), b);
                }
                op.complete(OpType::Ok, Value::Object(balances))
            }
            Ok(r) => complete_with_error(
                op,
                OpType::Info,
                format!("read returned {} micro-ops, not {n}", r.len()),
            ),
            Err(e) => complete_error(op, &e),
        }
    }
}

struct BankGen {
    cfg: Config,
}

impl Generator for BankGen {
    fn next(&mut self, _ctx: &GenCtx, rng: &mut dyn RngCore) -> Next {
        let m = &self.cfg.mix;
        if pick_weighted(&[m.transfer, m.read], rng) == 0 {
            let n = self.cfg.accounts;
            let from = rng.gen_range(0..n);
            // Any account but `from`, uniformly.
            let to = (from + rng.gen_range(1..n)) % n;
            let amount = rng.gen_range(1..=self.cfg.max_transfer);
            keyless(
                "transfer",
                json!({"from": from, "to": to, "amount": amount}),
            )
        } else {
            read_all()
        }
    }
}

#[async_trait::async_trait]
impl Workload for Bank {
    fn name(&self) -> &str {
        "bank"
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(BankGen {
            cfg: self.cfg.clone(),
        })
    }

    fn final_generator(&self) -> Option<Box<dyn Generator>> {
        Some(Box::new(FinalReads::new(self.cfg.final_reads)))
    }

    async fn invoke(&self, client: &dyn KvClient, op: &Op) -> Op {
        match op.f.as_str() {
            "transfer" => self.transfer(client, op).await,
            "read" => self.read(client, op).await,
            _ => unknown_f(op, "bank"),
        }
    }

    /// The same for every promise: the total and non-negative balances
    /// hold in any serializable order, whatever real time says, so a
    /// sequential Db is held to exactly what it promises.
    fn checks(&self, _promise: Consistency) -> Checks {
        Checks {
            checkers: vec![Box::new(BankChecker {
                accounts: (0..self.cfg.accounts).map(|i| i.to_string()).collect(),
                total: self.cfg.total,
            })],
            departures: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::memory::MemoryKv;
    use crate::history::Process;

    #[test]
    fn initial_balances_sum_to_the_total() {
        let b = Bank::new(Config {
            accounts: 3,
            total: 10,
            ..Config::default()
        })
        .unwrap();
        assert_eq!(
            (0..3).map(|i| b.initial_balance(i)).collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
    }

    #[tokio::test]
    async fn transfer_on_a_stale_version_fails_without_effect() {
        let b = Bank::new(Config::default()).unwrap();
        let kv = MemoryKv::new();
        let t = Op::invoke(
            Process::Client(0),
            "transfer",
            json!({"from": 0, "to": 1, "amount": 5}),
        );
        assert_eq!(b.invoke(&kv, &t).await.kind, OpType::Ok);
        // A writer that read version 0 of account 0 before that transfer.
        let stale = kv
            .txn(vec![
                MicroOp::append(b.guard_key(0, 0), json!(true)),
                MicroOp::write(b.account_key(0), json!({"balance": 0, "version": 1})),
            ])
            .await;
        assert!(stale.is_err(), "spent guard must abort: {stale:?}");
        let r = b
            .invoke(&kv, &Op::invoke(Process::Client(0), "read", Value::Null))
            .await;
        assert_eq!(
            r.value,
            json!({"0": 15, "1": 25, "2": 20, "3": 20, "4": 20})
        );
    }

    #[tokio::test]
    async fn overdraft_is_a_fail_with_no_effect() {
        let b = Bank::new(Config::default()).unwrap();
        let kv = MemoryKv::new();
        let t = Op::invoke(
            Process::Client(0),
            "transfer",
            json!({"from": 0, "to": 1, "amount": 21}),
        );
        let c = b.invoke(&kv, &t).await;
        assert_eq!(c.kind, OpType::Fail);
        assert!(c.error.unwrap().to_string().contains("insufficient"));
        assert_eq!(kv.peek(&b.account_key(0)), None);
    }
}
