//! The `register` workload: independent compare-and-set registers, checked
//! for linearizability (Jepsen's `independent` + cas-register).
//!
//! Each op reads, writes or compare-and-sets one register (a [`Key::Int`],
//! stored under the key's decimal text) holding a small integer, so reads,
//! writes and cas often collide. Worker threads are split into groups of
//! `threads-per-key`; each group works on its own key and moves to a fresh
//! key after `ops-per-key` ops, which keeps every key's sub-history small
//! enough for the linearizability search. The checker is
//! [`Linearizable`] with the cas-register model, initial value `null` (an
//! absent key) and `null` reads meaning the empty register.
//!
//! Ops: `read` (value `null`; on `ok`, the value read, `null` if absent),
//! `write` (value `v`), `cas` (value `[from, to]`; `ok` if it swapped, `fail`
//! if the register did not hold `from`).

use super::common::{complete_error, parse_config, pick_weighted, unknown_f};
use super::{Checks, Departure, Workload};
use crate::checker::linearizable::{Linearizable, LinearizableOptions, ModelKind, NilRead};
use crate::client::KvClient;
use crate::db::Consistency;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Key, Op, OpType};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// Relative weights of the op kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mix {
    /// Weight of `read` (default 1).
    pub read: u32,
    /// Weight of `write` (default 1).
    pub write: u32,
    /// Weight of `cas` (default 1).
    pub cas: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            read: 1,
            write: 1,
            cas: 1,
        }
    }
}

/// Configuration of the `register` workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Ops on one key before its thread group moves to a fresh key
    /// (default 100).
    pub ops_per_key: u64,
    /// Worker threads sharing one key; `0` = all threads share one key at a
    /// time (default 0).
    pub threads_per_key: usize,
    /// Values written and compared are drawn from `0..values` (default 5).
    pub values: u32,
    /// The op mix (default read 1, write 1, cas 1).
    pub mix: Mix,
    /// Wall-clock budget of the linearizability check in seconds; keys not
    /// decided in time are `unknown` (default 60).
    pub check_time_limit: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ops_per_key: 100,
            threads_per_key: 0,
            values: 5,
            mix: Mix::default(),
            check_time_limit: 60.0,
        }
    }
}

/// The `register` workload.
#[derive(Debug, Clone)]
pub struct Register {
    cfg: Config,
}

impl Register {
    /// Build from a JSON config (`null` = defaults); errors name the field.
    pub fn from_config(cfg: &Value) -> Result<Self, String> {
        let cfg: Config = parse_config("register", cfg)?;
        Register::new(cfg)
    }

    /// Build from a parsed config, validating it.
    pub fn new(cfg: Config) -> Result<Self, String> {
        if cfg.ops_per_key == 0 {
            return Err("workload register: field `ops-per-key` must be at least 1".into());
        }
        if cfg.values == 0 {
            return Err("workload register: field `values` must be at least 1".into());
        }
        if cfg.mix.read + cfg.mix.write + cfg.mix.cas == 0 {
            return Err("workload register: field `mix` has only zero weights".into());
        }
        if !(cfg.check_time_limit.is_finite() && cfg.check_time_limit > 0.0) {
            return Err(
                "workload register: field `check-time-limit` must be a positive number of seconds"
                    .into(),
            );
        }
        Ok(Register { cfg })
    }
}

/// One thread group's key and how many ops it has had.
#[derive(Debug, Clone, Copy)]
struct GroupKey {
    key: i64,
    ops: u64,
}

struct RegisterGen {
    cfg: Config,
    groups: Vec<GroupKey>,
}

impl Generator for RegisterGen {
    fn next(&mut self, ctx: &GenCtx, rng: &mut dyn RngCore) -> Next {
        let threads = ctx.threads.max(ctx.thread + 1).max(1);
        let per_key = if self.cfg.threads_per_key == 0 {
            threads
        } else {
            self.cfg.threads_per_key
        };
        let n_groups = threads.div_ceil(per_key);
        if self.groups.len() != n_groups {
            self.groups = (0..n_groups as i64)
                .map(|g| GroupKey { key: g, ops: 0 })
                .collect();
        }
        let g = &mut self.groups[(ctx.thread / per_key).min(n_groups - 1)];
        if g.ops >= self.cfg.ops_per_key {
            g.key += n_groups as i64;
            g.ops = 0;
        }
        g.ops += 1;
        let key = Some(Key::Int(g.key));
        let m = &self.cfg.mix;
        let v = self.cfg.values;
        let (f, value) = match pick_weighted(&[m.read, m.write, m.cas], rng) {
            0 => ("read", Value::Null),
            1 => ("write", json!(rng.gen_range(0..v))),
            _ => ("cas", json!([rng.gen_range(0..v), rng.gen_range(0..v)])),
        };
        Next::Op {
            f: f.into(),
            key,
            value,
        }
    }
}

