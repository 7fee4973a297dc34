//! `EtcdClient`: a [`KvClient`] over etcd's v3 JSON gateway (grpc-gateway,
//! `POST /v3/kv/...`), with reqwest over plain HTTP.
//!
//! ## Values
//!
//! Keys and values travel base64-encoded. A value is stored as its JSON
//! text, written canonically with `serde_json::to_string` (numbers keep
//! their exact digits: serde_json runs with `arbitrary_precision`), and read
//! back by parsing that text. `cas` compares bytes, so `from` is serialised
//! the same way as every write.
//!
//! ## Operations
//!
//! - `read`: `/v3/kv/range` with etcd's default `serializable: false`, a
//!   linearizable read (quorum ReadIndex).
//! - `write`: `/v3/kv/put`.
//! - `cas`: one `/v3/kv/txn` comparing `VALUE == from` (a `null` `from`:
//!   `CREATE == 0`, the key is absent) whose success branch puts `to`;
//!   `succeeded` is the answer.
//! - `txn`: etcd's txns cannot compute a write from a read, and `append` is
//!   a read-modify-write. A txn is therefore optimistic: one read-only
//!   `/v3/kv/txn` reads every key the micro-ops read or append to (one
//!   snapshot, with each key's `mod_revision`); the micro-ops are applied to
//!   that snapshot here (reads see earlier writes of the same txn, an append
//!   to a non-list fails the whole txn definitely, as refkv does); then one
//!   `/v3/kv/txn` commits the final values, guarded by `MOD == revision
//!   read` for each key read (0 for an absent key). When a guard fails
//!   (etcd answers `succeeded: false`, which proves nothing was written)
//!   the whole txn starts again, until the call's deadline. A read-only txn
//!   is the snapshot alone: one atomic, linearizable etcd txn.
//!
//! ## Errors
//!
//! Classification decides the soundness of the history:
//! - the request was never sent (connection refused, connect timeout, bad
//!   URL) → [`KvError::Definite`];
//! - a gRPC-gateway error body `{"error", "code", "message"}` whose code
//!   proves the request was refused before it was proposed to Raft:
//!   InvalidArgument (3), NotFound (5), AlreadyExists (6), PermissionDenied
//!   (7), ResourceExhausted (8: "too many requests", "request is too
//!   large"), FailedPrecondition (9), OutOfRange (11), Unimplemented (12),
//!   Unauthenticated (16) → [`KvError::Definite`];
//! - every other code — Unavailable (14: "request timed out", "leader
//!   changed", "no leader"), DeadlineExceeded (4), Unknown (2), Canceled
//!   (1), Aborted (10), Internal (13), DataLoss (15) — an error without a
//!   readable gateway body (a bare 5xx), an unreadable 200, or no answer
//!   after sending (timeout, connection reset) → [`KvError::Indefinite`];
//! - a failed `read`, or a failed snapshot of a `txn` (which writes
//!   nothing), is always [`KvError::Definite`]: it changed nothing.
//!
//! When in doubt, indefinite: a wrong `Definite` makes the checkers report
//! anomalies that did not happen.

use super::{KvClient, KvError, MicroOp};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::Rng;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// etcd's request timeout with the default election timeout (5 s plus two
/// election timeouts of 1 s) plus half a second, so etcd's own "request
/// timed out" arrives before the client gives up.
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(7_500);
/// How long connecting may take: a node that does not accept within this
/// fails definitely (nothing was sent).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A client of one etcd member's JSON gateway.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
}

