//! libfaketime, a facility of each node: how a daemon is put under a clock
//! of its own, and how that clock is moved.
//!
//! A process started with `LD_PRELOAD=<libfaketime>` reads its wall-clock
//! offset from its node's offset file ([`offset_file`]) on every call
//! (`FAKETIME_NO_CACHE=1`), so rewriting the file ([`write_offset`]) skews
//! that one process at runtime; the monotonic clock stays real
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`). Only dynamically linked programs
//! load the library (static and Go binaries ignore it), and the machine's
//! own clock is never touched.
//!
//! Everything here happens on the node, through its [`Remote`]: whether
//! libfaketime is installed is asked of the node
//! ([`Remote::libfaketime`], by default [`locate`]), and the offset file is
//! the node's. A Db puts its daemons under [`env()`]; the clock nemesis writes
//! offsets. Neither needs to know which backend the node is on.

use super::{Node, Remote, RemoteError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where libfaketime lives on Debian-like systems, by architecture, in the
/// order [`locate`] tries them.
pub const CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
];

/// The directory holding the offset files on a node, one file per node.
pub const OFFSET_DIR: &str = "/run/faultline/faketime";

/// Why clock faults cannot apply when a node has no libfaketime.
pub const NOT_INSTALLED: &str =
    "libfaketime is not installed (Debian/Ubuntu: apt-get install faketime)";

/// The directory holding the offset files ([`OFFSET_DIR`]).
pub fn offset_dir() -> PathBuf {
    PathBuf::from(OFFSET_DIR)
}

/// The offset file of node `node` (`+0`, `+1.500s`, `-0.250s`...), on the node.
pub fn offset_file(node: &str) -> PathBuf {
    offset_dir().join(node)
}

/// The libfaketime installed on the node `remote` reaches, if any: the
/// first of [`CANDIDATES`] that exists there (`test -e` on the node).
/// Errors only when the node cannot be asked.
pub fn locate<R: Remote + ?Sized>(remote: &R) -> Result<Option<PathBuf>, RemoteError> {
    for candidate in CANDIDATES {
        if remote.exec(&["test", "-e", candidate])?.success() {
            return Ok(Some(PathBuf::from(candidate)));
        }
    }
    Ok(None)
}

/// The environment that puts a process of node `node` under the
/// libfaketime at `lib` (on the node), reading the node's offset file.
pub fn env(lib: &Path, node: &str) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            offset_file(node).display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// [`env()`] for `node` with the libfaketime its remote finds; `None` when
/// the node has none.
pub fn node_env(node: &Node) -> Result<Option<Vec<(String, String)>>, RemoteError> {
    Ok(node.remote.libfaketime()?.map(|lib| env(&lib, &node.name)))
}

/// An offset in libfaketime's relative syntax: `+0`, `+1.500s`, `-0.250s`.
pub fn offset_spec(ms: i64) -> String {
    if ms == 0 {
        "+0".into()
    } else {
        let sign = if ms < 0 { '-' } else { '+' };
        let a = ms.unsigned_abs();
        format!("{sign}{}.{:03}s", a / 1000, a % 1000)
    }
}

/// Distinguishes the temporary files of concurrent [`write_offset`]s.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Set `node`'s offset to `ms` milliseconds: its offset file is replaced
/// through the node's remote (atomically, as [`Remote::upload`] promises a
/// reader never sees a half-written file).
pub fn write_offset(node: &Node, ms: i64) -> Result<(), RemoteError> {
    let tmp: PathBuf = std::env::temp_dir().join(format!(
        "faultline-clock-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, offset_spec(ms)).map_err(|e| RemoteError::Io {
        node: node.name.clone(),
        source: e,
    })?;
    let r = node.remote.upload(&tmp, &offset_file(&node.name));
    let _ = std::fs::remove_file(&tmp);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{DaemonSpec, ExecOutput, Signal};
    use std::sync::Mutex;

    /// A node on which only `present` exists; it records what it was asked.
    struct FakeNode {
        present: Option<&'static str>,
        asked: Mutex<Vec<String>>,
    }

    impl Remote for FakeNode {
        fn node(&self) -> &str {
            "n1"
        }
        fn exec(&self, argv: &[&str]) -> Result<ExecOutput, RemoteError> {
            crate::sync::lock(&self.asked).push(argv.join(" "));
            let found =
                argv.len() == 3 && argv[..2] == ["test", "-e"] && Some(argv[2]) == self.present;
            Ok(ExecOutput {
                status: if found { 0 } else { 1 },
                stdout: String::new(),
                stderr: String::new(),
            })
        }
        fn upload(&self, _: &Path, _: &Path) -> Result<(), RemoteError> {
            Ok(())
        }
        fn download(&self, _: &Path, _: &Path) -> Result<(), RemoteError> {
            Ok(())
        }
        fn spawn(&self, _: &DaemonSpec) -> Result<u32, RemoteError> {
            Ok(1)
        }
        fn signal(&self, _: u32, _: Signal) -> Result<(), RemoteError> {
            Ok(())
        }
    }

    #[test]
    fn the_library_is_looked_up_on_the_node() {
        let node = FakeNode {
            present: Some(CANDIDATES[2]),
            asked: Mutex::new(Vec::new()),
        };
        assert_eq!(
            node.libfaketime().ok().flatten(),
            Some(PathBuf::from(CANDIDATES[2]))
        );
        let asked = crate::sync::lock(&node.asked).clone();
        assert_eq!(asked.len(), 3, "stops at the first found: {asked:?}");
        assert!(asked.iter().all(|a| a.starts_with("test -e ")));

        let bare = FakeNode {
            present: None,
            asked: Mutex::new(Vec::new()),
        };
        assert_eq!(bare.libfaketime().ok(), Some(None));
    }

    #[test]
    fn env_points_the_library_at_the_nodes_offset_file() {
        let env = env(Path::new("/lib/ft.so"), "n2");
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("LD_PRELOAD"), Some("/lib/ft.so"));
        assert_eq!(
            get("FAKETIME_TIMESTAMP_FILE"),
            Some("/run/faultline/faketime/n2")
        );
        assert_eq!(get("FAKETIME_NO_CACHE"), Some("1"));
        assert_eq!(get("FAKETIME_DONT_FAKE_MONOTONIC"), Some("1"));
    }

    #[test]
    fn offsets_use_libfaketime_syntax() {
        assert_eq!(offset_spec(0), "+0");
        assert_eq!(offset_spec(1500), "+1.500s");
        assert_eq!(offset_spec(-250), "-0.250s");
        assert_eq!(offset_spec(-61_005), "-61.005s");
    }
}
