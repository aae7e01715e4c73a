//! Hooks (SPEC.md §10.2): guardrails called before forwarding and webhooks after the response.
//!
//! - [`HookLayer`] runs after the grant and quota checks: it finds the caller's hooks for the
//!   routed model (`send_hooks`, unioned per hook), calls the `pre_request` ones in preference
//!   order (`allow`, `block` in the guardrail envelope, `modify` the body; failures follow
//!   `fail_policy`), and leaves the post-response ones in the [`RecordSlot`].
//! - [`HookDispatcher`] makes the calls: `pre_request` inline, `entire_request` and
//!   `tool_call_entire_request` through a bounded queue per hook, fed by the record layer once
//!   the response has ended.
//! - Payloads are built in one place, with every credential scrubbed.

mod client;
mod dispatch;
pub(crate) mod payload;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::{Access, Identity};
use aperture_config::{FailPolicy, Hook, HookEvent, SendHook};
use aperture_log::RecordSlot;
use aperture_log::usage::{ResponseFormat, SessionHooks, session_id};
use aperture_route::Route;
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;
use tower::{Layer, Service};

pub use dispatch::{CONCURRENCY, HookDispatcher, QUEUE_CAPACITY};

use super::route::BufferedBody;
use super::{BoxFut, Req, Res, Target, Telemetry};
use crate::body::full;
use crate::error::Error;
use crate::request_id::RequestId;
use crate::runtime::Runtime;
use payload::{Common, Meta};

/// What [`HookLayer`] needs of a config version.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// `gateway.max_request_body`: the most a body is buffered for a `pre_request` hook.
    pub max_request_body: u64,
    /// The configured credentials, scrubbed from every payload (`Debug` never shows them).
    pub secrets: Arc<aperture_log::build::Secrets>,
}

impl HookSettings {
    /// The settings of a compiled config.
    pub fn from_runtime(rt: &Runtime) -> Self {
        Self {
            max_request_body: rt.config.gateway.max_request_body,
            secrets: rt.record_policy().secrets.clone(),
        }
    }
}

/// Calls the caller's `pre_request` hooks for the routed model and hands the post-response ones
/// to the record layer. Needs [`Target`], [`Identity`], `Arc<Access>` and [`Route`]; a caller
/// without hooks passes at the cost of one look.
#[derive(Debug, Clone)]
pub struct HookLayer {
    settings: Arc<HookSettings>,
    telemetry: Arc<Telemetry>,
}

impl HookLayer {
    /// A layer calling hooks through `telemetry`'s dispatcher under `settings`.
    pub fn new(settings: HookSettings, telemetry: Arc<Telemetry>) -> Self {
        Self {
            settings: Arc::new(settings),
            telemetry,
        }
    }
}

impl<S> Layer<S> for HookLayer {
    type Service = HookService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        HookService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`HookLayer`].
#[derive(Debug, Clone)]
pub struct HookService<S> {
    inner: S,
    layer: HookLayer,
}

/// The custom capabilities as `metadata.grants`.
fn grants_json(access: &Access) -> Value {
    serde_json::to_value(&access.custom).unwrap_or_default()
}

impl<S> Service<Req> for HookService<S>
where
    S: Service<Req, Response = Res, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let ext = req.extensions();
        let (Some(Target::Inference(_)), Some(access), Some(route)) = (
            ext.get::<Target>(),
            ext.get::<Arc<Access>>(),
            ext.get::<Route>(),
        ) else {
            return super::misconfigured();
        };
        if access.hooks.is_empty() {
            return Box::pin(self.inner.call(req));
        }
        let hooks = access.hooks_for(&route.provider, &route.upstream_model);
        let post: Vec<SendHook> = hooks
            .iter()
            .filter(|h| {
                h.events.contains(&HookEvent::EntireRequest)
                    || h.events.contains(&HookEvent::ToolCallEntireRequest)
            })
            .cloned()
            .collect();
        if let (false, Some(slot)) = (post.is_empty(), ext.get::<RecordSlot>()) {
            slot.hooks(
                post,
                grants_json(access),
                gateway_url(req.headers(), req.uri()),
            );
        }
        let dispatcher = &self.layer.telemetry.hooks;
        let mut pre: Vec<(Arc<Hook>, SendHook)> = hooks
            .into_iter()
            .filter(|h| h.events.contains(&HookEvent::PreRequest))
            .filter_map(|h| Some((dispatcher.hook(&h.name)?, h)))
            .collect();
        if pre.is_empty() {
            return Box::pin(self.inner.call(req));
        }
        // Higher preference first, ties by name in byte order.
        pre.sort_by(|(a, _), (b, _)| b.preference.cmp(&a.preference).then(a.name.cmp(&b.name)));
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let target = req.extensions().get::<Target>().cloned();
            match pre_request(req, &layer, &pre).await {
                Ok(req) => inner.call(req).await,
                Err(e) => Ok(match target {
                    Some(t) => e.respond(&t),
                    None => Error::StackMisconfigured.respond(&Target::Metrics),
                }),
            }
        })
    }
}

