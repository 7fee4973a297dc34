//! The files of `src/history/` form layers (see the module docs of
//! `faultline::history`): the core and the pure EDN reader use no importer,
//! and no two files use each other, directly or around a loop. The test reads
//! every file, collects the history modules it names (through
//! `crate::history::`, `super::` or a child module's name; comments and
//! `#[cfg(test)]` modules aside) and fails on a cycle, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module of `src/history/` by its path below `history` (`[]` for the
/// root, `["import", "porcupine"]`...).
type Module = Vec<String>;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/history") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `import/mod.rs` → `["import"]`, `import/porcupine.rs` → `["import", "porcupine"]`.
fn module_of(rel: &Path) -> Module {
    let mut parts: Module = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The text without `//` comments and without the `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first names of what follows a path prefix: `x::` → `[x]`, `{a::B, c}` → `[a, c]`.
fn heads(rest: &str) -> Vec<String> {
    match rest.strip_prefix('{') {
        Some(group) => {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|p| ident(p.trim()))
                .filter(|n| !n.is_empty())
                .collect()
        }
        None => vec![ident(rest)]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
    }
}

/// The longest known module that `base` + `name` starts with.
fn resolve(known: &BTreeSet<Module>, base: &[String], name: &str) -> Module {
    let mut m = base.to_vec();
    m.push(name.to_string());
    while !m.is_empty() && !known.contains(&m) {
        m.pop();
    }
    m
}

/// Every module each module uses.
fn edges() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/history");
    let mut paths = Vec::new();
    files(&root, &mut paths);
    assert!(paths.len() >= 6, "found only {} files", paths.len());
    let texts: BTreeMap<Module, String> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("under src/history");
            let text = std::fs::read_to_string(p).expect("read a history file");
            (module_of(rel), code_of(&text))
        })
        .collect();
    let known: BTreeSet<Module> = texts.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (module, code) in &texts {
        let mut used = BTreeSet::new();
        for (i, _) in code.match_indices("crate::history::") {
            for name in heads(&code[i + "crate::history::".len()..]) {
                used.insert(resolve(&known, &[], &name));
            }
        }
        for (i, _) in code.match_indices("super::") {
            if code[..i].ends_with("super::") {
                continue; // counted from the first `super::` of the chain
            }
            let mut rest = &code[i..];
            let mut base = module.clone();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            for name in heads(rest) {
                used.insert(resolve(&known, &base, &name));
            }
        }
        // A parent naming its child module directly: `child::f()`.
        for child in known.iter().filter(|k| k.len() == module.len() + 1) {
            let name = child.last().expect("a child has a name");
            if child.starts_with(module) && code.contains(&format!("{name}::")) {
                used.insert(child.clone());
            }
        }
        used.remove(module);
        out.insert(module.clone(), used);
    }
    out
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "history".into()
    } else {
        format!("history::{}", m.join("::"))
    }
}

/// A cycle through `at`, if any, by depth-first search.
fn cycle(
    g: &BTreeMap<Module, BTreeSet<Module>>,
    at: &Module,
    stack: &mut Vec<Module>,
    done: &mut BTreeSet<Module>,
) -> Option<Vec<Module>> {
    if let Some(i) = stack.iter().position(|m| m == at) {
        let mut c = stack[i..].to_vec();
        c.push(at.clone());
        return Some(c);
    }
    if done.contains(at) {
        return None;
    }
    stack.push(at.clone());
    for next in g.get(at).into_iter().flatten() {
        if let Some(c) = cycle(g, next, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(at.clone());
    None
}

#[test]
fn history_files_use_each_other_without_a_cycle() {
    let g = edges();
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(c) = cycle(&g, m, &mut Vec::new(), &mut done) {
            let names: Vec<String> = c.iter().map(show).collect();
            panic!("history/ has a cycle: {}", names.join(" → "));
        }
    }
}

#[test]
fn the_core_and_the_edn_reader_use_no_reader_or_importer() {
    let g = edges();
    let root: Module = Vec::new();
    assert_eq!(g[&root], BTreeSet::new(), "history/mod.rs uses only itself");
    let edn = vec!["edn".to_string()];
    let exact = vec!["exact".to_string()];
    assert_eq!(
        g[&edn],
        BTreeSet::from([exact]),
        "the EDN reader knows nothing of ops"
    );
}

#[test]
fn the_scanner_sees_super_chains_groups_and_children() {
    let g = edges();
    let porcupine = vec!["import".to_string(), "porcupine".to_string()];
    let uses: BTreeSet<String> = g[&porcupine].iter().map(show).collect();
    for m in ["history::import::op_map", "history::edn", "history::loaded"] {
        assert!(uses.contains(m), "porcupine uses {m}: {uses:?}");
    }
    let import = vec!["import".to_string()];
    assert!(g[&import].contains(&porcupine), "{:?}", g[&import]);
}
