//! Clock faults through libfaketime: each node's process runs with
//! `LD_PRELOAD=libfaketime` and reads its wall-clock offset from its own
//! file ([`crate::remote::faketime::offset_file`]) on every call
//! (`FAKETIME_NO_CACHE=1`), so rewriting the file skews that one process
//! at runtime. The monotonic clock stays real
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so a system's timeouts keep working
//! and only its wall-clock readings move, as when an NTP daemon steps a
//! real machine's clock; the machine's own clock is never touched. Pitfall found by experiment with libfaketime 0.9.10: in that
//! mode `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` fails with EINVAL
//! (Python's `time.sleep` uses it); relative sleeps (`nanosleep`, which
//! Rust's `thread::sleep` uses), `select`, `poll` and `epoll` work.
//!
//! Ops: `bump-clock` (`{"pick": N}`: a random non-empty set of nodes each
//! jumps by ± up to `max_skew_ms`, cumulatively), `strobe-clock` (a random
//! set of nodes flips between offset+delta and offset every `period_ms` for
//! `duration_ms`), `reset-clock` (every node back to `+0`). When the Db's
//! [`crate::db::Capabilities::clock`] is `Err`, every op is recorded as
//! skipped, with the reason, and nothing is touched.

use super::config::ClockFault;
use super::family::{Ask, Choice, Family, Member};
use super::target::{pick_of, rng_for};
use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use crate::remote::faketime::write_offset;
use crate::remote::Node;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Parameters of the clock nemesis.
#[derive(Debug, Clone)]
pub struct ClockParams {
    /// Smallest bump, in ms (at least 10).
    pub min_skew_ms: u64,
    /// Largest bump, in ms (each bump is log-uniform in [min, max], ± sign).
    pub max_skew_ms: u64,
    /// Strobe: how far the clock jumps each flip, in ms.
    pub strobe_delta_ms: u64,
    /// Strobe: time between flips, in ms.
    pub strobe_period_ms: u64,
    /// Strobe: how long it lasts, in ms.
    pub strobe_duration_ms: u64,
}

impl Default for ClockParams {
    fn default() -> Self {
        ClockParams {
            min_skew_ms: 10,
            max_skew_ms: 10_000,
            strobe_delta_ms: 500,
            strobe_period_ms: 50,
            strobe_duration_ms: 2_000,
        }
    }
}

/// The clock nemesis.
#[derive(Debug)]
pub struct ClockNemesis {
    params: ClockParams,
    /// `Err(reason)` when the Db ignores libfaketime.
    supported: Result<(), String>,
    /// Current offset of each node we touched, in ms.
    offsets: BTreeMap<String, i64>,
}

impl ClockNemesis {
    /// A clock nemesis; `supported` is the Db's `Capabilities::clock`.
    pub fn new(params: ClockParams, supported: Result<(), String>) -> Self {
        ClockNemesis {
            params,
            supported,
            offsets: BTreeMap::new(),
        }
    }

    fn set(&mut self, node: &Node, ms: i64) -> Result<(), NemesisError> {
        write_offset(node, ms)?;
        self.offsets.insert(node.name.clone(), ms);
        Ok(())
    }

    fn reset(&mut self, cluster: &Cluster) -> Result<Vec<String>, NemesisError> {
        let mut done = Vec::new();
        let mut first = None;
        for node in &cluster.nodes {
            match self.set(node, 0) {
                Ok(()) => done.push(node.name.clone()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(done), Err)
    }

    fn some_nodes<'c>(cluster: &'c Cluster, rng: &mut impl Rng) -> Vec<&'c Node> {
        let mut nodes: Vec<&Node> = cluster.nodes.iter().collect();
        nodes.shuffle(rng);
        let k = rng.gen_range(1..=nodes.len().max(1)).min(nodes.len());
        nodes.truncate(k);
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes
    }
}

impl Nemesis for ClockNemesis {
    fn name(&self) -> &str {
        FAMILY.name
    }

