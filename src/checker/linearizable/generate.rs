//! Seeded random histories of a linearizable object, for property tests and
//! benchmarks.
//!
//! [`random_history`] simulates `concurrency` client processes against one
//! in-memory object per key. Each op is invoked, then takes effect atomically
//! at a random later step (its linearization point), then completes `ok`
//! with the result. Some ops fail before taking effect (`fail`), some crash
//! before or after taking effect (`info`; the process then continues under a
//! new number, as in Jepsen), and ops still open at the end have no
//! completion. Every history it produces is therefore linearizable for the
//! model with `init` [`GenOptions::init`] and `nil_read` empty.

use super::ModelKind;
use crate::history::{History, Key, Op, OpType, Process};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// What [`random_history`] generates.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// The model whose operations are generated.
    pub model: ModelKind,
    /// Number of invokes.
    pub ops: usize,
    /// Number of keys (ops carry `key` when more than 1; multi-register
    /// uses registers `x`, `y`, `z` and no key).
    pub keys: usize,
    /// Concurrent client processes.
    pub concurrency: usize,
    /// Register values are drawn from `0..values`.
    pub values: u32,
    /// Probability that an op ends `info` (crash), before or after taking effect.
    pub p_info: f64,
    /// Probability that an op fails without taking effect.
    pub p_fail: f64,
    /// The seed: equal options give equal histories.
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            model: ModelKind::CasRegister,
            ops: 1000,
            keys: 1,
            concurrency: 5,
            values: 5,
            p_info: 0.02,
            p_fail: 0.02,
            seed: 0,
        }
    }
}

impl GenOptions {
    /// The initial value the generated history assumes (pass it as
    /// `LinearizableOptions::init`).
    pub fn init(&self) -> Value {
        match self.model {
            ModelKind::Register | ModelKind::CasRegister => json!(0),
            ModelKind::Kv => json!(""),
            ModelKind::MultiRegister => json!({"x": 0, "y": 0, "z": 0}),
            ModelKind::Mutex => Value::Null,
        }
    }
}

#[derive(Clone)]
enum Obj {
    Reg(Value),
    Str(String),
    Multi([i64; 3]),
    Lock(bool),
}

enum Phase {
    Idle,
    /// Invoked, not yet taken effect.
    Pending(Op),
    /// Taken effect with this completion value.
    Applied(Op, Value),
}

