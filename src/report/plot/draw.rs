//! Drawing the three plots on any plotters backend (SVG text or a pixel
//! buffer), from a [`Model`] computed once per run.
//!
//! Layout, top to bottom: title, subtitle, a strip of fault labels (one
//! lane per overlap, each label over a bar as long as its interval), the
//! plot with its axes, the legend. Fault shading and phase lines are drawn
//! in pixel space over the plot's area, under the data.

use super::data::{self, Drawn, Ops, Outcome, Quantiles, Rate, MIN_MS, SEC};
use super::{Kind, PlotInput, RAW_LIMIT};
use crate::nemesis::family::REGISTRY;
use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What the plots of one run draw, computed once.
pub(super) struct Model<'a> {
    ops: Ops,
    intervals: &'a [FaultInterval],
    phases: &'a [Phase],
    /// The end of the time axis, ns.
    end: u64,
    /// The time axis's right end, s (a little past `end`).
    x_max: f64,
    /// The window of the quantile and rate plots, ns.
    window: u64,
    /// The font family of every text.
    family: &'static str,
}

impl<'a> Model<'a> {
    /// The model of `input`, drawing text in `family`.
    pub fn new(input: &PlotInput<'a>, family: &'static str) -> Model<'a> {
        let ops = Ops::of(input.history);
        let end = data::time_end(&ops, input.intervals, input.phases);
        let x_max = if end == 0 {
            1.0
        } else {
            end as f64 / SEC as f64 * 1.01
        };
        Model {
            window: data::window(end),
            ops,
            intervals: input.intervals,
            phases: input.phases,
            end,
            x_max,
            family,
        }
    }

    fn font(&self, size: f64) -> TextStyle<'static> {
        TextStyle::from(FontDesc::new(
            FontFamily::Name(self.family),
            size,
            FontStyle::Normal,
        ))
        .color(&INK)
    }
}

type Res<T = ()> = Result<T, String>;

/// A plotters error as text.
fn de(e: impl std::fmt::Display) -> String {
    e.to_string()
}

// Colours: Okabe & Ito's colour-blind-safe palette where it matters.
const INK: RGBColor = RGBColor(33, 33, 33);
const MUTED: RGBColor = RGBColor(95, 95, 95);
const GRID_BOLD: RGBColor = RGBColor(214, 214, 214);
const GRID_LIGHT: RGBColor = RGBColor(238, 238, 238);
const OK: RGBColor = RGBColor(0, 114, 178);
const FAIL: RGBColor = RGBColor(213, 94, 0);
const INFO: RGBColor = RGBColor(120, 60, 150);

/// The colour of the `i`th `f`.
const F_COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 0, 0),
    RGBColor(153, 153, 153),
];

/// The shading of each registered fault family, in registry order
/// (partition, kill, pause, clock, loss, election); a family not in the
/// registry is grey.
const FAULT_COLOURS: [RGBColor; 6] = [
    RGBColor(230, 159, 0),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(0, 158, 115),
    RGBColor(86, 180, 233),
    RGBColor(180, 160, 0),
];
const FAULT_OTHER: RGBColor = RGBColor(120, 120, 120);

/// How opaque a fault's shading is (a failed start: half of it).
const SHADE: f64 = 0.16;

/// Pixel layout constants.
const MARGIN: i32 = 14;
const Y_LABELS: i32 = 64;
const X_LABELS: i32 = 40;
const LANE: i32 = 15;
const MAX_LANES: usize = 3;
const LEGEND_ROW: i32 = 18;

/// A fault's family name and colour, from its start `f`.
fn family_of(f: &str) -> (String, RGBColor) {
    match REGISTRY.iter().position(|fam| fam.starts.contains(&f)) {
        Some(i) => (
            REGISTRY[i].name.to_string(),
            FAULT_COLOURS[i % FAULT_COLOURS.len()],
        ),
        None => (data::clip(f), FAULT_OTHER),
    }
}

/// At most this many fault families get a legend entry; the rest are
/// counted in one more.
const MAX_FAULT_ENTRIES: usize = 8;

