//! Loading a history file of any supported format.
//!
//! [`load`] reads one file — faultline's own `history.jsonl`, a Jepsen
//! `history.edn`, a Jepsen log (`jepsen.util` op lines) or a Porcupine kv log —
//! and returns a [`History`] whose ops are renumbered densely from 0, plus
//! warnings about things that were repaired or ignored (a torn last line,
//! renumbered indices, a process reused after an `info`).
//!
//! Contract: bad input is never a panic; it is an [`ImportError`] whose
//! message starts with `FILE:LINE: ` and says what is wrong. A loaded history
//! is structurally sound: every completion follows an invoke of the same
//! process, and no process has two ops open at once (the check
//! [`History::pairs`] makes), so checkers can rely on it.
//!
//! EDN values become JSON values: keywords become strings without the colon
//! (`:read` → `"read"`), `nil` → `null`, vectors, lists and sets → arrays,
//! maps → objects (keys rendered as strings), tagged literals → the tagged
//! value. Numbers keep their exact value in every format ([`super::exact`]);
//! one that cannot be kept exactly is an error naming line and column.

use super::{History, Key, Op, OpType, Process};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's own `history.jsonl`: one JSON op per line.
    Jsonl,
    /// Jepsen / Knossos `history.edn`: a vector, list or bare sequence of op maps.
    Edn,
    /// Jepsen log lines printed by `jepsen.util`, other lines ignored.
    JepsenLog,
    /// Porcupine's kv log: one EDN op map per line.
    Porcupine,
}

impl Format {
    /// Every format, in the order detection prefers them.
    pub const ALL: [Format; 4] = [
        Format::Jsonl,
        Format::Edn,
        Format::JepsenLog,
        Format::Porcupine,
    ];

    /// The name used by `--format`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::JepsenLog => "jepsen-log",
            Format::Porcupine => "porcupine",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown history format {s:?}: expected jsonl, edn, jepsen-log or porcupine"
                )
            })
    }
}

/// A loaded history and what the loader had to say about it.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The ops, renumbered densely from 0.
    pub history: History,
    /// Repairs and oddities, each `FILE:LINE: ...` or `FILE: ...`; not errors.
    pub warnings: Vec<String>,
    /// The 1-based source line of each op (`lines[op.index]`), for messages.
    pub lines: Vec<usize>,
}

/// Why a history file could not be loaded. Display: `FILE:LINE: what is wrong`
/// (`FILE: what is wrong` when no line applies, e.g. an I/O error).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The content is malformed at a line.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (may mention a column).
        message: String,
    },
    /// The format was not given and could not be recognised.
    #[error("{path}: {message}")]
    Detect {
        /// The file.
        path: String,
        /// Why detection failed.
        message: String,
    },
}

impl ImportError {
    /// A syntax error at `path:line`.
    pub fn at(path: &str, line: usize, message: impl Into<String>) -> Self {
        ImportError::Syntax {
            path: path.to_string(),
            line,
            message: message.into(),
        }
    }

    /// The line the error refers to, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ImportError::Syntax { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Loads the history in `path`. With `format` `None` the format is detected
/// from the file name and its first bytes ([`detect`]). Files only: callers
/// expand directories themselves.
pub fn load(path: &Path, format: Option<Format>) -> Result<Loaded, ImportError> {
    let name = path.display().to_string();
    let io = |source| ImportError::Io {
        path: name.clone(),
        source,
    };
    if path.is_dir() {
        return Err(ImportError::Detect {
            path: name,
            message: "is a directory, not a history file".into(),
        });
    }
    let format = match format {
        Some(f) => f,
        None => {
            use std::io::Read;
            let mut head = Vec::with_capacity(SNIFF_BYTES);
            std::fs::File::open(path)
                .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
                .map_err(io)?;
            detect(path, &head).map_err(|message| ImportError::Detect {
                path: name.clone(),
                message,
            })?
        }
    };
    if format == Format::Jsonl {
        // Streamed: a million-op history never sits in memory twice.
        let file = std::fs::File::open(path).map_err(io)?;
        let reader = std::io::BufReader::with_capacity(1 << 20, file);
        return super::jsonl::read_jsonl_from(reader, &name);
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse_bytes(&name, &bytes, format)
}

/// Parses a whole history held in memory; `name` is used in messages.
pub fn parse_bytes(name: &str, bytes: &[u8], format: Format) -> Result<Loaded, ImportError> {
    match format {
        Format::Jsonl => super::jsonl::read_jsonl_from(bytes, name),
        Format::Edn => super::edn::parse_history(name, bytes),
        Format::JepsenLog => super::jepsen_log::parse_log(name, bytes),
        Format::Porcupine => super::porcupine::parse_porcupine(name, bytes),
    }
}

/// How many bytes of a file [`load`] reads to detect its format.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// Detects the format of a file from its name and first bytes.
///
/// The extension decides when it is unambiguous (`.jsonl`/`.ndjson` → jsonl,
/// `.edn` → edn, `.log` → jepsen-log); otherwise the content does: a first
/// line starting `{"` is jsonl, `[`, `(`, `#` or `;` open EDN, lines that are
/// each one `{:...}` map are a Porcupine log, and a `jepsen.util` line makes
/// a Jepsen log.
pub fn detect(path: &Path, head: &[u8]) -> Result<Format, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jsonl") | Some("ndjson") => return Ok(Format::Jsonl),
        Some("edn") => return Ok(Format::Edn),
        Some("log") => return Ok(Format::JepsenLog),
        _ => {}
    }
    sniff(head).ok_or_else(|| {
        "cannot tell the history format (not jsonl, edn, a Jepsen log or a Porcupine log); \
         give --format jsonl|edn|jepsen-log|porcupine"
            .to_string()
    })
}

