//! Loading a history file of any supported format.
//!
//! [`load`] reads one file — faultline's own `history.jsonl`, a Jepsen
//! `history.edn`, a Jepsen log (`jepsen.util` op lines) or a Porcupine kv log —
//! and returns a [`History`](super::History) whose ops are renumbered densely
//! from 0, plus warnings about things that were repaired or ignored (a torn
//! last line, renumbered indices, a process reused after an `info`).
//!
//! Contract: bad input is never a panic; it is an [`ImportError`] whose
//! message starts with `FILE:LINE: ` and says what is wrong. A loaded history
//! is structurally sound: every completion follows an invoke of the same
//! process, and no process has two ops open at once (the check
//! [`History::pairs`](super::History::pairs) makes), so checkers can rely on it.
//!
//! EDN values become JSON values: keywords become strings without the colon
//! (`:read` → `"read"`), `nil` → `null`, vectors, lists and sets → arrays,
//! maps → objects (keys rendered as strings), tagged literals → the tagged
//! value. Numbers keep their exact value in every format ([`super::exact`]);
//! one that cannot be kept exactly is an error naming line and column.
//!
//! One file per foreign format ([`jepsen_edn`], [`jepsen_log`],
//! [`porcupine`]), each built on the pure EDN reader ([`super::edn`]) and the
//! mapping of Jepsen's op keys (`op_map.rs`); this module only detects the
//! format and dispatches. Importers depend on the core
//! ([`super::loaded`], [`super::jsonl`]), never the reverse.

pub mod jepsen_edn;
pub mod jepsen_log;
mod op_map;
pub mod porcupine;

pub use super::loaded::{ImportError, Loaded};
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
        return super::jsonl::read_jsonl(path);
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse_bytes(&name, &bytes, format)
}

/// Parses a whole history held in memory; `name` is used in messages.
pub fn parse_bytes(name: &str, bytes: &[u8], format: Format) -> Result<Loaded, ImportError> {
    match format {
        Format::Jsonl => super::jsonl::read_jsonl_from(bytes, name),
        Format::Edn => jepsen_edn::parse_history(name, bytes),
        Format::JepsenLog => jepsen_log::parse_log(name, bytes),
        Format::Porcupine => porcupine::parse_porcupine(name, bytes),
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
}
