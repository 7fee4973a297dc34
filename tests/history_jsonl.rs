//! `history.jsonl` writer and reader contracts.
//!
//! - Every `append` is in the file when it returns: another handle reads
//!   each op right after it is written, the writer still open.
//! - A writer process killed with SIGKILL leaves every op it appended, and
//!   a torn last line (killed mid-write) is dropped with a warning, never an
//!   error; `open_append` continues such a file where the whole ops end.
//! - Reading a million ops is fast (`#[ignore]`d; run with
//!   `cargo test --release --test history_jsonl -- --ignored --nocapture`).
//!
//! The killed writer is this test binary itself, re-run as a child with
//! `FAULTLINE_TEST_WRITER` set (see [`child_writer`]).

use faultline::checker::linearizable::generate::{random_history, GenOptions};
use faultline::checker::linearizable::ModelKind;
use faultline::history::jsonl::{read_jsonl, write_history, HistoryWriter};
use faultline::history::{Key, Op, OpType, Process};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn nth_op(i: u64) -> Op {
    let p = Process::Client(i / 2 % 5);
    let mut op = Op::invoke(p, "write", json!(i));
    if i % 2 == 1 {
        op = op.complete(OpType::Ok, json!(i - 1));
    }
    op.key = Some(Key::Int((i / 2 % 3) as i64));
    op.time = i * 1000;
    op
}

#[test]
fn each_append_is_readable_by_another_handle_before_the_writer_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut w = HistoryWriter::create(&path).unwrap();
    for i in 0..50u64 {
        assert_eq!(w.append(&nth_op(i)).unwrap(), i);
        let l = read_jsonl(&path).unwrap();
        assert_eq!(l.history.len() as u64, i + 1, "after append {i}");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let last = l.history.ops.last().unwrap();
        assert_eq!(last.index, i);
        assert_eq!(last.time, i * 1000);
        // Raw bytes too: whole lines, each ended by its newline.
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.last(), Some(&b'\n'));
        assert_eq!(raw.iter().filter(|&&b| b == b'\n').count() as u64, i + 1);
    }
    assert_eq!(w.next_index(), 50);
    w.sync().unwrap();
    drop(w);
}

