//! The dashboard at `/ui/` (SPEC.md §12): one HTML shell, a script and a stylesheet, all
//! compiled into the binary. The pages fetch their data from the management API (§11), which
//! enforces who sees what; the shell itself holds no data.
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this
//! origin, no inline script, no frames, and `connect-src 'self'`, so the dashboard works offline
//! and a captured body can never run as script even if it were rendered (the script renders
//! all data as text, never as HTML).

use std::sync::OnceLock;

use aperture_auth::{Access, Identity};
use http::{HeaderValue, StatusCode, header};

use super::{Req, Res};
use crate::body::full;

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The shell's pages: `/ui/`, `/ui/logs…`, `/ui/models`, `/ui/usage`, `/ui/settings`,
/// `/ui/dashboard/<login>`.
fn is_page(rest: &str) -> bool {
    let first = rest.split('/').next().unwrap_or("");
    matches!(
        first,
        "" | "logs" | "models" | "usage" | "settings" | "dashboard"
    )
}

fn security_headers(res: &mut Res) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn page(status: StatusCode, content_type: &'static str, body: String) -> Res {
    let mut res = Res::new(full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(&mut res);
    res
}

/// `&`, `<`, `>`, `"` and `'` as entities.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A refusal or error as a small HTML page (the browser is the caller here).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Res {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/ui/assets/app.css\">\
         <title>Aperture: {code}</title></head><body><main class=\"refusal\">\
         <h1>{code}</h1><p id=\"refusal\">{msg}</p><p><a href=\"/ui/\">Back to my dashboard</a></p>\
         </main></body></html>",
        code = status.as_u16(),
        msg = escape_html(message),
    );
    let mut res = page(status, "text/html; charset=utf-8", body);
    res.extensions_mut()
        .insert(crate::error::GatewayError(message.to_string()));
    res
}

/// A strong validator for an embedded asset: the first 16 bytes of its SHA-256, in hex.
fn etag(content: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, content.as_bytes());
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// The validators of [`APP_JS`] and [`APP_CSS`], computed once.
fn tags() -> &'static (String, String) {
    static TAGS: OnceLock<(String, String)> = OnceLock::new();
    TAGS.get_or_init(|| (etag(APP_JS), etag(APP_CSS)))
}

fn asset(req: &Req, content: &'static str, content_type: &'static str, tag: &str) -> Res {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut res = if fresh {
        let mut r = Res::new(full(""));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Res::new(full(content));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    if let Ok(v) = HeaderValue::from_str(tag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    // Revalidate every time: a new binary must never run with an old script.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(&mut res);
    res
}

/// Answers `GET`/`HEAD /ui…` for a caller with a role. Admin-only pages (settings, another
/// user's dashboard) are refused here too, not only by the API calls behind them.
pub(crate) fn answer(req: &Req, access: &Access) -> Res {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/ui/") else {
        let mut res = Res::new(full(""));
        *res.status_mut() = StatusCode::PERMANENT_REDIRECT;
        res.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/ui/"));
        return res;
    };
    match rest {
        "assets/app.js" => {
            return asset(req, APP_JS, "text/javascript; charset=utf-8", &tags().0);
        }
        "assets/app.css" => return asset(req, APP_CSS, "text/css; charset=utf-8", &tags().1),
        _ => {}
    }
    // One spelling per page: no empty segments (`/ui//settings`), a trailing `/` ignored.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if !is_page(rest) || (!rest.is_empty() && rest.split('/').any(str::is_empty)) {
        return error_page(StatusCode::NOT_FOUND, "no such page");
    }
    if !access.is_admin() {
        let own = req
            .extensions()
            .get::<Identity>()
            .map(|i| i.login.as_str())
            .unwrap_or("");
        let other_dashboard = rest.strip_prefix("dashboard/").is_some_and(|login| {
            percent_encoding::percent_decode_str(login).decode_utf8_lossy() != own
        });
        if rest.starts_with("settings") || other_dashboard {
            return error_page(StatusCode::FORBIDDEN, "admin role required");
        }
    }
    page(
        StatusCode::OK,
        "text/html; charset=utf-8",
        INDEX_HTML.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn pages_and_not_pages() {
        for p in [
            "",
            "logs",
            "logs/sessions/abc",
            "models",
            "usage",
            "settings",
        ] {
            assert!(is_page(p), "{p}");
        }
        for p in ["assets/other.js", "nope", "../etc/passwd"] {
            assert!(!is_page(p), "{p}");
        }
    }

    #[test]
    fn assets_have_distinct_validators() {
        assert_ne!(etag(APP_JS), etag(APP_CSS));
        assert_eq!(etag(APP_JS).len(), 34);
    }
}
