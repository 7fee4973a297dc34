//! Availability and recovery, from the history and the fault intervals
//! alone: the share of client ops that completed `ok` per time window and
//! per fault interval, the time from every fault's end to the first `ok`
//! op after it, and the time from every loss of the leader (a kill, pause
//! or isolation of the node that led) to the first `ok` write.
//!
//! # Which ops count, and where
//!
//! - **Client ops only**, each paired with its completion. An invoke with
//!   no completion counts as `info` (it may have happened, or not). A
//!   completion without an invoke is ignored (the checkers report the
//!   malformed history).
//! - **Main phase only.** Faults happen in the main phase; the heal,
//!   recovery and final phases come after it, on a healed cluster, and the
//!   final reads are unpaced and all succeed on a healthy cluster: counting
//!   them would raise the share of a run whose main phase was mostly down.
//!   An op counts when its invoke is in `[main.start, main.end)`. A history
//!   without phases (an imported one) is all main phase, from its first op
//!   to its last.
//! - **By invoke time.** An op is put in the window, and inside or outside
//!   the faults, by the time it was *invoked*: its fate was decided by the
//!   state of the cluster when it was sent. Counting by completion would
//!   move the timeouts of requests sent during a partition to after its
//!   heal, blaming the healed cluster for the fault, and an op with no
//!   completion has no completion time at all.
//! - **The share** is the share of ops the cluster *served*:
//!   `(ok + answered) / (ok + fail + info)`, where `answered` counts the
//!   `fail`s that are the system's answer to the op rather than a refusal
//!   to serve (a `cas` whose expected value did not match, a transfer
//!   refused for insufficient funds: `workload::common::is_answer`). Other
//!   fails (no leader, not the leader, unsupported) and every `info` count
//!   against it. So a healthy cluster's share is 1 whatever the workload,
//!   and a recovery ends at the first op served, answered fails included.
//!   A leader loss still waits for the first `ok` write: a write the
//!   cluster refused did not show it can commit.
//! - **Windows** split the main phase into spans of [`window_width`]: the
//!   main phase's length / 100 rounded up to a nice value (1, 2, 5, 10, 20,
//!   30 s, 1, 2, 5, 10, 20, 30 min, then whole hours), never under 1 s. So
//!   a 60 s run has 1 s windows, a 10 min run 10 s windows, and no run has
//!   more than 101. Windows sit on the clock's grid (`[k·w, (k+1)·w)`), the
//!   first and the last clipped to the main phase, so they may be shorter.
//! - **In force**: a fault is in force from its start op's completion to
//!   its stop op's completion (see [`crate::nemesis::intervals`]), or to
//!   the end of the main phase when it was never stopped. A fault whose
//!   start op did not complete `ok`, or that did nothing (its value says
//!   `skipped`, e.g. a kill of the leader on a cluster without one), is
//!   listed per fault but never in force: it did not count as a fault for
//!   `during_faults`, recoveries or leader losses.
//!
//! # Recovery
//!
//! For every fault in force that was healed inside the main phase (the
//! stop op's completion: `stop-partition`, `start` after a `kill`,
//! `resume` after a `pause`, `reset-clock`, `stop-loss`...), the time from
//! the heal to the completion of the first `ok` client op *invoked at or
//! after* the heal — of any `f`. This is Jepsen's "first successful op
//! after the heal": an op invoked before the heal that completes after it
//! was sent into the broken cluster and says little about the healed one
//! (it may have been served by the side that stayed up, or waited in a
//! queue through the fault). "First" is by completion: of the ops invoked
//! after the heal, the one whose `ok` came back first, which is when the
//! cluster was seen to serve again. `null` when no op invoked after the
//! heal, in the main phase, completed `ok`. Faults still in force when the
//! main phase ended are healed by the heal phase, with no client running
//! until the final reads: their recovery is not measured, only counted
//! ([`Availability::healed_after_main`]).
//!
//! Faults overlap: the recovery of a heal is measured from that heal even
//! when another fault is still in force (the next `ok` then often waits for
//! the other fault to end too).
//!
//! # Leader losses
//!
//! A fault is a loss of the leader when its value says that it hit the
//! node(s) that led. The nemesis asks the Db who leads just before each
//! `kill`, `pause` and `start-partition` and records in `leaders` the
//! nodes that led and were killed, paused, or left talking both ways with
//! fewer than a majority (`nemesis::partition::leaders_cut_off`), whatever
//! the target: a kill of `one` that happened to hit the leader counts. For
//! runs stored before `leaders` was recorded, the target decides: a `kill`
//! or `pause` of `leader` or `all` that hit a node, or a `start-partition`
//! of kind `isolate-leader` with a non-empty grudge. (The election
//! choreographies of `start-election` move the leader inside one long op
//! whose steps the history does not time against the clients': they are
//! not counted.) For each, the time from the fault's
//! start (its start op's completion) to the completion of the first `ok`
//! *write* invoked at or after it: reads may be served by a stale leader
//! or a follower, only a write shows that a new leader was elected and a
//! quorum accepted it. The write `f`s are [`WRITE_FS`].

