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
use serde_json::value::RawValue;

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
    let body: Option<Value> =
        peek(request_body).or_else(|| serde_json::from_slice(request_body).ok());
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

/// The top-level fields session extraction reads; everything else is skipped unparsed.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    previous_response_id: Option<&'a RawValue>,
    #[serde(borrow)]
    system: Option<&'a RawValue>,
    #[serde(borrow)]
    instructions: Option<&'a RawValue>,
    #[serde(borrow, rename = "systemInstruction")]
    system_instruction_camel: Option<&'a RawValue>,
    #[serde(borrow)]
    system_instruction: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    contents: Option<&'a RawValue>,
}

/// The fields of one message that session extraction reads.
#[derive(serde::Deserialize)]
struct MessagePeek<'a> {
    #[serde(borrow)]
    role: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    parts: Option<&'a RawValue>,
}

/// A small document with just what [`first_system_text`], [`first_user_text`], the metadata
/// and `previous_response_id` look at, read from `body` without building the rest: a coding
/// agent's request carries the whole conversation (often megabytes), of which only the first
/// system and user messages matter. `None` when the body is not a plain object this can read
/// (duplicate keys, say): the caller then parses it whole, so the answer is always the same.
fn peek(body: &[u8]) -> Option<Value> {
    let p: Peek<'_> = serde_json::from_slice(body).ok()?;
    let parse = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).ok();
    let mut out = serde_json::Map::new();
    for (key, raw) in [
        ("metadata", p.metadata),
        ("previous_response_id", p.previous_response_id),
        ("system", p.system),
        ("instructions", p.instructions),
        ("systemInstruction", p.system_instruction_camel),
        ("system_instruction", p.system_instruction),
    ] {
        if let Some(raw) = raw {
            out.insert(key.to_string(), parse(raw)?);
        }
    }
    // The first of `messages`, `input`, `contents` that is an array holds the conversation; a
    // string `input` is the user's text.
    let mut found = false;
    for (key, raw) in [
        ("messages", p.messages),
        ("input", p.input),
        ("contents", p.contents),
    ] {
        let Some(raw) = raw else { continue };
        let text = raw.get().trim_start();
        if !found && text.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            out.insert(key.to_string(), Value::Array(opening_messages(&items)?));
            found = true;
        } else if key == "input" && text.starts_with('"') {
            out.insert(key.to_string(), parse(raw)?);
        }
    }
    Some(Value::Object(out))
}

/// The messages that decide the first system text and the first user text, in order: the first
/// `system` / `developer` message, and user messages up to the first with text. Others (the
/// assistant's, tool results, later turns) are never parsed.
fn opening_messages(items: &[&RawValue]) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let (mut have_system, mut have_user) = (false, false);
    for raw in items {
        if have_system && have_user {
            break;
        }
        if !raw.get().trim_start().starts_with('{') {
            continue; // Not a message object: it can hold neither text.
        }
        let m: MessagePeek<'_> = serde_json::from_str(raw.get()).ok()?;
        let role: Option<Value> = match m.role {
            Some(r) => Some(serde_json::from_str(r.get()).ok()?),
            None => None,
        };
        let role_str = role.as_ref().and_then(Value::as_str);
        let system = matches!(role_str, Some("system" | "developer"));
        let user = matches!(role_str, Some("user") | None);
        let wanted = (system && !have_system) || (user && !have_user);
        if !wanted {
            continue;
        }
        let mut msg = serde_json::Map::new();
        if let Some(role) = role {
            msg.insert("role".into(), role);
        }
        for (key, raw) in [("content", m.content), ("parts", m.parts)] {
            if let Some(raw) = raw {
                msg.insert(key.into(), serde_json::from_str(raw.get()).ok()?);
            }
        }
        let msg = Value::Object(msg);
        if system {
            have_system = true;
        } else {
            have_user = msg
                .get("content")
                .and_then(text_of)
                .or_else(|| msg.get("parts").and_then(text_of))
                .is_some();
        }
        out.push(msg);
    }
    Some(out)
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Everything the session id reads from a body, as owned values.
    fn read(body: &Value) -> (Option<String>, Option<String>, Option<Value>, Option<Value>) {
        (
            first_system_text(body).map(str::to_string),
            first_user_text(body).map(str::to_string),
            body.get("metadata").cloned(),
            body.get("previous_response_id").cloned(),
        )
    }

    fn content() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[a-c]{0,3}".prop_map(Value::String),
            Just(Value::Null),
            Just(json!(7)),
            proptest::collection::vec(
                prop_oneof![
                    "[a-c]{1,3}".prop_map(|t| json!({"type": "text", "text": t})),
                    Just(json!({"type": "image", "source": {}})),
                    "[a-c]{1,2}".prop_map(Value::String),
                ],
                0..3
            )
            .prop_map(Value::Array),
            "[a-c]{1,3}".prop_map(|t| json!({"text": t})),
        ]
    }

    fn message() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                Just(Some(json!("user"))),
                Just(Some(json!("system"))),
                Just(Some(json!("developer"))),
                Just(Some(json!("assistant"))),
                Just(Some(json!(5))),
                Just(None),
            ],
            proptest::option::of(content()),
            proptest::option::of(content()),
            any::<bool>(),
        )
            .prop_map(|(role, content, parts, scalar)| {
                if scalar {
                    return json!("not a message");
                }
                let mut m = serde_json::Map::new();
                if let Some(r) = role {
                    m.insert("role".into(), r);
                }
                if let Some(c) = content {
                    m.insert("content".into(), c);
                }
                if let Some(p) = parts {
                    m.insert("parts".into(), p);
                }
                m.insert("extra".into(), json!({"big": [1, 2, 3]}));
                Value::Object(m)
            })
    }

    fn body() -> impl Strategy<Value = Value> {
        let list = || proptest::collection::vec(message(), 0..8).prop_map(Value::Array);
        (
            proptest::option::of(prop_oneof![list(), Just(Value::Null), Just(json!("x"))]),
            proptest::option::of(prop_oneof![
                list(),
                "[a-c]{0,3}".prop_map(Value::String),
                Just(Value::Null)
            ]),
            proptest::option::of(list()),
            proptest::option::of(content()),
            proptest::option::of(content()),
            any::<bool>(),
        )
            .prop_map(|(messages, input, contents, system, instructions, meta)| {
                let mut b = serde_json::Map::new();
                b.insert("model".into(), json!("m"));
                for (k, v) in [
                    ("messages", messages),
                    ("input", input),
                    ("contents", contents),
                    ("system", system),
                    ("instructions", instructions),
                ] {
                    if let Some(v) = v {
                        b.insert(k.into(), v);
                    }
                }
                if meta {
                    b.insert("metadata".into(), json!({"user_id": "u_session_x"}));
                    b.insert("previous_response_id".into(), json!("resp_1"));
                }
                Value::Object(b)
            })
    }

    proptest! {
        /// Reading only the opening of the conversation gives what parsing all of it gives.
        #[test]
        fn peek_reads_what_a_full_parse_reads(b in body()) {
            let bytes = serde_json::to_vec(&b).unwrap_or_default();
            let peeked = peek(&bytes);
            prop_assert!(peeked.is_some(), "{}", b);
            prop_assert_eq!(read(&peeked.unwrap_or_default()), read(&b));
        }
    }

    #[test]
    fn duplicate_keys_fall_back_to_the_full_parse() {
        let body = br#"{"messages": [], "messages": [{"role": "user", "content": "b"}]}"#;
        assert!(peek(body).is_none());
        assert!(peek(b"[1, 2]").is_none());
    }
}
