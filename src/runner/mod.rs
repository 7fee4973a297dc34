//! (to be written): one test run.
