//! The sequential models the search checks against, and their compilation
//! into compact integer form.
//!
//! Every model state and every op argument is *interned* into a `u32`, so the
//! search hashes and compares states as integers. Semantics, per model:
//!
//! - `register`: `read` (completion value = value read) is legal iff it equals
//!   the state; `write v` sets the state to `v`.
//! - `cas-register`: the register plus `cas [from, to]`, legal iff the state
//!   is `from`, then sets it to `to`.
//! - `kv` (Porcupine's): one string per key starting at `init` (default `""`);
//!   `get` must return the state, `put v` sets it, `append v` concatenates.
//!   `read`/`write` are accepted as aliases of `get`/`put`.
//! - `multi-register`: `txn` whose value is a list of `[f, k, v]` micro-ops
//!   (`f` = `read`/`r` or `write`/`w`) over several registers, applied
//!   atomically in order; `init` is an object `{k: v}` (absent registers start
//!   at `null`) or one value for every register.
//! - `mutex`: starts unlocked (`init` `null`, `false` or `"unlocked"`; `true`
//!   or `"locked"` starts locked); `acquire` is legal only when unlocked,
//!   `release` only when locked.
//!
//! Values compare exactly, by the rule of [`crate::history::exact`]:
//! integers and decimals by exact value at any size, an integer never equal
//! to a decimal. kv strings compare byte for byte.
//!
//! A `null` read ([`NilRead`]): with `empty` it is an ordinary value (the
//! register holds nothing, `null`; for `kv`, the empty string); with `any`
//! the value is unknown and the read matches every state. A read that
//! completes `info` (or never) has no known value either and constrains
//! nothing, so it is dropped; a `fail` op is always dropped.

use crate::checker::CheckError;
use crate::history::exact::exact_text;
use crate::history::{Op, OpType};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// Which sequential object the history is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// read / write.
    Register,
    /// read / write / cas.
    CasRegister,
    /// Porcupine's key-value store: get / put / append on strings.
    Kv,
    /// `txn` of read and write micro-ops over several registers, atomic.
    MultiRegister,
    /// acquire / release.
    Mutex,
}

impl ModelKind {
    /// Every model, for help texts.
    pub const ALL: [ModelKind; 5] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::MultiRegister,
        ModelKind::Mutex,
    ];

    /// The model's name as written on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Mutex => "mutex",
        }
    }

    /// What the model is called in an explanation ("the register could hold").
    pub fn noun(&self) -> &'static str {
        match self {
            ModelKind::Register | ModelKind::CasRegister => "the register",
            ModelKind::Kv => "the key",
            ModelKind::MultiRegister => "the registers",
            ModelKind::Mutex => "the mutex",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown model {s:?}: expected register, cas-register, kv, multi-register or mutex")
            })
    }
}

/// What a read that returned `null` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NilRead {
    /// The register holds nothing (`null` is an ordinary value; for `kv`, the
    /// empty string). Jepsen's etcd histories need this.
    #[default]
    Empty,
    /// The value is unknown: the read matches any state. Knossos' histories
    /// need this.
    Any,
}

impl fmt::Display for NilRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NilRead::Empty => "empty",
            NilRead::Any => "any",
        })
    }
}

impl FromStr for NilRead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "empty" => Ok(NilRead::Empty),
            "any" => Ok(NilRead::Any),
            _ => Err(format!("unknown nil-read {s:?}: expected empty or any")),
        }
    }
}

/// One op compiled for the search: what it does to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Legal iff the state is this value; leaves it unchanged.
    Read(u32),
    /// Sets the state.
    Write(u32),
    /// Legal iff the state is `.0`; sets it to `.1`.
    Cas(u32, u32),
    /// Mutex: unlocked (0) → locked (1).
    Acquire,
    /// Mutex: locked (1) → unlocked (0).
    Release,
    /// kv: `get` returned the interned string `.0`.
    KvGet(u32),
    /// kv: `put` the interned string `.0`.
    KvPut(u32),
    /// kv: the `.0`-th append of the partition (see [`Machine`]).
    Append(u32),
    /// multi-register: the interned transaction `.0`.
    Txn(u32),
}

