//! Unit-level behaviour of the Raft core: fast log backtracking, snapshot
//! install, pre-vote against disruption, check-quorum step-down, ReadIndex,
//! what must be persisted, and rejection of inconsistent input.

use std::collections::BTreeMap;
use std::time::Duration;

use faultline::refkv::bugs::{Bug, Bugs};
use faultline::refkv::raft::sim::{others, Sim, SimOptions};
use faultline::refkv::raft::{
    Body, Config, Entry, HardState, LogId, Message, NodeId, Payload, Persisted, RaftError,
    RaftNode, Role,
};

fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &t)| Entry {
            term: t,
            index: i as u64 + 1,
            payload: Payload::Data(vec![t as u8, i as u8]),
        })
        .collect()
}

fn node(id: NodeId, terms: &[u64], bugs: Bugs) -> RaftNode {
    let mut cfg = Config::new(id, vec![1, 2, 3]);
    cfg.bugs = bugs;
    let p = Persisted {
        hard_state: HardState {
            term: terms.last().copied().unwrap_or(0),
            vote: None,
        },
        snapshot: None,
        entries: entries(terms),
    };
    RaftNode::restart(cfg, p, Duration::ZERO).expect("valid")
}

/// Deliver messages among `nodes` until quiet; messages to absent nodes are
/// lost. `seen` sees every delivered message.
fn pump(nodes: &mut BTreeMap<NodeId, RaftNode>, mut seen: impl FnMut(&Message)) {
    for _ in 0..1000 {
        let mut msgs = Vec::new();
        for n in nodes.values_mut() {
            msgs.extend(n.take_ready().messages);
        }
        if msgs.is_empty() {
            return;
        }
        for m in msgs {
            if let Some(n) = nodes.get_mut(&m.to) {
                seen(&m);
                n.step(m);
            }
        }
    }
    panic!("messages never quieted down");
}

fn terms_of(n: &RaftNode) -> Vec<u64> {
    (1..=n.log().last_index())
        .map(|i| n.log().term(i).unwrap_or(0))
        .collect()
}

#[test]
fn fast_backtracking_skips_a_whole_term_per_round_trip() {
    // The Raft paper's Figure 7: leader vs follower (f).
    let leader_terms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let follower_terms = [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3];
    let mut nodes = BTreeMap::new();
    nodes.insert(1, node(1, &leader_terms, Bugs::none()));
    nodes.insert(2, node(2, &follower_terms, Bugs::none()));
    // Only node 1 times out (node 2 is not ticked).
    nodes.get_mut(&1).unwrap().tick(Duration::from_secs(1));
    let mut rejections = 0;
    pump(&mut nodes, |m| {
        if matches!(m.body, Body::AppendEntriesResponse { result: Err(_), .. }) {
            rejections += 1;
        }
    });
    let (l, f) = (&nodes[&1], &nodes[&2]);
    assert_eq!(l.role(), Role::Leader);
    assert_eq!(
        terms_of(f),
        terms_of(l),
        "follower converged to the leader's log"
    );
    assert_eq!(
        f.log().get(11).map(|e| e.payload.clone()),
        Some(Payload::Noop)
    );
    // Naive backtracking needs 8 rejections here (one per index from 11 down
    // to 4); by term it needs 2 (term 3 block, then term 2 block).
    assert!(rejections <= 2, "{rejections} rejections");
    assert_eq!(l.commit_index(), 11);
}

