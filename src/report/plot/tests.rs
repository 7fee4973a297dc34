//! The plots drawn from crafted histories: what the SVGs say, that the
//! PNG pixels really hold text, and the awkward inputs.

use super::*;
use crate::history::{Op, OpType, Process};
use serde_json::json;

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn op(kind: OpType, process: Process, f: &str, t: u64) -> Op {
    let mut o = Op::invoke(process, f, json!(null));
    o.kind = kind;
    o.time = t;
    o
}

/// A 20-s run of three processes: reads and writes every 100 ms, slow
/// while a partition is in force (5 s to 9 s), a kill from 12 s never
/// healed, one info and one invoke left open.
fn run() -> (History, Vec<FaultInterval>, Vec<Phase>) {
    let mut ops = Vec::new();
    for i in 0..200u64 {
        let t = i * 100 * MS;
        let p = i % 3;
        let f = if i % 2 == 0 { "read" } else { "write" };
        let lat = if (5 * S..9 * S).contains(&t) {
            80 * MS
        } else {
            2 * MS + i * 10_000
        };
        let kind = match i {
            57 => OpType::Info,
            90 => OpType::Fail,
            _ => OpType::Ok,
        };
        ops.push(op(OpType::Invoke, Process::Client(p), f, t));
        if i != 199 {
            ops.push(op(kind, Process::Client(p), f, t + lat));
        }
    }
    let intervals = vec![
        FaultInterval {
            f: "start-partition".into(),
            value: json!({"kind": "majority"}),
            start: 5 * S,
            end: Some(9 * S),
            stop_f: Some("stop-partition".into()),
            ok: true,
        },
        FaultInterval {
            f: "kill".into(),
            value: json!({"killed": ["n1"]}),
            start: 12 * S,
            end: None,
            stop_f: None,
            ok: true,
        },
    ];
    let phases = [
        ("main", 0, 15),
        ("heal", 15, 15),
        ("recovery", 15, 17),
        ("final", 17, 20),
    ]
    .into_iter()
    .map(|(name, a, b)| Phase {
        name: name.into(),
        start: a * S,
        end: b * S,
    })
    .collect();
    (History::new(ops), intervals, phases)
}

fn svgs(h: &History, iv: &[FaultInterval], ph: &[Phase]) -> Vec<Plot> {
    render_svgs(&PlotInput {
        history: h,
        intervals: iv,
        phases: ph,
    })
    .unwrap()
}

#[test]
fn a_run_gives_three_plots_with_faults_phases_and_fs_labelled() {
    let (h, iv, ph) = run();
    let plots = svgs(&h, &iv, &ph);
    let names: Vec<&str> = plots.iter().map(|p| p.name).collect();
    assert_eq!(names, ["latency-raw", "latency-quantiles", "rate"]);
    for p in &plots {
        assert!(p.svg.starts_with("<svg"), "{}", &p.svg[..40]);
        assert!(p.svg.trim_end().ends_with("</svg>"));
        assert!(!p.svg.contains("<?xml"));
        for text in [
            "partition",
            "kill",
            "heal",
            "recovery",
            "final",
            "time since the run started (s)",
        ] {
            assert!(p.svg.contains(text), "{} lacks {text:?}", p.name);
        }
        assert!(p.svg.contains(&format!(">\n{}\n<", p.title)), "{}", p.name);
        assert!(p.svg.contains("font-family=\"DejaVu Sans, Verdana"));
    }
    let raw = &plots[0].svg;
    for text in [
        "read",
        "write",
        "latency (ms, log scale)",
        "all drawn",
        "no completion",
    ] {
        assert!(raw.contains(text), "latency-raw lacks {text:?}");
    }
    assert!(raw.contains("200 client ops: 197 ok, 1 fail, 1 info, 1 with no completion; all drawn"));
    assert!(plots[1].svg.contains("p99") && plots[1].svg.contains("in 1 s windows"));
    assert!(plots[2].svg.contains("throughput (ops/s)"));
    // The same input draws the same plots.
    assert_eq!(plots, svgs(&h, &iv, &ph));
}

#[test]
fn an_unknown_fault_is_labelled_by_its_f_and_a_failed_start_says_so() {
    let (h, mut iv, ph) = run();
    iv[0].ok = false;
    iv[1].f = "flood-disk".into();
    let raw = &svgs(&h, &iv, &ph)[0].svg;
    assert!(raw.contains("partition (failed)"));
    assert!(raw.contains("flood-disk"));
}

