//! The choreographies' primitives: cut, block, hold, kill, restart, and
//! bounded waits on what the nodes report (see the parent module).

use super::ElectionNemesis;
use crate::db::{Cluster, ConsensusState};
use crate::nemesis::iptables::{self, ELECTION_CHAIN};
use crate::nemesis::NemesisError;
use crate::remote::Node;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the choreography polls the nodes' state.
const POLL: Duration = Duration::from_millis(10);

/// Why a choreography stopped early (the cluster did not get there).
pub(super) struct Incomplete(pub(super) String);

/// What a choreography step can end in.
pub(super) enum Halt {
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

pub(super) fn incomplete(why: impl Into<String>) -> Halt {
    Halt::Incomplete(Incomplete(why.into()))
}

/// The steps taken, with their times since the op began.
pub(super) struct Steps {
    t0: Instant,
    pub(super) steps: Vec<Value>,
}

impl Steps {
    pub(super) fn new() -> Self {
        Steps {
            t0: Instant::now(),
            steps: Vec::new(),
        }
    }

    pub(super) fn note(&mut self, what: impl Into<String>) {
        self.steps
            .push(json!({"ms": self.t0.elapsed().as_millis() as u64, "step": what.into()}));
    }
}

/// Poll `f` every [`POLL`] until it gives `Some`, for at most `timeout`;
/// `None` at once when `irq` is set (the run is ending).
pub(super) fn wait_for<T>(
    irq: &AtomicBool,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
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
    pub(super) fn host<'c>(cluster: &'c Cluster, name: &str) -> Result<&'c Node, NemesisError> {
        cluster.node(name).ok_or_else(|| NemesisError::BadOp {
            nemesis: "election".into(),
            reason: format!("unknown node {name:?}"),
        })
    }

    /// Rewrite `node`'s chain from the current cuts and blocks.
    pub(crate) fn apply(&self, cluster: &Cluster, node: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, node)?;
        let mut rules: Vec<Vec<String>> = Vec::new();
        for src in self.cut_from.get(node).into_iter().flatten() {
            let h = &Self::host(cluster, src)?.host;
            rules.push(iptables::reset_tcp("-s", h, &[]));
            rules.push(iptables::rule(&["-s", h, "-j", "DROP"]));
        }
        for src in self.blocked.get(node).into_iter().flatten() {
            let h = &Self::host(cluster, src)?.host;
            let original = ["-m", "conntrack", "--ctdir", "ORIGINAL"];
            rules.push(iptables::reset_tcp("-s", h, &original));
        }
        if rules.is_empty() {
            iptables::flush(n, ELECTION_CHAIN)?;
        } else {
            iptables::set_rules(n, ELECTION_CHAIN, &rules)?;
        }
        Ok(())
    }

    /// Cut `a` and `b` off from each other, both ways.
    pub(crate) fn cut(&mut self, cluster: &Cluster, a: &str, b: &str) -> Result<(), NemesisError> {
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
    pub(crate) fn uncut(
        &mut self,
        cluster: &Cluster,
        a: &str,
        b: &str,
    ) -> Result<(), NemesisError> {
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
    pub(super) fn hold_until(
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
    pub(crate) fn block(
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

    pub(crate) fn kill(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        self.paused.remove(name);
        cluster.db.kill(cluster, n)?;
        self.killed.insert(name.to_string());
        Ok(())
    }

    pub(crate) fn start(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        cluster.db.start(cluster, n)?;
        self.killed.remove(name);
        Ok(())
    }

    pub(crate) fn pause(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        cluster.db.pause(cluster, n)?;
        self.paused.insert(name.to_string());
        Ok(())
    }

    pub(crate) fn resume(&mut self, cluster: &Cluster, name: &str) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        cluster.db.resume(cluster, n)?;
        self.paused.remove(name);
        Ok(())
    }

    pub(crate) fn state(cluster: &Cluster, name: &str) -> Option<ConsensusState> {
        let n = cluster.node(name)?;
        cluster.db.consensus_state(cluster, n)
    }

    /// Move `name`'s wall clock by `ms` (libfaketime); heal sets it back.
    pub(crate) fn skew(
        &mut self,
        cluster: &Cluster,
        name: &str,
        ms: i64,
    ) -> Result<(), NemesisError> {
        let n = Self::host(cluster, name)?;
        self.skewed.insert(name.to_string());
        crate::remote::faketime::write_offset(n, ms)?;
        Ok(())
    }

    /// Pause `at`, let the connections `from` opened deliver into its
    /// buffers until each has something queued, block them again, resume:
    /// `at` then handles exactly what was held. Returns false when a peer
    /// sent nothing within `timeout`.
    pub(super) fn hold(
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
