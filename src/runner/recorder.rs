//! The history recorder: every op of a run goes through it, in the order
//! the events happened, and is streamed to `history.jsonl`.
//!
//! [`Recorder::record`] stamps the op with the run clock (ns since the main
//! phase started) and the next dense index under one lock, so history
//! order, times and indices agree; it keeps the op in memory (for the
//! checkers at the end) and appends its line to a buffer with
//! [`encode_line`], the one encoder of `history.jsonl` lines. A flusher
//! thread writes the buffer to the file at least every
//! [`FLUSH_EVERY`] (and whenever it grows past [`FLUSH_BYTES`]), each time
//! as whole lines, so a killed harness leaves every op but the last few
//! milliseconds', plus at most one torn line, which the reader drops.
//! Batching is what lets the runner record tens of thousands of ops per
//! second without a system call per op.

use crate::history::jsonl::encode_line;
use crate::history::{History, Op};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The longest an appended op waits before it is written to the file.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Buffered bytes that trigger an early write.
pub const FLUSH_BYTES: usize = 256 * 1024;

struct Inner {
    ops: Vec<Op>,
    buf: Vec<u8>,
    closed: bool,
    error: Option<String>,
}

struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
    t0: Instant,
}

/// Records ops in memory and streams them to `history.jsonl`.
pub struct Recorder {
    shared: Arc<Shared>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::sync::lock(&self.inner)
    }
}

impl Recorder {
    /// Create (truncate) `path`; the run clock starts now.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        let file = File::create(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                ops: Vec::with_capacity(4096),
                buf: Vec::with_capacity(FLUSH_BYTES),
                closed: false,
                error: None,
            }),
            wake: Condvar::new(),
            t0: Instant::now(),
        });
        let s = shared.clone();
        let name = path.display().to_string();
        let flusher = std::thread::Builder::new()
            .name("history-flush".into())
            .spawn(move || flush_loop(s, file, name))?;
        Ok(Recorder {
            shared,
            flusher: Mutex::new(Some(flusher)),
            path: path.to_path_buf(),
        })
    }

    /// The run clock: time since the recorder was created.
    pub fn elapsed(&self) -> Duration {
        self.shared.t0.elapsed()
    }

    /// The instant the run clock counts from.
    pub fn t0(&self) -> Instant {
        self.shared.t0
    }

    /// Record `op` now: its `time` and `index` are set here. Returns the op
    /// as recorded.
    pub fn record(&self, mut op: Op) -> Op {
        let mut g = self.shared.lock();
        op.time = self.shared.t0.elapsed().as_nanos() as u64;
        op.index = g.ops.len() as u64;
        let inner = &mut *g;
        if let Err(e) = encode_line(&op, &mut inner.buf) {
            inner
                .error
                .get_or_insert_with(|| format!("op {}: cannot serialize: {e}", op.index));
        }
        inner.ops.push(op.clone());
        let big = inner.buf.len() >= FLUSH_BYTES;
        drop(g);
        if big {
            self.shared.wake.notify_one();
        }
        op
    }

    /// Clones of the ops recorded from index `from` on (none when `from`
    /// is past the end): how online checking follows the history without
    /// copying it all each time. Holds the recording lock only for the copy.
    pub fn ops_since(&self, from: usize) -> Vec<Op> {
        let g = self.shared.lock();
        g.ops.get(from..).map(<[Op]>::to_vec).unwrap_or_default()
    }

    /// Ops recorded so far.
    pub fn len(&self) -> usize {
        self.shared.lock().ops.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write everything out, fsync, stop the flusher and return the history
    /// and the first write error, if any. Ops recorded after this are kept
    /// in memory only.
    pub fn finish(&self) -> (History, Option<String>) {
        {
            self.shared.lock().closed = true;
        }
        self.shared.wake.notify_one();
        let handle = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        let mut g = self.shared.lock();
        let ops = std::mem::take(&mut g.ops);
        (History { ops }, g.error.take())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

fn flush_loop(shared: Arc<Shared>, mut file: File, name: String) {
    let mut out: Vec<u8> = Vec::with_capacity(FLUSH_BYTES);
    loop {
        let closed = {
            let mut g = shared.lock();
            if g.buf.is_empty() && !g.closed {
                g = shared
                    .wake
                    .wait_timeout(g, FLUSH_EVERY)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            std::mem::swap(&mut out, &mut g.buf);
            g.closed
        };
        if !out.is_empty() {
            if let Err(e) = file.write_all(&out) {
                let mut g = shared.lock();
                g.error.get_or_insert_with(|| format!("{name}: {e}"));
            }
            out.clear();
        }
        if closed {
            let last = std::mem::take(&mut shared.lock().buf);
            let r = file.write_all(&last).and_then(|()| file.sync_data());
            if let Err(e) = r {
                shared
                    .lock()
                    .error
                    .get_or_insert_with(|| format!("{name}: {e}"));
            }
            return;
        }
        // Batch what arrives in the next few ms into one write.
        std::thread::sleep(Duration::from_millis(2).min(FLUSH_EVERY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::jsonl::read_jsonl;
    use crate::history::{OpType, Process};
    use serde_json::json;

    #[test]
    fn streams_ops_within_the_flush_interval_and_returns_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path).unwrap();
        let op = r.record(Op::invoke(Process::Client(0), "read", json!(null)));
        assert_eq!(op.index, 0);
        let done = r.record(op.complete(OpType::Ok, json!(3)));
        assert_eq!(done.index, 1);
        assert!(done.time >= op.time);
        std::thread::sleep(FLUSH_EVERY * 3);
        let on_disk = read_jsonl(&path).unwrap().history;
        assert_eq!(on_disk.len(), 2, "flushed while running");
        let (h, err) = r.finish();
        assert!(err.is_none());
        assert_eq!(h.ops, on_disk.ops);
    }
}
