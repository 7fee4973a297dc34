//! The corpus of real histories with known verdicts
//! (`tests/corpus/MANIFEST.tsv`: Knossos and Porcupine test data): every
//! file checks to the verdict its authors' own suites assert, with the
//! manifest's model, initial value and meaning of a nil read. The corpus is
//! part of the repository: when it is missing or short, these tests fail.

mod support;

use assert_cmd::Command;
use faultline::checker::linearizable::{Linearizable, LinearizableOptions, ModelKind};
use faultline::checker::Validity;
use faultline::history::import::load;
use std::time::{Duration, Instant};

#[test]
fn every_corpus_verdict_matches_the_manifest() {
    let dir = support::corpus();
    let entries = support::manifest(&dir);
    let started = Instant::now();
    let mut mismatches = Vec::new();
    let (mut valid, mut invalid, mut unknown) = (0, 0, 0);
    let mut checked = 0;
    for e in &entries {
        let model: ModelKind = e
            .model
            .parse()
            .unwrap_or_else(|m| panic!("{}: {m}", e.path));
        let loaded = match load(&dir.join(&e.path), None) {
            Ok(l) => l,
            Err(err) => {
                mismatches.push(format!("{}: does not load: {err}", e.path));
                continue;
            }
        };
        let opts = LinearizableOptions {
            model,
            init: e.init.clone(),
            nil_read: e.nil_read,
            time_limit: Some(Duration::from_secs(30)),
            ..Default::default()
        };
        checked += 1;
        let got = match Linearizable(opts).analyze(&loaded.history) {
            Ok(r) => r,
            Err(err) => {
                mismatches.push(format!("{}: check error: {err}", e.path));
                continue;
            }
        };
        let expected = match e.expected.as_str() {
            "valid" => Validity::Valid,
            "invalid" => Validity::Invalid,
            "unknown" => Validity::Unknown,
            other => panic!("{}: expected verdict {other:?}", e.path),
        };
        if got.valid != expected {
            mismatches.push(format!(
                "{}: expected {expected}, got {} — {}",
                e.path,
                got.valid,
                got.summary()
            ));
            continue;
        }
        match got.valid {
            Validity::Valid => valid += 1,
            Validity::Unknown => unknown += 1,
            _ => {
                invalid += 1;
                // An invalid verdict comes with an explanation naming the op.
                let ex = got.explanations();
                if ex.is_empty() || !ex[0].contains("by process") {
                    mismatches.push(format!("{}: invalid without explanation: {ex:?}", e.path));
                }
            }
        }
    }
    eprintln!(
        "corpus: {valid} valid, {invalid} invalid, {unknown} unknown as expected, {} mismatches, {:.3} s",
        mismatches.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} corpus verdicts do not match:\n{}",
        mismatches.len(),
        entries.len(),
        mismatches.join("\n")
    );
    // Every row got a verdict: a loop that skipped rows must not pass.
    assert_eq!(checked, support::MANIFEST_ENTRIES, "histories checked");
    assert_eq!(valid + invalid + unknown, checked);
}

/// The "done when": the CLI on c50-bad prints invalid with an
/// explanation and exits 1.
#[test]
fn cli_c50_bad_is_invalid_with_an_explanation() {
    let dir = support::corpus();
    let file = dir.join("porcupine-kv/c50-bad.txt");
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .arg("check")
        .arg(&file)
        .args(["--model", "kv"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}: invalid", file.display())),
        "{stdout}"
    );
    // The explanation: the key, the possible states, the op that cannot
    // take effect and who ran it.
    assert!(stdout.contains("key "), "{stdout}");
    assert!(stdout.contains("could hold"), "{stdout}");
    assert!(stdout.contains("cannot take effect"), "{stdout}");
    assert!(stdout.contains("by process"), "{stdout}");
}

/// The same file is valid for nothing else: c50-ok exits 0 through the CLI.
#[test]
fn cli_c50_ok_is_valid() {
    let dir = support::corpus();
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .arg("check")
        .arg(dir.join("porcupine-kv/c50-ok.txt"))
        .args(["--model", "kv"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(": valid"), "{stdout}");
}

/// A corpus directory through the CLI: one line per file, a summary, and the
/// merged exit code (Knossos' bad cas-register histories: all invalid → 1).
#[test]
fn cli_corpus_directories_give_one_line_per_file_and_a_summary() {
    let dir = support::corpus();
    // The good folder holds one history with nemesis ops only
    // (mongodb-v0-ack-rollback-.edn): nothing was checked, so it is
    // unknown, and the folder's exit code is unknown's (2).
    const VACUOUS: &str = "mongodb-v0-ack-rollback-.edn";
    for (sub, code, word) in [
        ("knossos/cas-register/bad", 1, "invalid"),
        ("knossos/cas-register/good", 2, "valid"),
    ] {
        let folder = dir.join(sub);
        let n = std::fs::read_dir(&folder).unwrap().count();
        let out = Command::cargo_bin("faultline")
            .unwrap()
            .arg("check")
            .arg(&folder)
            .args([
                "--model",
                "cas-register",
                "--init",
                "0",
                "--nil-read",
                "any",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{sub}:\n{stdout}");
        let file_lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with(&folder.display().to_string()))
            .collect();
        assert_eq!(file_lines.len(), n, "{sub}: one line per file:\n{stdout}");
        assert!(
            file_lines.iter().all(|l| if l.contains(VACUOUS) {
                l.contains(": unknown") && l.contains("no client operations")
            } else {
                l.contains(&format!(": {word}"))
            }),
            "{sub}:\n{stdout}"
        );
        let summary = stdout.lines().last().unwrap_or_default();
        let expect = if word == "valid" {
            format!(
                "{n} files: {} valid, 0 invalid, 1 unknown, 0 unreadable",
                n - 1
            )
        } else {
            format!("{n} files: 0 valid, {n} invalid, 0 unknown, 0 unreadable")
        };
        assert_eq!(summary, expect, "{sub}");
    }
}
