//! The Raft-core bugs (`commit-old-term`, `vote-twice`, `lease-read`) are each
//! caught by an invariant of the simulator: in an explicit schedule, and in
//! random seeds within a bounded number of seeds. The correct build passes the
//! same schedules.

use faultline::refkv::bugs::{Bug, Bugs};
use faultline::refkv::raft::sim::{others, run_seeds, Sim, SimFailure, SimOptions, Violation};
use faultline::refkv::raft::{Body, NodeId, Role};

fn leader_among(sim: &Sim, set: &[NodeId]) -> Option<NodeId> {
    set.iter()
        .copied()
        .find(|&id| sim.node(id).is_some_and(|r| r.role() == Role::Leader))
}

/// The Raft paper's Figure 8, with five nodes and one entry per message:
/// (a) A leads and replicates x to B only; (b) A crashes and E is elected
/// with C and D, appending its no-op only locally; (c) A restarts and A (or B,
/// which has the same log) leads a newer term and replicates x (an entry of an old term) to C, but not its
/// own no-op; with `commit-old-term` it now counts x as committed and
/// applies it; (d) A crashes and E, whose log has a newer last term than x,
/// is elected by C and D and overwrites x.
fn figure_8(bugs: Bugs) -> Result<Sim, SimFailure> {
    let mut o = SimOptions::calm(8, 5);
    o.bugs = bugs;
    o.max_entries_per_message = 1;
    let mut sim = Sim::new(o);
    let ids = sim.ids();
    assert!(sim.run_until(3_000, |s| s.leader().is_some())?);
    sim.run_for(100)?;
    // (a)
    let a = sim.leader().expect("a leader");
    let rest = others(&ids, &[a]);
    let b = rest[0];
    let cde = others(&ids, &[a, b]);
    sim.partition(&[&[a, b], &cde]);
    let x = sim.propose(a, 1)?.expect("A leads");
    assert!(sim.run_until(200, |s| s.node(b).is_some_and(|r| r.log().matches(x)))?);
    // (b)
    sim.crash(a);
    sim.partition(&[&cde, &[b]]);
    assert!(sim.run_until(5_000, |s| leader_among(s, &cde).is_some())?);
    let e = leader_among(&sim, &cde).expect("leader");
    sim.crash(e); // before its no-op leaves (messages take >= 1 ms)
    let cd = others(&cde, &[e]);
    let (c, d) = (cd[0], cd[1]);
    // (c)
    sim.restart(a)?;
    sim.partition(&[&[a, b, c], &[d]]);
    let xi = x.index;
    // A or B (same logs) leads; C gets x but not the no-op of that term. The
    // leader's first probe carries the no-op after x, which C (lacking x)
    // rejects: let that one through so the leader backs up to x.
    let mut probes_seen = 0;
    sim.set_drop_filter(Some(Box::new(move |m| {
        let late = (m.from == a || m.from == b)
            && m.to == c
            && matches!(&m.body, Body::AppendEntries { entries, .. } if entries.iter().any(|en| en.index > xi));
        if late {
            probes_seen += 1;
        }
        late && probes_seen > 1
    })));
    assert!(sim.run_until(5_000, |s| {
        leader_among(s, &[a, b]).is_some() && s.node(c).is_some_and(|r| r.log().matches(x))
    })?);
    sim.run_for(100)?;
    // (d)
    let a2 = leader_among(&sim, &[a, b]).expect("leader");
    sim.crash(a2);
    sim.set_drop_filter(None);
    sim.restart(e)?;
    sim.partition(&[&[c, d, e]]);
    assert!(sim.run_until(5_000, |s| s
        .node(e)
        .is_some_and(|r| r.role() == Role::Leader))?);
    Ok(sim)
}

