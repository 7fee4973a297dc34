//! `ZooKeeperClient`: a [`KvClient`] over ZooKeeper's own protocol (the
//! `zookeeper-client` crate), one session to one node.
//!
//! Layout: key `k` is the znode `/faultline/<k>` (the key percent-encoded
//! so it is one path segment). A value written with `write`, `cas` or a
//! transaction's `w` is the znode's data: the value's JSON text (numbers
//! keep their exact digits). A key only ever appended to one element at a
//! time (the `set` and `counter` workloads: a transaction that is one
//! `append`) is a znode with empty data whose *children* are the elements:
//! each append creates one persistent-sequential child `e<hex of the
//! element's JSON>-<sequence>`, in a `multi` that also checks that the
//! key's data is still empty, so appends never contend with each other. A
//! read of such a key is one `getChildren`, the elements in sequence order.
//!
//! Reads: in [`ReadMode::Sync`] every read is `sync` then `getData`
//! (ZooKeeper's strongest read); in [`ReadMode::Plain`] a plain `getData`,
//! which the node may answer from a state lagging behind the leader.
//!
//! Writes: `write` is `setData` (creating the znode when missing); `cas` is
//! `getData` (after `sync` in sync mode), compare, then `setData` with the
//! version read; when a concurrent change beat it (`BadVersion`: the set did
//! not happen) it reads and compares again, so it returns false only when
//! it read a value other than `from`. A multi-key transaction reads
//! every key's data and version, evaluates the micro-ops, then commits one
//! `multi`: `setData` at the version read (or `create` for an absent key)
//! for each written key, `check` at the version read for each key only read
//! (`create` + `delete` for an absent one), so the transaction applies
//! atomically exactly when nothing it read has changed; on such a conflict
//! it is retried from the reads (a few times, then it fails definitely).
//!
//! Error classification ([`classify`]):
//! - anything failing before a request is sent (no session, bad path) →
//!   [`KvError::Definite`];
//! - an answer that proves the op did nothing (`BadVersion`, `NoNode`,
//!   `NodeExists`, `NotEmpty`, auth and argument errors, a throttled or
//!   moved-session request, and any failed `multi`, which ZooKeeper applies
//!   all or nothing) → [`KvError::Definite`];
//! - `ConnectionLoss`, `SessionExpired`, a timeout of the client or of our
//!   own per-call bound, and anything unknown, once a request may have been
//!   sent → [`KvError::Indefinite`].
//!
//! A read changes nothing, so every failed read (and read-only transaction)
//! is definite. An expired or closed session is replaced by a new one on the
//! next call.

use super::{KvClient, KvError, MicroOp};
use crate::db::zookeeper::ReadMode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use zookeeper_client as zk;

/// The znode every key lives under.
pub const ROOT: &str = "/faultline";

/// How many times a transaction whose reads changed before its commit is
/// retried before it fails definitely.
const CONFLICT_RETRIES: usize = 20;

/// A client of one ZooKeeper node.
pub struct ZooKeeperClient {
    /// `<host>:<port>` of the one node this client talks to.
    connect: String,
    mode: ReadMode,
    session_timeout: Duration,
    call_timeout: Duration,
    session: tokio::sync::Mutex<Option<zk::Client>>,
}

impl std::fmt::Debug for ZooKeeperClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeperClient")
            .field("connect", &self.connect)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Classify an error the server or the client library reported for a
/// request that changes state (see the module doc).
pub fn classify(what: &str, e: &zk::Error) -> KvError {
    use zk::Error as E;
    let msg = format!("{what}: {e}");
    match e {
        E::NoNode
        | E::BadVersion
        | E::NodeExists
        | E::NotEmpty
        | E::NoAuth
        | E::AuthFailed
        | E::InvalidAcl
        | E::BadArguments(_)
        | E::NoChildrenForEphemerals
        | E::NotReadOnly
        | E::SessionMoved
        | E::QuotaExceeded
        | E::Throttled
        | E::MarshallingError
        | E::Unimplemented
        | E::NoWatcher
        | E::ReconfigDisabled => KvError::Definite(msg),
        _ => KvError::Indefinite(msg),
    }
}

