//! The Aperture-compatible LLM gateway server and its `aperture` binary.
//!
//! [`serve`] runs the gateway on a bound listener; [`cli`] is the `aperture` command line
//! (`serve`, `config validate`, `config schema`, `version`). Forwarding to providers is built on
//! the tower layers of the other crates by the gateway issue.
#![deny(missing_docs)]

pub mod cli;
pub mod mock;
mod serve;

pub use serve::{listen_addrs, serve, shutdown_signal};