#[test]
fn leader_does_not_count_replicas_of_an_old_term_entry() {
    // Leader has an uncommitted entry of term 2; after its election in term 3
    // it may commit index 2 only together with its own no-op (index 3).
    let mut nodes = BTreeMap::new();
    nodes.insert(1, node(1, &[1, 2], Bugs::none()));
    nodes.insert(2, node(2, &[1], Bugs::none()));
    nodes.get_mut(&1).unwrap().tick(Duration::from_secs(1));
    // Let only AppendEntries carrying index 2 alone through, as in Figure 8.
    pump(&mut nodes, |_| {});
    assert_eq!(nodes[&1].commit_index(), 3, "committed through the no-op");
    // With the bug, a leader whose no-op did not replicate still commits 2.
    let mut cfg = Config::new(1, vec![1, 2, 3]);
    cfg.bugs = Bug::CommitOldTerm.into();
    cfg.max_entries_per_message = 1;
    let p = Persisted {
        hard_state: HardState {
            term: 2,
            vote: None,
        },
        snapshot: None,
        entries: entries(&[1, 2]),
    };
    let mut buggy = BTreeMap::new();
    buggy.insert(
        1,
        RaftNode::restart(cfg.clone(), p.clone(), Duration::ZERO).unwrap(),
    );
    buggy.insert(2, node(2, &[1], Bugs::none()));
    buggy.get_mut(&1).unwrap().tick(Duration::from_secs(1));
    let mut commit_seen_before_noop = false;
    for _ in 0..50 {
        let mut msgs = Vec::new();
        for n in buggy.values_mut() {
            msgs.extend(n.take_ready().messages);
        }
        for m in msgs {
            // Drop the no-op (index 3) on its way to node 2 once node 2 holds
            // index 2 (earlier, node 2 rejects it anyway: let it through).
            let carries_noop = matches!(&m.body, Body::AppendEntries { entries, .. } if entries.iter().any(|e| e.index == 3));
            if carries_noop && buggy[&2].log().last_index() >= 2 {
                continue;
            }
            if let Some(n) = buggy.get_mut(&m.to) {
                n.step(m);
            }
        }
        if buggy[&1].commit_index() == 2 {
            commit_seen_before_noop = true;
        }
    }
    assert!(
        commit_seen_before_noop,
        "the bug counts replicas of a term-2 entry in term 3"
    );
    // And the correct build under the same drops does not.
    cfg.bugs = Bugs::none();
    let mut good = BTreeMap::new();
    good.insert(1, RaftNode::restart(cfg, p, Duration::ZERO).unwrap());
    good.insert(2, node(2, &[1], Bugs::none()));
    good.get_mut(&1).unwrap().tick(Duration::from_secs(1));
    for _ in 0..50 {
        let mut msgs = Vec::new();
        for n in good.values_mut() {
            msgs.extend(n.take_ready().messages);
        }
        for m in msgs {
            let carries_noop = matches!(&m.body, Body::AppendEntries { entries, .. } if entries.iter().any(|e| e.index == 3));
            if !carries_noop || good[&2].log().last_index() < 2 {
                if let Some(n) = good.get_mut(&m.to) {
                    n.step(m);
                }
            }
        }
    }
    assert_eq!(good[&1].role(), Role::Leader);
    assert_eq!(good[&1].commit_index(), 0);
}

#[test]
fn the_vote_is_in_the_hard_state_to_persist_unless_vote_twice() {
    for (bugs, expect) in [(Bugs::none(), Some(1)), (Bug::VoteTwice.into(), None)] {
        let mut voter = node(2, &[], bugs);
        voter.step(Message {
            from: 1,
            to: 2,
            term: 1,
            body: Body::RequestVote {
                last: LogId::default(),
            },
        });
        let rd = voter.take_ready();
        assert!(matches!(
            rd.messages.as_slice(),
            [Message {
                body: Body::RequestVoteResponse { granted: true },
                ..
            }]
        ));
        assert_eq!(
            rd.hard_state,
            Some(HardState {
                term: 1,
                vote: expect
            })
        );
    }
}

fn elected(sim: &mut Sim) -> NodeId {
    assert!(sim.run_until(3_000, |s| s.leader().is_some()).unwrap());
    sim.run_for(100).unwrap();
    sim.leader().unwrap()
}

#[test]
fn snapshot_install_brings_a_lagging_follower_up_to_date() {
    for compact_every in [10, 0] {
        let mut o = SimOptions::calm(11, 3);
        o.compact_every = compact_every;
        let mut sim = Sim::new(o);
        let l = elected(&mut sim);
        let f = others(&sim.ids(), &[l])[0];
        sim.crash(f);
        for k in 0..60 {
            sim.propose(l, k % 5).unwrap();
            sim.run_for(2).unwrap();
        }
        sim.run_for(100).unwrap();
        sim.restart(f).unwrap();
        let (_, target) = sim.state_machine(l);
        assert!(sim
            .run_until(2_000, |s| s.state_machine(f).1 >= target)
            .unwrap());
        assert_eq!(sim.state_machine(f).0, sim.state_machine(l).0);
        if compact_every > 0 {
            assert!(sim.node(l).unwrap().snapshot().is_some());
            assert!(
                sim.stats().snapshots_installed >= 1,
                "caught up through InstallSnapshot"
            );
        } else {
            assert_eq!(sim.stats().snapshots_installed, 0);
        }
    }
}

