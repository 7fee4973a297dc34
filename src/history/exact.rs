//! Exact values: when two values of a history are the same value.
//!
//! A checker must never judge two different written values equal, and an
//! importer must never change a value silently. faultline therefore keeps
//! every number exactly as it was written (serde_json's
//! `arbitrary_precision`: a [`Number`] holds its decimal literal, however
//! long; serde_json only respells an exponent `1E5` as `1e+5`),
//! and compares values with one rule, [`exact_text`]:
//!
//! - **Integers** (a literal without `.` or exponent, EDN `N`) compare by
//!   exact value, at any size: `18446744073709551617` ≠
//!   `18446744073709551616`; `-0` = `0`; `007` is not JSON (and is an error
//!   in EDN, where Clojure would read it as octal).
//! - **Decimals** (a literal with a `.` or an exponent, EDN `M` and
//!   ratios) compare by exact decimal value, not by binary float: `1.0` =
//!   `1.00` = `1e0` = `0.1e1`; `0.1` ≠ `0.1000000000000000055511151231257827`;
//!   `-0.0` = `0.0` (one value, zero, whatever its sign); `1e999999` is kept
//!   and equals only itself.
//! - **An integer never equals a decimal**: `1` ≠ `1.0`, as Clojure's `=`
//!   (so Jepsen and Knossos) and Go's `==` on interface values (Porcupine)
//!   judge them. A store that hands back `1.0` for a written `1` changed
//!   the value's type, and a checker should say so.
//! - Strings, booleans and `null` compare as themselves; arrays element by
//!   element; objects by key, whatever the key order.
//!
//! A number is *unrepresentable* when its exact value cannot be kept: an
//! exponent beyond ±2⁶³ (so its canonical form cannot be written), and in
//! EDN `##Inf`, `##-Inf`, `##NaN` and a ratio such as `1/3` with no finite
//! decimal form. Importers reject such a number as bad input naming file,
//! line and column ([`check_numbers`], [`number_key`]); they never turn it
//! into `null` or a nearby float.

use serde_json::{Number, Value};
use std::fmt::Write as _;

/// The canonical text of a JSON number literal under the module's rule:
/// an integer as its digits without leading zeros (`-0` → `0`); a decimal
/// as `D.DDDeE` — the significant digits without leading or trailing zeros
/// and the exponent of the first one (`12.50` → `1.25e1`, zero → `0.0`).
/// Two literals have the same key iff they denote the same value of the
/// same kind. An error says why the number cannot be kept exactly.
pub fn number_key(literal: &str) -> Result<String, String> {
    let (negative, body) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal.strip_prefix('+').unwrap_or(literal)),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !frac.is_none_or(digits) {
        return Err(format!("`{literal}` is not a number"));
    }
    if frac.is_none() && exponent.is_none() {
        let int = int.trim_start_matches('0');
        return Ok(match (int.is_empty(), negative) {
            (true, _) => "0".to_string(),
            (false, true) => format!("-{int}"),
            (false, false) => int.to_string(),
        });
    }
    let exp: i128 = match exponent {
        None => 0,
        Some(e) => {
            let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
            if unsigned.is_empty() || !digits(unsigned) {
                return Err(format!("`{literal}` is not a number"));
            }
            e.strip_prefix('+')
                .unwrap_or(e)
                .parse::<i64>()
                .map_err(|_| {
                    format!(
                        "number `{literal}` cannot be kept exactly: its exponent is beyond ±2^63"
                    )
                })?
                .into()
        }
    };
    let frac = frac.unwrap_or("");
    // All significant digits, and the power of ten of the last one.
    let all = format!("{int}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let sig = all.trim_start_matches('0').trim_end_matches('0');
    if sig.is_empty() {
        return Ok("0.0".to_string());
    }
    // Value = 0.<all> × 10^(len(int) + exp); the first significant digit
    // sits `lead` places after the point.
    let first = int.len() as i128 + exp - lead as i128 - 1;
    if i64::try_from(first).is_err() {
        return Err(format!(
            "number `{literal}` cannot be kept exactly: its exponent is beyond ±2^63"
        ));
    }
    let mut out = String::with_capacity(sig.len() + 24);
    if negative {
        out.push('-');
    }
    out.push_str(&sig[..1]);
    out.push('.');
    out.push_str(if sig.len() > 1 { &sig[1..] } else { "0" });
    let _ = write!(out, "e{first}");
    Ok(out)
}

