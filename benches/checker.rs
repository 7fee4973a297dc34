//! Checker benchmark (to be written).
fn main() {}