use crate::history::{History, OpType, Process};
use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// The client `f`s that change state, for the time to the first `ok`
/// write after a leader loss: register writes and compare-and-sets, set
/// and counter adds, bank transfers, list appends, and the common names of
/// imported histories (`put`, `delete`, `incr`, `txn`...). Reads (`read`,
/// `get`, `read-all`...) are not writes; an `f` not listed is not counted.
pub const WRITE_FS: &[&str] = &[
    "write",
    "cas",
    "add",
    "transfer",
    "append",
    "put",
    "delete",
    "incr",
    "increment",
    "decr",
    "enqueue",
    "dequeue",
    "txn",
    "swap",
];

/// The window widths [`window_width`] chooses from, s; after the last,
/// whole hours.
const NICE_WIDTHS: [u64; 12] = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800];

/// Windows per run, at most (one more when the grid cuts both ends).
const MAX_WINDOWS: u64 = 100;

/// The ops invoked in one span of time, and the share of them `ok`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// Start of the span, s since the main phase started.
    pub start_s: f64,
    /// End of the span (excluded), s.
    pub end_s: f64,
    /// Ops invoked in the span that completed `ok`.
    pub ok: u64,
    /// Ops invoked in the span that completed `fail`.
    pub fail: u64,
    /// Of those `fail`s, the ones that were the system's answer (a cas
    /// mismatch, insufficient funds): served, so counted as available.
    #[serde(default)]
    pub answered: u64,
    /// Ops invoked in the span that completed `info`, or never completed.
    pub info: u64,
    /// `(ok + answered) / (ok + fail + info)`: the share of ops served;
    /// `null` when no op was invoked in the span.
    pub share: Option<f64>,
}

impl Share {
    /// All ops counted: `ok + fail + info`.
    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.info
    }
}

/// Availability during one fault interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultShare {
    /// The fault's start `f` (`start-partition`, `kill`...).
    pub f: String,
    /// What it did, to which nodes, in words (see [`describe`]).
    pub what: String,
    /// The ops invoked while it was in force: from its start to its heal,
    /// or to the end of the main phase when it was not healed before.
    pub share: Share,
    /// When it was healed, s (`null`: never).
    #[serde(default)]
    pub healed_s: Option<f64>,
    /// False when its start op failed or did nothing (`skipped`): then it
    /// is listed here but counts nowhere else.
    #[serde(default = "yes")]
    pub in_force: bool,
}

fn yes() -> bool {
    true
}

/// How long the cluster took to serve again after an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// What happened: the stop `f` (`stop-partition`, `start`, `resume`...)
    /// or, for a leader loss, the fault's start `f`.
    pub event: String,
    /// The fault it ended or was, in words (see [`describe`]).
    pub what: String,
    /// When it happened, s since the main phase started.
    pub at_s: f64,
    /// When the first `ok` op (for a leader loss: the first `ok` write)
    /// invoked after it completed, s; `null` if none did.
    pub first_ok_s: Option<f64>,
    /// `first_ok_s - at_s`; `null` if the cluster never served again.
    pub seconds: Option<f64>,
    /// The history index of that op's invoke; `null` if none.
    #[serde(default)]
    pub op: Option<u64>,
}

/// Availability and recovery of one run (`results.json` `availability`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// The width of each window, s.
    pub window_s: f64,
    /// The share of ok ops per window over the main phase.
    pub windows: Vec<Share>,
    /// All ops invoked while at least one fault was in force (its
    /// `start_s` and `end_s` are the main phase's; [`Self::fault_s`] says
    /// how long faults were in force).
    pub during_faults: Share,
    /// All ops invoked in the main phase while no fault was in force (its
    /// `start_s` and `end_s` are the main phase's).
    pub outside_faults: Share,
    /// Per fault interval, in order.
    pub per_fault: Vec<FaultShare>,
    /// After each fault's end: the time to the first ok op.
    pub recoveries: Vec<Recovery>,
    /// After each loss of the leader: the time to the first ok write.
    pub leader_losses: Vec<Recovery>,
    /// Seconds of the main phase with at least one fault in force.
    #[serde(default)]
    pub fault_s: f64,
    /// Faults in force when the main phase ended (healed by the heal phase,
    /// or never): no recovery is measured for them.
    #[serde(default)]
    pub healed_after_main: u64,
}

