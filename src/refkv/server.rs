//! A running refkv node: the Raft core, the write-ahead log, the peer
//! transport and the HTTP API wired together.
//!
//! The core runs on a thread of its own (it fsyncs, which must not stall the
//! async runtime) and owns the [`RaftNode`], the [`Wal`] and the [`KvState`].
//! Everything reaches it through one bounded queue of [`Event`]s: peer
//! messages from the transport, client requests from the API, shutdown. Each
//! turn of its loop takes every event already queued, ticks the clock, and
//! handles the resulting [`Ready`] exactly in the order the core's docs
//! require: persist, fsync, then send, then apply and answer. So every
//! proposal that arrived while the previous fsync ran shares the next one
//! (group commit), and nothing is answered or sent before it is durable —
//! except with bug `no-fsync`, where the WAL keeps writes in a user-space
//! buffer flushed every [`crate::refkv::storage::LAZY_FLUSH_INTERVAL`].

use crate::refkv::api::{self, ApiState, CoreError, Envelope, ReadQuery, Reply, Request};
use crate::refkv::bugs::{Bug, Bugs};
use crate::refkv::events::EventLog;
use crate::refkv::kv::{Command, KvState, Outcome};
use crate::refkv::raft::{
    Config, Entry, HardState, Index, LogId, Message, NodeId, NotLeader, Payload, Persisted,
    RaftNode, Ready, Role, Snapshot,
};
use crate::refkv::storage::{self, Durability, Wal};
use crate::refkv::transport::Transport;
use crate::refkv::waiters::{Fate, Waiters};
use crate::refkv::wire::{MicroOp, NodeStatus};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Events the core's queue holds before new ones are refused (clients get
/// a definite 503, peer messages are dropped).
pub const EVENT_QUEUE: usize = 16 * 1024;

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Its name (`n1`).
    pub name: String,
    /// Where it serves the HTTP API.
    pub client_addr: SocketAddr,
    /// Where it serves Raft traffic.
    pub peer_addr: SocketAddr,
}

/// Everything a node needs to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's name; must be one of `members`.
    pub name: String,
    /// Every member, this one included.
    pub members: Vec<Member>,
    /// Where the WAL and snapshots live.
    pub data_dir: PathBuf,
    /// The event log file; `None` for stderr.
    pub log: Option<PathBuf>,
    /// Switched-on bugs.
    pub bugs: Bugs,
    /// The minimum election timeout.
    pub election_timeout: Duration,
    /// The leader's heartbeat interval.
    pub heartbeat: Duration,
    /// How long a client request may wait for the cluster.
    pub request_timeout: Duration,
    /// At most this many log entries per AppendEntries message.
    pub max_entries_per_message: usize,
    /// Take a snapshot (and compact) every this many applied entries.
    pub snapshot_entries: u64,
}

/// What stops a node.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is inconsistent.
    #[error("node {node}: {why}")]
    Config {
        /// The node.
        node: String,
        /// What is wrong.
        why: String,
    },
    /// The event log could not be opened.
    #[error("node {node}: cannot open log file {path}: {error}")]
    Log {
        /// The node.
        node: String,
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Storage failed (open, recovery or a write): the node cannot go on.
    #[error("node {node}: storage: {error}")]
    Storage {
        /// The node.
        node: String,
        /// The error.
        error: storage::StorageError,
    },
    /// The recovered state is inconsistent, or the core refused it.
    #[error("node {node}: raft: {why}")]
    Raft {
        /// The node.
        node: String,
        /// What is wrong.
        why: String,
    },
    /// A listening socket or the runtime could not be set up.
    #[error("node {node}: {what}: {error}")]
    Io {
        /// The node.
        node: String,
        /// What was being done.
        what: String,
        /// The error.
        error: std::io::Error,
    },
}

/// What the core thread receives.
pub enum Event {
    /// A message from a peer.
    Peer(Message),
    /// A client request from the API.
    Api(Envelope),
    /// Stop (SIGTERM).
    Shutdown,
}

