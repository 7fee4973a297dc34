//! Availability and recovery (`report::availability::compute`) on crafted
//! histories whose answers are computed by hand: the share of ok ops per
//! window, per fault and during vs outside faults; the time from a heal to
//! the first ok op invoked after it; the time from a leader loss to the
//! first ok write; no ok after a fault (`null`); overlapping faults; the
//! phases after the main one left out; an empty history.
//!
//! The fault intervals are paired from the nemesis ops of the history by
//! `nemesis::intervals::of_run`, as a real run does.

use faultline::history::{History, Op, OpType, Process};
use faultline::nemesis::intervals::{of_run, FaultInterval};
use faultline::nemesis::package::NemesisConfig;
use faultline::report::availability::{compute, Availability, Recovery};
use faultline::report::results::Phase;
use serde_json::{json, Value};

/// ns from s.
fn ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}

/// A history under construction: ops at given times, sorted at the end.
#[derive(Default)]
struct Builder {
    ops: Vec<Op>,
    process: u64,
}

impl Builder {
    /// A client op `f` invoked at `at` s, completed as `end` (`None`: never).
    fn call(&mut self, f: &str, at: f64, end: Option<(OpType, f64)>) -> &mut Self {
        let mut inv = Op::invoke(Process::Client(self.process), f, json!(1));
        self.process += 1;
        inv.time = ns(at);
        if let Some((kind, t)) = end {
            let mut c = inv.complete(kind, json!(1));
            c.time = ns(t);
            self.ops.push(c);
        }
        self.ops.push(inv);
        self
    }

    fn ok(&mut self, f: &str, at: f64, done: f64) -> &mut Self {
        self.call(f, at, Some((OpType::Ok, done)))
    }

    fn info(&mut self, f: &str, at: f64, done: f64) -> &mut Self {
        self.call(f, at, Some((OpType::Info, done)))
    }

    fn fail(&mut self, f: &str, at: f64, done: f64) -> &mut Self {
        self.call(f, at, Some((OpType::Fail, done)))
    }

    /// A nemesis op `f` invoked 10 ms before `done` s and completed then.
    fn nemesis(&mut self, f: &str, done: f64, kind: OpType, value: Value) -> &mut Self {
        let mut inv = Op::invoke(Process::Nemesis, f, json!(null));
        inv.time = ns(done - 0.01);
        let mut c = inv.complete(kind, value);
        c.time = ns(done);
        self.ops.push(inv);
        self.ops.push(c);
        self
    }

    /// The history, in time order (an invoke before its completion).
    fn history(&self) -> History {
        let mut ops = self.ops.clone();
        ops.sort_by_key(|o| (o.time, o.kind != OpType::Invoke));
        History::new(ops)
    }
}

/// Phases: main `[0, main)` s, then heal, recovery and final.
fn phases(main: f64) -> Vec<Phase> {
    let p = |name: &str, a: f64, b: f64| Phase {
        name: name.into(),
        start: ns(a),
        end: ns(b),
    };
    vec![
        p("main", 0.0, main),
        p("heal", main, main + 0.5),
        p("recovery", main + 0.5, main + 1.5),
        p("final", main + 1.5, main + 3.0),
    ]
}

