//! The `deposed-leader` choreography (see the parent module's docs).

use super::primitives::{incomplete, wait_for, Halt, Steps};
use super::ElectionNemesis;
use crate::db::{Cluster, ConsensusState};
use crate::remote::faketime::write_offset;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

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

impl ElectionNemesis {
    /// The `deposed-leader` choreography (see the module docs).
    pub(super) fn deposed_leader(
        &mut self,
        cluster: &Cluster,
        s: &mut Steps,
    ) -> Result<Value, Halt> {
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
