//! Benchmarks of the gateway's hot paths; see the `benches` targets.
#![deny(missing_docs)]
