//! From a history to `results.json`: run every checker of the workload
//! (a checker that errors or panics yields `unknown`), pair the nemesis's
//! start and stop ops into fault intervals, measure the share of the main
//! phase with a quorum up ([`crate::report::quorum`]), count ops and compute
//! latency quantiles. Shared by the end of a run and by `faultline
//! analyze` ([`reanalyze`]).
//!
//! The checkers are built once per test ([`Judge`]): a run builds them from
//! the workload it drove, a stored run from its `test.yaml`.
//!
//! An interrupted run (a signal, or a run that never stored its results)
//! is `unknown` unless its partial history is already `invalid`: the
//! checkers saw only part of what the test meant to do, so "valid" would
//! turn a CI job killed by its timeout green. `results.json` keeps the
//! checkers' own verdict of the partial history in `history_valid`.

use super::results::{NemesisSummary, Phase, Results};
use super::stored::StoredRun;
use super::ReportError;
use crate::checker::{compose, CheckResult, Checker, Validity};
use crate::history::History;
use crate::nemesis::intervals;
use crate::report::latency::{latencies, op_counts};
use crate::spec::TestSpec;
use crate::workload::{Strictness, Workload};
use std::time::Instant;

/// The checks of one test, built once: the workload's checkers, as strict
/// as the Db promises unless the workload's config relaxes them, and what
/// they hold the system to.
pub struct Judge {
    checkers: Vec<Box<dyn Checker>>,
    promise: Strictness,
}

/// What the checkers said of a history.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every checker's verdict, merged.
    pub valid: Validity,
    /// Each checker's result.
    pub checkers: Vec<CheckResult>,
    /// The seconds the checks took.
    pub seconds: f64,
    /// What the checks held the system to (`None`: not known).
    pub promise: Option<Strictness>,
}

impl Judge {
    /// The checks of `spec`, building its workload (for a stored run).
    pub fn for_spec(spec: &TestSpec) -> Result<Judge, ReportError> {
        let (checkers, promise) = spec.checks().map_err(ReportError::Workload)?;
        Ok(Judge { checkers, promise })
    }

    /// The checks of `spec` from `workload`, the one the run drove (so it
    /// is not built a second time).
    pub fn for_workload(spec: &TestSpec, workload: &dyn Workload) -> Result<Judge, ReportError> {
        let (checkers, promise) = spec.checks_of(workload).map_err(ReportError::Workload)?;
        Ok(Judge { checkers, promise })
    }

    /// Every checker over `history`: the merged verdict, each checker's
    /// result and the seconds it all took.
    pub fn check(&self, history: &History) -> Checked {
        let t = Instant::now();
        let (valid, checkers) = compose(&self.checkers, history);
        Checked {
            valid,
            checkers,
            seconds: t.elapsed().as_secs_f64(),
            promise: Some(self.promise.clone()),
        }
    }
}

/// What a run (or analysis) knows besides the history and the checks.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// When it started (RFC 3339).
    pub start: String,
    /// Why it was cut short.
    pub interrupted: Option<String>,
    /// The nemesis's name.
    pub nemesis: String,
    /// Families or targets skipped.
    pub skipped: Vec<String>,
    /// The phases.
    pub phases: Vec<Phase>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Leader changes the sampler saw (`runner::leaders`); `None` when the
    /// Db cannot tell its leader.
    pub leader_changes: Option<u64>,
    /// What online checking found during the main phase (`None`: it did
    /// not run, e.g. a stored run from before it existed).
    pub online: Option<crate::report::results::OnlineSummary>,
}

/// Assemble `results.json`.
pub fn results(spec: &TestSpec, history: &History, checked: Checked, facts: RunFacts) -> Results {
    let Checked {
        valid,
        checkers,
        seconds: secs,
        promise,
    } = checked;
    let (intervals, errors) = intervals::of_run(history, &spec.nemesis.config);
    let nodes: Vec<String> = (1..=spec.cluster.nodes).map(|i| format!("n{i}")).collect();
    let quorum_share = crate::report::quorum::quorum_share(&nodes, &intervals, &facts.phases);
    let availability = crate::report::availability::compute(history, &intervals, &facts.phases);
    let mut overall = if facts.interrupted.is_some() {
        valid.merge(Validity::Unknown)
    } else {
        valid
    };
    let mut warnings = facts.warnings;
    // An anomaly proven online is proven: the checker was sound on the
    // prefix (`Checker::prefix_closed`), so the run is invalid even when
    // the final check ran out of budget or missed it.
    if let Some(a) = facts.online.as_ref().and_then(|o| o.anomaly.as_ref()) {
        if valid != Validity::Invalid {
            warnings.push(format!(
                "online checking proved an anomaly ({}: {}) that the final check did not \
                 confirm (final verdict {valid}); the run is invalid on the online proof",
                a.checker, a.summary
            ));
        }
        overall = Validity::Invalid;
    }
    Results {
        test: spec.name.clone(),
        seed: spec.seed,
        valid: overall,
        history_valid: Some(valid),
        start: facts.start,
        interrupted: facts.interrupted,
        checkers,
        ops: op_counts(history),
        latency: latencies(history),
        nemesis: NemesisSummary {
            name: facts.nemesis,
            intervals,
            quorum_share,
            skipped: facts.skipped,
            errors,
        },
        phases: facts.phases,
        warnings,
        check_seconds: (secs * 1000.0).round() / 1000.0,
        promise,
        availability: Some(availability),
        leader_changes: facts.leader_changes,
        online: facts.online,
    }
}

