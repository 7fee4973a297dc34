//! Property tests of the linearizability checker.
//!
//! - Accept: histories generated from a sequential model with random
//!   concurrency, failures and info ops
//!   ([`generate::random_history`]) check valid, for every model.
//! - Reject: the same histories with one ok read changed to return a value
//!   no op ever wrote check invalid.
//! - Oracle: small random histories, linearizable or not, get the verdict a
//!   brute-force enumeration of every linearization gives (register and
//!   cas-register, writes of the current value included).
//! - Regression: a write of the value the register already holds must not be
//!   linearized greedily (it is not a pure read: placed later, after another
//!   write, it changes the state).

use faultline::checker::linearizable::generate::{random_history, GenOptions};
use faultline::checker::linearizable::{Linearizable, LinearizableOptions, ModelKind, NilRead};
use faultline::checker::Validity;
use faultline::history::{History, Key, Op, OpType, Process};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

fn options(g: &GenOptions) -> LinearizableOptions {
    LinearizableOptions {
        model: g.model,
        init: g.init(),
        nil_read: NilRead::Empty,
        time_limit: Some(Duration::from_secs(10)),
        all_keys: true,
        ..Default::default()
    }
}

fn check(g: &GenOptions, h: &History) -> faultline::checker::linearizable::LinearizableReport {
    Linearizable(options(g))
        .analyze(h)
        .unwrap_or_else(|e| panic!("{g:?}: check error {e}"))
}

fn model() -> impl Strategy<Value = ModelKind> {
    prop_oneof![
        Just(ModelKind::Register),
        Just(ModelKind::CasRegister),
        Just(ModelKind::Kv),
        Just(ModelKind::MultiRegister),
        Just(ModelKind::Mutex),
    ]
}

/// Generator options: up to 300 ops, 1–12 processes, 1–3 keys, a small
/// value range (so writes of the current value are common), up to 20 %
/// info and fail each.
fn gen_options(model: impl Strategy<Value = ModelKind>) -> impl Strategy<Value = GenOptions> {
    gen_sized(model, 300, 13, 0.2)
}

/// Generator options bounded in size, concurrency and info probability.
fn gen_sized(
    model: impl Strategy<Value = ModelKind>,
    max_ops: usize,
    max_conc: usize,
    max_info: f64,
) -> impl Strategy<Value = GenOptions> {
    (
        model,
        1usize..max_ops,
        1usize..4,
        1usize..max_conc,
        1u32..6,
        0.0f64..max_info,
        0.0f64..0.2,
        any::<u64>(),
    )
        .prop_map(
            |(model, ops, keys, concurrency, values, p_info, p_fail, seed)| GenOptions {
                model,
                ops,
                keys,
                concurrency,
                values,
                p_info,
                p_fail,
                seed,
            },
        )
}

/// Positions of the ok completions of reads (kv gets, multi-register txns
/// with a read micro-op) — the ops a mutation can make lie.
fn ok_reads(h: &History) -> Vec<usize> {
    h.ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok)
        .filter(|(_, o)| match o.f.as_str() {
            "read" | "get" => true,
            "txn" => o
                .value
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m[0] == "read")),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect()
}

