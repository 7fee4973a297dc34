//! Which file a URL names, and the guarantee that it is inside the results
//! directory.
//!
//! A URL path below `/runs/` is taken as the client sent it, still
//! percent-encoded, and checked twice:
//!
//! 1. **Syntax** ([`decode_segments`]): each `/`-separated segment is
//!    refused when it is empty, `.` or `..`, holds a backslash, or encodes
//!    a slash, a backslash, a dot or a NUL (`%2f`, `%5c`, `%2e`, `%00`).
//!    The links this server writes never encode a dot, so a `%2e` can only
//!    be an attempt to smuggle `..` past a check.
//! 2. **Place** ([`resolve`]): the decoded segments are joined onto the
//!    canonical results directory, the result is canonicalized (every
//!    symlink followed) and must still start with that directory. A symlink
//!    inside `results/` pointing outside is refused here, before anything
//!    outside is opened.
//!
//! [`encode_segment`] writes a file name into a link so that
//! [`decode_segments`] reads it back.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Why a URL path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The path is malformed or tries to leave its directory; the reason
    /// says how. Answered 403.
    Syntax(String),
    /// Nothing is there. Answered 404.
    Missing,
    /// The path resolves (through a symlink) outside the results
    /// directory. Answered 403.
    Outside,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Syntax(why) => write!(f, "refused: {why}"),
            Refused::Missing => write!(f, "not found"),
            Refused::Outside => write!(f, "refused: outside the results directory"),
        }
    }
}

/// The decoded segments of `raw`, a URL path relative to `/runs/` as sent
/// (percent-encoded, without the query). A trailing slash is allowed and
/// dropped; an empty `raw` is no segment at all.
pub fn decode_segments(raw: &str) -> Result<Vec<OsString>, Refused> {
    let raw = raw.strip_suffix('/').unwrap_or(raw);
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    raw.split('/').map(decode_segment).collect()
}

/// One segment, decoded, or why it is refused.
fn decode_segment(seg: &str) -> Result<OsString, Refused> {
    let bad = |why: &str| Err(Refused::Syntax(why.to_string()));
    if seg.is_empty() {
        return bad("empty path segment");
    }
    if seg.contains('\\') {
        return bad("backslash in path");
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        let Some(b) = hex else {
            return bad("malformed percent-encoding");
        };
        match b {
            b'/' => return bad("encoded slash (%2f) in path"),
            b'\\' => return bad("encoded backslash (%5c) in path"),
            b'.' => return bad("encoded dot (%2e) in path"),
            0 => return bad("NUL (%00) in path"),
            _ => out.push(b),
        }
        i += 3;
    }
    if out == b"." || out == b".." {
        return bad("`.` or `..` segment in path");
    }
    Ok(OsString::from_vec(out))
}

/// The canonical path `segments` name under `root` (itself canonical), if
/// it exists and is inside `root`. Nothing is opened: only the path's
/// components are looked up (`canonicalize`).
pub fn resolve(root: &Path, segments: &[OsString]) -> Result<PathBuf, Refused> {
    let mut path = root.to_path_buf();
    for seg in segments {
        // decode_segments guarantees this; checked again because an
        // escape here would read outside.
        let b = seg.as_bytes();
        if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
            return Err(Refused::Syntax("bad path segment".into()));
        }
        path.push(seg);
    }
    inside(root, &path)
}

/// `path`, canonicalized, if it exists and is inside `root` (canonical).
pub fn inside(root: &Path, path: &Path) -> Result<PathBuf, Refused> {
    let canon = std::fs::canonicalize(path).map_err(|_| Refused::Missing)?;
    if canon.starts_with(root) {
        Ok(canon)
    } else {
        Err(Refused::Outside)
    }
}

