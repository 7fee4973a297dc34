//! (to be written): terminal tables.
