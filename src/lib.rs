//! # faultline
//!
//! A Jepsen-style chaos testing harness for consensus systems. A *test* brings
//! up a cluster of some *Db* on some *Remote* nodes, drives concurrent *Client*s
//! through a *workload* chosen by a *Generator* while *nemeses* inject faults,
//! records every operation in a [`history::History`], and hands the history to
//! *checkers* that return a verdict: valid, invalid or unknown.
//!
//! ## Map of the modules
//!
//! - [`history`]: the op (invoke / ok / fail / info), the history, the
//!   streamed `history.jsonl` format and importers for Jepsen EDN, Jepsen log
//!   lines and Porcupine kv logs.
//! - [`checker`]: the [`checker::Checker`] seam and the checkers:
//!   linearizability (Wing–Gong–Lowe search with P-compositionality),
//!   set, bank and counter invariants.
//! - [`client`]: the data-plane seam: a small key-value protocol
//!   ([`client::KvClient`]) every system under test implements, so workloads
//!   never know which system they talk to.
//! - [`workload`]: register, set, bank, counter — each a generator, a way to
//!   turn ops into [`client::KvClient`] calls, final reads and a checker.
//! - [`generator`]: the [`generator::Generator`] seam and its combinators.
//! - [`db`]: the [`db::Db`] seam (install, start, kill, pause, leader of one
//!   system on one node) and the cluster the runner hands around.
//! - [`remote`]: the [`remote::Remote`] seam (how a command reaches a node) and
//!   the local network-namespace backend.
//! - [`nemesis`]: the [`nemesis::Nemesis`] seam and the fault families:
//!   partitions, kill, pause, clock skew, packet loss.
//! - [`refkv`]: the bundled Raft key-value store run as `faultline node`.
//! - [`spec`]: the YAML files under `clusters/`, `workloads/`, `nemeses/`.
//! - [`runner`]: one test run, from provisioning to the stored verdict.
//! - [`store`]: the layout of `results/<test>/<start-time>/`.
//! - [`report`]: terminal tables and summaries.
//! - [`sync`]: the poison-tolerant mutex lock every module shares.
//! - [`cli`]: the command line; [`exit`]: the exit codes every command shares.

#![warn(missing_docs)]

pub mod checker;
pub mod cli;
pub mod client;
pub mod db;
pub mod exit;
pub mod generator;
pub mod history;
pub mod nemesis;
pub mod refkv;
pub mod remote;
pub mod report;
pub mod runner;
pub mod spec;
pub mod store;
pub mod sync;
pub mod workload;
