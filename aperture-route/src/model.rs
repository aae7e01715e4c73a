//! The model named by a JSON body, and the splice that rewrites it (SPEC.md §3.3).

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use http::StatusCode;

use crate::api::ApiFormat;
use crate::envelope::{ErrorKind, ErrorResponse};
use crate::scan::{TopModel, scan};

/// The top-level `model` of a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyModel {
    /// The model, JSON escapes decoded.
    pub model: String,
    /// The byte range of the model's JSON string token, quotes included.
    pub span: Range<usize>,
}

/// Why a body names no model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// serde_json would reject the body: 400 `request body is not valid JSON`.
    NotJson,
    /// No top-level `model`, or one that is empty or not a string: 400
    /// `request body has no model`.
    NoModel,
    /// Two top-level `model` members: 400 `request body has duplicate "model" keys`.
    DuplicateModel,
}

impl ModelError {
    /// The status and message of the answer.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        let message = match self {
            Self::NotJson => "request body is not valid JSON",
            Self::NoModel => "request body has no model",
            Self::DuplicateModel => r#"request body has duplicate "model" keys"#,
        };
        (StatusCode::BAD_REQUEST, message.into())
    }

    /// The whole answer in `format`'s envelope.
    pub fn render(&self, format: ApiFormat) -> ErrorResponse {
        let (status, message) = self.status_and_message();
        ErrorResponse::new(format, status, &message, ErrorKind::Standard)
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.status_and_message().1)
    }
}

impl std::error::Error for ModelError {}

/// Finds the top-level `model` of a JSON body in one pass, validating the whole body as
/// serde_json's `Value` parser would (nested `model` keys are ignored).
///
/// ```
/// use aperture_route::{extract_body_model, ModelError};
///
/// let body = br#"{"messages":[{"model":"nested"}], "model" : "openai/gpt-5"}"#;
/// let found = extract_body_model(body)?;
/// assert_eq!(found.model, "openai/gpt-5");
/// assert_eq!(&body[found.span], br#""openai/gpt-5""#);
///
/// assert_eq!(extract_body_model(br#"{"model":"a","model":"b"}"#), Err(ModelError::DuplicateModel));
/// assert_eq!(extract_body_model(br#"{"model":""}"#), Err(ModelError::NoModel));
/// assert_eq!(extract_body_model(br#"{"model":"a",}"#), Err(ModelError::NotJson));
/// # Ok::<(), ModelError>(())
/// ```
pub fn extract_body_model(body: &[u8]) -> Result<BodyModel, ModelError> {
    match scan(body).map_err(|_| ModelError::NotJson)? {
        TopModel::Missing | TopModel::NotString => Err(ModelError::NoModel),
        TopModel::Duplicate => Err(ModelError::DuplicateModel),
        TopModel::String { span, escaped } => {
            let token = body.get(span.clone()).ok_or(ModelError::NotJson)?;
            let model = if escaped {
                serde_json::from_slice::<String>(token).map_err(|_| ModelError::NotJson)?
            } else {
                let inner = token.get(1..token.len() - 1).ok_or(ModelError::NotJson)?;
                std::str::from_utf8(inner)
                    .map_err(|_| ModelError::NotJson)?
                    .to_owned()
            };
            if model.is_empty() {
                return Err(ModelError::NoModel);
            }
            Ok(BodyModel { model, span })
        }
    }
}

/// Replaces the bytes of `span` (a model token from [`extract_body_model`] on the same body)
/// with the JSON string of `new_model`; every other byte stays identical. A span reaching
/// past the body is clamped to it.
///
/// ```
/// use aperture_route::{extract_body_model, splice_model};
///
/// let body = br#"{ "model":"openai/gpt-5", "input": "hi" }"#;
/// let found = extract_body_model(body).unwrap();
/// let spliced = splice_model(body, found.span, "gpt-5");
/// assert_eq!(&spliced[..], br#"{ "model":"gpt-5", "input": "hi" }"#);
/// ```
pub fn splice_model(body: &[u8], span: Range<usize>, new_model: &str) -> Bytes {
    let start = span.start.min(body.len());
    let end = span.end.clamp(start, body.len());
    let token = serde_json::Value::String(new_model.to_owned()).to_string();
    let mut out = Vec::with_capacity(body.len() - (end - start) + token.len());
    out.extend_from_slice(&body[..start]);
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(&body[end..]);
    Bytes::from(out)
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
