//! Where a request goes: endpoint classification, model extraction, provider choice, the
//! model splice, the upstream URL and native error envelopes (SPEC.md §3 and §7).
//!
//! A request passes through these steps, each a plain function or value (no tower types):
//!
//! 1. [`Endpoint::classify`] turns method, path and headers into an [`Endpoint`]: its
//!    [`ApiType`], the compatibility flag a provider needs, the caller's [`ApiFormat`] for
//!    errors, where the model comes from ([`ModelSource`]) and the path to send upstream.
//!    Refusals are [`ClassifyError`]s (404, 405, 400, 501).
//! 2. For body-model endpoints, [`extract_body_model`] finds the top-level `model` in one
//!    validating pass and returns the byte span of its token.
//! 3. [`RouteTable::find`] picks the provider: qualified `provider/model` first, then bare
//!    names; grants and flags filter; highest preference wins. Refusals are [`RouteError`]s.
//! 4. For a qualified body model, [`splice_model`] rewrites only the model token.
//! 5. [`upstream_uri`] joins the provider's base URL, the upstream path and the query.
//!
//! Every gateway-made error is rendered by [`render_error_with`] (or the `render` method of
//! each error type) in the caller's native envelope.
//!
//! ```
//! use aperture_config::{load_str, Mode};
//! use aperture_route::{extract_body_model, splice_model, upstream_uri, Endpoint, ModelSource,
//!     RouteTable};
//! use http::{HeaderMap, Method};
//!
//! let config = load_str(r#"{ "providers": { "openai": { "baseurl": "https://api.openai.com",
//!     "models": ["gpt-5"] } } }"#, Mode::Load).config.unwrap();
//! let table = RouteTable::new(&config);
//!
//! let endpoint = Endpoint::classify(&Method::POST, "/v1/chat/completions", &HeaderMap::new())
//!     .unwrap();
//! assert_eq!(endpoint.model, ModelSource::Body);
//! let body = br#"{"model":"openai/gpt-5","messages":[]}"#;
//! let found = extract_body_model(body).unwrap();
//! let route = table.find(&found.model, false, endpoint.flag, |_, _| true).unwrap();
//! assert!(route.qualified);
//! let upstream_body = splice_model(body, found.span, &route.upstream_model);
//! assert_eq!(&upstream_body[..], br#"{"model":"gpt-5","messages":[]}"#);
//! let base = config.providers[&route.provider].baseurl.clone().unwrap();
//! let uri = upstream_uri(&base, &endpoint.upstream_path, None, true).unwrap();
//! assert_eq!(uri, "https://api.openai.com/v1/chat/completions");
//! ```
#![deny(missing_docs)]

mod api;
mod classify_error;
mod endpoint;
mod envelope;
mod model;
mod path;
mod scan;
mod table;
mod url;

pub use api::{ApiFormat, ApiType};
pub use classify_error::ClassifyError;
pub use endpoint::{Endpoint, ModelSource};
pub use envelope::{ErrorKind, ErrorResponse, render_error, render_error_with};
pub use model::{BodyModel, ModelError, extract_body_model, splice_model};
pub use table::{Route, RouteError, RouteTable};
pub use url::{UpstreamUriError, has_key_param, upstream_uri};
