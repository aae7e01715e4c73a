//! Usage extraction (being written).
