//! Session id precedence (SPEC.md §8.4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aperture_log::usage::session::session_from_user_id;
use aperture_log::usage::{ResponseFormat, SessionHooks, SessionSource, session_id};
use http::{HeaderMap, HeaderValue};
use serde_json::json;

/// A stand-in for HMAC-SHA256 (the server passes ring's): FNV-1a spread over 32 bytes.
fn fake_hmac(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut h: u64 = 0xcbf29ce484222325;
    for (i, slot) in out.iter_mut().enumerate() {
        for b in data.iter().chain(&[i as u8]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        *slot = (h >> 24) as u8;
    }
    out
}

fn random() -> [u8; 16] {
    [0xab; 16]
}

fn lookup(id: &str) -> Option<String> {
    (id == "resp_prev").then(|| "sess-from-store".to_string())
}

fn sid(
    headers: &[(&str, &[u8])],
    body: &serde_json::Value,
    format: ResponseFormat,
) -> (String, SessionSource) {
    sid_as(headers, body, format, "alice@example.com")
}

fn sid_as(
    headers: &[(&str, &[u8])],
    body: &serde_json::Value,
    format: ResponseFormat,
    login: &str,
) -> (String, SessionSource) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let hooks = SessionHooks {
        hmac: &fake_hmac,
        random: &random,
        previous_response: Some(&lookup),
    };
    session_id(
        &map,
        body.to_string().as_bytes(),
        format,
        login,
        "anthropic",
        &hooks,
    )
}

const CLAUDE_USER_ID: &str = "user_5d4f1c9e7a2b_account_0c5b2f0e-3f7a-4c1d-9e3b-6a2d8f1c4b7e_session_3f0d2a8e-91c4-4b6e-8a7d-2c5f9e1b0a64";

fn anthropic_body() -> serde_json::Value {
    json!({
        "model": "claude-sonnet-4-6",
        "metadata": {"user_id": CLAUDE_USER_ID},
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "fix the bug"}]}]
    })
}

#[test]
fn precedence_table() {
    use ResponseFormat::*;
    use SessionSource::*;
    let all: &[(&str, &[u8])] = &[
        ("x-claude-code-session-id", b"cc-1"),
        ("session_id", b"codex-1"),
        ("x-session-id", b"x-1"),
    ];
    let body = anthropic_body();
    assert_eq!(
        sid(all, &body, AnthropicMessages),
        ("cc-1".into(), ClaudeCodeHeader)
    );
    assert_eq!(
        sid(&all[1..], &body, AnthropicMessages),
        (
            "3f0d2a8e-91c4-4b6e-8a7d-2c5f9e1b0a64".into(),
            AnthropicMetadata
        )
    );
    // metadata.user_id only counts for Anthropic formats.
    assert_eq!(
        sid(&all[1..], &body, OpenAiChat),
        ("codex-1".into(), SessionHeader)
    );
    assert_eq!(
        sid(
            &[("session-id", b"codex-2"), ("x-session-id", b"x-1")],
            &json!({}),
            OpenAiResponses
        ),
        ("codex-2".into(), SessionHeader)
    );
    assert_eq!(
        sid(&all[2..], &json!({}), OpenAiChat),
        ("x-1".into(), XSessionId)
    );
    let responses = json!({"model": "gpt-5", "previous_response_id": "resp_prev", "input": "hi"});
    assert_eq!(
        sid(&[], &responses, OpenAiResponses),
        ("sess-from-store".into(), PreviousResponse)
    );
    // An unknown previous response falls through to the fingerprint.
    let unknown = json!({"model": "gpt-5", "previous_response_id": "resp_other", "input": "hi"});
    assert_eq!(sid(&[], &unknown, OpenAiResponses).1, Fingerprint);
    // previous_response_id is only looked up for Responses.
    assert_eq!(sid(&[], &responses, OpenAiChat).1, Fingerprint);
    assert_eq!(
        sid(&[], &json!({"model": "m"}), OpenAiChat),
        (format!("rnd_{}", "ab".repeat(16)), Random)
    );
    assert_eq!(sid(&[], &json!("not an object"), OpenAiChat).1, Random);
    // Blank header values are skipped.
    assert_eq!(
        sid(
            &[("x-claude-code-session-id", b"  ")],
            &json!({}),
            OpenAiChat
        )
        .1,
        Random
    );
}