/// Stable numeric ids: members sorted by name get 1, 2, 3... so every node
/// computes the same mapping whatever the order of `--cluster`.
pub fn member_ids(members: &[Member]) -> BTreeMap<String, NodeId> {
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), i as NodeId + 1))
        .collect()
}

type NodeWal = Wal<HardState, Vec<u8>, Entry>;

/// Run a node until SIGTERM/SIGINT. Blocks the calling thread.
pub fn run(cfg: NodeConfig) -> Result<(), ServerError> {
    let node = cfg.name.clone();
    let err_cfg = |why: String| ServerError::Config {
        node: node.clone(),
        why,
    };
    let ids = member_ids(&cfg.members);
    if ids.len() != cfg.members.len() {
        return Err(err_cfg("member names in --cluster must be unique".into()));
    }
    let Some(me) = cfg.members.iter().find(|m| m.name == cfg.name).cloned() else {
        return Err(err_cfg(format!(
            "--id {} is not one of the --cluster members",
            cfg.name
        )));
    };
    let my_id = ids[&cfg.name];
    let log = Arc::new(match &cfg.log {
        Some(p) => EventLog::file(&cfg.name, p).map_err(|error| ServerError::Log {
            node: node.clone(),
            path: p.clone(),
            error,
        })?,
        None => EventLog::stderr(&cfg.name),
    });
    log.event(
        "start",
        &[
            ("pid", &std::process::id()),
            ("id", &my_id),
            ("bugs", &cfg.bugs),
            ("data_dir", &cfg.data_dir.display()),
            ("election_timeout_ms", &cfg.election_timeout.as_millis()),
            ("heartbeat_ms", &cfg.heartbeat.as_millis()),
        ],
    );

    let result = serve_node(&cfg, me, my_id, &ids, log.clone());
    match &result {
        Ok(()) => log.event("shutdown", &[("clean", &true)]),
        Err(e) => log.event("fatal", &[("error", &e)]),
    }
    result
}

/// What the node recovered from its data directory: the log, the Raft
/// core restarted on it, and the state machine as of its snapshot.
struct Recovered {
    wal: NodeWal,
    raft: RaftNode,
    kv: KvState,
    applied: Index,
}

/// An I/O failure of `node` while doing `what`.
fn io_error(node: &str, what: impl Into<String>, error: std::io::Error) -> ServerError {
    ServerError::Io {
        node: node.to_string(),
        what: what.into(),
        error,
    }
}

