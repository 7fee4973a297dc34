//! Small synchronisation helpers every module may use.

use std::sync::{Mutex, MutexGuard};

/// Lock `m`, taking the data even if another thread panicked while holding
/// it. Every mutex in faultline guards data that each critical section
/// leaves consistent (it mutates at the end, or only appends), so a
/// poisoned lock means only that some other worker died: the run goes on,
/// and that worker's failure is reported where it happened.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