/// The width of the windows for a main phase of `span_ns`: a hundredth of
/// it rounded up to a nice value, at least 1 s; in s.
pub fn window_width(span_ns: u64) -> u64 {
    let hundredth = span_ns.div_ceil(MAX_WINDOWS).div_ceil(1_000_000_000).max(1);
    NICE_WIDTHS
        .iter()
        .copied()
        .find(|&w| w >= hundredth)
        .unwrap_or_else(|| hundredth.div_ceil(3600) * 3600)
}

/// What a fault did, to which nodes, in a few words, from its start op's
/// completion value: `leader: n3` for a kill of the leader,
/// `random-halves: n1 n2 | n3 n4 n5` for a partition, `skipped: …` when it
/// did nothing, `failed` when its start op did not complete `ok`.
pub fn describe(iv: &FaultInterval) -> String {
    let v = &iv.value;
    if !iv.ok {
        return "failed (what was done is unknown)".into();
    }
    if let Some(why) = v.get("skipped") {
        return format!("skipped: {}", text(why));
    }
    let target = v.get("target").and_then(Value::as_str);
    let s = match iv.f.as_str() {
        "kill" | "pause" => {
            let key = if iv.f == "kill" { "killed" } else { "paused" };
            let nodes = names(v.get(key)).join(" ");
            match target {
                Some(t) => format!("{t}: {nodes}"),
                None => nodes,
            }
        }
        "start-partition" => {
            let kind = v.get("kind").and_then(Value::as_str).unwrap_or("partition");
            format!("{kind}: {}", components(v.get("grudge")))
        }
        "start-loss" => format!(
            "{} lost on {}",
            v.get("probability")
                .map(|p| format!("p={}", text(p)))
                .unwrap_or_else(|| "packets".into()),
            names(v.get("nodes")).join(" ")
        ),
        "bump-clock" => match v.get("bumped_ms").and_then(Value::as_object) {
            Some(m) => m
                .iter()
                .map(|(n, d)| format!("{n} {}ms", signed(d)))
                .collect::<Vec<_>>()
                .join(", "),
            None => text(v),
        },
        "strobe-clock" => format!("strobe {}", names(v.get("nodes")).join(" ")),
        "start-election" => {
            let scenario = v.get("scenario").and_then(Value::as_str).unwrap_or("?");
            match v.get("outcome").and_then(Value::as_str) {
                Some(o) => format!("{scenario}: {o}"),
                None => scenario.to_string(),
            }
        }
        _ => text(v),
    };
    clip(&s, 80)
}

