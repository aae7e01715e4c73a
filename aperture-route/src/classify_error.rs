//! Why a request is not an inference endpoint, and how to answer it.

use std::fmt;

use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use crate::api::ApiFormat;
use crate::envelope::{ErrorKind, ErrorResponse};

/// Why [`crate::Endpoint::classify`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClassifyError {
    /// The path is outside the inference prefixes. The server answers its own paths (`/`,
    /// `/healthz`, `/api/*`, …) and 404 `{"error":"not found"}` for the rest.
    NotGateway,
    /// An unknown path under `/v1/`, `/v1beta/`, `/v1beta1/`, `/bedrock/`, `/codex/` or
    /// `/chat/`: 404 in the native envelope.
    NotFound {
        /// The envelope to answer in.
        format: ApiFormat,
        /// The request method.
        method: Method,
        /// The request path.
        path: String,
    },
    /// A known endpoint with the wrong method: 405 with an `Allow` header.
    MethodNotAllowed {
        /// The envelope to answer in.
        format: ApiFormat,
        /// The request method.
        method: Method,
        /// The request path.
        path: String,
        /// The `Allow` header value.
        allow: &'static str,
    },
    /// Dot or empty segments, a malformed `%` escape, or an encoded `/` or `\` outside the
    /// model segment: 400.
    BadPath {
        /// The envelope to answer in.
        format: ApiFormat,
    },
    /// A WebSocket upgrade on an inference path: 426 Upgrade Required, on which Codex falls back
    /// to HTTP (a 400 makes Codex 0.169 exit; SPEC.md §3.2).
    WebSocket {
        /// The envelope to answer in.
        format: ApiFormat,
    },
}

impl ClassifyError {
    /// The envelope to answer in; `None` for [`ClassifyError::NotGateway`].
    pub fn format(&self) -> Option<ApiFormat> {
        match self {
            Self::NotGateway => None,
            Self::NotFound { format, .. }
            | Self::MethodNotAllowed { format, .. }
            | Self::BadPath { format }
            | Self::WebSocket { format } => Some(*format),
        }
    }

    /// The status and message of the answer.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            Self::NotGateway => (StatusCode::NOT_FOUND, "not found".into()),
            Self::NotFound { method, path, .. } => (
                StatusCode::NOT_FOUND,
                format!("unknown endpoint {method} {path}"),
            ),
            Self::MethodNotAllowed {
                method,
                path,
                allow,
                ..
            } => (
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed on {path}; allowed: {allow}"),
            ),
            Self::BadPath { .. } => (
                StatusCode::BAD_REQUEST,
                r#"invalid request path: dot or empty segments and encoded "/" or "\" are not allowed"#
                    .into(),
            ),
            Self::WebSocket { .. } => (
                StatusCode::UPGRADE_REQUIRED,
                "websocket transport is not supported here; use HTTP".into(),
            ),
        }
    }

    /// The whole answer: native envelope (`{"error":"not found"}` for `NotGateway`), plus
    /// `Allow` on a 405 and `x-amzn-ErrorType` for Bedrock callers.
    pub fn render(&self) -> ErrorResponse {
        let (status, message) = self.status_and_message();
        let Some(format) = self.format() else {
            return ErrorResponse::plain(status, &message);
        };
        let kind = match self {
            Self::NotFound { .. } => ErrorKind::UnknownUrl,
            _ => ErrorKind::Standard,
        };
        let mut res = ErrorResponse::new(format, status, &message, kind);
        if let Self::MethodNotAllowed { allow, .. } = self {
            let allow: (HeaderName, HeaderValue) = (header::ALLOW, HeaderValue::from_static(allow));
            res.headers.push(allow);
        }
        res
    }
}

impl fmt::Display for ClassifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.status_and_message().1)
    }
}

impl std::error::Error for ClassifyError {}

#[cfg(test)]
#[path = "classify_error_tests.rs"]
mod tests;
