//! Jepsen log lines: the ops `jepsen.util/log-op` prints while a test runs.
//!
//! A Jepsen `jepsen.log` mixes everything a test logged; the op lines look
//! like `INFO  jepsen.util - 17\t:invoke\t:cas\t[4 4]` (older log4j layout) or
//! `2018-02-02 17:51:10,424{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:invoke\t:read\tnil`
//! (newer). After `jepsen.util` and its `-` or `:` come the fields, separated
//! by tabs or runs of spaces: the process (a number or `:nemesis`), the type
//! (`:invoke :ok :fail :info`), `f` and the value as EDN, and optionally the
//! error (as EDN when it reads as one value, else as text). Every other line
//! — other loggers, `jepsen.util` messages that are not ops — is ignored.
//!
//! Old Jepsen clients reported a timeout by replacing the value with a
//! keyword: `17\t:info\t:cas\t:timed-out`. A `:fail` or `:info` whose value is
//! a bare keyword and that has no error field is read that way: the keyword
//! becomes `error` and the value is the invoke's value (what the op tried to
//! do), since the completion did not report one.
//!
//! When the line starts with a `YYYY-MM-DD HH:MM:SS,mmm` timestamp, `time` is
//! the milliseconds since the first op line, in nanoseconds; otherwise 0.

use super::op_map::process_from_value;
use crate::history::edn::{parse_one, EdnError, EdnParser};
use crate::history::loaded::{finish, ImportError, Loaded};
use crate::history::{Op, OpType, Process};
use serde_json::Value;
use std::collections::HashMap;

/// Parses the op lines of a Jepsen log; `path` names the file in messages.
pub fn parse_log(path: &str, bytes: &[u8]) -> Result<Loaded, ImportError> {
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    let mut open: HashMap<Process, Value> = HashMap::new();
    let mut first_ms: Option<i64> = None;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let Some((mut op, value_is_error)) = parse_line(path, line, raw)? else {
            continue;
        };
        if let Some(ms) = timestamp_ms(raw) {
            let t0 = *first_ms.get_or_insert(ms);
            op.time = u64::try_from(ms.saturating_sub(t0)).unwrap_or(0) * 1_000_000;
        }
        match op.kind {
            OpType::Invoke => {
                open.insert(op.process, op.value.clone());
            }
            _ => {
                let invoked = open.remove(&op.process);
                if value_is_error {
                    op.error = Some(std::mem::replace(
                        &mut op.value,
                        invoked.unwrap_or(Value::Null),
                    ));
                }
            }
        }
        ops.push(op);
        lines.push(line);
    }
    finish(path, ops, lines, Vec::new())
}