/// The first number in `v` (depth first) that cannot be kept exactly, as
/// (its literal, why). `None` when every number is representable.
pub fn check_numbers(v: &Value) -> Option<(String, String)> {
    match v {
        // A 64-bit integer always has a key; only others need the literal.
        Value::Number(n) if n.as_u64().is_some() || n.as_i64().is_some() => None,
        Value::Number(n) => {
            let lit = n.to_string();
            number_key(&lit).err().map(|why| (lit, why))
        }
        Value::Array(a) => a.iter().find_map(check_numbers),
        Value::Object(m) => m.values().find_map(check_numbers),
        _ => None,
    }
}

/// The canonical text of a value: two values are the same value (see the
/// module rule) iff their canonical texts are equal. Numbers by
/// [`number_key`] (a number that has no key — impossible after an importer
/// accepted it — keeps its literal behind a `#` so it equals only itself),
/// strings JSON-escaped, object keys sorted.
pub fn exact_text(v: &Value) -> String {
    let mut out = String::new();
    write_exact(v, &mut out);
    out
}

fn write_exact(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_exact(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_exact(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &Number, out: &mut String) {
    // The common case, an integer within 64 bits, is its own key (JSON has
    // no leading zeros; `-0` reads as 0): no literal to re-parse.
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
        return;
    }
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
        return;
    }
    let lit = n.to_string();
    match number_key(&lit) {
        Ok(key) => out.push_str(&key),
        Err(_) => {
            out.push('#');
            out.push_str(&lit);
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's escaping: one spelling per string.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => {
            let _ = write!(out, "{s:?}");
        }
    }
}

/// True when `a` and `b` are the same value under the module rule.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            x == y || matches!((number_key(&x), number_key(&y)), (Ok(p), Ok(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| same_value(p, q)))
        }
        _ => a == b,
    }
}

