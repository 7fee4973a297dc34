//! The plots through the public API, as the report writer calls them, and
//! a measurement at 1,000,000 ops (ignored by default; run it in release):
//!
//! ```text
//! cargo test --release --test report_plot -- --ignored --nocapture
//! ```

use faultline::history::{History, Op, OpType, Process};
use faultline::nemesis::intervals::FaultInterval;
use faultline::report::plot::{render_svgs, write_pngs, PlotInput, RAW_LIMIT};
use faultline::report::results::Phase;
use serde_json::json;
use std::time::Instant;

const S: u64 = 1_000_000_000;

fn op(kind: OpType, p: u64, f: &str, t: u64) -> Op {
    let mut o = Op::invoke(Process::Client(p), f, json!(null));
    o.kind = kind;
    o.time = t;
    o
}

/// `n` client ops by 16 processes over `secs` seconds, latencies spread
/// over four decades, 1% fail and 0.5% info, slow and failing during a
/// partition in the middle third, plus its intervals and phases.
fn generated(n: u64, secs: u64) -> (History, Vec<FaultInterval>, Vec<Phase>) {
    let mut ops = Vec::with_capacity(2 * n as usize);
    let step = secs * S / n;
    let (a, b) = (secs * S / 3, 2 * secs * S / 3);
    for i in 0..n {
        let t = i * step;
        let p = i % 16;
        let mut lat = 50_000 + (i.wrapping_mul(2_654_435_761) % 1000) * (i * 40_503 % 1000) * 5;
        let mut kind = match i % 200 {
            0 | 1 => OpType::Fail,
            2 => OpType::Info,
            _ => OpType::Ok,
        };
        if (a..b).contains(&t) {
            lat *= 20;
            if i % 5 == 0 {
                kind = OpType::Info;
            }
        }
        let f = ["read", "write", "cas"][(i % 3) as usize];
        ops.push(op(OpType::Invoke, p, f, t));
        ops.push(op(kind, p, f, t + lat));
    }
    let intervals = vec![FaultInterval {
        f: "start-partition".into(),
        value: json!({"kind": "majority"}),
        start: a,
        end: Some(b),
        stop_f: Some("stop-partition".into()),
        ok: true,
    }];
    let phases = vec![
        Phase {
            name: "main".into(),
            start: 0,
            end: secs * S,
        },
        Phase {
            name: "final".into(),
            start: secs * S,
            end: secs * S + S,
        },
    ];
    (History::new(ops), intervals, phases)
}

#[test]
fn the_report_gets_three_inlinable_svgs_and_three_pngs() {
    let (h, iv, ph) = generated(3_000, 30);
    let input = PlotInput {
        history: &h,
        intervals: &iv,
        phases: &ph,
    };
    let plots = render_svgs(&input).unwrap();
    assert_eq!(plots.len(), 3);
    for p in &plots {
        assert!(p.svg.starts_with("<svg "), "{}", p.name);
        assert!(p.svg.contains("partition") && p.svg.contains("final"));
        assert!(p.svg.contains(&p.title), "{}", p.name);
    }
    assert!(plots[0].svg.contains("3000 client ops"));
    let dir = tempfile::tempdir().unwrap();
    let files = write_pngs(&input, dir.path()).unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", f.display());
        assert!(
            bytes.len() > 10_000,
            "{}: {} bytes",
            f.display(),
            bytes.len()
        );
    }
}

/// The size and time of the plots of a 1,000,000-op history.
#[test]
#[ignore = "a measurement: run it in release with --ignored --nocapture"]
fn one_million_ops_measured() {
    let (h, iv, ph) = generated(1_000_000, 600);
    let input = PlotInput {
        history: &h,
        intervals: &iv,
        phases: &ph,
    };
    let t = Instant::now();
    let plots = render_svgs(&input).unwrap();
    let svg_time = t.elapsed();
    let total: usize = plots.iter().map(|p| p.svg.len()).sum();
    for p in &plots {
        println!("{}: {} bytes", p.name, p.svg.len());
    }
    println!(
        "1,000,000 ops: three SVGs, {total} bytes in {:.2} s (raw plot draws at most {RAW_LIMIT})",
        svg_time.as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let files = write_pngs(&input, dir.path()).unwrap();
    let png_time = t.elapsed();
    let png_total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!(
        "1,000,000 ops: three PNGs, {png_total} bytes in {:.2} s",
        png_time.as_secs_f64()
    );
    assert!(total < 3_000_000, "{total} bytes");
}
