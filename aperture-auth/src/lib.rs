//! Who is calling and what they may use.
//!
//! This crate will hold the caller's `Identity` and its sources (Tailscale WhoIs, trusted
//! headers, a static table, loopback), the evaluation of grants, and the upstream credential
//! strategies (`Injected`, `Passthrough`, `PassthroughWithFallback`, `None`). It is filled in by
//! the identity and gateway issues; today it only reserves its place in the workspace.
#![deny(missing_docs)]
