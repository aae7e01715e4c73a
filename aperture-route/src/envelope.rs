//! The one renderer of gateway-made errors in the caller's native envelope (SPEC.md §7).

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::api::ApiFormat;

/// Bedrock's error-type header (`x-amzn-ErrorType`; header names travel in lower case).
fn amzn_error_type() -> HeaderName {
    HeaderName::from_static("x-amzn-errortype")
}

/// What kind of error is rendered: picks OpenAI's 404 code and the guardrail types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// A gateway error, typed by the status table; an OpenAI 404 gets code `model_not_found`.
    #[default]
    Standard,
    /// An unknown endpoint; an OpenAI 404 gets code `unknown_url`.
    UnknownUrl,
    /// A guardrail block (SPEC.md §10.2): fixed types at any status (`invalid_request_error`,
    /// `guardrail_blocked` with code `null`, `PERMISSION_DENIED`, `AccessDeniedException`).
    Guardrail,
}

/// One row of the status table.
struct Types {
    anthropic: &'static str,
    openai: &'static str,
    openai_code: Option<&'static str>,
    google: &'static str,
    bedrock: &'static str,
}

const fn types(
    anthropic: &'static str,
    openai: &'static str,
    openai_code: Option<&'static str>,
    google: &'static str,
    bedrock: &'static str,
) -> Types {
    Types {
        anthropic,
        openai,
        openai_code,
        google,
        bedrock,
    }
}

/// The status table. Statuses it does not list use the 400 row (other 4xx) or the 500 row.
fn types_for(status: StatusCode, kind: ErrorKind) -> Types {
    const IR: &str = "invalid_request_error";
    if kind == ErrorKind::Guardrail {
        return types(
            IR,
            "guardrail_blocked",
            None,
            "PERMISSION_DENIED",
            "AccessDeniedException",
        );
    }
    match status.as_u16() {
        401 => types(
            "authentication_error",
            "authentication_error",
            Some("invalid_api_key"),
            "UNAUTHENTICATED",
            "UnrecognizedClientException",
        ),
        403 => types(
            "permission_error",
            "permission_error",
            None,
            "PERMISSION_DENIED",
            "AccessDeniedException",
        ),
        404 => types(
            "not_found_error",
            IR,
            Some(match kind {
                ErrorKind::UnknownUrl => "unknown_url",
                _ => "model_not_found",
            }),
            "NOT_FOUND",
            "ResourceNotFoundException",
        ),
        413 => types(
            "request_too_large",
            IR,
            Some("request_too_large"),
            "INVALID_ARGUMENT",
            "ValidationException",
        ),
        429 => types(
            "rate_limit_error",
            "insufficient_quota",
            Some("insufficient_quota"),
            "RESOURCE_EXHAUSTED",
            "ThrottlingException",
        ),
        502 => types(
            "api_error",
            "server_error",
            Some("bad_gateway"),
            "UNAVAILABLE",
            "InternalServerException",
        ),
        503 => types(
            "overloaded_error",
            "server_error",
            Some("service_unavailable"),
            "UNAVAILABLE",
            "ServiceUnavailableException",
        ),
        504 => types(
            "timeout_error",
            "server_error",
            Some("timeout"),
            "DEADLINE_EXCEEDED",
            "ModelTimeoutException",
        ),
        400..=499 => types(IR, IR, None, "INVALID_ARGUMENT", "ValidationException"),
        _ => types(
            "api_error",
            "server_error",
            None,
            "INTERNAL",
            "InternalServerException",
        ),
    }
}

/// Renders a gateway error of kind [`ErrorKind::Standard`]; see [`render_error_with`].
pub fn render_error(
    format: ApiFormat,
    status: StatusCode,
    message: &str,
) -> (Bytes, Option<(HeaderName, HeaderValue)>) {
    render_error_with(format, status, message, ErrorKind::Standard)
}

/// Renders a gateway error in `format`'s envelope: the JSON body and, for Bedrock, the
/// `x-amzn-ErrorType` header. The message is JSON-escaped.
///
/// ```
/// use aperture_route::{ApiFormat, ErrorKind, render_error_with};
/// use http::StatusCode;
///
/// let (body, header) =
///     render_error_with(ApiFormat::OpenAi, StatusCode::NOT_FOUND, "unknown endpoint POST /v1/nope",
///         ErrorKind::UnknownUrl);
/// assert_eq!(body, r#"{"error":{"message":"unknown endpoint POST /v1/nope","type":"invalid_request_error","param":null,"code":"unknown_url"}}"#);
/// assert!(header.is_none());
/// ```
pub fn render_error_with(
    format: ApiFormat,
    status: StatusCode,
    message: &str,
    kind: ErrorKind,
) -> (Bytes, Option<(HeaderName, HeaderValue)>) {
    let t = types_for(status, kind);
    let msg = json_string(message);
    let body = match format {
        ApiFormat::Anthropic => format!(
            r#"{{"type":"error","error":{{"type":"{}","message":{msg}}}}}"#,
            t.anthropic
        ),
        ApiFormat::OpenAi => {
            let code = t.openai_code.map_or("null".into(), |c| format!(r#""{c}""#));
            format!(
                r#"{{"error":{{"message":{msg},"type":"{}","param":null,"code":{code}}}}}"#,
                t.openai
            )
        }
        ApiFormat::Gemini => format!(
            r#"{{"error":{{"code":{},"message":{msg},"status":"{}"}}}}"#,
            status.as_u16(),
            t.google
        ),
        ApiFormat::Bedrock => format!(r#"{{"message":{msg}}}"#),
    };
    let header = (format == ApiFormat::Bedrock)
        .then(|| (amzn_error_type(), HeaderValue::from_static(t.bedrock)));
    (Bytes::from(body), header)
}

/// `s` as a JSON string literal, quotes included.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A rendered gateway error, ready to become a response (the body is always JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    /// The status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Bytes,
    /// Extra headers (`x-amzn-ErrorType`, `Allow`), besides `Content-Type: application/json`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ErrorResponse {
    /// An error in `format`'s envelope.
    pub fn new(format: ApiFormat, status: StatusCode, message: &str, kind: ErrorKind) -> Self {
        let (body, header) = render_error_with(format, status, message, kind);
        Self {
            status,
            body,
            headers: header.into_iter().collect(),
        }
    }

    /// A management-style error: `{"error":"…"}`.
    pub fn plain(status: StatusCode, message: &str) -> Self {
        let body = format!(r#"{{"error":{}}}"#, json_string(message));
        Self {
            status,
            body: Bytes::from(body),
            headers: Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