/// A darker shade of `c`, for text on white.
fn darker(c: RGBColor) -> RGBColor {
    let d = |v: u8| (v as f64 * 0.65) as u8;
    RGBColor(d(c.0), d(c.1), d(c.2))
}

/// A number for an axis tick or a caption: three significant digits at
/// most, no trailing zeros.
fn short(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v.abs() < 1e-12 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A duration in ns, in the unit that reads best.
fn duration(ns: u64) -> String {
    match ns {
        n if n >= SEC => format!("{} s", short(n as f64 / SEC as f64)),
        n if n >= 1_000_000 => format!("{} ms", short(n as f64 / 1e6)),
        n if n >= 1_000 => format!("{} µs", short(n as f64 / 1e3)),
        n => format!("{n} ns"),
    }
}

/// How a legend entry is marked.
enum Mark {
    /// A shaded square (a fault family).
    Swatch(RGBColor),
    /// A point marker of an outcome.
    Point(Outcome, RGBColor),
    /// A line: stroke width, dash (length, gap; none when solid), opacity.
    Line(RGBColor, u32, Dash, f64),
}

/// One legend entry.
struct Entry {
    mark: Mark,
    text: String,
}

/// A dash pattern: dash and gap lengths, pixels.
type Dash = Option<(u32, u32)>;

/// The quantiles drawn, their names and their line style (width, dash,
/// opacity).
const QUANTILES: [(&str, u32, Dash, f64); 4] = [
    ("p50", 2, None, 1.0),
    ("p95", 2, Some((7, 4)), 1.0),
    ("p99", 2, Some((2, 3)), 1.0),
    ("max", 1, None, 0.55),
];

/// The fault labels drawn above the plot.
struct FaultLabel<'m> {
    interval: &'m FaultInterval,
    text: String,
    colour: RGBColor,
    lane: Option<usize>,
}

/// Where things go, decided before the chart is built.
struct Layout<'m> {
    size: (i32, i32),
    labels: Vec<FaultLabel<'m>>,
    legend: Vec<Vec<(i32, Entry)>>,
    /// Top of the plot area (above it: title, subtitle, fault lanes).
    top: i32,
    /// Height of the legend strip at the bottom.
    bottom: i32,
}

impl<'m> Layout<'m> {
    fn new<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        m: &'m Model<'_>,
        entries: Vec<Entry>,
    ) -> Res<Layout<'m>> {
        let (w, h) = root.dim_in_pixel();
        let (w, h) = (w as i32, h as i32);
        let label_font = m.font(13.0);
        // The plot's x pixels, as the chart builder will place them.
        let (left, right) = (MARGIN + Y_LABELS, w - MARGIN);
        let x = |s: f64| left + ((s / m.x_max) * (right - left) as f64).round() as i32;
        let mut labels = Vec::new();
        let mut lane_ends: Vec<i32> = Vec::new();
        let mut order: Vec<&FaultInterval> = m.intervals.iter().collect();
        order.sort_by_key(|i| i.start);
        for iv in order {
            let (name, colour) = family_of(&iv.f);
            let text = if iv.ok {
                name
            } else {
                format!("{name} (failed)")
            };
            let (tw, _) = root.estimate_text_size(&text, &label_font).map_err(de)?;
            let x0 = x(secs(iv.start));
            let x1 = iv.end.map_or(right, |e| x(secs(e.max(iv.start))));
            let reach = x1.max(x0 + tw as i32 + 8);
            let lane = lane_ends.iter().position(|&e| e < x0).or_else(|| {
                (lane_ends.len() < MAX_LANES).then(|| {
                    lane_ends.push(i32::MIN);
                    lane_ends.len() - 1
                })
            });
            if let Some(l) = lane {
                lane_ends[l] = reach;
            }
            labels.push(FaultLabel {
                interval: iv,
                text,
                colour,
                lane,
            });
        }
        // The legend, in rows that fit the width.
        let legend_font = m.font(13.0);
        let mut legend: Vec<Vec<(i32, Entry)>> = vec![Vec::new()];
        let mut cursor = MARGIN;
        for e in entries {
            let (tw, _) = root.estimate_text_size(&e.text, &legend_font).map_err(de)?;
            let width = 24 + tw as i32 + 14;
            if cursor + width > w - MARGIN && cursor > MARGIN {
                legend.push(Vec::new());
                cursor = MARGIN;
            }
            if let Some(row) = legend.last_mut() {
                row.push((cursor, e));
            }
            cursor += width;
        }
        let rows = legend.iter().filter(|r| !r.is_empty()).count() as i32;
        Ok(Layout {
            size: (w, h),
            labels,
            legend,
            top: 8 + 26 + 20 + lane_ends.len() as i32 * LANE + 6,
            bottom: rows * LEGEND_ROW + 8,
        })
    }

    /// The chart builder placing the plot where this layout says.
    fn chart<'a, 'b, DB: DrawingBackend>(
        &self,
        root: &'a DrawingArea<DB, Shift>,
    ) -> ChartBuilder<'a, 'b, DB> {
        let mut b = ChartBuilder::on(root);
        b.margin_top(self.top)
            .margin_bottom(self.bottom)
            .margin_left(MARGIN)
            .margin_right(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS);
        b
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / SEC as f64
}

