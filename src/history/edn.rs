//! EDN, the data notation of Jepsen and Knossos histories, read into JSON.
//!
//! [`EdnParser`] reads EDN values straight into [`serde_json::Value`] with the
//! conversion every faultline importer shares: keywords become strings
//! without the colon (`:read` → `"read"`, `:jepsen/x` → `"jepsen/x"`),
//! symbols become strings, `nil` → `null`, `true`/`false` stay booleans,
//! numbers keep their exact value ([`super::exact`]: integers at any size,
//! with an optional `N`; floats and `M` decimals as their decimal literal;
//! a ratio as its exact decimal, `1/4` → `0.25`; `##Inf`, `##NaN`, `1/3`
//! and a leading-zero integer are errors), strings keep their escapes
//! decoded, characters become one-character strings, vectors, lists and sets
//! become arrays, maps become objects whose keys are rendered as strings
//! (`:x` → `"x"`, `1` → `"1"`, `nil` → `"null"`, composite keys as JSON
//! text), and a tagged literal `#tag value` becomes its value (so
//! `#jepsen.history.Op{...}` is the op map). `;` comments, commas and `#_`
//! discards are whitespace.
//!
//! This module is the value reader only: it knows nothing of ops or
//! histories. What the values mean — Jepsen's op maps, a `history.edn`, a
//! Porcupine log — is the importers' business ([`super::import`]). Errors
//! name the line and column; nesting deeper than [`MAX_DEPTH`] is an error,
//! not a stack overflow.

use serde_json::{Map, Value};

/// How deeply EDN collections may nest before the parser gives up.
pub const MAX_DEPTH: usize = 256;

/// A syntax error in EDN text, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct EdnError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in bytes).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A cursor over EDN text that parses one value at a time.
#[derive(Debug, Clone)]
pub struct EdnParser<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    depth: usize,
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';'
        )
}

impl<'a> EdnParser<'a> {
    /// A parser at the start of `src`.
    pub fn new(src: &'a [u8]) -> Self {
        EdnParser {
            src,
            pos: 0,
            line: 1,
            line_start: 0,
            depth: 0,
        }
    }

    /// A parser over `src` whose first byte is at `line`, `column` of some
    /// larger text (for messages about one line of a log).
    pub fn at(src: &'a [u8], line: usize, column: usize) -> Self {
        let mut p = EdnParser::new(src);
        p.line = line;
        // column c at pos 0 means line_start is c-1 bytes before 0; store
        // the offset as a wrapping difference handled in column().
        p.line_start = 0usize.wrapping_sub(column.saturating_sub(1));
        p
    }

    /// The current 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The current 1-based column.
    pub fn column(&self) -> usize {
        self.pos.wrapping_sub(self.line_start) + 1
    }

    /// The byte offset into the text.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// True when only whitespace and comments remain.
    pub fn at_end(&mut self) -> Result<bool, EdnError> {
        self.skip_ws()?;
        Ok(self.pos >= self.src.len())
    }

    /// The next byte after whitespace and comments, not consumed.
    pub fn peek(&mut self) -> Result<Option<u8>, EdnError> {
        self.skip_ws()?;
        Ok(self.src.get(self.pos).copied())
    }

    /// Consumes the byte [`peek`](Self::peek) returned (an opening bracket
    /// a caller reads element by element). Does nothing at the end.
    pub fn skip_byte(&mut self) {
        if let Some(&b) = self.src.get(self.pos) {
            if b == b'\n' {
                self.newline_at(self.pos);
            }
            self.pos += 1;
        }
    }

    /// An error at the current line and column.
    pub fn error_here(&self, message: impl Into<String>) -> EdnError {
        self.err(message)
    }

    fn err(&self, message: impl Into<String>) -> EdnError {
        EdnError {
            line: self.line,
            column: self.column(),
            message: message.into(),
        }
    }

    fn err_at(&self, line: usize, column: usize, message: impl Into<String>) -> EdnError {
        EdnError {
            line,
            column,
            message: message.into(),
        }
    }

    fn newline_at(&mut self, pos: usize) {
        self.line += 1;
        self.line_start = pos + 1;
    }

