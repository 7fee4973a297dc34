//! Election choreographies: short scripts of real faults, timed by what the
//! nodes report of their roles and terms, that steer a consensus group
//! through the rare interleavings some bugs need — the ones a random
//! schedule of partitions and kills almost never produces.
//!
//! Only real faults are used, on the real processes and network:
//!
//! - **cut**: iptables in a node's namespace rejects (TCP reset) everything
//!   from another node, both ways;
//! - **block**: a node rejects the connections *another node opened to it*
//!   (`-m conntrack --ctdir ORIGINAL`), so that node's messages stop while
//!   the blocked node's own messages and their acknowledgements still flow;
//! - **hold**: SIGSTOP a node, let some peers' messages arrive in its socket
//!   buffers (`ss` shows them queued), block those peers again, SIGCONT: the
//!   node then handles exactly the messages that were held;
//! - **kill** (SIGKILL) and **restart** through the [`crate::db::Db`].
//!
//! The state is read with [`crate::db::Db::consensus_state`] (refkv's
//! `/status`), so a Db that cannot tell its roles and terms skips these
//! scenarios. Scenarios:
//!
//! - `double-vote` (exactly 3 nodes): two candidates of one term, each cut
//!   off from the other and both reaching a third node, the voter. The
//!   voter grants both pre-votes (a hold), then votes for the first
//!   candidate (a hold that delivers only its vote request, not its first
//!   appends), is killed and restarted, and then hears the second
//!   candidate's vote request of the *same* term. A voter that persisted its
//!   vote refuses; one that did not (refkv `--bug vote-twice`) elects a
//!   second leader in that term. The cut between the candidates stays until
//!   `stop-election`, so clients meet two leaders.
//!
//! - `figure-8` (exactly 5 nodes): the Raft paper's Figure 8. The leader A
//!   and one follower B are cut off from C, D, E while clients write
//!   through A, so A holds entries of its term that only A and B have.
//!   E is elected by C and D (holds at D), but its first entry reaches C
//!   only, and E is killed. A is elected again in a newer term with D's
//!   vote, and D receives one of A's old-term entries — and, through the
//!   holds, not yet A's first entry of the new term. A leader that counts
//!   replicas of old-term entries (refkv `--bug commit-old-term`) now
//!   commits that entry and acknowledges its client. Then A and B are cut
//!   off from D, E comes back, is elected by C and D (its last entry has a
//!   newer term than D's), and overwrites the entry: an acknowledged write
//!   is lost. The correct build never commits it, so nothing acknowledged
//!   is lost. Splitting A's entries needs `--max-entries-per-message 1`
//!   (see `clusters/refkv-figure-8.yaml`): otherwise the old entry and the
//!   new term's first one travel in one message.
//!
//! - `deposed-leader` (3 nodes or more; clock faults must apply to the
//!   Db): every node's wall clock jumps back by the same
//!   [`DEPOSED_CLOCK_BACK_MS`] (libfaketime, as the `clock` nemesis does),
//!   and only *then* the leader is cut off from every other node. The
//!   others elect a leader of a newer term and commit writes; the choreography
//!   holds until they have committed [`DEPOSED_MIN_COMMITS`] entries past
//!   the old leader's commit index while it still claims to lead (bounded by
//!   [`DEPOSED_HOLD`]), so the old leader's clients meet those writes. A
//!   leader that times a read lease by the wall clock (refkv `--bug
//!   lease-read`) trusts that lease for the whole jump and keeps serving
//!   reads from its own, now stale, state; a correct leader steps down
//!   (check-quorum) within an election timeout. The order matters, and is
//!   why this is a choreography: a leader cut off *before* its clock moves
//!   has already stepped down when the clock jumps — what a random schedule
//!   of `bump-clock` and `isolate-leader` does about half the time.
//!
//! Every wait is bounded, and every wait gives up at once when the run's
//! interrupt flag is set (the main phase ended, or Ctrl-C / SIGTERM), so a
//! choreography never holds up the heal for long.
//!
//! `start-election` takes `{"scenario": S, "pick": N}` and returns the steps
//! taken with their times, the nodes' parts, and the outcome (`two-leaders`
//! or `voter-refused` for `double-vote`; `old-entry-committed-then-lost` or
//! `old-entry-not-committed` for `figure-8`; `deposed-leader-kept-leading`
//! or `old-leader-stepped-down` for `deposed-leader`; or `incomplete` with the step
//! that did not happen — the
//! cluster did not get there, which is not an error). `stop-election` heals
//! everything: rules flushed, paused nodes resumed, killed nodes restarted,
//! clocks set back to real time.