/// Cut a follower off for 2 s, heal, and report whether the leader and its
/// term survived.
fn rejoin(pre_vote: bool, check_quorum: bool) -> (bool, u64, u64) {
    let mut o = SimOptions::calm(21, 3);
    o.pre_vote = pre_vote;
    o.check_quorum = check_quorum;
    let mut sim = Sim::new(o);
    let l = elected(&mut sim);
    let term = sim.node(l).unwrap().term();
    let x = others(&sim.ids(), &[l])[0];
    sim.partition(&[&[x]]);
    sim.run_for(2_000).unwrap();
    let x_term = sim.node(x).unwrap().term();
    sim.heal();
    sim.run_for(1_000).unwrap();
    let kept = sim.leader() == Some(l) && sim.node(l).unwrap().term() == term;
    (kept, term, x_term)
}

#[test]
fn pre_vote_keeps_a_rejoining_node_from_disrupting_the_leader() {
    let (kept, term, x_term) = rejoin(true, true);
    assert!(kept, "leader deposed by a rejoining node");
    assert_eq!(x_term, term, "the cut-off node never raised its term");
    // Without pre-vote the cut-off node raises its term and, on rejoining,
    // forces the leader out.
    let (kept, term, x_term) = rejoin(false, false);
    assert!(x_term > term, "x_term {x_term} term {term}");
    assert!(!kept, "expected a disruption without pre-vote");
}

#[test]
fn check_quorum_steps_down_a_leader_cut_off_from_the_majority() {
    for check_quorum in [true, false] {
        let mut o = SimOptions::calm(31, 3);
        o.check_quorum = check_quorum;
        let mut sim = Sim::new(o);
        let l = elected(&mut sim);
        sim.partition(&[&[l]]);
        sim.run_for(250).unwrap(); // > 2 election timeouts
        let role = sim.node(l).unwrap().role();
        if check_quorum {
            assert_ne!(role, Role::Leader);
            assert_eq!(sim.node(l).unwrap().leader(), None);
        } else {
            assert_eq!(
                role,
                Role::Leader,
                "without check-quorum it keeps leading alone"
            );
        }
    }
}

#[test]
fn read_index_needs_a_quorum_round_and_fails_on_followers() {
    let mut sim = Sim::new(SimOptions::calm(41, 3));
    let l = elected(&mut sim);
    let f = others(&sim.ids(), &[l])[0];
    assert_eq!(sim.read(f).unwrap(), None, "followers refuse");
    assert_eq!(
        sim.node(f).map(|n| n.leader()),
        Some(Some(l)),
        "and know whom to redirect to"
    );
    let ctx = sim.read(l).unwrap().expect("leader accepts");
    assert!(sim.answered_reads().is_empty(), "not before a quorum round");
    sim.run_for(30).unwrap();
    assert!(sim
        .answered_reads()
        .iter()
        .any(|&(n, c, _)| n == l && c == ctx));
    // Cut off, the leader cannot confirm a read.
    sim.partition(&[&[l]]);
    let ctx = sim.read(l).unwrap().expect("still thinks it leads");
    sim.run_for(300).unwrap();
    assert!(!sim.answered_reads().iter().any(|&(_, c, _)| c == ctx));
}

#[test]
fn proposals_fail_definitely_on_followers_and_commit_on_the_leader() {
    let mut sim = Sim::new(SimOptions::calm(51, 3));
    let l = elected(&mut sim);
    let f = others(&sim.ids(), &[l])[0];
    assert_eq!(sim.propose(f, 1).unwrap(), None);
    let at = sim.propose(l, 1).unwrap().expect("leader accepts");
    assert!(sim
        .run_until(100, |s| s
            .ids()
            .iter()
            .all(|&i| s.state_machine(i).1 >= at.index))
        .unwrap());
    assert_eq!(
        sim.state_machine(f).0.get(&1).copied(),
        sim.state_machine(l).0.get(&1).copied()
    );
}

