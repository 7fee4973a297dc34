//! The compact data of the per-process op timeline: a JSON header (process
//! rows, `f` names, node names, fault bands, phases, truncated values and
//! errors) and a base64 stream of LEB128 varints, seven per client op in
//! invoke-time order:
//!
//! 1. the row: the worker (`process mod threads`, Jepsen's convention: a
//!    worker whose op ends `info` goes on as `process + threads`) when the
//!    number of worker threads is known, else the process;
//! 2. the start, as a zigzag delta from the previous op's start (in axis
//!    units);
//! 3. the duration (to the end of the history for an op never completed);
//! 4. `kind | f_id << 2` (kind 0 ok, 1 fail, 2 info, 3 pending);
//! 5. the invoke's history index, as a zigzag delta from the previous op's;
//! 6. the node (0: none, `k`: `nodes[k - 1]`);
//! 7. the generation: the process is `row + generation * threads` (0 when
//!    rows are processes).
//!
//! The axis is µs since the first op (or, when the history has no times at
//! all, e.g. a Porcupine log, the op index). About 7 bytes per op before
//! base64 (about 9 bytes each); the stream is deflated before base64
//! ([`deflate`]), so a million ops take a few MB; values for the tooltip are
//! kept, truncated to [`VALUE_CHARS`] characters, for as many ops as fit in
//! [`VALUE_BUDGET`] bytes, and the page says so for the others.

use super::escape::script_json;
use crate::history::{History, Op, OpType};
use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use serde_json::{json, Value};
use std::collections::HashMap;

/// At most this many characters of a value or error are kept per op.
pub const VALUE_CHARS: usize = 64;
/// At most this many bytes of value text are embedded in all.
pub const VALUE_BUDGET: usize = 4_000_000;

/// `s`, cut to `max` characters with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A value as one line of text: strings without their quotes, `null` as
/// empty.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` compressed as raw deflate (RFC 1951), which the page inflates
/// with `DecompressionStream("deflate-raw")`: the varint stream of a
/// million ops shrinks to about a third.
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Standard base64 (with padding) of `bytes`, appended to `out`.
pub fn base64_into(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(B64[((n >> shift) & 63) as usize] as char);
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let b1 = rest.get(1).copied().unwrap_or(0);
        let n = (u32::from(rest[0]) << 16) | (u32::from(b1) << 8);
        out.push(B64[((n >> 18) & 63) as usize] as char);
        out.push(B64[((n >> 12) & 63) as usize] as char);
        out.push(if rest.len() == 2 {
            B64[((n >> 6) & 63) as usize] as char
        } else {
            '='
        });
        out.push('=');
    }
}