/// The refkv key of a workload key.
fn key_text(op: &Op) -> String {
    match &op.key {
        Some(k) => k.to_string(),
        None => "register".to_string(),
    }
}

#[async_trait::async_trait]
impl Workload for Register {
    fn name(&self) -> &str {
        "register"
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(RegisterGen {
            cfg: self.cfg.clone(),
            groups: Vec::new(),
        })
    }

    fn final_generator(&self) -> Option<Box<dyn Generator>> {
        None
    }

    async fn invoke(&self, client: &dyn KvClient, op: &Op) -> Op {
        let key = key_text(op);
        match op.f.as_str() {
            "read" => match client.read(&key).await {
                Ok(v) => op.complete(OpType::Ok, v.unwrap_or(Value::Null)),
                Err(e) => complete_error(op, &e),
            },
            "write" => match client.write(&key, op.value.clone()).await {
                Ok(()) => op.complete(OpType::Ok, op.value.clone()),
                Err(e) => complete_error(op, &e),
            },
            "cas" => {
                let (from, to) = match op.value.as_array().map(|a| a.as_slice()) {
                    Some([from, to]) => (from.clone(), to.clone()),
                    _ => {
                        return super::common::complete_with_error(
                            op,
                            OpType::Fail,
                            format!("cas value must be [from, to], not {}", op.value),
                        )
                    }
                };
                match client.cas(&key, from, to).await {
                    Ok(true) => op.complete(OpType::Ok, op.value.clone()),
                    Ok(false) => super::common::complete_with_error(
                        op,
                        OpType::Fail,
                        super::common::CAS_MISMATCH,
                    ),
                    Err(e) => complete_error(op, &e),
                }
            }
            _ => unknown_f(op, "register"),
        }
    }

    /// Linearizability, whatever the promise: there is no sequential
    /// consistency checker yet, so against a Db promising only sequential
    /// reads the check is stronger than the promise and says so (a stale
    /// read there is invalid here, yet allowed by the system).
    fn checks(&self, promise: Consistency) -> Checks {
        let departures = match promise {
            Consistency::Linearizable => Vec::new(),
            Consistency::Sequential => {
                vec![Departure::stronger("checked for linearizability", None)]
            }
        };
        Checks {
            checkers: vec![Box::new(Linearizable(LinearizableOptions {
                model: ModelKind::CasRegister,
                init: Value::Null,
                nil_read: NilRead::Empty,
                time_limit: Some(Duration::from_secs_f64(self.cfg.check_time_limit)),
                ..LinearizableOptions::default()
            }))],
            departures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ops(cfg: Config, threads: usize, n: usize, seed: u64) -> Vec<Next> {
        let w = Register::new(cfg).unwrap();
        let mut g = w.generator();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let ctx = GenCtx {
                    elapsed: Duration::ZERO,
                    thread: i % threads,
                    threads,
                };
                g.next(&ctx, &mut rng)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_ops_and_keys_rotate_per_group() {
        let cfg = Config {
            ops_per_key: 3,
            threads_per_key: 2,
            ..Config::default()
        };
        let a = ops(cfg.clone(), 4, 40, 9);
        assert_eq!(a, ops(cfg.clone(), 4, 40, 9));
        assert_ne!(a, ops(cfg, 4, 40, 10));
        let keys: Vec<i64> = a
            .iter()
            .map(|n| match n {
                Next::Op {
                    key: Some(Key::Int(k)),
                    ..
                } => *k,
                other => panic!("{other:?}"),
            })
            .collect();
        // Threads 0,1 form group 0 (keys 0, 2, 4...); threads 2,3 group 1.
        assert_eq!(&keys[..8], &[0, 0, 1, 1, 0, 2, 1, 3]);
        for k in 0..6 {
            assert_eq!(keys.iter().filter(|x| **x == k).count(), 3, "key {k}");
        }
    }

    #[test]
    fn config_rejects_unknown_fields_and_zero_ops_per_key() {
        let e = Register::from_config(&json!({"ops-per-kye": 3})).unwrap_err();
        assert!(e.contains("ops-per-kye"), "{e}");
        let e = Register::from_config(&json!({"ops-per-key": 0})).unwrap_err();
        assert!(e.contains("ops-per-key"), "{e}");
        let e = Register::from_config(&json!({"mix": {"read": "x"}})).unwrap_err();
        assert!(e.contains("mix.read"), "{e}");
    }
}