/// The plot's area in pixels and its time axis.
struct Area {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    x_max: f64,
}

impl Area {
    fn of<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
        plot: &DrawingArea<DB, CT>,
        x_max: f64,
    ) -> Area {
        let (xs, ys) = plot.get_pixel_range();
        Area {
            left: xs.start,
            right: xs.end - 1,
            top: ys.start,
            bottom: ys.end - 1,
            x_max,
        }
    }

    /// The pixel column of `t` s, clamped to the plot.
    fn x(&self, t: f64) -> i32 {
        let x = self.left as f64 + t / self.x_max * (self.right - self.left) as f64;
        (x.round() as i32).clamp(self.left, self.right)
    }
}

/// Draws plot `kind` of `m` on `root` and presents it (writes the file of
/// a file backend).
pub(super) fn plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    kind: Kind,
    m: &Model<'_>,
) -> Res {
    root.fill(&WHITE).map_err(de)?;
    match kind {
        Kind::Raw => raw(root, m)?,
        Kind::Quantiles => quantiles(root, m)?,
        Kind::Rate => rate(root, m)?,
    }
    root.present().map_err(de)
}

/// Title and subtitle.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Model<'_>,
    kind: Kind,
    subtitle: &str,
) -> Res {
    let top_left = Pos::new(HPos::Left, VPos::Top);
    root.draw(&Text::new(
        kind.title(),
        (MARGIN, 8),
        m.font(24.0).pos(top_left),
    ))
    .map_err(de)?;
    root.draw(&Text::new(
        subtitle,
        (MARGIN, 36),
        m.font(14.0).color(&MUTED).pos(top_left),
    ))
    .map_err(de)
}

/// The legend entries every plot ends with: the fault families present.
fn fault_entries(m: &Model<'_>) -> Vec<Entry> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for iv in m.intervals {
        let (name, colour) = family_of(&iv.f);
        if !seen.contains(&name) {
            if seen.len() < MAX_FAULT_ENTRIES {
                out.push(Entry {
                    mark: Mark::Swatch(colour),
                    text: format!("fault: {name}"),
                });
            }
            seen.push(name);
        }
    }
    if seen.len() > MAX_FAULT_ENTRIES {
        out.push(Entry {
            mark: Mark::Swatch(FAULT_OTHER),
            text: format!("{} other faults", seen.len() - MAX_FAULT_ENTRIES),
        });
    }
    out
}

