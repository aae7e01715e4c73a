//! What happened to a request.
//!
//! - [`record`]: the request record and the usage types every part shares.
//! - [`usage`]: usage, tool-call and session extraction from response bodies and SSE streams
//!   (decoding compressed copies), incremental and bounded.
//! - [`pricing`]: the bundled price table, `cost_basis` and `model_cost_map`.
//! - [`store`]: the store trait, the embedded SQLite store and its writer thread.
#![deny(missing_docs)]

pub mod build;
pub mod pricing;
pub mod quota;
pub mod record;
pub mod redact;
pub mod slot;
pub mod store;
pub mod usage;

pub use record::{Observation, ToolCall, Usage};
pub use slot::{RecordSlot, SlotData};
