//! One call to a hook: a JSON POST with the hook's key in its header, bounded by its timeout.

use std::time::Duration;

use aperture_config::Hook;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Limited};

use crate::body::full;
use crate::upstream::UpstreamClient;

/// The largest hook reply read (a `modify` carries a whole request body).
pub(crate) const MAX_REPLY: usize = 32 << 20;

/// Why a hook call failed. The text names no URL and no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallError {
    /// The hook has no usable URL.
    #[error("no url")]
    NoUrl,
    /// It could not be reached, or closed the connection.
    #[error("unreachable")]
    Unreachable,
    /// It did not answer within its timeout.
    #[error("timed out")]
    Timeout,
    /// It answered with a non-2xx status.
    #[error("answered {0}")]
    Status(u16),
    /// Its reply could not be read (too large, cut off).
    #[error("unreadable reply")]
    Unreadable,
}

/// POSTs `payload` to `hook`; the reply body of a 2xx answer.
pub(crate) async fn post(
    client: &UpstreamClient,
    hook: &Hook,
    payload: Bytes,
) -> Result<Bytes, CallError> {
    let url = hook.url.as_ref().ok_or(CallError::NoUrl)?;
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(url.as_uri().clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "aperture-gateway-hooks")
        .body(full(payload))
        .map_err(|_| CallError::NoUrl)?;
    if let Some(key) = hook.apikey.as_ref().filter(|k| !k.expose().is_empty()) {
        let (name, value) = hook.authorization.header(key.expose());
        if let Ok(mut value) = HeaderValue::from_str(&value) {
            value.set_sensitive(true);
            req.headers_mut().insert(name, value);
        }
    }
    let call = async {
        let res = client
            .request(req)
            .await
            .map_err(|_| CallError::Unreachable)?;
        let status = res.status();
        let body = Limited::new(res.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|_| CallError::Unreadable)?
            .to_bytes();
        if !status.is_success() {
            return Err(CallError::Status(status.as_u16()));
        }
        Ok(body)
    };
    match hook.timeout {
        Some(limit) => tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Err(CallError::Timeout)),
        None => call.await,
    }
}

/// The longest a delivery after the response may take when its hook has no timeout: nothing
/// waits on it, but a hook that never answers must not hold a connection forever.
pub(crate) const POST_RESPONSE_CEILING: Duration = Duration::from_secs(300);