/// Buffers the body, calls each `pre_request` hook in order and returns the request to
/// forward (with a modified body, perhaps), or the refusal.
async fn pre_request(
    req: Req,
    layer: &HookLayer,
    hooks: &[(Arc<Hook>, SendHook)],
) -> Result<Req, Box<Error>> {
    let telemetry = &layer.telemetry;
    let dispatcher = &telemetry.hooks;
    let limit = layer.settings.max_request_body;
    let (mut parts, body) = req.into_parts();
    let mut body = match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Box::new(Error::BodyTooLarge { limit }));
        }
        Err(_) => return Err(Box::new(Error::BodyUnreadable)),
    };
    let slot = parts.extensions.get::<RecordSlot>().cloned();
    if let Some(slot) = &slot {
        slot.request_body(&body);
    }
    let mut common = common_for(&parts, &body, layer);
    let mut modified = false;
    for (hook, send) in hooks {
        let bytes = payload::build(
            HookEvent::PreRequest,
            &send.send,
            &common,
            None,
            dispatcher.book(),
        );
        let asked = std::time::Instant::now();
        let reply = dispatcher.call(hook, bytes).await;
        if let Some(slot) = &slot {
            slot.hook_wait(asked.elapsed());
        }
        let verdict = match reply {
            Ok(reply) => Verdict::read(&reply, &body),
            Err(e) => Verdict::Failed(e.to_string()),
        };
        let outcome = verdict.outcome();
        dispatcher
            .metrics()
            .hook_call(&hook.name, "pre_request", outcome);
        match verdict {
            Verdict::Allow => {}
            Verdict::Block { status, message } => {
                tracing::info!(hook = %hook.name, status = status.as_u16(), "request blocked by a pre_request hook");
                return Err(Box::new(Error::HookBlocked {
                    hook: hook.name.clone(),
                    status,
                    message,
                }));
            }
            Verdict::Modify(new) => {
                modified = true;
                body = new;
                common.request_body = body.clone();
                if let Some(slot) = &slot {
                    slot.request_body(&body);
                }
            }
            Verdict::Failed(why) => {
                tracing::warn!(hook = %hook.name, error = %why, policy = ?hook.fail_policy, "pre_request hook failed");
                if hook.fail_policy == FailPolicy::FailClosed {
                    return Err(Box::new(Error::HookFailed {
                        hook: hook.name.clone(),
                    }));
                }
            }
        }
    }
    if modified {
        // The hook's body is plain JSON, whatever encoding the client's had.
        parts.headers.remove(header::CONTENT_ENCODING);
    }
    parts.extensions.insert(BufferedBody);
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Req::from_parts(parts, full(body)))
}

/// What a `pre_request` hook decided.
#[derive(Debug)]
enum Verdict {
    Allow,
    Block { status: StatusCode, message: String },
    Modify(Bytes),
    Failed(String),
}

impl Verdict {
    /// Reads a hook's reply; `body` is the body the hook was sent.
    fn read(reply: &[u8], body: &[u8]) -> Verdict {
        let Ok(v) = serde_json::from_slice::<Value>(reply) else {
            return Verdict::Failed("the reply is not JSON".into());
        };
        match v.get("action").and_then(Value::as_str) {
            Some("allow") => Verdict::Allow,
            Some("block") => {
                let status = v
                    .get("status_code")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::FORBIDDEN);
                let message = v
                    .get("message")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .unwrap_or("request blocked by guardrail")
                    .to_string();
                Verdict::Block { status, message }
            }
            Some("modify") => {
                let Some(new) = v.get("request_body").filter(|b| b.is_object()) else {
                    return Verdict::Allow;
                };
                let model = |b: &Value| b.get("model").cloned();
                // Only a JSON body can be replaced (not a GET's empty one, not a compressed one).
                let Ok(before) = serde_json::from_slice::<Value>(body) else {
                    return Verdict::Failed("the request has no JSON body to modify".into());
                };
                if model(&before) != model(new) {
                    return Verdict::Failed("the modified body changes the model".into());
                }
                // Forwarded as the hook wrote it, byte for byte.
                #[derive(serde::Deserialize)]
                struct Raw<'a> {
                    #[serde(borrow)]
                    request_body: &'a serde_json::value::RawValue,
                }
                match serde_json::from_slice::<Raw<'_>>(reply) {
                    Ok(raw) => {
                        Verdict::Modify(Bytes::copy_from_slice(raw.request_body.get().as_bytes()))
                    }
                    Err(_) => Verdict::Failed("the modified body cannot be read".into()),
                }
            }
            Some(other) => Verdict::Failed(format!("unknown action {other:?}")),
            None => Verdict::Failed("the reply has no action".into()),
        }
    }

    /// The metrics outcome.
    fn outcome(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block { .. } => "block",
            Verdict::Modify(_) => "modify",
            Verdict::Failed(_) => "failed",
        }
    }
}

/// The absolute URL the caller used, query redacted.
pub(crate) fn gateway_url(headers: &http::HeaderMap, uri: &http::Uri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let query = uri
        .query()
        .map(|q| format!("?{}", aperture_log::redact::query(q)))
        .unwrap_or_default();
    format!("http://{host}{}{query}", uri.path())
}