/// Make the read completed at `pos` return a value nothing ever wrote.
fn lie(h: &mut History, pos: usize) {
    let op = &mut h.ops[pos];
    match op.f.as_str() {
        "read" => op.value = json!(1_000_000),
        // Appended strings look like "x P N y", put ones like "pN".
        "get" => op.value = json!("never written"),
        "txn" => {
            if let Some(ms) = op.value.as_array_mut() {
                if let Some(m) = ms.iter_mut().find(|m| m[0] == "read") {
                    m[2] = json!(1_000_000);
                }
            }
        }
        f => panic!("not a read: {f}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Accept: every generated history is linearizable, so it is never
    /// judged invalid. It may be undecided only when the search ran out of
    /// time (a few generated histories with many concurrent `info` ops on
    /// one key are genuinely hard: 12.7 M configurations in 10 s for 111
    /// ops, 11 workers, 18 % info on a loaded machine), and then it says so.
    #[test]
    fn generated_histories_check_valid(g in gen_options(model())) {
        let h = random_history(&g);
        let r = check(&g, &h);
        prop_assert_ne!(r.valid, Validity::Invalid, "{:?}: {}", g, r.summary());
        if r.valid == Validity::Unknown {
            prop_assert!(r.summary().contains("time limit"), "{:?}: {}", g, r.summary());
        }
    }

    /// Reject: one read returning a never-written value makes it invalid,
    /// and the explanation names that very op.
    #[test]
    fn a_read_of_a_never_written_value_checks_invalid(
        g in gen_sized(prop_oneof![
            Just(ModelKind::Register),
            Just(ModelKind::CasRegister),
            Just(ModelKind::Kv),
            Just(ModelKind::MultiRegister),
        ], 150, 9, 0.05),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut h = random_history(&g);
        let reads = ok_reads(&h);
        prop_assume!(!reads.is_empty());
        let pos = reads[pick.index(reads.len())];
        lie(&mut h, pos);
        let r = check(&g, &h);
        prop_assert_eq!(r.valid, Validity::Invalid, "{:?}: mutated op {}: {}", g, pos, r.summary());
        let failure = r.keys.iter().find_map(|k| k.failure.as_ref());
        prop_assert!(failure.is_some(), "invalid without a failure report");
        // A lying read (or get) can be dropped from the original witness
        // without harm to the other ops, so the search gets stuck exactly at
        // its return. (A txn that also writes is not so: ops that read its
        // writes may be where the search stops.)
        if g.model != ModelKind::MultiRegister {
            prop_assert_eq!(failure.map(|f| f.op.complete_index), Some(Some(pos as u64)));
        }
    }
}

#[test]
fn large_generated_histories_with_many_keys_check_valid() {
    // Bigger than the proptest cases: many keys in parallel, high
    // concurrency, every model.
    for model in [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::MultiRegister,
        ModelKind::Mutex,
    ] {
        // multi-register has no keys: one partition, so fewer ops.
        let single = model == ModelKind::MultiRegister;
        let g = GenOptions {
            model,
            ops: if single { 2_000 } else { 20_000 },
            keys: 50,
            concurrency: 20,
            values: 3,
            p_info: 0.05,
            p_fail: 0.05,
            seed: 7,
        };
        let h = random_history(&g);
        let r = check(&g, &h);
        assert_eq!(r.valid, Validity::Valid, "{model}: {}", r.summary());
        if model != ModelKind::MultiRegister {
            assert_eq!(r.keys_total, 50, "{model}");
        }
    }
}

// ---------------------------------------------------------------------------
// Regression: writes of the current value are not greedy.

fn op(p: u64, kind: OpType, f: &str, value: Value) -> Op {
    let mut o = Op::invoke(Process::Client(p), f, value);
    o.kind = kind;
    o
}

/// `write 0` on a register holding 0 is legal now and leaves the state
/// alone, but it is not a pure read: the only linearization is
/// `write 1, write 0, read 0`. Linearizing it greedily at the start made the
/// search miss that and call this history invalid.
#[test]
fn regression_write_of_current_value_is_not_linearized_greedily() {
    use OpType::*;
    let h = History::new(vec![
        op(0, Invoke, "write", json!(0)),
        op(1, Invoke, "write", json!(1)),
        op(1, Ok, "write", json!(1)),
        op(2, Invoke, "read", Value::Null),
        op(2, Ok, "read", json!(0)),
        op(0, Ok, "write", json!(0)),
    ]);
    for model in [ModelKind::Register, ModelKind::CasRegister] {
        let o = LinearizableOptions {
            model,
            init: json!(0),
            ..Default::default()
        };
        let r = Linearizable(o).analyze(&h).unwrap();
        assert_eq!(r.valid, Validity::Valid, "{model}: {}", r.summary());
    }
    // The same with kv's put of the current string, and with a
    // multi-register txn writing the value x already holds.
    let mut kv = h.clone();
    for o in &mut kv.ops {
        o.key = Some(Key::Str("k".into()));
        o.f = match o.f.as_str() {
            "write" => "put".into(),
            _ => "get".into(),
        };
        if let Some(n) = o.value.as_i64() {
            o.value = json!(format!("v{n}"));
        }
    }
    let o = LinearizableOptions {
        model: ModelKind::Kv,
        init: json!("v0"),
        ..Default::default()
    };
    let r = Linearizable(o).analyze(&kv).unwrap();
    assert_eq!(r.valid, Validity::Valid, "kv: {}", r.summary());

    let mut multi = h.clone();
    for o in &mut multi.ops {
        let v = o.value.clone();
        o.value = match o.f.as_str() {
            "write" => json!([["write", "x", v]]),
            _ if o.kind == Ok => json!([["read", "x", v]]),
            _ => json!([["read", "x", null]]),
        };
        o.f = "txn".into();
    }
    let o = LinearizableOptions {
        model: ModelKind::MultiRegister,
        init: json!({"x": 0}),
        ..Default::default()
    };
    let r = Linearizable(o).analyze(&multi).unwrap();
    assert_eq!(r.valid, Validity::Valid, "multi-register: {}", r.summary());
}

/// The pure-read case of the greedy rule still rejects what it must: the
/// same shape with the read of 0 moved after `write 0` completed and a
/// later `write 1` read back as 0.
#[test]
fn regression_greedy_reads_still_reject_stale_reads() {
    use OpType::*;
    let h = History::new(vec![
        op(0, Invoke, "write", json!(0)),
        op(0, Ok, "write", json!(0)),
        op(1, Invoke, "write", json!(1)),
        op(1, Ok, "write", json!(1)),
        op(2, Invoke, "read", Value::Null),
        op(2, Ok, "read", json!(0)),
    ]);
    let o = LinearizableOptions {
        model: ModelKind::Register,
        init: json!(0),
        ..Default::default()
    };
    let r = Linearizable(o).analyze(&h).unwrap();
    assert_eq!(r.valid, Validity::Invalid, "{}", r.summary());
}

// ---------------------------------------------------------------------------
// Oracle: brute force on small histories.

/// One op for the oracle: interval in event positions, outcome, effect.
#[derive(Debug, Clone)]
struct Small {
    call: usize,
    /// `None`: info or never completed (may happen any time after call, or never).
    ret: Option<usize>,
    f: &'static str,
    /// write: the value; cas: from; read: the value read.
    a: i64,
    /// cas: to.
    b: i64,
}

/// Is there a linearization? Depth-first over (set placed, state), memoized.
fn brute_force(ops: &[Small], init: i64) -> bool {
    use std::collections::HashSet;
    fn go(ops: &[Small], placed: u32, state: i64, dead: &mut HashSet<(u32, i64)>) -> bool {
        // Done when every op that completed is placed.
        if ops
            .iter()
            .enumerate()
            .all(|(i, o)| placed & (1 << i) != 0 || o.ret.is_none())
        {
            return true;
        }
        if dead.contains(&(placed, state)) {
            return false;
        }
        // The earliest return among unplaced completed ops bounds the calls
        // that may go next.
        let bound = ops
            .iter()
            .enumerate()
            .filter(|(i, _)| placed & (1 << i) == 0)
            .filter_map(|(_, o)| o.ret)
            .min()
            .unwrap_or(usize::MAX);
        for (i, o) in ops.iter().enumerate() {
            if placed & (1 << i) != 0 || o.call > bound {
                continue;
            }
            let next = match o.f {
                "read" => (state == o.a).then_some(state),
                "write" => Some(o.a),
                "cas" => (state == o.a).then_some(o.b),
                _ => unreachable!(),
            };
            if let Some(s) = next {
                if go(ops, placed | (1 << i), s, dead) {
                    return true;
                }
            }
        }
        dead.insert((placed, state));
        false
    }
    go(ops, 0, init, &mut HashSet::new())
}

/// A random small history as (process, is_invoke, f, a, b, outcome) events:
/// each of up to 4 processes runs ops one after another; completions are
/// interleaved at random. Reads return random values (often wrong), so the
/// histories are a mix of linearizable and not.
#[derive(Debug, Clone)]
struct Plan {
    /// Per op: process, f index, a, b, outcome (0 ok, 1 fail, 2 info), and
    /// the scheduling choice that interleaves it.
    ops: Vec<(u64, u8, i64, i64, u8)>,
    /// Interleaving: at each step, which open op (by order) completes, or
    /// invoke the next op.
    schedule: Vec<u8>,
}

fn plan(cas: bool) -> impl Strategy<Value = Plan> {
    let fmax = if cas { 3u8 } else { 2u8 };
    (
        prop::collection::vec(
            (
                0u64..4,
                0..fmax,
                0i64..3,
                0i64..3,
                prop_oneof![8 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)],
            ),
            1..10,
        ),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(ops, schedule)| Plan { ops, schedule })
}

/// Build the history and the oracle's view of it. Processes that end `info`
/// continue under a new number.
fn build(p: &Plan) -> (History, Vec<Small>) {
    let mut events: Vec<Op> = Vec::new();
    let mut smalls: Vec<Small> = Vec::new();
    // Open ops: (small index, process, completion op).
    let mut open: Vec<(usize, u64, Op)> = Vec::new();
    let mut next = 0usize;
    let mut proc_no = [0u64, 1, 2, 3];
    let mut sched = p.schedule.iter().copied();
    while next < p.ops.len() || !open.is_empty() {
        let choice = sched.next();
        let start_new = next < p.ops.len()
            && match choice {
                Some(c) => c % 2 == 0 || open.is_empty(),
                None => open.is_empty(),
            };
        if start_new {
            let (w, f, a, b, outcome) = p.ops[next];
            next += 1;
            let pr = proc_no[w as usize];
            if open.iter().any(|(_, q, _)| *q == pr) {
                continue; // that worker is busy: skip this op
            }
            let f = ["read", "write", "cas"][f as usize];
            let inv_value = match f {
                "read" => Value::Null,
                "write" => json!(a),
                _ => json!([a, b]),
            };
            let inv = Op::invoke(Process::Client(pr), f, inv_value.clone());
            events.push(inv.clone());
            let (kind, value) = match outcome {
                0 if f == "read" => (OpType::Ok, json!(a)),
                0 => (OpType::Ok, inv_value),
                1 => (OpType::Fail, inv_value),
                _ => (OpType::Info, inv_value),
            };
            smalls.push(Small {
                call: events.len() - 1,
                ret: None,
                f,
                a,
                b,
            });
            open.push((smalls.len() - 1, pr, inv.complete(kind, value)));
        } else if !open.is_empty() {
            let k = choice.map_or(0, |c| (c as usize / 2) % open.len());
            let (i, pr, comp) = open.remove(k);
            let pos = events.len();
            match comp.kind {
                OpType::Ok => smalls[i].ret = Some(pos),
                OpType::Fail => smalls[i].f = "failed",
                _ => {
                    // Info: the worker continues as a new process.
                    let w = proc_no.iter().position(|q| *q == pr).unwrap_or(0);
                    proc_no[w] += 4;
                }
            }
            events.push(comp);
        } else {
            break;
        }
    }
    let smalls: Vec<Small> = smalls.into_iter().filter(|s| s.f != "failed").collect();
    (History::new(events), smalls)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// The checker agrees with brute force, both ways, on small register
    /// histories where writes of the current value are common.
    #[test]
    fn register_verdict_matches_brute_force(p in plan(false)) {
        let (h, smalls) = build(&p);
        let expected = brute_force(&smalls, 0);
        let o = LinearizableOptions { model: ModelKind::Register, init: json!(0), ..Default::default() };
        let r = Linearizable(o).analyze(&h).unwrap();
        let want = if expected { Validity::Valid } else { Validity::Invalid };
        prop_assert_eq!(r.valid, want, "{:#?}\n{}", h.ops, r.summary());
    }

    /// The same for cas-register (cas from a value to itself is a pure read).
    #[test]
    fn cas_register_verdict_matches_brute_force(p in plan(true)) {
        let (h, smalls) = build(&p);
        let expected = brute_force(&smalls, 0);
        let o = LinearizableOptions { model: ModelKind::CasRegister, init: json!(0), ..Default::default() };
        let r = Linearizable(o).analyze(&h).unwrap();
        let want = if expected { Validity::Valid } else { Validity::Invalid };
        prop_assert_eq!(r.valid, want, "{:#?}\n{}", h.ops, r.summary());
    }
}