#[test]
fn restart_rejects_inconsistent_persisted_state_and_bad_configs() {
    let cfg = Config::new(1, vec![1, 2, 3]);
    let mut gap = entries(&[1, 1, 1]);
    gap.remove(1);
    let p = Persisted {
        hard_state: HardState {
            term: 1,
            vote: None,
        },
        snapshot: None,
        entries: gap,
    };
    let err = RaftNode::restart(cfg.clone(), p, Duration::ZERO)
        .err()
        .expect("gap rejected");
    assert!(
        matches!(err, RaftError::InvalidPersisted { id: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("contiguous"));
    let p = Persisted {
        hard_state: HardState {
            term: 1,
            vote: None,
        },
        snapshot: None,
        entries: entries(&[1, 2]),
    };
    assert!(
        RaftNode::restart(cfg.clone(), p, Duration::ZERO).is_err(),
        "entry term above hard state"
    );
    let mut bad = cfg.clone();
    bad.voters = vec![2, 3];
    assert!(matches!(
        RaftNode::new(bad),
        Err(RaftError::InvalidConfig { .. })
    ));
    let mut bad = cfg;
    bad.heartbeat_interval = bad.election_timeout;
    assert!(RaftNode::new(bad).is_err());
}

#[test]
fn messages_from_strangers_or_for_others_are_ignored() {
    let mut n = node(2, &[], Bugs::none());
    for m in [
        Message {
            from: 9,
            to: 2,
            term: 5,
            body: Body::RequestVote {
                last: LogId::default(),
            },
        },
        Message {
            from: 1,
            to: 3,
            term: 5,
            body: Body::RequestVote {
                last: LogId::default(),
            },
        },
    ] {
        n.step(m);
    }
    assert_eq!(n.term(), 0);
    assert!(n.take_ready().is_empty());
}

#[test]
fn a_single_node_cluster_elects_itself_commits_and_reads() {
    let mut sim = Sim::new(SimOptions::calm(61, 1));
    let l = elected(&mut sim);
    assert_eq!(l, 1);
    let at = sim.propose(l, 3).unwrap().expect("leader accepts");
    sim.run_for(1).unwrap();
    assert!(sim.state_machine(l).1 >= at.index);
    let ctx = sim.read(l).unwrap().expect("leader accepts");
    assert!(sim
        .answered_reads()
        .iter()
        .any(|&(_, c, i)| c == ctx && i >= at.index));
}

#[test]
fn malformed_append_entries_are_ignored_without_panicking() {
    let mut n = node(2, &[1, 1], Bugs::none());
    let before = terms_of(&n);
    for entries in [
        // Gap after prev.
        vec![Entry {
            term: 1,
            index: 5,
            payload: Payload::Noop,
        }],
        // Overwriting the snapshot point / index 0.
        vec![Entry {
            term: 1,
            index: 0,
            payload: Payload::Noop,
        }],
        // A term above the message's.
        vec![Entry {
            term: 9,
            index: 3,
            payload: Payload::Noop,
        }],
    ] {
        n.step(Message {
            from: 1,
            to: 2,
            term: 1,
            body: Body::AppendEntries {
                prev: LogId { term: 1, index: 2 },
                entries,
                commit: 99,
            },
        });
    }
    assert_eq!(terms_of(&n), before);
    assert_eq!(n.commit_index(), 0);
}

/// Issue 13 item 2: a follower whose log runs past a snapshot it does not
/// match (a deposed leader's uncommitted tail) receives that snapshot and,
/// before the server takes the next `Ready`, an AppendEntries right after
/// it. The entries it acknowledges must be in that `Ready` — otherwise the
/// ack is false (it counts toward commit) and the WAL sees a gap.
#[test]
fn entries_acknowledged_after_a_conflicting_snapshot_are_persisted() {
    // Follower 2: indexes 1..=6, terms 1 1 2 2 2 2 (an old leader's tail).
    let mut f = node(2, &[1, 1, 2, 2, 2, 2], Bugs::none());
    let first = f.take_ready();
    assert!(first.entries.is_empty(), "restarted from disk: nothing new");
    // The term-3 leader compacted to index 3 (term 3 there): it conflicts
    // with the follower's entry 3 of term 2.
    let snap = faultline::refkv::raft::Snapshot {
        last: LogId { term: 3, index: 3 },
        data: b"sm".to_vec(),
    };
    let msg = |body| Message {
        from: 1,
        to: 2,
        term: 3,
        body,
    };
    f.step(msg(Body::InstallSnapshot { snapshot: snap }));
    let e4 = Entry {
        term: 3,
        index: 4,
        payload: Payload::Data(b"x".to_vec()),
    };
    f.step(msg(Body::AppendEntries {
        prev: LogId { term: 3, index: 3 },
        entries: vec![e4.clone()],
        commit: 3,
    }));
    let rd = f.take_ready();
    assert_eq!(rd.truncate_from, Some(4), "the old tail is deleted");
    assert_eq!(rd.snapshot.as_ref().map(|s| s.last.index), Some(3));
    let acked: Vec<u64> = rd
        .messages
        .iter()
        .filter_map(|m| match &m.body {
            Body::AppendEntriesResponse { result: Ok(i), .. } => Some(*i),
            _ => None,
        })
        .collect();
    assert_eq!(acked, vec![4]);
    assert_eq!(
        rd.entries,
        vec![e4],
        "index 4 is acknowledged, so it must be persisted in this Ready"
    );
}