/// One op of a partition, as the search sees it.
#[derive(Debug, Clone)]
pub(crate) struct PartOp {
    /// What it does.
    pub step: Step,
    /// Position of the invoke in the history (real-time order).
    pub call: u64,
    /// Position of the completion, `u64::MAX` for info / pending ops.
    pub ret: u64,
    /// Index of the (invoke, completion) pair in `History::pairs()`.
    pub pair: usize,
}

/// A micro-op of a multi-register transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Micro {
    write: bool,
    reg: u32,
    /// Interned value; `None` = a read whose value is unknown.
    val: Option<u32>,
}

const NONE: u32 = u32::MAX;

/// The per-partition state machine: interned values and memoized
/// transitions for the models whose states are built during the search.
#[derive(Clone)]
pub(crate) struct Machine {
    kind: ModelKind,
    /// Interned JSON values (register, cas-register, multi-register values)
    /// or strings (kv), by their text.
    values: Vec<String>,
    value_ids: FxHashMap<String, u32>,
    /// kv: every append of the partition: (string, call, return).
    apps: Vec<(u32, u64, u64)>,
    /// kv states: (determined prefix, appends applied after it whose order
    /// is not decided yet, sorted).
    kstates: Vec<(u32, Box<[u32]>)>,
    kstate_ids: FxHashMap<(u32, Box<[u32]>), u32>,
    /// kv: (state, append) → state and (state, get value) → legal.
    app_memo: FxHashMap<(u32, u32), u32>,
    get_memo: FxHashMap<(u32, u32), bool>,
    /// multi-register: register names, transactions, tuple states.
    regs: Vec<String>,
    reg_ids: FxHashMap<String, u32>,
    txns: Vec<Vec<Micro>>,
    tuples: Vec<Box<[u32]>>,
    tuple_ids: FxHashMap<Box<[u32]>, u32>,
    txn_memo: FxHashMap<(u32, u32), u32>,
    /// Bytes held by interned data, for the memory budget.
    bytes: usize,
    /// The initial state.
    pub init: u32,
}

impl Machine {
    fn new(kind: ModelKind) -> Self {
        Machine {
            kind,
            values: Vec::new(),
            value_ids: FxHashMap::default(),
            apps: Vec::new(),
            kstates: Vec::new(),
            kstate_ids: FxHashMap::default(),
            app_memo: FxHashMap::default(),
            get_memo: FxHashMap::default(),
            regs: Vec::new(),
            reg_ids: FxHashMap::default(),
            txns: Vec::new(),
            tuples: Vec::new(),
            tuple_ids: FxHashMap::default(),
            txn_memo: FxHashMap::default(),
            bytes: 0,
            init: 0,
        }
    }

