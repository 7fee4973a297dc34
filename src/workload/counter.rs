//! The `counter` workload: positive increments and reads of one counter,
//! checked by [`CounterChecker`] (each read within the bounds the history
//! allows).
//!
//! An increment is a transaction of one `append` of the delta to the list at
//! the counter's key; a read returns the list and records its sum. We chose
//! this over a read + compare-and-set retry loop because it is one round
//! trip with no retry storm under contention, and because the op is then a
//! single indivisible write, so its fate is exactly what the client saw:
//! `ok`, `fail`, or `info` = applied once or not at all (a cas loop that
//! times out mid-way is the same, but costs many more ops on a busy key).
//! The price is a value that grows with the number of increments, which is
//! fine for test-length runs.
//!
//! Ops: `add` (value: the delta, `1..=max_delta`), `read` (value `null`; on
//! `ok`, the counter's value).

use super::common::{
    complete_error, keyless, parse_config, pick_weighted, read_all, unknown_f, FinalReads,
};
use super::{Checks, Departure, Workload};
use crate::checker::counter::CounterChecker;
use crate::client::{KvClient, MicroOp};
use crate::db::Consistency;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Relative weights of the op kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mix {
    /// Weight of `add` (default 1).
    pub add: u32,
    /// Weight of `read` (default 1).
    pub read: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { add: 1, read: 1 }
    }
}

/// Configuration of the `counter` workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The key holding the counter (default `"counter"`).
    pub key: String,
    /// Increments are drawn from `1..=max_delta` (default 5).
    pub max_delta: i64,
    /// The op mix of the main phase (default add 1, read 1).
    pub mix: Mix,
    /// Reads each worker thread does after healing (default 1).
    pub final_reads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: "counter".into(),
            max_delta: 5,
            mix: Mix::default(),
            final_reads: 1,
        }
    }
}

/// The `counter` workload.
#[derive(Debug, Clone)]
pub struct Counter {
    cfg: Config,
}

impl Counter {
    /// Build from a JSON config (`null` = defaults); errors name the field.
    pub fn from_config(cfg: &Value) -> Result<Self, String> {
        Counter::new(parse_config("counter", cfg)?)
    }

    /// Build from a parsed config, validating it.
    pub fn new(cfg: Config) -> Result<Self, String> {
        if cfg.max_delta < 1 {
            return Err("workload counter: field `max-delta` must be at least 1".into());
        }
        if cfg.key.is_empty() {
            return Err("workload counter: field `key` must not be empty".into());
        }
        if cfg.mix.add + cfg.mix.read == 0 {
            return Err("workload counter: field `mix` has only zero weights".into());
        }
        Ok(Counter { cfg })
    }
}

struct CounterGen {
    cfg: Config,
}

impl Generator for CounterGen {
    fn next(&mut self, _ctx: &GenCtx, rng: &mut dyn RngCore) -> Next {
        let m = &self.cfg.mix;
        if pick_weighted(&[m.add, m.read], rng) == 0 {
            keyless("add", json!(rng.gen_range(1..=self.cfg.max_delta)))
        } else {
            read_all()
        }
    }
}

/// The counter's value from the stored list; `None` if it is not a list of
/// integers.
fn sum(v: &Value) -> Option<i64> {
    v.as_array()?
        .iter()
        .try_fold(0i64, |acc, x| acc.checked_add(x.as_i64()?))
}

#[async_trait::async_trait]
impl Workload for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(CounterGen {
            cfg: self.cfg.clone(),
        })
    }

    fn final_generator(&self) -> Option<Box<dyn Generator>> {
        Some(Box::new(FinalReads::new(self.cfg.final_reads)))
    }

    async fn invoke(&self, client: &dyn KvClient, op: &Op) -> Op {
        let key = self.cfg.key.as_str();
        match op.f.as_str() {
            "add" => match client
                .txn(vec![MicroOp::append(key, op.value.clone())])
                .await
            {
                Ok(_) => op.complete(OpType::Ok, op.value.clone()),
                Err(e) => complete_error(op, &e),
            },
            "read" => match client.read(key).await {
                Ok(None) => op.complete(OpType::Ok, json!(0)),
                // A value that is not a list of integers is recorded as is:
                // the checker reports it.
                Ok(Some(v)) => op.complete(OpType::Ok, sum(&v).map(|s| json!(s)).unwrap_or(v)),
                Err(e) => complete_error(op, &e),
            },
            _ => unknown_f(op, "counter"),
        }
    }

    /// The counter checker's lower bound is real time (increments
    /// acknowledged before a read began), which only a linearizable system
    /// promises; against a sequential one it says so.
    fn checks(&self, promise: Consistency) -> Checks {
        let departures = match promise {
            Consistency::Linearizable => Vec::new(),
            Consistency::Sequential => vec![Departure::stronger(
                "reads checked against increments acknowledged before they began (real time)",
                None,
            )],
        };
        Checks {
            checkers: vec![Box::new(CounterChecker)],
            departures,
        }
    }
}
