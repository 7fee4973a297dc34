//! Finding, parsing and validating the three YAML files of a test, and
//! resolving them with the command-line flags into one [`TestSpec`].
//!
//! Lookup of a `--cluster`, `--workload` or `--nemesis` argument, first match
//! wins: the argument as a path to a file; else `<dir>/<name>.yaml` under the
//! lookup root (the current directory for the CLI); else the file of that
//! name shipped with faultline (embedded in the binary, so `faultline test`
//! works from any directory). A `--nemesis` that is none of those but a comma
//! list of fault families (`partition,kill`, `all`, `none`) builds a nemesis
//! with those families and default options.
//!
//! Parsing is strict (unknown keys and wrong types are errors naming
//! `FILE:LINE:COL` and the field), then values are checked (node counts,
//! known Db and backend names, positive durations, the workload's own
//! `config`, the nemesis's families and targets). A bad value names the flag
//! that set it, or the file (with the line of the field when it can be
//! found). Every error here is the user's to fix: exit code 254.

use super::{ClusterSpec, Concurrency, NemesisSpec, TestSpec, WorkloadSpec};
use crate::db::Capabilities;
use crate::nemesis::package::{self, NemesisConfig, FAMILIES};
use crate::nemesis::NemesisError;
use crate::node::bugs::Bug;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// The default cluster, workload and nemesis of `faultline test`.
pub const DEFAULT_CLUSTER: &str = "refkv";
/// The default workload.
pub const DEFAULT_WORKLOAD: &str = "register";
/// The default nemesis.
pub const DEFAULT_NEMESIS: &str = "partition-kill";
/// The default results directory.
pub const DEFAULT_RESULTS_DIR: &str = "results";

/// The systems a cluster file may name in `db`.
pub const DBS: &[&str] = &["refkv", "memory"];
/// The backends a cluster file may name in `backend`.
pub const BACKENDS: &[&str] = &["local", "none"];

/// Which of the three parts of a test a file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `clusters/*.yaml`.
    Cluster,
    /// `workloads/*.yaml`.
    Workload,
    /// `nemeses/*.yaml`.
    Nemesis,
}

impl Kind {
    /// The directory holding files of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Cluster => "clusters",
            Kind::Workload => "workloads",
            Kind::Nemesis => "nemeses",
        }
    }

    /// The word for one file of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Workload => "workload",
            Kind::Nemesis => "nemesis",
        }
    }

    /// The files of this kind shipped with faultline: `(name, YAML text)`.
    pub fn builtin(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Cluster => BUILTIN_CLUSTERS,
            Kind::Workload => BUILTIN_WORKLOADS,
            Kind::Nemesis => BUILTIN_NEMESES,
        }
    }
}

const BUILTIN_CLUSTERS: &[(&str, &str)] = &[
    ("memory", include_str!("../../clusters/memory.yaml")),
    ("refkv", include_str!("../../clusters/refkv.yaml")),
    ("refkv-3", include_str!("../../clusters/refkv-3.yaml")),
    (
        "refkv-fast-timeout",
        include_str!("../../clusters/refkv-fast-timeout.yaml"),
    ),
    (
        "refkv-3-slow-election",
        include_str!("../../clusters/refkv-3-slow-election.yaml"),
    ),
    (
        "refkv-figure-8",
        include_str!("../../clusters/refkv-figure-8.yaml"),
    ),
];

const BUILTIN_WORKLOADS: &[(&str, &str)] = &[
    ("bank", include_str!("../../workloads/bank.yaml")),
    ("counter", include_str!("../../workloads/counter.yaml")),
    ("register", include_str!("../../workloads/register.yaml")),
    (
        "register-reads",
        include_str!("../../workloads/register-reads.yaml"),
    ),
    ("set", include_str!("../../workloads/set.yaml")),
];

