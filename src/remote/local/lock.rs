//! The run lock: one faultline run owns the local network at a time. The
//! lock is an exclusive `flock` on `RUN_DIR/lock`, held for the lifetime of
//! a [`super::LocalNet`] and taken by `faultline heal` so that it never
//! sweeps away a live run's network. The kernel drops it when the holder
//! dies, so a killed run never blocks the next one.

use super::host::host_err;
use super::{BRIDGE, RUN_DIR};
use crate::remote::RemoteError;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The run lock: one faultline run owns the network at a time.
pub(super) struct RunLock {
    _file: nix::fcntl::Flock<File>,
}

impl RunLock {
    /// The lock file, `RUN_DIR/lock`.
    pub(super) fn path() -> PathBuf {
        Path::new(RUN_DIR).join("lock")
    }

    /// The lock if no other run holds it, else `None`.
    pub(super) fn try_acquire() -> Result<Option<RunLock>, RemoteError> {
        fs::create_dir_all(RUN_DIR).map_err(|e| host_err(format!("{RUN_DIR}: {e}")))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(Self::path())
            .map_err(|e| host_err(format!("{}: {e}", Self::path().display())))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(RunLock { _file: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(host_err(format!("{}: flock: {e}", Self::path().display()))),
        }
    }

    /// The lock, waiting up to `wait` for another run to release it.
    pub(super) fn acquire(wait: Duration) -> Result<RunLock, RemoteError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = Self::try_acquire()? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(host_err(format!(
                    "another faultline run holds {} (it owns bridge {BRIDGE}); wait for it \
                     to finish or stop it",
                    Self::path().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