/// Shades the faults over the plot, labels them above it, and marks the
/// phases: everything drawn under the data.
fn backdrop<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Model<'_>,
    layout: &Layout<'_>,
    area: &Area,
) -> Res {
    for l in &layout.labels {
        let iv = l.interval;
        let x0 = area.x(secs(iv.start));
        let x1 = iv
            .end
            .map_or(area.right, |e| area.x(secs(e.max(iv.start))))
            .max(x0 + 1);
        let alpha = if iv.ok { SHADE } else { SHADE / 2.0 };
        root.draw(&Rectangle::new(
            [(x0, area.top), (x1, area.bottom)],
            l.colour.mix(alpha).filled(),
        ))
        .map_err(de)?;
        if let Some(lane) = l.lane {
            // Lane 0 is the one right above the plot.
            let y = area.top - 4 - lane as i32 * LANE;
            root.draw(&Rectangle::new(
                [(x0, y - 2), (x1, y)],
                l.colour.mix(0.8).filled(),
            ))
            .map_err(de)?;
            root.draw(&Text::new(
                l.text.clone(),
                (x0, y - 3),
                m.font(13.0)
                    .color(&darker(l.colour))
                    .pos(Pos::new(HPos::Left, VPos::Bottom)),
            ))
            .map_err(de)?;
        }
    }
    // Phases: a dashed line at each start (their names are drawn over
    // the data, see `phase_names`).
    for p in m.phases {
        let x = area.x(secs(p.start));
        let mut y = area.top;
        while y < area.bottom {
            let y1 = (y + 5).min(area.bottom);
            root.draw(&PathElement::new(
                vec![(x, y), (x, y1)],
                MUTED.mix(0.8).stroke_width(1),
            ))
            .map_err(de)?;
            y += 9;
        }
    }
    Ok(())
}

/// Each phase's name at the foot of its line, on a pale box so it reads
/// over the data; names that would overlap go one row up.
fn phase_names<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Model<'_>,
    area: &Area,
) -> Res {
    let font = m.font(13.0).color(&MUTED);
    let mut row_ends: Vec<i32> = Vec::new();
    let mut phases: Vec<&Phase> = m.phases.iter().collect();
    phases.sort_by_key(|p| p.start);
    for p in phases {
        let x = area.x(secs(p.start));
        let name = data::clip(&p.name);
        let (tw, th) = root.estimate_text_size(&name, &font).map_err(de)?;
        let (tw, th) = (tw as i32, th as i32);
        let row = row_ends.iter().position(|&e| e < x).unwrap_or_else(|| {
            row_ends.push(i32::MIN);
            row_ends.len() - 1
        });
        row_ends[row] = x + tw + 6;
        let y = area.bottom - 3 - row as i32 * 15;
        root.draw(&Rectangle::new(
            [(x + 1, y - th - 1), (x + tw + 5, y + 2)],
            WHITE.mix(0.8).filled(),
        ))
        .map_err(de)?;
        root.draw(&Text::new(
            name,
            (x + 3, y),
            font.pos(Pos::new(HPos::Left, VPos::Bottom)),
        ))
        .map_err(de)?;
    }
    Ok(())
}

