//! refkv: the bundled reference cluster, a Raft-replicated key-value store run
//! as `faultline node`, with switchable real bugs.
//!
//! - [`raft`]: the Raft protocol core, without I/O (messages and ticks in;
//!   messages, storage writes and committed entries out).
//! - [`storage`]: the write-ahead log and snapshots on disk.
//! - [`kv`]: the replicated state machine (keys to JSON values).
//! - [`transport`]: peer connections over TCP.
//! - [`api`]: the client HTTP/JSON API.
//! - [`wire`]: the API's JSON bodies, refkv's own (clients convert to them).
//! - [`events`]: the node's line-oriented event log.
//! - [`server`]: wires them together into a running node.
//! - [`local_cluster`]: real node processes on loopback, for tests and benchmarks.
//! - [`bugs`]: the switchable bugs.
//! - [`waiters`]: which client write is answered what, and when (shared
//!   by the server and the simulator).

pub mod api;
pub mod bugs;
pub mod events;
pub mod kv;
pub mod local_cluster;
pub mod raft;
pub mod server;
pub mod storage;
pub mod transport;
pub mod waiters;
pub mod wire;