/// The child side: append `N` ops (or forever when `N` is `forever`),
/// reporting each index on stdout after `append` returned, then wait to be
/// killed. Does nothing unless `FAULTLINE_TEST_WRITER=path:N` is set.
#[test]
#[ignore = "child process of the SIGKILL tests"]
fn child_writer() {
    let Ok(spec) = std::env::var("FAULTLINE_TEST_WRITER") else {
        return;
    };
    let (path, n) = spec.rsplit_once(':').unwrap();
    let n: u64 = n.parse().unwrap_or(u64::MAX);
    let mut w = HistoryWriter::create(path).unwrap();
    let mut out = std::io::stdout().lock();
    let mut i = 0;
    while i < n {
        w.append(&nth_op(i)).unwrap();
        writeln!(out, "wrote {i}").unwrap();
        out.flush().unwrap();
        i += 1;
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs [`child_writer`] as a child process; returns it and its stdout.
fn spawn_writer(
    path: &Path,
    n: &str,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("FAULTLINE_TEST_WRITER", format!("{}:{n}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Reads the child's stdout until it reports index `until`.
fn wait_for(out: &mut BufReader<std::process::ChildStdout>, until: u64) -> u64 {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child writer ended early"
        );
        if let Some(i) = line
            .trim()
            .strip_prefix("wrote ")
            .and_then(|s| s.parse::<u64>().ok())
        {
            if i >= until {
                return i;
            }
        }
    }
}

fn sigkill(child: &mut std::process::Child) {
    // SIGKILL: no destructor, no flush of anything the writer still held.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

#[test]
fn a_writer_killed_after_n_ops_leaves_exactly_n_readable_ops() {
    let dir = tempfile::tempdir().unwrap();
    for n in [1u64, 7, 300] {
        let path = dir.path().join(format!("h{n}.jsonl"));
        let (mut child, mut out) = spawn_writer(&path, &n.to_string());
        wait_for(&mut out, n - 1);
        sigkill(&mut child);
        let l = read_jsonl(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.history.len() as u64, n);
        for (i, op) in l.history.ops.iter().enumerate() {
            let mut want = nth_op(i as u64);
            want.index = i as u64;
            assert_eq!(op, &want);
        }
    }
}

#[test]
fn a_writer_killed_mid_stream_leaves_every_reported_op_and_can_be_continued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let (mut child, mut out) = spawn_writer(&path, "forever");
    // Killed while it is writing as fast as it can: the last line may be
    // torn.
    let reported = wait_for(&mut out, 2000);
    sigkill(&mut child);
    let l = read_jsonl(&path).unwrap_or_else(|e| panic!("{e}"));
    let n = l.history.len() as u64;
    assert!(
        n > reported,
        "{n} ops read, {} reported written",
        reported + 1
    );
    assert!(l.warnings.len() <= 1, "{:?}", l.warnings);
    eprintln!(
        "killed mid-stream: {} reported, {n} read, warnings {:?}",
        reported + 1,
        l.warnings
    );
    assert_eq!(l.history.ops.last().unwrap().time, (n - 1) * 1000);

    // Continue the file: the next op gets the next index, and the result
    // reads back clean.
    let (mut w, before) = HistoryWriter::open_append(&path).unwrap();
    assert_eq!(before.history.len() as u64, n);
    assert_eq!(w.append(&nth_op(n)).unwrap(), n);
    drop(w);
    let l = read_jsonl(&path).unwrap();
    assert_eq!(l.history.len() as u64, n + 1);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn a_torn_tail_is_dropped_with_a_warning_and_cut_by_open_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut w = HistoryWriter::create(&path).unwrap();
    for i in 0..3 {
        w.append(&nth_op(i)).unwrap();
    }
    drop(w);
    // Simulate a write cut short by a kill.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(br#"{"index":3,"type":"ok","proc"#).unwrap();
    drop(f);
    let l = read_jsonl(&path).unwrap();
    assert_eq!(l.history.len(), 3);
    assert_eq!(l.warnings.len(), 1);
    assert!(
        l.warnings[0].contains(":4: last line is incomplete"),
        "{:?}",
        l.warnings
    );
    let (mut w, _) = HistoryWriter::open_append(&path).unwrap();
    assert_eq!(w.append(&nth_op(3)).unwrap(), 3);
    drop(w);
    let l = read_jsonl(&path).unwrap();
    assert_eq!(l.history.len(), 4);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // A bad line that is not the last is an error naming file and line.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let broken = format!("{}\n{{\"type\":\"ok\",\n{}\n", lines[0], lines[1]);
    std::fs::write(&path, broken).unwrap();
    let e = read_jsonl(&path).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:2: ", path.display())), "{e}");
}

/// Reading a million ops: `cargo test --release --test history_jsonl --
/// --ignored --nocapture read_speed`.
#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn read_speed_one_million_ops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let t = Instant::now();
    let h = random_history(&GenOptions {
        model: ModelKind::CasRegister,
        ops: 500_000,
        keys: 1000,
        concurrency: 50,
        ..Default::default()
    });
    let generated = t.elapsed();
    let t = Instant::now();
    write_history(&path, &h).unwrap();
    let written = t.elapsed();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let t = Instant::now();
    let l = read_jsonl(&path).unwrap();
    let read = t.elapsed();
    assert_eq!(l.history.len(), h.len());
    assert!(h.len() >= 1_000_000, "{} ops", h.len());
    eprintln!(
        "read_speed: {} ops ({:.1} MB): generate {:.2} s, write {:.2} s, read {:.2} s ({:.2} M ops/s)",
        h.len(),
        bytes as f64 / 1e6,
        generated.as_secs_f64(),
        written.as_secs_f64(),
        read.as_secs_f64(),
        h.len() as f64 / read.as_secs_f64() / 1e6
    );
}