/// Milliseconds of a leading `YYYY-MM-DD HH:MM:SS,mmm` timestamp.
fn timestamp_ms(raw: &[u8]) -> Option<i64> {
    let head = std::str::from_utf8(raw.get(..23)?).ok()?;
    let head = head.replacen('.', ",", 1);
    chrono::NaiveDateTime::parse_from_str(&head, "%Y-%m-%d %H:%M:%S,%3f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// The op on one log line, `None` for a line that is not an op line.
/// The flag is true for a `:fail`/`:info` whose value is a bare keyword and
/// that has no error field: the caller moves the value to `error`.
fn parse_line(path: &str, line: usize, raw: &[u8]) -> Result<Option<(Op, bool)>, ImportError> {
    const MARK: &[u8] = b"jepsen.util";
    let Some(at) = raw.windows(MARK.len()).position(|w| w == MARK) else {
        return Ok(None);
    };
    let mut start = at + MARK.len();
    let skip_ws = |mut i: usize| {
        while raw.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i += 1;
        }
        i
    };
    start = skip_ws(start);
    // `- ` (log4j) or `: ` (logback); a `:` directly followed by a name is
    // the `:nemesis` process, not a separator.
    if let Some(&sep) = raw.get(start) {
        let next_is_ws = raw.get(start + 1).is_none_or(|b| b.is_ascii_whitespace());
        if (sep == b'-' || sep == b':') && next_is_ws {
            start = skip_ws(start + 1);
        }
    }
    let rest = &raw[start..];
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    let mut p = EdnParser::at(rest, line, start + 1);
    // Process and type decide whether this is an op line at all.
    let Ok(process) = p.parse_value() else {
        return Ok(None);
    };
    let Ok(process) = process_from_value(&process) else {
        return Ok(None);
    };
    let kind = match p.parse_value() {
        Ok(Value::String(s)) => match s.as_str() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let syntax =
        |e: EdnError| ImportError::at(path, line, format!("{} (column {})", e.message, e.column));
    let f = match p.parse_value().map_err(syntax)? {
        Value::String(s) => s,
        v @ Value::Number(_) => v.to_string(),
        other => {
            return Err(ImportError::at(
                path,
                line,
                format!("op f must be a keyword, not {other}"),
            ))
        }
    };
    let (value, value_is_keyword) = if p.at_end().map_err(syntax)? {
        (Value::Null, false)
    } else {
        let is_kw = p.peek().map_err(syntax)? == Some(b':');
        (p.parse_value().map_err(syntax)?, is_kw)
    };
    p.skip_ws().map_err(syntax)?;
    let tail = &rest[p.offset()..];
    let error = if tail.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(match parse_one(tail) {
            Ok(v) => v,
            Err(_) => Value::String(String::from_utf8_lossy(tail).trim().to_string()),
        })
    };
    let marker = error.is_none() && value_is_keyword && matches!(kind, OpType::Fail | OpType::Info);
    let op = Op {
        index: 0,
        kind,
        process,
        f,
        key: None,
        value,
        time: 0,
        node: None,
        error,
    };
    Ok(Some((op, marker)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_op_lines_and_ignores_the_rest() {
        let log = "INFO  jepsen.core - Running test\n\
                   INFO  jepsen.util - 17\t:invoke\t:cas\t[4 4]\n\
                   INFO  jepsen.util - Something else\n\
                   INFO  jepsen.util - :nemesis\t:info\t:start\t\"Cut off {:n1 #{:n2}}\"\n\
                   INFO  jepsen.util - 17  :info   :cas   :timed-out\n";
        let l = parse_log("j.log", log.as_bytes()).unwrap();
        assert_eq!(l.history.len(), 3);
        assert_eq!(l.lines, vec![2, 4, 5]);
        let cas = &l.history.ops[0];
        assert_eq!((cas.process, cas.f.as_str()), (Process::Client(17), "cas"));
        assert_eq!(cas.value, json!([4, 4]));
        assert_eq!(l.history.ops[1].process, Process::Nemesis);
        assert_eq!(l.history.ops[1].value, json!("Cut off {:n1 #{:n2}}"));
        let info = &l.history.ops[2];
        assert_eq!(info.kind, OpType::Info);
        assert_eq!(info.error, Some(json!("timed-out")));
        assert_eq!(info.value, json!([4, 4]));
    }

    #[test]
    fn reads_logback_layout_with_timestamps_and_error_text() {
        let log = "2018-02-02 17:51:10,424{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:invoke\t:read\tnil\n\
                   2018-02-02 17:51:10,500{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:fail\t:read\tnil\tconnection refused by n1\n";
        let l = parse_log("j.log", log.as_bytes()).unwrap();
        assert_eq!(l.history.ops[1].time, 76_000_000);
        assert_eq!(
            l.history.ops[1].error,
            Some(json!("connection refused by n1"))
        );
    }

    #[test]
    fn malformed_op_line_names_its_line() {
        let log =
            "INFO  jepsen.util - 1\t:invoke\t:write\t3\nINFO  jepsen.util - 1\t:ok\t:write\t[3\n";
        let e = parse_log("j.log", log.as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("j.log:2: `[` opened here is never closed"),
            "{e}"
        );
    }
}
