//! Literal secrets in config text: hidden when the text is shown (`GET /api/config`), restored
//! when edited text comes back with the placeholder still in place (`PUT /api/config`).
//!
//! Both work on the text, token by token, so everything else — comments, order, formatting —
//! stays exactly as written.

use crate::diagnostic::pointer_push;
use crate::hujson::{Kind, Node, Span, parse};

/// What replaces a literal secret when config text is shown.
pub const REDACTED: &str = "__REDACTED__";

/// One string value in the text.
struct StringToken {
    pointer: String,
    span: Span,
    value: String,
}

fn strings(node: &Node, pointer: &str, out: &mut Vec<StringToken>) {
    match &node.kind {
        Kind::String(value) => out.push(StringToken {
            pointer: pointer.to_string(),
            span: node.span,
            value: value.clone(),
        }),
        Kind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &pointer_push(pointer, &i.to_string()), out);
            }
        }
        Kind::Object(members) => {
            for m in members {
                strings(&m.value, &pointer_push(pointer, &m.key), out);
            }
        }
        _ => {}
    }
}

/// Key names whose string values are credentials, at any depth (`apikey`, `api_key`,
/// `access_secret`, `password`, an MCP server's `token`, …). `authorization` and `auth_mode`
/// name a header type or a mode, not a secret.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k == "authorization" || k == "auth_mode" {
        return false;
    }
    [
        "key",
        "secret",
        "token",
        "password",
        "passwd",
        "credential",
        "auth",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Query parameters that carry credentials in URLs.
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "key",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "secret",
        "password",
        "sig",
        "signature",
    ]
    .contains(&n.as_str())
}

/// Whether a URL carries user info or a credential parameter.
fn url_with_credentials(value: &str) -> bool {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    authority.contains('@')
        || query
            .split('&')
            .any(|kv| secret_param(kv.split('=').next().unwrap_or("")))
}

/// Whether a value looks like a credential whatever its key: `sk-…`, `AIza…`, `Bearer …`,
/// `ghp_…`, `AKIA…`, JWTs (SPEC.md §8.3 (4)).
fn looks_like_secret(value: &str) -> bool {
    find_secret_token(value).is_some()
}

/// The byte range of the first credential-looking token in `text`.
fn find_secret_token(text: &str) -> Option<(usize, usize)> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "._~+/=-".contains(c);
    const PREFIXES: [&str; 6] = ["sk-", "AIza", "ghp_", "AKIA", "eyJ", "Bearer "];
    let mut best: Option<(usize, usize)> = None;
    for prefix in PREFIXES {
        let mut from = 0;
        while let Some(i) = text[from..].find(prefix).map(|i| i + from) {
            let start_ok =
                prefix == "Bearer " || text[..i].chars().next_back().is_none_or(|c| !token_char(c));
            let body_start = i + prefix.len();
            let len = text[body_start..]
                .find(|c: char| !token_char(c))
                .unwrap_or(text.len() - body_start);
            let long_enough = if prefix == "eyJ" {
                text[i..body_start + len].matches('.').count() >= 2
            } else {
                len >= 4
            };
            if start_ok && long_enough && best.is_none_or(|(b, _)| i < b) {
                best = Some((i, body_start + len));
            }
            from = body_start;
        }
    }
    best
}

