//! From a history to `results.json`: run every checker of the workload
//! (a checker that errors or panics yields `unknown`), pair the nemesis's
//! start and stop ops into fault intervals, measure the share of the main
//! phase with a quorum up ([`crate::report::quorum`]), count ops and compute
//! latency quantiles. Shared by the end of a run and by `faultline
//! analyze`.
//!
//! An interrupted run (a signal, or a run that never stored its results)
//! is `unknown` unless its partial history is already `invalid`: the
//! checkers saw only part of what the test meant to do, so "valid" would
//! turn a CI job killed by its timeout green. `results.json` keeps the
//! checkers' own verdict of the partial history in `history_valid`.

use super::RunError;
use crate::checker::{compose, CheckResult, Validity};
use crate::history::History;
use crate::nemesis::intervals;
use crate::report::latency::{latencies, op_counts};
use crate::spec::TestSpec;
use crate::store::{NemesisSummary, Phase, Results};
use std::time::Instant;

/// Every checker of the spec's workload over `history`: the merged verdict,
/// each checker's result and the seconds it all took.
pub fn check(
    spec: &TestSpec,
    history: &History,
) -> Result<(Validity, Vec<CheckResult>, f64), RunError> {
    let (checkers, _) = spec
        .checks()
        .map_err(|e| RunError::BadInput(format!("workload: {e}")))?;
    let t = Instant::now();
    let (valid, results) = compose(&checkers, history);
    Ok((valid, results, t.elapsed().as_secs_f64()))
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
}

/// Assemble `results.json`.
pub fn results(
    spec: &TestSpec,
    history: &History,
    (valid, checkers, secs): (Validity, Vec<CheckResult>, f64),
    facts: RunFacts,
) -> Results {
    let (intervals, errors) = intervals::of_run(history, &spec.nemesis.config);
    let nodes: Vec<String> = (1..=spec.cluster.nodes).map(|i| format!("n{i}")).collect();
    let quorum_share = crate::report::quorum::quorum_share(&nodes, &intervals, &facts.phases);
    let overall = if facts.interrupted.is_some() {
        valid.merge(Validity::Unknown)
    } else {
        valid
    };
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
        warnings: facts.warnings,
        check_seconds: (secs * 1000.0).round() / 1000.0,
        promise: spec.checks().ok().map(|(_, strictness)| strictness),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let r = results(&spec, &h, (checked, Vec::new(), 0.0), facts);
            assert_eq!(r.valid, want, "{checked} interrupted by {interrupted:?}");
            assert_eq!(r.history_valid, Some(checked));
        }
    }
}
