//! `history.jsonl`: faultline's own history file, one op per line.
//!
//! Each line is the JSON of one [`Op`]:
//! `{"index":0,"type":"invoke","process":3,"f":"write","value":2,"time":1200}`
//! (`process` a number or `"nemesis"`; `key`, `node`, `error` only when set).
//! The schema and its semantics are documented in `docs/history.md`.
//! [`encode_line`] is the one place a line is written: [`HistoryWriter`],
//! [`write_history`] and the runner's batching recorder all go through it.
//!
//! Contract of the writer ([`HistoryWriter`]): every [`append`] assigns the
//! next dense `index`, writes the whole line with its newline in one `write`
//! and hands it to the kernel before returning, so a process killed at any
//! moment leaves every op it appended, plus at most one torn last line.
//!
//! Contract of the reader ([`read_jsonl`], [`JsonlReader`]): lines are read
//! one at a time (a million ops stream, never a second copy of the file);
//! blank lines are skipped; a bad line is an [`ImportError`] `FILE:LINE: what
//! is wrong`; a last line without its newline that does not parse is a torn
//! write and is dropped with a warning; `index` is renumbered to the position
//! in the file, with a warning when the file's indices were not `0, 1, 2...`.
//! Numbers keep their literal ([`super::exact`]); one whose exact value
//! cannot be kept is an error `FILE:LINE: ... (column C)`.
//!
//! [`append`]: HistoryWriter::append

use super::loaded::{finish, ImportError, Loaded};
use super::{History, Op};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// Appends ops to a `history.jsonl`, one flushed line per op.
#[derive(Debug)]
pub struct HistoryWriter {
    file: File,
    path: PathBuf,
    next_index: u64,
    line: Vec<u8>,
}

/// Appends `op` as one history line (its JSON, then `\n`) to `buf`, as
/// every writer of `history.jsonl` does. On an error `buf` is left as it
/// was, so a buffer of lines never holds part of one.
pub fn encode_line(op: &Op, buf: &mut Vec<u8>) -> io::Result<()> {
    let start = buf.len();
    match serde_json::to_writer(&mut *buf, op) {
        Ok(()) => {
            buf.push(b'\n');
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(io::Error::new(io::ErrorKind::InvalidData, e))
        }
    }
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl HistoryWriter {
    /// Creates (or truncates) the file at `path`; the first op gets index 0.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| with_path(path, e))?;
        Ok(HistoryWriter {
            file,
            path: path.to_path_buf(),
            next_index: 0,
            line: Vec::with_capacity(256),
        })
    }

    /// Opens an existing history to continue it (e.g. a resumed run). A torn
    /// last line is cut off; the next op gets the index after the last whole
    /// op. A missing file is created. Returns the writer and the ops already
    /// there, so the caller can restore its state.
    pub fn open_append(path: impl AsRef<Path>) -> Result<(Self, Loaded), ImportError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io_err = |source| ImportError::Io {
            path: name.clone(),
            source,
        };
        if !path.exists() {
            let w = HistoryWriter::create(path).map_err(io_err)?;
            return Ok((w, Loaded::default()));
        }
        let loaded = read_jsonl(path)?;
        let bytes = std::fs::read(path).map_err(io_err)?;
        // Keep everything up to the last newline: a torn tail is not an op.
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let mut file = OpenOptions::new().write(true).open(path).map_err(io_err)?;
        if keep < bytes.len() {
            if loaded.history.len() > bytes[..keep].iter().filter(|&&b| b == b'\n').count() {
                // The unterminated last line was a whole op: terminate it
                // instead of cutting it.
                file.set_len(bytes.len() as u64).map_err(io_err)?;
                use std::io::Seek;
                file.seek(io::SeekFrom::End(0)).map_err(io_err)?;
                file.write_all(b"\n").map_err(io_err)?;
            } else {
                file.set_len(keep as u64).map_err(io_err)?;
            }
        }
        use std::io::Seek;
        file.seek(io::SeekFrom::End(0)).map_err(io_err)?;
        let w = HistoryWriter {
            file,
            path: path.to_path_buf(),
            next_index: loaded.history.len() as u64,
            line: Vec::with_capacity(256),
        };
        Ok((w, loaded))
    }

    /// Writes `op` with the next index as one line and flushes it to the
    /// kernel. Returns the index assigned.
    pub fn append(&mut self, op: &Op) -> io::Result<u64> {
        let index = self.next_index;
        self.line.clear();
        let mut numbered = op.clone();
        numbered.index = index;
        encode_line(&numbered, &mut self.line)?;
        // One write of the whole line: a kill leaves whole lines and at
        // most one torn tail, never interleaved halves.
        self.file
            .write_all(&self.line)
            .and_then(|()| self.file.flush())
            .map_err(|e| with_path(&self.path, e))?;
        self.next_index += 1;
        Ok(index)
    }

    /// Forces written ops to stable storage (fsync). `append` alone survives
    /// a killed process; this also survives a machine crash.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| with_path(&self.path, e))
    }

    /// The index the next appended op will get (= ops written so far).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes a whole history to `path` (buffered; ops keep their indices). For