    /// Approximate heap bytes held (for the memory budget).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn intern_text(&mut self, text: String) -> u32 {
        if let Some(&id) = self.value_ids.get(&text) {
            return id;
        }
        let id = self.values.len() as u32;
        self.bytes += 2 * text.len() + 64;
        self.values.push(text.clone());
        self.value_ids.insert(text, id);
        id
    }

    /// Interns a JSON value by its exact canonical text ([`exact_text`]),
    /// so values compare as the history wrote them (`18446744073709551617`
    /// ≠ `18446744073709551616`, `1` ≠ `1.0`, `1.0` = `1e0`); explanations
    /// show the value as first written.
    fn intern_json(&mut self, v: &Value) -> u32 {
        let key = exact_text(v);
        if let Some(&id) = self.value_ids.get(&key) {
            return id;
        }
        let id = self.values.len() as u32;
        let shown = v.to_string();
        self.bytes += key.len() + shown.len() + 64;
        self.values.push(shown);
        self.value_ids.insert(key, id);
        id
    }

    fn intern_reg(&mut self, k: &Value) -> u32 {
        let text = match k {
            Value::String(s) => s.clone(),
            other => exact_text(other),
        };
        if let Some(&id) = self.reg_ids.get(&text) {
            return id;
        }
        let id = self.regs.len() as u32;
        self.regs.push(text.clone());
        self.reg_ids.insert(text, id);
        id
    }

    fn intern_tuple(&mut self, t: Box<[u32]>) -> u32 {
        if let Some(&id) = self.tuple_ids.get(&t) {
            return id;
        }
        let id = self.tuples.len() as u32;
        self.bytes += 8 * t.len() + 64;
        self.tuples.push(t.clone());
        self.tuple_ids.insert(t, id);
        id
    }

    fn intern_kstate(&mut self, prefix: u32, pending: Box<[u32]>) -> u32 {
        let k = (prefix, pending);
        if let Some(&id) = self.kstate_ids.get(&k) {
            return id;
        }
        let id = self.kstates.len() as u32;
        self.bytes += 8 * k.1.len() + 96;
        self.kstates.push(k.clone());
        self.kstate_ids.insert(k, id);
        id
    }

    /// Can `get` return `value` in kv state `state`? It can iff `value` is
    /// the state's prefix followed by every pending append, in an order
    /// that respects real time among them (an append that returned before
    /// another was invoked comes first).
    fn kv_get(&mut self, state: u32, value: u32) -> bool {
        if let Some(&ok) = self.get_memo.get(&(state, value)) {
            return ok;
        }
        let (prefix, pending) = &self.kstates[state as usize];
        let v = self.values[value as usize].as_bytes();
        let p = self.values[*prefix as usize].as_bytes();
        let ok = if !v.starts_with(p) {
            false
        } else if pending.is_empty() {
            v.len() == p.len()
        } else {
            let total: usize = pending
                .iter()
                .map(|&a| self.values[self.apps[a as usize].0 as usize].len())
                .sum();
            if p.len() + total != v.len() {
                false
            } else {
                let mut used = vec![false; pending.len()];
                let mut dead = rustc_hash::FxHashSet::default();
                self.arrange(&v[p.len()..], pending, &mut used, &mut dead)
            }
        };
        self.get_memo.insert((state, value), ok);
        self.bytes += 24;
        ok
    }

    /// Depth-first: can `rest` be spelled by the unused pending appends in
    /// a real-time-consistent order? `dead` memoizes used-sets that fail
    /// (identical strings would otherwise make this factorial).
    fn arrange(
        &self,
        rest: &[u8],
        pending: &[u32],
        used: &mut Vec<bool>,
        dead: &mut rustc_hash::FxHashSet<Vec<bool>>,
    ) -> bool {
        if rest.is_empty() {
            return used.iter().all(|u| *u);
        }
        if dead.contains(used) {
            return false;
        }
        for i in 0..pending.len() {
            if used[i] {
                continue;
            }
            let (text, call, _) = self.apps[pending[i] as usize];
            let t = self.values[text as usize].as_bytes();
            if !rest.starts_with(t) {
                continue;
            }
            // Every unused append that returned before this one was
            // invoked must come first.
            let blocked = (0..pending.len())
                .any(|j| !used[j] && j != i && self.apps[pending[j] as usize].2 < call);
            if blocked {
                continue;
            }
            used[i] = true;
            let ok = self.arrange(&rest[t.len()..], pending, used, dead);
            used[i] = false;
            if ok {
                return true;
            }
        }
        dead.insert(used.clone());
        false
    }

    /// Whether `step` is a pure read: in every state where it is legal it
    /// leaves that state unchanged (a read, a cas from a value to itself, a
    /// transaction of reads only). Only such ops may be linearized greedily:
    /// a write of the current value is not pure, since placed later (after
    /// another write) it would change the state.
    pub fn is_pure(&self, step: Step) -> bool {
        match step {
            Step::Read(_) | Step::KvGet(_) => true,
            Step::Cas(from, to) => from == to,
            Step::Txn(t) => self.txns[t as usize].iter().all(|m| !m.write),
            Step::Write(_) | Step::Acquire | Step::Release | Step::KvPut(_) | Step::Append(_) => {
                false
            }
        }
    }

    /// The state after `step` from `state`, or `None` when illegal.
    #[inline]
    pub fn step(&mut self, state: u32, step: Step) -> Option<u32> {
        match step {
            Step::Read(v) => (state == v).then_some(state),
            Step::Write(v) => Some(v),
            Step::Cas(from, to) => (state == from).then_some(to),
            Step::Acquire => (state == 0).then_some(1),
            Step::Release => (state == 1).then_some(0),
            Step::KvGet(v) => {
                let (prefix, pending) = &self.kstates[state as usize];
                if pending.is_empty() {
                    return (*prefix == v).then_some(state);
                }
                if self.kv_get(state, v) {
                    Some(self.intern_kstate(v, Box::new([])))
                } else {
                    None
                }
            }
            Step::KvPut(v) => Some(self.intern_kstate(v, Box::new([]))),
            Step::Append(a) => {
                if let Some(&s) = self.app_memo.get(&(state, a)) {
                    return Some(s);
                }
                let (prefix, pending) = &self.kstates[state as usize];
                let prefix = *prefix;
                let mut next: Vec<u32> = pending.to_vec();
                let at = next.partition_point(|&x| x < a);
                next.insert(at, a);
                let s = self.intern_kstate(prefix, next.into_boxed_slice());
                self.app_memo.insert((state, a), s);
                self.bytes += 24;
                Some(s)
            }
            Step::Txn(t) => {
                if let Some(&s) = self.txn_memo.get(&(state, t)) {
                    return (s != NONE).then_some(s);
                }
                let mut regs: Box<[u32]> = self.tuples[state as usize].clone();
                let mut legal = true;
                for m in &self.txns[t as usize] {
                    if m.write {
                        if let Some(v) = m.val {
                            regs[m.reg as usize] = v;
                        }
                    } else if let Some(v) = m.val {
                        if regs[m.reg as usize] != v {
                            legal = false;
                            break;
                        }
                    }
                }
                let s = if legal { self.intern_tuple(regs) } else { NONE };
                self.txn_memo.insert((state, t), s);
                self.bytes += 24;
                (s != NONE).then_some(s)
            }
        }
    }

    /// A state in words: `3`, `"x 0 0 y"`, `locked`, `{x=0, y=1}`.
    pub fn describe(&self, state: u32) -> String {
        match self.kind {
            ModelKind::Mutex => if state == 1 { "locked" } else { "unlocked" }.to_string(),
            ModelKind::Kv => {
                let (prefix, pending) = &self.kstates[state as usize];
                let p = shorten(&format!("{:?}", self.values[*prefix as usize]));
                if pending.is_empty() {
                    p
                } else {
                    let apps: Vec<String> = pending
                        .iter()
                        .map(|&a| {
                            shorten(&format!(
                                "{:?}",
                                self.values[self.apps[a as usize].0 as usize]
                            ))
                        })
                        .collect();
                    format!(
                        "{p} followed by appends {} (in an order real time allows)",
                        apps.join(", ")
                    )
                }
            }
            ModelKind::Register | ModelKind::CasRegister => shorten(&self.values[state as usize]),
            ModelKind::MultiRegister => {
                let t = &self.tuples[state as usize];
                let parts: Vec<String> = self
                    .regs
                    .iter()
                    .zip(t.iter())
                    .map(|(r, v)| format!("{r}={}", self.values[*v as usize]))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }
}

/// Long values (kv strings grow with every append) are cut in explanations.
fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let tail: String = {
            let v: Vec<char> = s.chars().collect();
            v[v.len() - 60..].iter().collect()
        };
        let head: String = s.chars().take(40).collect();
        format!("{head}…{tail} ({} chars)", s.chars().count())
    }
}