    fn fs(&self) -> Vec<String> {
        FAMILY.fs()
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        if self.supported.is_ok() {
            self.reset(cluster)?;
        }
        Ok(())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        if let Err(reason) = &self.supported {
            if self.fs().contains(&op.f) {
                return Ok(json!({"skipped": reason}));
            }
        }
        let mut rng = rng_for(pick_of(&op.value));
        match op.f.as_str() {
            "bump-clock" => {
                let min = self.params.min_skew_ms.max(10) as f64;
                let max = (self.params.max_skew_ms as f64).max(min);
                let mut bumped = BTreeMap::new();
                let mut offsets = BTreeMap::new();
                // `"direction": "back"`: every clock jumps back by the same
                // amount (no skew between nodes, all behind real time).
                let back = op.value.get("direction").and_then(Value::as_str) == Some("back");
                let nodes = if back {
                    cluster.nodes.iter().collect()
                } else {
                    Self::some_nodes(cluster, &mut rng)
                };
                let common = (rng.gen_range(min.ln()..=max.ln())).exp().round() as i64;
                for node in nodes {
                    // Log-uniform magnitude: small and large skews both happen.
                    let mag = if back {
                        common
                    } else {
                        (rng.gen_range(min.ln()..=max.ln())).exp().round() as i64
                    };
                    let delta = if !back && rng.gen_bool(0.5) {
                        mag
                    } else {
                        -mag
                    };
                    let total = self.offsets.get(&node.name).copied().unwrap_or(0) + delta;
                    self.set(node, total)?;
                    bumped.insert(node.name.clone(), delta);
                    offsets.insert(node.name.clone(), total);
                }
                Ok(json!({"bumped_ms": bumped, "offsets_ms": offsets}))
            }
            "strobe-clock" => {
                let p = self.params.clone();
                let nodes: Vec<Node> = Self::some_nodes(cluster, &mut rng)
                    .into_iter()
                    .cloned()
                    .collect();
                let base: Vec<i64> = nodes
                    .iter()
                    .map(|n| self.offsets.get(&n.name).copied().unwrap_or(0))
                    .collect();
                let deadline = Instant::now() + Duration::from_millis(p.strobe_duration_ms);
                let mut flips = 0u64;
                let mut high = false;
                while Instant::now() < deadline {
                    high = !high;
                    for (node, b) in nodes.iter().zip(&base) {
                        let ms = if high {
                            b + p.strobe_delta_ms as i64
                        } else {
                            *b
                        };
                        write_offset(node, ms)?;
                    }
                    flips += 1;
                    std::thread::sleep(Duration::from_millis(p.strobe_period_ms.max(1)));
                }
                for (node, b) in nodes.iter().zip(&base) {
                    self.set(node, *b)?;
                }
                Ok(json!({
                    "nodes": nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
                    "delta_ms": p.strobe_delta_ms,
                    "period_ms": p.strobe_period_ms,
                    "duration_ms": p.strobe_duration_ms,
                    "flips": flips,
                }))
            }
            "reset-clock" => Ok(json!({"reset": self.reset(cluster)?})),
            other => Err(NemesisError::BadOp {
                nemesis: "clock".into(),
                reason: format!("unknown op f {other:?}"),
            }),
        }
    }

    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        if self.supported.is_ok() {
            self.reset(cluster)?;
        }
        Ok(())
    }
}

/// The clock family: `clock.targets` with `clock`'s parameters, when the
/// Db's clock can be moved.
pub const FAMILY: Family = Family {
    name: "clock",
    scenario: false,
    needs_machines: false,
    starts: &["bump-clock", "strobe-clock"],
    stop: "reset-clock",
    targets: None,
    requires: |caps| caps.clock.clone(),
    build: member,
};

fn member(ask: Ask<'_>) -> Option<Member> {
    let c = &ask.config.clock;
    let params = ClockParams {
        max_skew_ms: c.max_skew_ms,
        min_skew_ms: c.min_skew_ms,
        strobe_delta_ms: c.strobe_delta_ms,
        strobe_period_ms: c.strobe_period_ms,
        strobe_duration_ms: c.strobe_duration_ms,
    };
    let starts = c
        .targets
        .iter()
        .map(|t| {
            let (f, choice): (&str, Choice) = match t {
                ClockFault::Bump => ("bump-clock", None),
                ClockFault::BumpBack => {
                    ("bump-clock", Some(("direction", vec!["back".to_string()])))
                }
                ClockFault::Strobe => ("strobe-clock", None),
            };
            (f.to_string(), choice)
        })
        .collect();
    Some(Member {
        starts,
        nemesis: Box::new(ClockNemesis::new(params, ask.caps.clock.clone())),
    })
}