/// The text etcd stores for `v`: its canonical JSON.
pub fn encode_value(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// The value etcd returned (base64 of JSON text), parsed.
pub fn decode_value(b64: &str) -> Result<Value, String> {
    let bytes = B64
        .decode(b64)
        .map_err(|e| format!("value is not base64 ({e}): {b64:?}"))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "value is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// A key in base64, as the gateway wants it.
fn encode_key(k: &str) -> String {
    B64.encode(k.as_bytes())
}

/// gRPC status codes that prove etcd refused the request before proposing
/// it: the op did not happen.
const DEFINITE_CODES: &[i64] = &[3, 5, 6, 7, 8, 9, 11, 12, 16];

/// Classify a failure to get any answer. Only a failure to connect proves
/// the request was never sent.
pub fn classify_send_error(e: &reqwest::Error, what: &str, base: &Url) -> KvError {
    let msg = format!("{what} on {base}: {}", error_chain(e));
    if e.is_connect() || e.is_builder() {
        KvError::Definite(msg)
    } else {
        KvError::Indefinite(msg)
    }
}

/// Classify a non-200 answer by the gateway's gRPC code; without a
/// readable gateway error body the op may have happened.
pub fn classify_error_answer(status: StatusCode, body: &[u8], what: &str, base: &Url) -> KvError {
    let parsed: Option<(i64, String)> = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let code = v.get("code")?.as_i64()?;
        let msg = v
            .get("message")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string();
        Some((code, msg))
    });
    match parsed {
        Some((code, m)) => {
            let msg = format!("{what} on {base}: {status}: {m} (gRPC code {code})");
            if DEFINITE_CODES.contains(&code) {
                KvError::Definite(msg)
            } else {
                KvError::Indefinite(msg)
            }
        }
        None => KvError::Indefinite(format!(
            "{what} on {base}: {status} without a gateway error body: {}",
            String::from_utf8_lossy(body)
        )),
    }
}

/// The error and its sources, so "connection refused" is visible.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// An error as definite: for calls that write nothing (reads, snapshots).
fn definite(e: KvError) -> KvError {
    match e {
        KvError::Indefinite(m) => KvError::Definite(m),
        other => other,
    }
}

/// One key as a snapshot saw it: its value (`None`: absent) and its
/// `mod_revision` (0: absent).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    value: Option<Value>,
    mod_revision: u64,
}

/// A number the gateway sends as a string (int64/uint64) or a number.
fn u64_field(v: &Value, field: &str) -> Option<u64> {
    match v.get(field)? {
        Value::String(s) => s.parse().ok(),
        n => n.as_u64(),
    }
}

/// The first kv of a range response, decoded.
fn seen_of_range(r: &Value) -> Result<Seen, String> {
    match r
        .get("kvs")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        None => Ok(Seen {
            value: None,
            mod_revision: 0,
        }),
        Some(kv) => {
            // An empty value is omitted by the gateway.
            let value = decode_value(kv.get("value").and_then(Value::as_str).unwrap_or(""))?;
            let mod_revision = u64_field(kv, "mod_revision")
                .ok_or_else(|| format!("kv without mod_revision: {kv}"))?;
            Ok(Seen {
                value: Some(value),
                mod_revision,
            })
        }
    }
}

/// The micro-ops applied to a snapshot: the ops with reads filled in and
/// the final value of each key written. `Err`: the txn is invalid on this
/// snapshot (an append to a non-list), so it has no effect.
#[allow(clippy::type_complexity)]
fn apply_locally(
    ops: &[MicroOp],
    snapshot: &BTreeMap<String, Seen>,
) -> Result<(Vec<MicroOp>, BTreeMap<String, Value>), KvError> {
    let mut state: BTreeMap<String, Option<Value>> = snapshot
        .iter()
        .map(|(k, s)| (k.clone(), s.value.clone()))
        .collect();
    let mut written = BTreeMap::new();
    let mut out = Vec::with_capacity(ops.len());
    for (i, MicroOp(f, key, value)) in ops.iter().enumerate() {
        let current = state.get(key).cloned().flatten();
        match f.as_str() {
            "r" => out.push(MicroOp(
                f.clone(),
                key.clone(),
                current.unwrap_or(Value::Null),
            )),
            "w" => {
                state.insert(key.clone(), Some(value.clone()));
                written.insert(key.clone(), value.clone());
                out.push(MicroOp(f.clone(), key.clone(), value.clone()));
            }
            "append" => {
                let mut list = match current {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a,
                    Some(other) => {
                        return Err(KvError::Definite(format!(
                            "ops[{i}]: cannot append to key {key:?}: it holds {other}, not a list"
                        )))
                    }
                };
                list.push(value.clone());
                let list = Value::Array(list);
                state.insert(key.clone(), Some(list.clone()));
                written.insert(key.clone(), list);
                out.push(MicroOp(f.clone(), key.clone(), value.clone()));
            }
            other => {
                return Err(KvError::Unsupported(format!(
                    "ops[{i}]: micro-op {other:?} (etcd's client knows r, w, append)"
                )))
            }
        }
    }
    Ok((out, written))
}

