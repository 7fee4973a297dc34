//! What a person sees: the live progress of a run at the terminal
//! ([`progress`]), latency quantiles ([`latency`]), the share of the main
//! phase with a quorum up ([`quorum`]) and the final summary table of
//! checker verdicts and latencies ([`table`]).
//!
//! Terminal output respects `NO_COLOR` (<https://no-color.org>): when it is
//! set (to anything), no ANSI colour is written.

pub mod latency;
pub mod progress;
pub mod quorum;
pub mod table;

/// True when colours may be written to a terminal: `NO_COLOR` is unset.
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none()
}
