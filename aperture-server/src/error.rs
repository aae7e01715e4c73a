//! The gateway's one error type and its one responder.
//!
//! Every refusal or failure the gateway makes itself is an [`Error`]; [`Error::respond`] turns
//! it into the caller's own envelope: the native format of the inference API they called
//! (Anthropic, OpenAI, Gemini, Bedrock), `{"error": "…"}` for management calls, a small HTML
//! page for the dashboard. Upstream errors are never wrapped: the provider's own answer passes
//! through untouched. Messages never carry a credential or a header value.

use aperture_route::ApiFormat;
use http::{HeaderValue, StatusCode, header};

use crate::body::full;
use crate::gateway::{Res, Target};

/// Something the gateway refuses or fails on its own.
///
/// Each variant has a status ([`Error::status`]) and a stable code ([`Error::code`], also a
/// metrics label); the display text is the message the caller sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No identity source knows the caller (403).
    #[error("access denied: unknown identity")]
    UnknownIdentity,
    /// tailscaled could not be asked who the caller is (503).
    #[error("identity service unavailable")]
    IdentityUnavailable,
    /// The caller is known but no grant gives them a role (403).
    #[error("access denied: no role granted")]
    NoRole,
    /// A browser page on another site tried to use the caller's identity (403).
    #[error("access denied: cross-site request")]
    CrossSite,
    /// The `Host` is not one the gateway answers to: DNS rebinding (403).
    #[error("access denied: host {0:?} is not allowed (see gateway.allowed_hosts)")]
    ForeignHost(String),
    /// An admin-only call or page from a non-admin (403).
    #[error("admin role required")]
    AdminRequired,
    /// The request body is over `gateway.max_request_body` (413).
    #[error("request body is larger than the {limit} byte limit")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request body could not be read (400).
    #[error("could not read the request body")]
    BodyUnreadable,
    /// The path names no endpoint, or a wrong method or header (404, 405, 400, 501).
    #[error("{}", .0.status_and_message().1)]
    Classify(aperture_route::ClassifyError),
    /// The body's model cannot be read (400).
    #[error("{0}")]
    Model(aperture_route::ModelError),
    /// No provider serves the model for this caller (404, 403, 400).
    #[error("{}", .error.status_and_message(.path).1)]
    Route {
        /// What the routing table said.
        error: aperture_route::RouteError,
        /// The request path, named in some messages.
        path: String,
    },
    /// A refusal with its own status and message: an embedder's check, a grant rule (any
    /// 4xx or 5xx status).
    #[error("{message}")]
    Refused {
        /// The status to answer with.
        status: StatusCode,
        /// What the caller is told.
        message: String,
    },
    /// A quota bucket the request would be charged to is empty, or cannot be resolved (429,
    /// with `Retry-After`).
    #[error("quota exceeded for bucket {bucket:?}")]
    QuotaExceeded {
        /// The bucket (or the quota reference that could not be resolved).
        bucket: String,
        /// Seconds until the bucket is positive again.
        retry_after_secs: u64,
    },
    /// A `pre_request` hook blocked the request: its status (403 unless it said another 4xx or
    /// 5xx) and message, in the guardrail envelope (SPEC.md §10.2).
    #[error("{message}")]
    HookBlocked {
        /// The hook's name.
        hook: String,
        /// The status to answer with.
        status: StatusCode,
        /// What the caller is told.
        message: String,
    },
    /// A `fail_closed` `pre_request` hook could not be asked or gave no usable answer (503).
    #[error("pre_request hook {hook:?} failed and its fail_policy is fail_closed")]
    HookFailed {
        /// The hook's name.
        hook: String,
    },
    /// The provider could not be reached (502).
    #[error("could not connect to provider {provider}")]
    UpstreamConnect {
        /// The provider id.
        provider: String,
    },
    /// The provider closed the connection or sent something unreadable (502).
    #[error("provider {provider} closed the connection")]
    UpstreamClosed {
        /// The provider id.
        provider: String,
    },
    /// The provider sent no response head within `timeouts.response_headers` (504).
    #[error("provider {provider} did not answer within {after}")]
    UpstreamTimeout {
        /// The provider id.
        provider: String,
        /// The limit, as written in the config (`30s`).
        after: String,
    },
    /// A config save based on a hash that is no longer the running one's (409).
    #[error("config changed since it was read")]
    StaleConfig {
        /// The running config's hash.
        current: String,
    },
    /// A config that fails strict validation or the lockout guard (422).
    #[error("invalid config")]
    InvalidConfig(aperture_config::Diagnostics),
    /// The store or the file system failed (500); the text says what, without secrets.
    #[error("{0}")]
    Internal(String),
    /// A layer found a fact it needs missing: the stack is wired wrong (500).
    #[error("stack_misconfigured")]
    StackMisconfigured,
}