/// Classify a failed `multi`: one whose answer says an operation failed had
/// no effect at all (ZooKeeper applies a multi all or nothing); one whose
/// request failed is classified as any request.
pub fn classify_multi(what: &str, e: &zk::MultiWriteError) -> KvError {
    match e {
        zk::MultiWriteError::OperationFailed { index, source } => {
            KvError::Definite(format!("{what}: operation {index} failed: {source}"))
        }
        zk::MultiWriteError::RequestFailed { source } => classify(what, source),
    }
}

/// Make a failed read definite: a read changes nothing.
fn definite(e: KvError) -> KvError {
    match e {
        KvError::Indefinite(m) => KvError::Definite(m),
        other => other,
    }
}

/// The znode of `key`: `/faultline/<key>` with every byte outside
/// `[A-Za-z0-9_-]` percent-encoded (so `/` and `.` cannot form paths).
pub fn key_path(key: &str) -> Result<String, KvError> {
    if key.is_empty() {
        return Err(KvError::Definite("empty key".into()));
    }
    let mut out = String::with_capacity(ROOT.len() + 1 + key.len());
    out.push_str(ROOT);
    out.push('/');
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// The bytes a value is stored as: its JSON text.
pub fn encode_value(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// A value back from its stored bytes; an error names the key.
pub fn decode_value(key: &str, data: &[u8]) -> Result<Value, KvError> {
    serde_json::from_slice(data).map_err(|e| {
        KvError::Definite(format!(
            "key {key}: znode data is not JSON ({e}): {:?}",
            String::from_utf8_lossy(data)
        ))
    })
}

/// The name prefix of the child holding list element `v`: `e<hex of its
/// JSON>-` (ZooKeeper appends the sequence number).
pub fn element_prefix(v: &Value) -> String {
    let mut s = String::from("e");
    for b in v.to_string().bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('-');
    s
}

/// The elements named by a list key's children, in sequence order; an
/// error names the key and the child that cannot be read.
pub fn decode_children(key: &str, children: &[String]) -> Result<Vec<Value>, KvError> {
    let bad = |c: &str| KvError::Definite(format!("key {key}: unreadable element child {c:?}"));
    let mut elems = Vec::with_capacity(children.len());
    for c in children {
        let (hex, seq) = c
            .strip_prefix('e')
            .and_then(|r| r.rsplit_once('-'))
            .ok_or_else(|| bad(c))?;
        let seq: i64 = seq.parse().map_err(|_| bad(c))?;
        if hex.len() % 2 != 0 {
            return Err(bad(c));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad(c))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad(c))?;
        elems.push((seq, v));
    }
    elems.sort_by_key(|(s, _)| *s);
    Ok(elems.into_iter().map(|(_, v)| v).collect())
}

/// What a transaction found at a key.
#[derive(Debug, Clone)]
enum Found {
    Absent,
    Data(Value, i32),
}

/// The result of one attempt at a transaction.
enum Attempt<T> {
    Done(T),
    /// Something read changed before the commit: retry.
    Conflict(String),
}

fn create_opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn sequential_opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all())
}

impl ZooKeeperClient {
    /// A client of the node at `connect` (`10.213.7.11:2181`) reading in
    /// `mode`; its session asks for `session_timeout` and each call takes
    /// at most `call_timeout`. Connecting is lazy (on the first call).
    pub fn new(
        connect: &str,
        mode: ReadMode,
        session_timeout: Duration,
        call_timeout: Duration,
    ) -> Self {
        ZooKeeperClient {
            connect: connect.to_string(),
            mode,
            session_timeout,
            call_timeout,
            session: tokio::sync::Mutex::new(None),
        }
    }

