//! The dependency rules of `../shared/ARCHITECTURE.md`, enforced: each
//! part of the crate can be read and replaced alone only if it does not
//! reach into the parts it must not know. The test reads every file under
//! `src/`, collects the top-level modules it names through `crate::`
//! (comments aside), and fails on any forbidden edge that is not in
//! [`KNOWN`] — the violations that existed when the rules were written
//! down, each to be removed by the seams issue. A removed violation must be
//! taken out of `KNOWN` too, so the list can only shrink.

use std::collections::BTreeSet;
use std::path::Path;

/// What one module may use of the crate.
enum Uses {
    /// Only these modules (and itself).
    Only(&'static [&'static str]),
    /// Anything but these.
    Not(&'static [&'static str]),
}

/// (module, what it may use, why).
const RULES: &[(&str, Uses, &str)] = &[
    (
        "history",
        Uses::Only(&[]),
        "history uses nothing of the crate",
    ),
    (
        "checker",
        Uses::Only(&["history"]),
        "a stored history is all a verdict needs",
    ),
    (
        "refkv",
        Uses::Not(&["runner", "checker", "nemesis", "client"]),
        "refkv is a system under test: it must not know how it is broken or judged",
    ),
    (
        "remote",
        Uses::Not(&["db", "nemesis", "runner"]),
        "the control plane does not know the system under test",
    ),
    (
        "report",
        Uses::Not(&["remote"]),
        "reports work from a stored run and never reach a node",
    ),
    (
        "store",
        Uses::Not(&["report", "runner", "remote"]),
        "the run directory is a layout: reports read it, it knows no verdict",
    ),
];

/// Whether rule `uses` of module `from` forbids using `to`.
fn forbids(from: &str, uses: &Uses, to: &str) -> bool {
    match uses {
        Uses::Only(allowed) => to != from && !allowed.contains(&to),
        Uses::Not(forbidden) => forbidden.contains(&to),
    }
}

/// Violations present when the rules were first enforced: (from, to).
const KNOWN: &[(&str, &str)] = &[];

/// The top-level module a file under `src/` belongs to.
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().expect("a path under src");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The top-level modules `text` names through `crate::`, comments aside.
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::X, b};`: every name at the group's top.
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every (from, to, file) edge that breaks a rule.
fn violations() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src").to_path_buf();
        let from = module_of(&rel);
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for to in uses(&text) {
            for (module, rule, _) in RULES {
                if *module == from && forbids(&from, rule, &to) {
                    found.push((from.clone(), to.clone(), rel.display().to_string()));
                }
            }
            // The library never reaches back into the CLI.
            if to == "cli" && from != "cli" && from != "main" {
                found.push((from.clone(), to.clone(), rel.display().to_string()));
            }
        }
    }
    found
}

#[test]
fn no_module_uses_what_its_rule_forbids() {
    let found = violations();
    let new: Vec<String> = found
        .iter()
        .filter(|(f, t, _)| !KNOWN.contains(&(f.as_str(), t.as_str())))
        .map(|(f, t, file)| {
            let why = RULES
                .iter()
                .find(|(m, _, _)| *m == f)
                .map_or("the library never uses cli", |r| r.2);
            format!("{file}: {f} uses crate::{t} ({why})")
        })
        .collect();
    assert!(
        new.is_empty(),
        "forbidden dependencies:\n{}",
        new.join("\n")
    );
}

#[test]
fn every_known_violation_still_exists_so_the_list_only_shrinks() {
    let found = violations();
    for (from, to) in KNOWN {
        assert!(
            found.iter().any(|(f, t, _)| f == from && t == to),
            "{from} no longer uses {to}: remove it from KNOWN in tests/architecture.rs"
        );
    }
}

#[test]
fn the_scanner_sees_grouped_and_plain_uses_and_skips_comments() {
    let text = "use crate::{history::Op, checker};\nlet x = crate::runner::run();\n// crate::db\n";
    let got: Vec<String> = uses(text).into_iter().collect();
    assert_eq!(got, ["checker", "history", "runner"]);
}
