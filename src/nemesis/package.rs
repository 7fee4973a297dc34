//! Nemesis packages: a [`NemesisConfig`] (a YAML file under `nemeses/`)
//! turned, against what the Db can do, into a nemesis, its [`Schedule`] and
//! its final heal.
//!
//! The package is a loop over the families asked for, each described by
//! its [`Family`] (see [`super::family`]): families the Db cannot support
//! (kill without `Capabilities::kill`, clock when `Capabilities::clock` is
//! `Err`...) are left out and listed in [`Package::skipped`] with the
//! reason, and so are targets it cannot aim at (`leader` without
//! `Capabilities::primaries`).

use super::compose::Compose;
use super::family::{Ask, Family};
use super::schedule::Plan;
use super::target::Target;
use super::{Nemesis, NemesisError};
use crate::db::Capabilities;
use crate::generator::Generator;
use serde_json::Value;
use std::collections::HashSet;

pub use super::config::{
    ClockConfig, ClockFault, ElectionConfig, LossConfig, NemesisConfig, PartitionConfig,
    TargetConfig, DEFAULT_COOL_DOWN, DEFAULT_MAX_FAULT_DURATION,
};
pub use super::family::{is_stop, stop_of, FAMILIES, SCENARIO_FAMILIES};
pub use super::schedule::Schedule;

/// A nemesis ready to run: what injects, when, and how it all heals.
pub struct Package {
    /// The combined nemesis.
    pub nemesis: Box<dyn Nemesis>,
    /// The fault schedule (process `nemesis` ops).
    pub schedule: Box<dyn Generator>,
    /// Ops that heal everything, run in order at the end of the main phase.
    pub final_ops: Vec<(String, Value)>,
    /// Families or targets left out, each with the reason.
    pub skipped: Vec<String>,
}

impl Package {
    /// The `f`s that end a fault of this package: its final (heal) ops.
    pub fn stop_fs(&self) -> HashSet<String> {
        self.final_ops.iter().map(|(f, _)| f.clone()).collect()
    }
}

/// The node targets of `fam` the Db can aim at, noting a left-out leader.
fn targets_of(
    fam: &Family,
    cfg: &NemesisConfig,
    caps: &Capabilities,
    skipped: &mut Vec<String>,
) -> Vec<Target> {
    let Some(of) = fam.targets else {
        return Vec::new();
    };
    let asked = of(cfg);
    let kept: Vec<Target> = asked
        .iter()
        .copied()
        .filter(|t| *t != Target::Leader || caps.primaries)
        .collect();
    if kept.len() < asked.len() {
        skipped.push(format!(
            "{} target leader: the Db cannot tell its leader",
            fam.name
        ));
    }
    kept
}

