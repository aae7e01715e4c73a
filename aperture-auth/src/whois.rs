//! Tailscale LocalAPI WhoIs answers (`GET /localapi/v0/whois?addr=IP:PORT`) → [`Identity`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::identity::{Identity, IdentitySource, tag_login};

/// The capability key of Aperture's grants in a WhoIs `CapMap`.
pub const APERTURE_CAP: &str = "tailscale.com/cap/aperture";

#[derive(Deserialize)]
struct WhoIsResponse {
    #[serde(rename = "Node")]
    node: Option<Node>,
    #[serde(rename = "UserProfile")]
    user: Option<UserProfile>,
    /// Values are usually arrays; capabilities granted without values come as `null`.
    #[serde(rename = "CapMap", default)]
    cap_map: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(rename = "StableID", default)]
    stable_id: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Tags", default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct UserProfile {
    #[serde(rename = "LoginName", default)]
    login_name: String,
    #[serde(rename = "DisplayName", default)]
    display_name: String,
}

/// A WhoIs answer that is not the JSON tailscaled sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoIsError(pub String);

impl std::fmt::Display for WhoIsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected WhoIs answer: {}", self.0)
    }
}

impl std::error::Error for WhoIsError {}

/// Turns a WhoIs answer into an identity. A tagged node's login is its sorted tags joined by
/// `,` whatever its placeholder profile says; a node with neither a user nor tags has no
/// identity (`Ok(None)`). Capability objects under `tailscale.com/cap/aperture` become the
/// identity's network grants.
///
/// ```
/// let body = br#"{"Node": {"StableID": "nABC", "Name": "ci-1.example.ts.net.", "Tags": ["tag:prod", "tag:api"]},
///                 "UserProfile": {"LoginName": "tagged-devices", "DisplayName": "Tagged Devices"},
///                 "CapMap": {"tailscale.com/cap/aperture": [{"role": "user"}]}}"#;
/// let id = aperture_auth::identity_from_whois(body).unwrap().unwrap();
/// assert_eq!(id.login, "tag:api,tag:prod");
/// assert_eq!(id.node_name, "ci-1.example.ts.net");
/// assert_eq!(id.capabilities.len(), 1);
/// ```
pub fn identity_from_whois(body: &[u8]) -> Result<Option<Identity>, WhoIsError> {
    let r: WhoIsResponse = serde_json::from_slice(body).map_err(|e| WhoIsError(e.to_string()))?;
    let node = r.node.ok_or_else(|| WhoIsError("no Node".into()))?;
    let tags = node.tags.unwrap_or_default();
    let mut identity = if !tags.is_empty() {
        let mut id = Identity::new(tag_login(&tags), IdentitySource::Tailscale);
        let mut sorted = tags.clone();
        sorted.sort();
        sorted.dedup();
        id.tags = sorted;
        id
    } else {
        match r.user.as_ref().filter(|u| !u.login_name.is_empty()) {
            Some(u) => {
                let mut id = Identity::new(u.login_name.clone(), IdentitySource::Tailscale);
                if !u.display_name.is_empty() {
                    id.display_name = u.display_name.clone();
                }
                id
            }
            None => return Ok(None),
        }
    };
    identity.node_id = node.stable_id;
    identity.node_name = node.name.trim_end_matches('.').to_string();
    if let Some(caps) = r
        .cap_map
        .as_ref()
        .and_then(|m| m.get(APERTURE_CAP))
        .and_then(|v| v.as_array())
    {
        identity.capabilities = Arc::new(aperture_config::capabilities_from_json(caps));
    }
    Ok(Some(identity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_device() {
        let body = br#"{"Node": {"ID": 1, "StableID": "nUSER", "Name": "laptop.tail.ts.net.", "Addresses": ["100.64.0.5/32"]},
                        "UserProfile": {"ID": 7, "LoginName": "alice@example.com", "DisplayName": "Alice", "ProfilePicURL": ""},
                        "CapMap": null}"#;
        let id = identity_from_whois(body).unwrap().unwrap();
        assert_eq!(id.login, "alice@example.com");
        assert_eq!(id.display_name, "Alice");
        assert_eq!(id.node_id, "nUSER");
        assert!(id.tags.is_empty() && id.capabilities.is_empty());
    }

    #[test]
    fn node_without_user_or_tags_never_resolves() {
        let body =
            br#"{"Node": {"StableID": "n1", "Name": "x."}, "UserProfile": {"LoginName": ""}}"#;
        assert!(identity_from_whois(body).unwrap().is_none());
    }

    #[test]
    fn capabilities_without_values_are_fine() {
        let body = br#"{"Node": {"StableID": "n1", "Name": "x."}, "UserProfile": {"LoginName": "a@b"},
                        "CapMap": {"https://tailscale.com/cap/file-sharing": null, "tailscale.com/cap/aperture": [{"role": "user"}]}}"#;
        let id = identity_from_whois(body).unwrap().unwrap();
        assert_eq!(id.capabilities.len(), 1);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(identity_from_whois(b"<html>").is_err());
        assert!(identity_from_whois(b"{}").is_err());
    }
}
