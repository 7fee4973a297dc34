//! A nemesis file (`nemeses/*.yaml`): which fault families, how often,
//! how long a fault may last, and each family's options. Only the values
//! are checked here; what a family does with its options is its own
//! [`Family`] descriptor's business (see [`super::family`]).

use super::family::{self, Family, FAMILIES, REGISTRY, SCENARIO_FAMILIES};
use super::partition::PartitionKind;
use super::target::Target;
use super::NemesisError;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Default `max-fault-duration`, seconds: longer than the default interval,
/// so two families still overlap, short enough that no single fault holds
/// a quarter of a default 60 s run.
pub const DEFAULT_MAX_FAULT_DURATION: f64 = 15.0;
/// Default `cool-down`, seconds: a few Raft election timeouts, time for
/// the cluster to recover before the same family hits again.
pub const DEFAULT_COOL_DOWN: f64 = 5.0;

/// A nemesis file (`nemeses/*.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct NemesisConfig {
    /// Families: `partition`, `kill`, `pause`, `clock`, `loss`, or `all`
    /// (every family the Db supports). Empty: no faults.
    pub faults: Vec<String>,
    /// Seconds between two nemesis ops (a start or a stop).
    pub interval: f64,
    /// Let faults of different families overlap (default true): each
    /// interval a random family starts its fault, or stops it when it is in
    /// force. `false`: one fault at a time, start then stop.
    pub overlap: bool,
    /// Seconds after which a fault heals by itself (a stop op), whatever
    /// the schedule picks meanwhile.
    pub max_fault_duration: f64,
    /// Seconds after a fault stops before its family may start again.
    pub cool_down: f64,
    /// Partition options.
    pub partition: PartitionConfig,
    /// Kill options.
    pub kill: TargetConfig,
    /// Pause options.
    pub pause: TargetConfig,
    /// Clock options.
    pub clock: ClockConfig,
    /// Packet-loss options.
    pub loss: LossConfig,
    /// Election-choreography options (family `election`).
    pub election: ElectionConfig,
    /// Adaptive-nemesis options (family `adaptive`).
    pub adaptive: super::adaptive::AdaptiveConfig,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            faults: vec!["partition".into(), "kill".into()],
            interval: 10.0,
            overlap: true,
            max_fault_duration: DEFAULT_MAX_FAULT_DURATION,
            cool_down: DEFAULT_COOL_DOWN,
            partition: PartitionConfig::default(),
            kill: TargetConfig {
                targets: vec![Target::One, Target::Leader, Target::Minority, Target::All],
            },
            pause: TargetConfig {
                targets: vec![Target::One, Target::Leader],
            },
            clock: ClockConfig::default(),
            loss: LossConfig::default(),
            election: ElectionConfig::default(),
            adaptive: Default::default(),
        }
    }
}

/// Election-choreography options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ElectionConfig {
    /// Scenarios: `double-vote`.
    pub targets: Vec<String>,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            targets: super::election::SCENARIOS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Which partitions to draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct PartitionConfig {
    /// Partition kinds.
    pub targets: Vec<PartitionKind>,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            targets: PartitionKind::ALL.to_vec(),
        }
    }
}

/// Which nodes a process fault hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetConfig {
    /// Targets: `one`, `leader`, `minority`, `majority`, `all`.
    pub targets: Vec<Target>,
}

/// A clock fault that starts a cycle (`reset` always ends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockFault {
    /// Jump some clocks by ± up to `max-skew-ms`.
    Bump,
    /// Jump every clock back by the same amount (`bump-clock` with
    /// `direction: back`): a leader's wall-clock lease outlives its term.
    BumpBack,
    /// Flip some clocks back and forth quickly.
    Strobe,
}

/// Clock options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ClockConfig {
    /// Which faults start a cycle.
    pub targets: Vec<ClockFault>,
    /// Largest bump, ms.
    pub max_skew_ms: u64,
    /// Smallest bump, ms (bumps are log-uniform between the two).
    pub min_skew_ms: u64,
    /// Strobe jump, ms.
    pub strobe_delta_ms: u64,
    /// Strobe flip period, ms.
    pub strobe_period_ms: u64,
    /// Strobe length, ms.
    pub strobe_duration_ms: u64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        let p = super::clock::ClockParams::default();
        ClockConfig {
            targets: vec![ClockFault::Bump, ClockFault::Strobe],
            max_skew_ms: p.max_skew_ms,
            min_skew_ms: p.min_skew_ms,
            strobe_delta_ms: p.strobe_delta_ms,
            strobe_period_ms: p.strobe_period_ms,
            strobe_duration_ms: p.strobe_duration_ms,
        }
    }
}