/// A JSON value as short text: a string bare, anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number with its sign (`+100`, `-50`).
fn signed(v: &Value) -> String {
    match v.as_i64() {
        Some(n) if n > 0 => format!("+{n}"),
        _ => text(v),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The strings of a JSON array (node names), in order.
fn names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A grudge in words: its components (`n1 n2 | n3 n4 n5`) when it cuts the
/// nodes into groups that drop everything from the other groups, else how
/// many nodes drop traffic.
fn components(grudge: Option<&Value>) -> String {
    let Some(g) = grudge.and_then(Value::as_object) else {
        return "no grudge".into();
    };
    if g.is_empty() {
        return "nothing cut".into();
    }
    // Group the nodes by what they drop; a clean cut is groups each of
    // which drops exactly the nodes of every other group.
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for (node, drops) in g {
        let drops = names(Some(drops));
        match groups.iter_mut().find(|(_, d)| *d == drops) {
            Some((members, _)) => members.push(node.clone()),
            None => groups.push((vec![node.clone()], drops)),
        }
    }
    let clean = groups.iter().all(|(members, drops)| {
        let mut others: Vec<&String> = groups
            .iter()
            .filter(|(m, _)| m != members)
            .flat_map(|(m, _)| m)
            .collect();
        others.sort();
        let mut d: Vec<&String> = drops.iter().collect();
        d.sort();
        d == others
    });
    if clean && groups.len() > 1 {
        groups.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
        groups
            .iter()
            .map(|(m, _)| m.join(" "))
            .collect::<Vec<_>>()
            .join(" | ")
    } else {
        format!("{} node(s) drop traffic", g.len())
    }
}

/// True when `iv` was in force: its start op completed `ok` and did
/// something (no `skipped` in its value).
pub fn in_force(iv: &FaultInterval) -> bool {
    iv.ok && iv.value.get("skipped").is_none()
}

/// True when `iv` is a loss of the leader (see the module doc): its value
/// names `leaders` it hit, or (older runs) a kill or pause of the leader or
/// of all nodes that hit a node, or an isolation of the leader that cut
/// something.
pub fn is_leader_loss(iv: &FaultInterval) -> bool {
    if !in_force(iv) {
        return false;
    }
    let v = &iv.value;
    // Runs since the nemesis recorded `leaders` (the nodes that led just
    // before and that the fault killed, paused or cut off from a
    // majority): that list decides, whatever the target.
    if let Some(leaders) = v.get("leaders") {
        if matches!(iv.f.as_str(), "kill" | "pause" | "start-partition") {
            return !names(Some(leaders)).is_empty();
        }
    }
    // Older runs: what the target says.
    match iv.f.as_str() {
        "kill" | "pause" => {
            let key = if iv.f == "kill" { "killed" } else { "paused" };
            let target = v.get("target").and_then(Value::as_str);
            matches!(target, Some("leader" | "all")) && !names(v.get(key)).is_empty()
        }
        "start-partition" => {
            v.get("kind").and_then(Value::as_str) == Some("isolate-leader")
                && v.get("grudge")
                    .and_then(Value::as_object)
                    .is_some_and(|g| !g.is_empty())
        }
        _ => false,
    }
}

/// True when `f` is a write ([`WRITE_FS`]).
pub fn is_write(f: &str) -> bool {
    WRITE_FS.contains(&f)
}

/// One client op: its invoke and how it ended.
struct Call {
    /// Invoke time, ns.
    at: u64,
    /// Completion time, ns (`None`: never completed).
    done: Option<u64>,
    /// `Ok`, `Fail` or `Info` (never completed: `Info`).
    kind: OpType,
    write: bool,
    /// A `fail` that was the system's answer (see the module doc).
    answered: bool,
    /// History index of the invoke.
    index: u64,
}

/// The client ops of `history`, paired leniently (a completion with no
/// open invoke is ignored; an invoke over an open one leaves that one
/// open), sorted by invoke time.
fn calls(history: &History) -> Vec<Call> {
    let mut out: Vec<Call> = Vec::new();
    let mut open: HashMap<Process, usize> = HashMap::new();
    for op in history.ops.iter().filter(|o| o.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, out.len());
            out.push(Call {
                at: op.time,
                done: None,
                kind: OpType::Info,
                write: is_write(&op.f),
                answered: false,
                index: op.index,
            });
        } else if let Some(i) = open.remove(&op.process) {
            out[i].done = Some(op.time);
            out[i].kind = op.kind;
            out[i].answered = op.kind == OpType::Fail
                && op
                    .error
                    .as_ref()
                    .and_then(|e| e.as_str())
                    .is_some_and(crate::workload::common::is_answer);
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

/// Seconds from ns, rounded to the µs (so `results.json` stays short).
fn secs(ns: u64) -> f64 {
    (ns as f64 / 1e3).round() / 1e6
}

/// The share of `calls`, counted over the span `[from, to)` ns.
fn share_of<'a>(calls: impl Iterator<Item = &'a Call>, from: u64, to: u64) -> Share {
    let mut s = Share {
        start_s: secs(from),
        end_s: secs(to),
        ..Default::default()
    };
    for c in calls {
        match c.kind {
            OpType::Ok => s.ok += 1,
            OpType::Fail => {
                s.fail += 1;
                s.answered += u64::from(c.answered);
            }
            _ => s.info += 1,
        }
    }
    s.share = match s.total() {
        0 => None,
        n => Some(((s.ok + s.answered) as f64 / n as f64 * 1e6).round() / 1e6),
    };
    s
}

/// The calls invoked in `[from, to)` (`calls` sorted by invoke time).
fn between(calls: &[Call], from: u64, to: u64) -> &[Call] {
    let a = calls.partition_point(|c| c.at < from);
    let b = calls.partition_point(|c| c.at < to).max(a);
    &calls[a..b]
}

/// For each position `i` of `calls`, the served call (`ok`, or a `fail`
/// that was the system's answer) at or after `i` that `keep` accepts, with
/// the earliest completion: `(completion, index)`.
fn earliest_ok_from(calls: &[Call], keep: impl Fn(&Call) -> bool) -> Vec<Option<(u64, u64)>> {
    let mut out = vec![None; calls.len() + 1];
    for i in (0..calls.len()).rev() {
        let c = &calls[i];
        let here = match (c.kind, c.done) {
            (OpType::Ok, Some(t)) if keep(c) => Some((t, c.index)),
            (OpType::Fail, Some(t)) if c.answered && keep(c) => Some((t, c.index)),
            _ => None,
        };
        out[i] = match (here, out[i + 1]) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    out
}

/// The main phase `[start, end)` in ns: the `main` phase, or, without one,
/// the history's span.
fn main_span(history: &History, phases: &[Phase]) -> Option<(u64, u64)> {
    if let Some(m) = phases.iter().find(|p| p.name == "main") {
        return Some((m.start, m.end.max(m.start)));
    }
    let first = history.ops.iter().map(|o| o.time).min()?;
    let last = history.ops.iter().map(|o| o.time).max()?;
    Some((first, last.saturating_add(1)))
}

/// Availability of `history` given its fault intervals and phases (see the
/// module doc for what is counted where).
pub fn compute(history: &History, intervals: &[FaultInterval], phases: &[Phase]) -> Availability {
    let Some((start, end)) = main_span(history, phases) else {
        return Availability {
            window_s: 1.0,
            ..Default::default()
        };
    };
    let all = calls(history);
    let calls = between(&all, start, end);
    let width = window_width(end - start);
    let width_ns = width * 1_000_000_000;

    // Windows on the clock's grid (multiples of the width), the first and
    // last clipped to the main phase: they line up with per-second plots.
    let mut windows = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from / width_ns + 1).saturating_mul(width_ns).min(end);
        windows.push(share_of(between(calls, from, to).iter(), from, to));
        from = to;
    }

    // The faults in force, clipped to the main phase and merged.
    let mut spans: Vec<(u64, u64)> = intervals
        .iter()
        .filter(|iv| in_force(iv))
        .map(|iv| (iv.start.max(start), iv.end.unwrap_or(end).min(end)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let during = |c: &&Call| {
        let i = merged.partition_point(|&(a, _)| a <= c.at);
        i > 0 && c.at < merged[i - 1].1
    };
    let during_faults = share_of(calls.iter().filter(during), start, end);
    let outside_faults = share_of(calls.iter().filter(|c| !during(c)), start, end);
    let fault_ns: u64 = merged.iter().map(|(a, b)| b - a).sum();

    let per_fault = intervals
        .iter()
        .map(|iv| {
            let to = iv.end.unwrap_or(end).min(end).max(iv.start);
            FaultShare {
                f: iv.f.clone(),
                what: describe(iv),
                share: share_of(between(calls, iv.start, to).iter(), iv.start, to),
                healed_s: iv.end.map(secs),
                in_force: in_force(iv),
            }
        })
        .collect();

    let any_ok = earliest_ok_from(calls, |_| true);
    let write_ok = earliest_ok_from(calls, |c| c.write && c.kind == OpType::Ok);
    let first_after =
        |table: &[Option<(u64, u64)>], t: u64| table[calls.partition_point(|c| c.at < t)];
    let recovery = |event: &str, iv: &FaultInterval, at: u64, first: Option<(u64, u64)>| Recovery {
        event: event.to_string(),
        what: describe(iv),
        at_s: secs(at),
        first_ok_s: first.map(|(t, _)| secs(t)),
        seconds: first.map(|(t, _)| secs(t.saturating_sub(at))),
        op: first.map(|(_, i)| i),
    };

    let mut recoveries = Vec::new();
    let mut healed_after_main = 0;
    for iv in intervals.iter().filter(|iv| in_force(iv)) {
        match iv.end {
            Some(e) if e < end => {
                let event = iv.stop_f.as_deref().unwrap_or("heal");
                recoveries.push(recovery(event, iv, e, first_after(&any_ok, e)));
            }
            _ => healed_after_main += 1,
        }
    }
    let leader_losses = intervals
        .iter()
        .filter(|iv| is_leader_loss(iv) && iv.start < end)
        .map(|iv| recovery(&iv.f, iv, iv.start, first_after(&write_ok, iv.start)))
        .collect();

    Availability {
        window_s: width as f64,
        windows,
        during_faults,
        outside_faults,
        per_fault,
        recoveries,
        leader_losses,
        fault_s: secs(fault_ns),
        healed_after_main,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_window_is_a_hundredth_of_the_run_rounded_up_to_a_nice_value() {
        const S: u64 = 1_000_000_000;
        for (span_s, want) in [
            (0, 1),
            (3, 1),
            (60, 1),
            (100, 1),
            (101, 2),
            (600, 10),
            (1000, 10),
            (1001, 20),
            (3600, 60),
            (86_400, 1200),
            (360_000, 3600),
            (720_000, 7200),
            (720_100, 10_800),
        ] {
            assert_eq!(window_width(span_s * S), want, "{span_s} s");
        }
    }

    fn iv(f: &str, value: Value) -> FaultInterval {
        FaultInterval {
            f: f.into(),
            value,
            start: 0,
            end: None,
            stop_f: None,
            ok: true,
        }
    }

    #[test]
    fn faults_are_described_in_a_few_words() {
        let cases = [
            (
                iv("kill", json!({"target": "leader", "killed": ["n3"]})),
                "leader: n3",
            ),
            (
                iv(
                    "pause",
                    json!({"target": "minority", "paused": ["n1", "n2"]}),
                ),
                "minority: n1 n2",
            ),
            (
                iv(
                    "start-partition",
                    json!({"kind": "isolate-one", "grudge": {"n1": ["n2", "n3"],
                        "n2": ["n1"], "n3": ["n1"]}}),
                ),
                "isolate-one: n1 | n2 n3",
            ),
            (
                iv(
                    "start-partition",
                    json!({"kind": "one-way", "grudge": {"n1": ["n2", "n3"]}}),
                ),
                "one-way: 1 node(s) drop traffic",
            ),
            (
                iv(
                    "start-loss",
                    json!({"target": "all", "probability": 0.2, "nodes": ["n1", "n2"]}),
                ),
                "p=0.2 lost on n1 n2",
            ),
            (
                iv(
                    "bump-clock",
                    json!({"bumped_ms": {"n1": 120, "n2": -40}, "offsets_ms": {}}),
                ),
                "n1 +120ms, n2 -40ms",
            ),
            (
                iv(
                    "kill",
                    json!({"target": "leader", "killed": [], "skipped": "no node matches target leader"}),
                ),
                "skipped: no node matches target leader",
            ),
        ];
        for (i, want) in cases {
            assert_eq!(describe(&i), want);
        }
        let mut failed = iv("kill", json!({}));
        failed.ok = false;
        assert!(describe(&failed).starts_with("failed"));
    }

    #[test]
    fn a_recorded_leader_decides_whatever_the_target() {
        let hit_leader = iv(
            "kill",
            json!({"target": "one", "killed": ["n2"], "leaders": ["n2"]}),
        );
        assert!(is_leader_loss(&hit_leader));
        let missed = iv(
            "kill",
            json!({"target": "all", "killed": ["n1", "n2"], "leaders": []}),
        );
        assert!(!is_leader_loss(&missed), "no node led: no leader to lose");
        let ring = iv(
            "start-partition",
            json!({"kind": "majority-ring", "grudge": {"n1": ["n3"]}, "leaders": ["n1"]}),
        );
        assert!(is_leader_loss(&ring));
        let halves = iv(
            "start-partition",
            json!({"kind": "random-halves", "grudge": {"n1": ["n3"]}, "leaders": []}),
        );
        assert!(!is_leader_loss(&halves));
    }

    #[test]
    fn leader_losses_are_the_faults_that_say_they_hit_the_leader() {
        let yes = [
            iv("kill", json!({"target": "leader", "killed": ["n3"]})),
            iv("pause", json!({"target": "all", "paused": ["n1", "n2"]})),
            iv(
                "start-partition",
                json!({"kind": "isolate-leader", "grudge": {"n1": ["n2"], "n2": ["n1"]}}),
            ),
        ];
        for i in &yes {
            assert!(is_leader_loss(i), "{i:?}");
        }
        let mut failed = iv("kill", json!({"target": "leader", "killed": ["n3"]}));
        failed.ok = false;
        let no = [
            iv("kill", json!({"target": "one", "killed": ["n3"]})),
            iv("kill", json!({"target": "leader", "killed": []})),
            iv(
                "start-partition",
                json!({"kind": "isolate-leader", "grudge": {}, "skipped": "no leader"}),
            ),
            iv(
                "start-partition",
                json!({"kind": "isolate-one", "grudge": {"n1": ["n2"], "n2": ["n1"]}}),
            ),
            failed,
        ];
        for i in &no {
            assert!(!is_leader_loss(i), "{i:?}");
        }
    }
}
