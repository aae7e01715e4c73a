//! Who is calling, what they may use, and which credential goes upstream.
//!
//! - [`Identity`]: the caller as the network knows it, and the pure parts of its sources:
//!   trusted `Tailscale-User-*` headers, Tailscale WhoIs answers (with their `CapMap` grants),
//!   the static table, loopback. The server does the I/O (the tailscaled socket) and the order.
//! - [`Access`]: the union of the grants that match an identity: role, model globs, headers.
//! - [`CredentialStrategy`]: what a provider's `auth_mode` does to the credential headers
//!   (SPEC.md §2.1): `Injected`, `Passthrough`, `PassthroughWithFallback`, `None`.
#![deny(missing_docs)]

mod access;
mod credentials;
mod identity;
pub mod keyfile;
mod rfc2047;
mod whois;

pub use access::Access;
pub use credentials::{
    CREDENTIAL_HEADERS, CredentialStrategy, QueryKey, SECRET_HEADERS, has_client_credential,
    is_secret_header,
};
pub use identity::{
    HeaderIdentity, Identity, IdentitySource, LOOPBACK_LOGIN, from_static_table,
    from_trusted_headers, tag_login,
};
pub use whois::{APERTURE_CAP, WhoIsError, identity_from_whois};