/// Check a stored run again: its history with the checkers of its
/// `test.yaml`, and the facts of its `results.json` (start, interruption,
/// nemesis, phases) kept. A run with no `results.json` did not finish, and
/// is `unknown` unless its history is `invalid`.
pub fn reanalyze(run: &StoredRun) -> Result<Results, ReportError> {
    let checked = Judge::for_spec(&run.spec)?.check(&run.history);
    let warnings = run.history_warnings.clone();
    let facts = match &run.results {
        Some(p) => RunFacts {
            start: p.start.clone(),
            interrupted: p.interrupted.clone(),
            nemesis: p.nemesis.name.clone(),
            skipped: p.nemesis.skipped.clone(),
            phases: p.phases.clone(),
            warnings,
            leader_changes: p.leader_changes,
            online: p.online.clone(),
        },
        None => RunFacts {
            interrupted: Some(
                "no results.json: the run did not finish (killed?); re-checked by analyze".into(),
            ),
            nemesis: run.spec.nemesis.name.clone(),
            warnings,
            ..Default::default()
        },
    };
    Ok(results(&run.spec, &run.history, checked, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the checkers said, with nothing but the verdict.
    fn bare(valid: Validity) -> Checked {
        Checked {
            valid,
            checkers: Vec::new(),
            seconds: 0.0,
            promise: None,
        }
    }

    #[test]
    fn an_online_proof_makes_the_run_invalid_and_warns_when_the_final_check_disagrees() {
        use crate::report::results::{OnlineAnomaly, OnlineSummary};
        use Validity::*;
        let spec = TestSpec::memory("register", 2, 3, 10.0, std::path::Path::new("results"));
        let h = History::new(Vec::new());
        let anomaly = OnlineAnomaly {
            seconds: 1.5,
            at: String::new(),
            ops: 40,
            checker: "linearizable".into(),
            summary: "key 3: stale read".into(),
        };
        for (checked, found, want, warned) in [
            (Unknown, true, Invalid, true),
            (Valid, true, Invalid, true),
            (Invalid, true, Invalid, false),
            (Unknown, false, Unknown, false),
            (Valid, false, Valid, false),
        ] {
            let facts = RunFacts {
                online: Some(OnlineSummary {
                    anomaly: found.then(|| anomaly.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let r = results(&spec, &h, bare(checked), facts);
            assert_eq!(r.valid, want, "final {checked}, online anomaly {found}");
            assert_eq!(r.history_valid, Some(checked));
            let warns = r
                .warnings
                .iter()
                .any(|w| w.contains("online checking proved"));
            assert_eq!(warns, warned, "{:?}", r.warnings);
        }
    }

    #[test]
    fn an_interrupted_run_is_unknown_unless_its_partial_history_is_invalid() {
        use Validity::*;
        let spec = TestSpec::memory("set", 2, 3, 10.0, std::path::Path::new("results"));
        let h = History::new(Vec::new());
        for (checked, interrupted, want) in [
            (Valid, None, Valid),
            (Invalid, None, Invalid),
            (Valid, Some("SIGINT (Ctrl-C)"), Unknown),
            (Unknown, Some("SIGTERM"), Unknown),
            (Invalid, Some("SIGHUP"), Invalid),
        ] {
            let facts = RunFacts {
                interrupted: interrupted.map(str::to_string),
                ..Default::default()
            };
            let r = results(&spec, &h, bare(checked), facts);
            assert_eq!(r.valid, want, "{checked} interrupted by {interrupted:?}");
            assert_eq!(r.history_valid, Some(checked));
        }
    }
}