/// Recover from the WAL, start the core, transport and API, and serve until
/// a signal (or until the core stops).
fn serve_node(
    cfg: &NodeConfig,
    me: Member,
    my_id: NodeId,
    ids: &BTreeMap<String, NodeId>,
    log: Arc<EventLog>,
) -> Result<(), ServerError> {
    let node = cfg.name.as_str();
    let recovered = recover(cfg, my_id, ids, &log)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| io_error(node, "cannot start the async runtime", e))?;
    let (tx, rx) = mpsc::sync_channel::<Event>(EVENT_QUEUE);
    let result = rt.block_on(async {
        let transport = start_transport(cfg, &me, ids, &tx).await?;
        let listener = tokio::net::TcpListener::bind(me.client_addr)
            .await
            .map_err(|e| {
                let what = format!("cannot listen for clients on {}", me.client_addr);
                io_error(node, what, e)
            })?;
        log.event(
            "listening",
            &[("client", &me.client_addr), ("peer", &me.peer_addr)],
        );
        let state = api_state(cfg, &tx)?;
        let core = Core::new(cfg, ids, recovered, transport, log.clone());
        let (core_thread, core_done) = spawn_core(core, rx)?;
        let served = axum::serve(listener, api::router(state))
            .with_graceful_shutdown(shutdown_signal(tx.clone(), core_done))
            .await;
        drop(tx);
        let core_result = join_core(node, core_thread).await?;
        served.map_err(|e| io_error(node, "http server", e))?;
        core_result
    });
    // Do not wait for forwarded requests or reconnecting peers.
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Open the WAL (lazy with bug `no-fsync`), restore the state machine from
/// its snapshot and restart the Raft core on what the log holds.
fn recover(
    cfg: &NodeConfig,
    my_id: NodeId,
    ids: &BTreeMap<String, NodeId>,
    log: &EventLog,
) -> Result<Recovered, ServerError> {
    let node = cfg.name.clone();
    let durability = if cfg.bugs.has(Bug::NoFsync) {
        Durability::Lazy
    } else {
        Durability::Sync
    };
    let (wal, rec) =
        NodeWal::open(&cfg.data_dir, durability).map_err(|error| ServerError::Storage {
            node: node.clone(),
            error,
        })?;
    let hard_state = rec.hard_state.unwrap_or_default();
    let snapshot = rec.snapshot.map(|s| Snapshot {
        last: LogId {
            term: s.term,
            index: s.index,
        },
        data: s.data,
    });
    let kv = match &snapshot {
        Some(s) => restore_kv(&s.data).map_err(|why| ServerError::Raft {
            node: node.clone(),
            why,
        })?,
        None => KvState::default(),
    };
    let applied = snapshot.as_ref().map(|s| s.last.index).unwrap_or(0);
    log.event(
        "recovered",
        &[
            ("term", &hard_state.term),
            ("vote", &opt(hard_state.vote)),
            ("snapshot_index", &applied),
            ("first_index", &rec.first_index),
            (
                "last_index",
                &(rec.first_index + rec.entries.len() as u64 - 1),
            ),
            ("truncated_bytes", &rec.truncated_bytes),
        ],
    );
    let persisted = Persisted {
        hard_state,
        snapshot,
        entries: rec.entries,
    };
    let raft = RaftNode::restart(raft_config(cfg, my_id, ids), persisted, Duration::ZERO).map_err(
        |e| ServerError::Raft {
            node: node.clone(),
            why: e.to_string(),
        },
    )?;
    Ok(Recovered {
        wal,
        raft,
        kv,
        applied,
    })
}

/// The Raft core's configuration, seeded per process so that restarted
/// nodes do not repeat their election timeouts.
fn raft_config(cfg: &NodeConfig, my_id: NodeId, ids: &BTreeMap<String, NodeId>) -> Config {
    let mut rcfg = Config::new(my_id, ids.values().copied().collect());
    rcfg.election_timeout = cfg.election_timeout;
    rcfg.heartbeat_interval = cfg.heartbeat;
    rcfg.max_entries_per_message = cfg.max_entries_per_message;
    rcfg.bugs = cfg.bugs.clone();
    rcfg.seed = my_id
        ^ (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0))
        ^ ((std::process::id() as u64) << 32);
    rcfg
}

/// Connect to every other member; their messages go into the core's queue
/// (dropped when it is full).
async fn start_transport(
    cfg: &NodeConfig,
    me: &Member,
    ids: &BTreeMap<String, NodeId>,
    tx: &SyncSender<Event>,
) -> Result<Transport<Message>, ServerError> {
    let peer_tx = tx.clone();
    let deliver: Arc<dyn Fn(Message) + Send + Sync> = Arc::new(move |m| {
        let _ = peer_tx.try_send(Event::Peer(m));
    });
    let peers: Vec<(NodeId, SocketAddr)> = cfg
        .members
        .iter()
        .filter(|m| m.name != cfg.name)
        .map(|m| (ids[&m.name], m.peer_addr))
        .collect();
    Transport::start(me.peer_addr, peers, deliver)
        .await
        .map_err(|e| {
            io_error(
                &cfg.name,
                "peer transport",
                std::io::Error::other(e.to_string()),
            )
        })
}

