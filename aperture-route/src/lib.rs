//! Where a request goes.
//!
//! This crate will classify request paths into API formats, extract the model from the path or
//! the body, and choose a provider by model name. It is filled in by the gateway issue; today it
//! only reserves its place in the workspace.
#![deny(missing_docs)]
