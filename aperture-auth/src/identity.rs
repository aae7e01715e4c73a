//! The caller's identity.

/// The login of callers on the gateway's own machine.
pub const LOOPBACK_LOGIN: &str = "(loopback)";

/// Where an identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// Trusted `Tailscale-User-*` headers from a configured proxy.
    Headers,
    /// Tailscale LocalAPI WhoIs.
    Tailscale,
    /// The static CIDR table.
    Static,
    /// A loopback peer.
    Loopback,
}

impl IdentitySource {
    /// The name used in records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Headers => "headers",
            Self::Tailscale => "tailscale",
            Self::Static => "static",
            Self::Loopback => "loopback",
        }
    }
}

/// A caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Login (`alice@example.com`, `tag:api,tag:prod`, `(loopback)`).
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Stable node id, when known.
    pub node_id: String,
    /// Node name, when known.
    pub node_name: String,
    /// Sorted tags.
    pub tags: Vec<String>,
    /// Groups (matched by `group:` grant sources).
    pub groups: Vec<String>,
    /// Where it came from.
    pub source: IdentitySource,
}

impl Identity {
    /// The identity of a loopback peer.
    pub fn loopback() -> Self {
        Self {
            login: LOOPBACK_LOGIN.to_string(),
            display_name: LOOPBACK_LOGIN.to_string(),
            node_id: String::new(),
            node_name: String::new(),
            tags: Vec::new(),
            groups: Vec::new(),
            source: IdentitySource::Loopback,
        }
    }
}
