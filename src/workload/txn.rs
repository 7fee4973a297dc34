//! The transactional workloads, Elle's: `list-append` (transactions of
//! appends to and reads of lists) and `rw-register` (writes to and reads of
//! registers), checked for transactional anomalies by
//! [`TxnChecker`](crate::checker::txn::TxnChecker).
//!
//! Each op is one `txn` of 1 to `max-txn-length` micro-ops over the keys
//! active at the time; reads and writes are equally likely. Values are
//! unique per key (1, 2, 3... for each key), so a value read names its
//! writer. Keys rotate as in Elle's generator: `key-count` keys are active
//! at a time, and a key that took `max-writes-per-key` writes is replaced
//! by a fresh one, so lists stay short and every key's history stays
//! small. Keys are integers in the history (`[["append", 3, 7], ["r", 1,
//! null]]`) and their decimal text in the store.
//!
//! The checked model follows the system's promise: strict serializable for
//! a Db that promises linearizable operations; for one promising less
//! (ZooKeeper's plain reads), serializable, with the stronger check
//! available as `consistency-models: [strict-serializable]` (a departure
//! shown in the summary). `consistency-models` in the config overrides the
//! default either way.

use super::common::{complete_error, keyless, parse_config, unknown_f};
use super::{Checks, Departure, Workload};
use crate::checker::txn::{Flavor, Model, TxnChecker};
use crate::client::{KvClient, MicroOp};
use crate::db::Consistency;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Configuration of `list-append` and `rw-register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Keys active at a time (default 5).
    pub key_count: usize,
    /// Writes a key takes before a fresh key replaces it (default 32).
    pub max_writes_per_key: usize,
    /// Micro-ops per transaction, at least (default 1).
    pub min_txn_length: usize,
    /// Micro-ops per transaction, at most (default 4).
    pub max_txn_length: usize,
    /// The models the history must satisfy (strict-serializable,
    /// serializable, snapshot-isolation, repeatable-read, read-committed,
    /// read-uncommitted). Unset: as the Db promises (see the module docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_models: Option<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key_count: 5,
            max_writes_per_key: 32,
            min_txn_length: 1,
            max_txn_length: 4,
            consistency_models: None,
        }
    }
}

/// `list-append` or `rw-register`.
#[derive(Debug, Clone)]
pub struct Txn {
    flavor: Flavor,
    cfg: Config,
    models: Option<Vec<Model>>,
}

impl Txn {
    /// Build the workload of `flavor` from a JSON config (`null` =
    /// defaults); errors name the field.
    pub fn from_config(flavor: Flavor, cfg: &Value) -> Result<Self, String> {
        let name = flavor_name(flavor);
        let cfg: Config = parse_config(name, cfg)?;
        let field = |f: &str, m: &str| Err(format!("workload {name}: field `{f}` {m}"));
        if cfg.key_count == 0 {
            return field("key-count", "must be at least 1");
        }
        if cfg.max_writes_per_key == 0 {
            return field("max-writes-per-key", "must be at least 1");
        }
        if cfg.min_txn_length == 0 {
            return field("min-txn-length", "must be at least 1");
        }
        if cfg.max_txn_length < cfg.min_txn_length {
            return field("max-txn-length", "must be at least min-txn-length");
        }
        let models = match &cfg.consistency_models {
            None => None,
            Some(names) if names.is_empty() => {
                return field("consistency-models", "must name at least one model")
            }
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| Model::parse(n))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("workload {name}: field `consistency-models`: {e}"))?,
            ),
        };
        Ok(Txn {
            flavor,
            cfg,
            models,
        })
    }
}

fn flavor_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::ListAppend => "list-append",
        Flavor::RwRegister => "rw-register",
    }
}

/// Elle's generator: rotating keys, unique values per key.
struct TxnGen {
    flavor: Flavor,
    cfg: Config,
    active: Vec<u64>,
    next_key: u64,
    /// Per key: writes so far (the next value is this + 1).
    writes: std::collections::HashMap<u64, u64>,
}

impl Generator for TxnGen {
    fn next(&mut self, _ctx: &GenCtx, rng: &mut dyn RngCore) -> Next {
        let n = rng.gen_range(self.cfg.min_txn_length..=self.cfg.max_txn_length);
        let mut mops = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = rng.gen_range(0..self.active.len());
            let key = self.active[slot];
            if rng.gen_bool(0.5) {
                mops.push(json!(["r", key, null]));
                continue;
            }
            let w = self.writes.entry(key).or_insert(0);
            *w += 1;
            let value = *w;
            if *w as usize >= self.cfg.max_writes_per_key {
                self.writes.remove(&key);
                self.active[slot] = self.next_key;
                self.next_key += 1;
            }
            let f = match self.flavor {
                Flavor::ListAppend => "append",
                Flavor::RwRegister => "w",
            };
            mops.push(json!([f, key, value]));
        }
        keyless("txn", Value::Array(mops))
    }
}

/// The micro-ops of a `txn` op's value, for the client; `None` when the
/// value is not a list of `[f, key, value]`.
fn to_micro_ops(value: &Value) -> Option<Vec<MicroOp>> {
    value
        .as_array()?
        .iter()
        .map(|m| {
            let m = m.as_array().filter(|m| m.len() == 3)?;
            let f = m[0].as_str()?.to_string();
            let key = match &m[1] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(MicroOp(f, key, m[2].clone()))
        })
        .collect()
}

#[async_trait::async_trait]
impl Workload for Txn {
    fn name(&self) -> &str {
        flavor_name(self.flavor)
    }

    fn generator(&self) -> Box<dyn Generator> {
        let k = self.cfg.key_count as u64;
        Box::new(TxnGen {
            flavor: self.flavor,
            cfg: self.cfg.clone(),
            active: (0..k).collect(),
            next_key: k,
            writes: Default::default(),
        })
    }

    fn final_generator(&self) -> Option<Box<dyn Generator>> {
        None
    }

    async fn invoke(&self, client: &dyn KvClient, op: &Op) -> Op {
        if op.f != "txn" {
            return unknown_f(op, self.name());
        }
        let Some(mops) = to_micro_ops(&op.value) else {
            return op.complete(OpType::Fail, op.value.clone());
        };
        match client.txn(mops).await {
            Ok(done) => {
                let planned = op.value.as_array().cloned().unwrap_or_default();
                let filled: Vec<Value> = planned
                    .into_iter()
                    .zip(done)
                    .map(|(mut m, d)| {
                        if m[0] == "r" {
                            m[2] = match (self.flavor, d.2) {
                                // An absent list is the empty list.
                                (Flavor::ListAppend, Value::Null) => json!([]),
                                (_, v) => v,
                            };
                        }
                        m
                    })
                    .collect();
                op.complete(OpType::Ok, Value::Array(filled))
            }
            Err(e) => complete_error(op, &e),
        }
    }

    fn checks(&self, promise: Consistency) -> Checks {
        let promised = match promise {
            Consistency::Linearizable => Model::StrictSerializable,
            _ => Model::Serializable,
        };
        let (models, departures) = match &self.models {
            None => (vec![promised], Vec::new()),
            Some(models) => {
                let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
                let source = format!("config.consistency-models: [{}]", names.join(", "));
                let departures = if models.iter().all(|m| *m > promised) {
                    vec![Departure::relaxed(
                        format!("checked for {} only", names.join(", ")),
                        source,
                    )]
                } else if models.iter().any(|m| *m < promised) {
                    vec![Departure::stronger(
                        format!("checked for {}", names.join(", ")),
                        Some(source),
                    )]
                } else {
                    Vec::new()
                };
                (models.clone(), departures)
            }
        };
        Checks {
            checkers: vec![Box::new(TxnChecker::new(self.flavor, models))],
            departures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn values_are_unique_per_key_and_keys_rotate() {
        let w = Txn::from_config(
            Flavor::ListAppend,
            &json!({"key-count": 2, "max-writes-per-key": 3}),
        )
        .expect("config");
        let mut g = w.generator();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let ctx = GenCtx {
            elapsed: std::time::Duration::ZERO,
            thread: 0,
            threads: 1,
        };
        let mut seen = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for _ in 0..200 {
            let Next::Op { value, .. } = g.next(&ctx, &mut rng) else {
                panic!("an op");
            };
            for m in value.as_array().expect("mops") {
                keys.insert(m[1].as_u64().expect("int key"));
                if m[0] == "append" {
                    assert!(seen.insert((m[1].clone(), m[2].clone())), "{m}");
                }
            }
        }
        assert!(keys.len() > 10, "keys rotate: {keys:?}");
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = Txn::from_config(Flavor::RwRegister, &json!({"max-txn-length": 0}))
            .expect_err("shorter than min");
        assert!(e.contains("`max-txn-length`"), "{e}");
        let e = Txn::from_config(
            Flavor::ListAppend,
            &json!({"consistency-models": ["causal"]}),
        )
        .expect_err("unknown model");
        assert!(e.contains("unknown consistency model \"causal\""), "{e}");
        let e = Txn::from_config(Flavor::ListAppend, &json!({"keys": 3})).expect_err("unknown");
        assert!(e.contains("keys"), "{e}");
    }

    #[test]
    fn the_model_follows_the_promise_and_overrides_are_departures() {
        let w = Txn::from_config(Flavor::ListAppend, &Value::Null).expect("defaults");
        assert!(w.checks(Consistency::Linearizable).departures.is_empty());
        assert!(w.checks(Consistency::Sequential).departures.is_empty());
        let si = Txn::from_config(
            Flavor::ListAppend,
            &json!({"consistency-models": ["snapshot-isolation"]}),
        )
        .expect("si");
        let d = si.checks(Consistency::Linearizable).departures;
        assert_eq!(d.len(), 1);
        assert!(format!("{d:?}").contains("Relaxed"), "{d:?}");
    }
}
