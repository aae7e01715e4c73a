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
/// URL), `Tailscale-*` identity headers, and — for requests that came through a trusted
/// proxy — `Forwarded` and `X-Forwarded-*`.
pub(crate) fn clean_upstream_request(headers: &mut HeaderMap, via_proxy: bool) {
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    let tailscale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k.starts_with("tailscale-")
                || (via_proxy && (k == "forwarded" || k.starts_with("x-forwarded-")))
        })
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
        h.insert("x-forwarded-for", HeaderValue::from_static("100.64.0.1"));
        h.insert("forwarded", HeaderValue::from_static("for=100.64.0.1"));
        let mut direct = h.clone();
        clean_upstream_request(&mut h, true);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["anthropic-beta"]);
        // Without a trusted proxy in front, forwarding headers are the client's own and pass.
        clean_upstream_request(&mut direct, false);
        assert!(direct.contains_key("x-forwarded-for") && direct.contains_key("forwarded"));
        assert_eq!(h.get_all("anthropic-beta").iter().count(), 2);
    }
}