impl EtcdClient {
    /// A client of the member at `base_url` (`http://10.213.7.11:2379`)
    /// whose every call takes at most `timeout`; connecting takes at most
    /// [`CONNECT_TIMEOUT`] (or half of `timeout` when that is shorter).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, KvError> {
        let http = reqwest::Client::builder()
            // Only the cluster's own addresses: never a proxy.
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout / 2))
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| KvError::Definite(format!("cannot build HTTP client: {e}")))?;
        let with_scheme = if base_url.contains("://") {
            base_url.to_string()
        } else {
            format!("http://{base_url}")
        };
        let base = Url::parse(&with_scheme)
            .map_err(|e| KvError::Definite(format!("bad node URL {base_url:?}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(KvError::Definite(format!(
                "bad node URL {base_url:?}: cannot hold a path"
            )));
        }
        Ok(EtcdClient {
            http,
            base,
            timeout,
        })
    }

    /// The member's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST base/v3/<path>` with a JSON body; the 200 body as JSON, or a
    /// classified error.
    async fn post(&self, path: &str, body: &Value, what: &str) -> Result<Value, KvError> {
        let url = self
            .base
            .join(&format!("v3/{path}"))
            .map_err(|e| KvError::Definite(format!("{what} on {}: bad URL: {e}", self.base)))?;
        let resp = self
            .http
            .post(url)
            .json(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| classify_send_error(&e, what, &self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            KvError::Indefinite(format!(
                "{what} on {}: reading the {status} answer failed: {}",
                self.base,
                error_chain(&e)
            ))
        })?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&bytes).map_err(|e| {
                KvError::Indefinite(format!(
                    "{what} on {}: unreadable 200 answer ({e}): {}",
                    self.base,
                    String::from_utf8_lossy(&bytes)
                ))
            });
        }
        Err(classify_error_answer(status, &bytes, what, &self.base))
    }

    fn bad_answer(&self, what: &str, detail: impl std::fmt::Display) -> KvError {
        KvError::Indefinite(format!("{what} on {}: {detail}", self.base))
    }

    /// `POST /v3/maintenance/status`: the member's id, leader, term and raft
    /// indexes, as the gateway sends them.
    pub async fn status(&self) -> Result<Value, KvError> {
        self.post("maintenance/status", &json!({}), "status").await
    }

    /// `POST /v3/cluster/member/list`: the members, as the gateway sends them.
    pub async fn member_list(&self) -> Result<Value, KvError> {
        self.post("cluster/member/list", &json!({}), "member list")
            .await
    }

    /// One read-only etcd txn reading `keys`: a consistent, linearizable
    /// snapshot. Any error is definite (nothing was written).
    async fn snapshot(&self, keys: &BTreeSet<String>) -> Result<BTreeMap<String, Seen>, KvError> {
        let success: Vec<Value> = keys
            .iter()
            .map(|k| json!({"request_range": {"key": encode_key(k)}}))
            .collect();
        let body = self
            .post("kv/txn", &json!({ "success": success }), "txn snapshot")
            .await
            .map_err(definite)?;
        let responses = body
            .get("responses")
            .and_then(Value::as_array)
            .filter(|r| r.len() == keys.len())
            .ok_or_else(|| {
                KvError::Definite(format!(
                    "txn snapshot on {}: expected {} responses in {body}",
                    self.base,
                    keys.len()
                ))
            })?;
        let mut out = BTreeMap::new();
        for (k, r) in keys.iter().zip(responses) {
            let range = r
                .get("response_range")
                .or_else(|| r.get("responseRange"))
                .ok_or_else(|| {
                    KvError::Definite(format!("txn snapshot on {}: answer {r}", self.base))
                })?;
            let seen = seen_of_range(range).map_err(|e| {
                KvError::Definite(format!("txn snapshot on {}: key {k:?}: {e}", self.base))
            })?;
            out.insert(k.clone(), seen);
        }
        Ok(out)
    }

    /// One optimistic attempt: `Ok(Some(ops))` committed, `Ok(None)` a
    /// guard failed (nothing written), `Err` classified.
    async fn txn_attempt(&self, ops: &[MicroOp]) -> Result<Option<Vec<MicroOp>>, KvError> {
        // Keys whose value the result depends on: read or appended to.
        let guarded: BTreeSet<String> = ops
            .iter()
            .filter(|m| m.0 != "w")
            .map(|m| m.1.clone())
            .collect();
        let snapshot = if guarded.is_empty() {
            BTreeMap::new()
        } else {
            self.snapshot(&guarded).await?
        };
        let (out, written) = apply_locally(ops, &snapshot)?;
        if written.is_empty() {
            return Ok(Some(out));
        }
        let compare: Vec<Value> = snapshot
            .iter()
            .map(|(k, s)| {
                json!({
                    "key": encode_key(k),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": s.mod_revision.to_string(),
                })
            })
            .collect();
        let success: Vec<Value> = written
            .iter()
            .map(|(k, v)| json!({"request_put": {"key": encode_key(k), "value": encode_value(v)}}))
            .collect();
        let body = self
            .post(
                "kv/txn",
                &json!({"compare": compare, "success": success}),
                "txn",
            )
            .await?;
        // `succeeded: false` is left out of the answer.
        match body.get("succeeded") {
            Some(Value::Bool(true)) => Ok(Some(out)),
            None | Some(Value::Bool(false)) if body.get("header").is_some() => Ok(None),
            _ => Err(self.bad_answer("txn", format_args!("unexpected answer {body}"))),
        }
    }
}

