//! `faultline check`: check recorded histories for linearizability, or
//! (`--model list-append`) for transactional anomalies, Elle-style.
//!
//! One line per file (`FILE: valid|invalid|unknown — summary`), the
//! explanation of every invalid key below an invalid file, and a summary line
//! when several files (or a directory) were given. The exit code is the
//! merged verdict (0 valid, 1 invalid, 2 unknown); a file that cannot be read
//! or holds an op the model does not understand is bad input (254), named as
//! `FILE:LINE: what is wrong`, after the other files were checked.

use crate::checker::linearizable::{
    Linearizable, LinearizableOptions, LinearizableReport, ModelKind, NilRead,
};
use crate::checker::txn::{Flavor, Model as TxnModel, TxnChecker};
use crate::checker::{CheckError, CheckResult, Checker, Validity};
use crate::exit::{CliError, CmdResult};
use crate::history::import::{self, Format};
use crate::report::junit;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `faultline check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// History files, or directories to search for them (`*.edn`,
    /// `*.jsonl`, `*.txt`, `*.log`, `*.json`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The model: register, cas-register, kv, multi-register, mutex
    /// (linearizability), or list-append, rw-register (transactions,
    /// Elle-style; see --consistency-models).
    #[arg(long, default_value = "cas-register", value_parser = parse_model)]
    pub model: CheckModel,
    /// With a transactional model: the consistency models the history must
    /// satisfy, comma-separated (strict-serializable, serializable,
    /// snapshot-isolation, repeatable-read, read-committed,
    /// read-uncommitted). Default: strict-serializable.
    #[arg(long, value_delimiter = ',', value_parser = parse_consistency, value_name = "MODELS")]
    pub consistency_models: Vec<TxnModel>,
    /// The file format (jsonl, edn, jepsen-log, porcupine); detected when
    /// absent.
    #[arg(long)]
    pub format: Option<Format>,
    /// The initial value, as JSON: `0`, `null`, `'""'`, `'{"x":0,"y":0}'`.
    /// Default `null` (for kv: the empty string; for mutex: unlocked).
    #[arg(long, value_parser = parse_json)]
    pub init: Option<serde_json::Value>,
    /// What a read returning null means: `empty` (the register holds
    /// nothing) or `any` (value unknown, matches every state).
    #[arg(long, default_value = "empty")]
    pub nil_read: NilRead,
    /// Seconds one file may take; undecided keys are then unknown.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub time_limit: f64,
    /// MiB the search may hold per file; undecided keys are then unknown.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub memory_limit: usize,
    /// Decide every key instead of stopping at the first invalid one.
    #[arg(long)]
    pub all_keys: bool,
    /// Print one machine-readable JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write a JUnit XML report here: one testsuite per file (classname:
    /// the file), the anomaly in `<failure>`, unreadable files as `<error>`.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the HTML anomaly report (`report.html` and the plots)
    /// into DIR; with several files, into `DIR/<file path, '/' as '_'>/`.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// What `--model` names: a linearizability model, or a transactional one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckModel {
    /// Linearizability of single objects.
    Linear(ModelKind),
    /// Transactional anomalies.
    Txn(Flavor),
}

fn parse_model(s: &str) -> Result<CheckModel, String> {
    match s {
        "list-append" => Ok(CheckModel::Txn(Flavor::ListAppend)),
        "rw-register" => Ok(CheckModel::Txn(Flavor::RwRegister)),
        other => other
            .parse::<ModelKind>()
            .map(CheckModel::Linear)
            .map_err(|_| {
                format!(
                    "unknown model {other:?}: expected register, cas-register, kv, \
                     multi-register, mutex, list-append or rw-register"
                )
            }),
    }
}

fn parse_consistency(s: &str) -> Result<TxnModel, String> {
    TxnModel::parse(s.trim())
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("--init {s:?} is not a JSON value: {e}"))
}

/// History files named by the arguments, directories expanded (sorted).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
        let rd = std::fs::read_dir(dir)
            .map_err(|e| CliError::bad_input(anyhow::anyhow!("{}: {e}", dir.display())))?;
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("edn" | "jsonl" | "txt" | "log" | "json")
            ) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "no history files found"
        )));
    }
    Ok(out)
}

/// The outcome of one file.
enum FileOutcome {
    Checked(Box<LinearizableReport>, Vec<String>),
    Bad(String),
}

fn check_file(
    path: &Path,
    args: &Args,
    opts: &LinearizableOptions,
    report: Option<PathBuf>,
) -> FileOutcome {
    let loaded = match import::load(path, args.format) {
        Ok(l) => l,
        Err(e) => return FileOutcome::Bad(e.to_string()),
    };
    match Linearizable(opts.clone()).analyze(&loaded.history) {
        Ok(r) => match report.map(|dir| {
            crate::report::html::write_imported(path, &loaded.history, &r, &loaded.warnings, &dir)
        }) {
            Some(Err(e)) => FileOutcome::Bad(format!("{}: report: {e}", path.display())),
            _ => FileOutcome::Checked(Box::new(r), loaded.warnings),
        },
        Err(e) => FileOutcome::Bad(bad_op(path, &loaded.lines, &e)),
    }
}

/// Where `--report` puts the report of `path`: the directory given, or
/// with several files a subdirectory named after the file.
fn report_dir(args: &Args, path: &Path, files: usize) -> Option<PathBuf> {
    args.report.as_ref().map(|d| match files {
        1 => d.clone(),
        _ => d.join(crate::store::safe_name(
            &path.display().to_string().replace('/', "_"),
        )),
    })
}

/// Run `faultline check`.
pub fn run(args: Args) -> CmdResult {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--time-limit must be a positive number of seconds, not {}",
            args.time_limit
        )));
    }
    let model = match args.model {
        CheckModel::Txn(flavor) => return run_txn(&args, flavor),
        CheckModel::Linear(m) => m,
    };
    if !args.consistency_models.is_empty() {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--consistency-models applies to --model list-append or rw-register only"
        )));
    }
    let opts = LinearizableOptions {
        model,
        init: args.init.clone().unwrap_or(serde_json::Value::Null),
        nil_read: args.nil_read,
        time_limit: Some(Duration::from_secs_f64(args.time_limit)),
        memory_limit: Some(args.memory_limit.saturating_mul(1 << 20)),
        all_keys: args.all_keys,
    };
    if let Some(j) = &args.junit {
        junit::check_path(j).map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    }
    let files = expand(&args.files)?;
    let mut overall = Validity::Valid;
    let mut bad: Vec<String> = Vec::new();
    let (mut n_valid, mut n_invalid, mut n_unknown) = (0, 0, 0);
    let mut json_files = Vec::new();
    let mut junit_suites = Vec::new();
    for path in &files {
        let report = report_dir(&args, path, files.len());
        let outcome = check_file(path, &args, &opts, report);
        if args.junit.is_some() {
            junit_suites.push(junit_suite(path, &outcome));
        }
        match outcome {
            FileOutcome::Checked(report, warnings) => {
                overall = overall.merge(report.valid);
                match report.valid {
                    Validity::Valid => n_valid += 1,
                    Validity::Invalid => n_invalid += 1,
                    Validity::Unknown => n_unknown += 1,
                }
                if args.json {
                    json_files.push(serde_json::json!({
                        "file": path.display().to_string(),
                        "valid": report.valid,
                        "summary": report.summary(),
                        "warnings": warnings,
                        "report": *report,
                    }));
                } else {
                    for w in &warnings {
                        eprintln!("warning: {w}");
                    }
                    if report.valid == Validity::Invalid {
                        println!(
                            "{}: invalid — {} of {} key(s) not linearizable ({}, {} ops, {:.3} s)",
                            path.display(),
                            report.keys_invalid,
                            report.keys_total,
                            report.model,
                            report.ops,
                            report.elapsed_ms / 1e3
                        );
                        // Each key: its minimal anomaly (headline, one op
                        // per line), then the full explanation.
                        for e in report.explanations() {
                            for line in e.lines() {
                                println!("  {line}");
                            }
                        }
                    } else {
                        println!(
                            "{}: {} — {}",
                            path.display(),
                            report.valid,
                            report.summary()
                        );
                    }
                    if report.valid == Validity::Unknown {
                        for k in report
                            .keys
                            .iter()
                            .filter_map(|k| k.reason.as_ref())
                            .take(10)
                        {
                            println!("  {k}");
                        }
                    }
                }
            }
            FileOutcome::Bad(msg) => {
                if args.json {
                    json_files.push(serde_json::json!({
                        "file": path.display().to_string(),
                        "error": msg,
                    }));
                } else {
                    println!("{}: error — {msg}", path.display());
                }
                bad.push(msg);
            }
        }
    }
    if args.json {
        let doc = serde_json::json!({
            "valid": if bad.is_empty() { Some(overall) } else { None },
            "files": json_files,
            "counts": {"valid": n_valid, "invalid": n_invalid, "unknown": n_unknown, "error": bad.len()},
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(CliError::internal)?
        );
    } else if files.len() > 1 {
        println!(
            "{} files: {n_valid} valid, {n_invalid} invalid, {n_unknown} unknown, {} unreadable",
            files.len(),
            bad.len()
        );
    }
    if let Some(j) = &args.junit {
        junit::JUnit::new("faultline check", junit_suites)
            .write(j)
            .map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    }
    match bad.into_iter().next() {
        Some(first) => Err(CliError::bad_input(anyhow::anyhow!("{first}"))),
        None => Ok(overall),
    }
}

/// A bad op or malformed history of `path`, as `FILE:LINE: what`.
fn bad_op(path: &Path, lines: &[usize], e: &CheckError) -> String {
    let line = |index: u64| lines.get(index as usize).copied();
    let at = |index: u64, reason: &str| match line(index) {
        Some(l) => format!("{}:{l}: {reason}", path.display()),
        None => format!("{}: op {index}: {reason}", path.display()),
    };
    match e {
        CheckError::BadOp { index, reason } => at(*index, reason),
        CheckError::Malformed(crate::history::HistoryError::Malformed { index, reason }) => {
            at(*index, reason)
        }
        other => format!("{}: {other}", path.display()),
    }
}

/// `faultline check --model list-append|rw-register`: each file's verdict
/// against the consistency models asked for, every anomaly kept explained
/// below an invalid file (its transactions, and a cycle's steps with why
/// each edge exists); with `--report`, also the HTML report of each file,
/// every cycle drawn.
fn run_txn(args: &Args, flavor: Flavor) -> CmdResult {
    if let Some(j) = &args.junit {
        junit::check_path(j).map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    }
    let checker = TxnChecker::new(flavor, args.consistency_models.clone());
    let files = expand(&args.files)?;
    let mut overall = Validity::Valid;
    let mut bad: Vec<String> = Vec::new();
    let mut json_files = Vec::new();
    let mut suites = Vec::new();
    for path in &files {
        let started = std::time::Instant::now();
        let report_dir = report_dir(args, path, files.len());
        let outcome: Result<CheckResult, String> = import::load(path, args.format)
            .map_err(|e| e.to_string())
            .and_then(|l| {
                let r = checker
                    .check(&l.history)
                    .map_err(|e| bad_op(path, &l.lines, &e))?;
                if let Some(dir) = &report_dir {
                    crate::report::html::write_imported_results(
                        path,
                        &l.history,
                        vec![r.clone()],
                        &l.warnings,
                        dir,
                    )
                    .map_err(|e| format!("{}: report: {e}", path.display()))?;
                }
                Ok(r)
            });
        let file = path.display().to_string();
        match outcome {
            Ok(r) => {
                overall = overall.merge(r.valid);
                if args.junit.is_some() {
                    suites.push(junit::TestSuite {
                        name: file.clone(),
                        timestamp: None,
                        time: started.elapsed().as_secs_f64(),
                        properties: vec![("file".into(), file.clone())],
                        cases: vec![junit::case_of_check(&file, &r)],
                        system_out: None,
                    });
                }
                if args.json {
                    json_files
                        .push(serde_json::json!({"file": file, "valid": r.valid, "result": r}));
                    continue;
                }
                println!("{file}: {} — {}", r.valid, r.summary);
                if r.valid != Validity::Invalid {
                    continue;
                }
                let kinds = r.details["anomalies"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (kind, list) in kinds {
                    for a in list.as_array().into_iter().flatten() {
                        println!("  {kind}: {}", a["explanation"].as_str().unwrap_or(""));
                        for s in a["steps"].as_array().into_iter().flatten() {
                            println!(
                                "    op {} -{}-> op {}: {}",
                                s["from"],
                                s["kind"].as_str().unwrap_or("?"),
                                s["to"],
                                s["why"].as_str().unwrap_or("")
                            );
                        }
                    }
                }
            }
            Err(msg) => {
                if args.json {
                    json_files.push(serde_json::json!({"file": file, "error": msg}));
                } else {
                    println!("{file}: error — {msg}");
                }
                if args.junit.is_some() {
                    suites.push(junit::suite_of_error(
                        &file,
                        crate::exit::BAD_INPUT,
                        &msg,
                        Vec::new(),
                        0.0,
                    ));
                }
                bad.push(msg);
            }
        }
    }
    if args.json {
        let doc = serde_json::json!({
            "valid": if bad.is_empty() { Some(overall) } else { None },
            "files": json_files,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(CliError::internal)?
        );
    }
    if let Some(j) = &args.junit {
        junit::JUnit::new("faultline check", suites)
            .write(j)
            .map_err(|m| CliError::bad_input(anyhow::anyhow!(m)))?;
    }
    match bad.into_iter().next() {
        Some(first) => Err(CliError::bad_input(anyhow::anyhow!("{first}"))),
        None => Ok(overall),
    }
}

/// One file's outcome as a JUnit testsuite named by the file: a
/// `linearizable` case (its explanation and minimal anomaly in
/// `<failure>`), or a `run` case with `<error type="bad-input">`.
fn junit_suite(path: &Path, outcome: &FileOutcome) -> junit::TestSuite {
    let file = path.display().to_string();
    match outcome {
        FileOutcome::Checked(report, _) => {
            let result = crate::checker::CheckResult {
                checker: "linearizable".into(),
                valid: report.valid,
                summary: report.summary(),
                details: serde_json::to_value(report.as_ref()).unwrap_or_default(),
            };
            junit::TestSuite {
                name: file.clone(),
                timestamp: None,
                time: report.elapsed_ms / 1e3,
                properties: vec![
                    ("file".into(), file.clone()),
                    ("model".into(), report.model.to_string()),
                ],
                cases: vec![junit::case_of_check(&file, &result)],
                system_out: None,
            }
        }
        FileOutcome::Bad(msg) => {
            junit::suite_of_error(&file, crate::exit::BAD_INPUT, msg, Vec::new(), 0.0)
        }
    }
}
