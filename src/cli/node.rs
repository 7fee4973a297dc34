//! `faultline node`: run one refkv node (the bundled Raft key-value store).
//! Flags are specified in `docs/refkv-api.md`.

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use crate::refkv::bugs::Bug;
use crate::refkv::server::{self, Member, NodeConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `faultline node`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// This node's name; one of the `--cluster` members.
    #[arg(long)]
    pub id: String,
    /// Every member, this one included:
    /// `NAME=CLIENT_ADDR/PEER_ADDR,NAME=CLIENT_ADDR/PEER_ADDR,...`.
    #[arg(long)]
    pub cluster: String,
    /// Directory of the write-ahead log and snapshots (created if absent).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The node's event log file (default: stderr).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Switch on a bug (repeatable): stale-read, no-fsync, commit-old-term,
    /// lease-read, vote-twice, txn-split.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<Bug>,
    /// Minimum election timeout in ms (each timeout is drawn from [T, 2T)).
    #[arg(long, default_value_t = 300)]
    pub election_timeout_ms: u64,
    /// Leader heartbeat interval in ms.
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// How long a client request may wait for the cluster, in ms (then 504).
    #[arg(long, default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// At most this many log entries per AppendEntries message (a follower
    /// that is behind catches up in messages of this size).
    #[arg(long, default_value_t = 256)]
    pub max_entries_per_message: usize,
    /// Take a snapshot and compact the log every this many applied entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_entries: u64,
}

/// Parse `--cluster`.
pub fn parse_cluster(s: &str) -> Result<Vec<Member>, String> {
    let mut out: Vec<Member> = Vec::new();
    for (i, item) in s.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("--cluster member #{} `{item}`: {why}", i + 1);
        let (name, addrs) = item
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=CLIENT_ADDR/PEER_ADDR"))?;
        let (client, peer) = addrs
            .split_once('/')
            .ok_or_else(|| bad("expected CLIENT_ADDR/PEER_ADDR after `=`"))?;
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        let client_addr: SocketAddr = client.parse().map_err(|e| {
            bad(&format!(
                "client address `{client}`: {e} (expected IP:PORT)"
            ))
        })?;
        let peer_addr: SocketAddr = peer
            .parse()
            .map_err(|e| bad(&format!("peer address `{peer}`: {e} (expected IP:PORT)")))?;
        if out.iter().any(|m| m.name == name) {
            return Err(bad("duplicate name"));
        }
        out.push(Member {
            name: name.to_string(),
            client_addr,
            peer_addr,
        });
    }
    if out.is_empty() {
        return Err("--cluster lists no member".into());
    }
    Ok(out)
}

/// Run `faultline node` until SIGTERM.
pub fn run(args: Args) -> CmdResult {
    let members =
        parse_cluster(&args.cluster).map_err(|e| CliError::bad_input(anyhow::anyhow!(e)))?;
    if !members.iter().any(|m| m.name == args.id) {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--id {} is not one of the --cluster members ({})",
            args.id,
            members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if args.heartbeat_ms == 0 || args.election_timeout_ms <= args.heartbeat_ms {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--election-timeout-ms ({}) must exceed --heartbeat-ms ({}), which must be > 0",
            args.election_timeout_ms,
            args.heartbeat_ms
        )));
    }
    if args.max_entries_per_message == 0 {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--max-entries-per-message must be at least 1"
        )));
    }
    if args.request_timeout_ms == 0 {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--request-timeout-ms must be > 0"
        )));
    }
    let cfg = NodeConfig {
        name: args.id,
        members,
        data_dir: args.data_dir,
        log: args.log,
        bugs: args.bugs.into_iter().collect(),
        election_timeout: Duration::from_millis(args.election_timeout_ms),
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        max_entries_per_message: args.max_entries_per_message,
        snapshot_entries: args.snapshot_entries,
    };
    match server::run(cfg) {
        Ok(()) => Ok(Validity::Valid),
        Err(e @ server::ServerError::Config { .. }) => Err(CliError::bad_input(e)),
        // A data directory written in another WAL format: the user decides
        // what to do with it (the message says what).
        Err(
            e @ server::ServerError::Storage {
                error: crate::refkv::storage::StorageError::Format { .. },
                ..
            },
        ) => Err(CliError::bad_input(e)),
        Err(e) => Err(CliError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_flag_parses_members() {
        let m = parse_cluster("n1=127.0.0.1:7001/127.0.0.1:7101, n2=127.0.0.1:7002/127.0.0.1:7102")
            .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].name, "n2");
        assert_eq!(m[1].client_addr, "127.0.0.1:7002".parse().unwrap());
        assert_eq!(m[1].peer_addr, "127.0.0.1:7102".parse().unwrap());
    }

    #[test]
    fn cluster_flag_rejects_malformed_members_naming_them() {
        let e = parse_cluster("n1=127.0.0.1:7001").unwrap_err();
        assert!(
            e.contains("#1") && e.contains("CLIENT_ADDR/PEER_ADDR"),
            "{e}"
        );
        let e = parse_cluster("n1=127.0.0.1:7001/127.0.0.1:7101,n1=127.0.0.1:7002/127.0.0.1:7102")
            .unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
        let e = parse_cluster("n1=localhost/127.0.0.1:7101").unwrap_err();
        assert!(e.contains("client address"), "{e}");
        assert!(parse_cluster("").is_err());
    }
}
