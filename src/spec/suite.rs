//! Suite files (`suites/*.yaml`): a list, or a matrix, of tests for
//! `faultline suite`.
//!
//! ```yaml
//! name: nightly                 # default: the file's stem
//! defaults: { cluster: refkv, time-limit: 30 }
//! tests:                        # each entry: a `faultline test`
//!   - { workload: register, nemesis: partition, seed: 1 }
//!   - { bug: stale-read, nemesis: all, expect: invalid }
//! matrix:                       # the cross product, after `tests`
//!   workload: [register, set, bank]
//!   nemesis: [partition, kill, pause]
//!   seed: [1, 2, 3]
//! ```
//!
//! An entry holds the options of `faultline test`, under the flags' names:
//! `cluster`, `workload`, `nemesis`, `name`, `nodes`, `concurrency`, `rate`,
//! `time-limit`, `recovery`, `interval`, `bugs` (or `bug`: one name or a
//! list) and `seed`; keys may be written `time-limit` or `time_limit`. Each
//! entry becomes the [`Overrides`] the flags would give, so a suite entry
//! and the `faultline test` command line resolve through the same code
//! ([`crate::spec::resolve_with_warnings`]). An entry's fields win over
//! `defaults`; a matrix's lists are crossed in the order written, over
//! `defaults`. `expect` (`valid`, the default, `invalid` or `unknown`) is
//! the verdict the entry must reach (`invalid` for a bug recipe: the bug
//! must be found). `--test-count`, `--leave-db-running` and `--results` are
//! not entry keys: a suite runs each entry once, tears every cluster down
//! and stores every run under `faultline suite --results DIR`.
//!
//! A relative path in `cluster`, `workload` or `nemesis` (one with a `/`,
//! or ending in `.yaml`) is looked up from the suite file's directory when
//! it names a file there, else as on the command line (from the current
//! directory); plain names are looked up as `faultline test` looks them up.
//!
//! Parsing is strict: an unknown key or a wrong type is an error naming
//! `FILE:LINE:COL` and the field (exit 254), before anything runs.

use super::load::{locate, parse, Source, SpecError};
use super::{Concurrency, Overrides};
use crate::checker::Validity;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One test of a suite, as written: every field optional (unset = the
/// `faultline test` default, or the suite's `defaults`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    /// `--cluster`: a file or a name in clusters/.
    pub cluster: Option<String>,
    /// `--workload`: a file or a name in workloads/.
    pub workload: Option<String>,
    /// `--nemesis`: a file, a name in nemeses/, or a family list.
    pub nemesis: Option<String>,
    /// `--name`: the test's name (results/NAME/).
    pub name: Option<String>,
    /// `--nodes`.
    pub nodes: Option<usize>,
    /// `--concurrency`: `10` or `2n`.
    pub concurrency: Option<Concurrency>,
    /// `--rate`, ops/s.
    pub rate: Option<f64>,
    /// `--time-limit`, seconds.
    #[serde(alias = "time_limit")]
    pub time_limit: Option<f64>,
    /// `--recovery`, seconds.
    pub recovery: Option<f64>,
    /// `--interval`, seconds between nemesis ops.
    pub interval: Option<f64>,
    /// `--bug` (repeatable): refkv bugs to switch on; replaces the
    /// defaults' list.
    #[serde(alias = "bug")]
    pub bugs: Option<Names>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// The verdict this test must reach (default `valid`).
    pub expect: Option<Validity>,
}