/// The two `<script>` elements the timeline script reads: `#tl-meta`
/// (JSON, `<` escaped) and `#tl-data` (base64), appended to `out`.
/// `threads`: the number of worker threads, when known (rows are then
/// workers). Returns the number of client ops drawn and how many keep
/// their value.
pub fn embed(
    out: &mut String,
    history: &History,
    intervals: &[FaultInterval],
    phases: &[Phase],
    threads: Option<usize>,
) -> (usize, usize) {
    let threads = threads.filter(|t| *t > 0).map(|t| t as u64);
    // Client ops paired invoke → completion, tolerating a malformed
    // history (a completion without invoke is skipped).
    let mut open: HashMap<crate::history::Process, usize> = HashMap::new();
    let mut pairs: Vec<(&Op, Option<&Op>)> = Vec::new();
    for op in history.ops.iter().filter(|o| o.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, pairs.len());
            pairs.push((op, None));
        } else if let Some(i) = open.remove(&op.process) {
            pairs[i].1 = Some(op);
        }
    }
    let timed = history.ops.iter().any(|o| o.time != 0);
    let (t0, scale) = if timed {
        (
            pairs.iter().map(|(i, _)| i.time).min().unwrap_or(0),
            1000u64,
        )
    } else {
        (0, 1)
    };
    let at = |op: &Op| -> u64 {
        if timed {
            op.time.saturating_sub(t0) / scale
        } else {
            op.index
        }
    };
    pairs.sort_by_key(|(i, _)| at(i));
    let tmax = pairs
        .iter()
        .map(|(i, c)| c.map_or(at(i), at))
        .max()
        .unwrap_or(0)
        .max(history.ops.last().map_or(0, |o| {
            if timed {
                o.time.saturating_sub(t0) / scale
            } else {
                o.index
            }
        }));

    // Rows: workers when the thread count is known (every client process
    // a number), else processes.
    let numbers: Option<Vec<u64>> = pairs
        .iter()
        .map(|(i, _)| match i.process {
            crate::history::Process::Client(n) => Some(n),
            crate::history::Process::Nemesis => None,
        })
        .collect();
    let by_worker = threads.filter(|_| numbers.is_some());
    let mut procs: Vec<crate::history::Process> = pairs.iter().map(|(i, _)| i.process).collect();
    if let (Some(t), Some(ns)) = (by_worker, &numbers) {
        procs = ns
            .iter()
            .map(|n| crate::history::Process::Client(n % t))
            .collect();
    }
    procs.sort();
    procs.dedup();
    let row_of: HashMap<crate::history::Process, u64> = procs
        .iter()
        .enumerate()
        .map(|(r, p)| (*p, r as u64))
        .collect();
    let place = |p: crate::history::Process| -> (u64, u64) {
        match (by_worker, p) {
            (Some(t), crate::history::Process::Client(n)) => {
                (row_of[&crate::history::Process::Client(n % t)], n / t)
            }
            _ => (row_of[&p], 0),
        }
    };
    let mut fs: Vec<String> = Vec::new();
    let mut f_of: HashMap<&str, u64> = HashMap::new();
    let mut nodes: Vec<String> = Vec::new();
    let mut node_of: HashMap<&str, u64> = HashMap::new();
    let mut vals: Vec<String> = Vec::new();
    let mut budget = VALUE_BUDGET;
    let mut values_full = false;
    let mut errs = serde_json::Map::new();
    let mut errs_budget = VALUE_BUDGET / 4;

    let mut bytes: Vec<u8> = Vec::with_capacity(pairs.len() * 8);
    let (mut prev_start, mut prev_index) = (0i64, 0u64);
    for (n, (inv, comp)) in pairs.iter().enumerate() {
        let start = at(inv);
        let end = comp.map_or(tmax, |c| at(c).max(start));
        let kind = match comp.map(|c| c.kind) {
            Some(OpType::Ok) => 0,
            Some(OpType::Fail) => 1,
            Some(OpType::Info) | Some(OpType::Invoke) => 2,
            None => 3,
        };
        let next_f = f_of.len() as u64;
        let f = *f_of.entry(inv.f.as_str()).or_insert_with(|| {
            fs.push(inv.f.clone());
            next_f
        });
        let node_name = comp.and_then(|c| c.node.as_deref()).or(inv.node.as_deref());
        let node = match node_name {
            Some(name) => {
                let next = node_of.len() as u64 + 1;
                *node_of.entry(name).or_insert_with(|| {
                    nodes.push(name.to_string());
                    next
                })
            }
            None => 0,
        };
        let (row, generation) = place(inv.process);
        varint(&mut bytes, row);
        varint(&mut bytes, zigzag(start as i64 - prev_start));
        varint(&mut bytes, end - start);
        varint(&mut bytes, kind | (f << 2));
        varint(&mut bytes, zigzag(inv.index as i64 - prev_index as i64));
        varint(&mut bytes, node);
        varint(&mut bytes, generation);
        prev_start = start as i64;
        prev_index = inv.index;

        if !values_full {
            let v = shown_value(inv, *comp);
            let v = truncate(&v, VALUE_CHARS);
            if v.len() + 3 > budget {
                values_full = true;
            } else {
                budget -= v.len() + 3;
                vals.push(v);
            }
        }
        if let Some(e) = comp.and_then(|c| c.error.as_ref()) {
            let e = truncate(&value_text(e), VALUE_CHARS);
            if e.len() + 12 <= errs_budget {
                errs_budget -= e.len() + 12;
                errs.insert(n.to_string(), Value::String(e));
            }
        }
    }
    let faults: Vec<Value> = intervals
        .iter()
        .map(|iv| {
            let s = if timed {
                iv.start.saturating_sub(t0) / scale
            } else {
                0
            };
            let e = match iv.end {
                Some(e) if timed => e.saturating_sub(t0) / scale,
                _ => tmax,
            };
            json!([s, e.max(s), iv.f])
        })
        .collect();
    let phase_marks: Vec<Value> = if timed {
        phases
            .iter()
            .map(|p| {
                json!([
                    p.start.saturating_sub(t0) / scale,
                    p.end.saturating_sub(t0) / scale,
                    p.name
                ])
            })
            .collect()
    } else {
        Vec::new()
    };
    let kept = vals.len();
    let meta = json!({
        "n": pairs.len(),
        "axis": if timed { "time" } else { "index" },
        "scale": scale,
        "t0": t0,
        "tmax": tmax,
        "rows": procs.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "threads": by_worker,
        "fs": fs,
        "nodes": nodes,
        "vals": vals,
        "errs": errs,
        "faults": faults,
        "phases": phase_marks,
        "deflate": true,
    });
    out.push_str("<script type=\"application/json\" id=\"tl-meta\">");
    out.push_str(&script_json(&meta));
    out.push_str("</script>\n<script type=\"application/octet-stream\" id=\"tl-data\">");
    base64_into(out, &deflate(&bytes));
    out.push_str("</script>\n");
    (pairs.len(), kept)
}

/// What the tooltip shows as an op's value: a read's result, else the
/// argument (or the completion's value when the invoke had none).
fn shown_value(inv: &Op, comp: Option<&Op>) -> String {
    match comp {
        Some(c) if c.kind == OpType::Ok && !c.value.is_null() && c.value != inv.value => {
            if inv.value.is_null() {
                value_text(&c.value)
            } else {
                format!("{} → {}", value_text(&inv.value), value_text(&c.value))
            }
        }
        _ => value_text(&inv.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deflated_stream_inflates_to_the_varints() {
        use std::io::Read;
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 7 + i / 1000) as u8).collect();
        let packed = deflate(&bytes);
        assert!(packed.len() < bytes.len() / 4, "{} bytes", packed.len());
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, bytes);
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        let b64 = |b: &[u8]| {
            let mut s = String::new();
            base64_into(&mut s, b);
            s
        };
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(&[0xff, 0xfe, 0x00, 0x80]), "//4AgA==");
    }

    #[test]
    fn varints_and_zigzag_round_trip_small_and_large_values() {
        let mut out = Vec::new();
        varint(&mut out, 0);
        varint(&mut out, 127);
        varint(&mut out, 128);
        varint(&mut out, 300);
        assert_eq!(out, vec![0, 127, 0x80, 1, 0xac, 2]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
    }
}
