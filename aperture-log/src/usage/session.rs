//! Session ids (SPEC.md §8.4): the first match of
//!
//! 1. header `x-claude-code-session-id`;
//! 2. Anthropic `metadata.user_id`: the UUID after `_session_`, or `session_id` of a JSON-object
//!    string;
//! 3. header `session_id` / `session-id` (Codex);
//! 4. header `x-session-id`;
//! 5. for Responses, the session that produced `previous_response_id` (through
//!    [`SessionHooks::previous_response`], which needs the store);
//! 6. `fp_<16 hex>` = HMAC(install key, login, provider, first system text, first user message);
//! 7. `rnd_<32 hex>`.
//!
//! Values over 128 bytes or with non-printable characters are replaced by `h_<32 hex>`, the HMAC
//! of the value. The HMAC and the random source come from the caller (the server has ring).

use http::HeaderMap;
use serde_json::Value;

use super::format::ResponseFormat;

/// Longest id kept as sent.
pub const MAX_RAW_ID: usize = 128;

/// Where a session id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionSource {
    /// Header `x-claude-code-session-id`.
    ClaudeCodeHeader,
    /// Anthropic `metadata.user_id`.
    AnthropicMetadata,
    /// Header `session_id` or `session-id`.
    SessionHeader,
    /// Header `x-session-id`.
    XSessionId,
    /// The session of the response named by `previous_response_id`.
    PreviousResponse,
    /// A fingerprint of the conversation start.
    Fingerprint,
    /// Random: nothing identified the conversation.
    Random,
}

impl SessionSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCodeHeader => "x-claude-code-session-id",
            Self::AnthropicMetadata => "metadata.user_id",
            Self::SessionHeader => "session_id",
            Self::XSessionId => "x-session-id",
            Self::PreviousResponse => "previous_response_id",
            Self::Fingerprint => "fingerprint",
            Self::Random => "random",
        }
    }
}

/// What session extraction needs from the server.
#[derive(Clone, Copy)]
pub struct SessionHooks<'a> {
    /// HMAC-SHA256 with the install key.
    pub hmac: &'a dyn Fn(&[u8]) -> [u8; 32],
    /// 16 random bytes.
    pub random: &'a dyn Fn() -> [u8; 16],
    /// The session id recorded for a response id (`previous_response_id`), if the store knows it.
    pub previous_response: Option<&'a dyn Fn(&str) -> Option<String>>,
}

impl std::fmt::Debug for SessionHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHooks")
            .field("previous_response", &self.previous_response.is_some())
            .finish_non_exhaustive()
    }
}

/// The session id of a request and where it came from.
pub fn session_id(
    headers: &HeaderMap,
    request_body: &[u8],
    format: ResponseFormat,
    login: &str,
    provider: &str,
    hooks: &SessionHooks<'_>,
) -> (String, SessionSource) {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .find(|v| !v.iter().all(u8::is_ascii_whitespace))
    };
    let clean = |raw: &[u8]| sanitize(raw, hooks.hmac);
    if let Some(v) = header("x-claude-code-session-id") {
        return (clean(v), SessionSource::ClaudeCodeHeader);
    }
    let body: Option<Value> = serde_json::from_slice(request_body).ok();
    if format.is_anthropic() {
        let user_id = body
            .as_ref()
            .and_then(|b| b.get("metadata"))
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .and_then(session_from_user_id);
        if let Some(id) = user_id {
            return (clean(id.as_bytes()), SessionSource::AnthropicMetadata);
        }
    }
    if let Some(v) = header("session_id").or_else(|| header("session-id")) {
        return (clean(v), SessionSource::SessionHeader);
    }
    if let Some(v) = header("x-session-id") {
        return (clean(v), SessionSource::XSessionId);
    }
    if format == ResponseFormat::OpenAiResponses {
        let previous = body
            .as_ref()
            .and_then(|b| b.get("previous_response_id"))
            .and_then(Value::as_str);
        if let (Some(prev), Some(lookup)) = (previous, hooks.previous_response) {
            if let Some(id) = lookup(prev) {
                return (id, SessionSource::PreviousResponse);
            }
        }
    }
    if let Some(user) = body.as_ref().and_then(first_user_text) {
        let system = body.as_ref().and_then(first_system_text).unwrap_or("");
        let mut input = Vec::with_capacity(login.len() + provider.len() + system.len() + 64);
        for part in [login, provider, system, user] {
            input.extend_from_slice(&(part.len() as u64).to_be_bytes());
            input.extend_from_slice(part.as_bytes());
        }
        let mac = (hooks.hmac)(&input);
        return (format!("fp_{}", hex(&mac[..8])), SessionSource::Fingerprint);
    }
    (
        format!("rnd_{}", hex(&(hooks.random)())),
        SessionSource::Random,
    )
}

