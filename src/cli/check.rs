//! `faultline check`: check recorded histories for linearizability.
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
use crate::checker::{CheckError, Validity};
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
    /// The model: register, cas-register, kv, multi-register, mutex.
    #[arg(long, default_value = "cas-register")]
    pub model: ModelKind,
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
        Err(e) => {
            let line = |index: u64| loaded.lines.get(index as usize).copied();
            FileOutcome::Bad(match &e {
                CheckError::BadOp { index, reason } => match line(*index) {
                    Some(l) => format!("{}:{l}: {reason}", path.display()),
                    None => format!("{}: op {index}: {reason}", path.display()),
                },
                CheckError::Malformed(crate::history::HistoryError::Malformed {
                    index,
                    reason,
                }) => match line(*index) {
                    Some(l) => format!("{}:{l}: {reason}", path.display()),
                    None => format!("{}: op {index}: {reason}", path.display()),
                },
                other => format!("{}: {other}", path.display()),
            })
        }
    }
}

/// Run `faultline check`.
pub fn run(args: Args) -> CmdResult {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--time-limit must be a positive number of seconds, not {}",
            args.time_limit
        )));
    }
    let opts = LinearizableOptions {
        model: args.model,
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
        let report = args.report.as_ref().map(|d| match files.len() {
            1 => d.clone(),
            _ => d.join(crate::store::safe_name(
                &path.display().to_string().replace('/', "_"),
            )),
        });
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
