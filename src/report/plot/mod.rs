//! Plots of a stored run, drawn in-process with plotters: SVG for
//! `report.html`, PNG files beside it. Three plots, as Jepsen draws them:
//!
//! - `latency-raw`: every client op's latency (completion − invoke, ms, log
//!   scale) at its invoke time, coloured by `f`, its marker by how it
//!   ended. An `info` op is drawn at the time its client waited before
//!   giving up (a lower bound: it may take effect later); an invoke with no
//!   completion has no latency and is drawn in a row above all latencies.
//!   Over [`RAW_LIMIT`] ops, the ops drawn are thinned deterministically
//!   (one per f and outcome in each small cell of the plot, see
//!   `data::downsample`) and the subtitle says how many were drawn.
//! - `latency-quantiles`: per `f`, the p50, p95, p99 and max latency of the
//!   completed ops invoked in each time window.
//! - `rate`: ok, fail and info completions per second in each window.
//!
//! Windows are about a hundredth of the run and at least a second (at
//! least ten windows for a run shorter than 10 s); the last one takes the
//! remainder. Every plot shades the nemesis's fault intervals (one colour
//! per fault family, labelled above the plot) and marks the start of each
//! phase with a dashed line and its name.
//!
//! Text is measured with the embedded DejaVu Sans through plotters'
//! `ab_glyph` support (registered once, see [`font_family`]) and drawn into
//! PNGs with the same font by `raster::Raster`; plotters is built without its
//! `ttf` feature, so no code path reads system fonts or needs fontconfig. In an SVG the text stays text, naming DejaVu Sans
//! first and generic fallbacks after it; plotters escapes it (`<`, `&`,
//! quotes), so an `f` from the history cannot inject markup.

mod data;
mod draw;
mod raster;

use crate::history::History;
use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use plotters::style::{register_font, FontStyle};
use raster::Raster;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Above this many client ops, `latency-raw` draws a deterministic subset
/// of at most this many (about 100 bytes of SVG each).
pub const RAW_LIMIT: usize = 20_000;

/// Width and height of every plot, pixels.
pub const SIZE: (u32, u32) = (1000, 420);

/// The embedded font (its licence is `assets/fonts/DejaVuSans.LICENSE`).
const DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// The family name the embedded font is registered under and every text
/// of a plot uses. It is a CSS font list so that an SVG shown where DejaVu
/// Sans is not installed falls back to a sans-serif font; plotters looks
/// the same string up in its own font table for PNGs.
const FAMILY: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

/// Registers the embedded font (once per process) and returns the family
/// name to draw text with. plotters' own defaults (`sans-serif`) are
/// registered too, so a text style left at its default still renders.
pub fn font_family() -> Result<&'static str, PlotError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for name in [FAMILY, "sans-serif"] {
                register_font(name, FontStyle::Normal, DEJAVU_SANS)
                    .map_err(|_| "embedded font DejaVuSans.ttf: not a valid font".to_string())?;
            }
            Ok(())
        })
        .clone()
        .map(|()| FAMILY)
        .map_err(PlotError)
}

/// What every plot draws from.
#[derive(Debug, Clone, Copy)]
pub struct PlotInput<'a> {
    /// The history (client ops plotted; nemesis ops give the intervals).
    pub history: &'a History,
    /// The fault intervals to shade and label.
    pub intervals: &'a [FaultInterval],
    /// The phases to mark.
    pub phases: &'a [Phase],
}

/// One plot, as SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File stem: `latency-raw`, `latency-quantiles`, `rate`.
    pub name: &'static str,
    /// The title shown above it.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// A plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlotError(pub String);

/// The three plots, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `latency-raw`.
    Raw,
    /// `latency-quantiles`.
    Quantiles,
    /// `rate`.
    Rate,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Raw, Kind::Quantiles, Kind::Rate];

    /// The file stem.
    fn name(self) -> &'static str {
        match self {
            Kind::Raw => "latency-raw",
            Kind::Quantiles => "latency-quantiles",
            Kind::Rate => "rate",
        }
    }

    /// The title drawn above the plot.
    fn title(self) -> &'static str {
        match self {
            Kind::Raw => "Latency of each client operation",
            Kind::Quantiles => "Latency quantiles",
            Kind::Rate => "Throughput",
        }
    }
}

/// Every plot of a run, as SVG: `latency-raw`, `latency-quantiles`,
/// `rate`. Each is a standalone `<svg>` element (no XML prolog), ready to
/// inline into HTML.
pub fn render_svgs(input: &PlotInput<'_>) -> Result<Vec<Plot>, PlotError> {
    let model = draw::Model::new(input, font_family()?);
    Kind::ALL
        .iter()
        .map(|&kind| {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw::plot(&root, kind, &model)
                    .map_err(|e| PlotError(format!("plot {}: {e}", kind.name())))?;
            }
            Ok(Plot {
                name: kind.name(),
                title: kind.title().to_string(),
                svg: standalone(svg),
            })
        })
        .collect()
}

/// Every plot of a run, as `NAME.png` in `dir` (created if missing);
/// returns the files written.
pub fn write_pngs(input: &PlotInput<'_>, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let model = draw::Model::new(input, font_family()?);
    std::fs::create_dir_all(dir)
        .map_err(|e| PlotError(format!("{}: cannot create directory: {e}", dir.display())))?;
    Kind::ALL
        .iter()
        .map(|&kind| {
            let path = dir.join(format!("{}.png", kind.name()));
            {
                let root = Raster::new(BitMapBackend::new(&path, SIZE))?.into_drawing_area();
                draw::plot(&root, kind, &model)
                    .map_err(|e| PlotError(format!("{}: {e}", path.display())))?;
            }
            Ok(path)
        })
        .collect()
}

/// One plot drawn into an RGB pixel buffer (3 bytes a pixel, rows of
/// [`SIZE`]`.0`): what its PNG holds, for tests that look at pixels.
#[cfg(test)]
pub(crate) fn render_rgb(input: &PlotInput<'_>, kind: Kind) -> Result<Vec<u8>, PlotError> {
    let model = draw::Model::new(input, font_family()?);
    let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = Raster::new(BitMapBackend::with_buffer(&mut buf, SIZE))?.into_drawing_area();
        draw::plot(&root, kind, &model)
            .map_err(|e| PlotError(format!("plot {}: {e}", kind.name())))?;
    }
    Ok(buf)
}

/// `svg` without any XML prolog or doctype before its `<svg` element
/// (plotters 0.3.7 writes none; this keeps inlining safe if that changes).
fn standalone(svg: String) -> String {
    match svg.find("<svg") {
        Some(0) | None => svg,
        Some(i) => svg[i..].to_string(),
    }
}

#[cfg(test)]
mod tests;
