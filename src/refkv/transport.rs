//! refkv's peer transport: Raft messages between nodes over TCP.
//!
//! Each node listens on its peer address and keeps one outbound connection to
//! every other member. A frame is `[len: u32 LE][postcard payload]`; a node
//! only reads from the connections others opened to it and only writes to the
//! ones it opened, so each direction is an independent stream.
//!
//! Contract (what the server relies on):
//!
//! - [`Transport::send`] never blocks and never fails: it puts the message in
//!   the peer's bounded queue, or drops it when the queue is full. Raft
//!   tolerates message loss; it does not tolerate one slow peer stalling the
//!   others, nor memory growing while a peer is partitioned, paused or dead.
//! - Messages queued while a peer is unreachable are discarded (they would be
//!   stale by the time it is back); the connection is retried with
//!   exponential backoff, and a write that makes no progress for
//!   [`WRITE_TIMEOUT`] drops the connection (a paused peer, a silent
//!   partition). An inbound connection silent for [`READ_IDLE_TIMEOUT`] is
//!   closed; a sender notices a closed connection at once and reconnects.
//! - Frames received are handed to the `deliver` callback in the order they
//!   arrived on each connection; a frame that does not decode closes that
//!   connection (the sender reconnects).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The largest frame accepted (snapshots travel in one frame).
pub const MAX_FRAME: usize = 256 << 20;
/// Messages a peer's queue holds before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 4096;
/// A write that makes no progress for this long drops the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// An inbound connection without a frame for this long is closed.
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection attempts give up after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Reconnection backoff bounds.
pub const BACKOFF_MIN: Duration = Duration::from_millis(20);
/// The longest wait between two connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// Frames written in one go when the queue holds several.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// What went wrong starting the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer address could not be bound.
    #[error("cannot listen for peers on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// Counters of one peer link, for logs and tests.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Messages written to the socket.
    pub sent: AtomicU64,
    /// Messages dropped (queue full, or discarded while disconnected).
    pub dropped: AtomicU64,
    /// Successful connections made.
    pub connects: AtomicU64,
}

struct Peer<M> {
    tx: mpsc::Sender<M>,
    stats: Arc<LinkStats>,
}

/// The sending side of the transport; cheap to share.
pub struct Transport<M> {
    peers: HashMap<u64, Peer<M>>,
}

impl<M> Transport<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    /// Bind `listen` and start the accept loop and one sender task per peer,
    /// on the current tokio runtime. Received messages go to `deliver`.
    pub async fn start(
        listen: SocketAddr,
        peers: Vec<(u64, SocketAddr)>,
        deliver: Arc<dyn Fn(M) + Send + Sync>,
    ) -> Result<Self, TransportError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|error| TransportError::Bind {
                addr: listen,
                error,
            })?;
        tokio::spawn(accept_loop::<M>(listener, deliver));
        let mut map = HashMap::new();
        for (id, addr) in peers {
            let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
            let stats = Arc::new(LinkStats::default());
            tokio::spawn(sender_loop(addr, rx, stats.clone()));
            map.insert(id, Peer { tx, stats });
        }
        Ok(Transport { peers: map })
    }

    /// Queue `msg` for peer `to`; drops it when the queue is full or the peer
    /// is unknown. Never blocks.
    pub fn send(&self, to: u64, msg: M) {
        if let Some(p) = self.peers.get(&to) {
            if p.tx.try_send(msg).is_err() {
                p.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counters of the link to `peer`.
    pub fn stats(&self, peer: u64) -> Option<Arc<LinkStats>> {
        self.peers.get(&peer).map(|p| p.stats.clone())
    }
}

async fn accept_loop<M>(listener: TcpListener, deliver: Arc<dyn Fn(M) + Send + Sync>)
where
    M: DeserializeOwned + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(read_loop::<M>(stream, deliver.clone()));
            }
            // Out of file descriptors and the like: back off, do not spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn read_loop<M>(stream: TcpStream, deliver: Arc<dyn Fn(M) + Send + Sync>)
where
    M: DeserializeOwned,
{
    let mut r = BufReader::with_capacity(64 << 10, stream);
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        // A connection silent for this long is closed, so half-open
        // connections (a peer cut off by a partition) do not pile up; the
        // sender notices the close and reconnects before its next message.
        match tokio::time::timeout(READ_IDLE_TIMEOUT, r.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return;
        }
        buf.resize(len, 0);
        if r.read_exact(&mut buf).await.is_err() {
            return;
        }
        match postcard::from_bytes::<M>(&buf) {
            Ok(msg) => deliver(msg),
            Err(_) => return,
        }
    }
}

