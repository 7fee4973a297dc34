//! Stopping a run early: Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT.
//!
//! A [`Stop`] is a flag every task of the run watches. The signal listener
//! ([`listen`]) sets it on the first of those signals, with the reason;
//! the main phase then ends at once, the faults are healed, the cluster is
//! torn down and whatever history there is gets checked and stored — the
//! same path as a run that ends normally, so healing is never skipped.
//! Later signals only say that the run is already stopping.
//!
//! SIGHUP matters as much as SIGTERM: closing the terminal or losing the
//! SSH session sends it, and its default action killed the run at once —
//! no heal, no teardown, no `results.json`, nodes left running in their
//! namespaces with whatever faults were in force. SIGQUIT (Ctrl-\\) is
//! handled the same way for the same reason. A run stopped by any of them
//! is interrupted: its verdict is `unknown` unless the partial history is
//! already invalid (see [`super::verdict`]).

use nix::sys::signal::Signal;
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

/// The signals that stop a run, each with the name the run reports.
const STOP_SIGNALS: [(Signal, &str); 4] = [
    (Signal::SIGINT, "SIGINT (Ctrl-C)"),
    (Signal::SIGTERM, "SIGTERM"),
    (Signal::SIGHUP, "SIGHUP"),
    (Signal::SIGQUIT, "SIGQUIT"),
];

/// Listen for SIGINT, SIGTERM, SIGHUP and SIGQUIT and set `stop` on the
/// first; `say` is told about every signal. Runs until aborted.
pub async fn listen(stop: Stop, say: impl Fn(String) + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    for (num, name) in STOP_SIGNALS {
        match signal(SignalKind::from_raw(num as i32)) {
            Ok(mut s) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(name).is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) => say(format!(
                "cannot listen for {name} ({e}); that signal will not heal"
            )),
        }
    }
    drop(tx);
    while let Some(name) = rx.recv().await {
        if stop.is_set() {
            say(format!(
                "{name}: already stopping — healing and tearing down; to force, kill -9 \
                 faultline and run `faultline heal`"
            ));
        } else {
            // Set the flag first: saying so writes to a terminal that may be
            // gone (SIGHUP), and nothing may keep the run from healing.
            stop.trigger(name);
            say(format!(
                "{name}: stopping the run; healing every fault first"
            ));
        }
    }
}