/// Replaces credential-looking tokens in free text (diagnostics, log lines) with
/// `[REDACTED]`.
///
/// ```
/// let s = aperture_config::scrub_secrets("entry \"Authorization Bearer sk-live-123\" is bad");
/// assert_eq!(s, "entry \"Authorization [REDACTED]\" is bad");
/// ```
pub fn scrub_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end)) = find_secret_token(rest) {
        out.push_str(&rest[..start]);
        out.push_str("[REDACTED]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The literal text of a value once its `${VAR}` references are taken out (and, for a header
/// line, its name and an auth scheme word): what would be a literal secret.
fn literal_part(value: &str, header_line: bool) -> String {
    let mut missing = Vec::new();
    let without = crate::env::substitute(value, &|_| Some(String::new()), &mut missing);
    let mut rest = without.as_str();
    if header_line {
        rest = rest.split_once(':').map_or(rest, |(_, v)| v);
    }
    let rest = rest.trim();
    let rest = rest
        .strip_prefix("Bearer")
        .or_else(|| rest.strip_prefix("Basic"))
        .unwrap_or(rest);
    rest.trim().to_string()
}

/// Whether the string at `pointer` holds a literal credential: values of credential-named
/// keys, `add_headers` entries for credential-like headers, URLs with user info or credential
/// parameters, and anything that looks like a key — unless all of it is `${VAR}` references.
fn is_secret(pointer: &str, value: &str) -> bool {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let header_line = matches!(parts.as_slice(), [.., "add_headers", _]);
    let by_place = match parts.as_slice() {
        [.., "add_headers", _] => {
            let name = value.split(':').next().unwrap_or("").trim();
            secret_key(name)
                || name.eq_ignore_ascii_case("authorization")
                || name.eq_ignore_ascii_case("cookie")
        }
        [.., last] => secret_key(&last.replace("~1", "/").replace("~0", "~")),
        [] => false,
    };
    let secret = by_place || url_with_credentials(value) || looks_like_secret(value);
    secret && !literal_part(value, header_line).is_empty()
}

/// The pointers whose values must not change for a `"__REDACTED__"` at `pointer` to take its
/// old value back: what decides where the secret is sent (a provider's `baseurl`, a hook's
/// `url`, an exporter's `endpoint`) and who a grant's headers apply to.
fn guards(pointer: &str) -> Vec<String> {
    let parts: Vec<&str> = pointer.split('/').collect();
    let join = |n: usize, tail: &str| format!("{}/{tail}", parts[..n].join("/"));
    match parts.as_slice() {
        ["", "providers", _, ..] => vec![join(3, "baseurl"), join(3, "authorization")],
        ["", "hooks", _, ..] => vec![join(3, "url"), join(3, "authorization")],
        ["", "exporters", "s3", ..] => vec![join(3, "endpoint")],
        ["", "grants" | "temp_grants", _, ..] => {
            let mut g = vec![join(3, "src")];
            if let Some(i) = parts.iter().position(|p| *p == "add_headers") {
                g.push(join(i, "models"));
                g.push(join(i, "providers"));
            }
            g
        }
        _ => {
            // Elsewhere (mcp, connectors): the object holding the secret keeps its addresses.
            let parent = parts[..parts.len().saturating_sub(1)].join("/");
            ["url", "baseurl", "endpoint", "server", "host"]
                .iter()
                .map(|k| format!("{parent}/{k}"))
                .collect()
        }
    }
}

/// Replaces every literal secret (one that is not a `${VAR}` reference) with
/// `"__REDACTED__"`. Text that does not parse gives `None`: its secrets cannot be found, so it
/// cannot be shown safely.
///
/// ```
/// let text = r#"{"providers": {"p": {"apikey": "sk-live-123", "baseurl": "https://x"}, // note
///                                "q": {"apikey": "${Q_KEY}"}}}"#;
/// let shown = aperture_config::redact_secrets(text).unwrap();
/// assert!(shown.contains(r#""apikey": "__REDACTED__""#));
/// assert!(shown.contains("${Q_KEY}") && shown.contains("// note"));
/// assert!(!shown.contains("sk-live-123"));
/// ```
pub fn redact_secrets(text: &str) -> Option<String> {
    let node = parse(text).ok()?;
    let mut tokens = Vec::new();
    strings(&node, "", &mut tokens);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for t in tokens {
        if !t.value.is_empty() && is_secret(&t.pointer, &t.value) {
            out.push_str(&text[at..t.span.start]);
            out.push('"');
            out.push_str(REDACTED);
            out.push('"');
            at = t.span.end;
        }
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Puts back the secrets `"__REDACTED__"` stands for: each placeholder takes the secret found
/// at the same JSON pointer in `old` — only if that value was a redacted secret and what
/// decides where it goes (a provider's `baseurl`, a hook's `url`, a grant's `src` and
/// `models`, …) did not change, so a placeholder can never carry a key somewhere new. Text
/// that does not parse is returned unchanged (its syntax error is for validation to report).
/// Placeholders that cannot be restored are returned as pointers in `Err`.
pub fn restore_redacted(new: &str, old: &str) -> Result<String, Vec<String>> {
    let Ok(new_node) = parse(new) else {
        return Ok(new.to_string());
    };
    let mut new_tokens = Vec::new();
    strings(&new_node, "", &mut new_tokens);
    if !new_tokens.iter().any(|t| t.value == REDACTED) {
        return Ok(new.to_string());
    }
    let mut old_tokens = Vec::new();
    let old_node = parse(old).ok();
    if let Some(n) = &old_node {
        strings(n, "", &mut old_tokens);
    }
    let subtree = |node: &Node, p: &str| node.to_value().pointer(p).cloned();
    // A guard holding a placeholder itself gets its own old value back: it counts as kept.
    let unchanged = |p: &str| match &old_node {
        Some(o) => {
            let new_value = subtree(&new_node, p);
            new_value.as_ref().and_then(|v| v.as_str()) == Some(REDACTED)
                || subtree(o, p) == new_value
        }
        None => false,
    };
    let mut out = String::with_capacity(new.len());
    let mut at = 0;
    let mut missing = Vec::new();
    for t in new_tokens.iter().filter(|t| t.value == REDACTED) {
        let candidate = old_tokens
            .iter()
            .find(|o| o.pointer == t.pointer && is_secret(&o.pointer, &o.value))
            .filter(|_| guards(&t.pointer).iter().all(|g| unchanged(g)));
        match candidate {
            Some(o) => {
                out.push_str(&new[at..t.span.start]);
                out.push_str(&old[o.span.start..o.span.end]);
                at = t.span.end;
            }
            None => missing.push(t.pointer.clone()),
        }
    }
    out.push_str(&new[at..]);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{
  // keys
  "providers": {
    "a": { "apikey": "sk-ant-literal", "add_headers": ["X-Team: a", "Authorization: Bearer tok"] },
    "b": { "apikey": "${B_KEY}" },
  },
  "hooks": { "h": { "url": "https://h", "apikey": "hook-secret" } },
  "exporters": { "s3": { "access_key_id": "AKIA", "access_secret": "s3-secret", "bucket_name": "b" } },
}"#;

    #[test]
    fn redacts_literal_secrets_only() {
        let shown = redact_secrets(TEXT).unwrap();
        for secret in [
            "sk-ant-literal",
            "Bearer tok",
            "hook-secret",
            "AKIA",
            "s3-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown");
        }
        for kept in ["${B_KEY}", "X-Team: a", "// keys", "https://h", "\"b\""] {
            assert!(shown.contains(kept), "{kept} lost");
        }
        assert_eq!(shown.matches(REDACTED).count(), 5);
    }

    #[test]
    fn a_redacted_text_round_trips_to_the_original() {
        let shown = redact_secrets(TEXT).unwrap();
        assert_eq!(restore_redacted(&shown, TEXT).unwrap(), TEXT);
        // An edit elsewhere keeps the secrets and the edit.
        let edited = shown.replace(r#""bucket_name": "b""#, r#""bucket_name": "b2""#);
        let restored = restore_redacted(&edited, TEXT).unwrap();
        assert_eq!(
            restored,
            TEXT.replace(r#""bucket_name": "b""#, r#""bucket_name": "b2""#)
        );
    }

    #[test]
    fn more_places_secrets_hide() {
        let text = r#"{
  "providers": {
    "u": { "baseurl": "https://user:pw-secret@host.example/v1", "authorization": "x-api-key" },
    "q": { "baseurl": "https://host.example/?key=AIzaQuerySecret", "api_key": "typo-secret",
           "apikey": "sk-part-${X}", "add_headers": ["Helicone-Auth: helicone-secret", "X-Bearer: Bearer ${T}"] },
  },
  "hooks": { "h": { "url": "https://hook.example/?token=hook-token-secret" } },
  "mcp": { "servers": { "s": { "url": "https://mcp.example", "headers": { "x-token": "mcp-secret" } } } },
  "gateway": { "upstream_proxy": "http://u:proxy-secret@proxy.example" },
}"#;
        let shown = redact_secrets(text).unwrap();
        for secret in [
            "pw-secret",
            "AIzaQuerySecret",
            "typo-secret",
            "sk-part",
            "helicone-secret",
            "hook-token-secret",
            "mcp-secret",
            "proxy-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(
            shown.contains(r#""authorization": "x-api-key""#),
            "a header type is not a secret"
        );
        assert!(
            shown.contains("X-Bearer: Bearer ${T}"),
            "only references: nothing to hide"
        );
    }

    #[test]
    fn placeholders_never_follow_a_changed_destination() {
        let shown = redact_secrets(TEXT).unwrap();
        // The same key sent to another server: refused.
        let moved = shown.replace(
            r#""a": { "apikey""#,
            r#""a": { "baseurl": "https://attacker.example", "apikey""#,
        );
        assert_eq!(
            restore_redacted(&moved, TEXT),
            Err(vec![
                "/providers/a/apikey".to_string(),
                "/providers/a/add_headers/1".to_string()
            ])
        );
        // A renamed provider is another provider.
        let renamed = shown.replace(r#""a": {"#, r#""z": {"#);
        assert!(restore_redacted(&renamed, TEXT).is_err());
        // Reordered headers: the placeholder lands where no secret was.
        let reordered = shown.replace(
            r#"["X-Team: a", "__REDACTED__"]"#,
            r#"["__REDACTED__", "X-Team: a"]"#,
        );
        assert_eq!(
            restore_redacted(&reordered, TEXT),
            Err(vec!["/providers/a/add_headers/0".to_string()])
        );
        let hook = shown.replace("https://h", "https://evil.example");
        assert_eq!(
            restore_redacted(&hook, TEXT),
            Err(vec!["/hooks/h/apikey".to_string()])
        );
    }

    #[test]
    fn grant_headers_stay_with_their_grant() {
        let text = r#"{"grants": [
  {"src": ["admin@example.com"], "app": {"tailscale.com/cap/aperture": [{"add_headers": ["Authorization: Bearer ADMIN-ORG-KEY"]}]}},
  {"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"add_headers": ["Authorization: Bearer sk-everyone"]}]}}
]}"#;
        let shown = redact_secrets(text).unwrap();
        assert!(!shown.contains("ADMIN-ORG-KEY"));
        // Deleting the first grant shifts the second into its place: refused, not swapped.
        let start = shown.find(r#"{"src": ["*"]"#).unwrap();
        let deleted = format!("{{\"grants\": [\n  {}", &shown[start..]);
        assert_eq!(
            restore_redacted(&deleted, text),
            Err(vec![
                "/grants/0/app/tailscale.com~1cap~1aperture/0/add_headers/0".to_string()
            ])
        );
    }

    #[test]
    fn free_text_is_scrubbed() {
        assert_eq!(
            scrub_secrets("key sk-ant-api03-abcdef and AIzaSyABCDEF"),
            "key [REDACTED] and [REDACTED]"
        );
        assert_eq!(
            scrub_secrets("no secrets, sk- alone, task-1"),
            "no secrets, sk- alone, task-1"
        );
        assert_eq!(scrub_secrets("jwt eyJhbGc.eyJzdWI.sig"), "jwt [REDACTED]");
    }

    #[test]
    fn a_placeholder_with_nothing_to_restore_is_reported() {
        let new = r#"{"providers": {"c": {"apikey": "__REDACTED__"}}}"#;
        assert_eq!(
            restore_redacted(new, TEXT),
            Err(vec!["/providers/c/apikey".to_string()])
        );
        assert_eq!(redact_secrets("{not json"), None);
    }
}