/// The session in an Anthropic `metadata.user_id`: the UUID after `_session_`
/// (`user_<hash>_account_<uuid>_session_<uuid>`), or `session_id` of a JSON-object string.
pub fn session_from_user_id(user_id: &str) -> Option<String> {
    if user_id.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(user_id).ok()?;
        return v
            .get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
    }
    let (_, rest) = user_id.rsplit_once("_session_")?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    is_uuid(&id).then_some(id)
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The id as sent when short and printable, else `h_<32 hex>` of its HMAC.
fn sanitize(raw: &[u8], hmac: &dyn Fn(&[u8]) -> [u8; 32]) -> String {
    let trimmed = raw.trim_ascii();
    let printable = trimmed.iter().all(|c| (0x20..0x7f).contains(c));
    match std::str::from_utf8(trimmed) {
        Ok(s) if printable && s.len() <= MAX_RAW_ID => s.to_string(),
        _ => format!("h_{}", hex(&hmac(raw)[..16])),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The first text of a content value: a string, an array of blocks / parts, or an object with
/// `text`, `parts` or `content`.
fn text_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Array(items) => items.iter().find_map(|i| match i {
            Value::String(s) => Some(s.as_str()),
            _ => i.get("text").and_then(Value::as_str),
        }),
        Value::Object(_) => v
            .get("text")
            .and_then(Value::as_str)
            .or_else(|| v.get("parts").and_then(text_of))
            .or_else(|| v.get("content").and_then(text_of)),
        _ => None,
    }
}

/// The messages of any format: `messages` (Anthropic, Chat, Converse), `input` (Responses),
/// `contents` (Gemini).
fn messages(body: &Value) -> &[Value] {
    ["messages", "input", "contents"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_array))
        .map_or(&[], Vec::as_slice)
}

/// The first system text: Anthropic / Converse `system`, Responses `instructions`, Gemini
/// `systemInstruction`, else the first `system` / `developer` message.
fn first_system_text(body: &Value) -> Option<&str> {
    [
        "system",
        "instructions",
        "systemInstruction",
        "system_instruction",
    ]
    .iter()
    .find_map(|k| body.get(*k).and_then(text_of))
    .or_else(|| {
        messages(body)
            .iter()
            .find(|m| {
                matches!(
                    m.get("role").and_then(Value::as_str),
                    Some("system" | "developer")
                )
            })
            .and_then(|m| m.get("content").and_then(text_of))
    })
}

/// The first user message's text (a Responses string `input` counts; Gemini contents without a
/// role are the user's).
fn first_user_text(body: &Value) -> Option<&str> {
    if let Some(s) = body.get("input").and_then(Value::as_str) {
        return Some(s);
    }
    messages(body)
        .iter()
        .filter(|m| matches!(m.get("role").and_then(Value::as_str), Some("user") | None))
        .find_map(|m| {
            m.get("content")
                .and_then(text_of)
                .or_else(|| m.get("parts").and_then(text_of))
        })
}