/// `name` percent-encoded for one URL path segment: every byte but ASCII
/// letters, digits, `-`, `_`, `.` and `~` (dots stay as they are, since an
/// encoded dot is refused).
pub fn encode_segment(name: &OsStr) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` decoded as a query-string value (`+` is a space); a malformed
/// escape is kept as written, and bytes that are not UTF-8 are replaced.
pub fn decode_query_value(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` encoded as a query-string value.
pub fn encode_query_value(s: &str) -> String {
    encode_segment(OsStr::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        matches!(decode_segments(raw), Err(Refused::Syntax(_)))
    }

    #[test]
    fn plain_and_encoded_names_decode() {
        assert_eq!(decode_segments("").unwrap(), Vec::<OsString>::new());
        assert_eq!(decode_segments("/").unwrap(), Vec::<OsString>::new());
        assert_eq!(
            decode_segments("t/20261207T151924.436Z/").unwrap(),
            vec![OsString::from("t"), OsString::from("20261207T151924.436Z")]
        );
        assert_eq!(
            decode_segments("%3Cscript%3E/a%20b/...").unwrap(),
            vec![
                OsString::from("<script>"),
                OsString::from("a b"),
                OsString::from("...")
            ]
        );
        // Bytes that are not UTF-8 survive (Linux file names are bytes).
        assert_eq!(
            decode_segments("%FF").unwrap(),
            vec![OsString::from_vec(vec![0xff])]
        );
    }

    #[test]
    fn traversal_and_smuggling_are_refused() {
        for raw in [
            "..",
            "../secret",
            "a/../../secret",
            "a/./b",
            "%2e%2e/%2e%2e/secret",
            "%2E%2E/secret",
            ".%2e/secret",
            "a%2fb",
            "a%2Fb",
            "a%5cb",
            "a\\..\\b",
            "a%00b",
            "a//b",
            "/etc/passwd",
            "a%2",
            "a%zzb",
        ] {
            assert!(refused(raw), "{raw} was not refused");
        }
    }

    #[test]
    fn encoding_round_trips_and_never_encodes_a_dot() {
        for name in ["<script>alert(1)</script>", "a b&c", "x.y", "é", "%2e"] {
            let enc = encode_segment(OsStr::new(name));
            assert!(!enc.contains('/') && !enc.to_ascii_lowercase().contains("%2e"));
            // A `/` in a name cannot be a file name; others round-trip.
            if !name.contains('/') {
                assert_eq!(decode_segments(&enc).unwrap(), vec![OsString::from(name)]);
            }
        }
        assert_eq!(decode_query_value("a+b%3Cc%zz"), "a b<c%zz");
        assert_eq!(
            decode_query_value(&encode_query_value("<x & y>")),
            "<x & y>"
        );
    }

    #[test]
    fn resolve_stays_inside_the_root_through_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("results");
        std::fs::create_dir_all(root.join("t/run")).unwrap();
        std::fs::write(root.join("t/run/history.jsonl"), "").unwrap();
        std::fs::write(tmp.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("t/run/out")).unwrap();
        std::os::unix::fs::symlink("run", root.join("t/latest")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        let seg = |raw: &str| decode_segments(raw).unwrap();

        let ok = resolve(&root, &seg("t/run/history.jsonl")).unwrap();
        assert_eq!(ok, root.join("t/run/history.jsonl"));
        // A symlink that stays inside is followed.
        assert_eq!(
            resolve(&root, &seg("t/latest")).unwrap(),
            root.join("t/run")
        );
        // One that leaves is refused, directly or as a directory on the way.
        assert_eq!(resolve(&root, &seg("t/run/out")), Err(Refused::Outside));
        assert_eq!(resolve(&root, &seg("up/secret")), Err(Refused::Outside));
        assert_eq!(resolve(&root, &seg("t/nope")), Err(Refused::Missing));
        // Segments that bypassed decode_segments are still refused.
        let dotdot = vec![OsString::from(".."), OsString::from("secret")];
        assert!(matches!(resolve(&root, &dotdot), Err(Refused::Syntax(_))));
        let slash = vec![OsString::from("../secret")];
        assert!(matches!(resolve(&root, &slash), Err(Refused::Syntax(_))));
    }
}
