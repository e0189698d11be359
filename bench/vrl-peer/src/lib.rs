//! VRL peer for the parse benchmark (to be written).
