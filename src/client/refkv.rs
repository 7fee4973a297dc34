//! `RefKvClient`: a [`KvClient`] over refkv's HTTP/JSON API
//! (`docs/refkv-api.md`), usable against any server speaking that protocol.
//!
//! One `reqwest::Client` (a connection pool) is shared by every clone of a
//! `RefKvClient`; every call is bounded by the client's timeout.
//!
//! Error classification is what makes the history sound:
//! - the request was never sent (connection refused, name resolution failed,
//!   connect timeout, bad URL) → [`KvError::Definite`];
//! - the server answered with `definite: true` → [`KvError::Definite`];
//! - the server answered with `definite: false`, an error without a readable
//!   body (e.g. a bare 5xx), a 200 whose body cannot be read, or no answer at
//!   all after the request was sent (timeout, connection reset) →
//!   [`KvError::Indefinite`].
//!
//! Whenever the request might have reached the server, the answer is
//! indefinite: a wrong `Definite` would make the checkers unsound.
//!
//! The bodies on the wire are refkv's own types ([`crate::refkv::wire`]);
//! this client converts the workloads' [`MicroOp`] to and from them.

use super::{KvClient, KvError, MicroOp};
use crate::refkv::wire::{self, CasBody, ErrorBody, PutBody, TxnBody};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use std::time::Duration;

/// A client of one refkv node (or any server speaking its protocol).
#[derive(Debug, Clone)]
pub struct RefKvClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
}

impl From<MicroOp> for wire::MicroOp {
    fn from(MicroOp(f, key, value): MicroOp) -> Self {
        wire::MicroOp(f, key, value)
    }
}

impl From<wire::MicroOp> for MicroOp {
    fn from(wire::MicroOp(f, key, value): wire::MicroOp) -> Self {
        MicroOp(f, key, value)
    }
}

impl RefKvClient {
    /// A client of the node at `base_url` (`http://10.213.7.10:8080`; a
    /// missing `http://` is added) whose every call takes at most `timeout`.
    /// Connecting is bounded by half of `timeout`, so a node that cannot be
    /// reached fails definitely before the whole call times out.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, KvError> {
        let http = reqwest::Client::builder()
            // Never go through a proxy from the environment: only the
            // cluster's own addresses may be contacted.
            .no_proxy()
            .connect_timeout(timeout / 2)
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| KvError::Definite(format!("cannot build HTTP client: {e}")))?;
        RefKvClient::with_http(http, base_url, timeout)
    }

    /// A client of the node at `base_url` sharing an existing connection pool
    /// (build it with `no_proxy()` and a `connect_timeout` below `timeout`).
    pub fn with_http(
        http: reqwest::Client,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Self, KvError> {
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
        Ok(RefKvClient {
            http,
            base,
            timeout,
        })
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `base/segments...`, each segment percent-encoded (keys may hold `/`).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// Send one request and return the 200 body as JSON, or a classified error.
    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, KvError> {
        let resp = req
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| classify_send_error(&e, what, &self.base))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            KvError::Indefinite(format!(
                "{what} on {}: reading the {status} answer failed: {e}",
                self.base
            ))
        })?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&body).map_err(|e| {
                KvError::Indefinite(format!(
                    "{what} on {}: unreadable 200 answer ({e}): {}",
                    self.base,
                    String::from_utf8_lossy(&body)
                ))
            });
        }
        Err(classify_error_answer(status, &body, what, &self.base))
    }

    /// `GET /status`: the node's view of the cluster (`id`, `role`, `term`,
    /// `leader`, `commit_index`, `applied_index`, `bugs`), as JSON.
    pub async fn status(&self) -> Result<Value, KvError> {
        self.call(self.http.get(self.url(&["status"])), "status")
            .await
    }

    fn indefinite_shape(&self, what: &str, body: &Value) -> KvError {
        KvError::Indefinite(format!("{what} on {}: unexpected answer {body}", self.base))
    }
}

/// Classify a failure to get any answer. Only a failure to *connect* proves
/// the request was never sent.
fn classify_send_error(e: &reqwest::Error, what: &str, base: &Url) -> KvError {
    let msg = format!("{what} on {base}: {}", error_chain(e));
    if e.is_connect() || e.is_builder() {
        KvError::Definite(msg)
    } else {
        KvError::Indefinite(msg)
    }
}

