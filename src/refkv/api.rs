//! refkv's client API: HTTP/JSON, exactly as `docs/refkv-api.md` specifies.
//!
//! The API never touches Raft itself: it turns each HTTP request into a
//! [`Request`] for the node's core (see [`crate::refkv::server`]), and the
//! core's answer or [`CoreError`] into a response. A node that is not the
//! leader answers [`CoreError::NotLeader`]; the API then forwards the request
//! to the leader's client address (once: a forwarded request is never
//! forwarded again) and relays its answer.
//!
//! The part that matters for a checker is the error classification: every
//! error body says `definite: true` only when the operation certainly did not
//! take effect. Reads never take effect, so a failed read is always definite;
//! a write, cas or writing transaction is definite only when it was never
//! proposed to the log (not leader, no leader, bad request, overloaded) or
//! when its log slot was provably taken by another entry.

use crate::refkv::kv::{self, Command, Outcome};
use crate::refkv::wire::{
    CasAnswer, CasBody, ErrorBody, MicroOp, NodeStatus, PutBody, TxnBody, ValueAnswer,
};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The header marking a request forwarded by a follower (its value is the
/// forwarding node's name). A forwarded request is never forwarded again.
pub const FORWARDED_HEADER: &str = "x-refkv-forwarded";

/// What the API asks of the node's core.
#[derive(Debug)]
pub enum Request {
    /// Propose a state-changing command to the log and wait until applied.
    Propose(Command),
    /// A linearizable read (ReadIndex), or a local one with bug `stale-read`.
    Read(ReadQuery),
    /// The node's status.
    Status,
}

/// A read the core serves from its state machine.
#[derive(Debug, Clone)]
pub enum ReadQuery {
    /// The value of one key.
    Get(String),
    /// A transaction of `r` micro-ops only.
    Txn(Vec<MicroOp>),
}

/// The core's successful answer.
#[derive(Debug)]
pub enum Reply {
    /// A proposal was committed and applied.
    Applied(Outcome),
    /// The value of a [`ReadQuery::Get`].
    Value(Value),
    /// The filled-in micro-ops of a [`ReadQuery::Txn`].
    Ops(Vec<MicroOp>),
    /// `/status`.
    Status(NodeStatus),
}

/// Why the core could not serve a request.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// This node is not the leader; nothing was proposed. `leader` is the
    /// leader's name when known.
    NotLeader {
        /// The leader this node knows of.
        leader: Option<String>,
    },
    /// The proposal's log slot was taken by another leader's entry: it will
    /// never be applied (definite).
    Overwritten,
    /// The proposal was appended but this node cannot tell whether it took
    /// effect (a snapshot from the leader replaced the log around it):
    /// indefinite.
    OutcomeUnknown,
    /// The core's queue is full; nothing was proposed (definite).
    Overloaded,
    /// The node is shutting down; the request may have been proposed
    /// (indefinite for writes).
    ShuttingDown,
    /// Something failed inside the node (storage): indefinite.
    Internal(String),
}

/// A request to the core, with where to send its answer.
pub struct Envelope {
    /// The request.
    pub request: Request,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Reply, CoreError>>,
}

/// How the API reaches the core without blocking: a bounded queue.
pub type Submit = Arc<dyn Fn(Envelope) -> Result<(), Envelope> + Send + Sync>;

/// Everything the HTTP handlers need.
pub struct ApiState {
    /// This node's name.
    pub name: String,
    /// Every member's name → client address (`host:port`).
    pub client_addrs: HashMap<String, String>,
    /// Hands requests to the core.
    pub submit: Submit,
    /// How long a request may wait for the core (then 504).
    pub request_timeout: Duration,
    /// How long a request waits for a leader to be elected before 503.
    pub leader_wait: Duration,
    /// For forwarding to the leader.
    pub http: reqwest::Client,
}

/// An API error: status code, message, definiteness, leader hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What happened.
    pub error: String,
    /// Whether the op certainly did not take effect.
    pub definite: bool,
    /// The leader's name, when known.
    pub leader: Option<String>,
}

