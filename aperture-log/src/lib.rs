//! What happened to a request.
//!
//! This crate will extract usage, cost, sessions and tool calls from request and response bodies
//! (JSON and SSE streams), build request records and store them in SQLite. It is filled in by the
//! request-log issue; today it only reserves its place in the workspace.
#![deny(missing_docs)]