#[test]
fn commit_old_term_is_caught_by_the_figure_8_schedule() {
    let err = figure_8(Bug::CommitOldTerm.into())
        .err()
        .expect("the bug must be caught");
    assert!(
        matches!(
            err.violation,
            Violation::LeaderCompleteness { .. } | Violation::StateMachineSafety { .. }
        ),
        "{err}"
    );
    eprintln!("figure 8 with commit-old-term: {err}");
}

#[test]
fn correct_build_survives_the_figure_8_schedule() {
    let mut sim = figure_8(Bugs::none()).unwrap_or_else(|f| panic!("{f}"));
    // x was never committed, so E may overwrite it; the cluster then heals.
    sim.heal();
    for id in sim.ids() {
        sim.restart(id).unwrap();
    }
    sim.check_liveness().unwrap_or_else(|f| panic!("{f}"));
}

/// Two candidates X and C of one term both win Y's pre-vote; Y votes for X,
/// crashes and restarts, then receives C's vote request (held back until
/// then). With `vote-twice` the vote was not persisted, so Y votes again.
fn vote_twice_schedule(bugs: Bugs) -> Result<Sim, SimFailure> {
    let mut o = SimOptions::calm(3, 3);
    o.bugs = bugs;
    let mut sim = Sim::new(o);
    let (x, y, c) = (1, 2, 3);
    // X and C only talk through Y, which never campaigns itself; vote
    // requests to Y wait until released.
    sim.set_drop_filter(Some(Box::new(move |m| {
        (m.from == x && m.to == c)
            || (m.from == c && m.to == x)
            || (m.from == y && m.body.kind() == "PreVote")
    })));
    sim.set_hold_filter(Some(Box::new(move |m| {
        m.to == y && m.body.kind() == "RequestVote"
    })));
    let both = |s: &Sim| {
        let (Some(rx), Some(rc)) = (s.node(x), s.node(c)) else {
            return false;
        };
        rx.role() == Role::Candidate && rc.role() == Role::Candidate && rx.term() == rc.term()
    };
    assert!(
        sim.run_until(20_000, both)?,
        "X and C never campaigned in the same term"
    );
    let term = sim.node(x).map(|r| r.term()).unwrap_or(0);
    // Both vote requests of that term reach Y (and are held there).
    let held = |s: &Sim, from: NodeId| s.held().iter().any(|m| m.from == from && m.term == term);
    assert!(sim.run_until(20, |s| held(s, x) && held(s, c))?);
    sim.release_held(|m| m.from == x && m.term == term)?;
    assert!(sim.run_until(20, |s| s.node(x).is_some_and(|r| r.role() == Role::Leader))?);
    sim.crash(y);
    sim.restart(y)?;
    sim.release_held(|m| m.from == c && m.term == term)?;
    sim.run_for(20)?;
    Ok(sim)
}

#[test]
fn vote_twice_is_caught_by_election_safety() {
    let err = vote_twice_schedule(Bug::VoteTwice.into())
        .err()
        .expect("the bug must be caught");
    assert!(
        matches!(err.violation, Violation::ElectionSafety { .. }),
        "{err}"
    );
    eprintln!("vote-twice: {err}");
}

#[test]
fn correct_build_does_not_vote_twice_after_a_restart() {
    let sim = vote_twice_schedule(Bugs::none()).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(sim.node(3).map(|r| r.role()), Some(Role::Candidate));
}

/// The leader's wall clock jumps back; it is then cut off, the others elect
/// a new leader and commit a write; a read at the old leader follows.
fn lease_read_schedule(bugs: Bugs, skew_ms: i64) -> Result<(Sim, Option<u64>), SimFailure> {
    let mut o = SimOptions::calm(5, 3);
    o.bugs = bugs;
    let mut sim = Sim::new(o);
    let ids = sim.ids();
    assert!(sim.run_until(3_000, |s| s.leader().is_some())?);
    let old = sim.leader().expect("leader");
    sim.run_for(300)?;
    sim.set_wall_offset(old, -skew_ms);
    let rest = others(&ids, &[old]);
    sim.partition(&[&[old], &rest]);
    assert!(sim.run_until(3_000, |s| leader_among(s, &rest).is_some())?);
    let new = leader_among(&sim, &rest).expect("new leader");
    let w = sim.propose(new, 7)?.expect("new leader accepts");
    assert!(sim.run_until(500, |s| s
        .node(new)
        .is_some_and(|r| r.commit_index() >= w.index))?);
    let ctx = sim.read(old)?;
    sim.run_for(50)?;
    Ok((sim, ctx))
}

