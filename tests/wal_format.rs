//! `faultline node` on a data directory whose `wal.log` an older faultline
//! wrote (WAL format 1: no header, checksum of the payload only) refuses to
//! start with exit 254 and a message naming the file, the format and what
//! to do, and leaves the file untouched: an old WAL is never misread.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

#[test]
fn node_refuses_a_format_1_wal_with_exit_254() {
    let dir = tempfile::tempdir().unwrap();
    // A format-1 record: [len LE][crc32 of the payload LE][payload].
    let payload = b"\x01\x01\x00";
    let mut old = Vec::new();
    old.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    old.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    old.extend_from_slice(payload);
    let wal = dir.path().join("wal.log");
    std::fs::write(&wal, &old).unwrap();
    let (client, peer) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["node", "--id", "n1", "--cluster"])
        .arg(format!("n1=127.0.0.1:{client}/127.0.0.1:{peer}"))
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A node that misreads the old WAL starts and serves: stop it rather
    // than hang the test.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node started on a format-1 WAL instead of refusing it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(stderr.contains(&wal.display().to_string()), "{stderr}");
    assert!(stderr.contains("WAL format 1"), "{stderr}");
    assert!(stderr.contains("remove the data directory"), "{stderr}");
    assert_eq!(std::fs::read(&wal).unwrap(), old, "the old WAL was changed");
}