#[test]
fn many_and_long_names_still_leave_room_for_the_plot() {
    let long = "f".repeat(300);
    let mut ops = Vec::new();
    for i in 0..30u64 {
        let f = format!("{i}{long}");
        ops.push(op(OpType::Invoke, Process::Client(i), &f, i * S));
        ops.push(op(OpType::Ok, Process::Client(i), &f, i * S + MS));
    }
    let iv: Vec<FaultInterval> = (0..30u64)
        .map(|i| FaultInterval {
            f: format!("fault-{i}-{long}"),
            value: json!(null),
            start: i * S,
            end: Some(i * S + S / 2),
            stop_f: None,
            ok: true,
        })
        .collect();
    let ph = [Phase {
        name: long.clone(),
        start: 0,
        end: 30 * S,
    }];
    let h = History::new(ops);
    let plots = svgs(&h, &iv, &ph);
    for p in &plots {
        assert!(
            !p.svg.contains(&"f".repeat(41)),
            "{}: a name was not clipped",
            p.name
        );
        assert!(p.svg.contains("22 other faults"), "{}", p.name);
    }
    assert!(plots[0].svg.contains("other (23 f)"));
    let input = PlotInput {
        history: &h,
        intervals: &iv,
        phases: &ph,
    };
    for kind in Kind::ALL {
        render_rgb(&input, kind).unwrap();
    }
}

/// True when `x` is not the white background.
fn inked(px: &[u8]) -> bool {
    px != [255, 255, 255]
}

#[test]
fn png_pixels_hold_the_title_text_in_the_embedded_font() {
    let (h, iv, ph) = run();
    let input = PlotInput {
        history: &h,
        intervals: &iv,
        phases: &ph,
    };
    for kind in Kind::ALL {
        let buf = render_rgb(&input, kind).unwrap();
        let w = SIZE.0 as usize;
        // The title's box: from the left margin, rows 8 to 30.
        let mut ink = 0;
        let mut greys = std::collections::BTreeSet::new();
        for y in 8..30 {
            for x in 14..300 {
                let px = &buf[(y * w + x) * 3..(y * w + x) * 3 + 3];
                if inked(px) {
                    ink += 1;
                    greys.insert(px[0]);
                }
            }
        }
        // Glyphs: hundreds of inked pixels with anti-aliased edges (many
        // grey levels), not a filled box nor nothing.
        assert!(ink > 300, "{}: {ink} inked pixels", kind.name());
        assert!(ink < 286 * 22 / 2, "{}: {ink} inked pixels", kind.name());
        assert!(
            greys.len() > 20,
            "{}: {} grey levels",
            kind.name(),
            greys.len()
        );
        // Right of the title, nothing.
        let blank =
            (8..30).all(|y| (700..980).all(|x| !inked(&buf[(y * w + x) * 3..(y * w + x) * 3 + 3])));
        assert!(blank, "{}", kind.name());
    }
}

#[test]
fn a_history_value_cannot_inject_markup() {
    let evil = "<script>alert(1)</script>";
    let h = History::new(vec![
        op(OpType::Invoke, Process::Client(0), evil, 0),
        op(OpType::Ok, Process::Client(0), evil, 5 * MS),
    ]);
    let iv = [FaultInterval {
        f: evil.into(),
        value: json!(evil),
        start: MS,
        end: None,
        stop_f: None,
        ok: true,
    }];
    let ph = [Phase {
        name: "\"&<b>".into(),
        start: 0,
        end: 10 * MS,
    }];
    for p in svgs(&h, &iv, &ph) {
        assert!(!p.svg.contains("<script"), "{}", p.name);
        assert!(!p.svg.contains("<b>"), "{}", p.name);
        assert!(
            p.svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{}",
            p.name
        );
        assert!(p.svg.contains("&quot;&amp;&lt;b&gt;"), "{}", p.name);
    }
}

/// A name, a run and whether its plots say "no client operations".
type Case<'a> = (&'a str, &'a History, &'a [FaultInterval], &'a [Phase], bool);

#[test]
fn empty_and_degenerate_histories_draw_a_note_never_panic() {
    let one_op = History::new(vec![
        op(OpType::Invoke, Process::Client(0), "read", 7),
        op(OpType::Ok, Process::Client(0), "read", 7),
    ]);
    let at_zero = History::new(
        (0..10)
            .flat_map(|p| {
                [
                    op(OpType::Invoke, Process::Client(p), "write", 0),
                    op(OpType::Info, Process::Client(p), "write", 0),
                ]
            })
            .collect(),
    );
    let only_open = History::new(vec![op(OpType::Invoke, Process::Client(3), "cas", 2 * S)]);
    let only_nemesis = History::new(vec![
        op(OpType::Invoke, Process::Nemesis, "kill", S),
        op(OpType::Ok, Process::Nemesis, "kill", S),
    ]);
    let orphan = History::new(vec![op(OpType::Ok, Process::Client(1), "read", S)]);
    let (_, iv, ph) = run();
    let empty = History::new(Vec::new());
    let cases: [Case<'_>; 7] = [
        ("empty", &empty, &[], &[], true),
        ("empty with faults", &empty, &iv, &ph, true),
        ("nemesis only", &only_nemesis, &[], &[], true),
        ("orphan completion", &orphan, &[], &[], true),
        ("one op", &one_op, &[], &[], false),
        ("all at time 0", &at_zero, &[], &[], false),
        ("only an open invoke", &only_open, &[], &[], false),
    ];
    for (name, h, iv, ph, note) in cases {
        let plots = svgs(h, iv, ph);
        assert_eq!(plots.len(), 3, "{name}");
        for p in &plots {
            assert!(p.svg.starts_with("<svg"), "{name}");
            assert_eq!(
                p.svg.contains("no client operations"),
                note,
                "{name}: {}",
                p.name
            );
        }
        let input = PlotInput {
            history: h,
            intervals: iv,
            phases: ph,
        };
        for kind in Kind::ALL {
            render_rgb(&input, kind).unwrap();
        }
    }
    let open = svgs(&only_open, &[], &[]);
    assert!(open[1].svg.contains("no completed client operations"));
    assert!(open[0].svg.contains("1 with no completion"));
    let orphan = svgs(&orphan, &[], &[]);
    assert!(orphan[0]
        .svg
        .contains("1 completions without an invoke left out"));
}