#[test]
fn user_id_forms() {
    assert_eq!(
        session_from_user_id(CLAUDE_USER_ID).as_deref(),
        Some("3f0d2a8e-91c4-4b6e-8a7d-2c5f9e1b0a64")
    );
    assert_eq!(
        session_from_user_id(r#"{"device_id":"d1","account_uuid":"a1","session_id":"s-123"}"#)
            .as_deref(),
        Some("s-123")
    );
    assert_eq!(session_from_user_id("user_abc_session_not-a-uuid"), None);
    assert_eq!(session_from_user_id("plain-user"), None);
    let body = json!({"metadata": {"user_id": r#"{"session_id":"s-9"}"#}, "messages": []});
    assert_eq!(
        sid(&[], &body, ResponseFormat::BedrockInvoke),
        ("s-9".into(), SessionSource::AnthropicMetadata)
    );
}

#[test]
fn fingerprint_is_stable_per_conversation_start() {
    use ResponseFormat::*;
    let first = anthropic_body_without_metadata("fix the bug", "next turn");
    let later = anthropic_body_without_metadata("fix the bug", "another turn entirely");
    let other = anthropic_body_without_metadata("write docs", "next turn");
    let (a, src) = sid(&[], &first, AnthropicMessages);
    assert_eq!(src, SessionSource::Fingerprint);
    assert!(a.starts_with("fp_") && a.len() == 19 && a[3..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a, sid(&[], &later, AnthropicMessages).0);
    assert_ne!(a, sid(&[], &other, AnthropicMessages).0);
    assert_ne!(
        a,
        sid_as(&[], &first, AnthropicMessages, "bob@example.com").0
    );

    // Other formats' shapes: Chat system/user, Responses instructions/input, Gemini, Converse.
    let chat = json!({"messages": [{"role": "developer", "content": "sys"}, {"role": "user", "content": [{"type": "text", "text": "q"}]}]});
    let resp = json!({"instructions": "sys", "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}]});
    let gem = json!({"systemInstruction": {"parts": [{"text": "sys"}]}, "contents": [{"role": "user", "parts": [{"text": "q"}]}]});
    let conv = json!({"system": [{"text": "sys"}], "messages": [{"role": "user", "content": [{"text": "q"}]}]});
    let ids: Vec<String> = [
        (chat, OpenAiChat),
        (resp, OpenAiResponses),
        (gem, Gemini),
        (conv, BedrockConverse),
    ]
    .iter()
    .map(|(b, f)| {
        let (id, src) = sid(&[], b, *f);
        assert_eq!(src, SessionSource::Fingerprint, "{b}");
        id
    })
    .collect();
    // The same system and user text give the same fingerprint whatever the format.
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

fn anthropic_body_without_metadata(first: &str, last: &str) -> serde_json::Value {
    json!({
        "system": "You are helpful.",
        "messages": [
            {"role": "user", "content": first},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": last}
        ]
    })
}

#[test]
fn long_or_unprintable_values_are_hashed() {
    let long = vec![b'a'; 129];
    let (id, src) = sid(
        &[("x-session-id", &long)],
        &json!({}),
        ResponseFormat::OpenAiChat,
    );
    assert_eq!(src, SessionSource::XSessionId);
    assert!(id.starts_with("h_") && id.len() == 34, "{id}");
    let ok = vec![b'a'; 128];
    assert_eq!(
        sid(
            &[("x-session-id", &ok)],
            &json!({}),
            ResponseFormat::OpenAiChat
        )
        .0
        .len(),
        128
    );
    let (id, _) = sid(
        &[("session_id", b"caf\xc3\xa9")],
        &json!({}),
        ResponseFormat::OpenAiChat,
    );
    assert!(id.starts_with("h_"));
    let (id, _) = sid(
        &[("session_id", b"a\tb")],
        &json!({}),
        ResponseFormat::OpenAiChat,
    );
    assert!(id.starts_with("h_"));
    // Hashing is deterministic.
    assert_eq!(
        id,
        sid(
            &[("session_id", b"a\tb")],
            &json!({}),
            ResponseFormat::OpenAiChat
        )
        .0
    );
}