impl Error {
    /// A refusal with a status and message of the caller's choosing.
    pub fn refused(status: StatusCode, message: impl Into<String>) -> Self {
        Error::Refused {
            status,
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::UnknownIdentity
            | Error::NoRole
            | Error::CrossSite
            | Error::ForeignHost(_)
            | Error::AdminRequired => StatusCode::FORBIDDEN,
            Error::IdentityUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyUnreadable => StatusCode::BAD_REQUEST,
            Error::Classify(e) => e.status_and_message().0,
            Error::Model(e) => e.status_and_message().0,
            Error::Route { error, path } => error.status_and_message(path).0,
            Error::Refused { status, .. } => *status,
            Error::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::HookBlocked { status, .. } => *status,
            Error::HookFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::UpstreamConnect { .. } | Error::UpstreamClosed { .. } => StatusCode::BAD_GATEWAY,
            Error::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::StaleConfig { .. } => StatusCode::CONFLICT,
            Error::InvalidConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Internal(_) | Error::StackMisconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable short code for logs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownIdentity => "unknown_identity",
            Error::IdentityUnavailable => "identity_unavailable",
            Error::NoRole => "no_role",
            Error::CrossSite => "cross_site",
            Error::ForeignHost(_) => "foreign_host",
            Error::AdminRequired => "admin_required",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::BodyUnreadable => "body_unreadable",
            Error::Classify(_) => "unknown_endpoint",
            Error::Model(_) => "model_unreadable",
            Error::Route { .. } => "no_route",
            Error::Refused { .. } => "refused",
            Error::QuotaExceeded { .. } => "quota_exceeded",
            Error::HookBlocked { .. } => "hook_blocked",
            Error::HookFailed { .. } => "hook_failed",
            Error::UpstreamConnect { .. } => "upstream_connect",
            Error::UpstreamClosed { .. } => "upstream_closed",
            Error::UpstreamTimeout { .. } => "upstream_timeout",
            Error::StaleConfig { .. } => "stale_config",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Internal(_) => "internal",
            Error::StackMisconfigured => "stack_misconfigured",
        }
    }

