//! Hook payloads, exactly as SPEC.md §10.2 lists them: `event`, `metadata` (who, what, where,
//! ids; `grants`, `estimated_cost`, `quotas` when sent), and one field per `send` value. No
//! credential ever goes in: every body copy is scrubbed of the client's and the configured
//! keys.

use aperture_config::{HookEvent, Quota};
use aperture_log::quota::QuotaBook;
use aperture_log::redact;
use aperture_log::store::Cost;
use aperture_log::usage::{ResponseFormat, last_user_message};
use aperture_log::{ToolCall, Usage};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::super::quota::now_ms;
use super::super::quota_api::format_rate;

/// The event's name in a payload.
pub(crate) fn event_name(event: HookEvent) -> &'static str {
    match event {
        HookEvent::PreRequest => "pre_request",
        HookEvent::EntireRequest => "entire_request",
        HookEvent::ToolCallEntireRequest => "tool_call_entire_request",
    }
}

/// What every payload's `metadata` says of the request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub(crate) login_name: String,
    pub(crate) user_agent: String,
    pub(crate) url: String,
    pub(crate) model: String,
    pub(crate) provider: String,
    pub(crate) tailnet_name: String,
    pub(crate) stable_node_id: String,
    pub(crate) request_id: String,
    pub(crate) session_id: String,
}

impl Meta {
    fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in [
            ("login_name", &self.login_name),
            ("user_agent", &self.user_agent),
            ("url", &self.url),
            ("model", &self.model),
            ("provider", &self.provider),
            ("tailnet_name", &self.tailnet_name),
            ("stable_node_id", &self.stable_node_id),
            ("request_id", &self.request_id),
            ("session_id", &self.session_id),
        ] {
            m.insert(k.to_string(), Value::String(v.clone()));
        }
        m
    }
}

/// The tailnet of a MagicDNS node name (`laptop.tail1234.ts.net` → `tail1234.ts.net`).
pub(crate) fn tailnet_of(node_name: &str) -> String {
    node_name
        .trim_end_matches('.')
        .split_once('.')
        .map(|(_, t)| t.to_string())
        .unwrap_or_default()
}

/// What both kinds of payload are built from.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) meta: Meta,
    /// The request body as forwarded (not yet scrubbed).
    pub(crate) request_body: Bytes,
    pub(crate) format: Option<ResponseFormat>,
    /// The caller's custom capabilities (`metadata.grants`).
    pub(crate) grants: Value,
    /// The quota buckets the request is charged to.
    pub(crate) quota_buckets: Vec<(String, Quota)>,
    /// Credentials to scrub from every copy (`Debug` never shows them).
    pub(crate) secrets: aperture_log::build::Secrets,
}

/// What a post-response payload adds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) response_body: Option<Value>,
    pub(crate) raw_responses: Option<Vec<Value>>,
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) usage: Usage,
    pub(crate) cost: Option<Cost>,
}

/// `v` with every secret replaced, still JSON.
fn scrub(v: &Value, secrets: &[Vec<u8>]) -> Value {
    if secrets.is_empty() {
        return v.clone();
    }
    let text = serde_json::to_vec(v).unwrap_or_default();
    let (clean, _) = redact::body(&text, secrets, usize::MAX);
    serde_json::from_slice(&clean)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&clean).into_owned()))
}

/// A body's bytes as JSON text for a payload, scrubbed: the bytes themselves when they are JSON
/// (checked without building a document), else a JSON string of them.
fn body_json(bytes: &[u8], secrets: &[Vec<u8>]) -> Vec<u8> {
    let (clean, _) = redact::body(bytes, secrets, usize::MAX);
    if serde_json::from_slice::<&serde_json::value::RawValue>(&clean).is_ok() {
        return clean;
    }
    serde_json::to_vec(&Value::String(String::from_utf8_lossy(&clean).into_owned()))
        .unwrap_or_default()
}

/// `usage` as SPEC.md §10.2 names its keys, zeros left out.
pub(crate) fn usage_json(u: &Usage) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("input_tokens", u.input),
        ("output_tokens", u.output),
        ("cached_tokens", u.cache_read),
        (
            "cache_creation_input_tokens",
            u.cache_write_5m.saturating_add(u.cache_write_1h),
        ),
        ("cache_creation_5m_input_tokens", u.cache_write_5m),
        ("cache_creation_1h_input_tokens", u.cache_write_1h),
        ("reasoning_tokens", u.reasoning),
        ("image_input_tokens", u.image_input),
        ("image_output_tokens", u.image_output),
        ("web_search_count", u.web_search),
    ] {
        if v > 0 {
            m.insert(k.to_string(), json!(v));
        }
    }
    Value::Object(m)
}

fn quotas_json(buckets: &[(String, Quota)], book: &QuotaBook) -> Value {
    let now = now_ms();
    let mut m = Map::new();
    for (bucket, q) in buckets {
        m.insert(
            bucket.clone(),
            json!({
                "current": book.balance_of(bucket, q, now),
                "capacity": q.capacity,
                "rate": format_rate(q.rate),
            }),
        );
    }
    Value::Object(m)
}

