//! refkv's HTTP/JSON bodies, as `docs/refkv-api.md` specifies them.
//!
//! These types are refkv's own: the node serves them ([`super::api`]) and
//! stores transactions' micro-ops in its log ([`super::kv`]); a client of
//! the protocol (faultline's `client::refkv`, or any other program) converts
//! its own types to and from them. refkv therefore knows nothing of the
//! harness that tests it.
//!
//! Contract: the JSON of every body is fixed by the protocol document, byte
//! for byte — object keys in alphabetical order (as `serde_json` writes a
//! map), `null` where a field is absent on an error. Changing a field's name
//! or order here changes the wire and the write-ahead log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One micro-operation of a transaction: `["r", key, null]`,
/// `["w", key, value]` or `["append", key, value]`. In a transaction's
/// answer a read carries the value read. Also the form a `txn` command takes
/// in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MicroOp(pub String, pub String, pub Value);

/// `PUT /kv/{key}`: the value to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// The new value.
    pub value: Value,
}

/// `POST /cas/{key}`: set the key to `to` if it holds `from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasBody {
    /// The value expected.
    pub from: Value,
    /// The value set when `from` matched.
    pub to: Value,
}

/// `POST /txn`: the micro-ops to apply atomically; also the answer, with
/// reads filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnBody {
    /// `r`, `w` and `append` micro-ops, in order.
    pub ops: Vec<MicroOp>,
}

/// The answer to `GET /kv/{key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueAnswer {
    /// The value (`null` when the key holds nothing).
    pub value: Value,
}

/// The answer to `POST /cas/{key}`: `{"ok":true}`, or `{"ok":false,"value":V}`
/// with the value the key held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CasAnswer {
    /// Whether the key held `from` (and now holds `to`).
    pub ok: bool,
    /// On a mismatch, the value the key held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// True only when the operation certainly did not take effect.
    pub definite: bool,
    /// What happened.
    #[serde(default)]
    pub error: Option<String>,
    /// The leader's name, when the node knows it.
    #[serde(default)]
    pub leader: Option<String>,
}

/// What `GET /status` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's name.
    pub id: String,
    /// `leader`, `follower`, `candidate` or `pre-candidate`.
    pub role: String,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of, if any.
    pub leader: Option<String>,
    /// The highest index known committed.
    pub commit_index: u64,
    /// The highest index applied to the state machine.
    pub applied_index: u64,
    /// The index of the last entry in this node's log (0 when empty).
    #[serde(default)]
    pub last_index: u64,
    /// The term of that entry.
    #[serde(default)]
    pub last_term: u64,
    /// The enabled bugs.
    pub bugs: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }

    /// Each body is byte for byte what the protocol's `json!` maps were.
    #[test]
    fn bodies_serialize_as_the_protocol_maps() {
        let v = json!({"a": [1, 2.50]});
        assert_eq!(
            text(&PutBody { value: v.clone() }),
            json!({ "value": v }).to_string()
        );
        assert_eq!(
            text(&CasBody {
                from: json!(1),
                to: Value::Null
            }),
            json!({"from": 1, "to": null}).to_string()
        );
        let ops = vec![
            MicroOp("r".into(), "x".into(), Value::Null),
            MicroOp("append".into(), "l".into(), json!(3)),
        ];
        assert_eq!(
            text(&TxnBody { ops: ops.clone() }),
            r#"{"ops":[["r","x",null],["append","l",3]]}"#
        );
        assert_eq!(
            text(&ValueAnswer { value: v.clone() }),
            json!({ "value": v }).to_string()
        );
        let yes = CasAnswer {
            ok: true,
            value: None,
        };
        assert_eq!(text(&yes), json!({"ok": true}).to_string());
        let no = CasAnswer {
            ok: false,
            value: Some(Value::Null),
        };
        assert_eq!(text(&no), json!({"ok": false, "value": null}).to_string());
        for leader in [None, Some("n2".to_string())] {
            let e = ErrorBody {
                definite: true,
                error: Some("no leader known".into()),
                leader: leader.clone(),
            };
            assert_eq!(
                text(&e),
                json!({"error": "no leader known", "definite": true, "leader": leader}).to_string()
            );
        }
    }

    #[test]
    fn request_bodies_reject_unknown_fields_and_errors_tolerate_missing_ones() {
        assert!(serde_json::from_str::<PutBody>(r#"{"value":1,"x":2}"#).is_err());
        let e: ErrorBody = serde_json::from_str(r#"{"definite":false}"#).unwrap();
        assert_eq!((e.error, e.leader), (None, None));
    }
}