/// Build the package for `cfg` against a Db with `caps`.
pub fn build(cfg: &NemesisConfig, caps: &Capabilities) -> Result<Package, NemesisError> {
    cfg.validate()?;
    let fams = cfg.descriptors()?;
    let mut skipped = Vec::new();
    // Every family's targets before any family is built: the notes keep
    // the order they always had.
    let targets: Vec<Vec<Target>> = fams
        .iter()
        .map(|fam| targets_of(fam, cfg, caps, &mut skipped))
        .collect();
    let mut members: Vec<Box<dyn Nemesis>> = Vec::new();
    let mut plans = Vec::new();
    let mut final_ops = Vec::new();
    for (fam, targets) in fams.into_iter().zip(targets) {
        if let Err(reason) = (fam.requires)(caps) {
            skipped.push(format!("{}: {reason}", fam.name));
            continue;
        }
        let ask = Ask {
            config: cfg,
            caps,
            targets,
            skipped: &mut skipped,
        };
        let Some(member) = (fam.build)(ask) else {
            continue;
        };
        plans.push(Plan {
            starts: member.starts,
            stop: fam.stop.to_string(),
        });
        members.push(member.nemesis);
        final_ops.push((fam.stop.to_string(), Value::Null));
    }
    Ok(Package {
        nemesis: Box::new(Compose::new(members)),
        schedule: Box::new(Schedule::new(plans, cfg)),
        final_ops,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GenCtx, Next};
    use crate::nemesis::clock::ClockParams;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;
    use std::time::Duration;

    fn caps() -> Capabilities {
        Capabilities {
            kill: true,
            pause: true,
            primaries: true,
            clock: Ok(()),
        }
    }

    fn run(
        cfg: &NemesisConfig,
        caps: &Capabilities,
        seed: u64,
        secs: u64,
    ) -> Vec<(u64, String, Value)> {
        let mut pkg = build(cfg, caps).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for ms in (0..=secs * 1000).step_by(100) {
            let ctx = GenCtx {
                elapsed: Duration::from_millis(ms),
                thread: 0,
                threads: 1,
            };
            // Every op due at this instant (a self-heal and a tick may be).
            loop {
                match pkg.schedule.next(&ctx, &mut rng) {
                    Next::Op { f, value, .. } => out.push((ms, f, value)),
                    Next::Pending => break,
                    Next::Done => return out,
                }
            }
        }
        out
    }

    #[test]
    fn schedule_alternates_start_and_stop_every_interval() {
        let cfg = NemesisConfig {
            faults: vec!["partition".into(), "kill".into()],
            interval: 2.0,
            overlap: false,
            ..Default::default()
        };
        let ops = run(&cfg, &caps(), 1, 20);
        assert_eq!(ops.len(), 10);
        for (i, (t, f, v)) in ops.iter().enumerate() {
            assert_eq!(*t, 2000 * (i as u64 + 1));
            if i % 2 == 0 {
                assert!(f == "start-partition" || f == "kill", "{f}");
                assert!(v.get("pick").is_some());
            } else {
                let start = &ops[i - 1].1;
                let expect = if start == "kill" {
                    "start"
                } else {
                    "stop-partition"
                };
                assert_eq!(f, expect);
            }
        }
    }

    #[test]
    fn overlapping_faults_each_stop_after_their_own_start() {
        // No bounds here: this is about the toggling alone.
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            interval: 1.0,
            max_fault_duration: 1e6,
            cool_down: 0.0,
            ..Default::default()
        };
        assert!(cfg.overlap, "overlap is the default");
        let stop_of = |f: &str| match f {
            "start-partition" => "stop-partition",
            "kill" => "start",
            "pause" => "resume",
            "bump-clock" | "strobe-clock" => "reset-clock",
            "start-loss" => "stop-loss",
            other => panic!("unexpected start {other}"),
        };
        let mut most_at_once = 0;
        for seed in 0..20 {
            let ops = run(&cfg, &caps(), seed, 60);
            assert_eq!(ops.len(), 60);
            let mut in_force: Vec<&str> = Vec::new();
            for (_, f, _) in &ops {
                if let Some(i) = in_force.iter().position(|s| s == f) {
                    in_force.remove(i);
                } else {
                    let stop = stop_of(f);
                    assert!(!in_force.contains(&stop), "{f} started twice");
                    in_force.push(stop);
                }
                most_at_once = most_at_once.max(in_force.len());
            }
        }
        assert!(most_at_once >= 3, "faults never overlapped: {most_at_once}");
    }

    /// Regression (issue 13): with the family toggled at random, `kill
    /// all` stayed in force until the end of the run because the kill
    /// family was not picked again. Now every fault stops within
    /// `max-fault-duration` and its family rests for `cool-down`.
    #[test]
    fn no_fault_outlasts_its_maximum_and_no_family_restarts_while_cooling_down() {
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            interval: 1.0,
            max_fault_duration: 4.0,
            cool_down: 3.0,
            ..Default::default()
        };
        let mut self_heals = 0;
        for seed in 0..20 {
            let ops = run(&cfg, &caps(), seed, 120);
            // Per stop f (the family): when in force since, when stopped.
            let mut since: std::collections::HashMap<&str, u64> = Default::default();
            let mut stopped: std::collections::HashMap<&str, u64> = Default::default();
            for (t, f, v) in &ops {
                match stop_of(f) {
                    Some(stop) => {
                        assert!(!since.contains_key(stop), "{f} at {t} while in force");
                        if let Some(end) = stopped.get(stop) {
                            assert!(t - end >= 3000, "{f} at {t}: {stop} only at {end}");
                        }
                        since.insert(stop, *t);
                    }
                    None => {
                        let start = since.remove(f.as_str()).expect("a stop of a fault");
                        assert!(t - start <= 4000, "{f} at {t}, started at {start}");
                        if v.get("max-fault-duration").is_some() {
                            assert_eq!(t - start, 4000, "a self-heal comes on time");
                            self_heals += 1;
                        }
                        stopped.insert(stop_of_family(f), *t);
                    }
                }
            }
        }
        assert!(self_heals > 0, "no fault ever healed by itself");
    }

    fn stop_of_family(stop: &str) -> &'static str {
        super::super::family::REGISTRY
            .iter()
            .find(|fam| fam.stop == stop)
            .map(|fam| fam.stop)
            .unwrap()
    }

    #[test]
    fn a_single_family_at_the_default_bounds_keeps_its_strict_alternation() {
        let cfg = NemesisConfig {
            faults: vec!["kill".into()],
            interval: 10.0,
            ..Default::default()
        };
        let fs: Vec<String> = run(&cfg, &caps(), 3, 60)
            .into_iter()
            .map(|(_, f, _)| f)
            .collect();
        assert_eq!(fs, ["kill", "start", "kill", "start", "kill", "start"]);
    }

    #[test]
    fn same_seed_same_schedule_other_seed_differs() {
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            interval: 1.0,
            ..Default::default()
        };
        assert_eq!(run(&cfg, &caps(), 7, 30), run(&cfg, &caps(), 7, 30));
        assert_ne!(run(&cfg, &caps(), 7, 30), run(&cfg, &caps(), 8, 30));
    }

    #[test]
    fn all_means_every_supported_family_and_skips_the_rest_with_reasons() {
        let cfg = NemesisConfig {
            faults: vec!["all".into()],
            ..Default::default()
        };
        let pkg = build(&cfg, &caps()).unwrap();
        let fs: Vec<&str> = pkg.final_ops.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fs,
            [
                "stop-partition",
                "start",
                "resume",
                "reset-clock",
                "stop-loss"
            ]
        );
        let weak = Capabilities {
            kill: true,
            pause: false,
            primaries: false,
            clock: Err("etcd is a static Go binary; libfaketime cannot skew it".into()),
        };
        let pkg = build(&cfg, &weak).unwrap();
        let fs: Vec<&str> = pkg.final_ops.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fs, ["stop-partition", "start", "stop-loss"]);
        let skipped = pkg.skipped.join("\n");
        assert!(
            skipped.contains("clock: etcd is a static Go binary"),
            "{skipped}"
        );
        assert!(skipped.contains("pause"), "{skipped}");
        assert!(skipped.contains("isolate-leader"), "{skipped}");
        // No leader-targeted op is ever scheduled without primaries.
        let ops = run(&cfg, &weak, 3, 200);
        assert!(ops
            .iter()
            .all(|(_, _, v)| v.get("target") != Some(&json!("leader"))
                && v.get("kind") != Some(&json!("isolate-leader"))));
    }

    /// The skipped notes keep their order: the leader targets of the
    /// target-list families first, then each family in the order asked.
    #[test]
    fn skipped_notes_come_in_a_stable_order() {
        let cfg = NemesisConfig {
            faults: vec!["all".into(), "election".into()],
            ..Default::default()
        };
        let weak = Capabilities {
            kill: true,
            pause: false,
            primaries: false,
            clock: Err("no faketime".into()),
        };
        let pkg = build(&cfg, &weak).unwrap();
        assert_eq!(
            pkg.skipped,
            [
                "kill target leader: the Db cannot tell its leader",
                "pause target leader: the Db cannot tell its leader",
                "partition isolate-leader: the Db cannot tell its leader",
                "pause: the Db does not support it",
                "clock: no faketime",
                "election: the Db cannot kill, pause and tell its leader",
            ]
        );
        assert_eq!(pkg.nemesis.name(), "partition+kill+loss");
    }

    #[test]
    fn none_has_no_faults() {
        let cfg = NemesisConfig {
            faults: vec![],
            ..Default::default()
        };
        let mut pkg = build(&cfg, &caps()).unwrap();
        assert!(pkg.final_ops.is_empty());
        let ctx = GenCtx {
            elapsed: Duration::from_secs(100),
            thread: 0,
            threads: 1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(pkg.schedule.next(&ctx, &mut rng), Next::Done);
        assert_eq!(pkg.nemesis.name(), "none");
    }

    #[test]
    fn bad_values_are_rejected_naming_the_field() {
        let e = |cfg: NemesisConfig| build(&cfg, &caps()).err().map(|e| e.to_string()).unwrap();
        assert!(e(NemesisConfig {
            faults: vec!["partitoin".into()],
            ..Default::default()
        })
        .contains("valid: partition"));
        assert!(e(NemesisConfig {
            interval: 0.0,
            ..Default::default()
        })
        .contains("interval"));
        assert!(e(NemesisConfig {
            max_fault_duration: 0.0,
            ..Default::default()
        })
        .contains("max-fault-duration"));
        assert!(e(NemesisConfig {
            cool_down: -1.0,
            ..Default::default()
        })
        .contains("cool-down"));
        let mut c = NemesisConfig::default();
        c.loss.probability = 1.5;
        assert!(e(c).contains("loss.probability"));
        let mut c = NemesisConfig::default();
        c.kill.targets.clear();
        assert!(e(c).contains("kill.targets"));
    }

    #[test]
    fn yaml_unknown_keys_and_names_are_errors_and_defaults_fill_in() {
        let cfg: NemesisConfig =
            serde_norway::from_str("faults: [clock]\ninterval: 5\nclock:\n  max-skew-ms: 100\n")
                .unwrap();
        assert_eq!(cfg.interval, 5.0);
        assert_eq!(cfg.max_fault_duration, DEFAULT_MAX_FAULT_DURATION);
        assert_eq!(cfg.cool_down, DEFAULT_COOL_DOWN);
        let bounds: NemesisConfig =
            serde_norway::from_str("max-fault-duration: 7.5\ncool-down: 0\n").unwrap();
        assert_eq!((bounds.max_fault_duration, bounds.cool_down), (7.5, 0.0));
        assert_eq!(cfg.clock.max_skew_ms, 100);
        assert_eq!(
            cfg.clock.strobe_period_ms,
            ClockParams::default().strobe_period_ms
        );
        assert!(serde_norway::from_str::<NemesisConfig>("faults: [kill]\nintervl: 5\n").is_err());
        let e = serde_norway::from_str::<NemesisConfig>("partition:\n  targets: [halves]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("random-halves"), "{e}");
        let e = serde_norway::from_str::<NemesisConfig>("kill:\n  targets: [some]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("minority"), "{e}");
    }
}

#[cfg(test)]
mod shipped_files {
    use super::*;

    /// Every file under `nemeses/` parses and builds.
    #[test]
    fn shipped_nemesis_files_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nemeses");
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let cfg: NemesisConfig =
                serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let caps = Capabilities {
                kill: true,
                pause: true,
                primaries: true,
                clock: Ok(()),
            };
            build(&cfg, &caps).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
        seen.sort();
        for want in [
            "all",
            "clock",
            "kill",
            "loss",
            "none",
            "partition",
            "partition-kill",
            "pause",
        ] {
            assert!(
                seen.iter().any(|s| s == want),
                "nemeses/{want}.yaml missing"
            );
        }
    }
}
