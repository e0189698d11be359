//! The `journal` crate (to be built).