use super::iptables::{self, ELECTION_CHAIN};
use super::{Interrupt, Nemesis, NemesisError};
use crate::db::{Cluster, ConsensusState};
use crate::history::Op;
use crate::remote::faketime::write_offset;
use crate::remote::Node;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The scenarios, in documentation order.
pub const SCENARIOS: [&str; 3] = ["double-vote", "figure-8", "deposed-leader"];

/// `deposed-leader`: how far every clock jumps back. A wall-clock lease
/// taken just before the jump stays valid this long in real time, so it
/// must outlast the whole hold ([`DEPOSED_HOLD`] plus the wait for a new
/// leader) with room to spare for a slow, busy machine.
pub const DEPOSED_CLOCK_BACK_MS: i64 = 20_000;

/// `deposed-leader`: how many entries the new leader must commit past the
/// old leader's commit index before the hold may end — writes the old
/// leader's readers have not seen.
pub const DEPOSED_MIN_COMMITS: u64 = 20;

/// `deposed-leader`: the longest hold after the new leader is elected, and
/// the shortest (reads at the old leader need time to meet those writes).
pub const DEPOSED_HOLD: Duration = Duration::from_secs(8);
const DEPOSED_MIN_HOLD: Duration = Duration::from_secs(2);

/// How often the choreography polls the nodes' state.
const POLL: Duration = Duration::from_millis(10);

/// The election-choreography nemesis.
#[derive(Debug, Default)]
pub struct ElectionNemesis {
    /// Scenarios the schedule chooses from.
    pub scenarios: Vec<String>,
    /// Per node: peers whose every packet it rejects.
    cut_from: BTreeMap<String, BTreeSet<String>>,
    /// Per node: peers whose own connections to it it rejects.
    blocked: BTreeMap<String, BTreeSet<String>>,
    /// Nodes paused by us.
    paused: BTreeSet<String>,
    /// Nodes killed by us and not restarted yet.
    killed: BTreeSet<String>,
    /// Nodes whose clock we moved and have not set back yet.
    skewed: BTreeSet<String>,
    /// Set when the run's main phase ends or the run stops.
    irq: Interrupt,
}

/// Why a choreography stopped early (the cluster did not get there).
struct Incomplete(String);

/// What a choreography step can end in.
enum Halt {
    Incomplete(Incomplete),
    Error(NemesisError),
}

impl From<NemesisError> for Halt {
    fn from(e: NemesisError) -> Self {
        Halt::Error(e)
    }
}

impl From<crate::db::DbError> for Halt {
    fn from(e: crate::db::DbError) -> Self {
        Halt::Error(e.into())
    }
}

impl From<crate::remote::RemoteError> for Halt {
    fn from(e: crate::remote::RemoteError) -> Self {
        Halt::Error(e.into())
    }
}

fn incomplete(why: impl Into<String>) -> Halt {
    Halt::Incomplete(Incomplete(why.into()))
}

/// The steps taken, with their times since the op began.
struct Steps {
    t0: Instant,
    steps: Vec<Value>,
}

impl Steps {
    fn new() -> Self {
        Steps {
            t0: Instant::now(),
            steps: Vec::new(),
        }
    }

    fn note(&mut self, what: impl Into<String>) {
        self.steps
            .push(json!({"ms": self.t0.elapsed().as_millis() as u64, "step": what.into()}));
    }
}

/// Poll `f` every [`POLL`] until it gives `Some`, for at most `timeout`;
/// `None` at once when `irq` is set (the run is ending).
fn wait_for<T>(irq: &AtomicBool, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if irq.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// The peers (by address) with bytes waiting unread in `node`'s
/// established TCP connections: what a paused node holds.
pub fn held_from(node: &Node) -> Result<BTreeSet<String>, crate::remote::RemoteError> {
    let out = node
        .remote
        .exec_ok(&["ss", "-tnH", "state", "established"])?;
    Ok(parse_ss_held(&out.stdout))
}

/// Parse `ss -tnH state established` lines (`Recv-Q Send-Q Local Peer`):
/// the peer addresses of connections with a non-zero receive queue.
pub fn parse_ss_held(out: &str) -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 4 {
            continue;
        }
        let Ok(recv_q) = cols[0].parse::<u64>() else {
            continue;
        };
        if recv_q == 0 {
            continue;
        }
        let peer = cols[3];
        let ip = peer
            .rsplit_once(':')
            .map(|(ip, _)| ip)
            .unwrap_or(peer)
            .trim_start_matches('[')
            .trim_end_matches(']');
        held.insert(ip.to_string());
    }
    held
}