/// The payload of `event` for a hook that sends `send`, as JSON bytes; `outcome` is `None`
/// before the response (post-response-only fields are then left out). The request body goes in
/// as its own bytes, never parsed and written again.
pub(crate) fn build(
    event: HookEvent,
    send: &[String],
    common: &Common,
    outcome: Option<&Outcome>,
    book: &QuotaBook,
) -> Bytes {
    let sends = |name: &str| send.iter().any(|s| s == name);
    let secrets = &common.secrets.0;
    let mut meta = common.meta.to_map();
    let mut out = Map::new();
    out.insert("event".into(), Value::from(event_name(event)));
    if sends("grants") {
        meta.insert("grants".into(), scrub(&common.grants, secrets));
    }
    if sends("quotas") {
        meta.insert("quotas".into(), quotas_json(&common.quota_buckets, book));
    }
    if sends("user_message") {
        let text = common
            .format
            .and_then(|f| last_user_message(f, &common.request_body));
        if let Some(text) = text {
            out.insert("user_message".into(), scrub(&Value::String(text), secrets));
        }
    }
    if let Some(o) = outcome {
        meta.insert("usage".into(), usage_json(&o.usage));
        if sends("estimated_cost") {
            let cost = o.cost.as_ref();
            meta.insert(
                "estimated_cost".into(),
                json!({
                    "dollars": cost.map_or(0.0, |c| c.nanodollars as f64 / 1e9),
                    "cost_basis": cost.map_or("", |c| c.basis.as_str()),
                    "usage": usage_json(&o.usage),
                }),
            );
        }
        if sends("response_body") {
            if let Some(body) = &o.response_body {
                out.insert("response_body".into(), scrub(body, secrets));
            }
        }
        if sends("raw_responses") {
            if let Some(raw) = &o.raw_responses {
                out.insert(
                    "raw_responses".into(),
                    scrub(&Value::Array(raw.clone()), secrets),
                );
            }
        }
        if sends("tools") {
            let calls: Vec<Value> = o
                .tool_calls
                .iter()
                .map(|t| {
                    let t = redact::tool_call(t, secrets);
                    json!({"name": t.name, "params": t.params})
                })
                .collect();
            out.insert("tool_calls".into(), Value::Array(calls));
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    let rest = serde_json::to_vec(&Value::Object(out)).unwrap_or_default();
    if !sends("request_body") {
        return Bytes::from(rest);
    }
    // `{"request_body":<the body>,` + the rest without its opening brace (never empty: it has
    // `event` and `metadata`).
    let body = body_json(&common.request_body, secrets);
    let mut joined = Vec::with_capacity(rest.len() + body.len() + 20);
    joined.extend_from_slice(br#"{"request_body":"#);
    joined.extend_from_slice(&body);
    joined.push(b',');
    joined.extend_from_slice(rest.strip_prefix(b"{").unwrap_or(&rest));
    Bytes::from(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_keys_are_named_and_zeros_left_out() {
        let u = Usage {
            input: 10,
            output: 5,
            cache_write_1h: 3,
            ..Usage::default()
        };
        assert_eq!(
            usage_json(&u),
            json!({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 3,
                   "cache_creation_1h_input_tokens": 3})
        );
        assert_eq!(tailnet_of("laptop.tail1234.ts.net."), "tail1234.ts.net");
        assert_eq!(tailnet_of("laptop"), "");
    }

    #[test]
    fn secrets_never_reach_a_payload() {
        let secret = b"sk-SENTINEL-client-key".to_vec();
        let common = Common {
            meta: Meta::default(),
            request_body: Bytes::from_static(
                br#"{"messages":[{"role":"user","content":"my key is sk-SENTINEL-client-key"}]}"#,
            ),
            format: Some(ResponseFormat::OpenAiChat),
            grants: json!({}),
            quota_buckets: Vec::new(),
            secrets: aperture_log::build::Secrets(vec![secret]),
        };
        let outcome = Outcome {
            response_body: Some(json!({"echo": "sk-SENTINEL-client-key"})),
            tool_calls: vec![ToolCall {
                id: "t".into(),
                name: "f".into(),
                params: json!({"k": "sk-SENTINEL-client-key"}),
            }],
            ..Outcome::default()
        };
        let all: Vec<String> = ["request_body", "user_message", "response_body", "tools"]
            .map(String::from)
            .to_vec();
        let bytes = build(
            HookEvent::ToolCallEntireRequest,
            &all,
            &common,
            Some(&outcome),
            &QuotaBook::default(),
        );
        let p: Value = serde_json::from_slice(&bytes).unwrap();
        let text = p.to_string();
        assert_eq!(p["request_body"]["messages"][0]["role"], "user");
        assert!(!text.contains("SENTINEL"), "{text}");
        assert_eq!(p["user_message"], "my key is [REDACTED]");
        assert_eq!(p["tool_calls"][0]["params"]["k"], "[REDACTED]");
        assert_eq!(p["event"], "tool_call_entire_request");
    }
}
