//! Jepsen's op keys: an op map (EDN converted to JSON) → an [`Op`].
//!
//! Shared by the importers whose files hold op maps or op fields
//! ([`super::jepsen_edn`], [`super::jepsen_log`], [`super::porcupine`]).
//! Errors are messages without a place; the importer adds `FILE:LINE`.

use crate::history::{Key, Op, OpType, Process};
use serde_json::{Map, Value};

/// Builds an op from a map with Jepsen's op keys (`type`, `process`, `f`,
/// optional `key`, `value`, `time`, `node`, `error`; `index` and any other
/// key ignored). Used by the EDN-based importers after EDN → JSON conversion.
pub(crate) fn op_from_map(map: &Map<String, Value>) -> Result<Op, String> {
    let kind = match map.get("type") {
        None => return Err("op has no :type".into()),
        Some(Value::String(s)) => match s.as_str() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            other => {
                return Err(format!(
                    ":type must be :invoke, :ok, :fail or :info, not :{other}"
                ))
            }
        },
        Some(v) => {
            return Err(format!(
                ":type must be :invoke, :ok, :fail or :info, not {v}"
            ))
        }
    };
    let process = match map.get("process") {
        None => return Err("op has no :process".into()),
        Some(v) => process_from_value(v)?,
    };
    let f = match map.get("f") {
        None => return Err("op has no :f".into()),
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Number(_)) => v.to_string(),
        Some(v) => return Err(format!(":f must be a keyword or string, not {v}")),
    };
    let key = match map.get("key") {
        None | Some(Value::Null) => None,
        Some(v) => Some(key_from_value(v)?),
    };
    let time = match map.get("time") {
        None | Some(Value::Null) => 0,
        Some(v) => time_from_value(v)?,
    };
    let node = match map.get("node") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
    };
    let error = match map.get("error") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    Ok(Op {
        index: 0,
        kind,
        process,
        f,
        key,
        value: map.get("value").cloned().unwrap_or(Value::Null),
        time,
        node,
        error,
    })
}

/// `:process` → [`Process`]: a non-negative integer or `:nemesis`.
pub(crate) fn process_from_value(v: &Value) -> Result<Process, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(Process::Client)
            .ok_or_else(|| format!(":process must be a non-negative integer or :nemesis, not {n}")),
        Value::String(s) if s == "nemesis" => Ok(Process::Nemesis),
        other => Err(format!(
            ":process must be a non-negative integer or :nemesis, not {other}"
        )),
    }
}

/// `:key` → [`Key`]: an integer stays a number, a string or keyword a string.
pub(crate) fn key_from_value(v: &Value) -> Result<Key, String> {
    match v {
        Value::String(s) => Ok(Key::Str(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(Key::Int)
            .ok_or_else(|| format!(":key {n} is not an integer or a string")),
        other => Err(format!(
            ":key must be an integer, string or keyword, not {other}"
        )),
    }
}

/// `:time` → nanoseconds: a non-negative number (a float is truncated).
pub(crate) fn time_from_value(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => {
            if let Some(t) = n.as_u64() {
                Ok(t)
            } else if let Some(f) = n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()) {
                Ok(f as u64)
            } else {
                Err(format!(":time must be non-negative nanoseconds, not {n}"))
            }
        }
        other => Err(format!(
            ":time must be a number of nanoseconds, not {other}"
        )),
    }
}
