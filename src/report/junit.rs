//! JUnit XML for CI: one test case per checker per run, the anomaly
//! summary in `<failure>`.
//!
//! (Skeleton: filled in by the reports issue's CI work.)
