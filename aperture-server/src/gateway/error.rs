//! Responses the gateway itself makes.

use aperture_route::ApiFormat;
use http::{StatusCode, header};

use super::Res;
use super::record::GatewayError;

/// The human message inside a rendered envelope (any of the four formats, or `{"error": …}`).
fn error_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    [
        v.pointer("/error/message"),
        v.pointer("/message"),
        v.pointer("/error"),
    ]
    .into_iter()
    .flatten()
    .find_map(|m| m.as_str())
    .unwrap_or("gateway error")
    .to_string()
}
use crate::body::full;

/// An error in the caller's native envelope (SPEC.md §7).
pub fn native_error(format: ApiFormat, status: StatusCode, message: &str) -> Res {
    let (body, extra) = aperture_route::render_error(format, status, message);
    let mut res = Res::new(full(body));
    res.extensions_mut()
        .insert(GatewayError(message.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some((name, value)) = extra {
        res.headers_mut().insert(name, value);
    }
    res
}

/// A rendered error from `aperture-route` as a response.
pub(crate) fn from_rendered(e: aperture_route::ErrorResponse) -> Res {
    let message = error_message(&e.body);
    let mut res = Res::new(full(e.body));
    res.extensions_mut().insert(GatewayError(message));
    *res.status_mut() = e.status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    for (name, value) in e.headers {
        res.headers_mut().insert(name, value);
    }
    res
}

/// A management-style error: `{"error":"…"}`.
pub(crate) fn plain_error(status: StatusCode, message: &str) -> Res {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut res = Res::new(full(body));
    res.extensions_mut()
        .insert(GatewayError(message.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Res {
    let mut res = Res::new(full(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}
