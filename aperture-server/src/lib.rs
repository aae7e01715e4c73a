//! The Aperture-compatible LLM gateway server and its `aperture` binary.
//!
//! [`serve`] runs the gateway on a bound listener; [`gateway::Gateway`] is the same gateway as
//! a tower service to mount in another app, and [`gateway::GatewayBuilder`] adds an
//! application's own store, identity sources, checks and layers; [`gateway`] has each layer
//! with its settings; [`Error`] is the gateway's one error type; [`cli`] is the `aperture`
//! command line (`serve`, `config validate`, `config schema`, `version`). `compose.rs` is the one place a config becomes stacks.
#![deny(missing_docs)]

pub mod body;
pub mod cli;
pub(crate) mod compose;
pub mod config_store;
pub mod error;
pub mod gateway;
mod headers;
mod idle;
pub mod metrics;
mod request_id;
pub mod runtime;
mod serve;
pub mod tailscale;
pub mod tls;
pub mod upstream;

pub use error::Error;
pub use idle::{IdleTimeout, StreamIdleTimeout};
pub use request_id::RequestId;
pub use serve::{listen, listen_addrs, serve, serve_gateway, shutdown_signal};