    /// The current session, or a new one when there is none or it ended
    /// (expired, closed). Nothing has been sent when this fails: definite.
    async fn zk(&self) -> Result<zk::Client, KvError> {
        let mut slot = self.session.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.state().is_terminated() {
                return Ok(c.clone());
            }
        }
        *slot = None;
        let connect = zk::Client::connector()
            .with_session_timeout(self.session_timeout)
            .with_connection_timeout(self.call_timeout / 2)
            .with_fail_eagerly()
            .connect(&self.connect);
        let c = match tokio::time::timeout(self.call_timeout / 2, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(KvError::Definite(format!(
                    "cannot open a session with {}: {e}",
                    self.connect
                )))
            }
            Err(_) => {
                return Err(KvError::Definite(format!(
                    "cannot open a session with {} within {:?}",
                    self.connect,
                    self.call_timeout / 2
                )))
            }
        };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Run `f` bounded by the call timeout; running out is indefinite.
    async fn bounded<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, KvError>>,
    ) -> Result<T, KvError> {
        match tokio::time::timeout(self.call_timeout, f).await {
            Ok(r) => r,
            Err(_) => Err(KvError::Indefinite(format!(
                "{what}: no answer from {} within {:?}",
                self.connect, self.call_timeout
            ))),
        }
    }

    /// Create `/faultline` when missing (idempotent, changes no key).
    async fn ensure_root(zk: &zk::Client) -> Result<(), KvError> {
        match zk.create(ROOT, b"", &create_opts()).await {
            Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
            Err(e) => Err(classify("create /faultline", &e)),
        }
    }

    /// `sync` in sync mode: the node catches up with the leader first.
    async fn maybe_sync(&self, zk: &zk::Client, path: &str) -> Result<(), KvError> {
        if self.mode == ReadMode::Sync {
            zk.sync(path).await.map_err(|e| classify("sync", &e))?;
        }
        Ok(())
    }

    async fn read_inner(&self, key: &str) -> Result<Option<Value>, KvError> {
        let path = key_path(key)?;
        let zk = self.zk().await?;
        self.maybe_sync(&zk, &path).await?;
        let data = match zk.get_data(&path).await {
            Ok((data, _)) => data,
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(classify("getData", &e)),
        };
        if !data.is_empty() {
            return decode_value(key, &data).map(Some);
        }
        // A key appended to element by element.
        match zk.list_children(&path).await {
            Ok(children) => Ok(Some(Value::Array(decode_children(key, &children)?))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(classify("getChildren", &e)),
        }
    }

    async fn write_inner(&self, key: &str, value: &Value) -> Result<(), KvError> {
        let path = key_path(key)?;
        let data = encode_value(value);
        let zk = self.zk().await?;
        for _ in 0..CONFLICT_RETRIES {
            match zk.set_data(&path, &data, None).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(classify("setData", &e)),
            }
            match zk.create(&path, &data, &create_opts()).await {
                Ok(_) => return Ok(()),
                // Created meanwhile: set it.
                Err(zk::Error::NodeExists) => {}
                Err(zk::Error::NoNode) => Self::ensure_root(&zk).await?,
                Err(e) => return Err(classify("create", &e)),
            }
        }
        Err(KvError::Definite(format!(
            "write {key}: the znode kept appearing and disappearing"
        )))
    }

    async fn cas_inner(&self, key: &str, from: &Value, to: &Value) -> Result<bool, KvError> {
        let path = key_path(key)?;
        let zk = self.zk().await?;
        let data = encode_value(to);
        for _ in 0..CONFLICT_RETRIES {
            // Nothing is written before the setData: failures so far are
            // definite.
            self.maybe_sync(&zk, &path).await.map_err(definite)?;
            let (old, stat) = match zk.get_data(&path).await {
                Ok(r) => r,
                Err(zk::Error::NoNode) => return Ok(false),
                Err(e) => return Err(definite(classify("getData", &e))),
            };
            if old.is_empty() || decode_value(key, &old)? != *from {
                return Ok(false);
            }
            match zk.set_data(&path, &data, Some(stat.version)).await {
                Ok(_) => return Ok(true),
                // Changed since the read: the set did not happen; read again.
                Err(zk::Error::BadVersion) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(classify("setData", &e)),
            }
        }
        Err(KvError::Definite(format!(
            "cas {key}: the value kept changing between read and set \
             ({CONFLICT_RETRIES} attempts)"
        )))
    }

    /// One append to a key kept as children (see the module doc).
    async fn append_child(&self, key: &str, elem: &Value) -> Result<Attempt<()>, KvError> {
        let path = key_path(key)?;
        let zk = self.zk().await?;
        let (data, stat) = match zk.get_data(&path).await {
            Ok(r) => r,
            Err(zk::Error::NoNode) => {
                // An empty list key; creating it changes no value the
                // workloads read (absent and empty both read as empty).
                match zk.create(&path, b"", &create_opts()).await {
                    Ok(_) | Err(zk::Error::NodeExists) => {}
                    Err(zk::Error::NoNode) => Self::ensure_root(&zk).await?,
                    Err(e) => return Err(definite(classify("create", &e))),
                }
                return Ok(Attempt::Conflict(format!("created {path}")));
            }
            Err(e) => return Err(definite(classify("getData", &e))),
        };
        if !data.is_empty() {
            return match decode_value(key, &data)? {
                // A list stored as data: append through a transaction.
                Value::Array(_) => self
                    .txn_once(&[MicroOp::append(key, elem.clone())])
                    .await
                    .map(|a| match a {
                        Attempt::Done(_) => Attempt::Done(()),
                        Attempt::Conflict(c) => Attempt::Conflict(c),
                    }),
                other => Err(KvError::Definite(format!(
                    "append to key {key}, which holds {other}, not a list"
                ))),
            };
        }
        let mut multi = zk.new_multi_writer();
        let child = format!("{path}/{}", element_prefix(elem));
        multi
            .add_check_version(&path, stat.version)
            .and_then(|_| multi.add_create(&child, b"", &sequential_opts()))
            .map_err(|e| KvError::Definite(format!("append to {key}: {e}")))?;
        match multi.commit().await {
            Ok(_) => Ok(Attempt::Done(())),
            Err(zk::MultiWriteError::OperationFailed { source, .. }) => {
                Ok(Attempt::Conflict(format!("append to {key}: {source}")))
            }
            Err(e) => Err(classify_multi(&format!("append to {key}"), &e)),
        }
    }

    /// One attempt at a multi-key transaction (see the module doc).
    async fn txn_once(&self, ops: &[MicroOp]) -> Result<Attempt<Vec<MicroOp>>, KvError> {
        let zk = self.zk().await?;
        let read_only = ops.iter().all(|m| m.0 == "r");
        let mut keys: Vec<&str> = Vec::new();
        for m in ops {
            if !keys.contains(&m.1.as_str()) {
                keys.push(&m.1);
            }
        }
        if self.mode == ReadMode::Sync {
            zk.sync(ROOT)
                .await
                .map_err(|e| definite(classify("sync", &e)))?;
        }
        // Pipelined: every request is sent when its future is made.
        let mut pending = Vec::with_capacity(keys.len());
        for k in &keys {
            let path = key_path(k)?;
            pending.push((k.to_string(), path.clone(), zk.get_data(&path)));
        }
        let mut found: BTreeMap<String, (String, Found)> = BTreeMap::new();
        for (k, path, fut) in pending {
            let f = match fut.await {
                Ok((data, _)) if data.is_empty() => {
                    return Err(KvError::Unsupported(format!(
                        "key {k} holds a list appended element by element (child znodes); \
                         it can only be appended to alone and read"
                    )))
                }
                Ok((data, stat)) => Found::Data(decode_value(&k, &data)?, stat.version),
                Err(zk::Error::NoNode) => Found::Absent,
                Err(e) => return Err(definite(classify("getData", &e))),
            };
            found.insert(k, (path, f));
        }
        // Evaluate the micro-ops on what was read.
        let mut state: BTreeMap<&str, Option<Value>> = found
            .iter()
            .map(|(k, (_, f))| {
                let v = match f {
                    Found::Absent => None,
                    Found::Data(v, _) => Some(v.clone()),
                };
                (k.as_str(), v)
            })
            .collect();
        let mut written: Vec<&str> = Vec::new();
        let mut out = Vec::with_capacity(ops.len());
        for MicroOp(f, k, v) in ops {
            let slot = state
                .get_mut(k.as_str())
                .ok_or_else(|| KvError::Definite(format!("key {k} was not read")))?;
            match f.as_str() {
                "r" => out.push(MicroOp(
                    f.clone(),
                    k.clone(),
                    slot.clone().unwrap_or(Value::Null),
                )),
                "w" => {
                    *slot = Some(v.clone());
                    out.push(MicroOp(f.clone(), k.clone(), v.clone()));
                }
                "append" => {
                    match slot {
                        None => *slot = Some(Value::Array(vec![v.clone()])),
                        Some(Value::Array(a)) => a.push(v.clone()),
                        Some(other) => {
                            return Err(KvError::Definite(format!(
                                "append to key {k}, which holds {other}, not a list"
                            )))
                        }
                    }
                    out.push(MicroOp(f.clone(), k.clone(), v.clone()));
                }
                other => {
                    return Err(KvError::Definite(format!("unknown micro-op {other:?}")));
                }
            }
            if f != "r" && !written.contains(&k.as_str()) {
                written.push(k);
            }
        }
        // One multi: writes at the versions read, checks for the rest.
        let mut multi = zk.new_multi_writer();
        let add = |r: Result<(), zk::Error>| {
            r.map_err(|e| KvError::Definite(format!("transaction: {e}")))
        };
        for (k, (path, f)) in &found {
            let new = if written.contains(&k.as_str()) {
                state.get(k.as_str()).cloned().flatten()
            } else {
                None
            };
            match (f, new) {
                (Found::Data(_, ver), Some(v)) => {
                    add(multi.add_set_data(path, &encode_value(&v), Some(*ver)))?
                }
                (Found::Absent, Some(v)) => {
                    add(multi.add_create(path, &encode_value(&v), &create_opts()))?
                }
                (Found::Data(_, ver), None) => add(multi.add_check_version(path, *ver))?,
                (Found::Absent, None) => {
                    // Still absent: create and delete it in the same multi.
                    add(multi.add_create(path, b"", &create_opts()))?;
                    add(multi.add_delete(path, None))?;
                }
            }
        }
        match multi.commit().await {
            Ok(_) => Ok(Attempt::Done(out)),
            Err(zk::MultiWriteError::OperationFailed {
                source: zk::Error::NoNode,
                ..
            }) if !found.is_empty() => {
                // The parent may be missing (a fresh cluster).
                Self::ensure_root(&zk).await?;
                Ok(Attempt::Conflict("transaction: NoNode".into()))
            }
            Err(zk::MultiWriteError::OperationFailed { source, .. }) => {
                Ok(Attempt::Conflict(format!("transaction: {source}")))
            }
            Err(e) if read_only => Err(definite(classify_multi("transaction", &e))),
            Err(e) => Err(classify_multi("transaction", &e)),
        }
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, KvError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Attempt<T>, KvError>>,
    {
        let mut last = String::new();
        for _ in 0..CONFLICT_RETRIES {
            match attempt().await? {
                Attempt::Done(v) => return Ok(v),
                Attempt::Conflict(c) => last = c,
            }
        }
        Err(KvError::Definite(format!(
            "{what}: still conflicting after {CONFLICT_RETRIES} attempts ({last})"
        )))
    }
}