/// What the HTTP handlers share: the queue into the core (a full queue
/// hands the request back, for a definite 503) and a client for forwarding
/// to the leader.
fn api_state(cfg: &NodeConfig, tx: &SyncSender<Event>) -> Result<Arc<ApiState>, ServerError> {
    let api_tx = tx.clone();
    let submit: api::Submit = Arc::new(move |env| match api_tx.try_send(Event::Api(env)) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(ev)) | Err(TrySendError::Disconnected(ev)) => match ev {
            Event::Api(env) => Err(env),
            _ => Ok(()),
        },
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(500))
        .build()
        .map_err(|e| {
            io_error(
                &cfg.name,
                "http client",
                std::io::Error::other(e.to_string()),
            )
        })?;
    Ok(Arc::new(ApiState {
        name: cfg.name.clone(),
        client_addrs: cfg
            .members
            .iter()
            .map(|m| (m.name.clone(), m.client_addr.to_string()))
            .collect(),
        submit,
        request_timeout: cfg.request_timeout,
        leader_wait: (cfg.election_timeout * 4).max(Duration::from_secs(1)),
        http,
    }))
}

/// Run the core on a thread of its own; the receiver fires when it stops.
#[allow(clippy::type_complexity)]
fn spawn_core(
    core: Core,
    rx: Receiver<Event>,
) -> Result<
    (
        std::thread::JoinHandle<Result<(), ServerError>>,
        tokio::sync::oneshot::Receiver<()>,
    ),
    ServerError,
> {
    let node = core.name.clone();
    let (core_done_tx, core_done_rx) = tokio::sync::oneshot::channel::<()>();
    let core_thread = std::thread::Builder::new()
        .name(format!("refkv-core-{node}"))
        .spawn(move || {
            let r = core.run(rx);
            // Wake the HTTP server: a node whose core stopped (storage
            // failure) must exit, not keep answering 503.
            let _ = core_done_tx.send(());
            r
        })
        .map_err(|e| io_error(&node, "cannot start the core thread", e))?;
    Ok((core_thread, core_done_rx))
}

/// Resolves on SIGTERM/SIGINT or when the core stops, after asking the core
/// to shut down.
async fn shutdown_signal(tx: SyncSender<Event>, core_done: tokio::sync::oneshot::Receiver<()>) {
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = core_done => {}
    }
    // The queue may be full: retry until the core takes it.
    loop {
        match tx.try_send(Event::Shutdown) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => break,
            Err(TrySendError::Full(_)) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Wait for the core thread to finish (off the async workers) and return
/// what it returned.
async fn join_core(
    node: &str,
    core_thread: std::thread::JoinHandle<Result<(), ServerError>>,
) -> Result<Result<(), ServerError>, ServerError> {
    tokio::task::spawn_blocking(move || core_thread.join())
        .await
        .map_err(|e| ServerError::Raft {
            node: node.to_string(),
            why: format!("core thread: {e}"),
        })?
        .map_err(|_| ServerError::Raft {
            node: node.to_string(),
            why: "the core thread panicked".into(),
        })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers, run until killed.
        _ => std::future::pending::<()>().await,
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "none".into())
}

fn restore_kv(data: &[u8]) -> Result<KvState, String> {
    let v: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| format!("bad snapshot data: {e}"))?;
    KvState::restore(&v)
}

type ReplyTx = tokio::sync::oneshot::Sender<Result<Reply, CoreError>>;

/// The error a waiter that did not apply is answered with: definite only
/// for [`Fate::Overwritten`] (another entry was applied at its index).
fn fate_error(fate: Fate) -> CoreError {
    match fate {
        Fate::Overwritten => CoreError::Overwritten,
        Fate::Applied | Fate::Unknown => CoreError::OutcomeUnknown,
    }
}