const BUILTIN_NEMESES: &[(&str, &str)] = &[
    ("all", include_str!("../../nemeses/all.yaml")),
    ("clock", include_str!("../../nemeses/clock.yaml")),
    ("crash", include_str!("../../nemeses/crash.yaml")),
    (
        "double-vote",
        include_str!("../../nemeses/double-vote.yaml"),
    ),
    ("kill", include_str!("../../nemeses/kill.yaml")),
    ("loss", include_str!("../../nemeses/loss.yaml")),
    ("none", include_str!("../../nemeses/none.yaml")),
    ("partition", include_str!("../../nemeses/partition.yaml")),
    (
        "partition-kill",
        include_str!("../../nemeses/partition-kill.yaml"),
    ),
    ("pause", include_str!("../../nemeses/pause.yaml")),
    (
        "skew-partition",
        include_str!("../../nemeses/skew-partition.yaml"),
    ),
];

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file (its label: the path as given, or `builtin:<dir>/<name>.yaml`),
    /// with the 1-based line and column of the field when known.
    File {
        /// The file's label.
        file: String,
        /// Line and column of the field.
        at: Option<(usize, usize)>,
    },
    /// A command-line flag (`--nodes`).
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                file,
                at: Some((l, c)),
            } => write!(f, "{file}:{l}:{c}"),
            Origin::File { file, at: None } => write!(f, "{file}"),
            Origin::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// Why a test could not be loaded or resolved. Every variant is bad input
/// (exit 254); the message names the file, line, column and field, or the
/// flag, and the valid choices where there is a list of them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// A file could not be read.
    #[error("{file}: {message}")]
    Read {
        /// The file as given.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A file is not valid YAML or does not fit the schema (unknown key,
    /// wrong type, unknown variant).
    #[error("{}", parse_message(.file, *.at, .field, .message))]
    Parse {
        /// The file's label.
        file: String,
        /// 1-based line and column, when the parser knows them.
        at: Option<(usize, usize)>,
        /// The field's dotted path (`refkv.client-port`), empty at the top.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("{}", invalid_message(.origin, .field, .message))]
    Invalid {
        /// The file or flag the value came from.
        origin: Origin,
        /// The field (`nodes`, `time-limit`...).
        field: String,
        /// What is wrong, with the valid choices where there is a list.
        message: String,
    },
    /// A `--cluster`, `--workload`, `--nemesis` or `--bug` name that names
    /// nothing.
    #[error("unknown {kind} {name:?}: expected {}", .valid.join(", "))]
    UnknownName {
        /// `cluster`, `workload`, `nemesis`, `bug`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// Every valid name (and, for a nemesis, the fault families).
        valid: Vec<String>,
    },
}

fn invalid_message(origin: &Origin, field: &str, message: &str) -> String {
    match origin {
        Origin::Flag(_) => format!("{origin}: {message}"),
        Origin::File { .. } => format!("{origin}: {field}: {message}"),
    }
}

fn parse_message(file: &str, at: Option<(usize, usize)>, field: &str, message: &str) -> String {
    let mut s = file.to_string();
    if let Some((l, c)) = at {
        s.push_str(&format!(":{l}:{c}"));
    }
    s.push_str(": ");
    if !field.is_empty() {
        s.push_str(&format!("{field}: "));
    }
    s.push_str(message);
    s
}

/// One YAML document found by [`find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// How errors name it: the path as given, `<dir>/<name>.yaml`, or
    /// `builtin:<dir>/<name>.yaml` for an embedded file.
    pub label: String,
    /// The file's stem: the default name of what it describes.
    pub stem: String,
    /// The YAML text.
    pub text: String,
}

fn is_plain_name(arg: &str) -> bool {
    !arg.is_empty()
        && !arg.contains(['/', '\\'])
        && !arg.ends_with(".yaml")
        && !arg.ends_with(".yml")
        && arg != "."
        && arg != ".."
}

fn read_source(path: &Path, label: String) -> Result<Source, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError::Read {
        file: label.clone(),
        message: e.to_string(),
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Source { label, stem, text })
}

