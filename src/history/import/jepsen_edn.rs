//! Jepsen / Knossos `history.edn`: a vector, a list or a bare sequence of op
//! maps, read with the pure EDN reader ([`crate::history::edn`]) and mapped
//! to ops by Jepsen's op keys. Errors name the line and column.

use super::op_map::op_from_map;
use crate::history::edn::{describe, EdnError, EdnParser};
use crate::history::loaded::{finish, ImportError, Loaded};
use serde_json::Value;

/// Parses a Jepsen `history.edn`: a vector or list of op maps, or a bare
/// sequence of them. `path` names the file in messages.
pub fn parse_history(path: &str, bytes: &[u8]) -> Result<Loaded, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let syntax =
        |e: EdnError| ImportError::at(path, e.line, format!("{} (column {})", e.message, e.column));
    let mut p = EdnParser::new(bytes);
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    let mut push = |line: usize, col: usize, v: Value| match v {
        Value::Object(m) => {
            let op = op_from_map(&m).map_err(|msg| ImportError::at(path, line, msg))?;
            ops.push(op);
            lines.push(line);
            Ok(())
        }
        other => Err(ImportError::at(
            path,
            line,
            format!(
                "expected an op map `{{:type ... :process ... :f ...}}`, found {} (column {col})",
                describe(&other)
            ),
        )),
    };
    match p.peek().map_err(syntax)? {
        None => {}
        Some(open @ (b'[' | b'(')) => {
            let close = if open == b'[' { b']' } else { b')' };
            let (oline, ocol) = (p.line(), p.column());
            p.skip_byte();
            loop {
                match p.peek().map_err(syntax)? {
                    None => {
                        return Err(ImportError::at(
                            path,
                            oline,
                            format!(
                                "`{}` opened here (column {ocol}) is never closed",
                                open as char
                            ),
                        ))
                    }
                    Some(c) if c == close => {
                        p.skip_byte();
                        break;
                    }
                    Some(_) => {
                        let (line, col) = (p.line(), p.column());
                        let v = p.parse_value().map_err(syntax)?;
                        push(line, col, v)?;
                    }
                }
            }
            if !p.at_end().map_err(syntax)? {
                return Err(syntax(p.error_here(format!(
                    "unexpected content after the history's closing `{}`",
                    close as char
                ))));
            }
        }
        Some(_) => {
            while !p.at_end().map_err(syntax)? {
                let (line, col) = (p.line(), p.column());
                let v = p.parse_value().map_err(syntax)?;
                push(line, col, v)?;
            }
        }
    }
    finish(path, ops, lines, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vector_of_op_maps() {
        let l = parse_history(
            "h.edn",
            b"[{:type :invoke, :process 0, :f :read, :value nil}\n {:type :ok, :process 0, :f :read, :value 3}]",
        )
        .unwrap();
        assert_eq!(l.history.len(), 2);
        assert_eq!(l.lines, vec![1, 2]);
        assert_eq!(l.history.ops[1].value, serde_json::json!(3));
    }

    #[test]
    fn a_value_that_is_not_an_op_map_names_line_and_column() {
        let e = parse_history("h.edn", b"[\n  :read]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "h.edn:2: expected an op map `{:type ... :process ... :f ...}`, found a keyword, symbol or string (column 3)"
        );
    }
}
