//! The `detect` crate (to be built).