    /// Skips whitespace, commas, `;` comments and `#_` discarded forms.
    pub fn skip_ws(&mut self) -> Result<(), EdnError> {
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b'\n' => {
                    self.newline_at(self.pos);
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' | b'\x0c' => self.pos += 1,
                b';' => {
                    while let Some(&c) = self.src.get(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'#' if self.src.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    // `#_ #_ #_ …` nests too: count it, or a long run of
                    // discards overflows the stack.
                    self.enter()?;
                    self.parse_value()?;
                    self.depth -= 1;
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Parses the next value, converted to JSON (see the module docs).
    pub fn parse_value(&mut self) -> Result<Value, EdnError> {
        self.skip_ws()?;
        let Some(&b) = self.src.get(self.pos) else {
            return Err(self.err("unexpected end of input, expected a value"));
        };
        match b {
            b'[' | b'(' => {
                let close = if b == b'[' { b']' } else { b')' };
                self.pos += 1;
                self.parse_seq(close).map(Value::Array)
            }
            b'{' => {
                self.pos += 1;
                self.parse_map().map(Value::Object)
            }
            b')' | b']' | b'}' => Err(self.err(format!("unexpected `{}`", b as char))),
            b'"' => self.parse_string().map(Value::String),
            b'\\' => self.parse_char().map(Value::String),
            b'#' => self.parse_dispatch(),
            _ => self.parse_token(),
        }
    }

    fn enter(&mut self) -> Result<(), EdnError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// Elements up to `close`; the opener is already consumed.
    fn parse_seq(&mut self, close: u8) -> Result<Vec<Value>, EdnError> {
        let (line, col) = (self.line, self.column().saturating_sub(1));
        self.enter()?;
        let mut out = Vec::new();
        loop {
            self.skip_ws()?;
            match self.src.get(self.pos) {
                None => {
                    return Err(self.err_at(
                        line,
                        col,
                        format!("`{}` opened here is never closed", opener(close)),
                    ))
                }
                Some(&c) if c == close => {
                    self.pos += 1;
                    break;
                }
                Some(&c @ (b')' | b']' | b'}')) => return Err(self.mismatched(c, close, line, col)),
                Some(_) => out.push(self.parse_value()?),
            }
        }
        self.depth -= 1;
        Ok(out)
    }

    fn parse_map(&mut self) -> Result<Map<String, Value>, EdnError> {
        let (line, col) = (self.line, self.column().saturating_sub(1));
        self.enter()?;
        let mut out = Map::new();
        loop {
            self.skip_ws()?;
            match self.src.get(self.pos) {
                None => return Err(self.err_at(line, col, "`{` opened here is never closed")),
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(&c @ (b')' | b']')) => return Err(self.mismatched(c, b'}', line, col)),
                Some(_) => {
                    let key = self.parse_value()?;
                    self.skip_ws()?;
                    if matches!(self.src.get(self.pos), Some(b'}') | None) {
                        return Err(self.err(format!(
                            "map key {} has no value (odd number of forms in map)",
                            key_string(&key)
                        )));
                    }
                    let value = self.parse_value()?;
                    out.insert(key_string(&key), value);
                }
            }
        }
        self.depth -= 1;
        Ok(out)
    }

    /// A closer that does not match the open collection: name where that
    /// collection was opened, which is usually where the mistake is.
    fn mismatched(&self, found: u8, close: u8, line: usize, col: usize) -> EdnError {
        self.err(format!(
            "unexpected `{}`: the `{}` opened at line {line}, column {col} is not closed",
            found as char,
            opener(close)
        ))
    }

    fn parse_dispatch(&mut self) -> Result<Value, EdnError> {
        // At '#'.
        match self.src.get(self.pos + 1) {
            Some(b'{') => {
                self.pos += 2;
                self.parse_seq(b'}').map(Value::Array)
            }
            Some(b'#') => {
                // ##Inf, ##-Inf, ##NaN have no JSON form; turning them
                // into null (or any number) would change the value.
                let col = self.column();
                self.pos += 2;
                let tok = self.take_token();
                match tok {
                    b"Inf" | b"-Inf" | b"NaN" => Err(self.err_at(
                        self.line,
                        col,
                        format!(
                            "`##{}` cannot be kept exactly (a history value must be a finite number)",
                            String::from_utf8_lossy(tok)
                        ),
                    )),
                    _ => Err(self.err("unknown symbolic value after `##`")),
                }
            }
            Some(b'"') => {
                // A regex literal: keep its source.
                self.pos += 1;
                self.parse_string().map(Value::String)
            }
            Some(&c) if c.is_ascii_alphabetic() => {
                // A tagged literal: `#tag value` reads as the value.
                self.pos += 1;
                let _tag = self.take_token();
                self.skip_ws()?;
                if self.pos >= self.src.len() {
                    return Err(self.err("tagged literal without a value"));
                }
                // `#a #a #a …` nests like a collection.
                self.enter()?;
                let v = self.parse_value()?;
                self.depth -= 1;
                Ok(v)
            }
            _ => Err(self.err("unsupported `#` dispatch")),
        }
    }

    /// Bytes up to the next delimiter.
    fn take_token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(&b) = self.src.get(self.pos) {
            if is_delimiter(b) {
                break;
            }
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn parse_token(&mut self) -> Result<Value, EdnError> {
        let col = self.column();
        let tok = self.take_token();
        let text =
            std::str::from_utf8(tok).map_err(|_| self.err_at(self.line, col, "invalid UTF-8"))?;
        let bytes = text.as_bytes();
        let numeric = matches!(bytes, [b'0'..=b'9', ..] | [b'+' | b'-', b'0'..=b'9', ..]);
        if numeric {
            return parse_number(text).map_err(|why| self.err_at(self.line, col, why));
        }
        if let Some(kw) = text.strip_prefix(':') {
            let kw = kw.strip_prefix(':').unwrap_or(kw);
            if kw.is_empty() {
                return Err(self.err_at(self.line, col, "empty keyword `:`"));
            }
            return Ok(Value::String(kw.to_string()));
        }
        match text {
            "nil" => Ok(Value::Null),
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "" => Err(self.err_at(self.line, col, "unexpected character")),
            sym => Ok(Value::String(sym.to_string())),
        }
    }

    fn parse_string(&mut self) -> Result<String, EdnError> {
        // At the opening quote.
        let (line, col) = (self.line, self.column());
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        let mut run_start = self.pos;
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                return Err(self.err_at(line, col, "string opened here is never closed"));
            };
            match b {
                b'"' => {
                    out.extend_from_slice(&self.src[run_start..self.pos]);
                    self.pos += 1;
                    break;
                }
                b'\n' => {
                    self.newline_at(self.pos);
                    self.pos += 1;
                }
                b'\\' => {
                    out.extend_from_slice(&self.src[run_start..self.pos]);
                    let Some(&e) = self.src.get(self.pos + 1) else {
                        return Err(self.err_at(line, col, "string opened here is never closed"));
                    };
                    self.pos += 2;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'/' => out.push(b'/'),
                        b'u' => {
                            let c = self.parse_hex4()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        other => {
                            self.pos -= 1;
                            return Err(
                                self.err(format!("unknown escape `\\{}` in string", other as char))
                            );
                        }
                    }
                    run_start = self.pos;
                }
                _ => self.pos += 1,
            }
        }
        String::from_utf8(out).map_err(|_| self.err_at(line, col, "string is not valid UTF-8"))
    }

    fn parse_hex4(&mut self) -> Result<char, EdnError> {
        let hex = self
            .src
            .get(self.pos..self.pos + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        let Some(code) = hex else {
            return Err(self.err("`\\u` needs four hex digits"));
        };
        self.pos += 4;
        // A lone surrogate cannot be a char; use the replacement character
        // rather than rejecting a history over one odd string.
        Ok(char::from_u32(code).unwrap_or('\u{fffd}'))
    }

    fn parse_char(&mut self) -> Result<String, EdnError> {
        // At the backslash: `\a`, `\newline`, `\u00e9`...
        let col = self.column();
        self.pos += 1;
        let rest = &self.src[self.pos..];
        let first_len = match rest.first() {
            None => {
                return Err(self.err_at(self.line, col, "character literal without a character"))
            }
            Some(b) if *b < 0x80 => 1,
            Some(b) if *b >= 0xF0 => 4,
            Some(b) if *b >= 0xE0 => 3,
            Some(_) => 2,
        };
        let mut end = first_len.min(rest.len());
        while end < rest.len() && !is_delimiter(rest[end]) {
            end += 1;
        }
        let tok = &rest[..end];
        let text = std::str::from_utf8(tok)
            .map_err(|_| self.err_at(self.line, col, "invalid UTF-8 in character literal"))?;
        let c = match text {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "formfeed" => '\x0c',
            "backspace" => '\x08',
            t if t.chars().count() == 1 => t.chars().next().unwrap_or(' '),
            t if t.len() == 5 && t.starts_with('u') => u32::from_str_radix(&t[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.err_at(self.line, col, format!("invalid character `\\{t}`")))?,
            t => return Err(self.err_at(self.line, col, format!("invalid character `\\{t}`"))),
        };
        if c == '\n' && text == "\n" {
            self.newline_at(self.pos);
        }
        self.pos += end;
        Ok(c.to_string())
    }
}

fn opener(close: u8) -> char {
    match close {
        b']' => '[',
        b')' => '(',
        _ => '{',
    }
}

/// An EDN number token as a JSON number with the same exact value
/// ([`super::exact`]), or why it cannot be kept exactly.
fn parse_number(text: &str) -> Result<Value, String> {
    // The common case, a plain 64-bit integer (`:time`, `:process`, most
    // values), needs no conversion; `-0` and a leading zero go the long way.
    let digits = text.strip_prefix('-').unwrap_or(text);
    if text == "0" {
        return Ok(Value::from(0u64));
    }
    if !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Value::from(n));
        }
    }
    let literal = super::exact::edn_number_literal(text)?;
    super::exact::exact_number(&literal).map(Value::Number)
}

/// An EDN map key as a JSON object key.
fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Parses one complete EDN value from `text` (whitespace and comments around
/// it allowed, nothing else).
pub fn parse_one(text: &[u8]) -> Result<Value, EdnError> {
    let mut p = EdnParser::new(text);
    let v = p.parse_value()?;
    if !p.at_end()? {
        return Err(p.err("unexpected content after the value"));
    }
    Ok(v)
}

/// A short description of a JSON value's kind, for messages.
pub fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a keyword, symbol or string",
        Value::Array(_) => "a vector, list or set",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Value {
        parse_one(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn scalars_convert_per_contract() {
        assert_eq!(v(":read"), json!("read"));
        assert_eq!(v(":jepsen/x"), json!("jepsen/x"));
        assert_eq!(v("nil"), Value::Null);
        assert_eq!(v("true"), json!(true));
        assert_eq!(v("-17"), json!(-17));
        assert_eq!(v("+3"), json!(3));
        assert_eq!(v("42N"), json!(42));
        assert_eq!(v("1.5"), json!(1.5));
        assert_eq!(v("-2.5e3").to_string(), "-2.5e+3");
        assert_eq!(v("1/2"), json!(0.5));
        assert_eq!(v("3.0M"), json!(3.0));
        assert_eq!(v("18446744073709551615"), json!(18446744073709551615u64));
        assert_eq!(
            v("18446744073709551617N").to_string(),
            "18446744073709551617"
        );
        assert_eq!(v("1e999999").to_string(), "1.0e+999999");
        assert_eq!(v("foo.bar/baz"), json!("foo.bar/baz"));
        assert_eq!(v(r#""a\"b\\c\nd\u00e9""#), json!("a\"b\\c\nd\u{e9}"));
        assert_eq!(v(r"\a"), json!("a"));
        assert_eq!(v(r"\newline"), json!("\n"));
    }

    #[test]
    fn collections_convert_per_contract() {
        assert_eq!(v("[1 (2 3) #{:a}]"), json!([1, [2, 3], ["a"]]));
        assert_eq!(
            v("{:x 1, \"y\" 2, 3 4, nil 5, [1 2] 6}"),
            json!({"x": 1, "y": 2, "3": 4, "null": 5, "[1,2]": 6})
        );
        assert_eq!(v("#jepsen.history.Op{:f :read}"), json!({"f": "read"}));
        assert_eq!(v("#inst \"2020-01-01\""), json!("2020-01-01"));
        assert_eq!(v("[1 #_ 2 3 ; four\n]"), json!([1, 3]));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_one(b"[1\n 2\n \"abc").unwrap_err();
        assert_eq!((e.line, e.column), (3, 2), "{e}");
        let e = parse_one(b"{:a 1\n :b}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("has no value"), "{e}");
        let e = parse_one(b"[1 2)").unwrap_err();
        assert!(e.message.contains("unexpected `)`"), "{e}");
        let e = parse_one(b"\"\\q\"").unwrap_err();
        assert!(e.message.contains("unknown escape"), "{e}");
        let e = parse_one(b"12abc").unwrap_err();
        assert!(e.message.contains("invalid number"), "{e}");
        let e = parse_one(b"[1\n  ##Inf]").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3), "{e}");
        assert!(e.message.contains("cannot be kept exactly"), "{e}");
        let e = parse_one(b"[1/3]").unwrap_err();
        assert_eq!((e.line, e.column), (1, 2), "{e}");
        assert!(e.message.contains("no exact decimal form"), "{e}");
        let e = parse_one(b"1e99999999999999999999").unwrap_err();
        assert!(e.message.contains("beyond"), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        let e = parse_one(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("nesting deeper"), "{e}");
    }
}