#[test]
fn a_large_history_is_downsampled_and_says_so() {
    let n = 60_000u64;
    let mut ops = Vec::with_capacity(2 * n as usize);
    for i in 0..n {
        let t = i * MS;
        // Latencies over three decades, pseudo-randomly.
        let lat = 100_000 + (i * 7919 % 1000) * (i * 104_729 % 1000) * 100;
        let kind = if i % 97 == 0 {
            OpType::Fail
        } else {
            OpType::Ok
        };
        let f = ["read", "write", "cas"][(i % 3) as usize];
        ops.push(op(OpType::Invoke, Process::Client(i % 8), f, t));
        ops.push(op(kind, Process::Client(i % 8), f, t + lat));
    }
    let h = History::new(ops);
    let raw = &svgs(&h, &[], &[])[0].svg;
    let drawn: usize = raw
        .split(" of 60000 drawn (one per f and outcome in each ")
        .next()
        .and_then(|head| head.rsplit("; ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'N of 60000 drawn' in the subtitle"));
    assert!(drawn <= RAW_LIMIT && drawn > RAW_LIMIT / 8, "{drawn}");
    // Each op drawn is one element: a circle (ok) or a cross's two lines.
    let circles = raw.matches("<circle").count();
    assert!(circles <= RAW_LIMIT + 10, "{circles}");
    assert!(circles > drawn / 2, "{circles} circles for {drawn} ops");
    assert!(raw.len() < 3_000_000, "{} bytes", raw.len());
}

#[test]
fn pngs_are_written_with_the_plot_size() {
    let (h, iv, ph) = run();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plots");
    let input = PlotInput {
        history: &h,
        intervals: &iv,
        phases: &ph,
    };
    let files = write_pngs(&input, &out).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["latency-raw.png", "latency-quantiles.png", "rate.png"]
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(png_size(&bytes), Ok(SIZE), "{}", f.display());
    }
    // A file where the directory should be: an error naming it.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, b"x").unwrap();
    let e = write_pngs(&input, &blocked).unwrap_err().to_string();
    assert!(
        e.contains("file") && e.contains("cannot create directory"),
        "{e}"
    );
}

/// The size of a PNG, after checking its signature, that every chunk's
/// CRC is right, that it has image data and that it ends with `IEND`.
fn png_size(b: &[u8]) -> Result<(u32, u32), String> {
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err("no PNG signature".into());
    }
    let mut at = 8;
    let mut size = None;
    let mut idat = 0;
    while at + 12 <= b.len() {
        let len = be(at) as usize;
        let kind = &b[at + 4..at + 8];
        let end = at + 8 + len;
        if end + 4 > b.len() {
            return Err("truncated chunk".into());
        }
        if crc32fast::hash(&b[at + 4..end]) != be(end) {
            return Err(format!("bad CRC in {}", String::from_utf8_lossy(kind)));
        }
        match kind {
            b"IHDR" => size = Some((be(at + 8), be(at + 12))),
            b"IDAT" => idat += len,
            b"IEND" => {
                return match (size, idat) {
                    (Some(s), 1..) => Ok(s),
                    _ => Err("no IHDR or no IDAT".into()),
                }
            }
            _ => {}
        }
        at = end + 4;
    }
    Err("no IEND".into())
}

#[test]
fn no_system_font_library_is_linked() {
    // plotters' `ttf` feature would pull font-kit and fontconfig: the lock
    // file shows it is not built.
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"ab_glyph\""));
    for crate_name in [
        "font-kit",
        "yeslogic-fontconfig-sys",
        "servo-fontconfig",
        "freetype-sys",
    ] {
        assert!(
            !lock.contains(&format!("name = \"{crate_name}\"")),
            "{crate_name} in Cargo.lock"
        );
    }
}