/// The column (1-based, in bytes) of the first number literal of a JSON
/// text that cannot be kept exactly, for messages about a `history.jsonl`
/// line. Strings are skipped; `None` when there is no such number.
pub fn unrepresentable_column(json: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len()
                    && matches!(json[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let lit = std::str::from_utf8(&json[start..i]).unwrap_or("");
                if number_key(lit).is_err() {
                    return Some(start + 1);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Converts an EDN number token to a JSON number literal with the same
/// exact value (see the module rule), or says why it cannot be kept:
/// `42N` → `42`, `3.0M` → `3.0`, `3M` → `3.0` (a decimal), `1.` → `1.0`,
/// `0x1F` → `31` (at any size), `1/4` → `0.25`, `4/2` → `2` (Clojure reads
/// a whole ratio as an integer); `1/3` and `017` are errors.
pub fn edn_number_literal(token: &str) -> Result<String, String> {
    let (negative, body) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token.strip_prefix('+').unwrap_or(token)),
    };
    let sign = if negative { "-" } else { "" };
    let invalid = || format!("invalid number `{token}`");
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((n, d)) = body.split_once('/') {
        return ratio(token, negative, n, d);
    }
    if let Some(dec) = body.strip_suffix('M') {
        let lit = edn_float(dec).ok_or_else(invalid)?;
        return Ok(format!("{sign}{lit}"));
    }
    let int = body.strip_suffix('N').unwrap_or(body);
    if let Some(hex) = int.strip_prefix("0x").or_else(|| int.strip_prefix("0X")) {
        let digits = hex_to_decimal(hex).ok_or_else(invalid)?;
        return Ok(format!("{sign}{digits}"));
    }
    if int.len() == body.len() && body.contains(['.', 'e', 'E']) {
        let lit = edn_float(body).ok_or_else(invalid)?;
        return Ok(format!("{sign}{lit}"));
    }
    if !is_digits(int) {
        return Err(invalid());
    }
    if int.len() > 1 && int.starts_with('0') {
        return Err(format!(
            "invalid number `{token}`: EDN integers have no leading zero (Clojure would read it as octal)"
        ));
    }
    Ok(format!("{sign}{int}"))
}

/// An EDN float body (no sign) as JSON float syntax: `1.` → `1.0`,
/// `01.5e3` → `1.5e3`, `3` (a `3M`) → `3.0`.
fn edn_float(body: &str) -> Option<String> {
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    let int = match int.trim_start_matches('0') {
        "" => "0",
        t => t,
    };
    let frac = if frac.is_empty() { "0" } else { frac };
    let mut out = format!("{int}.{frac}");
    if let Some(e) = exp {
        let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
        if unsigned.is_empty() || !digits(unsigned) {
            return None;
        }
        out.push('e');
        out.push_str(e);
    }
    Some(out)
}

/// Hex digits → decimal digits, at any length.
fn hex_to_decimal(hex: &str) -> Option<String> {
    if hex.is_empty() {
        return None;
    }
    // Little-endian limbs of base 10^9.
    let mut limbs: Vec<u64> = vec![0];
    for c in hex.chars() {
        let mut carry = u64::from(c.to_digit(16)?);
        for limb in limbs.iter_mut() {
            let x = *limb * 16 + carry;
            *limb = x % 1_000_000_000;
            carry = x / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut out = String::new();
    let mut it = limbs.iter().rev();
    let _ = write!(out, "{}", it.next().copied().unwrap_or(0));
    for l in it {
        let _ = write!(out, "{l:09}");
    }
    Some(out)
}

/// An EDN ratio `n/d` as an exact JSON literal.
fn ratio(token: &str, negative: bool, n: &str, d: &str) -> Result<String, String> {
    let invalid = || format!("invalid number `{token}`");
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(n) || !is_digits(d) {
        return Err(invalid());
    }
    let too_big = || format!("ratio `{token}` is too large to convert exactly");
    let (mut n, mut d) = (
        n.parse::<u128>().map_err(|_| too_big())?,
        d.parse::<u128>().map_err(|_| too_big())?,
    );
    if d == 0 {
        return Err(format!("ratio `{token}` divides by zero"));
    }
    let g = gcd(n, d);
    (n, d) = (n / g, d / g);
    let sign = if negative && n != 0 { "-" } else { "" };
    if d == 1 {
        return Ok(format!("{sign}{n}"));
    }
    // n/d has a finite decimal form iff d = 2^a 5^b; then n/d = n·(10^k/d)/10^k.
    let mut rest = d;
    let (mut twos, mut fives) = (0u32, 0u32);
    while rest % 2 == 0 {
        rest /= 2;
        twos += 1;
    }
    while rest % 5 == 0 {
        rest /= 5;
        fives += 1;
    }
    if rest != 1 {
        return Err(format!(
            "ratio `{token}` has no exact decimal form, so it cannot be kept exactly"
        ));
    }
    let k = twos.max(fives);
    let scaled = 10u128
        .checked_pow(k)
        .and_then(|p| n.checked_mul(p / d))
        .ok_or_else(too_big)?;
    let digits = format!("{scaled:0>width$}", width = k as usize + 1);
    let (i, f) = digits.split_at(digits.len() - k as usize);
    Ok(format!("{sign}{i}.{f}"))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A JSON number holding exactly `literal` (JSON number syntax), or why it
/// cannot be kept (see [`number_key`]).
pub fn exact_number(literal: &str) -> Result<Number, String> {
    number_key(literal)?;
    literal
        .parse::<Number>()
        .map_err(|e| format!("`{literal}` is not a JSON number: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(s: &str) -> String {
        number_key(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn integers_compare_by_exact_value() {
        assert_ne!(key("18446744073709551617"), key("18446744073709551616"));
        assert_eq!(key("-0"), key("0"));
        assert_eq!(key("000123"), "123");
        assert_eq!(key("-18446744073709551617"), "-18446744073709551617");
    }

    #[test]
    fn decimals_compare_by_exact_decimal_value() {
        assert_eq!(key("1.0"), key("1.00"));
        assert_eq!(key("1.0"), key("1e0"));
        assert_eq!(key("1.0"), key("0.1e1"));
        assert_eq!(key("12.50"), "1.25e1");
        assert_eq!(key("-0.0"), key("0.0"));
        assert_eq!(key("0e5"), "0.0");
        assert_eq!(key("0.001"), "1.0e-3");
        assert_ne!(key("0.1"), key("0.1000000000000000055511151231257827"));
        assert_ne!(key("1e999999"), key("1e999998"));
        assert_eq!(key("10e999998"), key("1e999999"));
    }

    #[test]
    fn an_integer_never_equals_a_decimal() {
        assert_ne!(key("1"), key("1.0"));
        assert_ne!(key("100"), key("1e2"));
        assert_ne!(key("0"), key("0.0"));
    }

    #[test]
    fn exponents_beyond_i64_are_unrepresentable() {
        assert!(number_key("1e9223372036854775808").is_err());
        assert!(number_key("1e-99999999999999999999").is_err());
        assert!(number_key("1e9223372036854775807").is_ok());
    }

    #[test]
    fn values_compare_by_the_rule() {
        assert_eq!(
            exact_text(&json!({"b": [1, 2.5], "a": "x"})),
            r#"{"a":"x","b":[1,2.5e0]}"#
        );
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(same_value(
            &parse("[1.0, {\"a\": -0}]"),
            &parse("[1e0, {\"a\": 0}]")
        ));
        assert!(!same_value(&parse("1"), &parse("1.0")));
        assert!(!same_value(
            &parse("18446744073709551617"),
            &parse("18446744073709551616")
        ));
    }

    #[test]
    fn json_keeps_the_literal() {
        let v: Value = serde_json::from_str("[18446744073709551617, 1e999999]").unwrap();
        // serde_json spells the exponent `e+`: the same literal value.
        assert_eq!(v.to_string(), "[18446744073709551617,1e+999999]");
        assert_eq!(check_numbers(&v), None);
        let v: Value = serde_json::from_str("[1, 2e99999999999999999999]").unwrap();
        assert!(check_numbers(&v).is_some());
        assert_eq!(
            unrepresentable_column(
                br#"{"f":"1e99999999999999999999","value":[1,2e99999999999999999999]}"#
            ),
            Some(42)
        );
    }

    #[test]
    fn edn_numbers_convert_exactly() {
        let e = |s: &str| edn_number_literal(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(e("42N"), "42");
        assert_eq!(e("+3"), "3");
        assert_eq!(e("-17"), "-17");
        assert_eq!(e("3.0M"), "3.0");
        assert_eq!(e("3M"), "3.0");
        assert_eq!(e("1."), "1.0");
        assert_eq!(e("-2.5e3"), "-2.5e3");
        assert_eq!(e("1E+5"), "1.0e+5");
        assert_eq!(e("0x1F"), "31");
        assert_eq!(e("-0x10"), "-16");
        assert_eq!(e("0xFFFFFFFFFFFFFFFFF"), "295147905179352825855");
        assert_eq!(e("18446744073709551617N"), "18446744073709551617");
        assert_eq!(e("1/4"), "0.25");
        assert_eq!(e("-3/2"), "-1.5");
        assert_eq!(e("4/2"), "2");
        assert_eq!(e("0"), "0");
        assert!(edn_number_literal("1/3").is_err());
        assert!(edn_number_literal("1/0").is_err());
        assert!(edn_number_literal("017").is_err());
        assert!(edn_number_literal("12abc").is_err());
    }
}
