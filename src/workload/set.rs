//! The `set` workload (Jepsen's set-full): unique integers are added to one
//! set while reads watch it; after healing, every worker thread reads it
//! once more. Checked by [`SetChecker`]: lost, unexpected, stale and
//! recovered elements, with how long each took to become visible.
//!
//! The set is a list under one key, grown by a transaction of one `append`
//! (atomic, no read-modify-write race); a read returns the list (`null` = the
//! empty set). An append applied twice shows up as a duplicated element.
//!
//! Ops: `add` (value: the element, unique in the run), `read` (value `null`;
//! on `ok`, the array of elements).
//!
//! Strictness follows the system's promise, as Jepsen's etcd and ZooKeeper
//! suites check sets with set-full's `:linearizable? true`: against a Db
//! promising linearizable reads, a stale read (one that began after an
//! element was known, missed it, while a later read saw it) is an anomaly;
//! against one promising only sequential reads it is reported, not invalid.
//! `stale-reads-invalid` in the config overrides the default either way and
//! is then a [`Departure`] shown in the summary. For a sequential Db,
//! `lost` keeps its meaning (no read saw the element again after one missed
//! it), which relies on the replicas converging during the recovery period
//! before the final reads.

use super::common::{
    complete_error, keyless, parse_config, pick_weighted, read_all, unknown_f, FinalReads,
};
use super::{Checks, Departure, Workload};
use crate::checker::set::SetChecker;
use crate::client::{KvClient, MicroOp};
use crate::db::Consistency;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Relative weights of the op kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mix {
    /// Weight of `add` (default 4).
    pub add: u32,
    /// Weight of `read` (default 1).
    pub read: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { add: 4, read: 1 }
    }
}

/// Configuration of the `set` workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The key holding the set (default `"set"`).
    pub key: String,
    /// The op mix of the main phase (default add 4, read 1).
    pub mix: Mix,
    /// Reads each worker thread does after healing (default 1).
    pub final_reads: usize,
    /// Treat stale reads as an anomaly. Unset (the default): as the Db
    /// promises — an anomaly for linearizable reads, reported but valid for
    /// sequential ones. Set to the other value, it is a departure from the
    /// promise, recorded in `results.json` and shown in the summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_reads_invalid: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: "set".into(),
            mix: Mix::default(),
            final_reads: 1,
            stale_reads_invalid: None,
        }
    }
}

/// The `set` workload.
#[derive(Debug, Clone)]
pub struct Set {
    cfg: Config,
}

impl Set {
    /// Build from a JSON config (`null` = defaults); errors name the field.
    pub fn from_config(cfg: &Value) -> Result<Self, String> {
        Set::new(parse_config("set", cfg)?)
    }

    /// Build from a parsed config, validating it.
    pub fn new(cfg: Config) -> Result<Self, String> {
        if cfg.mix.add == 0 {
            return Err(
                "workload set: field `mix.add` must be positive: a set test needs adds".into(),
            );
        }
        if cfg.key.is_empty() {
            return Err("workload set: field `key` must not be empty".into());
        }
        if cfg.final_reads == 0 {
            return Err("workload set: field `final-reads` must be at least 1: the final reads decide what was lost".into());
        }
        Ok(Set { cfg })
    }
}

struct SetGen {
    mix: Mix,
    next_element: u64,
}

impl Generator for SetGen {
    fn next(&mut self, _ctx: &GenCtx, rng: &mut dyn RngCore) -> Next {
        if pick_weighted(&[self.mix.add, self.mix.read], rng) == 0 {
            let e = self.next_element;
            self.next_element += 1;
            keyless("add", json!(e))
        } else {
            read_all()
        }
    }
}

#[async_trait::async_trait]
impl Workload for Set {
    fn name(&self) -> &str {
        "set"
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(SetGen {
            mix: self.cfg.mix.clone(),
            next_element: 0,
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
                // What the system returned, as is: a non-list is an anomaly
                // the checker reports.
                Ok(None) => op.complete(OpType::Ok, json!([])),
                Ok(Some(v)) => op.complete(OpType::Ok, v),
                Err(e) => complete_error(op, &e),
            },
            _ => unknown_f(op, "set"),
        }
    }

    fn checks(&self, promise: Consistency) -> Checks {
        let promised = promise == Consistency::Linearizable;
        let stale_reads_invalid = self.cfg.stale_reads_invalid.unwrap_or(promised);
        let departures = match (promised, stale_reads_invalid) {
            (true, false) => vec![Departure::relaxed(
                "stale reads allowed",
                "config.stale-reads-invalid: false",
            )],
            (false, true) => vec![Departure::stronger(
                "stale reads count as anomalies",
                Some("config.stale-reads-invalid: true".into()),
            )],
            _ => Vec::new(),
        };
        Checks {
            checkers: vec![Box::new(SetChecker {
                stale_reads_invalid,
            })],
            departures,
        }
    }
}
