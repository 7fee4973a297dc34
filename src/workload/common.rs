//! Pieces every workload shares: reading a workload's config, choosing an op
//! from a weighted mix, turning a [`KvError`] into a completion, and the
//! "one set of final reads per worker thread" generator.

use crate::client::KvError;
use crate::generator::{GenCtx, Generator, Next};
use crate::history::{Op, OpType};
use rand::{Rng, RngCore};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parse a workload's config: `null` means all defaults; unknown fields and
/// wrong types are errors naming the field's path.
pub fn parse_config<T: DeserializeOwned + Default>(
    workload: &str,
    cfg: &Value,
) -> Result<T, String> {
    if cfg.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(cfg.clone()).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("workload {workload}: {}", e.inner())
        } else {
            format!("workload {workload}: field `{path}`: {}", e.inner())
        }
    })
}

/// Pick an index with probability proportional to its weight. Callers
/// validate that the weights are not all zero.
pub fn pick_weighted(weights: &[u32], rng: &mut dyn RngCore) -> usize {
    let total: u32 = weights.iter().sum();
    if total == 0 {
        return 0;
    }
    let mut x = rng.gen_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// The completion of `op` for a failed call: `fail` when the op definitely
/// did not happen, `info` when it may have. The value stays the invoke's
/// (what was attempted) and `error` holds the reason.
pub fn complete_error(op: &Op, e: &KvError) -> Op {
    let kind = match e {
        KvError::Definite(_) | KvError::Unsupported(_) => OpType::Fail,
        KvError::Indefinite(_) => OpType::Info,
    };
    complete_with_error(op, kind, e.to_string())
}

/// The error of a `cas` that reached the store and found another value:
/// the system's answer, not a refusal to serve.
pub const CAS_MISMATCH: &str = "cas mismatch";

/// How the error of a transfer refused because the source account held too
/// little begins: the system's answer, not a refusal to serve.
pub const INSUFFICIENT_FUNDS: &str = "insufficient funds";

/// True when a `fail` with this error is the system's answer to the op (a
/// cas whose expected value did not match, a transfer refused for
/// insufficient funds): the cluster was available, the op was just not
/// applicable. Availability counts such ops as served.
pub fn is_answer(error: &str) -> bool {
    error.starts_with(CAS_MISMATCH) || error.starts_with(INSUFFICIENT_FUNDS)
}

/// The completion of `op` with this type, the invoke's value, and an error.
pub fn complete_with_error(op: &Op, kind: OpType, error: impl Into<String>) -> Op {
    let mut c = op.complete(kind, op.value.clone());
    c.error = Some(Value::String(error.into()));
    c
}

/// The completion of an op whose `f` this workload does not know: `fail`,
/// since nothing was sent.
pub fn unknown_f(op: &Op, workload: &str) -> Op {
    complete_with_error(
        op,
        OpType::Fail,
        format!("workload {workload} has no op {:?}", op.f),
    )
}

/// An op on the workload's own key(s), not on one chosen per op: `f` with
/// `value` (bank's transfers, set's and counter's adds).
pub fn keyless(f: &str, value: Value) -> Next {
    Next::Op {
        f: f.into(),
        key: None,
        value,
    }
}

/// A read of the workload's whole state (`f: read`, value `null`).
pub fn read_all() -> Next {
    keyless("read", Value::Null)
}

/// Final phase: every worker thread runs `per_thread` reads (`f: read`,
/// value `null`), then waits (`Pending`) until every thread is through, then
/// the generator is `Done`.
pub struct FinalReads {
    per_thread: usize,
    done: Vec<usize>,
}

impl FinalReads {
    /// `per_thread` reads on each worker thread.
    pub fn new(per_thread: usize) -> Self {
        FinalReads {
            per_thread,
            done: Vec::new(),
        }
    }
}

impl Generator for FinalReads {
    fn next(&mut self, ctx: &GenCtx, _rng: &mut dyn RngCore) -> Next {
        let threads = ctx.threads.max(ctx.thread + 1);
        if self.done.len() < threads {
            self.done.resize(threads, 0);
        }
        if self.done[ctx.thread] < self.per_thread {
            self.done[ctx.thread] += 1;
            return read_all();
        }
        if self.done.iter().all(|d| *d >= self.per_thread) {
            Next::Done
        } else {
            Next::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        #[allow(dead_code)]
        n: u32,
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = parse_config::<Cfg>("w", &serde_json::json!({"n": "x"})).unwrap_err();
        assert!(e.contains("field `n`"), "{e}");
        let e = parse_config::<Cfg>("w", &serde_json::json!({"m": 1})).unwrap_err();
        assert!(e.contains("unknown field `m`"), "{e}");
        assert!(parse_config::<Cfg>("w", &Value::Null).is_ok());
    }

    #[test]
    fn final_reads_give_each_thread_its_reads_then_finish() {
        let mut g = FinalReads::new(1);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let ctx = |t| GenCtx {
            elapsed: Default::default(),
            thread: t,
            threads: 2,
        };
        assert!(matches!(g.next(&ctx(0), &mut rng), Next::Op { .. }));
        assert_eq!(g.next(&ctx(0), &mut rng), Next::Pending);
        assert!(matches!(g.next(&ctx(1), &mut rng), Next::Op { .. }));
        assert_eq!(g.next(&ctx(0), &mut rng), Next::Done);
    }

    #[test]
    fn weighted_pick_never_picks_a_zero_weight() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            assert_ne!(pick_weighted(&[3, 0, 1], &mut rng), 1);
        }
    }
}
