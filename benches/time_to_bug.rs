//! Time to bug: for each of refkv's bugs, how long `faultline hunt` takes
//! to prove an anomaly, median over seeds, comparing nemeses — plus the
//! correct build, on which every nemesis must find nothing.
//!
//! Each (bug, nemesis) cell runs the built `faultline hunt` (the binary
//! cargo builds for this bench) with the bug's recipe — the cluster and
//! workload of the README's `--bug` table; only the nemesis differs
//! between the rows of one bug — and reads its `hunt.json`. A nemesis the
//! binary does not know (hunt exits 254) is a row "n/a (nemesis unknown)".
//!
//! Knobs (environment):
//! - `FL_TTB_BUGS`: comma list of bugs, `none` for the correct build
//!   (default: all five and `none`);
//! - `FL_TTB_NEMESES`: comma list (default `all,adaptive`);
//! - `FL_TTB_SEEDS`: seeds per cell (default 3);
//! - `FL_TTB_BUDGET`: wall seconds per seed (default 120);
//! - `FL_TTB_TIME_LIMIT`: each test's main phase, seconds (default 60).
//!
//! Needs root (local refkv clusters); skips with a message otherwise. The
//! worst case is cells × seeds × budget (about an hour with the defaults).
//! Prints a Markdown table and writes it to `target/time_to_bug.md`; the
//! hunts' runs go under `target/time_to_bug/`.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// The recipe of a bug: (bug, cluster, workload). `none` is the correct
/// build, on refkv's default cluster and the register workload.
const RECIPES: [(&str, &str, &str); 6] = [
    ("stale-read", "refkv", "register"),
    ("no-fsync", "refkv", "set"),
    ("lease-read", "refkv-fast-timeout", "register-reads"),
    ("commit-old-term", "refkv-figure-8", "set"),
    ("vote-twice", "refkv-3-slow-election", "register"),
    ("none", "refkv", "register"),
];

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn list(name: &str, default: &str) -> Vec<String> {
    env_or(name, default)
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(name: &str, default: &str) -> f64 {
    let v = env_or(name, default);
    match v.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => x,
        _ => {
            eprintln!("{name}={v}: not a positive number");
            std::process::exit(254);
        }
    }
}

/// What one cell found.
struct Cell {
    bug: String,
    nemesis: String,
    /// `found k/N`, or why there is no figure.
    found: String,
    median: String,
    per_seed: String,
    note: String,
}

/// The `hunt.json` path hunt printed last (`hunt: PATH`).
fn hunt_json(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("hunt: "))
        .map(|p| PathBuf::from(p.trim()))
}

fn seconds(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |t| format!("{t:.1}"))
}

fn run_cell(
    bug: &str,
    cluster: &str,
    workload: &str,
    nemesis: &str,
    knobs: &Knobs,
    results: &Path,
) -> Cell {
    let mut cmd = Command::new(BIN);
    cmd.args(["hunt", "--cluster", cluster, "--workload", workload])
        .args(["--nemesis", nemesis])
        .args(["--budget", &knobs.budget.to_string()])
        .args(["--seeds", &knobs.seeds.to_string()])
        .args(["--time-limit", &knobs.time_limit.to_string()])
        .arg("--results")
        .arg(results);
    if bug != "none" {
        cmd.args(["--bug", bug]);
    }
    eprintln!("time_to_bug: {bug} × {nemesis}: {cmd:?}");
    let mut cell = Cell {
        bug: bug.into(),
        nemesis: nemesis.into(),
        found: String::new(),
        median: "—".into(),
        per_seed: "—".into(),
        note: String::new(),
    };
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            cell.found = format!("n/a (cannot run {BIN}: {e})");
            return cell;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stdout}");
    let code = out.status.code();
    if code == Some(254) {
        let msg = stderr.lines().last().unwrap_or("").trim().to_string();
        cell.found = if msg.contains("nemesis") {
            "n/a (nemesis unknown)".into()
        } else {
            format!("n/a (bad input: {msg})")
        };
        return cell;
    }
    let report = hunt_json(&stdout)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(r) = report else {
        cell.found = format!(
            "n/a (hunt exited {code:?}: {})",
            stderr.lines().last().unwrap_or("").trim()
        );
        return cell;
    };
    let seeds = r["seeds"].as_array().cloned().unwrap_or_default();
    let found = r["found"].as_u64().unwrap_or(0);
    cell.found = format!("{found}/{}", seeds.len());
    cell.median = match r["median_seconds"].as_f64() {
        Some(m) => format!("{m:.1}"),
        None => format!("> {:.0}", knobs.budget),
    };
    cell.per_seed = seeds
        .iter()
        .map(|s| {
            if s["found"].as_bool() == Some(true) {
                seconds(&s["seconds"])
            } else {
                format!("> {:.0}", knobs.budget)
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let unknown: u64 = seeds
        .iter()
        .map(|s| s["unknown_runs"].as_u64().unwrap_or(0))
        .sum();
    if bug == "none" {
        cell.note = if found == 0 {
            "correct build: nothing found (as it must)".into()
        } else {
            "FALSE ALARM: an anomaly on the correct build".into()
        };
    }
    if unknown > 0 {
        cell.note = format!("{} {unknown} unknown run(s)", cell.note)
            .trim()
            .to_string();
    }
    cell
}

struct Knobs {
    seeds: u32,
    budget: f64,
    time_limit: f64,
}

fn main() {
    // The effective uid owns /proc/self.
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        eprintln!("time_to_bug: skipped: needs root (local refkv clusters)");
        return;
    }
    let bugs = list(
        "FL_TTB_BUGS",
        "stale-read,no-fsync,lease-read,commit-old-term,vote-twice,none",
    );
    let nemeses = list("FL_TTB_NEMESES", "all,adaptive");
    let knobs = Knobs {
        seeds: number("FL_TTB_SEEDS", "3") as u32,
        budget: number("FL_TTB_BUDGET", "120"),
        time_limit: number("FL_TTB_TIME_LIMIT", "60"),
    };
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let results = target.join("time_to_bug");
    let mut cells = Vec::new();
    for bug in &bugs {
        let Some((_, cluster, workload)) = RECIPES.iter().find(|(b, _, _)| b == bug) else {
            eprintln!("time_to_bug: unknown bug {bug} (known: stale-read, no-fsync, lease-read, commit-old-term, vote-twice, none)");
            std::process::exit(254);
        };
        for nemesis in &nemeses {
            cells.push(run_cell(bug, cluster, workload, nemesis, &knobs, &results));
        }
    }
    let mut md = format!(
        "Time to bug: `faultline hunt`, {} seed(s), budget {:.0} s per seed, time limit {:.0} s \
         per test (median: a seed that found nothing counts as > budget).\n\n\
         | bug | cluster | workload | nemesis | found | median s | per-seed s | note |\n\
         |---|---|---|---|---|---|---|---|\n",
        knobs.seeds, knobs.budget, knobs.time_limit
    );
    for c in &cells {
        let (_, cluster, workload) = RECIPES
            .iter()
            .find(|(b, _, _)| *b == c.bug)
            .copied()
            .unwrap_or(("", "", ""));
        md.push_str(&format!(
            "| {} | {cluster} | {workload} | {} | {} | {} | {} | {} |\n",
            c.bug, c.nemesis, c.found, c.median, c.per_seed, c.note
        ));
    }
    println!("{md}");
    let file = target.join("time_to_bug.md");
    match std::fs::write(&file, &md) {
        Ok(()) => println!("written to {}", file.display()),
        Err(e) => eprintln!("time_to_bug: cannot write {}: {e}", file.display()),
    }
}
