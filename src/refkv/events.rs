//! A refkv node's event log: one line per event, so reports and tests can
//! parse it.
//!
//! Format of each line:
//!
//! ```text
//! 2026-11-23T09:30:00.123456Z n1 role term=3 role=leader leader=n1
//! ```
//!
//! an RFC 3339 UTC timestamp with microseconds, the node's name, the event
//! name, then `key=value` fields (a value containing a space, `=` or `"` is
//! JSON-quoted). Events: `start`, `recovered`, `listening`, `role`,
//! `election`, `elected`, `snapshot`, `snapshot-installed`, `applied`,
//! `shutdown`, `fatal`. Each line is written and flushed whole, so a SIGKILL
//! leaves at most a torn last line.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

/// Where a node's events go.
pub struct EventLog {
    node: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl EventLog {
    /// Log to stderr.
    pub fn stderr(node: &str) -> Self {
        EventLog {
            node: node.to_string(),
            out: Mutex::new(Box::new(io::stderr())),
        }
    }

    /// Append to `path` (created if absent).
    pub fn file(node: &str, path: &Path) -> io::Result<Self> {
        let f: File = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(EventLog {
            node: node.to_string(),
            out: Mutex::new(Box::new(f)),
        })
    }

    /// Log to any writer (tests).
    pub fn writer(node: &str, w: Box<dyn Write + Send>) -> Self {
        EventLog {
            node: node.to_string(),
            out: Mutex::new(w),
        }
    }

    /// Write one event with its fields.
    pub fn event(&self, name: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
        let line = format_line(&self.node, name, fields);
        if let Ok(mut out) = self.out.lock() {
            // A log that cannot be written must not stop the node.
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// Render one line (with its trailing newline).
pub fn format_line(node: &str, name: &str, fields: &[(&str, &dyn std::fmt::Display)]) -> String {
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ");
    let mut line = format!("{ts} {node} {name}");
    for (k, v) in fields {
        let v = v.to_string();
        if v.is_empty() || v.contains([' ', '=', '"', '\n', '\t']) {
            let _ = write!(line, " {k}={}", serde_json::Value::String(v));
        } else {
            let _ = write!(line, " {k}={v}");
        }
    }
    line.push('\n');
    line
}

/// One parsed line: timestamp, node, event, fields.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    /// The RFC 3339 timestamp as written.
    pub time: String,
    /// The node's name.
    pub node: String,
    /// The event name.
    pub event: String,
    /// The `key=value` fields, in order (quoted values unquoted).
    pub fields: Vec<(String, String)>,
}

impl EventLine {
    /// The value of field `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parse one line of an event log; `None` for a malformed (e.g. torn) line.
pub fn parse_line(line: &str) -> Option<EventLine> {
    let mut rest = line.trim_end_matches('\n');
    let next_word = |rest: &mut &str| -> Option<String> {
        let s = rest.trim_start();
        let end = s.find(' ').unwrap_or(s.len());
        let w = s[..end].to_string();
        *rest = &s[end..];
        (!w.is_empty()).then_some(w)
    };
    let time = next_word(&mut rest)?;
    let node = next_word(&mut rest)?;
    let event = next_word(&mut rest)?;
    let mut fields = Vec::new();
    loop {
        let s = rest.trim_start();
        if s.is_empty() {
            break;
        }
        let eq = s.find('=')?;
        let key = s[..eq].to_string();
        let after = &s[eq + 1..];
        if after.starts_with('"') {
            let mut de = serde_json::Deserializer::from_str(after).into_iter::<String>();
            let v = de.next()?.ok()?;
            let used = de.byte_offset();
            fields.push((key, v));
            rest = &after[used..];
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            fields.push((key, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    Some(EventLine {
        time,
        node,
        event,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_through_the_parser() {
        let line = format_line(
            "n1",
            "role",
            &[("term", &3), ("role", &"leader"), ("why", &"a b=c")],
        );
        assert!(line.ends_with('\n'));
        let p = parse_line(&line).unwrap();
        assert_eq!(p.node, "n1");
        assert_eq!(p.event, "role");
        assert_eq!(p.get("term"), Some("3"));
        assert_eq!(p.get("role"), Some("leader"));
        assert_eq!(p.get("why"), Some("a b=c"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(&p.time).is_ok(),
            "{}",
            p.time
        );
    }

    #[test]
    fn torn_lines_do_not_parse() {
        assert!(parse_line("2026-11-23T09:30:00Z n1").is_none());
        assert!(parse_line("2026-11-23T09:30:00Z n1 role term").is_none());
        assert!(parse_line("2026-11-23T09:30:00Z n1 role why=\"unterminated").is_none());
    }
}
