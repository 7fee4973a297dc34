//! The `figure-8` choreography: the Raft paper's Figure 8 (see the
//! parent module's docs).

use super::primitives::{incomplete, wait_for, Halt, Steps};
use super::ElectionNemesis;
use crate::db::{Cluster, ConsensusState};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::Duration;

impl ElectionNemesis {
    /// The `figure-8` choreography (see the module docs).
    pub(super) fn figure_8(
        &mut self,
        cluster: &Cluster,
        pick: u64,
        s: &mut Steps,
    ) -> Result<Value, Halt> {
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