/// Packet-loss options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct LossConfig {
    /// Which nodes lose packets.
    pub targets: Vec<Target>,
    /// Share of incoming packets dropped, in (0, 1].
    pub probability: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            targets: vec![Target::One, Target::Minority, Target::All],
            probability: 0.2,
        }
    }
}

fn bad(reason: impl Into<String>) -> NemesisError {
    NemesisError::BadOp {
        nemesis: "config".into(),
        reason: reason.into(),
    }
}

impl NemesisConfig {
    /// The families asked for, `all` expanded, duplicates removed; an
    /// unknown name is an error naming the valid ones.
    pub fn families(&self) -> Result<Vec<&'static str>, NemesisError> {
        Ok(self.descriptors()?.into_iter().map(|f| f.name).collect())
    }

    /// [`Self::families`] as their descriptors, in the order asked.
    pub fn descriptors(&self) -> Result<Vec<&'static Family>, NemesisError> {
        let mut out: Vec<&'static Family> = Vec::new();
        let mut add = |fam: &'static Family| {
            if !out.iter().any(|f| f.name == fam.name) {
                out.push(fam);
            }
        };
        for f in &self.faults {
            let f = f.trim();
            if f == "all" {
                REGISTRY
                    .iter()
                    .filter(|fam| !fam.scenario)
                    .for_each(&mut add);
            } else if f == "none" {
                continue;
            } else if let Some(fam) = family::by_name(f) {
                add(fam);
            } else {
                return Err(bad(format!(
                    "faults: unknown fault family {f:?}; valid: {}, {}, all, none",
                    FAMILIES.join(", "),
                    SCENARIO_FAMILIES.join(", ")
                )));
            }
        }
        Ok(out)
    }

    /// The `f`s that end a fault of this config, known without a Db (for
    /// a stored run): the stop of each family asked for, or of every
    /// family when the config is invalid.
    pub fn stop_fs(&self) -> HashSet<String> {
        let fams: Vec<&Family> = match (self.validate(), self.descriptors()) {
            (Ok(()), Ok(fams)) => fams,
            _ => REGISTRY.iter().collect(),
        };
        fams.iter().map(|f| f.stop.to_string()).collect()
    }

    /// Check the values (the types are checked by serde).
    pub fn validate(&self) -> Result<(), NemesisError> {
        self.families()?;
        if !(self.interval.is_finite() && self.interval > 0.0) {
            return Err(bad(format!(
                "interval: {} is not a positive number of seconds",
                self.interval
            )));
        }
        if !(self.max_fault_duration.is_finite() && self.max_fault_duration > 0.0) {
            return Err(bad(format!(
                "max-fault-duration: {} is not a positive number of seconds",
                self.max_fault_duration
            )));
        }
        if !(self.cool_down.is_finite() && self.cool_down >= 0.0) {
            return Err(bad(format!(
                "cool-down: {} is not a number of seconds ≥ 0",
                self.cool_down
            )));
        }
        if !(self.loss.probability > 0.0 && self.loss.probability <= 1.0) {
            return Err(bad(format!(
                "loss.probability: {} is not in (0, 1]",
                self.loss.probability
            )));
        }
        if self.clock.min_skew_ms > self.clock.max_skew_ms {
            return Err(bad(format!(
                "clock.min-skew-ms: {} is above clock.max-skew-ms {}",
                self.clock.min_skew_ms, self.clock.max_skew_ms
            )));
        }
        for t in &self.election.targets {
            if !super::election::SCENARIOS.contains(&t.as_str()) {
                return Err(bad(format!(
                    "election.targets: unknown scenario {t:?}; valid: {}",
                    super::election::SCENARIOS.join(", ")
                )));
            }
        }
        self.adaptive.validate().map_err(bad)?;
        if self.clock.strobe_period_ms == 0 {
            return Err(bad("clock.strobe-period-ms: must be at least 1"));
        }
        for (field, empty) in [
            ("partition.targets", self.partition.targets.is_empty()),
            ("kill.targets", self.kill.targets.is_empty()),
            ("pause.targets", self.pause.targets.is_empty()),
            ("clock.targets", self.clock.targets.is_empty()),
            ("loss.targets", self.loss.targets.is_empty()),
            ("election.targets", self.election.targets.is_empty()),
        ] {
            if empty {
                return Err(bad(format!("{field}: needs at least one target")));
            }
        }
        Ok(())
    }
}