/// A seeded random linearizable history; see the module docs.
pub fn random_history(o: &GenOptions) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let keys = o.keys.max(1);
    let conc = o.concurrency.max(1);
    let init = match o.model {
        ModelKind::Register | ModelKind::CasRegister => Obj::Reg(json!(0)),
        ModelKind::Kv => Obj::Str(String::new()),
        ModelKind::MultiRegister => Obj::Multi([0; 3]),
        ModelKind::Mutex => Obj::Lock(false),
    };
    let mut objs = vec![init; keys];
    let mut phase: Vec<Phase> = (0..conc).map(|_| Phase::Idle).collect();
    let mut proc_no: Vec<u64> = (0..conc as u64).collect();
    let mut out: Vec<Op> = Vec::with_capacity(o.ops * 2 + conc);
    let mut invoked = 0usize;
    let mut time = 0u64;
    let mut counter = 0u64;
    let regs = ["x", "y", "z"];
    while invoked < o.ops || phase.iter().any(|p| !matches!(p, Phase::Idle)) {
        let p = rng.gen_range(0..conc);
        time += rng.gen_range(1..1000);
        let current = std::mem::replace(&mut phase[p], Phase::Idle);
        phase[p] = match current {
            Phase::Idle => {
                if invoked >= o.ops {
                    continue;
                }
                invoked += 1;
                let k = rng.gen_range(0..keys);
                let r: f64 = rng.gen();
                let v = rng.gen_range(0..o.values.max(1));
                let (f, value) = match o.model {
                    ModelKind::Register | ModelKind::CasRegister => {
                        if r < 0.5 {
                            ("read", Value::Null)
                        } else if r < 0.75 || o.model == ModelKind::Register {
                            ("write", json!(v))
                        } else {
                            ("cas", json!([rng.gen_range(0..o.values.max(1)), v]))
                        }
                    }
                    ModelKind::Kv => {
                        counter += 1;
                        if r < 0.5 {
                            ("get", Value::Null)
                        } else if r < 0.9 {
                            ("append", json!(format!("x {p} {counter} y")))
                        } else {
                            ("put", json!(format!("p{counter}")))
                        }
                    }
                    ModelKind::MultiRegister => {
                        let n = rng.gen_range(1..=3);
                        let micros: Vec<Value> = (0..n)
                            .map(|_| {
                                let reg = regs[rng.gen_range(0..3)];
                                if rng.gen_bool(0.5) {
                                    json!(["read", reg, null])
                                } else {
                                    json!(["write", reg, rng.gen_range(0..o.values.max(1))])
                                }
                            })
                            .collect();
                        ("txn", Value::Array(micros))
                    }
                    ModelKind::Mutex => (
                        if rng.gen_bool(0.5) {
                            "acquire"
                        } else {
                            "release"
                        },
                        Value::Null,
                    ),
                };
                let mut op = Op::invoke(Process::Client(proc_no[p]), f, value);
                if keys > 1 && o.model != ModelKind::MultiRegister {
                    op.key = Some(Key::Int(k as i64));
                }
                op.time = time;
                out.push(op.clone());
                Phase::Pending(op)
            }
            Phase::Pending(inv) => {
                let r: f64 = rng.gen();
                if r < o.p_fail {
                    out.push(Op {
                        time,
                        ..inv.complete(OpType::Fail, inv.value.clone())
                    });
                    Phase::Idle
                } else if r < o.p_fail + o.p_info / 2.0 {
                    out.push(Op {
                        time,
                        ..inv.complete(OpType::Info, inv.value.clone())
                    });
                    proc_no[p] += conc as u64;
                    Phase::Idle
                } else {
                    let k = match &inv.key {
                        Some(Key::Int(k)) => *k as usize,
                        _ => 0,
                    };
                    match apply(&mut objs[k], &inv) {
                        Some(result) => Phase::Applied(inv, result),
                        None => {
                            // cas compare failed, lock not available: a
                            // definite failure that changed nothing.
                            out.push(Op {
                                time,
                                ..inv.complete(OpType::Fail, inv.value.clone())
                            });
                            Phase::Idle
                        }
                    }
                }
            }
            Phase::Applied(inv, result) => {
                if rng.gen::<f64>() < o.p_info / 2.0 {
                    out.push(Op {
                        time,
                        ..inv.complete(OpType::Info, inv.value.clone())
                    });
                    proc_no[p] += conc as u64;
                } else {
                    out.push(Op {
                        time,
                        ..inv.complete(OpType::Ok, result)
                    });
                }
                Phase::Idle
            }
        };
        if invoked >= o.ops && out.len() > o.ops * 2 + 4 * conc {
            break; // safety: never loop forever
        }
    }
    History::new(out)
}

/// Take effect on the object; the completion value, or `None` for a
/// definite failure.
fn apply(obj: &mut Obj, inv: &Op) -> Option<Value> {
    match (obj, inv.f.as_str()) {
        (Obj::Reg(v), "read") => Some(v.clone()),
        (Obj::Reg(v), "write") => {
            *v = inv.value.clone();
            Some(inv.value.clone())
        }
        (Obj::Reg(v), "cas") => {
            if *v == inv.value[0] {
                *v = inv.value[1].clone();
                Some(inv.value.clone())
            } else {
                None
            }
        }
        (Obj::Str(s), "get") => Some(json!(s.clone())),
        (Obj::Str(s), "append") => {
            s.push_str(inv.value.as_str().unwrap_or(""));
            Some(inv.value.clone())
        }
        (Obj::Str(s), "put") => {
            *s = inv.value.as_str().unwrap_or("").to_string();
            Some(inv.value.clone())
        }
        (Obj::Multi(regs), "txn") => {
            let mut done = Vec::new();
            for m in inv.value.as_array().into_iter().flatten() {
                let i = match m[1].as_str() {
                    Some("x") => 0,
                    Some("y") => 1,
                    _ => 2,
                };
                if m[0] == "read" {
                    done.push(json!(["read", m[1], regs[i]]));
                } else {
                    regs[i] = m[2].as_i64().unwrap_or(0);
                    done.push(m.clone());
                }
            }
            Some(Value::Array(done))
        }
        (Obj::Lock(l), "acquire") => (!*l).then(|| {
            *l = true;
            Value::Null
        }),
        (Obj::Lock(l), "release") => (*l).then(|| {
            *l = false;
            Value::Null
        }),
        _ => None,
    }
}