/// One name or a list of names (`bug: stale-read`, `bugs: [a, b]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a name or a list of names")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Names, E> {
                Ok(Names(vec![s.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Names, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = a.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Names(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A matrix: for each field, the values to cross. Same fields as
/// [`Entry`] except `name` (every combination would get the same one).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Matrix {
    /// Clusters.
    pub cluster: Option<Vec<String>>,
    /// Workloads.
    pub workload: Option<Vec<String>>,
    /// Nemeses.
    pub nemesis: Option<Vec<String>>,
    /// Node counts.
    pub nodes: Option<Vec<usize>>,
    /// Concurrencies.
    pub concurrency: Option<Vec<Concurrency>>,
    /// Rates.
    pub rate: Option<Vec<f64>>,
    /// Time limits.
    #[serde(alias = "time_limit")]
    pub time_limit: Option<Vec<f64>>,
    /// Recovery times.
    pub recovery: Option<Vec<f64>>,
    /// Nemesis intervals.
    pub interval: Option<Vec<f64>>,
    /// Bug sets (each a name or a list).
    #[serde(alias = "bug")]
    pub bugs: Option<Vec<Names>>,
    /// Seeds.
    pub seed: Option<Vec<u64>>,
    /// Expected verdicts.
    pub expect: Option<Vec<Validity>>,
}

/// A suite file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SuiteFile {
    name: Option<String>,
    #[serde(default)]
    defaults: Entry,
    #[serde(default)]
    tests: Vec<Entry>,
    matrix: Option<Matrix>,
}

/// One test of a loaded suite: its entry merged over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteTest {
    /// The merged entry.
    pub entry: Entry,
    /// Where it was written, for messages: `suites/x.yaml:7 (tests[2])`
    /// or `suites/x.yaml:12 (matrix: workload=set, seed=2)`.
    pub origin: String,
}

impl SuiteTest {
    /// The verdict this test must reach.
    pub fn expect(&self) -> Validity {
        self.entry.expect.unwrap_or(Validity::Valid)
    }
}

/// A loaded suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Its name: the file's `name`, else the file's stem.
    pub name: String,
    /// The file, as given.
    pub file: PathBuf,
    /// Its tests, `tests` first, then the matrix's combinations.
    pub tests: Vec<SuiteTest>,
}

impl Entry {
    /// This entry's fields, else `base`'s.
    pub fn over(&self, base: &Entry) -> Entry {
        Entry {
            cluster: self.cluster.clone().or_else(|| base.cluster.clone()),
            workload: self.workload.clone().or_else(|| base.workload.clone()),
            nemesis: self.nemesis.clone().or_else(|| base.nemesis.clone()),
            name: self.name.clone().or_else(|| base.name.clone()),
            nodes: self.nodes.or(base.nodes),
            concurrency: self.concurrency.or(base.concurrency),
            rate: self.rate.or(base.rate),
            time_limit: self.time_limit.or(base.time_limit),
            recovery: self.recovery.or(base.recovery),
            interval: self.interval.or(base.interval),
            bugs: self.bugs.clone().or_else(|| base.bugs.clone()),
            seed: self.seed.or(base.seed),
            expect: self.expect.or(base.expect),
        }
    }

    /// The [`Overrides`] the same `faultline test` flags would give, runs
    /// stored under `results_dir`; relative file paths are looked up from
    /// `suite_dir` first (see the module docs).
    pub fn overrides(&self, suite_dir: &Path, results_dir: &Path) -> Overrides {
        let file = |arg: &Option<String>| {
            arg.as_ref().map(|a| {
                let path_like = a.contains('/') || a.ends_with(".yaml") || a.ends_with(".yml");
                let there = suite_dir.join(a);
                if path_like && Path::new(a).is_relative() && there.is_file() {
                    there.display().to_string()
                } else {
                    a.clone()
                }
            })
        };
        Overrides {
            cluster: file(&self.cluster),
            workload: file(&self.workload),
            nemesis: file(&self.nemesis),
            name: self.name.clone(),
            nodes: self.nodes,
            concurrency: self.concurrency,
            rate: self.rate,
            time_limit: self.time_limit,
            recovery: self.recovery,
            interval: self.interval,
            test_count: Some(1),
            leave_db_running: false,
            seed: self.seed,
            results_dir: Some(results_dir.to_path_buf()),
            bugs: self.bugs.clone().map(|b| b.0).unwrap_or_default(),
        }
    }
}

