//! How every workload turns client errors into completions, and that its
//! generator is a pure function of the seed.

use faultline::client::{KvClient, KvError, MicroOp};
use faultline::generator::{GenCtx, Next};
use faultline::history::{Op, OpType, Process};
use faultline::workload::{by_name, NAMES};
use rand::SeedableRng;
use serde_json::Value;
use std::time::Duration;

/// A client whose every call fails with one error.
struct Failing(KvError);

#[async_trait::async_trait]
impl KvClient for Failing {
    async fn read(&self, _: &str) -> Result<Option<Value>, KvError> {
        Err(self.0.clone())
    }
    async fn write(&self, _: &str, _: Value) -> Result<(), KvError> {
        Err(self.0.clone())
    }
    async fn cas(&self, _: &str, _: Value, _: Value) -> Result<bool, KvError> {
        Err(self.0.clone())
    }
    async fn txn(&self, _: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        Err(self.0.clone())
    }
}

/// The first `n` ops of `name`'s main generator for `seed`, 4 threads in turn.
fn ops(name: &str, seed: u64, n: usize) -> Vec<Op> {
    let w = by_name(name, &Value::Null).unwrap();
    let mut g = w.generator();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .filter_map(|i| {
            let ctx = GenCtx {
                elapsed: Duration::from_millis(i as u64),
                thread: i % 4,
                threads: 4,
            };
            match g.next(&ctx, &mut rng) {
                Next::Op { f, key, value } => {
                    let mut op = Op::invoke(Process::Client((i % 4) as u64), f, value);
                    op.key = key;
                    Some(op)
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn generators_depend_only_on_the_seed() {
    for name in NAMES {
        let a = ops(name, 1, 200);
        assert_eq!(a.len(), 200, "{name}: main generators never pause or end");
        assert_eq!(a, ops(name, 1, 200), "{name}");
        assert_ne!(a, ops(name, 2, 200), "{name}");
    }
}

#[tokio::test]
async fn definite_errors_fail_and_indefinite_ones_are_info() {
    for name in NAMES {
        let w = by_name(name, &Value::Null).unwrap();
        for op in ops(name, 3, 40) {
            let c = w
                .invoke(&Failing(KvError::Definite("no leader".into())), &op)
                .await;
            assert_eq!(c.kind, OpType::Fail, "{name} {}", op.f);
            assert!(c.error.unwrap().to_string().contains("no leader"));
            assert_eq!((c.process, &c.f, &c.key), (op.process, &op.f, &op.key));

            let c = w
                .invoke(&Failing(KvError::Indefinite("timed out".into())), &op)
                .await;
            // A bank transfer fails at its read step, before writing
            // anything: that is definitely no effect.
            let expected = if op.f == "transfer" {
                OpType::Fail
            } else {
                OpType::Info
            };
            assert_eq!(c.kind, expected, "{name} {}", op.f);
            assert!(c.error.unwrap().to_string().contains("timed out"));
            assert_eq!(c.value, op.value, "{name}: the attempted value is kept");
        }
    }
}

#[tokio::test]
async fn an_unknown_f_fails_without_calling_the_client() {
    for name in NAMES {
        let w = by_name(name, &Value::Null).unwrap();
        let op = Op::invoke(Process::Client(0), "frobnicate", Value::Null);
        let c = w
            .invoke(&Failing(KvError::Indefinite("called".into())), &op)
            .await;
        assert_eq!(c.kind, OpType::Fail, "{name}");
        assert!(
            c.error.unwrap().to_string().contains("frobnicate"),
            "{name}"
        );
    }
}
