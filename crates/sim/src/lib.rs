//! The `sim` crate (to be built): a Zscaler feed simulator.
