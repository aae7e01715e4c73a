//! Header hygiene for both directions (SPEC.md §4.1).

use http::HeaderMap;
use http::header::{self, HeaderName};

/// Hop-by-hop headers, never forwarded in either direction.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::PROXY_AUTHORIZATION);
}

/// Removes what never goes to a provider: hop-by-hop headers, `Host` (set from the upstream
/// URL), and `Tailscale-*` identity headers.
pub(crate) fn clean_upstream_request(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    let tailscale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("tailscale-"))
        .cloned()
        .collect();
    for name in tailscale {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hop_by_hop_and_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("host", HeaderValue::from_static("gateway"));
        h.insert("tailscale-user-login", HeaderValue::from_static("alice"));
        h.append("anthropic-beta", HeaderValue::from_static("a"));
        h.append(
            "anthropic-beta",
            HeaderValue::from_static("oauth-2025-04-20"),
        );
        clean_upstream_request(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["anthropic-beta"]);
        assert_eq!(h.get_all("anthropic-beta").iter().count(), 2);
    }
}
