//! Generators decide which op a free worker runs next, and when.
//!
//! A workload's [`Generator`] only decides *what* (f, key, value); the
//! runner's combinators decide *when* (rate, stagger, time limit, phases).
//! Every random choice comes from the run's one seeded RNG and generators
//! must not depend on timing, so the same seed yields the same op sequence.

use crate::history::Key;
use rand::RngCore;
use serde_json::Value;
use std::time::Duration;

/// What a generator produces for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Invoke this op.
    Op {
        /// The function.
        f: String,
        /// The key, for multi-key workloads.
        key: Option<Key>,
        /// The argument.
        value: Value,
    },
    /// Nothing now; ask again later.
    Pending,
    /// This generator is exhausted.
    Done,
}

/// The context of a request for an op.
#[derive(Debug, Clone)]
pub struct GenCtx {
    /// Time since the phase started.
    pub elapsed: Duration,
    /// The worker thread asking (0-based, stable across processes).
    pub thread: usize,
    /// Total number of worker threads.
    pub threads: usize,
}

/// Decides the next op.
pub trait Generator: Send {
    /// The next op for a free worker.
    fn next(&mut self, ctx: &GenCtx, rng: &mut dyn RngCore) -> Next;
}
