//! Who is calling, what they may use, and which credential goes upstream.
//!
//! - [`Identity`]: the caller as the network knows it (today: loopback peers as `(loopback)`;
//!   Tailscale WhoIs, trusted headers and the static table come with the identity issue).
//! - [`Access`]: the union of the grants that match an identity: role, model globs, headers.
//! - [`CredentialStrategy`]: what a provider's `auth_mode` does to the credential headers
//!   (SPEC.md §2.1): `Injected`, `Passthrough`, `PassthroughWithFallback`, `None`.
#![deny(missing_docs)]

mod access;
mod credentials;
mod identity;

pub use access::Access;
pub use credentials::{CREDENTIAL_HEADERS, CredentialStrategy, QueryKey, has_client_credential};
pub use identity::{Identity, IdentitySource, LOOPBACK_LOGIN};
