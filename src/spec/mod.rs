//! (to be written): YAML specs.
