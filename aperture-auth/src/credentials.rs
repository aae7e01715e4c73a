//! Credential strategies: what `auth_mode` does to the credential headers (SPEC.md §2.1).

use aperture_config::{ApiKey, AuthHeader, AuthMode, Provider};
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

/// The headers that carry a provider credential (with the `key` query parameter): the ones
/// `auth_mode` replaces, strips or passes through.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];

/// Every header whose value is a secret: the [`CREDENTIAL_HEADERS`] plus proxy credentials,
/// Azure's `api-key` and cookies. The request log keeps only a fingerprint of their values, and
/// their tokens are scrubbed from every stored body. The one list for credentials and
/// redaction alike.
pub const SECRET_HEADERS: [&str; 7] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "proxy-authorization",
    "api-key",
    "cookie",
    "set-cookie",
];

/// Whether `name` (lowercase) is one of the [`SECRET_HEADERS`].
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.contains(&name)
}

/// What to do with a `key` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKey {
    /// Forward the query as received.
    Keep,
    /// Remove every `key` parameter.
    Drop,
}

/// A provider's credential strategy, with its key header prebuilt (and marked sensitive).
#[derive(Clone)]
pub enum CredentialStrategy {
    /// Client credentials removed; the provider key (if any) injected.
    Injected {
        /// The provider key as a header, if configured.
        key: Option<(HeaderName, HeaderValue)>,
    },
    /// Client credentials forwarded as sent; the provider key only when the client sent none.
    Passthrough {
        /// The provider key as a header, if configured.
        fallback: Option<(HeaderName, HeaderValue)>,
    },
    /// As `Passthrough`, with a provider key required by validation.
    PassthroughWithFallback {
        /// The provider key as a header.
        fallback: Option<(HeaderName, HeaderValue)>,
    },
    /// No credential at all.
    None,
}

impl std::fmt::Debug for CredentialStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints a key (HeaderValue prints "Sensitive", but say less still).
        let (name, key) = match self {
            Self::Injected { key } => ("Injected", key),
            Self::Passthrough { fallback } => ("Passthrough", fallback),
            Self::PassthroughWithFallback { fallback } => ("PassthroughWithFallback", fallback),
            Self::None => ("None", &None),
        };
        write!(
            f,
            "{name}(key: {})",
            if key.is_some() { "[REDACTED]" } else { "none" }
        )
    }
}

impl CredentialStrategy {
    /// The strategy of a provider. `keyfile::` keys are not headers: the server mints a token
    /// from them and sends it instead (see [`crate::keyfile`]).
    pub fn for_provider(p: &Provider) -> Self {
        let key = match &p.apikey {
            ApiKey::Key(secret) => key_header(p.authorization, secret.expose()),
            ApiKey::None | ApiKey::Keyfile(_) => None,
        };
        match p.auth_mode {
            AuthMode::Injected => Self::Injected { key },
            AuthMode::Passthrough => Self::Passthrough { fallback: key },
            AuthMode::PassthroughWithFallback => Self::PassthroughWithFallback { fallback: key },
            AuthMode::None => Self::None,
        }
    }

    /// Rewrites the credential headers of an upstream request. `query_key` says whether the
    /// client put a `key` parameter in the query; the answer says whether to keep it.
    ///
    /// ```
    /// use aperture_auth::{CredentialStrategy, QueryKey};
    /// use http::{HeaderMap, HeaderValue};
    /// let mut h = HeaderMap::new();
    /// h.insert("authorization", HeaderValue::from_static("Bearer sk-ant-oat01-x"));
    /// let s = CredentialStrategy::Passthrough { fallback: None };
    /// assert_eq!(s.apply(&mut h, false), QueryKey::Keep);
    /// assert_eq!(h["authorization"], "Bearer sk-ant-oat01-x");
    /// ```
    pub fn apply(&self, headers: &mut HeaderMap, query_key: bool) -> QueryKey {
        match self {
            Self::Injected { key } => {
                strip(headers);
                if let Some((name, value)) = key {
                    headers.insert(name.clone(), value.clone());
                }
                QueryKey::Drop
            }
            Self::Passthrough { fallback } | Self::PassthroughWithFallback { fallback } => {
                if !has_client_credential(headers) && !query_key {
                    if let Some((name, value)) = fallback {
                        headers.insert(name.clone(), value.clone());
                    }
                }
                QueryKey::Keep
            }
            Self::None => {
                strip(headers);
                QueryKey::Drop
            }
        }
    }
}

/// Whether the request carries a credential header.
pub fn has_client_credential(headers: &HeaderMap) -> bool {
    CREDENTIAL_HEADERS.iter().any(|h| headers.contains_key(*h))
}

fn strip(headers: &mut HeaderMap) {
    for h in CREDENTIAL_HEADERS {
        headers.remove(h);
    }
}

fn key_header(kind: AuthHeader, key: &str) -> Option<(HeaderName, HeaderValue)> {
    if key.is_empty() {
        return None;
    }
    let (name, value) = match kind {
        AuthHeader::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
        AuthHeader::XApiKey => (HeaderName::from_static("x-api-key"), key.to_string()),
        AuthHeader::XGoogApiKey => (HeaderName::from_static("x-goog-api-key"), key.to_string()),
    };
    let mut value = HeaderValue::from_str(&value).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

#[cfg(test)]
mod tests;
