//! The stored request record (SPEC.md §8.1).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{ToolCall, Usage};

/// Who made a request (SPEC.md §5), as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordIdentity {
    /// The login (`alice@example.com`, or the node name for tagged nodes).
    pub login: String,
    /// The display name.
    pub display_name: String,
    /// The stable node id.
    pub node_id: String,
    /// The node's name.
    pub node_name: String,
    /// The node's tags.
    pub tags: Vec<String>,
    /// Where the identity came from (`whois`, `header`, `local`, …).
    pub source: String,
}

/// The price of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// The cost in nanodollars (10⁹ = $1).
    pub nanodollars: u64,
    /// `<cost_basis>/<priced model>`.
    pub basis: String,
    /// The `model_cost_map` adjustment applied (1.0 when none).
    pub adjustment: f64,
}

/// One proxied request, refused ones included (SPEC.md §8.1).
///
/// Everything here is written as given: redacting the query, headers and bodies is the caller's
/// job (SPEC.md §8.3). Headers and bodies form the capture; a record without headers and bodies
/// has no capture row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestRecord {
    /// `req_<ULID>`; a second record with the same id is ignored.
    pub id: String,
    /// Head arrival, unix milliseconds (UTC); see [`RequestRecord::time`] for RFC 3339.
    pub time_ms: i64,
    /// Who made the request.
    pub identity: RecordIdentity,
    /// The provider id (empty when the request was refused before routing).
    pub provider: String,
    /// The model forwarded upstream.
    pub model: String,
    /// The model as the client sent it.
    pub requested_model: String,
    /// The API type (`anthropic_messages`, `openai_chat`, …).
    pub api_type: String,
    /// The HTTP method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The query string, already redacted by the caller.
    pub query: Option<String>,
    /// The status sent to the client (499 = client closed).
    pub status: u16,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// Head arrival to the last body byte sent to the client.
    pub duration_ms: u64,
    /// Head arrival to the first body byte sent to the client.
    pub ttfb_ms: Option<u64>,
    /// The response was a stream.
    pub stream: bool,
    /// A stream ended without its terminal event.
    pub incomplete: bool,
    /// The provider's request id (`request-id`, `x-request-id`, `x-amzn-requestid`).
    pub upstream_request_id: Option<String>,
    /// Token usage.
    pub usage: Usage,
    /// The cost, when the model is priced.
    pub cost: Option<Cost>,
    /// The session id (SPEC.md §8.4).
    pub session_id: String,
    /// Where the session id came from.
    pub session_source: String,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// Tool calls the model made, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Request headers, already redacted by the caller.
    pub request_headers: Vec<(String, String)>,
    /// Response headers, already redacted by the caller.
    pub response_headers: Vec<(String, String)>,
    /// The request body as forwarded (capped by the caller).
    pub request_body: Option<Vec<u8>>,
    /// `request_body` was cut at `capture.max_body_bytes`.
    pub request_body_truncated: bool,
    /// The response body, decoded (streams rebuilt as non-stream JSON), capped by the caller.
    pub response_body: Option<Vec<u8>>,
    /// `response_body` was cut at `capture.max_body_bytes`.
    pub response_body_truncated: bool,
    /// Headers listed in `database.headers.filterable`: name, and value unless only presence is
    /// indexed (`redact_values`). Names are matched case-insensitively.
    pub indexed_headers: Vec<(String, Option<String>)>,
}

impl RequestRecord {
    /// The head arrival time as RFC 3339 UTC with milliseconds.
    pub fn time(&self) -> String {
        rfc3339_ms(self.time_ms)
    }

    /// The record has a capture (headers or bodies).
    pub fn has_capture(&self) -> bool {
        !self.request_headers.is_empty()
            || !self.response_headers.is_empty()
            || self.request_body.is_some()
            || self.response_body.is_some()
    }

    /// The record as the JSON the API answers (SPEC.md §8.1 field names). Bodies that are JSON
    /// are embedded as JSON, other bodies as (lossy UTF-8) strings.
    pub fn to_json(&self) -> Value {
        let id = &self.identity;
        json!({
            "id": self.id,
            "time": self.time(),
            "identity": {
                "login": id.login,
                "display_name": id.display_name,
                "node_id": id.node_id,
                "node_name": id.node_name,
                "tags": id.tags,
                "source": id.source,
            },
            "provider": self.provider,
            "model": self.model,
            "requested_model": self.requested_model,
            "api_type": self.api_type,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "ttfb_ms": self.ttfb_ms,
            "stream": self.stream,
            "incomplete": self.incomplete,
            "upstream_request_id": self.upstream_request_id,
            "usage": self.usage,
            "cost": self.cost,
            "session_id": self.session_id,
            "session_source": self.session_source,
            "user_agent": self.user_agent,
            "tool_calls": self.tool_calls,
            "request_headers": pairs_json(&self.request_headers),
            "response_headers": pairs_json(&self.response_headers),
            "request_body": body_json(self.request_body.as_deref(), self.request_body_truncated),
            "response_body": body_json(self.response_body.as_deref(), self.response_body_truncated),
        })
    }
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Array(pairs.iter().map(|(n, v)| json!([n, v])).collect())
}

fn body_json(body: Option<&[u8]>, truncated: bool) -> Value {
    let Some(bytes) = body else {
        return Value::Null;
    };
    let content = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if !truncated => v,
        _ => Value::String(String::from_utf8_lossy(bytes).into_owned()),
    };
    json!({ "content": content, "truncated": truncated })
}

/// Formats unix milliseconds as RFC 3339 UTC with milliseconds (`2026-01-02T03:04:05.678Z`).
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_767_323_045_678), "2026-01-02T03:04:05.678Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn bodies_in_json() {
        let r = RequestRecord {
            request_body: Some(br#"{"a":1}"#.to_vec()),
            response_body: Some(b"plain".to_vec()),
            ..RequestRecord::default()
        };
        let v = r.to_json();
        assert_eq!(v["request_body"]["content"]["a"], 1);
        assert_eq!(v["response_body"]["content"], "plain");
        assert_eq!(v["request_body"]["truncated"], false);
    }
}
