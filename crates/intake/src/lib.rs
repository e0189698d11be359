//! The `intake` crate (to be built).