/// The payload inputs of a request before forwarding.
fn common_for(parts: &http::request::Parts, body: &Bytes, layer: &HookLayer) -> Common {
    let ext = &parts.extensions;
    let identity = ext.get::<Identity>();
    let route = ext.get::<Route>();
    let endpoint = match ext.get::<Target>() {
        Some(Target::Inference(ep)) => Some(ep),
        _ => None,
    };
    let format = endpoint
        .and_then(|ep| ResponseFormat::for_endpoint(ep.api_type.as_str(), parts.uri.path()));
    let login = identity.map_or("", |i| i.login.as_str());
    let provider = route.map_or("", |r| r.provider.as_str());
    let key = &layer.telemetry.key;
    let hmac = |data: &[u8]| key.hmac(data);
    let random = || key.random16();
    let origins = &layer.telemetry.responses;
    let previous = |id: &str| origins.get(id).map(|o| o.session);
    let session_hooks = SessionHooks {
        hmac: &hmac,
        random: &random,
        previous_response: Some(&previous),
    };
    let session = format.map_or(String::new(), |f| {
        session_id(&parts.headers, body, f, login, provider, &session_hooks).0
    });
    let mut secrets = aperture_log::redact::client_credentials(&parts.headers, parts.uri.query());
    secrets.extend(layer.settings.secrets.0.iter().cloned());
    let quota_buckets = ext
        .get::<RecordSlot>()
        .and_then(|s| s.peek(|d| d.quota_buckets.clone()))
        .unwrap_or_default();
    Common {
        meta: Meta {
            login_name: login.to_string(),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            url: gateway_url(&parts.headers, &parts.uri),
            model: route.map_or(String::new(), |r| r.upstream_model.clone()),
            provider: provider.to_string(),
            tailnet_name: identity.map_or(String::new(), |i| payload::tailnet_of(&i.node_name)),
            stable_node_id: identity.map_or(String::new(), |i| i.node_id.clone()),
            request_id: ext
                .get::<RequestId>()
                .map_or(String::new(), |r| r.0.clone()),
            session_id: session,
        },
        request_body: body.clone(),
        format,
        grants: ext
            .get::<Arc<Access>>()
            .map_or(Value::Null, |a| grants_json(a)),
        quota_buckets,
        secrets: aperture_log::build::Secrets(secrets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_as_the_spec_says() {
        let body = br#"{"model":"gpt-5","messages":[]}"#;
        assert!(matches!(
            Verdict::read(br#"{"action":"allow","x":1}"#, body),
            Verdict::Allow
        ));
        match Verdict::read(br#"{"action":"block"}"#, body) {
            Verdict::Block { status, message } => {
                assert_eq!(status, StatusCode::FORBIDDEN);
                assert_eq!(message, "request blocked by guardrail");
            }
            v => panic!("{v:?}"),
        }
        match Verdict::read(
            br#"{"action":"block","status_code":451,"message":"no"}"#,
            body,
        ) {
            Verdict::Block { status, message } => {
                assert_eq!((status.as_u16(), message.as_str()), (451, "no"))
            }
            v => panic!("{v:?}"),
        }
        // A block with a success status is still a refusal.
        assert!(matches!(
            Verdict::read(br#"{"action":"block","status_code":200}"#, body),
            Verdict::Block {
                status: StatusCode::FORBIDDEN,
                ..
            }
        ));
        assert!(matches!(
            Verdict::read(br#"{"action":"modify","request_body":"text"}"#, body),
            Verdict::Allow
        ));
        assert!(matches!(
            Verdict::read(
                br#"{"action":"modify","request_body":{"model":"gpt-4","messages":[]}}"#,
                body
            ),
            Verdict::Failed(_)
        ));
        match Verdict::read(
            br#"{"action":"modify","request_body":{"model":"gpt-5","messages":[1]}}"#,
            body,
        ) {
            Verdict::Modify(b) => assert_eq!(&b[..], br#"{"model":"gpt-5","messages":[1]}"#),
            v => panic!("{v:?}"),
        }
        assert!(matches!(Verdict::read(b"<html>", body), Verdict::Failed(_)));
        assert!(matches!(
            Verdict::read(br#"{"action":"maybe"}"#, body),
            Verdict::Failed(_)
        ));
        assert!(matches!(Verdict::read(br#"{}"#, body), Verdict::Failed(_)));
        // Nothing to modify on a request without a JSON body (a GET of a stored response).
        assert!(matches!(
            Verdict::read(br#"{"action":"modify","request_body":{"a":1}}"#, b""),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn the_url_is_absolute_and_its_query_redacted() {
        let mut h = http::HeaderMap::new();
        h.insert(header::HOST, "ai.example.ts.net".parse().unwrap());
        let uri: http::Uri = "/v1beta/models/g:generateContent?key=AIzaSECRETSECRET&alt=sse"
            .parse()
            .unwrap();
        let url = gateway_url(&h, &uri);
        assert!(url.starts_with("http://ai.example.ts.net/v1beta/models/g:generateContent?"));
        assert!(!url.contains("AIzaSECRET"), "{url}");
    }
}