#[async_trait::async_trait]
impl KvClient for EtcdClient {
    async fn read(&self, key: &str) -> Result<Option<Value>, KvError> {
        let body = self
            .post("kv/range", &json!({"key": encode_key(key)}), "read")
            .await
            .map_err(definite)?;
        seen_of_range(&body)
            .map(|s| s.value)
            .map_err(|e| KvError::Definite(format!("read on {}: {e}", self.base)))
    }

    async fn write(&self, key: &str, value: Value) -> Result<(), KvError> {
        let body = json!({"key": encode_key(key), "value": encode_value(&value)});
        let answer = self.post("kv/put", &body, "write").await?;
        if answer.get("header").is_some() {
            Ok(())
        } else {
            Err(self.bad_answer("write", format_args!("unexpected answer {answer}")))
        }
    }

    async fn cas(&self, key: &str, from: Value, to: Value) -> Result<bool, KvError> {
        let k = encode_key(key);
        let compare = if from.is_null() {
            json!({"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"})
        } else {
            json!({"key": k, "target": "VALUE", "result": "EQUAL", "value": encode_value(&from)})
        };
        let body = json!({
            "compare": [compare],
            "success": [{"request_put": {"key": k, "value": encode_value(&to)}}],
        });
        let answer = self.post("kv/txn", &body, "cas").await?;
        match answer.get("succeeded") {
            Some(Value::Bool(b)) => Ok(*b),
            None if answer.get("header").is_some() => Ok(false),
            _ => Err(self.bad_answer("cas", format_args!("unexpected answer {answer}"))),
        }
    }

