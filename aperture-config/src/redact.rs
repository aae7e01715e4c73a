//! Literal secrets in config text: hidden when the text is shown (`GET /api/config`), restored
//! when edited text comes back with the placeholder still in place (`PUT /api/config`).
//!
//! Both work on the text, token by token, so everything else — comments, order, formatting —
//! stays exactly as written.

use crate::diagnostic::pointer_push;
use crate::env::has_macro;
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

/// Whether the string at `pointer` holds a credential: provider and hook keys, exporter
/// credentials, and `add_headers` entries whose header name looks like one.
fn is_secret(pointer: &str, value: &str) -> bool {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    match parts.as_slice() {
        ["providers", _, "apikey"] | ["hooks", _, "apikey"] => true,
        ["exporters", "s3", "access_key_id" | "access_secret"] => true,
        [.., "add_headers", _] => {
            let name = value
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            [
                "authorization",
                "key",
                "token",
                "secret",
                "cookie",
                "password",
            ]
            .iter()
            .any(|w| name.contains(w))
        }
        _ => false,
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
        if !t.value.is_empty() && !has_macro(&t.value) && is_secret(&t.pointer, &t.value) {
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

/// Puts back the secrets `"__REDACTED__"` stands for: each placeholder takes the token found
/// at the same JSON pointer in `old`. Text that does not parse is returned unchanged (its
/// syntax error is for validation to report). Placeholders with nothing at their pointer in
/// `old` are returned as pointers in `Err`.
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
    if let Ok(old_node) = parse(old) {
        strings(&old_node, "", &mut old_tokens);
    }
    let mut out = String::with_capacity(new.len());
    let mut at = 0;
    let mut missing = Vec::new();
    for t in new_tokens.iter().filter(|t| t.value == REDACTED) {
        match old_tokens
            .iter()
            .rev()
            .find(|o| o.pointer == t.pointer && o.value != REDACTED)
        {
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
        let edited = shown.replace("https://h", "https://h2");
        let restored = restore_redacted(&edited, TEXT).unwrap();
        assert_eq!(restored, TEXT.replace("https://h", "https://h2"));
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
