//! The run's randomness and pacing: one seed, several independent RNG
//! streams, the rate limiter, and the dry run.
//!
//! Every random choice of a run comes from ChaCha8 RNGs keyed by the run's
//! one seed, one stream per consumer ([`Stream`]), so the workload's op
//! choices, the stagger gaps and the nemesis schedule do not disturb each
//! other: adding a fault family changes the faults, not the ops.
//!
//! The [`Pacer`] spaces ops over *all* workers: `rate` ops per second in
//! total, each gap `1/rate` — or, with `stagger`, uniform in `[0, 2/rate)`,
//! averaging `1/rate` (Jepsen's `stagger`). A worker that is free late
//! (every worker was busy) goes at once, and the schedule continues from
//! there: no burst to catch up. `rate: 0` means no limit.

use crate::generator::{GenCtx, Generator, Next};
use crate::history::Key;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// The consumers of randomness in a run, each with its own stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The workload's main-phase generator.
    Workload = 1,
    /// The stagger gaps.
    Stagger = 2,
    /// The nemesis schedule.
    Nemesis = 3,
    /// The workload's final generator.
    Final = 4,
}

/// The RNG of `stream` for `seed`.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream as u64);
    r
}

/// Spaces ops `rate` per second over all workers (see the module docs).
#[derive(Debug)]
pub struct Pacer {
    /// Nominal gap, seconds; `None`: unlimited.
    gap: Option<f64>,
    stagger: bool,
    rng: ChaCha8Rng,
    next: Duration,
}

impl Pacer {
    /// A pacer for `rate` ops/s (0 = unlimited), staggered or even.
    pub fn new(rate: f64, stagger: bool, seed: u64) -> Pacer {
        Pacer {
            gap: (rate.is_finite() && rate > 0.0).then(|| 1.0 / rate),
            stagger,
            rng: rng(seed, Stream::Stagger),
            next: Duration::ZERO,
        }
    }

    /// True when there is no limit.
    pub fn unlimited(&self) -> bool {
        self.gap.is_none()
    }

    /// The time (since the phase started) at which the op of a worker free
    /// at `now` may go.
    pub fn slot(&mut self, now: Duration) -> Duration {
        let Some(gap) = self.gap else {
            return now;
        };
        let g = if self.stagger {
            self.rng.gen::<f64>() * 2.0 * gap
        } else {
            gap
        };
        let slot = self.next.max(now);
        self.next = slot + Duration::from_secs_f64(g);
        slot
    }
}

/// One scheduled event of a dry run.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// When, since the main phase started.
    pub time: Duration,
    /// `Some(process)` for a client op, `None` for the nemesis.
    pub process: Option<u64>,
    /// The function.
    pub f: String,
    /// The key.
    pub key: Option<Key>,
    /// The argument.
    pub value: serde_json::Value,
}

impl Planned {
    /// `time process f key value`.
    pub fn line(&self) -> String {
        let p = match self.process {
            Some(p) => p.to_string(),
            None => "nemesis".into(),
        };
        let key = self.key.as_ref().map_or("-".to_string(), |k| k.to_string());
        format!(
            "{:>9.3} {p:>7} {} {key} {}",
            self.time.as_secs_f64(),
            self.f,
            self.value
        )
    }
}

/// The nominal latency of an op in a dry run without a rate limit (ops
/// have to take some time, or an unlimited schedule would be infinite).
pub const DRY_RUN_LATENCY: Duration = Duration::from_millis(10);
/// How often the nemesis task asks its schedule, in real and dry runs.
pub const NEMESIS_POLL: Duration = Duration::from_millis(20);

/// Simulate the main phase in virtual time: `threads` workers, every op
/// completing at once (after [`DRY_RUN_LATENCY`] without a rate limit),
/// ops paced by `pacer`, faults from `schedule`. Returns the events in
/// time order.
pub fn simulate(
    mut workload: Box<dyn Generator>,
    mut workload_rng: ChaCha8Rng,
    mut pacer: Pacer,
    mut schedule: Box<dyn Generator>,
    mut nemesis_rng: ChaCha8Rng,
    threads: usize,
    limit: Duration,
) -> Vec<Planned> {
    let threads = threads.max(1);
    let mut out = Vec::new();
    // When each worker is free next; `None` once its generator is done.
    let mut free: Vec<Option<Duration>> = vec![Some(Duration::ZERO); threads];
    while let Some((thread, now)) = free
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .min_by_key(|(i, t)| (*t, *i))
    {
        if now >= limit {
            break;
        }
        let ctx = GenCtx {
            elapsed: now,
            thread,
            threads,
        };
        match workload.next(&ctx, &mut workload_rng) {
            Next::Op { f, key, value } => {
                let slot = pacer.slot(now);
                if slot >= limit {
                    break;
                }
                out.push(Planned {
                    time: slot,
                    process: Some(thread as u64),
                    f,
                    key,
                    value,
                });
                free[thread] = Some(if pacer.unlimited() {
                    slot + DRY_RUN_LATENCY
                } else {
                    slot
                });
            }
            Next::Pending => free[thread] = Some(now + Duration::from_millis(1)),
            Next::Done => free[thread] = None,
        }
    }
    let mut t = Duration::ZERO;
    while t < limit {
        let ctx = GenCtx {
            elapsed: t,
            thread: 0,
            threads: 1,
        };
        match schedule.next(&ctx, &mut nemesis_rng) {
            Next::Op { f, key, value } => out.push(Planned {
                time: t,
                process: None,
                f,
                key,
                value,
            }),
            Next::Pending => t += NEMESIS_POLL,
            Next::Done => break,
        }
    }
    // Stable: at one instant, client ops keep their order, the nemesis last.
    out.sort_by_key(|p| (p.time, p.process.is_none()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: u64 = rng(1, Stream::Workload).gen();
        let b: u64 = rng(1, Stream::Stagger).gen();
        let c: u64 = rng(1, Stream::Workload).gen();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn even_pacing_spaces_ops_by_one_over_rate() {
        let mut p = Pacer::new(10.0, false, 1);
        let slots: Vec<Duration> = (0..3).map(|_| p.slot(Duration::ZERO)).collect();
        assert_eq!(slots[0], Duration::ZERO);
        assert!((slots[2].as_secs_f64() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn stagger_averages_one_over_rate_and_never_bursts_to_catch_up() {
        let mut p = Pacer::new(100.0, true, 7);
        let mut last = Duration::ZERO;
        for _ in 0..10_000 {
            last = p.slot(Duration::ZERO);
        }
        let mean = last.as_secs_f64() / 9_999.0;
        assert!((mean - 0.01).abs() < 0.001, "mean gap {mean}");
        // A late worker goes now, and the next slot follows it.
        let late = last + Duration::from_secs(5);
        assert_eq!(p.slot(late), late);
        assert!(p.slot(late) >= late);
    }

    #[test]
    fn unlimited_goes_now() {
        let mut p = Pacer::new(0.0, true, 1);
        assert!(p.unlimited());
        assert_eq!(p.slot(Duration::from_secs(3)), Duration::from_secs(3));
    }
}