/// The legend strip and, when there is nothing to plot, a note across the
/// plot.
fn foreground<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Model<'_>,
    layout: &Layout<'_>,
    area: &Area,
    note: Option<&str>,
) -> Res {
    phase_names(root, m, area)?;
    if let Some(note) = note {
        root.draw(&Text::new(
            note.to_string(),
            ((area.left + area.right) / 2, (area.top + area.bottom) / 2),
            m.font(20.0)
                .color(&MUTED)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(de)?;
    }
    let font = m.font(13.0).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = layout.size.1 - layout.bottom + 4 + LEGEND_ROW / 2;
    for row in &layout.legend {
        for (x, e) in row {
            let c = (x + 10, y);
            match e.mark {
                Mark::Swatch(colour) => {
                    root.draw(&Rectangle::new(
                        [(c.0 - 9, c.1 - 6), (c.0 + 9, c.1 + 6)],
                        colour.mix(SHADE * 2.0).filled(),
                    ))
                    .map_err(de)?;
                }
                Mark::Point(outcome, colour) => marker(root, c, outcome, colour)?,
                Mark::Line(colour, width, dash, alpha) => {
                    let style = colour.mix(alpha).stroke_width(width);
                    match dash {
                        None => root
                            .draw(&PathElement::new(
                                vec![(c.0 - 10, c.1), (c.0 + 10, c.1)],
                                style,
                            ))
                            .map_err(de)?,
                        Some((on, off)) => {
                            let mut x = c.0 - 10;
                            while x < c.0 + 10 {
                                let x1 = (x + on as i32).min(c.0 + 10);
                                root.draw(&PathElement::new(vec![(x, c.1), (x1, c.1)], style))
                                    .map_err(de)?;
                                x += (on + off) as i32;
                            }
                        }
                    }
                }
            }
            root.draw(&Text::new(e.text.clone(), (x + 24, y), font.clone()))
                .map_err(de)?;
        }
        y += LEGEND_ROW;
    }
    Ok(())
}

/// The marker of `outcome` at pixel `c`, as the raw plot draws it.
fn marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: (i32, i32),
    outcome: Outcome,
    colour: RGBColor,
) -> Res {
    match outcome {
        Outcome::Ok => root.draw(&Circle::new(c, 3, colour.filled())),
        Outcome::Fail => root.draw(&Cross::new(c, 3, colour.stroke_width(2))),
        Outcome::Info => root.draw(&TriangleMarker::new(c, 5, colour.filled())),
        Outcome::Open => root.draw(&Circle::new(c, 3, colour.stroke_width(1))),
    }
    .map_err(de)
}

/// The mesh, axes and their descriptions of a chart.
macro_rules! mesh {
    ($chart:expr, $m:expr, $y_desc:expr) => {
        $chart
            .configure_mesh()
            .x_desc("time since the run started (s)")
            .y_desc($y_desc)
            .label_style($m.font(14.0))
            .axis_desc_style($m.font(15.0))
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .x_labels(12)
            .y_labels(8)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .axis_style(MUTED)
            .draw()
            .map_err(de)?
    };
}

/// A latency axis (ms, log) from `lo` to `hi` latencies drawn, at least a
/// decade wide.
fn latency_range(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || hi < lo {
        return (0.1, 1000.0);
    }
    let (mut lo, mut hi) = (lo / 1.4, hi * 1.4);
    if hi < lo * 10.0 {
        let mid = (lo * hi).sqrt();
        lo = mid / 10f64.sqrt();
        hi = mid * 10f64.sqrt();
    }
    (lo.max(MIN_MS / 2.0), hi)
}

/// A log axis's ticks from `lo` to `hi`: labelled ones (1, 2 and 5 per
/// decade, or only powers of ten when that would be more than ten) and
/// grid lines (1 to 9 per decade).
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let within = |ms: &[f64]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| ms.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let mut bold = within(&[1.0, 2.0, 5.0]);
    if bold.len() > 10 {
        bold = within(&[1.0]);
        let every = bold.len().div_ceil(10);
        bold = bold.into_iter().step_by(every).collect();
    }
    let light = within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    (bold, light)
}