impl ApiError {
    fn bad_request(msg: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: msg.into(),
            definite: true,
            leader: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            definite: self.definite,
            error: Some(self.error),
            leader: self.leader,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Whether a request can change state (decides how errors are classified).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Effect {
    Read,
    Write,
}

/// Map a core error to the API error, per the definiteness rules.
fn classify(e: CoreError, effect: Effect) -> ApiError {
    let read = effect == Effect::Read;
    let (status, error, definite, leader) = match e {
        CoreError::NotLeader { leader } => (
            StatusCode::SERVICE_UNAVAILABLE,
            match &leader {
                Some(l) => format!("not the leader (the leader is {l})"),
                None => "no leader known".to_string(),
            },
            true,
            leader,
        ),
        CoreError::Overwritten => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the proposal was overwritten by another leader's entry and will never apply".into(),
            true,
            None,
        ),
        CoreError::OutcomeUnknown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the proposal's fate is unknown here (a snapshot replaced the log); it may have been committed".into(),
            read,
            None,
        ),
        CoreError::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "node overloaded: request queue full".into(),
            true,
            None,
        ),
        CoreError::ShuttingDown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "node shutting down".into(),
            read,
            None,
        ),
        CoreError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m, read, None),
    };
    ApiError {
        status,
        error,
        definite,
        leader,
    }
}

/// Build the router of the client API.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/kv/{key}", get(get_kv).put(put_kv))
        .route("/cas/{key}", post(cas))
        .route("/txn", post(txn))
        .route("/status", get(status))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                error: "no such endpoint (see docs/refkv-api.md)".into(),
                definite: true,
                leader: None,
            }
        })
        .with_state(state)
}

/// Why [`ask`] got no reply.
enum Failure {
    Core(CoreError),
    Timeout,
}

impl Failure {
    fn into_api(self, st: &ApiState, effect: Effect) -> ApiError {
        match self {
            Failure::Core(e) => classify(e, effect),
            Failure::Timeout => ApiError {
                status: StatusCode::GATEWAY_TIMEOUT,
                error: format!(
                    "{} timed out after {} ms waiting for the cluster",
                    st.name,
                    st.request_timeout.as_millis()
                ),
                definite: effect == Effect::Read,
                leader: None,
            },
        }
    }
}