/// One (invoke, completion) pair of client ops, with their positions in the
/// history (positions, not `index` fields, define real-time order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair<'a> {
    /// Position of this pair in invoke order over the whole history.
    pub ix: usize,
    /// The invoke.
    pub inv: &'a Op,
    /// The completion, if any.
    pub comp: Option<&'a Op>,
    /// Position of the invoke in `History::ops`.
    pub call: u64,
    /// Position of the completion in `History::ops`.
    pub ret: Option<u64>,
}

/// A micro-op before its value is interned: (write, register, value).
type RawMicro = (bool, u32, Option<Value>);

/// Compile the client ops of one partition into a [`Machine`] and the ops
/// the search must place. `pairs` are in invoke order.
pub(crate) fn compile(
    kind: ModelKind,
    init: &Value,
    nil_read: NilRead,
    pairs: &[Pair<'_>],
) -> Result<(Machine, Vec<PartOp>), CheckError> {
    let mut m = Machine::new(kind);
    let mut ops = Vec::with_capacity(pairs.len());
    // Registers of a multi-register are known only after reading every txn.
    let mut txn_raw: Vec<(usize, Vec<RawMicro>)> = Vec::new();
    match kind {
        ModelKind::Register | ModelKind::CasRegister => m.init = m.intern_json(init),
        ModelKind::Kv => {
            let prefix = match init {
                Value::Null => m.intern_text(String::new()),
                Value::String(s) => m.intern_text(s.clone()),
                other => {
                    return Err(CheckError::Config(format!(
                        "kv model: init must be a string (or null for \"\"), not {other}"
                    )))
                }
            };
            m.init = m.intern_kstate(prefix, Box::new([]));
        }
        ModelKind::Mutex => {
            m.init = match init {
                Value::Null | Value::Bool(false) => 0,
                Value::Bool(true) => 1,
                Value::String(s) if s == "unlocked" => 0,
                Value::String(s) if s == "locked" => 1,
                other => {
                    return Err(CheckError::Config(format!(
                        "mutex model: init must be null, false, \"unlocked\", true or \"locked\", not {other}"
                    )))
                }
            }
        }
        ModelKind::MultiRegister => {
            if let Value::Object(map) = init {
                for k in map.keys() {
                    m.intern_reg(&Value::String(k.clone()));
                }
            }
        }
    }

    for p in pairs {
        let (inv, comp) = (p.inv, p.comp);
        let outcome = comp.map(|c| c.kind).unwrap_or(OpType::Info);
        if outcome == OpType::Fail {
            continue;
        }
        let done = outcome == OpType::Ok;
        let call = p.call;
        let ret = if done {
            p.ret.unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        // The argument: the invoke's value, or the completion's when the
        // invoke carries none.
        let arg = if inv.value.is_null() {
            comp.map(|c| &c.value).unwrap_or(&inv.value)
        } else {
            &inv.value
        };
        let bad = |reason: String| CheckError::BadOp {
            index: inv.index,
            reason,
        };
        let step = match (kind, inv.f.as_str()) {
            (ModelKind::Register | ModelKind::CasRegister, "read")
            | (ModelKind::Kv, "get" | "read") => {
                if !done {
                    continue; // unknown value, may never have happened: no constraint
                }
                let v = comp.map(|c| &c.value).unwrap_or(&Value::Null);
                match (v, nil_read) {
                    (Value::Null, NilRead::Any) => continue, // matches every state
                    (Value::Null, NilRead::Empty) if kind == ModelKind::Kv => {
                        Step::KvGet(m.intern_text(String::new()))
                    }
                    (Value::String(s), _) if kind == ModelKind::Kv => {
                        Step::KvGet(m.intern_text(s.clone()))
                    }
                    (other, _) if kind == ModelKind::Kv => {
                        return Err(bad(format!(
                            "kv get returned {other}, expected a string or null"
                        )))
                    }
                    (v, _) => Step::Read(m.intern_json(v)),
                }
            }
            (ModelKind::Register | ModelKind::CasRegister, "write") => {
                Step::Write(m.intern_json(arg))
            }
            (ModelKind::CasRegister, "cas") => match arg {
                Value::Array(a) if a.len() == 2 => {
                    let from = m.intern_json(&a[0]);
                    Step::Cas(from, m.intern_json(&a[1]))
                }
                other => return Err(bad(format!("cas value must be [from, to], not {other}"))),
            },
            (ModelKind::Kv, "put" | "write" | "append") => {
                let s = match arg {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => {
                        return Err(bad(format!(
                            "kv {} value must be a string, not {other}",
                            inv.f
                        )))
                    }
                };
                let id = m.intern_text(s);
                if inv.f == "append" {
                    m.apps.push((id, call, ret));
                    Step::Append(m.apps.len() as u32 - 1)
                } else {
                    Step::KvPut(id)
                }
            }
            (ModelKind::Mutex, "acquire") => Step::Acquire,
            (ModelKind::Mutex, "release") => Step::Release,
            (ModelKind::MultiRegister, "txn") => {
                // The completion carries the values read; an indeterminate
                // txn's reads are unknown.
                let body = if done {
                    comp.map(|c| &c.value)
                        .filter(|v| !v.is_null())
                        .unwrap_or(&inv.value)
                } else {
                    &inv.value
                };
                let Value::Array(micros) = body else {
                    return Err(bad(format!(
                        "txn value must be a list of [f, k, v], not {body}"
                    )));
                };
                let mut raw = Vec::with_capacity(micros.len());
                for mo in micros {
                    let (f, k, v) = match mo {
                        Value::Array(x) if x.len() == 3 => (&x[0], &x[1], &x[2]),
                        other => {
                            return Err(bad(format!("txn micro-op must be [f, k, v], not {other}")))
                        }
                    };
                    let write = match f.as_str() {
                        Some("read" | "r") => false,
                        Some("write" | "w") => true,
                        _ => {
                            return Err(bad(format!(
                                "txn micro-op function must be read/r or write/w, not {f}"
                            )))
                        }
                    };
                    let reg = m.intern_reg(k);
                    let val = if write {
                        Some(v.clone())
                    } else if !done || (v.is_null() && nil_read == NilRead::Any) {
                        None
                    } else {
                        Some(v.clone())
                    };
                    raw.push((write, reg, val));
                }
                if !raw.iter().any(|(w, _, v)| *w || v.is_some()) {
                    continue; // reads of unknown values only: no constraint
                }
                txn_raw.push((ops.len(), raw));
                Step::Txn(0) // patched below, once every register is known
            }
            (_, f) => {
                return Err(bad(format!(
                    "the {kind} model has no operation {f:?} (expected {})",
                    match kind {
                        ModelKind::Register => "read, write",
                        ModelKind::CasRegister => "read, write, cas",
                        ModelKind::Kv => "get, put, append",
                        ModelKind::MultiRegister => "txn",
                        ModelKind::Mutex => "acquire, release",
                    }
                )))
            }
        };
        ops.push(PartOp {
            step,
            call,
            ret,
            pair: p.ix,
        });
    }

    if kind == ModelKind::MultiRegister {
        let init_tuple: Box<[u32]> = (0..m.regs.len())
            .map(|r| {
                let v = match init {
                    Value::Object(map) => map.get(&m.regs[r]).cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                m.intern_json(&v)
            })
            .collect();
        m.init = m.intern_tuple(init_tuple);
        for (op_ix, raw) in txn_raw {
            let micros = raw
                .into_iter()
                .map(|(write, reg, val)| Micro {
                    write,
                    reg,
                    val: val.map(|v| m.intern_json(&v)),
                })
                .collect();
            let t = m.txns.len() as u32;
            m.txns.push(micros);
            ops[op_ix].step = Step::Txn(t);
        }
    }
    Ok((m, ops))
}
