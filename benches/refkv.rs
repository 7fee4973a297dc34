//! refkv benchmark: a 3-node cluster of real `faultline node` processes on
//! loopback (fsync on, default timeouts), 10 concurrent HTTP clients.
//!
//! Measures writes/s and reads/s (clients talk to the leader), and the time
//! from SIGKILL of the leader to the first successful write (clients retry on
//! the surviving nodes). Run: `cargo bench --bench refkv`
//! (`REFKV_BENCH_SECS` sets each throughput phase's length, default 5;
//! `REFKV_BENCH_FAILOVERS` the number of leader kills, default 5).

use faultline::refkv::events::parse_line;
use faultline::refkv::local_cluster::LocalCluster;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_faultline");
const CLIENTS: usize = 10;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run `CLIENTS` loops of `op` against `base` for `secs`; returns ok ops/s,
/// errors and the median and p99 latency.
async fn throughput(
    http: &reqwest::Client,
    base: &str,
    secs: u64,
    write: bool,
) -> (f64, u64, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let err = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..CLIENTS {
        let (http, base, stop, ok, err) = (
            http.clone(),
            base.to_string(),
            stop.clone(),
            ok.clone(),
            err.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{}", (c as u64 * 7919 + i) % 1000);
                let t = Instant::now();
                let r = if write {
                    http.put(format!("{base}/kv/{key}"))
                        .json(&json!({ "value": i }))
                        .send()
                        .await
                } else {
                    http.get(format!("{base}/kv/{key}")).send().await
                };
                let good = match r {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if good {
                    ok.fetch_add(1, Ordering::Relaxed);
                    lat.push(t.elapsed());
                } else {
                    err.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (
        ok.load(Ordering::Relaxed) as f64 / elapsed,
        err.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99),
    )
}

/// SIGKILL the leader while clients write through the other nodes; the time
/// until the first write sent after the kill succeeds.
async fn failover(http: &reqwest::Client, c: &mut LocalCluster, leader: usize) -> Option<Duration> {
    let urls: Vec<String> = (0..3).filter(|&i| i != leader).map(|i| c.url(i)).collect();
    let first_ok = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let stop = Arc::new(AtomicBool::new(false));
    c.kill(leader);
    let killed = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let (http, url, first_ok, stop) = (
            http.clone(),
            urls[n % urls.len()].clone(),
            first_ok.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .put(format!("{url}/kv/failover-{n}"))
                    .json(&json!({ "value": i }))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if matches!(r, Ok(ref r) if r.status().is_success()) {
                    let now = Instant::now();
                    let mut f = first_ok.lock().unwrap_or_else(|e| e.into_inner());
                    if f.is_none() {
                        *f = Some(now);
                    }
                    stop.store(true, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let f = *first_ok.lock().unwrap_or_else(|e| e.into_inner());
    f.map(|t| t - killed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let secs = env_u64("REFKV_BENCH_SECS", 5);
    let rounds = env_u64("REFKV_BENCH_FAILOVERS", 5);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut c = LocalCluster::start(Path::new(BIN), 3, dir.path(), &[]).expect("start 3 nodes");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client");
    let leader = c
        .wait_leader(&http, Duration::from_secs(10))
        .await
        .expect("a leader");
    let base = c.url(leader);
    println!("refkv bench: 3 nodes on loopback, fsync on, default timeouts, {CLIENTS} clients, {secs} s per phase");

    // Warm up connections and the log.
    let _ = throughput(&http, &base, 1, true).await;
    let (w, we, w50, w99) = throughput(&http, &base, secs, true).await;
    println!("writes: {w:.0}/s ({we} errors), latency p50 {w50:?} p99 {w99:?}");
    // Group commit: the leader logs its applied index and fsync count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let last_applied = std::fs::read_to_string(&c.nodes()[leader].log)
        .unwrap_or_default()
        .lines()
        .filter_map(parse_line)
        .rfind(|e| e.event == "applied");
    if let Some(e) = last_applied {
        let index: f64 = e.get("index").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let fsyncs: f64 = e.get("fsyncs").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        if fsyncs > 0.0 {
            println!(
                "group commit on the leader: {index:.0} entries in {fsyncs:.0} fsyncs ({:.1} per fsync)",
                index / fsyncs
            );
        }
    }
    let (r, re, r50, r99) = throughput(&http, &base, secs, false).await;
    println!("reads:  {r:.0}/s ({re} errors), latency p50 {r50:?} p99 {r99:?}");

    let mut times = Vec::new();
    let mut leader = leader;
    for round in 0..rounds {
        match failover(&http, &mut c, leader).await {
            Some(t) => {
                println!(
                    "failover {}: SIGKILL of the leader to the first successful write: {t:?}",
                    round + 1
                );
                times.push(t);
            }
            None => println!("failover {}: no successful write within 15 s", round + 1),
        }
        c.start_node(leader).expect("restart the killed node");
        // Let the restarted node rejoin before the next kill.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        match c.wait_leader(&http, Duration::from_secs(10)).await {
            Some(l) => leader = l,
            None => break,
        }
    }
    times.sort_unstable();
    if !times.is_empty() {
        println!(
            "failover: median {:?}, max {:?} over {} kills",
            times[times.len() / 2],
            times[times.len() - 1],
            times.len()
        );
    }
}
