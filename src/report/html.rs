//! `report.html`: one self-contained file per run (no network, no other
//! file): summary, plots, fault timeline, an explanation of every anomaly
//! with its minimal anomaly first, and a per-process op timeline drawn on a
//! canvas from compact data. Every value from the history or the system
//! under test is escaped.
//!
//! (Skeleton: filled in by the reports issue's HTML work.)
