//! Helpers shared by the checker and history test files: finding the corpus
//! of real histories (`tests/corpus`, part of the repository) and reading
//! its manifest. A corpus that is missing or short is a failure, never a
//! skip: a test that checks nothing must not pass.

#![allow(dead_code)]

use faultline::checker::linearizable::NilRead;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How many histories `tests/corpus/MANIFEST.tsv` lists; every corpus test
/// must see all of them.
pub const MANIFEST_ENTRIES: usize = 128;

/// The corpus folder, `tests/corpus` in the checkout. Panics (the test
/// fails) when its manifest is absent.
pub fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "corpus not found: {} has no MANIFEST.tsv (the corpus is part of the \
         repository; restore it with `git checkout -- tests/corpus`)",
        dir.display()
    );
    dir
}

/// One row of `MANIFEST.tsv`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the corpus folder.
    pub path: String,
    /// Model name as `--model` takes it.
    pub model: String,
    /// The initial value, converted to JSON.
    pub init: Value,
    /// The init column as written (for `--init` on the command line).
    pub init_json: String,
    /// What a nil read means (`-` in the manifest: not applicable → empty).
    pub nil_read: NilRead,
    /// `valid` or `invalid`.
    pub expected: String,
}

/// The manifest's init column to JSON: JSON as is (`0`, `""`), an EDN-ish
/// map `{x:0,y:0}` to an object, a bare word (`unlocked`) to a string.
pub fn init_value(col: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(col) {
        return v;
    }
    if let Some(body) = col.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        let mut map = serde_json::Map::new();
        for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = pair
                .split_once(':')
                .unwrap_or_else(|| panic!("manifest init {col:?}: pair {pair:?} has no ':'"));
            let v: Value = serde_json::from_str(v.trim())
                .unwrap_or_else(|e| panic!("manifest init {col:?}: value {v:?}: {e}"));
            map.insert(k.trim().trim_start_matches(':').to_string(), v);
        }
        return Value::Object(map);
    }
    Value::String(col.to_string())
}

/// Every row of `dir/MANIFEST.tsv`; panics unless it lists
/// [`MANIFEST_ENTRIES`] rows and every file it names exists.
pub fn manifest(dir: &Path) -> Vec<Entry> {
    let entries = read_manifest(dir);
    assert_eq!(
        entries.len(),
        MANIFEST_ENTRIES,
        "{}: MANIFEST.tsv lists {} histories, not {MANIFEST_ENTRIES}",
        dir.display(),
        entries.len()
    );
    let missing: Vec<&str> = entries
        .iter()
        .filter(|e| !dir.join(&e.path).is_file())
        .map(|e| e.path.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{}: files named in MANIFEST.tsv are missing: {missing:?}",
        dir.display()
    );
    entries
}

/// Every row of `dir/MANIFEST.tsv`, as written.
fn read_manifest(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 5, "MANIFEST.tsv row {l:?}");
            let init = init_value(c[2]);
            Entry {
                path: c[0].to_string(),
                model: c[1].to_string(),
                init_json: init.to_string(),
                init,
                nil_read: match c[3] {
                    "any" => NilRead::Any,
                    "empty" | "-" => NilRead::Empty,
                    other => panic!("MANIFEST.tsv: nil_read {other:?}"),
                },
                expected: c[4].to_string(),
            }
        })
        .collect()
}
