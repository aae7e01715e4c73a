//! Every inference request on the record (SPEC.md §8): a slot the inner layers fill, a response
//! body that tees each chunk to the usage observer, and one record emitted when the body ends,
//! fails, or is dropped because the client left (499) — refused requests included.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aperture_auth::Identity;
use aperture_config::Retention;
use aperture_log::store::{Cost, LogSink, RecordIdentity, RequestRecord};
use aperture_log::usage::{Observer, ResponseFormat, SessionHooks, session_id};
use aperture_log::{Observation, Usage};
use bytes::Bytes;
use http::HeaderMap;
use tower::{Layer, Service};

use super::{BoxFut, Req, Res, Target};
use crate::body::Body;
use crate::metrics::{Metrics, RequestSample};
use crate::request_id::RequestId;
use crate::runtime::Runtime;

mod body;
pub(crate) mod redact;

use body::RecordBody;
pub use redact::InstallKey;

/// What the request log and metrics share with every request.
pub struct Telemetry {
    /// The record queue, when records are kept.
    pub sink: Option<LogSink>,
    /// The store the queue drains into, for the dashboard's queries (`/api/sessions`, …).
    pub db: Option<Arc<dyn aperture_log::store::Store>>,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// The install key: fingerprints of redacted headers, session hashes.
    pub key: InstallKey,
    /// Who produced each Responses API response id seen by this process.
    pub responses: ResponseOrigins,
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

/// What inner layers learn about a request, for its record.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordSlot(Arc<Mutex<SlotData>>);

#[derive(Debug, Default)]
pub(crate) struct SlotData {
    identity: Option<Identity>,
    provider: String,
    model: String,
    requested_model: String,
    request_body: Option<Bytes>,
    upstream_wait: Option<Duration>,
}

impl RecordSlot {
    pub(crate) fn identity(&self, identity: &Identity) {
        if let Ok(mut d) = self.0.lock() {
            d.identity = Some(identity.clone());
        }
    }

    pub(crate) fn route(&self, provider: &str, model: &str, requested: &str) {
        if let Ok(mut d) = self.0.lock() {
            d.provider = provider.to_string();
            d.model = model.to_string();
            d.requested_model = requested.to_string();
        }
    }

    /// How long the provider took to answer with a head (time the gateway only waited).
    pub(crate) fn upstream_wait(&self, wait: Duration) {
        if let Ok(mut d) = self.0.lock() {
            d.upstream_wait = Some(wait);
        }
    }

    pub(crate) fn request_body(&self, body: &Bytes) {
        if let Ok(mut d) = self.0.lock() {
            d.request_body = Some(body.clone());
        }
    }