/// conversions and tests; a live run uses [`HistoryWriter`].
pub fn write_history(path: impl AsRef<Path>, history: &History) -> io::Result<()> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| with_path(path, e))?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(256);
    for op in &history.ops {
        line.clear();
        encode_line(op, &mut line)?;
        out.write_all(&line).map_err(|e| with_path(path, e))?;
    }
    out.flush().map_err(|e| with_path(path, e))
}

/// Reads a `history.jsonl` into memory (see the module contract), streaming
/// the file: a million-op history never sits in memory twice.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Loaded, ImportError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    if path.is_dir() {
        return Err(ImportError::Detect {
            path: name,
            message: "is a directory, not a history file".into(),
        });
    }
    let file = File::open(path).map_err(|source| ImportError::Io {
        path: name.clone(),
        source,
    })?;
    read_jsonl_from(io::BufReader::with_capacity(1 << 20, file), &name)
}

/// Reads JSONL from any buffered reader; `name` is used in messages.
pub fn read_jsonl_from<R: BufRead>(reader: R, name: &str) -> Result<Loaded, ImportError> {
    let mut r = JsonlReader::new(reader, name);
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    for item in &mut r {
        let (line, op) = item?;
        ops.push(op);
        lines.push(line);
    }
    let warnings = r.take_warnings();
    finish(name, ops, lines, warnings)
}

/// A streaming JSONL reader: yields `(line, op)` one at a time, with `index`
/// renumbered densely from 0. Warnings accumulate in [`JsonlReader::warnings`].
/// After the first error it yields nothing more.
#[derive(Debug)]
pub struct JsonlReader<R> {
    inner: R,
    name: String,
    line: usize,
    buf: Vec<u8>,
    next_index: u64,
    index_warned: bool,
    warnings: Vec<String>,
    done: bool,
}

impl<R: BufRead> JsonlReader<R> {
    /// A reader over `inner`; `name` (the file) prefixes every message.
    pub fn new(inner: R, name: &str) -> Self {
        JsonlReader {
            inner,
            name: name.to_string(),
            line: 0,
            buf: Vec::with_capacity(512),
            next_index: 0,
            index_warned: false,
            warnings: Vec::new(),
            done: false,
        }
    }

    /// Warnings so far (torn last line, renumbered indices).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Takes the warnings out of the reader.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn fail(&mut self, message: String) -> Option<Result<(usize, Op), ImportError>> {
        self.done = true;
        Some(Err(ImportError::at(&self.name, self.line, message)))
    }
}

