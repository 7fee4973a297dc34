//! Porcupine's kv log: one EDN op map per line.
//!
//! Porcupine's test data (`test_data/kv/c*-*.txt`) record a key-value store:
//! `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}`,
//! with `:f` one of `:get`, `:put`, `:append`, `:key` a string and `:value
//! nil` on a get invoke. Each non-blank line must hold exactly one map (a `;`
//! comment may follow); the map is read with the shared EDN conversion
//! ([`crate::history::edn`]) and Jepsen's op keys. Errors name the line and column.

use super::op_map::op_from_map;
use crate::history::edn::{describe, EdnError, EdnParser};
use crate::history::loaded::{finish, ImportError, Loaded};
use serde_json::Value;

/// Parses a Porcupine kv log; `path` names the file in messages.
pub fn parse_porcupine(path: &str, bytes: &[u8]) -> Result<Loaded, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let mut p = EdnParser::at(raw, line, 1);
        let syntax = |e: EdnError| {
            ImportError::at(path, line, format!("{} (column {})", e.message, e.column))
        };
        if p.at_end().map_err(syntax)? {
            continue;
        }
        let col = p.column();
        let value = p.parse_value().map_err(syntax)?;
        if p.line() != line {
            // Only a string with a raw newline could do this, and lines were
            // split before parsing; keep the guard for clear messages.
            return Err(ImportError::at(path, line, "op map spans several lines"));
        }
        if !p.at_end().map_err(syntax)? {
            return Err(ImportError::at(
                path,
                line,
                format!(
                    "unexpected content after the op map (column {}); one map per line",
                    p.column()
                ),
            ));
        }
        let Value::Object(map) = value else {
            return Err(ImportError::at(
                path,
                line,
                format!(
                    "expected an op map `{{:process .. :type .. :f ..}}`, found {} (column {col})",
                    describe(&value)
                ),
            ));
        };
        let op = op_from_map(&map).map_err(|m| ImportError::at(path, line, m))?;
        ops.push(op);
        lines.push(line);
    }
    finish(path, ops, lines, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Key, OpType};

    #[test]
    fn reads_kv_ops_with_string_keys() {
        let l = parse_porcupine(
            "c.txt",
            b"{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n\n\
              {:process 0, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n",
        )
        .unwrap();
        assert_eq!(l.history.len(), 2);
        assert_eq!(l.history.ops[1].kind, OpType::Ok);
        assert_eq!(l.history.ops[1].key, Some(Key::Str("0".into())));
        assert_eq!(l.history.ops[1].value, serde_json::json!("x 0 0 y"));
        assert_eq!(l.lines, vec![1, 3]);
    }

    #[test]
    fn two_maps_on_a_line_are_rejected() {
        let e =
            parse_porcupine("c.txt", b"{:process 0, :type :invoke, :f :get} {:a 1}\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.txt:1: unexpected content after the op map (column 38)"),
            "{e}"
        );
    }
}