/// The entries of a matrix: the cross product of its lists, the first
/// field written varying slowest, each with a label (`workload=set,
/// seed=2`). A field with an empty list is an error naming it.
fn combinations(m: &Matrix) -> Result<Vec<(Entry, String)>, String> {
    let mut out = vec![(Entry::default(), String::new())];
    fn cross<T: Clone + std::fmt::Debug>(
        out: Vec<(Entry, String)>,
        field: &str,
        values: &Option<Vec<T>>,
        show: impl Fn(&T) -> String,
        set: impl Fn(&mut Entry, T),
    ) -> Result<Vec<(Entry, String)>, String> {
        let Some(values) = values else {
            return Ok(out);
        };
        if values.is_empty() {
            return Err(format!("matrix.{field}: an empty list crosses to no test"));
        }
        let mut next = Vec::with_capacity(out.len() * values.len());
        for (e, label) in out {
            for v in values {
                let mut e = e.clone();
                set(&mut e, v.clone());
                let sep = if label.is_empty() { "" } else { ", " };
                next.push((e, format!("{label}{sep}{field}={}", show(v))));
            }
        }
        Ok(next)
    }
    let s = |v: &String| v.clone();
    out = cross(out, "cluster", &m.cluster, s, |e, v| e.cluster = Some(v))?;
    out = cross(out, "workload", &m.workload, s, |e, v| e.workload = Some(v))?;
    out = cross(out, "nemesis", &m.nemesis, s, |e, v| e.nemesis = Some(v))?;
    out = cross(out, "nodes", &m.nodes, usize::to_string, |e, v| {
        e.nodes = Some(v)
    })?;
    out = cross(
        out,
        "concurrency",
        &m.concurrency,
        Concurrency::to_string,
        |e, v| e.concurrency = Some(v),
    )?;
    out = cross(out, "rate", &m.rate, f64::to_string, |e, v| {
        e.rate = Some(v)
    })?;
    out = cross(out, "time-limit", &m.time_limit, f64::to_string, |e, v| {
        e.time_limit = Some(v)
    })?;
    out = cross(out, "recovery", &m.recovery, f64::to_string, |e, v| {
        e.recovery = Some(v)
    })?;
    out = cross(out, "interval", &m.interval, f64::to_string, |e, v| {
        e.interval = Some(v)
    })?;
    out = cross(
        out,
        "bugs",
        &m.bugs,
        |v: &Names| format!("[{}]", v.0.join(",")),
        |e, v| e.bugs = Some(v),
    )?;
    out = cross(out, "seed", &m.seed, u64::to_string, |e, v| {
        e.seed = Some(v)
    })?;
    out = cross(out, "expect", &m.expect, Validity::to_string, |e, v| {
        e.expect = Some(v)
    })?;
    Ok(out)
}

/// The 1-based line of item `index` of the block sequence under the
/// top-level key `key`, or the key's own line (flow style, or not found).
fn item_line(text: &str, key: &str, index: usize) -> Option<usize> {
    let (key_line, key_col) = locate(text, key)?;
    let key_indent = key_col - 1;
    let mut seen = 0;
    let mut item_indent = None;
    for (i, line) in text.lines().enumerate().skip(key_line) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let is_item = trimmed == "-" || trimmed.starts_with("- ");
        if indent < key_indent || (indent == key_indent && !is_item) {
            break;
        }
        if is_item && *item_indent.get_or_insert(indent) == indent {
            if seen == index {
                return Some(i + 1);
            }
            seen += 1;
        }
    }
    Some(key_line)
}