/// Every name `kind` can be looked up by from `root`: the shipped files and
/// the `*.yaml` files in `<root>/<dir>/`, sorted, without duplicates.
pub fn names(kind: Kind, root: &Path) -> Vec<String> {
    let mut out: Vec<String> = kind.builtin().iter().map(|(n, _)| n.to_string()).collect();
    if let Ok(rd) = std::fs::read_dir(root.join(kind.dir())) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some("yaml") && p.is_file() {
                if let Some(s) = p.file_stem().and_then(|s| s.to_str()) {
                    out.push(s.to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Find the file `arg` names (see the module docs for the order). `None`
/// when nothing matches and `arg` is a plain name (the caller decides what
/// else it could be); an error when `arg` is a path that does not exist.
fn lookup(kind: Kind, arg: &str, root: &Path) -> Result<Option<Source>, SpecError> {
    if arg.trim().is_empty() {
        return Ok(None);
    }
    let as_path = root.join(arg);
    if !arg.is_empty() && as_path.is_file() {
        return read_source(&as_path, arg.to_string()).map(Some);
    }
    if !is_plain_name(arg) {
        return Err(SpecError::Read {
            file: arg.to_string(),
            message: format!("no such {} file", kind.noun()),
        });
    }
    let in_dir = root.join(kind.dir()).join(format!("{arg}.yaml"));
    if in_dir.is_file() {
        return read_source(&in_dir, format!("{}/{arg}.yaml", kind.dir())).map(Some);
    }
    Ok(kind
        .builtin()
        .iter()
        .find(|(n, _)| *n == arg)
        .map(|(n, text)| Source {
            label: format!("builtin:{}/{n}.yaml", kind.dir()),
            stem: n.to_string(),
            text: text.to_string(),
        }))
}

/// Find the file `arg` names, or fail listing the valid names.
pub fn find(kind: Kind, arg: &str, root: &Path) -> Result<Source, SpecError> {
    match lookup(kind, arg, root)? {
        Some(src) => Ok(src),
        None => Err(SpecError::UnknownName {
            kind: kind.noun(),
            name: arg.to_string(),
            valid: names(kind, root),
        }),
    }
}

/// Deserialize `src` strictly as `T`, errors naming `FILE:LINE:COL` and the
/// field. An empty document (or one of comments only) is `{}`.
pub fn parse<T: DeserializeOwned>(src: &Source) -> Result<T, SpecError> {
    let empty = src
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    let text = if empty { "{}" } else { src.text.as_str() };
    let de = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." || field == "?" {
            String::new()
        } else {
            field
        };
        let inner = e.into_inner();
        let mut at = inner.location().map(|l| (l.line(), l.column()));
        // Errors raised after buffering (flattened or untagged values) carry
        // the position of an enclosing node; the field's own line is better.
        if let (Some((line, _)), Some(found)) = (at, locate_nearest(text, &field)) {
            if found.0 > line {
                at = Some(found);
            }
        }
        let mut message = inner.to_string();
        // serde_norway appends " at line L column C"; we say FILE:L:C.
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        // ...and may prefix the path (or its parent's) we already print.
        if let Some((prefix, rest)) = message.split_once(": ") {
            if !prefix.is_empty() && field.starts_with(prefix) {
                message = rest.to_string();
            }
        }
        SpecError::Parse {
            file: src.label.clone(),
            at,
            field,
            message,
        }
    })
}

/// The 1-based line and column of a block-style field `a.b.c` in YAML
/// `text`, found by indentation. `None` for flow style or a missing field.
pub fn locate(text: &str, field: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let content = |i: usize| {
        let line = lines[i];
        let trimmed = line.trim_start();
        (!trimmed.is_empty() && !trimmed.starts_with('#'))
            .then(|| (line.len() - trimmed.len(), trimmed))
    };
    // The children of a mapping are the lines at the indentation of its
    // first content line, up to the first line indented less.
    let mut start = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for seg in field.split('.') {
        let key = format!("{seg}:");
        let mut level = None;
        let mut hit = None;
        for i in start..lines.len() {
            let Some((indent, trimmed)) = content(i) else {
                continue;
            };
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            let level = *level.get_or_insert(indent);
            if indent < level {
                break;
            }
            if indent == level && trimmed.starts_with(&key) {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some((i + 1, indent + 1));
        parent_indent = Some(indent);
        start = i + 1;
    }
    found
}

/// [`locate`] the field, else its nearest enclosing field that is in block
/// style (`config.mix` for `config.mix.read` in `mix: {read: x}`).
pub fn locate_nearest(text: &str, field: &str) -> Option<(usize, usize)> {
    let field = field.split('[').next().unwrap_or(field);
    let mut f = field;
    loop {
        if f.is_empty() {
            return None;
        }
        if let Some(at) = locate(text, f) {
            return Some(at);
        }
        f = f.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
    }
}

fn invalid(src: &Source, field: &str, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        origin: Origin::File {
            file: src.label.clone(),
            at: locate_nearest(&src.text, field),
        },
        field: field.to_string(),
        message: message.into(),
    }
}

/// Whether the document has a top-level `name` key.
fn has_name(src: &Source) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        name: Option<serde_norway::Value>,
    }
    serde_norway::from_str::<Probe>(&src.text)
        .map(|p| p.name.is_some())
        .unwrap_or(false)
}