/// Classify a non-200 answer by its `definite` field; without a readable
/// refkv error body the op may have happened.
fn classify_error_answer(status: StatusCode, body: &[u8], what: &str, base: &Url) -> KvError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => {
            let mut msg = format!(
                "{what} on {base}: {status}: {}",
                e.error.as_deref().unwrap_or("no message")
            );
            if let Some(l) = e.leader {
                msg.push_str(&format!(" (leader {l})"));
            }
            if e.definite {
                KvError::Definite(msg)
            } else {
                KvError::Indefinite(msg)
            }
        }
        Err(_) => KvError::Indefinite(format!(
            "{what} on {base}: {status} without a refkv error body: {}",
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

#[async_trait::async_trait]
impl KvClient for RefKvClient {
    async fn read(&self, key: &str) -> Result<Option<Value>, KvError> {
        let body = self
            .call(self.http.get(self.url(&["kv", key])), "read")
            .await?;
        match body.get("value") {
            Some(Value::Null) => Ok(None),
            Some(v) => Ok(Some(v.clone())),
            None => Err(self.indefinite_shape("read", &body)),
        }
    }

    async fn write(&self, key: &str, value: Value) -> Result<(), KvError> {
        let req = self
            .http
            .put(self.url(&["kv", key]))
            .json(&PutBody { value });
        self.call(req, "write").await.map(|_| ())
    }

    async fn cas(&self, key: &str, from: Value, to: Value) -> Result<bool, KvError> {
        let req = self
            .http
            .post(self.url(&["cas", key]))
            .json(&CasBody { from, to });
        let body = self.call(req, "cas").await?;
        match body.get("ok") {
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(self.indefinite_shape("cas", &body)),
        }
    }

    async fn txn(&self, ops: Vec<MicroOp>) -> Result<Vec<MicroOp>, KvError> {
        let n = ops.len();
        let ops = ops.into_iter().map(wire::MicroOp::from).collect();
        let req = self.http.post(self.url(&["txn"])).json(&TxnBody { ops });
        let body = self.call(req, "txn").await?;
        match body
            .get("ops")
            .cloned()
            .map(serde_json::from_value::<Vec<wire::MicroOp>>)
        {
            Some(Ok(out)) if out.len() == n => Ok(out.into_iter().map(MicroOp::from).collect()),
            _ => Err(self.indefinite_shape("txn", &body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Path;
    use axum::http::StatusCode as Sc;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;
    use tokio::io::AsyncReadExt;

    const TIMEOUT: Duration = Duration::from_millis(500);

    fn err(status: u16, definite: bool) -> (Sc, String) {
        let body = json!({"error": "test", "definite": definite, "leader": "n2"});
        (
            Sc::from_u16(status).unwrap_or(Sc::INTERNAL_SERVER_ERROR),
            body.to_string(),
        )
    }

    /// A tiny refkv-shaped server on 127.0.0.1 whose key picks the answer.
    async fn serve() -> String {
        let app = Router::new()
            .route(
                "/kv/{key}",
                get(|Path(key): Path<String>| async move {
                    match key.as_str() {
                        "definite" => err(503, true),
                        "indefinite" => err(504, false),
                        "definite-500" => err(500, true),
                        "bare-500" => (Sc::INTERNAL_SERVER_ERROR, String::new()),
                        "bare-503" => (Sc::SERVICE_UNAVAILABLE, "busy".to_string()),
                        "bad-200" => (Sc::OK, "not json".to_string()),
                        "slow" => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            (Sc::OK, r#"{"value":1}"#.to_string())
                        }
                        "absent" => (Sc::OK, r#"{"value":null}"#.to_string()),
                        // Echo the decoded key: proves percent-encoding.
                        k => (Sc::OK, json!({ "value": k }).to_string()),
                    }
                })
                .put(|| async { Json(json!({})) }),
            )
            .route(
                "/cas/{key}",
                post(|Json(b): Json<Value>| async move {
                    if b["from"] == json!(1) {
                        Json(json!({"ok": true}))
                    } else {
                        Json(json!({"ok": false, "value": 1}))
                    }
                }),
            )
            .route(
                "/status",
                get(|| async { Json(json!({"id": "n1", "role": "leader", "leader": "n1"})) }),
            )
            .route(
                "/txn",
                post(|Json(mut b): Json<Value>| async move {
                    if let Some(ops) = b["ops"].as_array_mut() {
                        for op in ops {
                            if op[0] == "r" {
                                op[2] = json!(7);
                            }
                        }
                    }
                    Json(b)
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
    async fn successful_calls_decode_refkv_answers() {
        let c = RefKvClient::new(&serve().await, TIMEOUT).unwrap();
        assert_eq!(c.read("a/b c").await.unwrap(), Some(json!("a/b c")));
        assert_eq!(c.read("absent").await.unwrap(), None);
        c.write("x", json!(3)).await.unwrap();
        assert!(c.cas("x", json!(1), json!(2)).await.unwrap());
        assert!(!c.cas("x", json!(5), json!(2)).await.unwrap());
        let out = c
            .txn(vec![MicroOp::read("x"), MicroOp::write("y", json!(1))])
            .await
            .unwrap();
        assert_eq!(out[0], MicroOp("r".into(), "x".into(), json!(7)));
        assert_eq!(out[1], MicroOp::write("y", json!(1)));
        assert_eq!(c.status().await.unwrap()["leader"], "n1");
    }

    #[tokio::test]
    async fn error_answers_are_classified_by_their_definite_field() {
        let c = RefKvClient::new(&serve().await, TIMEOUT).unwrap();
        let r = c.read("definite").await;
        assert!(
            matches!(r, Err(KvError::Definite(ref m)) if m.contains("leader n2")),
            "{r:?}"
        );
        // The body, not the status code, decides.
        for (key, definite) in [("definite-500", true), ("indefinite", false)] {
            assert_read_fails(&c, key, definite).await;
        }
    }

    /// Reading `key` fails, definitely or not as `definite` says.
    async fn assert_read_fails(c: &RefKvClient, key: &str, definite: bool) {
        match c.read(key).await {
            Err(KvError::Definite(_)) if definite => {}
            Err(KvError::Indefinite(_)) if !definite => {}
            r => panic!("read {key}: {r:?}, expected definite={definite}"),
        }
    }

    #[tokio::test]
    async fn answers_without_a_refkv_body_are_indefinite() {
        let c = RefKvClient::new(&serve().await, TIMEOUT).unwrap();
        for key in ["bare-500", "bare-503", "bad-200"] {
            assert_read_fails(&c, key, false).await;
        }
    }

    #[tokio::test]
    async fn timeout_after_sending_is_indefinite_and_bounded() {
        let c = RefKvClient::new(&serve().await, TIMEOUT).unwrap();
        let t0 = std::time::Instant::now();
        let r = c.read("slow").await;
        assert!(matches!(r, Err(KvError::Indefinite(_))), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn connection_refused_is_definite() {
        // Bind then drop: nothing listens on that port any more.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let c = RefKvClient::new(&format!("127.0.0.1:{}", addr.port()), TIMEOUT).unwrap();
        let r = c.write("x", json!(1)).await;
        assert!(
            matches!(r, Err(KvError::Definite(ref m)) if m.contains("write")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn connect_timeout_before_sending_is_definite() {
        // A listener that never accepts, with its accept queue filled: the
        // kernel drops further SYNs, so connecting hangs until the connect
        // timeout (half the call's timeout).
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
        let c = RefKvClient::new(&format!("http://{addr}"), TIMEOUT).unwrap();
        let t0 = std::time::Instant::now();
        let r = c.write("x", json!(1)).await;
        assert!(matches!(r, Err(KvError::Definite(_))), "{r:?}");
        assert!(t0.elapsed() >= TIMEOUT / 2, "it was the connect timeout");
    }

    #[tokio::test]
    async fn connection_closed_after_sending_is_indefinite() {
        // A server that reads the request, then hangs up without answering.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                drop(s);
            }
        });
        let c = RefKvClient::new(&format!("http://{addr}"), TIMEOUT).unwrap();
        let r = c.write("x", json!(1)).await;
        assert!(matches!(r, Err(KvError::Indefinite(_))), "{r:?}");
    }

    #[test]
    fn bad_base_url_is_rejected_with_its_text() {
        let r = RefKvClient::new("http://[::1", TIMEOUT);
        assert!(
            matches!(r, Err(KvError::Definite(ref m)) if m.contains("[::1")),
            "{r:?}"
        );
    }
}