#[async_trait::async_trait]
impl KvClient for ZooKeeperClient {
    async fn read(&self, key: &str) -> Result<Option<Value>, KvError> {
        self.bounded("read", self.read_inner(key))
            .await
            .map_err(definite)
    }

    async fn write(&self, key: &str, value: Value) -> Result<(), KvError> {
        self.bounded("write", self.write_inner(key, &value)).await
    }

    async fn cas(&self, key: &str, from: Value, to: Value) -> Result<bool, KvError> {
        self.bounded("cas", self.cas_inner(key, &from, &to)).await
    }

    async fn txn(&self, ops: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        let read_only = ops.iter().all(|m| m.0 == "r");
        let r = match ops.as_slice() {
            [MicroOp(f, k, v)] if f == "append" => {
                let (k, v) = (k.clone(), v.clone());
                self.bounded("append", self.retry("append", || self.append_child(&k, &v)))
                    .await
                    .map(|()| ops.clone())
            }
            _ => {
                self.bounded(
                    "transaction",
                    self.retry("transaction", || self.txn_once(&ops)),
                )
                .await
            }
        };
        if read_only {
            r.map_err(definite)
        } else {
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_answers_that_prove_nothing_happened_are_definite() {
        use zk::Error as E;
        for e in [
            E::NoNode,
            E::BadVersion,
            E::NodeExists,
            E::NotEmpty,
            E::NoAuth,
            E::Throttled,
            E::SessionMoved,
        ] {
            assert!(
                matches!(classify("op", &e), KvError::Definite(_)),
                "{e:?} should be definite"
            );
        }
        for e in [
            E::ConnectionLoss,
            E::SessionExpired,
            E::Timeout,
            E::ClientClosed,
            E::UnexpectedErrorCode(-7),
            E::UnexpectedError("x".into()),
        ] {
            assert!(
                matches!(classify("op", &e), KvError::Indefinite(_)),
                "{e:?} should be indefinite"
            );
        }
    }

    #[test]
    fn a_failed_multi_is_definite_unless_the_request_was_lost() {
        let answered = zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion,
        };
        assert!(matches!(
            classify_multi("t", &answered),
            KvError::Definite(_)
        ));
        let lost = zk::MultiWriteError::RequestFailed {
            source: zk::Error::ConnectionLoss,
        };
        assert!(matches!(classify_multi("t", &lost), KvError::Indefinite(_)));
        assert!(matches!(
            definite(classify_multi("t", &lost)),
            KvError::Definite(_)
        ));
    }

    #[test]
    fn values_round_trip_with_exact_numbers() {
        for v in [
            json!(1),
            json!(-7),
            json!(12345678901234567890123u128.to_string()),
            serde_json::from_str::<Value>("123456789012345678901234567890").unwrap(),
            serde_json::from_str::<Value>("1.10").unwrap(),
            json!({"balance": 10, "version": 3}),
            json!([1, 2, 3]),
            json!("spent"),
            Value::Null,
        ] {
            let back = decode_value("k", &encode_value(&v)).unwrap();
            assert_eq!(back, v);
            assert_eq!(back.to_string(), v.to_string());
        }
        assert!(matches!(
            decode_value("k", b"{not json"),
            Err(KvError::Definite(m)) if m.contains("key k")
        ));
    }

    #[test]
    fn list_elements_round_trip_through_child_names_in_sequence_order() {
        let elems = [json!(3), json!("a/b"), json!(1), json!({"x": [1.5]})];
        let mut children: Vec<String> = elems
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{}{:010}", element_prefix(v), 10 - i))
            .collect();
        children.sort();
        let mut want = elems.to_vec();
        want.reverse();
        assert_eq!(decode_children("k", &children).unwrap(), want);
        for c in [
            element_prefix(&json!(1)) + "1",
            "e31".to_string(),
            "x31-1".to_string(),
            "e3-1".to_string(),
        ] {
            let ok = c == element_prefix(&json!(1)) + "1";
            assert_eq!(decode_children("k", &[c]).is_ok(), ok);
        }
    }

    #[test]
    fn keys_become_one_path_segment() {
        assert_eq!(key_path("r0").unwrap(), "/faultline/r0");
        assert_eq!(key_path("a/b.c").unwrap(), "/faultline/a%2Fb%2Ec");
        assert_eq!(key_path("..").unwrap(), "/faultline/%2E%2E");
        assert!(matches!(key_path(""), Err(KvError::Definite(_))));
    }
}