/// Parse a cluster file; its name is its `name` field or else the stem.
pub fn parse_cluster(src: &Source) -> Result<ClusterSpec, SpecError> {
    let mut c: ClusterSpec = parse(src)?;
    if !has_name(src) {
        c.name = src.stem.clone();
    }
    Ok(c)
}

/// Parse a workload file; a file without `name` is the workload its stem
/// names.
pub fn parse_workload(src: &Source) -> Result<WorkloadSpec, SpecError> {
    let mut w: WorkloadSpec = parse(src)?;
    if !has_name(src) {
        if crate::workload::NAMES.contains(&src.stem.as_str()) {
            w.name = src.stem.clone();
        } else {
            return Err(invalid(
                src,
                "name",
                format!(
                    "missing: which workload is this? one of {}",
                    crate::workload::NAMES.join(", ")
                ),
            ));
        }
    }
    Ok(w)
}

/// Parse a nemesis file; its name is the stem.
pub fn parse_nemesis(src: &Source) -> Result<NemesisSpec, SpecError> {
    let config: NemesisConfig = parse(src)?;
    Ok(NemesisSpec {
        name: src.stem.clone(),
        config,
    })
}

/// A nemesis from a comma list of fault families (`partition,kill`, `all`,
/// `none`), every other option at its default. `None` if some element is
/// not a family.
pub fn nemesis_from_families(list: &str) -> Option<NemesisSpec> {
    let faults: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let known = |f: &String| FAMILIES.contains(&f.as_str()) || f == "all" || f == "none";
    if faults.is_empty() || !faults.iter().all(known) {
        return None;
    }
    let config = NemesisConfig {
        faults: faults.into_iter().filter(|f| f != "none").collect(),
        ..NemesisConfig::default()
    };
    Some(NemesisSpec {
        name: list.to_string(),
        config,
    })
}

/// Where a nemesis came from: a file, or a family list on the command line.
enum NemesisSource {
    File(Source),
    Families,
}

fn find_nemesis(arg: &str, root: &Path) -> Result<(NemesisSpec, NemesisSource), SpecError> {
    if let Some(src) = lookup(Kind::Nemesis, arg, root)? {
        return Ok((parse_nemesis(&src)?, NemesisSource::File(src)));
    }
    if let Some(spec) = nemesis_from_families(arg) {
        return Ok((spec, NemesisSource::Families));
    }
    let mut valid = names(Kind::Nemesis, root);
    valid.push(format!(
        "or a comma list of fault families ({}, all, none)",
        FAMILIES.join(", ")
    ));
    Err(SpecError::UnknownName {
        kind: "nemesis",
        name: arg.to_string(),
        valid,
    })
}

/// A bad value: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's dotted YAML name.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn fe(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

fn positive(field: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(fe(
            field,
            format!("{v} is not a positive number of seconds"),
        ))
    }
}

fn non_negative(field: &str, v: f64, what: &str) -> Result<(), FieldError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(fe(field, format!("{v} is not {what}")))
    }
}