#[test]
fn lease_read_under_clock_skew_answers_stale_reads() {
    let err = lease_read_schedule(Bug::LeaseRead.into(), 10_000)
        .err()
        .expect("stale read must be caught");
    assert!(
        matches!(err.violation, Violation::StaleRead { .. }),
        "{err}"
    );
    eprintln!("lease-read: {err}");
}

#[test]
fn lease_read_without_skew_and_correct_build_with_skew_stay_linearizable() {
    // The bug needs skew: with true wall clocks the lease expires in time.
    let (_, ctx) = lease_read_schedule(Bug::LeaseRead.into(), 0).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(ctx, None, "the deposed leader should have stepped down");
    // The correct build never looks at the wall clock.
    let (sim, ctx) = lease_read_schedule(Bugs::none(), 10_000).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        ctx, None,
        "the deposed leader should have stepped down (check-quorum)"
    );
    assert!(sim.answered_reads().is_empty());
}

/// How many random seeds until the bug is caught (None: not within `max`).
fn seeds_to_catch(bug: Bug, max: u64) -> Option<(u64, SimFailure)> {
    let bugs: Bugs = bug.into();
    for seed in 0..max {
        if let Err(f) = run_seeds(seed, 1, &bugs) {
            return Some((seed + 1, f));
        }
    }
    None
}

/// Random search (no scripted schedule). Only lease-read is asserted
/// (within 200 seeds); the explicit schedules above are the bounded proof for
/// the other two, whose search here only reports. The counted catch rate of
/// every bug per 1,000 seeds is `catch_rate_of_each_bug_per_thousand_seeds`
/// in `tests/raft_history.rs` (ignored; run with `--ignored --nocapture`).
#[test]
fn random_seeds_catch_each_core_bug_within_a_bound() {
    let default = if cfg!(debug_assertions) { 20 } else { 200 };
    let bound = std::env::var("RAFT_BUG_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    match seeds_to_catch(Bug::LeaseRead, bound.max(200)) {
        Some((n, f)) => eprintln!("lease-read: caught after {n} random seeds: {f}"),
        None => panic!(
            "lease-read must be caught by random search within {} seeds",
            bound.max(200)
        ),
    }
    for bug in [Bug::CommitOldTerm, Bug::VoteTwice] {
        match seeds_to_catch(bug, bound) {
            Some((n, f)) => eprintln!("{bug}: caught after {n} random seeds: {f}"),
            None => eprintln!("{bug}: not caught within {bound} random seeds"),
        }
    }
}

#[test]
fn a_failing_seed_replays_exactly() {
    let (_, f1) = seeds_to_catch(Bug::LeaseRead, 200).expect("caught");
    let f2 = run_seeds(f1.seed, 1, &Bug::LeaseRead.into()).expect_err("replay fails too");
    assert_eq!((f1.at_ms, f1.violation), (f2.at_ms, f2.violation));
}

