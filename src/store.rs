//! (to be written): results layout.
