//! Every inference request on the record (SPEC.md §8): a slot the inner layers fill, a response
//! body that tees each chunk to the usage observer, and one record emitted when the body ends,
//! fails, or is dropped because the client left (499) — refused requests included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aperture_config::{CostAlias, CostBasis, Retention};
use aperture_log::pricing::PriceTable;
use aperture_log::store::{Cost, LogSink, RequestRecord};
use aperture_log::usage::{Observer, ResponseFormat, SessionHooks, session_id};
use aperture_log::{Observation, Usage};
use aperture_log::{RecordSlot, SlotData};
use http::HeaderMap;
use http::Request;
use tower::{Layer, Service};

use super::{BoxFut, Res, Target};
use crate::body::Body;
use crate::error::GatewayError;
use crate::metrics::{Metrics, RequestSample};
use crate::request_id::RequestId;
use crate::runtime::{ConfiguredSecrets, Runtime};

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
    pub metrics: Arc<Metrics>,
    /// The install key: fingerprints of redacted headers, session hashes.
    pub key: InstallKey,
    /// Who produced each Responses API response id seen by this process.
    pub responses: Arc<ResponseOrigins>,
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

/// What [`RecordLayer`] needs of a config version: prices, secrets to scrub, what to keep.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    /// Prices: the bundled table with `gateway.price_file` merged over it.
    pub prices: Arc<PriceTable>,
    /// Every credential in the config, scrubbed from stored records.
    pub secrets: Arc<ConfiguredSecrets>,
    /// Each provider's `cost_basis` and `model_cost_map`.
    pub costs: Arc<HashMap<String, (Option<CostBasis>, Vec<CostAlias>)>>,
    /// Bodies and headers are kept (`database.retention` is not `"0"`).
    pub capture: bool,
    /// Tool calls are kept even without captures (`purge` does not name `tools`).
    pub keep_tools: bool,
    /// `gateway.capture.max_body_bytes`.
    pub max_body_bytes: usize,
    /// `database.filterable_headers`.
    pub filterable_headers: Vec<aperture_config::FilterableHeader>,
}

impl RecordSettings {
    /// The settings of a compiled config.
    pub fn from_runtime(rt: &Runtime) -> Self {
        let config = &rt.config;
        let capture = !matches!(config.database.retention, Retention::Never);
        Self {
            prices: rt.prices.clone(),
            secrets: rt.secrets.clone(),
            costs: Arc::new(
                config
                    .providers
                    .values()
                    .map(|p| (p.id.clone(), (p.cost_basis, p.model_cost_map.clone())))
                    .collect(),
            ),
            capture,
            keep_tools: capture || !config.database.purge_tools,
            max_body_bytes: usize::try_from(config.gateway.capture.max_body_bytes)
                .unwrap_or(usize::MAX),
            filterable_headers: config.database.filterable_headers.clone(),
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
    settings: Arc<RecordSettings>,
}

impl RecordLayer {
    /// A layer writing to `telemetry` with `settings`.
    pub fn new(telemetry: Arc<Telemetry>, settings: RecordSettings) -> Self {
        Self {
            telemetry,
            settings: Arc::new(settings),
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

/// Everything a record needs that is known when the request arrives.
pub(crate) struct Pending {
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) settings: Arc<RecordSettings>,
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
        let pending = Pending {
            telemetry: self.layer.telemetry.clone(),
            settings: self.layer.settings.clone(),
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
                    let cap = pending.settings.max_body_bytes;
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
        let slot: SlotData = self.slot.take();
        let settings = &*self.settings;
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
        let login = slot
            .identity
            .as_ref()
            .map(|i| i.login.clone())
            .unwrap_or_default();
        let provider_cost = settings.costs.get(&slot.provider);
        let cost = match (provider_cost.and_then(|p| p.0), self.format) {
            (Some(basis), Some(format)) if self.gateway_error.is_none() => settings.prices.cost(
                basis,
                &slot.model,
                provider_cost.map_or(&[][..], |p| &p.1[..]),
                &observation.usage,
                format,
            ),
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
        let capture = settings.capture;
        let cap = settings.max_body_bytes;
        let mut secrets: Vec<Vec<u8>> =
            redact::client_credentials(&self.request_headers, self.raw_query.as_deref());
        secrets.extend(settings.secrets.0.iter().cloned());
        let (request_body, request_truncated) = redact::body(&request_body, &secrets, cap);
        let response_json = observation
            .response_body
            .as_ref()
            .filter(|_| capture)
            .and_then(|v| serde_json::to_vec(v).ok());
        let (response_body, response_truncated) = response_json
            .map(|b| redact::body(&b, &secrets, cap))
            .unwrap_or((Vec::new(), false));
        let filterable = &settings.filterable_headers;
        let record = RequestRecord {
            id: self.id,
            time_ms: self.time_ms,
            identity: slot.identity.clone().unwrap_or_default(),
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
            tool_calls: if settings.keep_tools {
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
        tracing::info!(
            target: "aperture::access",
            request_id = %record.id,
            method = %record.method,
            path = %record.path,
            status = record.status,
            login = %login,
            model = %record.model,
            provider = %record.provider,
            duration_ms = record.duration_ms,
            bytes = self.bytes_out,
            error = record.error.as_deref().unwrap_or(""),
        );
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