fn run(b: &Builder, main: f64) -> (Availability, Vec<FaultInterval>) {
    let h = b.history();
    let config = NemesisConfig {
        faults: vec!["all".into()],
        ..Default::default()
    };
    let (ivs, errors) = of_run(&h, &config);
    assert!(errors.is_empty(), "{errors:?}");
    (compute(&h, &ivs, &phases(main)), ivs)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn assert_recovery(r: &Recovery, event: &str, at: f64, seconds: Option<f64>) {
    assert_eq!(r.event, event, "{r:?}");
    assert!(close(r.at_s, at), "{r:?}");
    match (r.seconds, seconds) {
        (Some(a), Some(b)) => {
            assert!(close(a, b), "{r:?}: want {b} s");
            assert!(close(r.first_ok_s.unwrap(), at + b), "{r:?}");
            assert!(r.op.is_some(), "{r:?}");
        }
        (None, None) => assert!(r.first_ok_s.is_none() && r.op.is_none(), "{r:?}"),
        (got, want) => panic!("{r:?}: seconds {got:?}, want {want:?}"),
    }
}

/// 10 ok ops before a partition (0.1 .. 1.0 s); the partition in force
/// from 2 s to its heal at 5 s; during it 2 ok and 8 info (one of them
/// never completed); after the heal the first ok op is invoked at 5.25 s
/// and completes at 5.3 s: recovery 0.3 s. An op invoked at 4.9 s (during
/// the partition) that completes ok at 5.1 s does not end the recovery.
/// Final reads after the main phase (10 s) do not count.
#[test]
fn a_partition_and_its_heal_known_answers() {
    let mut b = Builder::default();
    for i in 1..=10 {
        let t = i as f64 / 10.0;
        b.ok("write", t, t + 0.01);
    }
    b.nemesis(
        "start-partition",
        2.0,
        OpType::Ok,
        json!({"kind": "random-halves", "grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}),
    );
    b.ok("read", 2.5, 2.51);
    b.ok("write", 4.9, 5.1); // invoked during the partition, ok after the heal
    for i in 0..7 {
        let t = 2.2 + i as f64 * 0.3;
        b.info("write", t, t + 1.0);
    }
    b.call("cas", 3.0, None); // never completes: info
    b.nemesis("stop-partition", 5.0, OpType::Ok, json!({"healed": ["n1"]}));
    b.fail("read", 5.2, 5.35); // fail is not ok
    b.ok("read", 5.25, 5.3);
    b.ok("write", 5.27, 5.4);
    for i in 0..4 {
        let t = 6.0 + i as f64;
        b.ok("read", t, t + 0.01);
    }
    // Final reads: after the main phase, all ok, left out.
    for i in 0..20 {
        b.ok("read", 11.6 + i as f64 * 0.01, 11.7);
    }
    let (a, ivs) = run(&b, 10.0);
    assert_eq!(ivs.len(), 1);

    assert_eq!(a.window_s, 1.0);
    assert_eq!(a.windows.len(), 10);
    assert_eq!(
        (
            a.during_faults.ok,
            a.during_faults.fail,
            a.during_faults.info
        ),
        (2, 0, 8)
    );
    assert_eq!(a.during_faults.share, Some(0.2));
    // 10 before, 1 fail + 2 ok at 5.2.., 4 ok from 6 s: 16 ok of 17.
    assert_eq!(
        (
            a.outside_faults.ok,
            a.outside_faults.fail,
            a.outside_faults.info
        ),
        (16, 1, 0)
    );
    assert!(close(a.outside_faults.share.unwrap(), 0.941176), "{a:?}");
    assert!(close(a.fault_s, 3.0));
    assert_eq!(a.healed_after_main, 0);

    assert_eq!(a.per_fault.len(), 1);
    let pf = &a.per_fault[0];
    assert_eq!(pf.f, "start-partition");
    assert_eq!(pf.what, "random-halves: n1 | n2 n3");
    assert!(pf.in_force);
    assert_eq!(pf.healed_s, Some(5.0));
    assert_eq!(
        (pf.share.ok, pf.share.info, pf.share.share),
        (2, 8, Some(0.2))
    );
    assert!(close(pf.share.start_s, 2.0) && close(pf.share.end_s, 5.0));

    assert_eq!(a.recoveries.len(), 1);
    assert_recovery(&a.recoveries[0], "stop-partition", 5.0, Some(0.3));
    assert!(a.leader_losses.is_empty());

    // Windows by invoke time: 0.1 .. 0.9 in the first, 1.0 in the second;
    // the op never completed (3.0 s) is info in its window.
    let w: Vec<(u64, u64, u64)> = a.windows.iter().map(|s| (s.ok, s.fail, s.info)).collect();
    assert_eq!(
        w,
        [
            (9, 0, 0),
            (1, 0, 0),
            (1, 0, 3),
            (0, 0, 4),
            (1, 0, 1),
            (2, 1, 0),
            (1, 0, 0),
            (1, 0, 0),
            (1, 0, 0),
            (1, 0, 0),
        ]
    );
    assert_eq!(a.windows[3].share, Some(0.0));
    assert!(close(a.windows[9].start_s, 9.0) && close(a.windows[9].end_s, 10.0));
}

/// A kill of the leader at 2 s: reads succeed at 2.5 s, a write invoked
/// before the kill completes at 2.6 s and a write fails at 2.7 s, neither
/// counts; the first ok write invoked after the kill is invoked at 3.0 s
/// and completes at 3.1 s: 1.1 s. The leader is restarted at 4 s; the first
/// ok op invoked after that completes at 4.25 s (a read invoked at 4.2 s),
/// before the write invoked at 4.0 s (done at 4.5 s): 0.25 s.
#[test]
fn a_leader_kill_waits_for_the_first_ok_write_not_for_reads() {
    let mut b = Builder::default();
    b.ok("write", 1.0, 1.01);
    b.ok("write", 1.9, 2.6);
    b.nemesis(
        "kill",
        2.0,
        OpType::Ok,
        json!({"target": "leader", "killed": ["n3"]}),
    );
    b.info("write", 2.2, 4.2);
    b.ok("read", 2.4, 2.5);
    b.fail("cas", 2.65, 2.7);
    b.ok("write", 3.0, 3.1);
    b.nemesis("start", 4.0, OpType::Ok, json!({"started": ["n3"]}));
    b.ok("write", 4.0, 4.5);
    b.ok("read", 4.2, 4.25);
    let (a, _) = run(&b, 5.0);
    assert_eq!(a.leader_losses.len(), 1);
    let l = &a.leader_losses[0];
    assert_recovery(l, "kill", 2.0, Some(1.1));
    assert_eq!(l.what, "leader: n3");
    assert_eq!(a.recoveries.len(), 1);
    assert_recovery(&a.recoveries[0], "start", 4.0, Some(0.25));
    assert_eq!(a.recoveries[0].what, "leader: n3");
    // During the kill [2, 4): info write, ok read, fail cas, ok write.
    assert_eq!(
        (
            a.during_faults.ok,
            a.during_faults.fail,
            a.during_faults.info
        ),
        (2, 1, 1)
    );
    assert!(close(a.fault_s, 2.0));
}

/// A pause of all nodes, an isolation of the leader that is never healed
/// in the main phase (so it has no recovery row, only a count), and a kill
/// of one node, which is not a leader loss: the history does not say it
/// hit the leader.
#[test]
fn pauses_of_all_and_isolations_of_the_leader_are_leader_losses_too() {
    let mut b = Builder::default();
    b.nemesis(
        "kill",
        0.5,
        OpType::Ok,
        json!({"target": "one", "killed": ["n1"]}),
    );
    b.nemesis("start", 0.8, OpType::Ok, json!({"started": ["n1"]}));
    b.nemesis(
        "pause",
        1.0,
        OpType::Ok,
        json!({"target": "all", "paused": ["n1", "n2", "n3"]}),
    );
    b.info("write", 1.5, 2.5);
    b.nemesis(
        "resume",
        2.0,
        OpType::Ok,
        json!({"resumed": ["n1", "n2", "n3"]}),
    );
    b.ok("read", 2.05, 2.1);
    b.ok("write", 2.2, 2.3);
    b.nemesis(
        "start-partition",
        3.0,
        OpType::Ok,
        json!({"kind": "isolate-leader", "grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}),
    );
    b.ok("read", 3.1, 3.2);
    b.ok("write", 3.5, 3.9);
    let (a, _) = run(&b, 5.0);
    let losses: Vec<(&str, &str)> = a
        .leader_losses
        .iter()
        .map(|r| (r.event.as_str(), r.what.as_str()))
        .collect();
    assert_eq!(
        losses,
        [
            ("pause", "all: n1 n2 n3"),
            ("start-partition", "isolate-leader: n1 | n2 n3")
        ]
    );
    assert_recovery(&a.leader_losses[0], "pause", 1.0, Some(1.3));
    assert_recovery(&a.leader_losses[1], "start-partition", 3.0, Some(0.9));
    // Recoveries: the kill of one at 0.8 (the next ok op is the read done
    // at 2.1 s), the resume at 2.0 s (0.1 s); the isolation is still in
    // force at the end of the main phase.
    assert_eq!(a.recoveries.len(), 2, "{:#?}", a.recoveries);
    assert_recovery(&a.recoveries[0], "start", 0.8, Some(1.3));
    assert_recovery(&a.recoveries[1], "resume", 2.0, Some(0.1));
    assert_eq!(a.healed_after_main, 1);
    let pf = a.per_fault.last().unwrap();
    assert_eq!(pf.healed_s, None);
    assert!(close(pf.share.end_s, 5.0));
    assert_eq!((pf.share.ok, pf.share.total()), (2, 2));
}

/// All nodes killed at 1 s and restarted at 2 s, and nothing succeeds
/// until the main phase ends at 5 s (the final reads, after it, do): both
/// the recovery and the leader loss are `null`.
#[test]
fn no_ok_op_after_a_fault_is_null() {
    let mut b = Builder::default();
    b.ok("write", 0.5, 0.6);
    b.nemesis(
        "kill",
        1.0,
        OpType::Ok,
        json!({"target": "all", "killed": ["n1", "n2", "n3"]}),
    );
    b.nemesis(
        "start",
        2.0,
        OpType::Ok,
        json!({"started": ["n1", "n2", "n3"]}),
    );
    b.fail("write", 2.5, 2.6);
    b.info("read", 3.0, 4.0);
    b.call("write", 4.5, None);
    b.ok("read", 6.6, 6.7); // final read
    let (a, _) = run(&b, 5.0);
    assert_eq!(a.recoveries.len(), 1);
    assert_recovery(&a.recoveries[0], "start", 2.0, None);
    assert_eq!(a.leader_losses.len(), 1);
    assert_recovery(&a.leader_losses[0], "kill", 1.0, None);
    assert_eq!(a.during_faults.total(), 0);
    assert_eq!(a.during_faults.share, None);
    assert_eq!(
        (
            a.outside_faults.ok,
            a.outside_faults.fail,
            a.outside_faults.info
        ),
        (1, 1, 2)
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["recoveries"][0]["first_ok_s"], Value::Null);
    assert_eq!(json["recoveries"][0]["seconds"], Value::Null);
}

/// A partition from 2 to 6 s and a kill from 4 to 8 s: in force together
/// from 4 to 6 s. An op is counted once in `during_faults` (6 s of faults,
/// not 8), and once in each fault it falls in. The partition's heal at 6 s
/// is followed by no ok until the kill ends: its recovery is 2.2 s, the
/// kill's 0.2 s.
#[test]
fn overlapping_faults_count_each_op_once_and_each_heal_on_its_own() {
    let mut b = Builder::default();
    b.ok("read", 1.0, 1.1);
    b.nemesis(
        "start-partition",
        2.0,
        OpType::Ok,
        json!({"kind": "isolate-one", "grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}),
    );
    b.info("write", 3.0, 3.5);
    b.nemesis(
        "kill",
        4.0,
        OpType::Ok,
        json!({"target": "one", "killed": ["n2"]}),
    );
    b.ok("write", 5.0, 5.1);
    b.nemesis("stop-partition", 6.0, OpType::Ok, json!({"healed": ["n1"]}));
    b.info("write", 6.5, 7.5);
    b.info("read", 7.0, 8.0);
    b.nemesis("start", 8.0, OpType::Ok, json!({"started": ["n2"]}));
    b.ok("write", 8.1, 8.2);
    b.ok("read", 9.0, 9.1);
    let (a, ivs) = run(&b, 10.0);
    assert_eq!(ivs.len(), 2);
    assert!(close(a.fault_s, 6.0), "{}", a.fault_s);
    assert_eq!(
        (
            a.during_faults.ok,
            a.during_faults.fail,
            a.during_faults.info
        ),
        (1, 0, 3)
    );
    assert_eq!((a.outside_faults.ok, a.outside_faults.total()), (3, 3));
    let per: Vec<(u64, u64)> = a
        .per_fault
        .iter()
        .map(|p| (p.share.ok, p.share.info))
        .collect();
    assert_eq!(per, [(1, 1), (1, 2)]);
    assert_eq!(a.recoveries.len(), 2);
    assert_recovery(&a.recoveries[0], "stop-partition", 6.0, Some(2.2));
    assert_recovery(&a.recoveries[1], "start", 8.0, Some(0.2));
    assert!(a.leader_losses.is_empty());
}

/// A kill whose start op failed (`info`) and a kill of the leader on a
/// cluster with none (`skipped`): listed per fault, not in force, so the
/// ops then count outside faults and there is no recovery or leader loss.
#[test]
fn faults_that_did_nothing_count_nowhere_but_their_own_row() {
    let mut b = Builder::default();
    b.nemesis("kill", 1.0, OpType::Info, json!({"target": "one"}));
    b.ok("write", 1.5, 1.6);
    b.nemesis("start", 2.0, OpType::Ok, json!({"started": []}));
    b.nemesis(
        "kill",
        3.0,
        OpType::Ok,
        json!({"target": "leader", "killed": [], "skipped": "no node matches target leader"}),
    );
    b.ok("write", 3.5, 3.6);
    b.nemesis("start", 4.0, OpType::Ok, json!({"started": []}));
    let (a, ivs) = run(&b, 5.0);
    assert_eq!(ivs.len(), 2);
    assert_eq!(a.per_fault.len(), 2);
    assert!(a.per_fault.iter().all(|p| !p.in_force), "{a:?}");
    assert_eq!(a.per_fault[0].share.ok, 1);
    assert_eq!(
        a.per_fault[1].what,
        "skipped: no node matches target leader"
    );
    assert_eq!(a.during_faults.total(), 0);
    assert_eq!(a.outside_faults.ok, 2);
    assert_eq!(a.fault_s, 0.0);
    assert!(a.recoveries.is_empty() && a.leader_losses.is_empty());
    assert_eq!(a.healed_after_main, 0);
}

#[test]
fn an_empty_history_has_no_shares_and_no_recoveries() {
    let a = compute(&History::default(), &[], &[]);
    assert_eq!(a.window_s, 1.0);
    assert!(a.windows.is_empty() && a.per_fault.is_empty() && a.recoveries.is_empty());
    assert_eq!(a.during_faults.share, None);
    assert_eq!(a.outside_faults.share, None);
    // With a main phase of 3 s: three empty windows.
    let a = compute(&History::default(), &[], &phases(3.0));
    assert_eq!(a.windows.len(), 3);
    assert!(a
        .windows
        .iter()
        .all(|w| w.share.is_none() && w.total() == 0));
}

/// A history without phases (imported) is all main phase, from its first
/// op to its last; a malformed one (a completion without an invoke, an
/// invoke over an open one) is counted as far as it pairs, without a
/// panic.
#[test]
fn without_phases_the_history_is_the_main_phase_and_malformed_ops_are_skipped() {
    let mut b = Builder::default();
    b.ok("read", 10.0, 10.5);
    b.ok("read", 12.0, 12.5);
    let mut h = b.history();
    let mut stray =
        Op::invoke(Process::Client(99), "read", json!(null)).complete(OpType::Ok, json!(1));
    stray.time = ns(11.0);
    let mut twice = Op::invoke(Process::Client(7), "write", json!(1));
    twice.time = ns(11.1);
    let mut again = twice.clone();
    again.time = ns(11.2);
    let mut done = again.complete(OpType::Ok, json!(1));
    done.time = ns(11.3);
    let mut ops = h.ops.clone();
    ops.extend([stray, twice, again, done]);
    ops.sort_by_key(|o| o.time);
    h = History::new(ops);
    let a = compute(&h, &[], &[]);
    assert_eq!(a.window_s, 1.0);
    assert!(close(a.windows[0].start_s, 10.0));
    // 10.0 .. 12.5 (+1 ns): three windows.
    assert_eq!(a.windows.len(), 3);
    // ok: two reads and the second write; the first write stays open.
    assert_eq!(
        (
            a.outside_faults.ok,
            a.outside_faults.info,
            a.outside_faults.total()
        ),
        (3, 1, 4)
    );
}

/// Windows sit on the clock's grid: a main phase from 0.3 s to 3.8 s has
/// windows [0.3, 1), [1, 2), [2, 3), [3, 3.8).
#[test]
fn windows_sit_on_the_clock_grid_clipped_to_the_main_phase() {
    let mut b = Builder::default();
    b.ok("read", 0.5, 0.6)
        .ok("read", 1.0, 1.1)
        .info("write", 3.7, 3.9);
    let h = b.history();
    let main = [Phase {
        name: "main".into(),
        start: ns(0.3),
        end: ns(3.8),
    }];
    let a = compute(&h, &[], &main);
    let spans: Vec<(f64, f64, u64)> = a
        .windows
        .iter()
        .map(|w| (w.start_s, w.end_s, w.total()))
        .collect();
    assert_eq!(
        spans,
        [(0.3, 1.0, 1), (1.0, 2.0, 1), (2.0, 3.0, 0), (3.0, 3.8, 1)]
    );
}

/// A measurement, not run by default: `compute` over a generated history
/// of 1,000,000 client ops (2,000,000 events) with 100 faults.
/// `cargo test --test report_availability -- --ignored --nocapture`.
#[test]
#[ignore]
fn a_million_ops() {
    let n = 1_000_000u64;
    let mut ops = Vec::with_capacity(2 * n as usize + 400);
    let span = 600_000_000_000u64; // 600 s
    for i in 0..n {
        let at = i * span / n;
        let mut inv = Op::invoke(
            Process::Client(i % 50),
            if i % 3 == 0 { "write" } else { "read" },
            json!(i),
        );
        inv.time = at;
        let kind = if i % 17 == 0 {
            OpType::Info
        } else {
            OpType::Ok
        };
        let mut c = inv.complete(kind, json!(i));
        c.time = at + 500_000;
        ops.push(inv);
        ops.push(c);
    }
    for k in 0..100u64 {
        let (f, stop) = if k % 2 == 0 {
            ("kill", "start")
        } else {
            ("start-partition", "stop-partition")
        };
        for (g, t, v) in [
            (
                f,
                k * 6_000_000_000 + 1_000_000_000,
                json!({"target": "leader", "killed": ["n1"], "kind": "isolate-one", "grudge": {"n1": ["n2"], "n2": ["n1"]}}),
            ),
            (stop, k * 6_000_000_000 + 4_000_000_000, json!({})),
        ] {
            let mut o = Op::invoke(Process::Nemesis, g, json!(null)).complete(OpType::Ok, v);
            o.time = t;
            ops.push(o);
        }
    }
    ops.sort_by_key(|o| o.time);
    let h = History::new(ops);
    let config = NemesisConfig {
        faults: vec!["all".into()],
        ..Default::default()
    };
    let (ivs, _) = of_run(&h, &config);
    let t = std::time::Instant::now();
    let a = compute(&h, &ivs, &phases(600.0));
    let took = t.elapsed();
    println!(
        "1M ops, {} faults: compute in {took:?}, {} windows of {} s, {} recoveries, {} leader losses",
        ivs.len(),
        a.windows.len(),
        a.window_s,
        a.recoveries.len(),
        a.leader_losses.len()
    );
    assert_eq!(a.during_faults.total() + a.outside_faults.total(), n);
    assert_eq!(a.recoveries.len(), 100);
    assert_eq!(a.leader_losses.len(), 50);
    assert!(a.recoveries.iter().all(|r| r.seconds.is_some()));
}

/// Imported histories may carry absolute clocks (ns since 1970) or any
/// time up to `u64::MAX`: no overflow, no panic.
#[test]
fn absolute_and_extreme_clocks_do_not_overflow() {
    for base in [1_733_000_000_000_000_000u64, u64::MAX - 5_000_000_000] {
        let mut ops = Vec::new();
        for (i, dt) in [0u64, 1_000_000_000, 4_000_000_000].into_iter().enumerate() {
            let mut inv = Op::invoke(Process::Client(i as u64), "write", json!(1));
            inv.time = base + dt;
            let mut c = inv.complete(OpType::Ok, json!(1));
            c.time = base + dt + 1_000;
            ops.push(inv);
            ops.push(c);
        }
        let mut last = Op::invoke(Process::Client(9), "read", json!(null));
        last.time = base + 5_000_000_000;
        ops.push(last);
        let a = compute(&History::new(ops), &[], &[]);
        // The open read counts as info, except at u64::MAX itself: the
        // span ends there (excluded), so the read falls outside it.
        assert_eq!(
            a.outside_faults.total(),
            3 + u64::from(base < u64::MAX - 5_000_000_000)
        );
        assert_eq!(a.outside_faults.ok, 3, "{base}");
    }
}