/// `latency-raw`.
fn raw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model<'_>) -> Res {
    let ops = &m.ops;
    let n = ops.samples.len();
    let [ok, fail, info, open] = ops.counts();
    let done = ops.samples.iter().filter(|s| s.outcome != Outcome::Open);
    let (lo, hi) = done.fold((f64::INFINITY, 0.0f64), |(lo, hi), s| {
        let l = data::lat_ms(s.latency());
        (lo.min(l), hi.max(l))
    });
    let (lo, hi) = latency_range(lo, hi);
    // Invokes with no completion: a row of their own above all latencies.
    let (y_open, y_max) = if open > 0 {
        (hi * 2.0, hi * 3.5)
    } else {
        (hi, hi)
    };
    let drawn: Drawn = data::downsample(&ops.samples, m.end, (lo, y_max), RAW_LIMIT);

    let mut subtitle =
        format!("{n} client ops: {ok} ok, {fail} fail, {info} info, {open} with no completion; ");
    if drawn.cell == 0 {
        subtitle.push_str("all drawn");
    } else {
        subtitle.push_str(&format!(
            "{} of {n} drawn (one per f and outcome in each {} px cell)",
            drawn.idx.len(),
            drawn.cell
        ));
    }
    if ops.orphans > 0 {
        subtitle.push_str(&format!(
            "; {} completions without an invoke left out",
            ops.orphans
        ));
    }
    let mut entries: Vec<Entry> = ops
        .fs
        .iter()
        .enumerate()
        .map(|(i, f)| Entry {
            mark: Mark::Point(Outcome::Ok, F_COLOURS[i % F_COLOURS.len()]),
            text: f.clone(),
        })
        .collect();
    entries.push(Entry {
        mark: Mark::Point(Outcome::Ok, MUTED),
        text: "ok".into(),
    });
    entries.push(Entry {
        mark: Mark::Point(Outcome::Fail, MUTED),
        text: "fail".into(),
    });
    entries.push(Entry {
        mark: Mark::Point(Outcome::Info, MUTED),
        text: "info (until the client gave up)".into(),
    });
    if open > 0 {
        entries.push(Entry {
            mark: Mark::Point(Outcome::Open, MUTED),
            text: "no completion (top row)".into(),
        });
    }
    entries.extend(fault_entries(m));

    let layout = Layout::new(root, m, entries)?;
    header(root, m, Kind::Raw, &subtitle)?;
    let (bold, light) = log_ticks(lo, y_max);
    let y_axis = (lo..y_max)
        .log_scale()
        .with_key_points(bold)
        .with_light_points(light);
    let mut chart = layout
        .chart(root)
        .build_cartesian_2d(0f64..m.x_max, y_axis)
        .map_err(de)?;
    mesh!(chart, m, "latency (ms, log scale)");
    let area = Area::of(chart.plotting_area(), m.x_max);
    backdrop(root, m, &layout, &area)?;

    let colour = |f: u16| F_COLOURS[f as usize % F_COLOURS.len()];
    let point = |i: usize| {
        let s = &ops.samples[i];
        let y = match s.outcome {
            Outcome::Open => y_open,
            _ => data::lat_ms(s.latency()),
        };
        (secs(s.t), y, colour(s.f), s.outcome)
    };
    let of = |o: Outcome| {
        drawn
            .idx
            .iter()
            .map(move |&i| point(i))
            .filter(move |p| p.3 == o)
    };
    chart
        .draw_series(
            of(Outcome::Ok).map(|(x, y, c, _)| Circle::new((x, y), 2, c.mix(0.6).filled())),
        )
        .map_err(de)?;
    chart
        .draw_series(of(Outcome::Fail).map(|(x, y, c, _)| Cross::new((x, y), 3, c.stroke_width(1))))
        .map_err(de)?;
    chart
        .draw_series(
            of(Outcome::Info)
                .map(|(x, y, c, _)| TriangleMarker::new((x, y), 4, c.mix(0.85).filled())),
        )
        .map_err(de)?;
    chart
        .draw_series(
            of(Outcome::Open).map(|(x, y, c, _)| Circle::new((x, y), 3, c.stroke_width(1))),
        )
        .map_err(de)?;
    let note = (n == 0).then_some("no client operations");
    foreground(root, m, &layout, &area, note)
}

