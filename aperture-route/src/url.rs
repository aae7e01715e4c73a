//! The upstream URL: `baseurl` + path + query (SPEC.md §3.4).

use std::borrow::Cow;
use std::fmt;

use http::Uri;

use crate::path::percent_decode;

/// Why an upstream URL could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamUriError {
    /// The base URL has no scheme or host.
    BaseNotAbsolute,
    /// The joined URL is not a valid URI.
    Invalid,
}

impl fmt::Display for UpstreamUriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BaseNotAbsolute => "provider baseurl has no scheme or host",
            Self::Invalid => "upstream URL is not valid",
        })
    }
}

impl std::error::Error for UpstreamUriError {}

/// Joins `baseurl` (trailing `/` trimmed), `upstream_path` ([`crate::Endpoint::upstream_path`])
/// and the request's `query`.
///
/// With `drop_key_param` (injected and `none` credential modes) every `key` parameter leaves
/// the query; the others keep their order and bytes, and an emptied query loses its `?`. A
/// query in the base URL itself (rare: Azure's `api-version`) is kept, before the request's.
///
/// ```
/// use aperture_route::upstream_uri;
/// use http::Uri;
///
/// let base: Uri = "http://host:8080/v1".parse().unwrap();
/// let uri = upstream_uri(&base, "/chat/completions", None, false).unwrap();
/// assert_eq!(uri, "http://host:8080/v1/chat/completions");
///
/// let base: Uri = "https://generativelanguage.googleapis.com/".parse().unwrap();
/// let uri = upstream_uri(
///     &base,
///     "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
///     Some("alt=sse&key=AIza-secret"),
///     true,
/// )
/// .unwrap();
/// assert_eq!(
///     uri,
///     "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
/// );
/// ```
pub fn upstream_uri(
    baseurl: &Uri,
    upstream_path: &str,
    query: Option<&str>,
    drop_key_param: bool,
) -> Result<Uri, UpstreamUriError> {
    let (Some(scheme), Some(authority)) = (baseurl.scheme_str(), baseurl.authority()) else {
        return Err(UpstreamUriError::BaseNotAbsolute);
    };
    let base_path = baseurl.path().trim_end_matches('/');
    let query = match query {
        Some(q) if drop_key_param => without_key_param(q),
        Some(q) => Cow::Borrowed(q),
        None => Cow::Borrowed(""),
    };
    let base_query = baseurl.query().unwrap_or("");

    let mut s = String::with_capacity(
        scheme.len()
            + authority.as_str().len()
            + base_path.len()
            + upstream_path.len()
            + 8
            + base_query.len()
            + query.len(),
    );
    s.push_str(scheme);
    s.push_str("://");
    s.push_str(authority.as_str());
    s.push_str(base_path);
    if !upstream_path.is_empty() && !upstream_path.starts_with('/') {
        s.push('/');
    }
    s.push_str(upstream_path);
    for (i, q) in [base_query, &query]
        .into_iter()
        .filter(|q| !q.is_empty())
        .enumerate()
    {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(q);
    }
    Uri::try_from(s).map_err(|_| UpstreamUriError::Invalid)
}

/// Whether one `name=value` query parameter is `key` (the name compared percent-decoded).
fn is_key(param: &str) -> bool {
    let name = param.split('=').next().unwrap_or("");
    name == "key" || (name.contains('%') && percent_decode(name).as_deref() == Some("key"))
}

/// Whether a query string carries a `key` parameter (a credential, SPEC.md §2.1); names are
/// compared percent-decoded, so `k%65y=` counts.
///
/// ```
/// assert!(aperture_route::has_key_param("alt=sse&key=AIza"));
/// assert!(aperture_route::has_key_param("k%65y=AIza"));
/// assert!(!aperture_route::has_key_param("keys=1&monkey=2"));
/// ```
pub fn has_key_param(query: &str) -> bool {
    query.split('&').any(is_key)
}

/// The query without its `key` parameters (names compared percent-decoded).
fn without_key_param(query: &str) -> Cow<'_, str> {
    if !query.split('&').any(is_key) {
        return Cow::Borrowed(query);
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_key(p)).collect();
    Cow::Owned(kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(base: &str, path: &str, query: Option<&str>, drop: bool) -> String {
        let base: Uri = base.parse().unwrap();
        upstream_uri(&base, path, query, drop).unwrap().to_string()
    }

    #[test]
    fn base_path_and_trailing_slash() {
        assert_eq!(
            join("http://host:8080/v1", "/chat/completions", None, false),
            "http://host:8080/v1/chat/completions"
        );
        assert_eq!(
            join(
                "https://api.openai.com/v1/",
                "/v1/chat/completions",
                None,
                false
            ),
            "https://api.openai.com/v1/v1/chat/completions"
        );
        assert_eq!(
            join(
                "https://api.anthropic.com",
                "/v1/messages",
                Some("beta=true"),
                false
            ),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        assert_eq!(
            join(
                "https://bedrock-runtime.us-east-1.amazonaws.com/",
                "/model/m/invoke",
                None,
                true
            ),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke"
        );
    }

    #[test]
    fn key_parameters_dropped_only_when_asked() {
        let q = Some("key=a&alt=sse&key=b&keyx=1&k%65y=c&x=key");
        assert_eq!(
            join("https://g.example", "/v1beta/x", q, true),
            "https://g.example/v1beta/x?alt=sse&keyx=1&x=key"
        );
        assert_eq!(
            join("https://g.example", "/v1beta/x", q, false),
            "https://g.example/v1beta/x?key=a&alt=sse&key=b&keyx=1&k%65y=c&x=key"
        );
        assert_eq!(
            join("https://g.example", "/p", Some("key=only"), true),
            "https://g.example/p"
        );
        assert_eq!(
            join("https://g.example", "/p", Some("key"), true),
            "https://g.example/p"
        );
        assert_eq!(
            join("https://g.example", "/p", Some(""), false),
            "https://g.example/p"
        );
    }

    #[test]
    fn base_query_comes_first() {
        assert_eq!(
            join(
                "https://az.example/openai?api-version=1",
                "/chat",
                Some("a=b"),
                true
            ),
            "https://az.example/openai/chat?api-version=1&a=b"
        );
    }

    #[test]
    fn errors() {
        let relative: Uri = "/only/a/path".parse().unwrap();
        assert_eq!(
            upstream_uri(&relative, "/x", None, false),
            Err(UpstreamUriError::BaseNotAbsolute)
        );
        let base: Uri = "https://h.example".parse().unwrap();
        assert_eq!(
            upstream_uri(&base, "/bad path", None, false),
            Err(UpstreamUriError::Invalid)
        );
    }
}