/// Issue 13 item 1, the interleaving of the Raft paper's Figure 8 seen from
/// a client, five nodes, with the server's waiter rules
/// ([`faultline::refkv::waiters`]):
///
/// 1. A leads and writes X1..X3 at i..i+2; only B receives them.
/// 2. C wins the next term with D and E; its first entry (a no-op at i)
///    reaches only A, which truncates X1..X3. C dies.
/// 3. A wins the next term with D and E (its appends reach nobody) and a
///    client writes Y, which lands at X3's index.
/// 4. A dies; B wins with D and E and commits X1..X3.
///
/// No write may be answered "overwritten" (definite) and then be applied.
#[test]
fn a_write_truncated_from_its_leader_is_not_answered_definite() {
    let mut sim = Sim::new(SimOptions::calm(13, 5));
    let ids = sim.ids();
    let ok = |r: Result<bool, SimFailure>, what: &str| match r {
        Ok(true) => {}
        Ok(false) => panic!("{what} did not happen"),
        Err(f) => panic!("{f}"),
    };
    ok(
        sim.run_until(3_000, |s| s.leader().is_some()),
        "first election",
    );
    sim.run_for(100).unwrap();
    // 1. From here on, who hears whom is set by drop filters (partitions
    // would also drop what is sent while they last).
    let a = sim.leader().expect("leader");
    let b = others(&ids, &[a])[0];
    let cde = others(&ids, &[a, b]);
    let in_cde = move |n: NodeId| n != a && n != b;
    // {A, B} | {C, D, E}, except that C's appends to A pass (held below).
    sim.set_drop_filter(Some(Box::new(move |m| {
        let same_side = in_cde(m.from) == in_cde(m.to);
        let c_to_a = in_cde(m.from) && m.to == a && m.body.kind() == "AppendEntries";
        !(same_side || c_to_a)
    })));
    let xs: Vec<_> = (0..3)
        .map(|k| sim.propose(a, 100 + k).unwrap().expect("A leads"))
        .collect();
    let x3 = xs[2];
    ok(
        sim.run_until(300, |s| s.node(b).is_some_and(|r| r.log().matches(x3))),
        "B receiving X1..X3",
    );
    // 2. Hold every append of C, D and E, so the new leader's no-op goes
    // nowhere until it is released to A alone.
    sim.set_hold_filter(Some(Box::new(move |m| {
        in_cde(m.from) && m.body.kind() == "AppendEntries"
    })));
    ok(
        sim.run_until(5_000, |s| leader_among(s, &cde).is_some()),
        "C's election",
    );
    let c = leader_among(&sim, &cde).expect("leader");
    let de = others(&cde, &[c]);
    sim.run_for(5).unwrap();
    sim.crash(c);
    sim.set_hold_filter(None);
    let released = sim
        .release_held(|m| m.from == c && m.to == a)
        .expect("deliver");
    assert!(released > 0, "C's no-op reached A");
    assert!(
        sim.node(a).is_some_and(|r| !r.log().matches(xs[0])),
        "A truncated X1"
    );
    // 3. B is cut off; A's appends reach nobody, so D and E keep logs B
    // can beat.
    sim.set_drop_filter(Some(Box::new(move |m| {
        m.from == b || m.to == b || (m.from == a && m.body.kind() == "AppendEntries")
    })));
    ok(
        sim.run_until(5_000, |s| {
            s.node(a).is_some_and(|r| r.role() == Role::Leader)
        }),
        "A's election",
    );
    // Propose until a write lands on X3's index.
    let mut landed = false;
    for k in 0..4 {
        match sim.propose(a, 200 + k).unwrap() {
            Some(y) if y.index == x3.index => {
                landed = true;
                break;
            }
            Some(y) if y.index > x3.index => break,
            _ => {}
        }
    }
    assert!(landed, "a new write reused X3's index");
    sim.run_for(5).unwrap();
    // 4.
    sim.crash(a);
    sim.set_drop_filter(None);
    ok(
        sim.run_until(5_000, |s| {
            s.node(b).is_some_and(|r| r.commit_index() >= x3.index)
        }),
        "B committing X1..X3",
    );
    sim.run_for(200).unwrap();
    assert!(
        sim.state_machine(b).0.contains_key(&102),
        "X3 is applied on B"
    );
    assert!(de.iter().all(|&n| sim.node(n).is_some()));
}