/// Submit one request to the core and wait for its answer.
async fn ask(st: &ApiState, request: Request) -> Result<Reply, Failure> {
    let (tx, rx) = oneshot::channel();
    if (st.submit)(Envelope { request, reply: tx }).is_err() {
        return Err(Failure::Core(CoreError::Overloaded));
    }
    match tokio::time::timeout(st.request_timeout, rx).await {
        Ok(Ok(Ok(reply))) => Ok(reply),
        Ok(Ok(Err(e))) => Err(Failure::Core(e)),
        Ok(Err(_)) => Err(Failure::Core(CoreError::ShuttingDown)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// Run `request` on this node if it leads; else forward the original HTTP
/// request to the leader (unless it was already forwarded). While no leader
/// is known, retry for up to `leader_wait` (nothing was proposed yet, so a
/// retry is safe).
async fn serve(
    st: &ApiState,
    make: impl Fn() -> Request,
    effect: Effect,
    fwd: Forward<'_>,
) -> Result<Reply, Response> {
    let deadline = tokio::time::Instant::now() + st.leader_wait;
    loop {
        match ask(st, make()).await {
            Ok(r) => return Ok(r),
            Err(Failure::Core(CoreError::NotLeader { leader })) => match leader {
                Some(l) if l != st.name && !fwd.already_forwarded() => {
                    match forward(st, &l, &fwd, effect).await {
                        // The leader this node knows is unreachable (maybe
                        // dead, about to be replaced): nothing was sent, so
                        // asking again until `leader_wait` is safe.
                        Forwarded::NotSent(_) if tokio::time::Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Forwarded::NotSent(r) | Forwarded::Answer(r) => return Err(r),
                    }
                }
                None if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                leader => {
                    return Err(classify(CoreError::NotLeader { leader }, effect).into_response())
                }
            },
            Err(f) => return Err(f.into_api(st, effect).into_response()),
        }
    }
}

/// The parts of the original request needed to forward it.
struct Forward<'a> {
    method: Method,
    path: String,
    headers: &'a HeaderMap,
    body: Bytes,
}

impl Forward<'_> {
    fn already_forwarded(&self) -> bool {
        self.headers.contains_key(FORWARDED_HEADER)
    }
}

/// What forwarding gave.
enum Forwarded {
    /// The request never left this node (the error response to give).
    NotSent(Response),
    /// The leader's answer, or an error after sending.
    Answer(Response),
}

/// Forward to the leader `leader` and relay its answer. A failure to connect
/// means the request was never sent (definite); any later failure is
/// indefinite for writes.
async fn forward(st: &ApiState, leader: &str, fwd: &Forward<'_>, effect: Effect) -> Forwarded {
    let Some(addr) = st.client_addrs.get(leader) else {
        return Forwarded::NotSent(
            classify(
                CoreError::NotLeader {
                    leader: Some(leader.to_string()),
                },
                effect,
            )
            .into_response(),
        );
    };
    let url = format!("http://{addr}{}", fwd.path);
    let req = st
        .http
        .request(fwd.method.clone(), &url)
        .header(FORWARDED_HEADER, &st.name)
        .header("content-type", "application/json")
        .timeout(st.request_timeout + Duration::from_millis(500))
        .body(fwd.body.clone());
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let definite = effect == Effect::Read || e.is_connect();
            let (status, what) = if e.is_timeout() {
                (StatusCode::GATEWAY_TIMEOUT, "timed out")
            } else if e.is_connect() {
                (StatusCode::SERVICE_UNAVAILABLE, "could not connect")
            } else {
                (StatusCode::INTERNAL_SERVER_ERROR, "failed")
            };
            let r = ApiError {
                status,
                error: format!("forwarding to the leader {leader} at {addr} {what}: {e}"),
                definite,
                leader: Some(leader.to_string()),
            }
            .into_response();
            return if e.is_connect() {
                Forwarded::NotSent(r)
            } else {
                Forwarded::Answer(r)
            };
        }
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    Forwarded::Answer(match resp.bytes().await {
        Ok(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: format!("reading the leader {leader}'s answer failed: {e}"),
            definite: effect == Effect::Read,
            leader: Some(leader.to_string()),
        }
        .into_response(),
    })
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("bad {what} body: {e}")))
}

/// The key of a `/kv/{key}` or `/cas/{key}` request, as axum decoded it.
fn key_of(key: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    key.map(|Path(k)| k)
        .map_err(|e| ApiError::bad_request(format!("bad key: {e}")))
}

/// A write to one key (`PUT /kv/{key}`, `POST /cas/{key}`) decoded: its
/// key, its body, and how to forward it to the leader.
fn keyed_write<'a, B: for<'de> Deserialize<'de>>(
    key: Result<Path<String>, PathRejection>,
    method: Method,
    route: &str,
    headers: &'a HeaderMap,
    body: Bytes,
) -> Result<(String, B, Forward<'a>), ApiError> {
    let key = key_of(key)?;
    let b: B = parse_body(&body, &format!("{method} /{route}"))?;
    let fwd = Forward {
        method,
        path: format!("/{route}/{}", encode_key(&key)),
        headers,
        body,
    };
    Ok((key, b, fwd))
}

fn unexpected(r: Reply) -> Response {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: format!("internal: unexpected reply {r:?}"),
        definite: false,
        leader: None,
    }
    .into_response()
}

/// Proposes `cmd` to the log here, or forwards the request to the leader.
async fn propose(st: &ApiState, cmd: Command, fwd: Forward<'_>) -> Result<Reply, Response> {
    serve(
        st,
        move || Request::Propose(cmd.clone()),
        Effect::Write,
        fwd,
    )
    .await
}

/// The response to a served request, the one shape every handler ends
/// with: `answer` gives the body of the reply the route expects (`None` for
/// any other); a command the state machine rejected had no effect (400);
/// any other reply is an internal error.
fn respond(
    served: Result<Reply, Response>,
    answer: impl FnOnce(&Reply) -> Option<Response>,
) -> Response {
    match served {
        Err(resp) => resp,
        Ok(Reply::Applied(Outcome::Rejected(m))) => {
            ApiError::bad_request(format!("no effect: {m}")).into_response()
        }
        Ok(r) => answer(&r).unwrap_or_else(|| unexpected(r)),
    }
}