/// Load the suite file at `path`: parse it strictly, merge every entry over
/// the defaults and cross the matrix. Errors name the file, line and
/// field (all bad input, exit 254). Test names, workloads and the other
/// values are checked later, when each test is resolved like
/// `faultline test`'s flags.
pub fn load(path: &Path) -> Result<Suite, SpecError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError::Read {
        file: label.clone(),
        message: e.to_string(),
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let src = Source {
        label: label.clone(),
        stem: stem.clone(),
        text,
    };
    let file: SuiteFile = parse(&src)?;
    let at = |line: Option<usize>| match line {
        Some(l) => format!("{label}:{l}"),
        None => label.clone(),
    };
    let mut tests = Vec::new();
    for (i, e) in file.tests.iter().enumerate() {
        tests.push(SuiteTest {
            entry: e.over(&file.defaults),
            origin: format!("{} (tests[{i}])", at(item_line(&src.text, "tests", i))),
        });
    }
    if let Some(m) = &file.matrix {
        let line = locate(&src.text, "matrix").map(|(l, _)| l);
        let combos = combinations(m).map_err(|message| SpecError::Parse {
            file: label.clone(),
            at: locate(&src.text, "matrix"),
            field: String::new(),
            message,
        })?;
        for (e, what) in combos {
            tests.push(SuiteTest {
                entry: e.over(&file.defaults),
                origin: format!("{} (matrix: {what})", at(line)),
            });
        }
    }
    if tests.is_empty() {
        return Err(SpecError::Parse {
            file: label,
            at: None,
            field: String::new(),
            message: "no tests: give a `tests` list or a `matrix`".into(),
        });
    }
    Ok(Suite {
        name: file.name.unwrap_or(stem),
        file: path.to_path_buf(),
        tests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Suite, SpecError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, text).unwrap();
        load(&p)
    }

    #[test]
    fn tests_come_first_then_the_matrix_crossed_in_order() {
        let s = load_text(
            "name: n\ndefaults: { cluster: memory, time_limit: 2 }\ntests:\n  \
             - { workload: set, seed: 9, time-limit: 1 }\n  - bug: stale-read\n    \
             expect: invalid\nmatrix:\n  workload: [register, bank]\n  seed: [1, 2]\n",
        )
        .unwrap();
        assert_eq!(s.name, "n");
        assert_eq!(s.tests.len(), 6);
        let t0 = &s.tests[0];
        assert_eq!(t0.entry.cluster.as_deref(), Some("memory"));
        assert_eq!(t0.entry.time_limit, Some(1.0), "the entry wins");
        assert!(t0.origin.ends_with("s.yaml:4 (tests[0])"), "{}", t0.origin);
        let t1 = &s.tests[1];
        assert_eq!(t1.entry.bugs, Some(Names(vec!["stale-read".into()])));
        assert_eq!(t1.expect(), Validity::Invalid);
        assert!(t1.origin.ends_with("s.yaml:5 (tests[1])"), "{}", t1.origin);
        let labels: Vec<&str> = s.tests[2..]
            .iter()
            .map(|t| t.origin.split_once("matrix: ").unwrap().1)
            .collect();
        assert_eq!(
            labels,
            [
                "workload=register, seed=1)",
                "workload=register, seed=2)",
                "workload=bank, seed=1)",
                "workload=bank, seed=2)"
            ]
        );
        assert_eq!(s.tests[5].entry.time_limit, Some(2.0), "the defaults");
        assert_eq!(s.tests[5].expect(), Validity::Valid);
    }

    #[test]
    fn an_unknown_key_names_the_file_line_and_field() {
        let e = load_text("tests:\n  - { workload: set }\n  - { wrkload: set }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:3:"), "{e}");
        assert!(e.contains("tests[1]"), "{e}");
        assert!(e.contains("wrkload"), "{e}");
        let e = load_text("matrix:\n  seeds: [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:2:") && e.contains("seeds"), "{e}");
        let e = load_text("tests: []\n").unwrap_err().to_string();
        assert!(e.contains("no tests"), "{e}");
        let e = load_text("matrix: { seed: [] }\n").unwrap_err().to_string();
        assert!(e.contains("matrix.seed"), "{e}");
        let e = load_text("tests:\n  - { seed: -1 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.yaml:2:") && e.contains("seed"), "{e}");
    }

    #[test]
    fn an_entry_gives_the_flags_overrides() {
        let e = Entry {
            workload: Some("w.yaml".into()),
            nemesis: Some("partition,kill".into()),
            bugs: Some(Names(vec!["stale-read".into()])),
            seed: Some(3),
            ..Entry::default()
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.yaml"), "name: set\n").unwrap();
        let o = e.overrides(dir.path(), Path::new("out"));
        assert_eq!(
            o.workload,
            Some(dir.path().join("w.yaml").display().to_string())
        );
        assert_eq!(o.nemesis.as_deref(), Some("partition,kill"));
        assert_eq!(o.cluster, None);
        assert_eq!(o.bugs, vec!["stale-read".to_string()]);
        assert_eq!(o.seed, Some(3));
        assert_eq!(o.test_count, Some(1));
        assert_eq!(o.results_dir, Some(PathBuf::from("out")));
    }
}