/// The core thread's state.
struct Core {
    name: String,
    raft: RaftNode,
    wal: NodeWal,
    kv: KvState,
    applied: Index,
    snapshot_index: Index,
    snapshot_entries: u64,
    transport: Transport<Message>,
    names: BTreeMap<NodeId, String>,
    /// Proposals of this node, by log index (the rules: [`Waiters`]).
    waiters: Waiters<ReplyTx>,
    /// Reads waiting for their ReadIndex round.
    reads: HashMap<u64, (ReadQuery, ReplyTx)>,
    /// Bug `txn-split`: the reads to answer each split transaction with, by
    /// the id of its last entry.
    split_txns: HashMap<LogId, Vec<MicroOp>>,
    /// Reads confirmed, waiting for the state machine to reach their index.
    ready_reads: Vec<(Index, ReadQuery, ReplyTx)>,
    next_ctx: u64,
    bugs: Bugs,
    log: Arc<EventLog>,
    tick: Duration,
    last_applied_log: (Instant, Index),
}

/// At most this many events are taken per turn, so ticks are not starved.
const MAX_EVENTS_PER_TURN: usize = 4096;

impl Core {
    /// The core over what was recovered, before its first turn.
    fn new(
        cfg: &NodeConfig,
        ids: &BTreeMap<String, NodeId>,
        recovered: Recovered,
        transport: Transport<Message>,
        log: Arc<EventLog>,
    ) -> Self {
        let Recovered {
            wal,
            raft,
            kv,
            applied,
        } = recovered;
        Core {
            name: cfg.name.clone(),
            raft,
            wal,
            kv,
            applied,
            snapshot_index: applied,
            snapshot_entries: cfg.snapshot_entries.max(1),
            transport,
            names: ids.iter().map(|(n, i)| (*i, n.clone())).collect(),
            waiters: Waiters::new(),
            reads: HashMap::new(),
            split_txns: HashMap::new(),
            ready_reads: Vec::new(),
            next_ctx: 1,
            bugs: cfg.bugs.clone(),
            log,
            tick: (cfg.heartbeat / 10).clamp(Duration::from_millis(1), Duration::from_millis(10)),
            last_applied_log: (Instant::now(), applied),
        }
    }

