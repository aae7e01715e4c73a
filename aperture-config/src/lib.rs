//! Aperture-compatible gateway configuration.
//!
//! A config is one JSON object, HuJSON allowed (comments, trailing commas). Loading it goes
//! `text → parse (with positions) → lenient type check → ${VAR} substitution → validation →
//! Config`, and reports every problem in one pass as a [`Diagnostic`] with a JSON pointer,
//! a line:column in the file and Aperture's wording. Configs written for Tailscale's Aperture
//! load unchanged.
//!
//! ```
//! use aperture_config::{load_str, Mode, Severity};
//!
//! let text = r#"{
//!   "providers": {
//!     "anthropic": {
//!       "baseurl": "https://api.anthropic.com",
//!       "authorization": "x-api-key",
//!       "auth_mode": "passthrough",
//!       "models": ["claude-sonnet-4-6"],
//!       "compatibility": { "anthropic_messages": true },
//!     },
//!   },
//!   "grants": [
//!     { "src": ["(loopback)"],
//!       "app": { "tailscale.com/cap/aperture": [ { "role": "admin" }, { "models": "**" } ] } },
//!   ],
//! }"#;
//! let loaded = load_str(text, Mode::Strict);
//! assert!(loaded.diagnostics.of(Severity::Error).next().is_none());
//! let config = loaded.config.unwrap();
//! let p = &config.providers["anthropic"];
//! assert_eq!(p.auth_mode, aperture_config::AuthMode::Passthrough);
//! assert!(!p.compatibility.get(aperture_config::CompatFlag::OpenaiChat));
//! ```
//!
//! Strict mode ([`Mode::Strict`]) turns warnings into errors, as `PUT /api/config` and
//! `aperture config validate --strict` do; load mode ([`Mode::Load`]) reports them and loads.
#![deny(missing_docs)]

mod config;
mod diagnostic;
mod env;
mod glob;
mod hujson;
mod lenient;
mod load;
mod position;
pub mod raw;
mod redact;
mod units;
mod validate;
mod values;

pub use config::*;
pub use diagnostic::{Diagnostic, Diagnostics, Mode, Severity, pointer_push};
pub use env::{EnvLookup, has_macro, substitute};
pub use glob::{ModelGlob, ShellGlob};
pub use load::{Loaded, Loader, ReadError, load_file, load_str, schema, schema_json};
pub use raw::RawConfig;
pub use redact::{REDACTED, redact_secrets, restore_redacted, scrub_secrets};
pub use units::{
    NANOS_PER_DOLLAR, Rate, format_duration, format_money, parse_duration, parse_money, parse_rate,
    parse_size,
};
pub use validate::grants::capabilities_from_json;
pub use values::{Cidr, HeaderLine, Secret, Url, parse_http_url};

/// The built-in starter config (HuJSON), served by `aperture serve` when no config file exists
/// and written out for editing: Anthropic and OpenAI providers in passthrough mode, and a grant
/// giving `(loopback)` the admin and user roles and every model.
pub const STARTER_CONFIG: &str = include_str!("../starter.json");
