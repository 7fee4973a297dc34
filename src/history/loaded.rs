//! A history read from a file, and the check every reader ends with.
//!
//! Every reader — [`super::jsonl`] and the importers of [`super::import`] —
//! turns its file into ops and hands them to `finish`, which renumbers
//! them, checks that they pair up (every completion follows an invoke of the
//! same process, no process has two ops open at once: the check
//! [`History::pairs`] makes, so checkers can rely on it) and wraps them into
//! a [`Loaded`] with the reader's warnings.
//!
//! Contract: bad input is never a panic; it is an [`ImportError`] whose
//! message starts with `FILE:LINE: ` (or `FILE: ` when no line applies) and
//! says what is wrong.
//!
//! This module depends only on the core types ([`super::Op`] and friends);
//! the readers depend on it, never the reverse.

use super::{History, Op, OpType, Process};
use std::collections::HashMap;

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
    use serde_json::Value;

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