/// Content-only detection; `None` when nothing matches.
pub fn sniff(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    let Some(first) = first else {
        // An empty file is an empty history, whatever its format.
        return Some(Format::Jsonl);
    };
    let after_brace = first.strip_prefix('{').map(str::trim_start);
    if let Some(rest) = after_brace {
        if rest.starts_with('"') || rest.starts_with('}') {
            return Some(Format::Jsonl);
        }
        if rest.starts_with(':') {
            // One complete map per line is Porcupine's layout; a map spread
            // over several lines is a bare EDN sequence.
            return Some(if first.ends_with('}') {
                Format::Porcupine
            } else {
                Format::Edn
            });
        }
    }
    if first.starts_with('[')
        || first.starts_with('(')
        || first.starts_with('#')
        || first.starts_with(';')
    {
        return Some(Format::Edn);
    }
    if text.contains("jepsen.util") {
        return Some(Format::JepsenLog);
    }
    None
}

/// Builds an op from a map with Jepsen's op keys (`type`, `process`, `f`,
/// optional `key`, `value`, `time`, `node`, `error`; `index` and any other
/// key ignored). Used by the EDN-based importers after EDN → JSON conversion.
pub(crate) fn op_from_map(map: &Map<String, Value>) -> Result<Op, String> {
    let kind = match map.get("type") {
        None => return Err("op has no :type".into()),
        Some(Value::String(s)) => match s.as_str() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            other => {
                return Err(format!(
                    ":type must be :invoke, :ok, :fail or :info, not :{other}"
                ))
            }
        },
        Some(v) => {
            return Err(format!(
                ":type must be :invoke, :ok, :fail or :info, not {v}"
            ))
        }
    };
    let process = match map.get("process") {
        None => return Err("op has no :process".into()),
        Some(v) => process_from_value(v)?,
    };
    let f = match map.get("f") {
        None => return Err("op has no :f".into()),
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Number(_)) => v.to_string(),
        Some(v) => return Err(format!(":f must be a keyword or string, not {v}")),
    };
    let key = match map.get("key") {
        None | Some(Value::Null) => None,
        Some(v) => Some(key_from_value(v)?),
    };
    let time = match map.get("time") {
        None | Some(Value::Null) => 0,
        Some(v) => time_from_value(v)?,
    };
    let node = match map.get("node") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
    };
    let error = match map.get("error") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    Ok(Op {
        index: 0,
        kind,
        process,
        f,
        key,
        value: map.get("value").cloned().unwrap_or(Value::Null),
        time,
        node,
        error,
    })
}

/// `:process` → [`Process`]: a non-negative integer or `:nemesis`.
pub(crate) fn process_from_value(v: &Value) -> Result<Process, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(Process::Client)
            .ok_or_else(|| format!(":process must be a non-negative integer or :nemesis, not {n}")),
        Value::String(s) if s == "nemesis" => Ok(Process::Nemesis),
        other => Err(format!(
            ":process must be a non-negative integer or :nemesis, not {other}"
        )),
    }
}

