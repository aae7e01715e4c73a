//! The Aperture-compatible LLM gateway server and its `aperture` binary.
//!
//! Today this crate holds the command line ([`cli`]): `aperture config validate`,
//! `aperture config schema` and `aperture version`. The gateway itself (`aperture serve`) is
//! built on the tower layers of the other crates by the gateway issue.
#![deny(missing_docs)]

pub mod cli;