/// `latency-quantiles`.
fn quantiles<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model<'_>) -> Res {
    let per_f: Vec<Vec<Quantiles>> = data::quantiles(&m.ops, m.end, m.window);
    let all = per_f.iter().flatten().flat_map(|q| q.q);
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = latency_range(lo, hi);
    let subtitle = format!(
        "completed client ops by invoke time, per f, in {} windows (nearest-rank quantiles)",
        duration(m.window)
    );
    let mut entries: Vec<Entry> = Vec::new();
    for (i, f) in m.ops.fs.iter().enumerate() {
        if !per_f[i].is_empty() {
            entries.push(Entry {
                mark: Mark::Line(F_COLOURS[i % F_COLOURS.len()], 3, None, 1.0),
                text: f.clone(),
            });
        }
    }
    for (name, width, dash, alpha) in QUANTILES {
        entries.push(Entry {
            mark: Mark::Line(MUTED, width, dash, alpha),
            text: name.into(),
        });
    }
    entries.extend(fault_entries(m));

    let layout = Layout::new(root, m, entries)?;
    header(root, m, Kind::Quantiles, &subtitle)?;
    let (bold, light) = log_ticks(lo, hi);
    let y_axis = (lo..hi)
        .log_scale()
        .with_key_points(bold)
        .with_light_points(light);
    let mut chart = layout
        .chart(root)
        .build_cartesian_2d(0f64..m.x_max, y_axis)
        .map_err(de)?;
    mesh!(chart, m, "latency (ms, log scale)");
    let area = Area::of(chart.plotting_area(), m.x_max);
    backdrop(root, m, &layout, &area)?;

    for (f, qs) in per_f.iter().enumerate() {
        let colour = F_COLOURS[f % F_COLOURS.len()];
        for run in runs(qs) {
            for (k, &(_, width, dash, alpha)) in QUANTILES.iter().enumerate() {
                let pts: Vec<(f64, f64)> = run.iter().map(|q| (q.mid, q.q[k])).collect();
                let style = colour.mix(alpha).stroke_width(width);
                if pts.len() == 1 {
                    chart
                        .draw_series(std::iter::once(Circle::new(pts[0], 2, style.filled())))
                        .map_err(de)?;
                    continue;
                }
                match dash {
                    None => chart.draw_series(LineSeries::new(pts, style)).map_err(de)?,
                    Some((on, off)) => chart
                        .draw_series(DashedLineSeries::new(pts, on, off, style))
                        .map_err(de)?,
                };
            }
        }
    }
    let note = if m.ops.samples.is_empty() {
        Some("no client operations")
    } else if per_f.iter().all(|q| q.is_empty()) {
        Some("no completed client operations")
    } else {
        None
    };
    foreground(root, m, &layout, &area, note)
}

/// The runs of consecutive windows in `qs` (a window without ops breaks
/// the line).
fn runs(qs: &[Quantiles]) -> Vec<&[Quantiles]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=qs.len() {
        if i == qs.len() || qs[i].win != qs[i - 1].win + 1 {
            out.push(&qs[start..i]);
            start = i;
        }
    }
    out
}

/// `rate`.
fn rate<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &Model<'_>) -> Res {
    let rates: Vec<Rate> = data::rates(&m.ops, m.end, m.window);
    let top = rates.iter().flat_map(|r| r.per_s).fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
    let [_, _, _, open] = m.ops.counts();
    let subtitle = format!(
        "completions per second by completion time, in {} windows; {open} invokes with no completion not counted",
        duration(m.window)
    );
    let lines = [("ok", OK), ("fail", FAIL), ("info", INFO)];
    let mut entries: Vec<Entry> = lines
        .iter()
        .map(|&(name, c)| Entry {
            mark: Mark::Line(c, 2, None, 1.0),
            text: name.into(),
        })
        .collect();
    entries.extend(fault_entries(m));

    let layout = Layout::new(root, m, entries)?;
    header(root, m, Kind::Rate, &subtitle)?;
    let mut chart = layout
        .chart(root)
        .build_cartesian_2d(0f64..m.x_max, 0f64..y_max)
        .map_err(de)?;
    mesh!(chart, m, "throughput (ops/s)");
    let area = Area::of(chart.plotting_area(), m.x_max);
    backdrop(root, m, &layout, &area)?;
    if !m.ops.samples.is_empty() {
        for (k, &(_, c)) in lines.iter().enumerate() {
            let pts: Vec<(f64, f64)> = rates.iter().map(|r| (r.mid, r.per_s[k])).collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(de)?;
            if pts.len() <= 40 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))
                    .map_err(de)?;
            }
        }
    }
    let note = m.ops.samples.is_empty().then_some("no client operations");
    foreground(root, m, &layout, &area, note)
}
