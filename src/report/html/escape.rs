//! Escaping for the three contexts a value from the history or the system
//! under test can land in: HTML text (also inline SVG text), an attribute
//! value, and JSON data inside a `<script>` element.

use serde_json::Value;

/// `s` as HTML text or a double- or single-quoted attribute value: `&`,
/// `<`, `>`, `"` and `'` replaced by character references.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    esc_into(&mut out, s);
    out
}

/// [`esc`], appended to `out`.
pub fn esc_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `value` as JSON safe inside a `<script>` element: `<`, `>` and `&` as
/// `\u003c`, `\u003e`, `\u0026` (so no `</script>` or `<!--` can appear),
/// and U+2028/U+2029 escaped too.
pub fn script_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_attributes_lose_every_markup_character() {
        assert_eq!(
            esc(r#"<script>alert(1)</script>"><img onerror='x'>&"#),
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img onerror=&#39;x&#39;&gt;&amp;"
        );
    }

    #[test]
    fn script_json_cannot_close_its_element_and_stays_the_same_json() {
        let v = json!({"v": "</script><script>alert(1)</script>", "w": "a&b\u{2028}"});
        let s = script_json(&v);
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