/// serde_json's message without its " at line L column C" suffix (the line is
/// ours; the column is kept separately).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<(usize, Op), ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            match self.inner.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.line += 1;
                    return self.fail(format!("cannot read: {e}"));
                }
            }
            self.line += 1;
            let terminated = self.buf.last() == Some(&b'\n');
            let mut text: &[u8] = &self.buf;
            if self.line == 1 {
                text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Op>(text) {
                Ok(mut op) => {
                    // serde_json kept every number's literal; one whose
                    // exact value has no canonical form is bad input, named
                    // by its column, never rounded or nulled.
                    if let Some((_, why)) = super::exact::check_numbers(&op.value)
                        .or_else(|| op.error.as_ref().and_then(super::exact::check_numbers))
                    {
                        let col = super::exact::unrepresentable_column(text).unwrap_or(1);
                        return self.fail(format!("{why} (column {col})"));
                    }
                    if op.index != self.next_index && !self.index_warned {
                        self.index_warned = true;
                        self.warnings.push(format!(
                            "{}:{}: index {} where {} was expected; ops renumbered in file order",
                            self.name, self.line, op.index, self.next_index
                        ));
                    }
                    op.index = self.next_index;
                    self.next_index += 1;
                    return Some(Ok((self.line, op)));
                }
                Err(_) if !terminated => {
                    // The writer puts the newline in the same write as the
                    // op, so an unterminated unparsable tail is a write cut
                    // short by a kill: everything before it is intact.
                    self.warnings.push(format!(
                        "{}:{}: last line is incomplete (no newline: the writer was probably \
                         killed mid-write); dropped",
                        self.name, self.line
                    ));
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    let msg = format!("{} (column {})", json_message(&e), e.column());
                    return self.fail(msg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpType, Process};

    fn read(s: &str) -> Result<Loaded, ImportError> {
        read_jsonl_from(s.as_bytes(), "h.jsonl")
    }

    #[test]
    fn reads_ops_and_renumbers() {
        let l = read(
            "{\"index\":5,\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n\n\
             {\"index\":6,\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":3}\n",
        )
        .unwrap();
        assert_eq!(l.history.len(), 2);
        assert_eq!(l.history.ops[1].index, 1);
        assert_eq!(l.history.ops[1].value, serde_json::json!(3));
        assert_eq!(l.lines, vec![1, 3]);
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].starts_with("h.jsonl:1: index 5"));
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let e = read(
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"bogus\",\"process\":0,\"f\":\"read\"}\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("h.jsonl:2: unknown variant"),
            "{e}"
        );
        let e = read("{\"type\":\"invoke\",\"process\":1.5,\"f\":\"read\"}\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("h.jsonl:1: process 1.5 is not a non-negative 64-bit integer"),
            "{e}"
        );
        let e = read("{\"type\":\"invoke\",\"process\":-1,\"f\":\"read\"}\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("h.jsonl:1: process -1 is negative"),
            "{e}"
        );
    }

    #[test]
    fn torn_last_line_is_dropped_with_warning() {
        let l = read("{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"pro")
            .unwrap();
        assert_eq!(l.history.len(), 1);
        assert!(l.warnings[0].contains("h.jsonl:2: last line is incomplete"));
    }

    #[test]
    fn unterminated_but_complete_last_line_is_kept() {
        let l = read("{\"type\":\"invoke\",\"process\":\"nemesis\",\"f\":\"kill\"}").unwrap();
        assert_eq!(l.history.len(), 1);
        assert_eq!(l.history.ops[0].process, Process::Nemesis);
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn encode_line_appends_one_whole_line() {
        let mut buf = b"before\n".to_vec();
        let op = Op::invoke(Process::Nemesis, "kill", serde_json::json!(["n1"]));
        encode_line(&op, &mut buf).unwrap();
        let line = buf.strip_prefix(b"before\n".as_slice()).unwrap();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(serde_json::from_slice::<Op>(line).unwrap(), op);
    }

    #[test]
    fn writer_assigns_indices_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        let mut w = HistoryWriter::create(&p).unwrap();
        let inv = Op::invoke(Process::Client(2), "write", 7.into());
        assert_eq!(w.append(&inv).unwrap(), 0);
        assert_eq!(w.append(&inv.complete(OpType::Ok, 7.into())).unwrap(), 1);
        drop(w);
        let l = read_jsonl(&p).unwrap();
        assert_eq!(l.history.ops[1].kind, OpType::Ok);
        assert_eq!(l.history.ops[1].index, 1);
        assert!(l.warnings.is_empty());
    }
}
