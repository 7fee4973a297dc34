//! Plots of a stored run, drawn in-process with plotters: SVG for
//! `report.html`, PNG files beside it. Text is rendered with the embedded
//! DejaVu Sans, never a system font.
//!
//! (Skeleton: filled in by the reports issue's plotting work.)

use crate::history::History;
use crate::nemesis::intervals::FaultInterval;
use crate::report::results::Phase;
use std::path::{Path, PathBuf};

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

/// Every plot of a run, as SVG.
pub fn render_svgs(input: &PlotInput<'_>) -> Result<Vec<Plot>, PlotError> {
    let _ = input;
    Ok(Vec::new())
}

/// Every plot of a run, as `NAME.png` in `dir`; returns the files written.
pub fn write_pngs(input: &PlotInput<'_>, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let _ = (input, dir);
    Ok(Vec::new())
}
