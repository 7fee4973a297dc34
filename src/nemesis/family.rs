//! Fault families as descriptors: one [`Family`] per family, each written
//! beside its nemesis, and one [`REGISTRY`] that lists them. The package
//! ([`super::package::build`]), the config's checks
//! ([`super::config::NemesisConfig::families`]) and the pairing of a stored
//! history's ops into fault intervals ([`super::intervals`]) all read the
//! families from here, so no other module matches family names.
//!
//! Adding a family: write its nemesis and its `Family` in one file under
//! `src/nemesis/`, add one line to [`REGISTRY`] (and, when it has options,
//! its section to [`super::config::NemesisConfig`]).
//!
//! A family's stop `f` names the family in the history (one stop per
//! family): it pairs a stop with its start even when faults of several
//! families overlap.

use super::config::NemesisConfig;
use super::target::Target;
use super::Nemesis;
use crate::db::Capabilities;

/// The value field a start op chooses (`kind`, `target`...) and its
/// choices; `None`: the op has nothing to choose.
pub type Choice = Option<(&'static str, Vec<String>)>;

/// What a family puts into a package: its start ops and its nemesis.
pub struct Member {
    /// Start ops: the `f` and what its value chooses; the schedule picks
    /// one at random each time the family starts.
    pub starts: Vec<(String, Choice)>,
    /// The nemesis that performs the family's ops.
    pub nemesis: Box<dyn Nemesis>,
}

/// What a family's [`Family::build`] gets.
pub struct Ask<'a> {
    /// The whole nemesis config (a family reads its own section).
    pub config: &'a NemesisConfig,
    /// What the Db can do.
    pub caps: &'a Capabilities,
    /// The node targets kept (see [`Family::targets`]); empty for a family
    /// without targets.
    pub targets: Vec<Target>,
    /// Notes on what was left out ("FAMILY KIND: reason"), in order.
    pub skipped: &'a mut Vec<String>,
}

/// One fault family, described once.
#[derive(Clone, Copy)]
pub struct Family {
    /// Its name in `faults:` (`partition`, `kill`...).
    pub name: &'static str,
    /// A scripted scenario: named explicitly, never part of `all`, since
    /// it needs a particular cluster and takes over all of it.
    pub scenario: bool,
    /// It runs commands (iptables) on the nodes themselves, so it needs a
    /// backend with machines; with backend `none` the run is refused.
    pub needs_machines: bool,
    /// The `f`s that start its fault.
    pub starts: &'static [&'static str],
    /// The `f` that stops its fault, and heals it at the end of a run.
    pub stop: &'static str,
    /// The node targets its start ops choose from, when it has them. A
    /// `leader` target is left out, with a note, when the Db cannot tell
    /// its leader; all families' targets are chosen before any is built.
    pub targets: Option<fn(&NemesisConfig) -> &[Target]>,
    /// What it needs of the Db: `Err(reason)` skips the family with the
    /// note "NAME: reason".
    pub requires: fn(&Capabilities) -> Result<(), String>,
    /// Its start ops and nemesis; `None` when nothing is left to do (every
    /// target skipped).
    pub build: fn(Ask<'_>) -> Option<Member>,
}

impl Family {
    /// The `f`s of its ops: the starts, then the stop.
    pub fn fs(&self) -> Vec<String> {
        let mut fs: Vec<String> = Vec::new();
        for f in self.starts.iter().chain([&self.stop]) {
            if !fs.iter().any(|x| x == f) {
                fs.push(f.to_string());
            }
        }
        fs
    }
}

/// Every fault family, in documentation order: the order of `all`, of
/// the package's members and of its final heal.
pub const REGISTRY: &[Family] = &[
    super::partition::FAMILY,
    super::process::KILL,
    super::process::PAUSE,
    super::clock::FAMILY,
    super::packet::FAMILY,
    super::election::FAMILY,
    super::adaptive::FAMILY,
];

/// The families that are not scenarios, in documentation order (what
/// `all` means).
pub const FAMILIES: [&str; count(false)] = names(false);

/// The scripted scenarios (see [`super::election`]), never part of `all`.
pub const SCENARIO_FAMILIES: [&str; count(true)] = names(true);

/// How many registered families are (or are not) scenarios.
const fn count(scenario: bool) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < REGISTRY.len() {
        if REGISTRY[i].scenario == scenario {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The names of the registered families that are (or are not) scenarios.
const fn names<const N: usize>(scenario: bool) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut j) = (0, 0);
    while i < REGISTRY.len() {
        if REGISTRY[i].scenario == scenario {
            out[j] = REGISTRY[i].name;
            j += 1;
        }
        i += 1;
    }
    out
}

/// The family called `name`.
pub fn by_name(name: &str) -> Option<&'static Family> {
    REGISTRY.iter().find(|f| f.name == name)
}

/// The `f` that stops a fault started by `start_f`, if `start_f` starts one.
pub fn stop_of(start_f: &str) -> Option<&'static str> {
    REGISTRY
        .iter()
        .find(|f| f.starts.contains(&start_f))
        .map(|f| f.stop)
}

/// True when `f` stops a fault of some family.
pub fn is_stop(f: &str) -> bool {
    REGISTRY.iter().any(|fam| fam.stop == f)
}

/// A family that asks nothing of the Db.
pub fn needs_nothing(_: &Capabilities) -> Result<(), String> {
    Ok(())
}

/// The start op of a family whose value chooses one of `targets`.
pub fn target_start(f: &str, targets: &[Target]) -> Vec<(String, Choice)> {
    let names = targets.iter().map(|t| t.name().to_string()).collect();
    vec![(f.to_string(), Some(("target", names)))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_start_has_one_stop() {
        for (i, a) in REGISTRY.iter().enumerate() {
            assert!(REGISTRY[i + 1..].iter().all(|b| b.name != a.name));
            for s in a.starts {
                assert_eq!(stop_of(s), Some(a.stop), "{s}");
                assert!(!is_stop(s), "{s} both starts and stops");
            }
        }
        assert_eq!(FAMILIES, ["partition", "kill", "pause", "clock", "loss"]);
        assert_eq!(SCENARIO_FAMILIES, ["election", "adaptive"]);
        assert_eq!(stop_of("strobe-clock"), Some("reset-clock"));
        assert_eq!(stop_of("start"), None);
        assert!(is_stop("start") && is_stop("stop-election"));
    }
}
