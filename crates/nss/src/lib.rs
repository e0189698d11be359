//! The `nss` crate (to be built).