    fn take(&self) -> SlotData {
        self.0
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }
}

/// The message of an error the gateway made itself, attached to its response.
#[derive(Debug, Clone)]
pub(crate) struct GatewayError(pub(crate) String);

/// Records inference requests and feeds the metrics.
#[derive(Debug, Clone)]
pub struct RecordLayer {
    telemetry: Arc<Telemetry>,
}

impl RecordLayer {
    /// A layer writing to `telemetry`.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        Self { telemetry }
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Record {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service of [`RecordLayer`].
#[derive(Debug, Clone)]
pub struct Record<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
}

/// Everything a record needs that is known when the request arrives.
pub(crate) struct Pending {
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) slot: RecordSlot,
    pub(crate) id: String,
    pub(crate) time_ms: i64,
    pub(crate) start: Instant,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    /// The query as sent, only to find credentials to scrub; never stored.
    pub(crate) raw_query: Option<String>,
    pub(crate) api_type: &'static str,
    pub(crate) format: Option<ResponseFormat>,
    pub(crate) request_headers: HeaderMap,
    pub(crate) status: u16,
    /// When the response head came out of the stack.
    pub(crate) head_at: Option<Instant>,
    pub(crate) response_headers: HeaderMap,
    pub(crate) gateway_error: Option<String>,
}

impl<S> Service<Req> for Record<S>
where
    S: Service<Req, Response = Res, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Res;
    type Error = std::convert::Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        req.extensions_mut().insert(self.telemetry.clone());
        let endpoint = match req.extensions().get::<Target>() {
            Some(Target::Inference(e)) => e.clone(),
            _ => return Box::pin(self.inner.call(req)),
        };
        let (Some(runtime), Some(id)) = (
            req.extensions().get::<Arc<Runtime>>().cloned(),
            req.extensions().get::<RequestId>().cloned(),
        ) else {
            return Box::pin(self.inner.call(req));
        };
        let slot = RecordSlot::default();
        req.extensions_mut().insert(slot.clone());
        let path = req.uri().path().to_string();
        let pending = Pending {
            telemetry: self.telemetry.clone(),
            runtime,
            slot,
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
            head_at: None,
            response_headers: HeaderMap::new(),
            gateway_error: None,
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
            pending.status = parts.status.as_u16();
            pending.head_at = Some(Instant::now());
            pending.response_headers = parts.headers.clone();
            pending.gateway_error = parts.extensions.get::<GatewayError>().map(|e| e.0.clone());
            let observer = pending
                .format
                .filter(|_| pending.gateway_error.is_none())
                .map(|f| {
                    let header = |n: http::HeaderName| {
                        parts
                            .headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let cap =
                        usize::try_from(pending.runtime.config.gateway.capture.max_body_bytes)
                            .unwrap_or(usize::MAX);
                    let mut o = Observer::new(
                        f,
                        header(http::header::CONTENT_TYPE).as_deref(),
                        header(http::header::CONTENT_ENCODING).as_deref(),
                        cap,
                    );
                    o.response_headers(&parts.headers);
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

/// How a response body ended.
pub(crate) enum Outcome {
    /// The whole body went out.
    Complete,
    /// The body failed (upstream error, stream idle timeout).
    Failed(String),
    /// The client went away first.
    ClientGone,
}

impl Pending {
    /// Builds and queues the record, and counts it in the metrics.
    pub(crate) fn finish(
        self,
        observation: Option<Observation>,
        first_byte: Option<Instant>,
        outcome: Outcome,
    ) {
        let slot = self.slot.take();
        let config = &self.runtime.config;
        let now = Instant::now();
        let (status, error) = match &outcome {
            Outcome::Complete => (self.status, self.gateway_error.clone()),
            Outcome::Failed(e) => (self.status, Some(e.clone())),
            Outcome::ClientGone => (499, Some("client closed the connection".to_string())),
        };
        let observation = observation.unwrap_or_else(|| Observation {
            usage: Usage {
                usage_missing: true,
                ..Usage::default()
            },
            ..Observation::default()
        });
        let error = error.or_else(|| observation.stream_error.clone());
        let identity = slot.identity.as_ref();
        let login = identity.map(|i| i.login.clone()).unwrap_or_default();
        let provider_cfg = config.providers.get(&slot.provider);
        let cost = match (provider_cfg.and_then(|p| p.cost_basis), self.format) {
            (Some(basis), Some(format)) if self.gateway_error.is_none() => {
                self.runtime.prices.cost(
                    basis,
                    &slot.model,
                    provider_cfg.map_or(&[][..], |p| &p.model_cost_map[..]),
                    &observation.usage,
                    format,
                )
            }
            _ => None,
        };
        let request_body = slot.request_body.clone().unwrap_or_default();
        let key = &self.telemetry.key;
        let hmac = |data: &[u8]| key.hmac(data);
        let random = || key.random16();
        let origins = &self.telemetry.responses;
        let previous = |id: &str| origins.get(id).map(|o| o.session);
        let hooks = SessionHooks {
            hmac: &hmac,
            random: &random,
            previous_response: Some(&previous),
        };
        let (session, session_source) = match self.format {
            Some(f) => session_id(
                &self.request_headers,
                &request_body,
                f,
                &login,
                &slot.provider,
                &hooks,
            ),
            None => (String::new(), aperture_log::usage::SessionSource::Random),
        };
        if let (Some(id), Some(ResponseFormat::OpenAiResponses)) =
            (observation.response_id.clone(), self.format)
        {
            let origin = ResponseOrigin {
                provider: slot.provider.clone(),
                login: login.clone(),
                session: session.clone(),
            };
            self.telemetry.responses.insert(id, origin);
        }
        let capture = !matches!(config.database.retention, Retention::Never);
        let cap = usize::try_from(config.gateway.capture.max_body_bytes).unwrap_or(usize::MAX);
        let mut secrets: Vec<Vec<u8>> =
            redact::client_credentials(&self.request_headers, self.raw_query.as_deref());
        secrets.extend(self.runtime.secrets.0.iter().cloned());
        let (request_body, request_truncated) = redact::body(&request_body, &secrets, cap);
        let response_json = observation
            .response_body
            .as_ref()
            .filter(|_| capture)
            .and_then(|v| serde_json::to_vec(v).ok());
        let (response_body, response_truncated) = response_json
            .map(|b| redact::body(&b, &secrets, cap))
            .unwrap_or((Vec::new(), false));
        let filterable = &config.database.filterable_headers;
        let record = RequestRecord {
            id: self.id,
            time_ms: self.time_ms,
            identity: identity
                .map(|i| RecordIdentity {
                    login: i.login.clone(),
                    display_name: i.display_name.clone(),
                    node_id: i.node_id.clone(),
                    node_name: i.node_name.clone(),
                    tags: i.tags.clone(),
                    source: i.source.as_str().to_string(),
                })
                .unwrap_or_default(),
            provider: slot.provider.clone(),
            model: slot.model.clone(),
            requested_model: slot.requested_model,
            api_type: self.api_type.to_string(),
            method: self.method,
            path: self.path,
            query: self.query,
            status,
            error: error.map(|e| aperture_config::scrub_secrets(&e)),
            duration_ms: ms(now - self.start),
            ttfb_ms: first_byte.map(|t| ms(t - self.start)),
            stream: observation.stream,
            incomplete: observation.incomplete || matches!(outcome, Outcome::ClientGone),
            upstream_request_id: ["request-id", "x-request-id", "x-amzn-requestid"]
                .iter()
                .find_map(|h| self.response_headers.get(*h).and_then(|v| v.to_str().ok()))
                .map(str::to_string),
            usage: observation.usage.clone(),
            cost: cost.clone(),
            session_id: session,
            session_source: session_source.as_str().to_string(),
            user_agent: self
                .request_headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            tool_calls: if capture || !config.database.purge_tools {
                observation
                    .tool_calls
                    .iter()
                    .map(|t| redact::tool_call(t, &secrets))
                    .collect()
            } else {
                Vec::new()
            },
            request_headers: if capture {
                redact::headers(&self.request_headers, key)
            } else {
                Vec::new()
            },
            response_headers: if capture {
                redact::headers(&self.response_headers, key)
            } else {
                Vec::new()
            },
            request_body: (capture && !request_body.is_empty()).then_some(request_body),
            request_body_truncated: request_truncated,
            response_body: (capture && !response_body.is_empty()).then_some(response_body),
            response_body_truncated: response_truncated,
            indexed_headers: if !capture {
                Vec::new()
            } else {
                redact::indexed(&self.request_headers, &self.response_headers, filterable)
            },
        };
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
        self.telemetry.metrics.observe(&RequestSample {
            provider: &record.provider,
            model: &record.model,
            api_type: &record.api_type,
            status: record.status,
            tokens: &tokens,
            web_search: u.web_search,
            cost_nanodollars: cost.as_ref().map(|c: &Cost| c.nanodollars),
            duration: (now - self.start).as_secs_f64(),
            ttfb: first_byte.map(|t| (t - self.start).as_secs_f64()),
            // The gateway's own time: head out minus head in, minus the wait for the provider.
            overhead: self
                .head_at
                .zip(slot.upstream_wait)
                .map(|(head, wait)| (head - self.start).saturating_sub(wait).as_secs_f64()),
        });
        if let Some(sink) = &self.telemetry.sink {
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

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