impl ClusterSpec {
    /// Check the values (serde checked the types): a known Db on a backend
    /// that can run it, 1 ≤ nodes ≤ what the backend fits, bugs only for
    /// refkv, distinct non-zero ports, a positive ready timeout.
    pub fn validate(&self) -> Result<(), FieldError> {
        if !DBS.contains(&self.db.as_str()) {
            return Err(fe(
                "db",
                format!(
                    "unknown db {:?}: expected one of {}",
                    self.db,
                    DBS.join(", ")
                ),
            ));
        }
        if !BACKENDS.contains(&self.backend.as_str()) {
            return Err(fe(
                "backend",
                format!(
                    "unknown backend {:?}: expected one of {}",
                    self.backend,
                    BACKENDS.join(", ")
                ),
            ));
        }
        match (self.db.as_str(), self.backend.as_str()) {
            ("memory", "none") | ("refkv", "local") => {}
            ("memory", _) => {
                return Err(fe(
                    "backend",
                    "db memory runs inside faultline and needs `backend: none`",
                ))
            }
            (db, _) => {
                return Err(fe(
                    "backend",
                    format!("backend none has no nodes to run {db} on; use `backend: local`"),
                ))
            }
        }
        if self.nodes == 0 {
            return Err(fe("nodes", "must be at least 1"));
        }
        if self.backend == "local" && self.nodes > crate::remote::local::MAX_NODES {
            return Err(fe(
                "nodes",
                format!(
                    "{} nodes do not fit: the local backend runs at most {}",
                    self.nodes,
                    crate::remote::local::MAX_NODES
                ),
            ));
        }
        if self.db != "refkv" && !self.bugs.is_empty() {
            return Err(fe(
                "bugs",
                format!("only refkv has switchable bugs, not {}", self.db),
            ));
        }
        positive("ready-timeout", self.ready_timeout)?;
        if self.db == "refkv" {
            if self.refkv.client_port == 0 {
                return Err(fe("refkv.client-port", "must not be 0"));
            }
            if self.refkv.peer_port == 0 {
                return Err(fe("refkv.peer-port", "must not be 0"));
            }
            if self.refkv.client_port == self.refkv.peer_port {
                return Err(fe(
                    "refkv.peer-port",
                    format!("equals client-port ({})", self.refkv.client_port),
                ));
            }
        }
        Ok(())
    }
}

impl WorkloadSpec {
    /// Check the values: a known workload whose `config` it accepts, rate ≥ 0,
    /// time limit > 0, recovery and final time limit ≥ 0.
    pub fn validate(&self) -> Result<(), FieldError> {
        if !crate::workload::NAMES.contains(&self.name.as_str()) {
            return Err(fe(
                "name",
                format!(
                    "unknown workload {:?}: expected one of {}",
                    self.name,
                    crate::workload::NAMES.join(", ")
                ),
            ));
        }
        crate::workload::by_name(&self.name, &self.config).map_err(|e| {
            // Name the key inside `config` when the message does (serde's
            // "unknown field `x`" or the workload's "field `x`").
            let key = e
                .split('`')
                .nth(1)
                .filter(|k| !k.is_empty() && !k.contains(' '));
            let prefix = format!("workload {}: ", self.name);
            let msg = e.strip_prefix(&prefix).unwrap_or(&e);
            match key {
                Some(k) => {
                    let msg = msg.strip_prefix(&format!("field `{k}`: ")).unwrap_or(msg);
                    fe(&format!("config.{k}"), msg)
                }
                None => fe("config", msg),
            }
        })?;
        non_negative("rate", self.rate, "a rate in ops/s ≥ 0")?;
        positive("time-limit", self.time_limit)?;
        non_negative("recovery", self.recovery, "a number of seconds ≥ 0")?;
        non_negative(
            "final-time-limit",
            self.final_time_limit,
            "a number of seconds ≥ 0",
        )?;
        Ok(())
    }
}