    fn run(mut self, rx: Receiver<Event>) -> Result<(), ServerError> {
        let mut next_tick = Instant::now();
        // The core's clock only moves forward, by the monotonic clock's
        // forward steps: a clock that jumps backwards (libfaketime can do
        // that) pauses the core's clock for a moment instead of stopping
        // ticks until it catches up again.
        let mut clock = Duration::ZERO;
        let mut last_now = Instant::now();
        loop {
            let timeout = next_tick
                .saturating_duration_since(Instant::now())
                .min(self.tick);
            let mut stop = false;
            match rx.recv_timeout(timeout) {
                Ok(ev) => stop |= self.handle(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = true,
            }
            let mut n = 1;
            while !stop && n < MAX_EVENTS_PER_TURN {
                match rx.try_recv() {
                    Ok(ev) => stop |= self.handle(ev),
                    Err(_) => break,
                }
                n += 1;
            }
            let now = Instant::now();
            clock += now.saturating_duration_since(last_now);
            last_now = now;
            if now >= next_tick || next_tick > now + self.tick {
                self.raft.tick(clock);
                self.raft.observe_wall_clock(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default(),
                );
                next_tick = now + self.tick;
            }
            if let Err(e) = self.process_ready() {
                self.fail_all(CoreError::Internal(e.to_string()));
                return Err(ServerError::Storage {
                    node: self.name.clone(),
                    error: e,
                });
            }
            self.log_applied(false);
            if stop {
                return self.shutdown();
            }
        }
    }

    fn shutdown(mut self) -> Result<(), ServerError> {
        // SIGTERM is a clean stop: whatever was buffered (even with
        // no-fsync) is made durable.
        let r = self.wal.flush_now();
        self.log_applied(true);
        self.fail_all(CoreError::ShuttingDown);
        r.map_err(|error| ServerError::Storage {
            node: self.name.clone(),
            error,
        })
    }

    fn fail_all(&mut self, e: CoreError) {
        // Shutdown and fatal errors are indefinite for writes: a proposed
        // entry may still be committed by the others.
        for (reply, _) in self.waiters.drain() {
            let _ = reply.send(Err(e.clone()));
        }
        for (_, (_, r)) in self.reads.drain() {
            let _ = r.send(Err(e.clone()));
        }
        for (_, _, r) in self.ready_reads.drain(..) {
            let _ = r.send(Err(e.clone()));
        }
    }

    fn leader_name(&self, hint: Option<NodeId>) -> Option<String> {
        hint.and_then(|id| self.names.get(&id).cloned())
    }

    fn not_leader(&self, e: NotLeader) -> CoreError {
        CoreError::NotLeader {
            leader: self.leader_name(e.leader_hint),
        }
    }

    /// Handle one event; returns true to stop.
    fn handle(&mut self, ev: Event) -> bool {
        match ev {
            Event::Peer(m) => self.raft.step(m),
            Event::Shutdown => return true,
            Event::Api(Envelope { request, reply }) => match request {
                Request::Status => {
                    let s = self.raft.status();
                    let _ = reply.send(Ok(Reply::Status(NodeStatus {
                        id: self.name.clone(),
                        role: s.role.name().to_string(),
                        term: s.term,
                        leader: self.leader_name(s.leader),
                        commit_index: s.commit_index,
                        applied_index: self.applied,
                        last_index: self.raft.log().last().index,
                        last_term: self.raft.log().last().term,
                        bugs: self.bugs.names(),
                    })));
                }
                Request::Propose(Command::Txn { ops }) if self.bugs.has(Bug::TxnSplit) => {
                    self.propose_split_txn(&ops, reply);
                }
                Request::Propose(cmd) => {
                    let data = match serde_json::to_vec(&cmd) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = reply.send(Err(CoreError::Internal(format!(
                                "cannot encode the command: {e}"
                            ))));
                            return false;
                        }
                    };
                    match self.raft.propose(data) {
                        Ok(id) => self.waiters.proposed(id, reply),
                        Err(e) => {
                            let _ = reply.send(Err(self.not_leader(e)));
                        }
                    }
                }
                Request::Read(q) => {
                    if self.bugs.has(Bug::StaleRead) {
                        // The bug: answer from local state, whatever the role.
                        let _ = reply.send(self.read(&q));
                        return false;
                    }
                    let ctx = self.next_ctx;
                    self.next_ctx += 1;
                    match self.raft.read_index(ctx) {
                        Ok(()) => {
                            self.reads.insert(ctx, (q, reply));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(self.not_leader(e)));
                        }
                    }
                }
            },
        }
        false
    }

    /// Bug `txn-split` ([`Bug::TxnSplit`]): answer the transaction's reads
    /// from this node's state machine as it is now, and propose its writes
    /// as one entry per key. The client waits for the last entry: once it is
    /// applied, so are the others (they precede it in the same leader's log),
    /// and the client gets the reads taken at proposal time. If a later
    /// leader overwrites the last entry, the client is told the transaction
    /// failed, though the earlier entries may have been committed.
    fn propose_split_txn(&mut self, ops: &[MicroOp], reply: ReplyTx) {
        if self.raft.role() != Role::Leader {
            let _ = reply.send(Err(CoreError::NotLeader {
                leader: self.leader_name(self.raft.leader()),
            }));
            return;
        }
        let (out, cmds) = match self.kv.split_txn(ops) {
            Ok(split) => split,
            Err(why) => {
                let _ = reply.send(Ok(Reply::Applied(Outcome::Rejected(why))));
                return;
            }
        };
        let mut last = None;
        for cmd in &cmds {
            let data = match serde_json::to_vec(cmd) {
                Ok(d) => d,
                Err(e) => {
                    let _ = reply.send(Err(CoreError::Internal(format!(
                        "cannot encode the command: {e}"
                    ))));
                    return;
                }
            };
            match self.raft.propose(data) {
                Ok(id) => last = Some(id),
                // Leadership cannot change between two proposals of one
                // event; if it did, some keys may have been proposed.
                Err(e) if last.is_none() => {
                    let _ = reply.send(Err(self.not_leader(e)));
                    return;
                }
                Err(_) => {
                    let _ = reply.send(Err(CoreError::OutcomeUnknown));
                    return;
                }
            }
        }
        match last {
            Some(id) => {
                self.split_txns.insert(id, out);
                self.waiters.proposed(id, reply);
            }
            // Nothing to write (validated away by the API): reads only.
            None => {
                let _ = reply.send(Ok(Reply::Applied(Outcome::Txn(out))));
            }
        }
    }

    fn read(&self, q: &ReadQuery) -> Result<Reply, CoreError> {
        match q {
            ReadQuery::Get(k) => Ok(Reply::Value(self.kv.get(k))),
            ReadQuery::Txn(ops) => self
                .kv
                .read_txn(ops)
                .map(Reply::Ops)
                .map_err(CoreError::Internal),
        }
    }

    /// Carry out one [`Ready`] in the order the core requires.
    fn process_ready(&mut self) -> Result<(), storage::StorageError> {
        let rd: Ready = self.raft.take_ready();
        self.log_roles(&rd);
        // 1-4: persist. The hard state goes first: a crash in the middle of
        // writing this batch then leaves a prefix in which no entry has a
        // term above the persisted one (the core refuses to restart from
        // such a state).
        if let Some(hs) = &rd.hard_state {
            self.wal.set_hard_state(hs)?;
        }
        // The truncation goes before the snapshot: saving the snapshot makes
        // everything buffered durable, so a crash can never leave a snapshot
        // followed by entries of another history.
        if let Some(t) = rd.truncate_from {
            self.wal.truncate(t)?;
        }
        if let Some(s) = &rd.snapshot {
            self.wal.save_snapshot(&storage::Snapshot {
                index: s.last.index,
                term: s.last.term,
                data: s.data.clone(),
            })?;
        }
        if let Some(first) = rd.entries.first() {
            self.wal.append(first.index, &rd.entries)?;
        }
        // 5: fsync (with no-fsync: only now and then).
        if rd.must_persist() || self.wal.has_pending() {
            self.wal.sync()?;
        }
        // 6: send.
        for m in rd.messages {
            self.transport.send(m.to, m);
        }
        // 7: restore, apply.
        if rd.restore_snapshot {
            if let Some(s) = &rd.snapshot {
                match restore_kv(&s.data) {
                    Ok(kv) => {
                        self.kv = kv;
                        self.applied = s.last.index;
                        self.snapshot_index = self.snapshot_index.max(s.last.index);
                        self.log.event(
                            "snapshot-installed",
                            &[
                                ("index", &s.last.index),
                                ("term", &s.last.term),
                                ("bytes", &s.data.len()),
                            ],
                        );
                        // Proposals covered by the snapshot: their fate is
                        // unknown here.
                        self.split_txns.retain(|id, _| id.index > s.last.index);
                        for (reply, fate) in self.waiters.snapshot_installed(s.last.index) {
                            let _ = reply.send(Err(fate_error(fate)));
                        }
                    }
                    Err(why) => {
                        return Err(storage::StorageError::Codec {
                            path: PathBuf::from("<installed snapshot>"),
                            what: why,
                        })
                    }
                }
            }
        }
        for e in rd.committed {
            self.apply(e);
        }
        // A leader that lost leadership, or a follower whose log was
        // truncated, keeps its waiters: whichever entry is committed at their
        // index decides (this node applies it in time and answers ok or
        // overwritten). Only the client's timeout leaves the outcome unknown.
        // 8: reads.
        for rs in rd.read_states {
            if let Some((q, reply)) = self.reads.remove(&rs.ctx) {
                self.ready_reads.push((rs.index, q, reply));
            }
        }
        for ctx in rd.dropped_reads {
            if let Some((_, reply)) = self.reads.remove(&ctx) {
                let _ = reply.send(Err(CoreError::NotLeader {
                    leader: self.leader_name(self.raft.leader()),
                }));
            }
        }
        if !self.ready_reads.is_empty() {
            let applied = self.applied;
            let (serve, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ready_reads)
                .into_iter()
                .partition(|(i, _, _)| *i <= applied);
            self.ready_reads = wait;
            for (_, q, reply) in serve {
                let _ = reply.send(self.read(&q));
            }
        }
        self.maybe_snapshot()
    }

    fn apply(&mut self, e: Entry) {
        let outcome = match &e.payload {
            Payload::Noop => None,
            Payload::Data(d) => Some(match serde_json::from_slice::<Command>(d) {
                Ok(cmd) => self.kv.apply(&cmd),
                Err(err) => Outcome::Rejected(format!("undecodable command: {err}")),
            }),
        };
        self.applied = e.index;
        let mut outcome = outcome;
        // Bug `txn-split`: the last entry of a split transaction answers the
        // client with the reads taken when it was proposed.
        if !self.split_txns.is_empty() {
            if let Some(out) = self.split_txns.remove(&e.log_id()) {
                if matches!(outcome, Some(Outcome::Txn(_))) {
                    outcome = Some(Outcome::Txn(out));
                }
            }
            self.split_txns.retain(|id, _| id.index > e.index);
        }
        for (reply, fate) in self.waiters.applied(e.log_id()) {
            let r = match (fate, outcome.take()) {
                (Fate::Applied, Some(o)) => Ok(Reply::Applied(o)),
                // A no-op at a client's exact id cannot happen; if it did,
                // claim nothing.
                (Fate::Applied, None) => Err(CoreError::OutcomeUnknown),
                (f, _) => Err(fate_error(f)),
            };
            let _ = reply.send(r);
        }
    }

    fn maybe_snapshot(&mut self) -> Result<(), storage::StorageError> {
        if self.applied < self.snapshot_index + self.snapshot_entries {
            return Ok(());
        }
        let index = self.applied;
        let Some(term) = self.raft.log().term(index) else {
            return Ok(());
        };
        let data =
            serde_json::to_vec(&self.kv.snapshot()).map_err(|e| storage::StorageError::Codec {
                path: PathBuf::from("<state machine>"),
                what: format!("cannot encode the snapshot: {e}"),
            })?;
        let bytes = data.len();
        self.wal.save_snapshot(&storage::Snapshot {
            index,
            term,
            data: data.clone(),
        })?;
        if let Err(e) = self.raft.compact(index, data) {
            self.log.event("snapshot-error", &[("error", &e)]);
        }
        self.snapshot_index = index;
        self.log.event(
            "snapshot",
            &[
                ("index", &index),
                ("term", &term),
                ("bytes", &bytes),
                ("keys", &self.kv.len()),
                ("wal_bytes", &self.wal.file_len()),
            ],
        );
        Ok(())
    }

    fn log_roles(&mut self, rd: &Ready) {
        for rc in &rd.role_changes {
            let leader = opt(self.leader_name(rc.leader));
            self.log.event(
                "role",
                &[
                    ("term", &rc.term),
                    ("role", &rc.role.name()),
                    ("leader", &leader),
                ],
            );
            match rc.role {
                Role::Candidate => self.log.event("election", &[("term", &rc.term)]),
                Role::Leader => self.log.event(
                    "elected",
                    &[
                        ("term", &rc.term),
                        ("last_index", &self.raft.log().last_index()),
                    ],
                ),
                _ => {}
            }
        }
    }

    /// Log the applied index at most once a second (or now, when `force`).
    fn log_applied(&mut self, force: bool) {
        let (at, idx) = self.last_applied_log;
        if force || (at.elapsed() >= Duration::from_secs(1) && idx != self.applied) {
            self.log.event(
                "applied",
                &[
                    ("index", &self.applied),
                    ("commit", &self.raft.commit_index()),
                    ("term", &self.raft.term()),
                    ("role", &self.raft.role().name()),
                    ("fsyncs", &self.wal.syncs()),
                ],
            );
            self.last_applied_log = (Instant::now(), self.applied);
        }
    }
}
