//! The command line. One file per command; each exposes an `Args` struct
//! (clap derive) and a `run` function returning a [`CmdResult`].

pub mod analyze;
pub mod check;
pub mod cluster;
pub mod compare;
pub mod elevate;
pub mod heal;
pub mod hunt;
pub mod node;
pub mod probe;
pub mod serve;
pub mod suite;
pub mod test;

use crate::exit::{self, CmdResult};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// faultline: a Jepsen-style chaos testing harness for consensus systems.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// faultline's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check recorded histories for linearizability.
    Check(check::Args),
    /// Run one refkv node (the bundled Raft key-value store).
    Node(node::Args),
    /// Run a test: provision, drive workloads under nemeses, check.
    ///
    /// Bring up a cluster, drive concurrent clients through a workload while
    /// a nemesis injects faults, heal, recover, run final reads, tear down,
    /// check the history and store everything under
    /// results/NAME/START-TIME/.
    ///
    /// A test is a cluster × a workload × a nemesis, each a YAML file given
    /// by path or by name (`--workload bank` finds workloads/bank.yaml in the
    /// current directory, else the one shipped with faultline). Flags
    /// override the files' fields. With no arguments: 5 local refkv nodes
    /// (needs root), the register workload, partitions and kills, 60 s.
    Test(test::Args),
    /// Re-check a stored run.
    Analyze(analyze::Args),
    /// Remove everything a killed run left behind.
    Heal(heal::Args),
    /// Bring a cluster up and leave it running for manual experiments;
    /// show it; take it down.
    ///
    /// `up` provisions the nodes, sets up the Db, waits until it serves and
    /// prints each node's address and client address; `status` shows each
    /// daemon and what each node says of its role, term and leader; `down`
    /// removes everything `up` made.
    Cluster(cluster::Args),
    /// Browse stored runs and their reports in a web browser.
    Serve(serve::Args),
    /// Run the same test on several systems and compare them side by side.
    ///
    /// The same workload, nemesis, time limit, rate, concurrency and seed
    /// on each system (a cluster name or file), one after the other, as
    /// ordinary runs; then one table and results/compare/TIME/compare.html.
    /// `--runs DIR1,DIR2` compares stored runs instead.
    Compare(compare::Args),
    /// Run a list or matrix of tests; one table, one JUnit file, the worst
    /// exit code.
    Suite(suite::Args),
    /// Time to bug: run fresh tests until one proves an anomaly, per seed.
    ///
    /// Takes the flags of `faultline test`; for each of --seeds seeds runs
    /// tests with --stop-on-anomaly until one proves an anomaly or --budget
    /// wall seconds are spent; prints seconds and ops to the first anomaly
    /// per seed and the median; writes results/hunt/TIME/hunt.json.
    Hunt(hunt::Args),
    /// Network and clock probes for faultline's own tests (hidden).
    #[command(hide = true)]
    Probe(probe::Args),
}

/// Parse the command line, run the command, return its exit code. Usage
/// errors exit 254 (clap's own 2 is remapped); `--help` and `--version` 0.
/// A command that needs root is re-executed under sudo first when this
/// user is not root ([`elevate`]).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A command that needs root, run by a user who is not: re-run under
    // sudo, or say exactly what to run (254).
    if let Some(code) = elevate::rerun_as_root_if_needed(&cli) {
        return ExitCode::from(code);
    }
    ExitCode::from(report(run(cli)))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Check(a) => check::run(a),
        Command::Node(a) => node::run(a),
        Command::Test(a) => test::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Heal(a) => heal::run(a),
        Command::Cluster(a) => cluster::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Suite(a) => suite::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Hunt(a) => hunt::run(a),
        Command::Probe(a) => probe::run(a),
    }
}

/// Print an error once, on stderr, and return the exit code for the result.
pub fn report(result: CmdResult) -> u8 {
    match result {
        Ok(v) => exit::for_validity(v),
        Err(e) => {
            eprintln!("faultline: error: {e}");
            e.code()
        }
    }
}