    async fn txn(&self, ops: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        let deadline = Instant::now() + self.timeout;
        let mut conflicts: u32 = 0;
        loop {
            if let Some(out) = self.txn_attempt(&ops).await? {
                return Ok(out);
            }
            conflicts += 1;
            // Every failed guard proved that attempt wrote nothing.
            if Instant::now() >= deadline {
                return Err(KvError::Definite(format!(
                    "txn on {}: gave up after {conflicts} conflicting attempts (none took effect)",
                    self.base
                )));
            }
            // Back off a little, at random, so contending clients spread.
            let ms = rand::thread_rng().gen_range(0..=conflicts.min(20));
            tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode as Sc;
    use axum::routing::post;
    use axum::{Json, Router};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncReadExt;

    const TIMEOUT: Duration = Duration::from_millis(600);

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn values_round_trip_through_base64_json_with_exact_numbers() {
        let big: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        for v in [
            json!(1),
            json!(-7),
            json!("a b/é"),
            json!([1, 2, 3]),
            json!({"balance": 10, "version": 2}),
            json!(1.5),
            big.clone(),
        ] {
            let enc = encode_value(&v);
            assert_eq!(decode_value(&enc).unwrap(), v, "{enc}");
        }
        assert_eq!(
            String::from_utf8(B64.decode(encode_value(&big)).unwrap()).unwrap(),
            "123456789012345678901234567890"
        );
        // The same value always gives the same bytes: cas compares bytes.
        assert_eq!(encode_value(&json!(42)), encode_value(&json!(42)));
        assert!(decode_value("!!!").unwrap_err().contains("base64"));
        assert!(decode_value(&B64.encode("{nope"))
            .unwrap_err()
            .contains("JSON"));
    }

    #[test]
    fn gateway_codes_decide_definite_or_not() {
        let b = url("http://127.0.0.1:2379");
        let body = |code: i64, m: &str| json!({"error": m, "message": m, "code": code}).to_string();
        for (code, m) in [
            (3, "etcdserver: key is not provided"),
            (8, "etcdserver: too many requests"),
            (9, "etcdserver: not capable"),
            (11, "etcdserver: mvcc: required revision has been compacted"),
        ] {
            let e = classify_error_answer(Sc::BAD_REQUEST, body(code, m).as_bytes(), "write", &b);
            assert!(
                matches!(e, KvError::Definite(ref s) if s.contains(m)),
                "{e:?}"
            );
        }
        for (code, m) in [
            (14, "etcdserver: request timed out"),
            (14, "etcdserver: leader changed"),
            (14, "etcdserver: no leader"),
            (4, "context deadline exceeded"),
            (2, "unknown"),
            (13, "internal"),
            (1, "context canceled"),
        ] {
            let e = classify_error_answer(
                Sc::SERVICE_UNAVAILABLE,
                body(code, m).as_bytes(),
                "write",
                &b,
            );
            assert!(
                matches!(e, KvError::Indefinite(ref s) if s.contains(m)),
                "{e:?}"
            );
        }
        for bare in [&b""[..], b"Service Unavailable", b"{\"error\":\"x\"}"] {
            let e = classify_error_answer(Sc::BAD_GATEWAY, bare, "write", &b);
            assert!(matches!(e, KvError::Indefinite(_)), "{e:?}");
        }
    }

    #[test]
    fn local_application_follows_refkv_txn_semantics() {
        let snap: BTreeMap<String, Seen> = [
            (
                "l".to_string(),
                Seen {
                    value: Some(json!([1])),
                    mod_revision: 4,
                },
            ),
            (
                "s".to_string(),
                Seen {
                    value: Some(json!("spent")),
                    mod_revision: 5,
                },
            ),
            (
                "x".to_string(),
                Seen {
                    value: None,
                    mod_revision: 0,
                },
            ),
        ]
        .into_iter()
        .collect();
        let ops = vec![
            MicroOp::read("x"),
            MicroOp::append("l", json!(2)),
            MicroOp::read("l"),
            MicroOp::write("x", json!(3)),
            MicroOp::read("x"),
            MicroOp::append("new", json!(true)),
        ];
        let (out, written) = apply_locally(&ops, &snap).unwrap();
        assert_eq!(out[0].2, Value::Null);
        assert_eq!(out[2].2, json!([1, 2]));
        assert_eq!(out[4].2, json!(3));
        assert_eq!(written["l"], json!([1, 2]));
        assert_eq!(written["x"], json!(3));
        assert_eq!(written["new"], json!([true]));
        let bad = apply_locally(&[MicroOp::append("s", json!(true))], &snap);
        assert!(matches!(bad, Err(KvError::Definite(ref m)) if m.contains("not a list")));
        let unknown = apply_locally(&[MicroOp("del".into(), "x".into(), Value::Null)], &snap);
        assert!(matches!(unknown, Err(KvError::Unsupported(_))));
    }

    /// A tiny etcd-gateway-shaped server on 127.0.0.1: an in-memory store
    /// with revisions, honouring MOD, VALUE and CREATE compares. Keys
    /// starting with `err-` answer errors instead (see `fault`).
    #[derive(Default)]
    struct Fake {
        kv: HashMap<String, (String, u64, u64)>,
        rev: u64,
        /// Conflicts to inject: the next N commits fail their guards
        /// after another writer bumped the key.
        conflicts: u32,
    }

    fn fault(key_b64: &str) -> Option<(Sc, String)> {
        let key = String::from_utf8(B64.decode(key_b64).ok()?).ok()?;
        let gw = |sc: Sc, code: i64, m: &str| {
            Some((
                sc,
                json!({"error": m, "message": m, "code": code}).to_string(),
            ))
        };
        match key.as_str() {
            "err-timeout" => gw(Sc::SERVICE_UNAVAILABLE, 14, "etcdserver: request timed out"),
            "err-invalid" => gw(Sc::BAD_REQUEST, 3, "etcdserver: too many operations"),
            "err-bare" => Some((Sc::INTERNAL_SERVER_ERROR, String::new())),
            "err-bad-200" => Some((Sc::OK, "not json".into())),
            _ => None,
        }
    }

    fn range_answer(f: &Fake, key: &str) -> Value {
        match f.kv.get(key) {
            None => json!({"header": {"revision": f.rev.to_string()}}),
            Some((v, create, m)) => json!({
                "header": {"revision": f.rev.to_string()},
                "kvs": [{"key": key, "value": v, "create_revision": create.to_string(),
                         "mod_revision": m.to_string()}],
                "count": "1"
            }),
        }
    }

    fn put(f: &mut Fake, key: &str, value: &str) {
        f.rev += 1;
        let create = f.kv.get(key).map(|e| e.1).unwrap_or(f.rev);
        f.kv.insert(key.to_string(), (value.to_string(), create, f.rev));
    }

    fn compare_holds(f: &Fake, c: &Value) -> bool {
        let key = c["key"].as_str().unwrap_or("");
        let e = f.kv.get(key);
        let num = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
        match c["target"].as_str() {
            Some("VALUE") => e.is_some_and(|e| Some(e.0.as_str()) == c["value"].as_str()),
            Some("MOD") => num(&c["mod_revision"]) == Some(e.map_or(0, |e| e.2)),
            Some("CREATE") => num(&c["create_revision"]) == Some(e.map_or(0, |e| e.1)),
            _ => false,
        }
    }

    async fn serve(state: Arc<Mutex<Fake>>) -> String {
        let s1 = state.clone();
        let s2 = state.clone();
        let s3 = state;
        let app = Router::new()
            .route(
                "/v3/kv/range",
                post(move |Json(b): Json<Value>| async move {
                    let key = b["key"].as_str().unwrap_or("").to_string();
                    if let Some(f) = fault(&key) {
                        return f;
                    }
                    if key == B64.encode("err-slow") {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    let f = s1.lock().unwrap();
                    (Sc::OK, range_answer(&f, &key).to_string())
                }),
            )
            .route(
                "/v3/kv/put",
                post(move |Json(b): Json<Value>| async move {
                    let key = b["key"].as_str().unwrap_or("").to_string();
                    if let Some(f) = fault(&key) {
                        return f;
                    }
                    let mut f = s2.lock().unwrap();
                    put(&mut f, &key, b["value"].as_str().unwrap_or(""));
                    (Sc::OK, json!({"header": {}}).to_string())
                }),
            )
            .route(
                "/v3/kv/txn",
                post(move |Json(b): Json<Value>| async move {
                    let empty = Vec::new();
                    let compare = b["compare"].as_array().unwrap_or(&empty);
                    for c in compare {
                        if let Some(f) = fault(c["key"].as_str().unwrap_or("")) {
                            return f;
                        }
                    }
                    let mut f = s3.lock().unwrap();
                    if !compare.is_empty() && f.conflicts > 0 {
                        f.conflicts -= 1;
                        let k = compare[0]["key"].as_str().unwrap_or("").to_string();
                        let v = f.kv.get(&k).map(|e| e.0.clone()).unwrap_or_default();
                        put(&mut f, &k, &v);
                    }
                    let ok = compare.iter().all(|c| compare_holds(&f, c));
                    let mut responses = Vec::new();
                    if ok {
                        for op in b["success"].as_array().unwrap_or(&empty) {
                            if let Some(r) = op.get("request_range") {
                                let k = r["key"].as_str().unwrap_or("");
                                responses.push(json!({"response_range": range_answer(&f, k)}));
                            } else if let Some(p) = op.get("request_put") {
                                let k = p["key"].as_str().unwrap_or("").to_string();
                                put(&mut f, &k, p["value"].as_str().unwrap_or(""));
                                responses.push(json!({"response_put": {}}));
                            }
                        }
                    }
                    let mut answer = json!({"header": {"revision": f.rev.to_string()},
                                            "responses": responses});
                    if ok {
                        answer["succeeded"] = json!(true);
                    }
                    (Sc::OK, answer.to_string())
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn register_set_and_bank_calls_work_against_a_gateway() {
        let state = Arc::new(Mutex::new(Fake::default()));
        let c = EtcdClient::new(&serve(state.clone()).await, TIMEOUT).unwrap();
        assert_eq!(c.read("r").await.unwrap(), None);
        assert!(!c.cas("r", json!(1), json!(2)).await.unwrap());
        assert!(c.cas("r", Value::Null, json!(1)).await.unwrap());
        assert!(!c.cas("r", Value::Null, json!(5)).await.unwrap());
        c.write("r", json!(1)).await.unwrap();
        assert!(c.cas("r", json!(1), json!(2)).await.unwrap());
        assert!(!c.cas("r", json!(1), json!(3)).await.unwrap());
        assert_eq!(c.read("r").await.unwrap(), Some(json!(2)));
        // Appends build a list (set, counter).
        for i in 0..3 {
            c.txn(vec![MicroOp::append("s", json!(i))]).await.unwrap();
        }
        assert_eq!(c.read("s").await.unwrap(), Some(json!([0, 1, 2])));
        // A read-only txn reads a snapshot; reads see the txn's own writes.
        let out = c
            .txn(vec![
                MicroOp::read("s"),
                MicroOp::write("w", json!({"balance": 3})),
                MicroOp::read("w"),
            ])
            .await
            .unwrap();
        assert_eq!(out[0].2, json!([0, 1, 2]));
        assert_eq!(out[2].2, json!({"balance": 3}));
        // Bank's guard: append to a spent guard fails definitely, writing nothing.
        c.write("g", json!("spent")).await.unwrap();
        let before = state.lock().unwrap().rev;
        let r = c
            .txn(vec![
                MicroOp::append("g", json!(true)),
                MicroOp::write("a", json!(1)),
            ])
            .await;
        assert!(matches!(r, Err(KvError::Definite(_))), "{r:?}");
        assert_eq!(state.lock().unwrap().rev, before);
        assert_eq!(c.read("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_txn_whose_guard_fails_is_retried_on_a_fresh_snapshot() {
        let state = Arc::new(Mutex::new(Fake::default()));
        let c = EtcdClient::new(&serve(state.clone()).await, TIMEOUT).unwrap();
        c.txn(vec![MicroOp::append("s", json!(1))]).await.unwrap();
        state.lock().unwrap().conflicts = 3;
        c.txn(vec![MicroOp::append("s", json!(2))]).await.unwrap();
        assert_eq!(state.lock().unwrap().conflicts, 0);
        // Exactly one append of 2 despite three failed guards.
        assert_eq!(c.read("s").await.unwrap(), Some(json!([1, 2])));
        // Conflicts forever: gives up definitely within the deadline.
        state.lock().unwrap().conflicts = u32::MAX;
        let t0 = Instant::now();
        let r = c.txn(vec![MicroOp::append("s", json!(3))]).await;
        assert!(
            matches!(r, Err(KvError::Definite(ref m)) if m.contains("conflicting")),
            "{r:?}"
        );
        assert!(t0.elapsed() < TIMEOUT * 3, "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn error_answers_are_classified_per_call() {
        let c = EtcdClient::new(&serve(Arc::default()).await, TIMEOUT).unwrap();
        // Writes: the gRPC code decides; no body → indefinite.
        let w = c.write("err-timeout", json!(1)).await;
        assert!(matches!(w, Err(KvError::Indefinite(ref m)) if m.contains("timed out")));
        let w = c.write("err-invalid", json!(1)).await;
        assert!(matches!(w, Err(KvError::Definite(_))), "{w:?}");
        let w = c.write("err-bare", json!(1)).await;
        assert!(matches!(w, Err(KvError::Indefinite(_))), "{w:?}");
        let w = c.write("err-bad-200", json!(1)).await;
        assert!(matches!(w, Err(KvError::Indefinite(_))), "{w:?}");
        let cas = c.cas("err-timeout", json!(1), json!(2)).await;
        assert!(matches!(cas, Err(KvError::Indefinite(_))), "{cas:?}");
        // Reads change nothing: every failure is definite, and bounded.
        for key in ["err-timeout", "err-bare", "err-bad-200", "err-slow"] {
            let t0 = Instant::now();
            let r = c.read(key).await;
            assert!(matches!(r, Err(KvError::Definite(_))), "{key}: {r:?}");
            assert!(t0.elapsed() < Duration::from_secs(2));
        }
    }

    #[tokio::test]
    async fn timeout_after_sending_a_write_is_indefinite() {
        // A server that reads the request and never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                held.push(s);
            }
        });
        let c = EtcdClient::new(&format!("http://{addr}"), TIMEOUT).unwrap();
        let t0 = Instant::now();
        let r = c.write("x", json!(1)).await;
        assert!(matches!(r, Err(KvError::Indefinite(_))), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
        let r = c.txn(vec![MicroOp::write("x", json!(1))]).await;
        assert!(matches!(r, Err(KvError::Indefinite(_))), "{r:?}");
    }

    #[tokio::test]
    async fn connection_closed_after_sending_is_indefinite() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                drop(s);
            }
        });
        let c = EtcdClient::new(&format!("http://{addr}"), TIMEOUT).unwrap();
        let r = c.cas("x", json!(1), json!(2)).await;
        assert!(matches!(r, Err(KvError::Indefinite(_))), "{r:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_definite() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let c = EtcdClient::new(&format!("127.0.0.1:{}", addr.port()), TIMEOUT).unwrap();
        let r = c.write("x", json!(1)).await;
        assert!(
            matches!(r, Err(KvError::Definite(ref m)) if m.contains("write")),
            "{r:?}"
        );
        let r = c.txn(vec![MicroOp::append("x", json!(1))]).await;
        assert!(matches!(r, Err(KvError::Definite(_))), "{r:?}");
    }

    #[tokio::test]
    async fn connect_timeout_before_sending_is_definite() {
        // A listener that never accepts, its accept queue filled: SYNs are
        // dropped, so connecting hangs until the connect timeout.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = sock.local_addr().unwrap();
        let _listener = sock.listen(0).unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            if let Ok(Ok(c)) =
                tokio::time::timeout(Duration::from_millis(100), s.connect(addr)).await
            {
                fillers.push(c);
            }
        }
        let c = EtcdClient::new(&format!("http://{addr}"), TIMEOUT).unwrap();
        let r = c.write("x", json!(1)).await;
        assert!(matches!(r, Err(KvError::Definite(_))), "{r:?}");
    }
}
