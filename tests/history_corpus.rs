//! Every importer on the corpus of real histories (`tests/corpus`, part of
//! the repository: missing or short, these tests fail): all 128 files load
//! with format detection, op counts match the files, and every client invoke
//! pairs with its completion.

use faultline::history::import::{load, Format};
use faultline::history::{OpType, Process};
mod support;
use support::{corpus, manifest};

/// Counts op maps by their `:type` keyword, independently of the parser.
fn count_types(text: &str) -> usize {
    [":type :invoke", ":type :ok", ":type :fail", ":type :info"]
        .iter()
        .map(|t| text.matches(t).count())
        .sum::<usize>()
        + text.matches(":type\n").count()
}

#[test]
fn every_corpus_file_loads_with_detection_and_pairs() {
    let dir = corpus();
    let files = manifest(&dir);
    let mut total = 0;
    let mut loaded_files = 0;
    for entry in &files {
        let (rel, model) = (&entry.path, &entry.model);
        let path = dir.join(rel);
        let loaded = load(&path, None).unwrap_or_else(|e| panic!("{e}"));
        loaded_files += 1;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        let h = &loaded.history;
        assert!(h.len() >= 2, "{rel}: only {} ops", h.len());
        total += h.len();
        let text = std::fs::read_to_string(&path).unwrap();
        // The maps in these files write `:type :x` on one line, except the
        // multi-line pretty-printed ones, where `:type` may wrap.
        let expected = count_types(&text);
        if !text.contains(":type\n") {
            assert_eq!(h.len(), expected, "{rel}: op count");
        }
        let pairs = h.pairs().unwrap_or_else(|e| panic!("{rel}: {e}"));
        let invokes = h
            .ops
            .iter()
            .filter(|o| o.is_client() && o.kind == OpType::Invoke)
            .count();
        assert_eq!(pairs.len(), invokes, "{rel}");
        for (inv, done) in &pairs {
            if let Some(done) = done {
                assert_eq!(inv.process, done.process, "{rel}");
                assert_eq!(
                    inv.f, done.f,
                    "{rel}: op {} completes op {}",
                    done.index, inv.index
                );
                assert!(done.index > inv.index);
            }
        }
        if rel.starts_with("porcupine-kv/") {
            // Porcupine's kv histories: every invoke has an :ok, every op a string key.
            assert!(
                pairs
                    .iter()
                    .all(|(_, d)| d.is_some_and(|d| d.kind == OpType::Ok)),
                "{rel}"
            );
            assert!(h.ops.iter().all(|o| o.key.is_some()), "{rel}");
            assert_eq!(model, "kv");
        }
        for (i, op) in h.ops.iter().enumerate() {
            assert_eq!(op.index, i as u64);
        }
    }
    eprintln!("corpus: {} files, {total} ops", files.len());
    assert_eq!(loaded_files, support::MANIFEST_ENTRIES, "histories loaded");
}

#[test]
fn corpus_formats_are_detected_as_expected() {
    let dir = corpus();
    let edn = dir.join("knossos/cas-register/bad/cas-failure.edn");
    let kv = dir.join("porcupine-kv/c01-ok.txt");
    let head = std::fs::read(&kv).unwrap();
    assert_eq!(
        faultline::history::import::detect(&kv, &head),
        Ok(Format::Porcupine)
    );
    assert_eq!(
        faultline::history::import::detect(&edn, b""),
        Ok(Format::Edn)
    );
    // Reading a Porcupine log as bare EDN gives the same history.
    let a = load(&kv, Some(Format::Porcupine)).unwrap().history;
    let b = load(&kv, Some(Format::Edn)).unwrap().history;
    assert_eq!(a, b);
}

#[test]
fn knossos_nemesis_ops_and_multi_register_values_convert() {
    let dir = corpus();
    let h = load(&dir.join("knossos/cas-register/bad/cas-failure.edn"), None)
        .unwrap()
        .history;
    let nem: Vec<_> = h
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis)
        .collect();
    assert!(!nem.is_empty());
    assert!(nem.iter().all(|o| o.kind == OpType::Info));
    assert!(nem
        .iter()
        .any(|o| o.value.as_str().is_some_and(|s| s.starts_with("Cut off"))));

    let h = load(
        &dir.join("knossos/multi-register/good/multi-register.edn"),
        None,
    )
    .unwrap()
    .history;
    let first = &h.ops[0];
    assert_eq!(first.f, "txn");
    assert_eq!(first.value, serde_json::json!([["read", "x", null]]));
    assert!(first.time > 0);

    let l = load(&dir.join("knossos/mutex/bad/etcd.edn"), None).unwrap();
    let fail = &l.history.ops[1];
    assert_eq!(fail.kind, OpType::Fail);
    assert_eq!(fail.error, Some(serde_json::json!("not-held")));
    assert_eq!(fail.time, 342667129);
}
