//! The caller's identity, and the pure parts of its sources (SPEC.md §5): trusted headers,
//! Tailscale WhoIs answers, the static table, loopback.

use std::net::IpAddr;
use std::sync::Arc;

use aperture_config::{Capability, StaticIdentity};
use http::HeaderMap;

/// The login of callers on the gateway's own machine.
pub const LOOPBACK_LOGIN: &str = "(loopback)";

/// Where an identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentitySource {
    /// Trusted `Tailscale-User-*` headers from a configured proxy.
    Headers,
    /// Tailscale LocalAPI WhoIs.
    Tailscale,
    /// The static CIDR table.
    Static,
    /// A loopback peer.
    Loopback,
    /// An identity source an embedding application added (API keys, JWTs, …), named by it.
    Custom(&'static str),
}

impl IdentitySource {
    /// The name used in records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Headers => "headers",
            Self::Tailscale => "tailscale",
            Self::Static => "static",
            Self::Loopback => "loopback",
            Self::Custom(name) => name,
        }
    }
}

/// A caller.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Login (`alice@example.com`, `tag:api,tag:prod`, `(loopback)`).
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Stable node id, when known.
    pub node_id: String,
    /// Node name (trailing dot trimmed), when known.
    pub node_name: String,
    /// Sorted tags.
    pub tags: Vec<String>,
    /// Groups (matched by `group:` grant sources).
    pub groups: Vec<String>,
    /// Where it came from.
    pub source: IdentitySource,
    /// Aperture capability objects granted by the network (WhoIs `CapMap`), merged with the
    /// config's grants.
    pub capabilities: Arc<Vec<Capability>>,
}

impl Identity {
    /// An identity with only a login.
    pub fn new(login: impl Into<String>, source: IdentitySource) -> Self {
        let login = login.into();
        Self {
            display_name: login.clone(),
            login,
            node_id: String::new(),
            node_name: String::new(),
            tags: Vec::new(),
            groups: Vec::new(),
            source,
            capabilities: Arc::default(),
        }
    }

    /// The identity of a loopback peer.
    pub fn loopback() -> Self {
        Self::new(LOOPBACK_LOGIN, IdentitySource::Loopback)
    }
}

/// The login of a tagged device: its tags sorted and joined by `,`.
pub fn tag_login(tags: &[String]) -> String {
    let mut tags = tags.to_vec();
    tags.sort();
    tags.dedup();
    tags.join(",")
}

/// What trusted identity headers say (SPEC.md §5, source 1).
#[derive(Debug, Clone)]
pub enum HeaderIdentity {
    /// The request carries no proxy headers: try the next source.
    NotProxied,
    /// `Tailscale-User-Login` named the caller.
    Known(Identity),
    /// A proxied request without a login (a tagged device or Funnel): refused, and never
    /// handed to the static table or loopback.
    Denied,
}

/// Reads `Tailscale-User-Login` / `Tailscale-User-Name` from a request that came from a trusted
/// proxy. The caller must check the peer first.
pub fn from_trusted_headers(headers: &HeaderMap) -> HeaderIdentity {
    let login = headers
        .get("tailscale-user-login")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|l| !l.is_empty());
    if let Some(login) = login {
        let mut id = Identity::new(login, IdentitySource::Headers);
        if let Some(name) = headers
            .get("tailscale-user-name")
            .and_then(|v| v.to_str().ok())
        {
            id.display_name = crate::rfc2047::decode(name);
        }
        return HeaderIdentity::Known(id);
    }
    let proxied = headers.contains_key("x-forwarded-for")
        || headers.contains_key("forwarded")
        || headers.keys().any(|k| k.as_str().starts_with("tailscale-"));
    if proxied {
        HeaderIdentity::Denied
    } else {
        HeaderIdentity::NotProxied
    }
}

/// The first static entry whose CIDR holds `ip` (SPEC.md §5, source 3).
pub fn from_static_table(table: &[StaticIdentity], ip: IpAddr) -> Option<Identity> {
    let entry = table.iter().find(|e| e.cidr.contains(ip))?;
    let mut id = Identity::new(entry.login.clone(), IdentitySource::Static);
    if !entry.display_name.is_empty() {
        id.display_name = entry.display_name.clone();
    }
    id.node_id = entry.node_id.clone();
    id.tags = entry.tags.clone();
    id.groups = entry.groups.clone();
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn headers_name_the_caller_or_refuse_a_proxied_request() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            from_trusted_headers(&h),
            HeaderIdentity::NotProxied
        ));
        h.insert("x-forwarded-for", HeaderValue::from_static("100.64.0.1"));
        assert!(matches!(from_trusted_headers(&h), HeaderIdentity::Denied));
        h.insert(
            "tailscale-user-login",
            HeaderValue::from_static("alice@example.com"),
        );
        h.insert(
            "tailscale-user-name",
            HeaderValue::from_static("=?utf-8?q?Ren=C3=A9e_Smith?="),
        );
        let HeaderIdentity::Known(id) = from_trusted_headers(&h) else {
            panic!("known")
        };
        assert_eq!(id.login, "alice@example.com");
        assert_eq!(id.display_name, "Renée Smith");
        assert_eq!(id.source, IdentitySource::Headers);
        let mut funnel = HeaderMap::new();
        funnel.insert("tailscale-funnel-request", HeaderValue::from_static("?1"));
        assert!(matches!(
            from_trusted_headers(&funnel),
            HeaderIdentity::Denied
        ));
    }

    #[test]
    fn static_table_first_match_wins() {
        let cfg = aperture_config::load_str(
            r#"{"gateway": {"identity": {"static": [
                {"cidr": "10.1.0.0/16", "login": "bob@example.com", "groups": ["group:eng"]},
                {"cidr": "10.0.0.0/8", "tags": ["tag:prod", "tag:api"]}]}}}"#,
            aperture_config::Mode::Load,
        )
        .config
        .unwrap();
        let table = &cfg.gateway.identity.static_table;
        let bob = from_static_table(table, "10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(
            (bob.login.as_str(), bob.groups.as_slice()),
            ("bob@example.com", &["group:eng".to_string()][..])
        );
        let tagged = from_static_table(table, "10.9.0.1".parse().unwrap()).unwrap();
        assert_eq!(tagged.login, "tag:api,tag:prod");
        assert!(from_static_table(table, "192.0.2.1".parse().unwrap()).is_none());
    }
}
