//! Every inference request on the record (SPEC.md §8): a slot the inner layers fill, a response
//! body that tees each chunk to the usage observer, and one record emitted when the body ends,
//! fails, or is dropped because the client left (499) — refused requests included.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aperture_log::Observation;
use aperture_log::RecordSlot;
use aperture_log::build::{Outcome, RecordPolicy, RequestHead};
use aperture_log::redact::{self, InstallKey};
use aperture_log::store::LogSink;
use aperture_log::usage::{Observer, ResponseFormat, SessionHooks};
use http::HeaderMap;
use http::Request;
use tower::{Layer, Service};

use super::{BoxFut, Res, Target};
use crate::body::Body;
use crate::error::GatewayError;
use crate::metrics::{Metrics, RequestSample};
use crate::request_id::RequestId;

mod body;

use body::RecordBody;

/// What the request log and metrics share with every request.
pub struct Telemetry {
    /// The record queue, when records are kept.
    pub sink: Option<LogSink>,
    /// The store the queue drains into, for the dashboard's queries (`/api/sessions`, …).
    pub db: Option<Arc<dyn aperture_log::store::Store>>,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// The install key: fingerprints of redacted headers, session hashes.
    pub key: InstallKey,
    /// Who produced each Responses API response id seen by this process.
    pub responses: Arc<ResponseOrigins>,
    /// Quota balances: checked before forwarding, debited here after the response.
    pub quotas: Arc<aperture_log::quota::QuotaBook>,
    /// Hook calls: `pre_request` by the hook layer, deliveries queued here after the response.
    pub hooks: Arc<super::hooks::HookDispatcher>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("sink", &self.sink)
            .field("db", &self.db.as_ref().map(|_| "Store"))
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// Where a response id came from: the provider that produced it, the login that asked, the
/// session it belongs to. Kept in memory (bounded), for `/v1/responses/{id}` routing and
/// `previous_response_id` sessions.
#[derive(Debug, Default)]
pub struct ResponseOrigins(Mutex<std::collections::HashMap<String, ResponseOrigin>>);

/// One response id's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseOrigin {
    /// The provider that produced it.
    pub provider: String,
    /// The login that asked for it.
    pub login: String,
    /// Its session.
    pub session: String,
}

/// Response ids remembered before the map starts over.
const RESPONSE_ORIGINS_LIMIT: usize = 100_000;

impl ResponseOrigins {
    /// Where `id` came from, if this process saw it.
    pub fn get(&self, id: &str) -> Option<ResponseOrigin> {
        self.0.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn insert(&self, id: String, origin: ResponseOrigin) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= RESPONSE_ORIGINS_LIMIT {
                m.clear();
            }
            m.insert(id, origin);
        }
    }
}

/// Puts every inference request on the record and feeds the metrics: inserts a
/// [`RecordSlot`] that inner layers fill, wraps the response body so usage is read as it
/// streams, and queues one record when the body ends, fails, or is dropped because the client
/// left (499). Refusals from inner layers are recorded too. Reads the [`Target`] and
/// [`RequestId`].
#[derive(Debug, Clone)]
pub struct RecordLayer {
    telemetry: Arc<Telemetry>,
    policy: Arc<RecordPolicy>,
}