impl ElectionNemesis {
    /// A nemesis choosing among `scenarios` (all when empty).
    pub fn new(scenarios: Vec<String>) -> Self {
        ElectionNemesis {
            scenarios,
            ..Default::default()
        }
    }

    fn host<'c>(cluster: &'c Cluster, name: &str) -> Result<&'c Node, NemesisError> {
        cluster.node(name).ok_or_else(|| NemesisError::BadOp {
            nemesis: "election".into(),
            reason: format!("unknown node {name:?}"),
        })
    }

    /// Rewrite `node`'s chain from the current cuts and blocks.
    fn apply(&self, cluster: &Cluster, node: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, node)?;
        let mut rules: Vec<Vec<String>> = Vec::new();
        for src in self.cut_from.get(node).into_iter().flatten() {
            let h = &Self::host(cluster, src)?.host;
            rules.push(
                [
                    "-s",
                    h,
                    "-p",
                    "tcp",
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "tcp-reset",
                ]
                .map(String::from)
                .to_vec(),
            );
            rules.push(["-s", h, "-j", "DROP"].map(String::from).to_vec());
        }
        for src in self.blocked.get(node).into_iter().flatten() {
            let h = &Self::host(cluster, src)?.host;
            rules.push(
                [
                    "-s",
                    h,
                    "-p",
                    "tcp",
                    "-m",
                    "conntrack",
                    "--ctdir",
                    "ORIGINAL",
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "tcp-reset",
                ]
                .map(String::from)
                .to_vec(),
            );
        }
        if rules.is_empty() {
            iptables::flush(n, ELECTION_CHAIN)?;
        } else {
            iptables::set_rules(n, ELECTION_CHAIN, &rules)?;
        }
        Ok(())
    }

    /// Cut `a` and `b` off from each other, both ways.
    fn cut(&mut self, cluster: &Cluster, a: &str, b: &str) -> Result<(), NemesisError> {
        self.cut_from
            .entry(a.to_string())
            .or_default()
            .insert(b.to_string());
        self.cut_from
            .entry(b.to_string())
            .or_default()
            .insert(a.to_string());
        self.apply(cluster, a)?;
        self.apply(cluster, b)
    }

    /// Undo [`Self::cut`] between `a` and `b`.
    fn uncut(&mut self, cluster: &Cluster, a: &str, b: &str) -> Result<(), NemesisError> {
        if let Some(set) = self.cut_from.get_mut(a) {
            set.remove(b);
        }
        if let Some(set) = self.cut_from.get_mut(b) {
            set.remove(a);
        }
        self.apply(cluster, a)?;
        self.apply(cluster, b)
    }

    /// Hold at `at` what `from` sends, again and again, until `done` (asked
    /// while `at` runs) holds; at most `tries` holds, each waiting up to
    /// `per_hold` for something to arrive.
    fn hold_until(
        &mut self,
        cluster: &Cluster,
        at: &str,
        from: &[&str],
        tries: usize,
        per_hold: Duration,
        mut done: impl FnMut() -> bool,
    ) -> Result<bool, Halt> {
        let irq = self.irq.clone();
        for _ in 0..tries {
            if irq.load(Ordering::SeqCst) {
                return Ok(false);
            }
            if done() {
                return Ok(true);
            }
            self.hold(cluster, at, from, per_hold)?;
            // Let `at` handle what it got, and the others answer.
            if wait_for(&irq, Duration::from_millis(300), || done().then_some(())).is_some() {
                return Ok(true);
            }
        }
        Ok(done())
    }

    /// `at` rejects the connections `from` opened to it (or stops doing so).
    fn block(
        &mut self,
        cluster: &Cluster,
        at: &str,
        from: &[&str],
        on: bool,
    ) -> Result<(), NemesisError> {
        let set = self.blocked.entry(at.to_string()).or_default();
        for f in from {
            if on {
                set.insert(f.to_string());
            } else {
                set.remove(*f);
            }
        }
        self.apply(cluster, at)
    }

    fn kill(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        self.paused.remove(name);
        cluster.db.kill(cluster, n)?;
        self.killed.insert(name.to_string());
        Ok(())
    }

    fn start(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        cluster.db.start(cluster, n)?;
        self.killed.remove(name);
        Ok(())
    }

    fn pause(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        cluster.db.pause(cluster, n)?;
        self.paused.insert(name.to_string());
        Ok(())
    }

    fn resume(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        cluster.db.resume(cluster, n)?;
        self.paused.remove(name);
        Ok(())
    }

    fn state(cluster: &Cluster, name: &str) -> Option<ConsensusState> {
        let n = cluster.node(name)?;
        cluster.db.consensus_state(cluster, n)
    }

    /// Pause `at`, let the connections `from` opened deliver into its
    /// buffers until each has something queued, block them again, resume:
    /// `at` then handles exactly what was held. Returns false when a peer
    /// sent nothing within `timeout`.
    fn hold(
        &mut self,
        cluster: &Cluster,
        at: &str,
        from: &[&str],
        timeout: Duration,
    ) -> Result<bool, Halt> {
        let irq = self.irq.clone();
        self.pause(cluster, at)?;
        self.block(cluster, at, from, false)?;
        let node = Self::host(cluster, at)?.clone();
        let want: BTreeSet<String> = from
            .iter()
            .map(|f| Self::host(cluster, f).map(|n| n.host.clone()))
            .collect::<Result<_, _>>()?;
        let mut err = None;
        let got = wait_for(&irq, timeout, || match held_from(&node) {
            Ok(h) => want.is_subset(&h).then_some(()),
            Err(e) => {
                err = Some(e);
                Some(())
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        // Let the rest of a message that is still arriving land too.
        std::thread::sleep(Duration::from_millis(30));
        self.block(cluster, at, from, true)?;
        self.resume(cluster, at)?;
        Ok(got.is_some())
    }

    /// Undo everything: flush our rules, resume and restart what we stopped.
    fn heal(&mut self, cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
        self.cut_from.clear();
        self.blocked.clear();
        let mut first_err: Option<NemesisError> =
            iptables::flush_all(&cluster.nodes, &[ELECTION_CHAIN])
                .err()
                .map(Into::into);
        let mut touched = Vec::new();
        for name in std::mem::take(&mut self.paused) {
            if let Some(n) = cluster.node(&name) {
                match cluster.db.resume(cluster, n) {
                    Ok(()) => touched.push(format!("resumed {name}")),
                    Err(e) => {
                        first_err.get_or_insert(e.into());
                    }
                }
            }
        }
        for name in std::mem::take(&mut self.killed) {
            if let Some(n) = cluster.node(&name) {
                match cluster.db.start(cluster, n) {
                    Ok(()) => touched.push(format!("restarted {name}")),
                    Err(e) => {
                        first_err.get_or_insert(e.into());
                    }
                }
            }
        }
        for name in std::mem::take(&mut self.skewed) {
            if let Some(n) = cluster.node(&name) {
                match write_offset(n, 0) {
                    Ok(()) => touched.push(format!("clock of {name} reset")),
                    Err(e) => {
                        // Keep it listed so a second heal tries again.
                        self.skewed.insert(name);
                        first_err.get_or_insert(e.into());
                    }
                }
            }
        }
        match first_err {
            None => Ok(touched),
            Some(e) => Err(e),
        }
    }

    /// The `double-vote` choreography (see the module docs).
    fn double_vote(&mut self, cluster: &Cluster, pick: u64, s: &mut Steps) -> Result<Value, Halt> {
        let mut names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        if names.len() != 3 {
            return Err(incomplete(format!(
                "double-vote needs exactly 3 nodes, the cluster has {}",
                names.len()
            )));
        }
        names.shuffle(&mut ChaCha8Rng::seed_from_u64(pick));
        let irq = self.irq.clone();
        let (y, a, b) = (names[0].as_str(), names[1].as_str(), names[2].as_str());
        let parts = json!({"voter": y, "candidates": [a, b]});
        let probe = cluster
            .node(a)
            .and_then(|n| cluster.db.consensus_state(cluster, n));
        if probe.is_none() {
            return Err(incomplete(format!(
                "{a} does not report its role and term; the Db cannot be choreographed"
            )));
        }

        // 1. The voter falls behind, so that after its restart it cannot
        //    win an election itself.
        self.kill(cluster, y)?;
        s.note(format!("kill {y}; {a} and {b} go on without it"));
        let led = wait_for(&irq, Duration::from_secs(10), || {
            let l = [a, b]
                .into_iter()
                .any(|n| Self::state(cluster, n).is_some_and(|st| st.is_leader()));
            l.then_some(())
        });
        if led.is_none() {
            return Err(incomplete(format!("neither {a} nor {b} led within 10 s")));
        }
        std::thread::sleep(Duration::from_millis(1000));

        // 2. Cut the candidates apart; the voter comes back hearing nobody.
        self.cut(cluster, a, b)?;
        self.block(cluster, y, &[a, b], true)?;
        self.start(cluster, y)?;
        if wait_for(&irq, Duration::from_secs(10), || Self::state(cluster, y)).is_none() {
            return Err(incomplete(format!("{y} did not come back within 10 s")));
        }
        s.note(format!(
            "cut {a} from {b}; restart {y}, refusing what {a} and {b} send it"
        ));
        let leaderless = wait_for(&irq, Duration::from_secs(10), || {
            let sa = Self::state(cluster, a)?;
            let sb = Self::state(cluster, b)?;
            (!sa.is_leader() && !sb.is_leader()).then_some(())
        });
        if leaderless.is_none() {
            return Err(incomplete(format!("{a} or {b} still leads after 10 s")));
        }
        s.note(format!("{a} and {b} have no leader"));

        // 3. Hold both candidates' pre-votes at the voter and deliver them
        //    together: it grants both before its term moves.
        if !self.hold(cluster, y, &[a, b], Duration::from_secs(10))? {
            return Err(incomplete(format!(
                "{a} and {b} sent {y} nothing within 10 s"
            )));
        }
        s.note(format!("{y} handled the held pre-votes of {a} and {b}"));
        let both = wait_for(&irq, Duration::from_secs(3), || {
            let sa = Self::state(cluster, a)?;
            let sb = Self::state(cluster, b)?;
            (sa.is_candidate() && sb.is_candidate() && sa.term == sb.term).then_some(sa.term)
        });
        let Some(term) = both else {
            return Err(incomplete(format!(
                "{a} and {b} did not both campaign in one term"
            )));
        };
        s.note(format!("{a} and {b} both campaign in term {term}"));

        // 4. Deliver only the first candidate's vote request; its appends
        //    (which would bring the voter an entry of this term) stay out.
        if !self.hold(cluster, y, &[a], Duration::from_secs(3))? {
            return Err(incomplete(format!("{a} sent {y} nothing within 3 s")));
        }
        let a_leads = wait_for(&irq, Duration::from_secs(2), || {
            let sa = Self::state(cluster, a)?;
            (sa.is_leader() && sa.term == term).then_some(())
        });
        if a_leads.is_none() {
            return Err(incomplete(format!("{y} did not elect {a} in term {term}")));
        }
        s.note(format!("{y} voted for {a}; {a} leads term {term}"));

        // 5. The voter crashes and comes back; then the second candidate's
        //    vote request of the same term reaches it.
        self.kill(cluster, y)?;
        self.start(cluster, y)?;
        self.block(cluster, y, &[b], false)?;
        s.note(format!(
            "kill and restart {y}; let {b}'s vote request of term {term} through"
        ));
        let b_leads = wait_for(&irq, Duration::from_secs(4), || {
            let sb = Self::state(cluster, b)?;
            (sb.is_leader() && sb.term == term).then_some(())
        });
        // 6. Both leaders reach the voter; the cut between them stays.
        self.block(cluster, y, &[a], false)?;
        let outcome = if b_leads.is_some() {
            s.note(format!(
                "{b} leads term {term} too: {y} voted twice in one term"
            ));
            "two-leaders"
        } else {
            s.note(format!(
                "{y} did not vote for {b} in term {term} (its vote survived the restart)"
            ));
            "voter-refused"
        };
        Ok(json!({"parts": parts, "term": term, "outcome": outcome}))
    }
}

impl ElectionNemesis {
    /// The `figure-8` choreography (see the module docs).
    fn figure_8(&mut self, cluster: &Cluster, pick: u64, s: &mut Steps) -> Result<Value, Halt> {
        let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        if names.len() != 5 {
            return Err(incomplete(format!(
                "figure-8 needs exactly 5 nodes, the cluster has {}",
                names.len()
            )));
        }
        let irq = self.irq.clone();
        // 0. Who leads.
        let found = wait_for(&irq, Duration::from_secs(10), || {
            names.iter().find_map(|n| {
                Self::state(cluster, n)
                    .filter(ConsensusState::is_leader)
                    .map(|st| (n.clone(), st.term))
            })
        });
        let Some((a, old_term)) = found else {
            return Err(incomplete("no leader within 10 s"));
        };
        let mut rest: Vec<String> = names.iter().filter(|n| **n != a).cloned().collect();
        rest.shuffle(&mut ChaCha8Rng::seed_from_u64(pick));
        // E must win C's and D's votes later: take the follower whose log
        // is the most up to date (the first in shuffled order on a tie).
        let rank = |n: &String| {
            Self::state(cluster, n)
                .map(|st| (st.last_term.unwrap_or(0), st.last_index.unwrap_or(0)))
                .unwrap_or((0, 0))
        };
        let ranks: Vec<(u64, u64)> = rest.iter().map(rank).collect();
        let best = (0..rest.len()).rev().max_by_key(|&i| ranks[i]).unwrap_or(0);
        let e_name = rest.remove(best);
        let (a, b, c, d, e) = (
            a.as_str(),
            rest[0].as_str(),
            rest[1].as_str(),
            rest[2].as_str(),
            e_name.as_str(),
        );
        let parts = json!({"old-leader": a, "with-old-leader": b, "new-leader": e,
                           "voter": d, "other": c});

        // 1. The leader and B are cut off from C, D, E while clients write
        //    through it; D hears nothing from C and E either.
        for x in [a, b] {
            for y in [c, d, e] {
                self.cut(cluster, x, y)?;
            }
        }
        self.block(cluster, d, &[c, e], true)?;
        s.note(format!(
            "cut {a} (leader, term {old_term}) and {b} off from {c}, {d}, {e}; {d} refuses {c} and {e}"
        ));
        let deposed = wait_for(&irq, Duration::from_secs(10), || {
            Self::state(cluster, a).filter(|st| !st.is_leader())
        });
        let Some(sa) = deposed else {
            return Err(incomplete(format!("{a} still leads after 10 s")));
        };
        let maj_last = [c, d, e]
            .iter()
            .filter_map(|n| Self::state(cluster, n).and_then(|st| st.last_index))
            .max();
        let (Some(a_last), Some(maj_last)) = (sa.last_index, maj_last) else {
            return Err(incomplete("the nodes do not report their log indices"));
        };
        if a_last <= maj_last {
            return Err(incomplete(format!(
                "no client write reached {a} after the cut (its log ends at {a_last}, the \
                 majority's at {maj_last})"
            )));
        }
        let x = maj_last + 1;
        s.note(format!(
            "{a} stepped down holding entries {x}..={a_last} of term {old_term}, on {a} and {b} only"
        ));

        // 2. E is elected by C and D, but its first entry reaches C only.
        let e_leads = self.hold_until(cluster, d, &[e], 8, Duration::from_secs(5), || {
            Self::state(cluster, e).is_some_and(|st| st.is_leader())
        })?;
        if !e_leads {
            return Err(incomplete(format!("{d} and {c} did not elect {e}")));
        }
        let e_term = Self::state(cluster, e).map(|st| st.term).unwrap_or(0);
        self.kill(cluster, e)?;
        s.note(format!(
            "{e} was elected in term {e_term} by {c} and {d} (its first entry reached {c} only); kill {e}"
        ));

        // 3. A leads a newer term with D's vote; D gets the old entry at x
        //    and, held back, not the new term's first entry.
        self.block(cluster, d, &[a, b], true)?;
        self.uncut(cluster, a, d)?;
        self.uncut(cluster, b, d)?;
        let a_leads = self.hold_until(cluster, d, &[a], 10, Duration::from_secs(5), || {
            Self::state(cluster, a).is_some_and(|st| st.is_leader() && st.term > e_term)
        })?;
        if !a_leads {
            return Err(incomplete(format!(
                "{a} was not elected again with {d}'s vote"
            )));
        }
        let new_term = Self::state(cluster, a).map(|st| st.term).unwrap_or(0);
        s.note(format!("{a} leads term {new_term} with {b} and {d}"));
        let d_has_x = self.hold_until(cluster, d, &[a], 12, Duration::from_secs(3), || {
            Self::state(cluster, d).is_some_and(|st| st.last_index.unwrap_or(0) >= x)
        })?;
        let sd = Self::state(cluster, d);
        if !d_has_x {
            return Err(incomplete(format!("{d} did not get entry {x} from {a}")));
        }
        if sd.as_ref().and_then(|st| st.last_term) != Some(old_term) {
            return Err(incomplete(format!(
                "{d} got {a}'s entries of term {new_term} along with entry {x}"
            )));
        }
        // The leader counts A, B and D for entry x: does it commit it?
        std::thread::sleep(Duration::from_millis(300));
        let a_commit = Self::state(cluster, a)
            .and_then(|st| st.commit_index)
            .unwrap_or(0);
        let committed = a_commit >= x;
        s.note(format!(
            "{d} has entry {x} (term {old_term}) but not term {new_term}'s; {a}'s commit index is {a_commit}{}",
            if committed {
                ": it committed an entry of an old term by counting replicas"
            } else {
                ""
            }
        ));

        // 4. A and B are cut off from D; E comes back, C and D elect it (its
        //    last entry, of term e_term, is newer than D's), and it
        //    overwrites entry x on D.
        self.cut(cluster, a, d)?;
        self.cut(cluster, b, d)?;
        self.block(cluster, d, &[a, b, c, e], false)?;
        self.start(cluster, e)?;
        s.note(format!("cut {a} and {b} off from {d} again; restart {e}"));
        let newer = wait_for(&irq, Duration::from_secs(15), || {
            [c, e].into_iter().find_map(|n| {
                Self::state(cluster, n)
                    .filter(|st| st.is_leader() && st.term > new_term)
                    .map(|st| (n.to_string(), st.term))
            })
        });
        let Some((l, l_term)) = newer else {
            return Err(incomplete(format!(
                "neither {c} nor {e} was elected within 15 s"
            )));
        };
        let overwritten = wait_for(&irq, Duration::from_secs(5), || {
            Self::state(cluster, d)
                .filter(|st| {
                    st.last_term.unwrap_or(0) > old_term && st.commit_index.unwrap_or(0) >= x
                })
                .map(|_| ())
        });
        s.note(format!(
            "{l} leads term {l_term}; entry {x} on {d} {}",
            if overwritten.is_some() {
                "was overwritten"
            } else {
                "was not overwritten within 5 s"
            }
        ));
        let outcome = match (committed, overwritten.is_some()) {
            (true, true) => "old-entry-committed-then-lost",
            (true, false) => "old-entry-committed",
            (false, _) => "old-entry-not-committed",
        };
        Ok(
            json!({"parts": parts, "entry": x, "terms": [old_term, e_term, new_term, l_term],
                  "outcome": outcome}),
        )
    }
}

impl ElectionNemesis {
    /// The `deposed-leader` choreography (see the module docs).
    fn deposed_leader(&mut self, cluster: &Cluster, s: &mut Steps) -> Result<Value, Halt> {
        if let Err(reason) = cluster.db.capabilities().clock {
            return Err(incomplete(format!(
                "deposed-leader moves clocks, which do not apply here: {reason}"
            )));
        }
        let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        if names.len() < 3 {
            return Err(incomplete(format!(
                "deposed-leader needs at least 3 nodes, the cluster has {}",
                names.len()
            )));
        }
        let irq = self.irq.clone();
        // 0. Who leads.
        let leader_of = |names: &[String]| {
            names.iter().find_map(|n| {
                Self::state(cluster, n)
                    .filter(ConsensusState::is_leader)
                    .map(|st| (n.clone(), st.term))
            })
        };
        let Some((l, term)) = wait_for(&irq, Duration::from_secs(10), || leader_of(&names)) else {
            return Err(incomplete("no leader within 10 s"));
        };

        // 1. Every clock jumps back by the same amount, while the leader
        //    still hears a quorum: a wall-clock lease it took a moment ago
        //    now ends DEPOSED_CLOCK_BACK_MS later in real time.
        for node in &cluster.nodes {
            self.skewed.insert(node.name.clone());
            write_offset(node, -DEPOSED_CLOCK_BACK_MS)?;
        }
        s.note(format!(
            "every clock jumps back {} ms; {l} leads term {term}",
            DEPOSED_CLOCK_BACK_MS
        ));
        // A few heartbeat rounds on the moved clock, so the leader has
        // surely read it before it is cut off.
        std::thread::sleep(Duration::from_millis(300));
        if !Self::state(cluster, &l).is_some_and(|st| st.is_leader() && st.term == term) {
            return Err(incomplete(format!(
                "{l} lost its leadership of term {term} before it was cut off"
            )));
        }

        // 2. The leader is cut off from every other node.
        let others: Vec<String> = names.iter().filter(|n| **n != l).cloned().collect();
        for o in &others {
            self.cut(cluster, &l, o)?;
        }
        s.note(format!("cut {l} off from {}", others.join(", ")));

        // 3. The others elect a leader of a newer term.
        let newer = wait_for(&irq, Duration::from_secs(10), || {
            others.iter().find_map(|n| {
                Self::state(cluster, n)
                    .filter(|st| st.is_leader() && st.term > term)
                    .map(|st| (n.clone(), st.term))
            })
        });
        let Some((m, m_term)) = newer else {
            return Err(incomplete(format!(
                "{} elected no leader within 10 s",
                others.join(", ")
            )));
        };
        let elected = Instant::now();
        s.note(format!("{m} leads term {m_term}"));

        // 4. Hold while the new leader commits writes the old one has not
        //    seen, watching whether the old one still claims to lead.
        let mut still_leads = true;
        let mut ahead = 0;
        wait_for(&irq, DEPOSED_HOLD, || {
            let old = Self::state(cluster, &l);
            still_leads = old
                .as_ref()
                .is_some_and(|st| st.is_leader() && st.term == term);
            let old_commit = old.and_then(|st| st.commit_index).unwrap_or(0);
            let new_commit = Self::state(cluster, &m)
                .and_then(|st| st.commit_index)
                .unwrap_or(0);
            ahead = new_commit.saturating_sub(old_commit);
            let enough = ahead >= DEPOSED_MIN_COMMITS && elected.elapsed() >= DEPOSED_MIN_HOLD;
            // A leader that stepped down ends the hold at once: there is
            // nothing more to see.
            (!still_leads || enough).then_some(())
        });
        let outcome = if still_leads {
            s.note(format!(
                "{l} still leads term {term} while {m} (term {m_term}) committed {ahead} \
                 entries it does not have"
            ));
            "deposed-leader-kept-leading"
        } else {
            s.note(format!("{l} stepped down"));
            "old-leader-stepped-down"
        };
        Ok(json!({
            "parts": {"old-leader": l, "new-leader": m},
            "terms": [term, m_term],
            "clock_back_ms": DEPOSED_CLOCK_BACK_MS,
            "outcome": outcome,
        }))
    }
}

impl Nemesis for ElectionNemesis {
    fn name(&self) -> &str {
        "election"
    }

    fn fs(&self) -> Vec<String> {
        vec!["start-election".into(), "stop-election".into()]
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        for node in &cluster.nodes {
            iptables::ensure_chain(node, ELECTION_CHAIN)?;
        }
        self.heal(cluster).map(|_| ())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match op.f.as_str() {
            "start-election" => {
                let scenario = op
                    .value
                    .get("scenario")
                    .and_then(Value::as_str)
                    .or_else(|| self.scenarios.first().map(String::as_str))
                    .unwrap_or("double-vote")
                    .to_string();
                let pick = super::target::pick_of(&op.value);
                // A new choreography starts from a healed cluster.
                self.heal(cluster)?;
                let mut steps = Steps::new();
                let r = match scenario.as_str() {
                    "double-vote" => self.double_vote(cluster, pick, &mut steps),
                    "figure-8" => self.figure_8(cluster, pick, &mut steps),
                    "deposed-leader" => self.deposed_leader(cluster, &mut steps),
                    other => {
                        return Err(NemesisError::BadOp {
                            nemesis: "election".into(),
                            reason: format!(
                                "unknown scenario {other:?}; valid: {}",
                                SCENARIOS.join(", ")
                            ),
                        })
                    }
                };
                match r {
                    Ok(mut v) => {
                        v["scenario"] = json!(scenario);
                        v["steps"] = json!(steps.steps);
                        Ok(v)
                    }
                    Err(Halt::Incomplete(Incomplete(mut why))) => {
                        if self.irq.load(Ordering::SeqCst) {
                            why = format!("interrupted, the run is ending ({why})");
                        }
                        steps.note(format!("gave up: {why}"));
                        let healed = self.heal(cluster)?;
                        Ok(json!({
                            "scenario": scenario,
                            "outcome": "incomplete",
                            "reason": why,
                            "steps": steps.steps,
                            "healed": healed,
                        }))
                    }
                    Err(Halt::Error(e)) => {
                        let _ = self.heal(cluster);
                        Err(e)
                    }
                }
            }
            "stop-election" => Ok(json!({"healed": self.heal(cluster)?})),
            other => Err(NemesisError::BadOp {
                nemesis: "election".into(),
                reason: format!("unknown op f {other:?}"),
            }),
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        self.heal(cluster).map(|_| ())
    }

    fn set_interrupt(&mut self, flag: Interrupt) {
        self.irq = flag;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_lines_with_queued_bytes_name_their_peers() {
        let out = "0      0      10.213.7.11:8081  10.213.7.12:40000\n\
                   37     0      10.213.7.11:8081  10.213.7.13:40002\n\
                   0      12     10.213.7.11:51000 10.213.7.13:8081\n\
                   5      0      [::1]:8081        [::1]:40004\n\
                   garbage\n";
        let held = parse_ss_held(out);
        assert_eq!(
            held.into_iter().collect::<Vec<_>>(),
            vec!["10.213.7.13".to_string(), "::1".to_string()]
        );
    }

    #[test]
    fn waits_give_up_at_once_when_interrupted() {
        let irq = AtomicBool::new(true);
        let t = Instant::now();
        assert_eq!(wait_for(&irq, Duration::from_secs(5), || None::<()>), None);
        assert!(t.elapsed() < Duration::from_secs(1));
        let irq = AtomicBool::new(false);
        assert_eq!(wait_for(&irq, Duration::from_secs(5), || Some(3)), Some(3));
        let t = Instant::now();
        assert_eq!(
            wait_for(&irq, Duration::from_millis(50), || None::<()>),
            None
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn nothing_queued_means_nothing_held() {
        assert!(parse_ss_held("").is_empty());
        assert!(parse_ss_held("0 0 1.2.3.4:1 5.6.7.8:2\n").is_empty());
    }
}