/// `:key` → [`Key`]: an integer stays a number, a string or keyword a string.
pub(crate) fn key_from_value(v: &Value) -> Result<Key, String> {
    match v {
        Value::String(s) => Ok(Key::Str(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(Key::Int)
            .ok_or_else(|| format!(":key {n} is not an integer or a string")),
        other => Err(format!(
            ":key must be an integer, string or keyword, not {other}"
        )),
    }
}

/// `:time` → nanoseconds: a non-negative number (a float is truncated).
pub(crate) fn time_from_value(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => {
            if let Some(t) = n.as_u64() {
                Ok(t)
            } else if let Some(f) = n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()) {
                Ok(f as u64)
            } else {
                Err(format!(":time must be non-negative nanoseconds, not {n}"))
            }
        }
        other => Err(format!(
            ":time must be a number of nanoseconds, not {other}"
        )),
    }
}

/// Renumbers `ops`, checks that invokes and completions pair up per process
/// (errors name the source line) and collects warnings, then wraps them into
/// a [`Loaded`].
pub(crate) fn finish(
    path: &str,
    ops: Vec<Op>,
    lines: Vec<usize>,
    mut warnings: Vec<String>,
) -> Result<Loaded, ImportError> {
    debug_assert_eq!(ops.len(), lines.len());
    let history = History::new(ops);
    // process -> (line of its open invoke)
    let mut open: HashMap<Process, usize> = HashMap::new();
    let mut ended_in_info: HashMap<Process, usize> = HashMap::new();
    let mut reused_after_info: Option<(usize, Process, usize)> = None;
    let mut reused_count = 0usize;
    for (op, &line) in history.ops.iter().zip(&lines) {
        if op.process.is_nemesis() {
            continue;
        }
        if op.kind == OpType::Invoke {
            if let Some(prev) = open.get(&op.process) {
                return Err(ImportError::at(
                    path,
                    line,
                    format!(
                        "process {} invokes :{} while its op invoked at line {prev} has not completed",
                        op.process, op.f
                    ),
                ));
            }
            if let Some(info_line) = ended_in_info.remove(&op.process) {
                reused_count += 1;
                reused_after_info.get_or_insert((line, op.process, info_line));
            }
            open.insert(op.process, line);
        } else {
            if open.remove(&op.process).is_none() {
                return Err(ImportError::at(
                    path,
                    line,
                    format!(
                        ":{} completion of :{} by process {} has no invoke before it",
                        op.kind, op.f, op.process
                    ),
                ));
            }
            if op.kind == OpType::Info {
                ended_in_info.insert(op.process, line);
            }
        }
    }
    if let Some((line, p, info_line)) = reused_after_info {
        warnings.push(format!(
            "{path}:{line}: process {p} invokes again after its op ended :info at line {info_line} \
             ({reused_count} such invoke(s)); an :info op may still take effect, so a worker \
             should continue as a new process"
        ));
    }
    Ok(Loaded {
        history,
        warnings,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn sniff_recognises_each_format() {
        assert_eq!(sniff(b"{\"type\":\"invoke\"}\n"), Some(Format::Jsonl));
        assert_eq!(sniff(b"[{:type :invoke}]"), Some(Format::Edn));
        assert_eq!(sniff(b"; comment\n({:a 1})"), Some(Format::Edn));
        assert_eq!(
            sniff(b"{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n"),
            Some(Format::Porcupine)
        );
        assert_eq!(sniff(b"{:process 0,\n :type :invoke}"), Some(Format::Edn));
        assert_eq!(
            sniff(b"boot\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n"),
            Some(Format::JepsenLog)
        );
        assert_eq!(sniff(b"hello world\n"), None);
        assert_eq!(sniff(b""), Some(Format::Jsonl));
    }

    #[test]
    fn finish_rejects_completion_without_invoke_naming_its_line() {
        let op = Op::invoke(Process::Client(3), "read", Value::Null).complete(OpType::Ok, 1.into());
        let err = finish("h.edn", vec![op], vec![7], vec![]).unwrap_err();
        assert!(err.to_string().starts_with("h.edn:7: "), "{err}");
    }

    #[test]
    fn finish_rejects_double_invoke() {
        let a = Op::invoke(Process::Client(1), "read", Value::Null);
        let err = finish("h", vec![a.clone(), a], vec![1, 2], vec![]).unwrap_err();
        assert!(err.to_string().contains("h:2: process 1 invokes"), "{err}");
    }

    #[test]
    fn finish_warns_on_process_reused_after_info() {
        let a = Op::invoke(Process::Client(1), "write", 1.into());
        let info = a.complete(OpType::Info, 1.into());
        let loaded = finish("h", vec![a.clone(), info, a], vec![1, 2, 3], vec![]).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].starts_with("h:3: process 1"));
    }
}