async fn get_kv(
    State(st): State<Arc<ApiState>>,
    key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = key_of(key)?;
    let fwd = Forward {
        method: Method::GET,
        path: format!("/kv/{}", encode_key(&key)),
        headers: &headers,
        body: Bytes::new(),
    };
    let read = move || Request::Read(ReadQuery::Get(key.clone()));
    let served = serve(&st, read, Effect::Read, fwd).await;
    Ok(respond(served, |r| match r {
        Reply::Value(v) => Some(Json(ValueAnswer { value: v.clone() }).into_response()),
        _ => None,
    }))
}

async fn put_kv(
    State(st): State<Arc<ApiState>>,
    key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (key, b, fwd) = keyed_write::<PutBody>(key, Method::PUT, "kv", &headers, body)?;
    let cmd = Command::Write {
        key,
        value: b.value,
    };
    Ok(respond(propose(&st, cmd, fwd).await, |r| match r {
        Reply::Applied(Outcome::Written) => Some(Json(json!({})).into_response()),
        _ => None,
    }))
}

async fn cas(
    State(st): State<Arc<ApiState>>,
    key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (key, b, fwd) = keyed_write::<CasBody>(key, Method::POST, "cas", &headers, body)?;
    let cmd = Command::Cas {
        key,
        from: b.from,
        to: b.to,
    };
    Ok(respond(propose(&st, cmd, fwd).await, |r| match r {
        Reply::Applied(Outcome::Cas { ok, current }) => {
            // `{"ok":true}`, or `{"ok":false,"value":V}` with what the key held.
            let value = (!ok).then(|| current.clone());
            Some(Json(CasAnswer { ok: *ok, value }).into_response())
        }
        _ => None,
    }))
}

async fn txn(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: TxnBody = parse_body(&body, "POST /txn")?;
    kv::validate_ops(&b.ops).map_err(ApiError::bad_request)?;
    let fwd = Forward {
        method: Method::POST,
        path: "/txn".into(),
        headers: &headers,
        body,
    };
    let ops = b.ops;
    let served = if kv::is_read_only(&ops) {
        let read = move || Request::Read(ReadQuery::Txn(ops.clone()));
        serve(&st, read, Effect::Read, fwd).await
    } else {
        propose(&st, Command::Txn { ops }, fwd).await
    };
    Ok(respond(served, |r| match r {
        Reply::Applied(Outcome::Txn(ops)) | Reply::Ops(ops) => {
            Some(Json(TxnBody { ops: ops.clone() }).into_response())
        }
        _ => None,
    }))
}

async fn status(State(st): State<Arc<ApiState>>) -> Response {
    match ask(&st, Request::Status).await {
        Ok(Reply::Status(s)) => Json(s).into_response(),
        Ok(r) => unexpected(r),
        Err(f) => f.into_api(&st, Effect::Read).into_response(),
    }
}

/// Percent-encode a key for a path segment (axum decoded it).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_for_forwarding() {
        assert_eq!(encode_key("abc-1_2.3~"), "abc-1_2.3~");
        assert_eq!(encode_key("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_key("é"), "%C3%A9");
    }

    #[test]
    fn writes_are_indefinite_once_proposed_reads_never() {
        let lost = classify(CoreError::OutcomeUnknown, Effect::Write);
        assert!(!lost.definite);
        assert!(classify(CoreError::OutcomeUnknown, Effect::Read).definite);
        assert!(!classify(CoreError::Internal("disk".into()), Effect::Write).definite);
        assert!(!classify(CoreError::ShuttingDown, Effect::Write).definite);
    }

    #[test]
    fn never_proposed_is_definite() {
        let nl = classify(
            CoreError::NotLeader {
                leader: Some("n2".into()),
            },
            Effect::Write,
        );
        assert!(nl.definite);
        assert_eq!(nl.leader.as_deref(), Some("n2"));
        assert_eq!(nl.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(classify(CoreError::Overloaded, Effect::Write).definite);
        assert!(classify(CoreError::Overwritten, Effect::Write).definite);
    }
}