impl NemesisSpec {
    /// Check the values: known families and targets, a positive interval,
    /// and a package that builds against a Db that can do everything.
    pub fn validate(&self) -> Result<(), FieldError> {
        let caps = Capabilities {
            kill: true,
            pause: true,
            primaries: true,
            clock: Ok(()),
        };
        let split = |e: NemesisError| match e {
            NemesisError::BadOp { reason, .. } => match reason.split_once(": ") {
                Some((field, msg)) if !field.contains(' ') => fe(field, msg),
                _ => fe("faults", reason),
            },
            other => fe("faults", other.to_string()),
        };
        self.config.validate().map_err(split)?;
        package::build(&self.config, &caps).map_err(split)?;
        Ok(())
    }
}

/// What the command line says about a test; `None` / empty = what the files
/// (or the defaults) say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--cluster` (default `refkv`).
    pub cluster: Option<String>,
    /// `--workload` (default `register`).
    pub workload: Option<String>,
    /// `--nemesis` (default `partition-kill`).
    pub nemesis: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--nodes`.
    pub nodes: Option<usize>,
    /// `--concurrency`.
    pub concurrency: Option<Concurrency>,
    /// `--rate`.
    pub rate: Option<f64>,
    /// `--time-limit`.
    pub time_limit: Option<f64>,
    /// `--recovery`.
    pub recovery: Option<f64>,
    /// `--interval` (the nemesis's).
    pub interval: Option<f64>,
    /// `--test-count` (default 1).
    pub test_count: Option<u32>,
    /// `--leave-db-running`.
    pub leave_db_running: bool,
    /// `--seed` (default: random).
    pub seed: Option<u64>,
    /// `--results` (default `results`).
    pub results_dir: Option<PathBuf>,
    /// `--bug`, each a refkv bug name, added to the cluster file's.
    pub bugs: Vec<String>,
}

/// Which flag sets a field, so a bad value names the flag.
fn flag_for(kind: Kind, field: &str, o: &Overrides) -> Option<&'static str> {
    match (kind, field) {
        (Kind::Cluster, "nodes") => o.nodes.is_some().then_some("--nodes"),
        (Kind::Cluster, "bugs") => (!o.bugs.is_empty()).then_some("--bug"),
        (Kind::Workload, "concurrency") => o.concurrency.is_some().then_some("--concurrency"),
        (Kind::Workload, "rate") => o.rate.is_some().then_some("--rate"),
        (Kind::Workload, "time-limit") => o.time_limit.is_some().then_some("--time-limit"),
        (Kind::Workload, "recovery") => o.recovery.is_some().then_some("--recovery"),
        (Kind::Nemesis, "interval") => o.interval.is_some().then_some("--interval"),
        _ => None,
    }
}

fn at_origin(kind: Kind, e: FieldError, src: Option<&Source>, o: &Overrides) -> SpecError {
    let origin = match (flag_for(kind, &e.field, o), src) {
        (Some(flag), _) => Origin::Flag(flag),
        (None, Some(src)) => Origin::File {
            file: src.label.clone(),
            at: locate_nearest(&src.text, &e.field),
        },
        // A nemesis built from a family list on the command line.
        (None, None) => Origin::Flag("--nemesis"),
    };
    SpecError::Invalid {
        origin,
        field: e.field,
        message: e.message,
    }
}

/// Characters kept in a test name made from part names; others become `+`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '+'
            }
        })
        .collect()
}

fn check_test_name(name: &str) -> Result<(), SpecError> {
    let bad = |m: &str| SpecError::Invalid {
        origin: Origin::Flag("--name"),
        field: "name".into(),
        message: format!("{name:?} {m}"),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(bad("is not a directory name"));
    }
    if name.contains(['/', '\\', '\0']) {
        return Err(bad(
            "must not contain '/', '\\' or NUL: it names results/<name>/",
        ));
    }
    Ok(())
}

/// Resolve the test the command line describes, looking files up from the
/// current directory. See [`resolve_in`].
pub fn resolve(o: &Overrides) -> Result<TestSpec, SpecError> {
    resolve_in(o, Path::new("."))
}

/// Resolve a test: find and parse the cluster, workload and nemesis files
/// (looked up under `root`), apply the flags, check every value and decide
/// every field (concurrency from `2n` and the node count, the name, a
/// random seed when none is given).
pub fn resolve_in(o: &Overrides, root: &Path) -> Result<TestSpec, SpecError> {
    let csrc = find(
        Kind::Cluster,
        o.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER),
        root,
    )?;
    let mut cluster = parse_cluster(&csrc)?;
    let wsrc = find(
        Kind::Workload,
        o.workload.as_deref().unwrap_or(DEFAULT_WORKLOAD),
        root,
    )?;
    let mut workload = parse_workload(&wsrc)?;
    let (mut nemesis, nsrc) = find_nemesis(o.nemesis.as_deref().unwrap_or(DEFAULT_NEMESIS), root)?;

    if let Some(n) = o.nodes {
        cluster.nodes = n;
    }
    for b in &o.bugs {
        let bug: Bug = b.parse().map_err(|_| SpecError::UnknownName {
            kind: "bug",
            name: b.clone(),
            valid: Bug::ALL.iter().map(|b| b.name().to_string()).collect(),
        })?;
        cluster.bugs.insert(bug);
    }
    if let Some(c) = o.concurrency {
        workload.concurrency = c;
    }
    if let Some(r) = o.rate {
        workload.rate = r;
    }
    if let Some(t) = o.time_limit {
        workload.time_limit = t;
    }
    if let Some(r) = o.recovery {
        workload.recovery = r;
    }
    if let Some(i) = o.interval {
        nemesis.config.interval = i;
    }

    cluster
        .validate()
        .map_err(|e| at_origin(Kind::Cluster, e, Some(&csrc), o))?;
    workload
        .validate()
        .map_err(|e| at_origin(Kind::Workload, e, Some(&wsrc), o))?;
    let nsrc = match &nsrc {
        NemesisSource::File(s) => Some(s),
        NemesisSource::Families => None,
    };
    nemesis
        .validate()
        .map_err(|e| at_origin(Kind::Nemesis, e, nsrc, o))?;

    let test_count = o.test_count.unwrap_or(1);
    if test_count == 0 {
        return Err(SpecError::Invalid {
            origin: Origin::Flag("--test-count"),
            field: "test-count".into(),
            message: "must be at least 1".into(),
        });
    }
    let name = match &o.name {
        Some(n) => {
            check_test_name(n)?;
            n.clone()
        }
        None => sanitize(&format!("{}-{}-{}", cluster.name, wsrc.stem, nemesis.name)),
    };
    let concurrency = workload.concurrency.resolve(cluster.nodes);
    Ok(TestSpec {
        name,
        concurrency,
        cluster,
        workload,
        nemesis,
        seed: o.seed.unwrap_or_else(rand::random),
        results_dir: o
            .results_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RESULTS_DIR)),
        leave_db_running: o.leave_db_running,
        test_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_block_fields_by_indentation() {
        let text = "# c\nname: x\nrefkv:\n  faketime: true\n  # peer\n  peer-port: 1\nnodes: 3\n";
        assert_eq!(locate(text, "nodes"), Some((7, 1)));
        assert_eq!(locate(text, "refkv.peer-port"), Some((6, 3)));
        assert_eq!(
            locate(text, "refkv.nodes"),
            None,
            "a sibling is not a child"
        );
        assert_eq!(locate(text, "peer-port"), None, "a child is not top-level");
        assert_eq!(locate("mix: {read: 1}\n", "mix.read"), None);
        assert_eq!(locate_nearest("mix: {read: 1}\n", "mix.read"), Some((1, 1)));
        assert_eq!(locate_nearest("bugs:\n  - x\n", "bugs[0]"), Some((1, 1)));
    }

    #[test]
    fn test_names_made_from_parts_are_directory_names() {
        assert_eq!(
            sanitize("refkv-register-partition,kill"),
            "refkv-register-partition+kill"
        );
        assert_eq!(sanitize("a b/c"), "a+b+c");
        assert!(check_test_name("..").is_err());
        assert!(check_test_name("x/y").is_err());
        assert!(check_test_name("fine_name-1.2").is_ok());
    }

    #[test]
    fn an_empty_name_lists_the_valid_ones() {
        let e = find(Kind::Workload, " ", Path::new("/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("register"), "{e}");
    }
}