impl RecordLayer {
    /// A layer writing to `telemetry`, keeping what `policy` says.
    pub fn new(telemetry: Arc<Telemetry>, policy: RecordPolicy) -> Self {
        Self {
            telemetry,
            policy: Arc::new(policy),
        }
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Record {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RecordLayer`].
#[derive(Debug, Clone)]
pub struct Record<S> {
    inner: S,
    layer: RecordLayer,
}

/// A request on its way to the record: what is known of it so far.
pub(crate) struct Pending {
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) policy: Arc<RecordPolicy>,
    pub(crate) slot: RecordSlot,
    pub(crate) head: RequestHead,
    /// When the response head came out of the stack.
    pub(crate) head_at: Option<Instant>,
    /// Response body bytes relayed so far.
    pub(crate) bytes_out: u64,
}

impl<S, B> Service<Request<B>> for Record<S>
where
    B: Send + 'static,
    S: Service<Request<B>, Response = Res, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Res;
    type Error = std::convert::Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let (Some(Target::Inference(endpoint)), Some(id)) = (
            req.extensions().get::<Target>(),
            req.extensions().get::<RequestId>(),
        ) else {
            return super::misconfigured();
        };
        let (endpoint, id) = (endpoint.clone(), id.clone());
        let slot = RecordSlot::default();
        req.extensions_mut().insert(slot.clone());
        let path = req.uri().path().to_string();
        let head = RequestHead {
            id: id.0,
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            start: Instant::now(),
            method: req.method().to_string(),
            query: req.uri().query().map(redact::query),
            raw_query: req.uri().query().map(str::to_string),
            api_type: endpoint.api_type.as_str(),
            format: ResponseFormat::for_endpoint(endpoint.api_type.as_str(), &path),
            path,
            request_headers: req.headers().clone(),
            status: 0,
            response_headers: HeaderMap::new(),
            gateway_error: None,
        };
        let pending = Pending {
            telemetry: self.layer.telemetry.clone(),
            policy: self.layer.policy.clone(),
            slot,
            head,
            head_at: None,
            bytes_out: 0,
        };
        let fut = self.inner.call(req);
        // If the client goes away before the response head, the future is dropped here and
        // the guard records a 499.
        let mut guard = PendingGuard(Some(pending));
        Box::pin(async move {
            let res = fut.await?;
            let Some(mut pending) = guard.0.take() else {
                return Ok(res);
            };
            let (parts, body) = res.into_parts();
            pending.head.status = parts.status.as_u16();
            pending.head_at = Some(Instant::now());
            pending.head.response_headers = parts.headers.clone();
            pending.head.gateway_error =
                parts.extensions.get::<GatewayError>().map(|e| e.0.clone());
            let observer = pending
                .head
                .format
                .filter(|_| pending.head.gateway_error.is_none())
                .map(|f| {
                    let header = |n: http::HeaderName| {
                        parts
                            .headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let cap = pending.policy.max_body_bytes;
                    let mut o = Observer::new(
                        f,
                        header(http::header::CONTENT_TYPE).as_deref(),
                        header(http::header::CONTENT_ENCODING).as_deref(),
                        cap,
                    );
                    o.response_headers(&parts.headers);
                    let raw_wanted = pending.slot.peek(|d| {
                        d.hooks
                            .iter()
                            .any(|h| h.send.iter().any(|s| s == "raw_responses"))
                    });
                    if raw_wanted == Some(true) {
                        // Bounded like the capture: a queued delivery must stay small.
                        o.keep_raw(cap);
                    }
                    o
                });
            let body = RecordBody::new(body, observer, pending);
            Ok(Res::from_parts(parts, Body::new(body)))
        })
    }
}

/// Records a 499 if the request ends before its response head (the client left).
struct PendingGuard(Option<Pending>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.finish(None, None, Outcome::ClientGone);
        }
    }
}

impl Pending {
    /// Builds and queues the record, counts it in the metrics, and writes the access line.
    pub(crate) fn finish(
        self,
        observation: Option<Observation>,
        first_byte: Option<Instant>,
        outcome: Outcome,
    ) {
        let slot = self.slot.take();
        let now = Instant::now();
        let telemetry = &self.telemetry;
        let key = &telemetry.key;
        let hmac = |data: &[u8]| key.hmac(data);
        let random = || key.random16();
        let origins = &telemetry.responses;
        let previous = |id: &str| origins.get(id).map(|o| o.session);
        let hooks = SessionHooks {
            hmac: &hmac,
            random: &random,
            previous_response: Some(&previous),
        };
        let start = self.head.start;
        let format = self.head.format;
        // Hooks after the response: what their payloads need of the request, taken before the
        // record consumes it.
        let hook_input = (!slot.hooks.is_empty()).then(|| {
            let mut secrets = redact::client_credentials(
                &self.head.request_headers,
                self.head.raw_query.as_deref(),
            );
            secrets.extend(self.policy.secrets.0.iter().cloned());
            secrets
        });
        let record = aperture_log::build::build(
            self.head,
            &slot,
            observation.as_ref(),
            first_byte,
            now,
            &outcome,
            &self.policy,
            key,
            &hooks,
        );
        if !slot.quota_buckets.is_empty() {
            // Every outcome is charged what it cost (499s and upstream errors included).
            let cost = record
                .cost
                .as_ref()
                .map_or(0, |c| i64::try_from(c.nanodollars).unwrap_or(i64::MAX));
            let buckets: Vec<(String, &aperture_config::Quota)> = slot
                .quota_buckets
                .iter()
                .map(|(n, q)| (n.clone(), q))
                .collect();
            telemetry
                .quotas
                .debit(&buckets, cost, super::quota::now_ms());
        }
        if let Some(secrets) = hook_input {
            let o = observation.clone().unwrap_or_default();
            let id = &record.identity;
            let common = super::hooks::payload::Common {
                meta: super::hooks::payload::Meta {
                    login_name: id.login.clone(),
                    user_agent: record.user_agent.clone().unwrap_or_default(),
                    url: slot.hook_url.clone(),
                    model: record.model.clone(),
                    provider: record.provider.clone(),
                    tailnet_name: super::hooks::payload::tailnet_of(&id.node_name),
                    stable_node_id: id.node_id.clone(),
                    request_id: record.id.clone(),
                    session_id: record.session_id.clone(),
                },
                request_body: slot.request_body.clone().unwrap_or_default(),
                format,
                grants: slot.hook_grants.clone(),
                quota_buckets: slot.quota_buckets.clone(),
                secrets: aperture_log::build::Secrets(secrets),
            };
            let outcome = super::hooks::payload::Outcome {
                response_body: o.response_body,
                raw_responses: o.raw_responses,
                tool_calls: o.tool_calls,
                usage: record.usage.clone(),
                cost: record.cost.clone(),
            };
            telemetry.hooks.after_response(&slot.hooks, common, outcome);
        }
        let response_id = observation.and_then(|o| o.response_id);
        if let (Some(id), Some(ResponseFormat::OpenAiResponses)) = (response_id, format) {
            let origin = ResponseOrigin {
                provider: record.provider.clone(),
                login: record.identity.login.clone(),
                session: record.session_id.clone(),
            };
            telemetry.responses.insert(id, origin);
        }
        let u = &record.usage;
        let tokens = [
            ("input", u.input),
            ("output", u.output),
            ("cache_read", u.cache_read),
            ("cache_write_5m", u.cache_write_5m),
            ("cache_write_1h", u.cache_write_1h),
            ("reasoning", u.reasoning),
            ("image_input", u.image_input),
            ("image_output", u.image_output),
        ];
        telemetry.metrics.observe(&RequestSample {
            provider: &record.provider,
            model: &record.model,
            api_type: &record.api_type,
            status: record.status,
            tokens: &tokens,
            web_search: u.web_search,
            cost_nanodollars: record.cost.as_ref().map(|c| c.nanodollars),
            duration: (now - start).as_secs_f64(),
            ttfb: first_byte.map(|t| (t - start).as_secs_f64()),
            // The gateway's own time: head out minus head in, minus the waits for the provider
            // and for pre_request hooks.
            overhead: self.head_at.zip(slot.upstream_wait).map(|(head, wait)| {
                (head - start)
                    .saturating_sub(wait)
                    .saturating_sub(slot.hook_wait)
                    .as_secs_f64()
            }),
        });
        tracing::info!(
            target: "aperture::access",
            request_id = %record.id,
            method = %record.method,
            path = %record.path,
            status = record.status,
            login = %record.identity.login,
            model = %record.model,
            provider = %record.provider,
            duration_ms = record.duration_ms,
            bytes = self.bytes_out,
            error = record.error.as_deref().unwrap_or(""),
        );
        if let Some(sink) = &telemetry.sink {
            // Never wait here (this runs inside a body poll): a full queue gets up to
            // `overflow_block` on a task of its own, then the record is dropped and counted.
            if let Err(record) = sink.try_record_or_return(record) {
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        let sink = sink.clone();
                        handle.spawn(async move { sink.record_async(*record).await });
                    }
                    Err(_) => {
                        sink.try_record(*record);
                    }
                }
            }
        }
    }
}
