//! The `store` crate (to be built).