/// Discard everything queued (the peer is unreachable: it would be stale).
fn discard_queued<M>(rx: &mut mpsc::Receiver<M>, stats: &LinkStats) {
    while rx.try_recv().is_ok() {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

async fn sender_loop<M>(addr: SocketAddr, mut rx: mpsc::Receiver<M>, stats: Arc<LinkStats>)
where
    M: Serialize,
{
    let mut backoff = BACKOFF_MIN;
    loop {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                discard_queued(&mut rx, &stats);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                discard_queued(&mut rx, &stats);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        stats.connects.fetch_add(1, Ordering::Relaxed);
        backoff = BACKOFF_MIN;
        if !write_loop(stream, &mut rx, &stats).await {
            return; // the transport was dropped
        }
    }
}

/// Write queued messages until the connection fails (returns true: reconnect)
/// or the queue is closed (returns false).
async fn write_loop<M: Serialize>(
    mut stream: TcpStream,
    rx: &mut mpsc::Receiver<M>,
    stats: &LinkStats,
) -> bool {
    let mut out = Vec::with_capacity(64 << 10);
    let (mut rd, mut wr) = stream.split();
    let mut probe = [0u8; 64];
    loop {
        // The peer never writes on this connection: readability means it
        // closed it (restart, idle timeout), so reconnect before the next
        // message is written into a dead socket and lost.
        let first = tokio::select! {
            m = rx.recv() => m,
            r = rd.read(&mut probe) => match r {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            },
        };
        let Some(first) = first else {
            return false;
        };
        out.clear();
        let mut n = 0u64;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match postcard::to_stdvec(&msg) {
                Ok(payload) if payload.len() <= MAX_FRAME => {
                    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                    out.extend_from_slice(&payload);
                    n += 1;
                }
                _ => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            if out.len() < MAX_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&out)).await {
            Ok(Ok(())) => {
                stats.sent.fetch_add(n, Ordering::Relaxed);
            }
            _ => {
                stats.dropped.fetch_add(n, Ordering::Relaxed);
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::sync::Mutex;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Msg {
        from: u64,
        seq: u64,
        body: Vec<u8>,
    }

    fn free_addr() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    type Deliver = Arc<dyn Fn(Msg) + Send + Sync>;

    fn collector() -> (Arc<Mutex<Vec<Msg>>>, Deliver) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        (got, Arc::new(move |m: Msg| g.lock().unwrap().push(m)))
    }

    async fn wait_for(got: &Mutex<Vec<Msg>>, n: usize) -> bool {
        for _ in 0..200 {
            if got.lock().unwrap().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn messages_arrive_in_order() {
        let (a, b) = (free_addr(), free_addr());
        let (_got_a, deliver_a) = collector();
        let (got_b, deliver_b) = collector();
        let ta = Transport::<Msg>::start(a, vec![(2, b)], deliver_a)
            .await
            .unwrap();
        let _tb = Transport::<Msg>::start(b, vec![(1, a)], deliver_b)
            .await
            .unwrap();
        for seq in 0..100 {
            ta.send(
                2,
                Msg {
                    from: 1,
                    seq,
                    body: vec![7; 10],
                },
            );
        }
        assert!(wait_for(&got_b, 100).await);
        let seqs: Vec<u64> = got_b.lock().unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_dead_peer_neither_blocks_others_nor_grows_memory() {
        let (a, b, dead) = (free_addr(), free_addr(), free_addr());
        let (_got_a, deliver_a) = collector();
        let (got_b, deliver_b) = collector();
        let ta = Transport::<Msg>::start(a, vec![(2, b), (3, dead)], deliver_a)
            .await
            .unwrap();
        let _tb = Transport::<Msg>::start(b, vec![(1, a)], deliver_b)
            .await
            .unwrap();
        // Far more than the queue holds, to the dead peer, without blocking.
        for seq in 0..(3 * QUEUE_CAPACITY as u64) {
            ta.send(
                3,
                Msg {
                    from: 1,
                    seq,
                    body: vec![1; 100],
                },
            );
        }
        ta.send(
            2,
            Msg {
                from: 1,
                seq: 0,
                body: vec![],
            },
        );
        assert!(
            wait_for(&got_b, 1).await,
            "the live peer must still get its message"
        );
        let dead_stats = ta.stats(3).unwrap();
        assert!(dead_stats.dropped.load(Ordering::Relaxed) >= 2 * QUEUE_CAPACITY as u64);
        assert_eq!(dead_stats.sent.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn reconnects_after_the_peer_comes_back() {
        let (a, b) = (free_addr(), free_addr());
        let (_got_a, deliver_a) = collector();
        let ta = Transport::<Msg>::start(a, vec![(2, b)], deliver_a)
            .await
            .unwrap();
        ta.send(
            2,
            Msg {
                from: 1,
                seq: 0,
                body: vec![],
            },
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Now the peer starts listening.
        let (got_b, deliver_b) = collector();
        let _tb = Transport::<Msg>::start(b, vec![(1, a)], deliver_b)
            .await
            .unwrap();
        let mut delivered = false;
        for seq in 1..200 {
            ta.send(
                2,
                Msg {
                    from: 1,
                    seq,
                    body: vec![],
                },
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            if !got_b.lock().unwrap().is_empty() {
                delivered = true;
                break;
            }
        }
        assert!(delivered, "messages must flow once the peer is up");
        assert!(ta.stats(2).unwrap().connects.load(Ordering::Relaxed) >= 1);
    }

    #[tokio::test]
    async fn sender_reconnects_as_soon_as_the_receiver_closes() {
        let (a, b) = (free_addr(), free_addr());
        let listener = TcpListener::bind(b).await.unwrap();
        let (_got_a, deliver_a) = collector();
        let ta = Transport::<Msg>::start(a, vec![(2, b)], deliver_a)
            .await
            .unwrap();
        // The sender connects eagerly; the receiver hangs up (a restart).
        let (first, _) = tokio::time::timeout(Duration::from_secs(2), listener.accept())
            .await
            .unwrap()
            .unwrap();
        drop(first);
        // Without any message to send, the sender reconnects.
        let (mut second, _) = tokio::time::timeout(Duration::from_secs(2), listener.accept())
            .await
            .expect("the sender must reconnect without waiting for a message")
            .unwrap();
        ta.send(
            2,
            Msg {
                from: 1,
                seq: 7,
                body: vec![],
            },
        );
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), second.read_exact(&mut len))
            .await
            .unwrap()
            .unwrap();
        let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
        second.read_exact(&mut buf).await.unwrap();
        assert_eq!(
            postcard::from_bytes::<Msg>(&buf).unwrap().seq,
            7,
            "the message is not lost"
        );
    }

    #[tokio::test]
    async fn garbage_frame_closes_only_that_connection() {
        let b = free_addr();
        let (got_b, deliver_b) = collector();
        let _tb = Transport::<Msg>::start(b, vec![], deliver_b).await.unwrap();
        let mut s = TcpStream::connect(b).await.unwrap();
        // A frame claiming more than MAX_FRAME bytes.
        s.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut byte)).await;
        assert!(
            matches!(n, Ok(Ok(0)) | Ok(Err(_))),
            "the node must close the connection"
        );
        // A good frame on a new connection still gets through.
        let mut s = TcpStream::connect(b).await.unwrap();
        let payload = postcard::to_stdvec(&Msg {
            from: 9,
            seq: 1,
            body: vec![],
        })
        .unwrap();
        s.write_all(&(payload.len() as u32).to_le_bytes())
            .await
            .unwrap();
        s.write_all(&payload).await.unwrap();
        assert!(wait_for(&got_b, 1).await);
    }
}
