//! Stopping a run early: Ctrl-C (SIGINT) and SIGTERM.
//!
//! A [`Stop`] is a flag every task of the run watches. The signal listener
//! ([`listen`]) sets it on the first SIGINT or SIGTERM, with the reason;
//! the main phase then ends at once, the faults are healed, the cluster is
//! torn down and whatever history there is gets checked and stored — the
//! same path as a run that ends normally, so healing is never skipped.
//! Later signals only say that the run is already stopping.

use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A run's stop flag.
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<bool>>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A flag not yet set.
    pub fn new() -> Stop {
        let (tx, _) = watch::channel(false);
        Stop {
            tx: Arc::new(tx),
            reason: Arc::new(Mutex::new(None)),
        }
    }

    /// Set the flag (the first reason is kept).
    pub fn trigger(&self, reason: &str) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| reason.to_string());
        self.tx.send_replace(true);
    }

    /// True once set.
    pub fn is_set(&self) -> bool {
        *self.tx.borrow()
    }

    /// Why the run stopped early, if it did.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves once the flag is set.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Sleep `d`, or less if the flag is set meanwhile. True when the sleep
    /// ran its full length.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.wait() => false,
        }
    }
}

/// Listen for SIGINT and SIGTERM and set `stop` on the first; `say` is
/// told about every signal. Runs until aborted.
pub async fn listen(stop: Stop, say: impl Fn(String) + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        say("cannot listen for SIGINT/SIGTERM; Ctrl-C will not heal".into());
        return;
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT (Ctrl-C)",
            _ = term.recv() => "SIGTERM",
        };
        if stop.is_set() {
            say(format!(
                "{name}: already stopping — healing and tearing down; to force, kill -9 \
                 faultline and run `faultline heal`"
            ));
        } else {
            say(format!(
                "{name}: stopping the run; healing every fault first"
            ));
            stop.trigger(name);
        }
    }
}