    /// Whether the provider failed (as opposed to the caller or the gateway).
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            Error::UpstreamConnect { .. }
                | Error::UpstreamClosed { .. }
                | Error::UpstreamTimeout { .. }
        )
    }

    /// The one responder: this error as the answer to a request for `target`.
    pub fn respond(self, target: &Target) -> Res {
        match self {
            Error::StaleConfig { current } => json(
                StatusCode::CONFLICT,
                &serde_json::json!({ "error": "config changed since it was read", "hash": current }),
            ),
            Error::InvalidConfig(ds) => {
                let shown: Vec<_> = ds
                    .iter()
                    .filter(|d| d.severity != aperture_config::Severity::Info)
                    .collect();
                json(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &serde_json::json!({ "error": "invalid config", "diagnostics": shown }),
                )
            }
            Error::Classify(e) => rendered(e.render()),
            Error::QuotaExceeded {
                ref bucket,
                retry_after_secs,
            } => {
                let message = format!("quota exceeded for bucket {}", json_string(bucket));
                let mut res =
                    Error::refused(StatusCode::TOO_MANY_REQUESTS, message).respond(target);
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                res
            }
            other => {
                let (status, message) = (other.status(), other.to_string());
                match (target, &other) {
                    (Target::Inference(ep), Error::Model(e)) => rendered(e.render(ep.format)),
                    (Target::Inference(ep), Error::HookBlocked { .. }) => {
                        rendered(aperture_route::ErrorResponse::new(
                            ep.format,
                            status,
                            &message,
                            aperture_route::ErrorKind::Guardrail,
                        ))
                    }
                    (Target::Inference(ep), Error::Route { error, path }) => {
                        rendered(error.render(ep.format, path))
                    }
                    (Target::Inference(ep), _) => native_error(ep.format, status, &message),
                    (Target::Models(_), _) => native_error(ApiFormat::OpenAi, status, &message),
                    (Target::Api(_) | Target::Metrics, _) => plain_error(status, &message),
                    (Target::Ui, _) => crate::gateway::ui_error_page(status, &message),
                }
            }
        }
    }
}

/// The message of an error the gateway made itself, attached to its response so the record
/// and the access log can tell it from a provider's answer.
#[derive(Debug, Clone)]
pub struct GatewayError(pub String);

/// An error in the caller's native envelope (SPEC.md §7).
pub fn native_error(format: ApiFormat, status: StatusCode, message: &str) -> Res {
    let (body, extra) = aperture_route::render_error(format, status, message);
    let mut res = with_json_body(status, body, message);
    if let Some((name, value)) = extra {
        res.headers_mut().insert(name, value);
    }
    res
}

/// A rendered error from `aperture-route` as a response.
fn rendered(e: aperture_route::ErrorResponse) -> Res {
    let message = error_message(&e.body);
    let mut res = with_json_body(e.status, e.body, &message);
    for (name, value) in e.headers {
        res.headers_mut().insert(name, value);
    }
    res
}

/// A management-style error: `{"error":"…"}`.
fn plain_error(status: StatusCode, message: &str) -> Res {
    let body = serde_json::json!({ "error": message }).to_string();
    with_json_body(status, body.into(), message)
}

fn with_json_body(status: StatusCode, body: bytes::Bytes, message: &str) -> Res {
    let mut res = Res::new(full(body));
    res.extensions_mut()
        .insert(GatewayError(message.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `s` as a JSON string, quotes included (the quoting SPEC.md's messages use).
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

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

/// A JSON answer (not an error).
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Res {
    let mut res = Res::new(full(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use aperture_route::Endpoint;
    use http::{HeaderMap, Method};

    fn body_of(res: Res) -> String {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(res.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn one_error_in_each_callers_envelope() {
        let anthropic =
            Endpoint::classify(&Method::POST, "/v1/messages", &HeaderMap::new()).unwrap();
        let res = Error::NoRole.respond(&Target::Inference(anthropic));
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let body = body_of(res);
        assert!(body.contains(r#""type":"error""#), "{body}");
        assert!(body.contains("access denied: no role granted"), "{body}");

        let res = Error::NoRole.respond(&Target::Api(crate::gateway::ApiCall::Me));
        assert_eq!(
            body_of(res),
            r#"{"error":"access denied: no role granted"}"#
        );

        let res = Error::NoRole.respond(&Target::Ui);
        assert!(body_of(res).contains("<!doctype html>"));
    }

    #[test]
    fn statuses_and_codes() {
        let e = Error::refused(StatusCode::TOO_MANY_REQUESTS, "slow down");
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code(), "refused");
        assert_eq!(e.to_string(), "slow down");
        let e = Error::UpstreamTimeout {
            provider: "p".into(),
            after: "1s".into(),
        };
        assert_eq!(e.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(e.is_upstream());
        assert_eq!(e.to_string(), "provider p did not answer within 1s");
    }
}
