//! The `double-vote` choreography (see the parent module's docs).

use super::primitives::{incomplete, wait_for, Halt, Steps};
use super::ElectionNemesis;
use crate::db::Cluster;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::Duration;

impl ElectionNemesis {
    /// The `double-vote` choreography (see the module docs).
    pub(super) fn double_vote(
        &mut self,
        cluster: &Cluster,
        pick: u64,
        s: &mut Steps,
    ) -> Result<Value, Halt> {
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
