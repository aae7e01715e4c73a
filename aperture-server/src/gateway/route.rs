//! Routing: read the model (from the body, bounded, or the path) and pick the provider.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::Access;
use aperture_config::CompatFlag;
use aperture_route::{Endpoint, ModelSource, Route, extract_body_model, splice_model};
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};
use tower::{Layer, Service};

use super::error::{from_rendered, native_error};
use super::record::RecordSlot;
use super::{BoxFut, Req, Res, Target};
use crate::body::{boxed, full};
use crate::runtime::Runtime;

/// Marks a request whose body the gateway buffered (and may have rewritten), so the proxy lets
/// the HTTP library set `Content-Length`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BufferedBody;

/// Inserts the [`Route`]; answers `/v1/models`.
#[derive(Debug, Clone, Copy)]
pub struct RouteLayer;

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RouteService { inner }
    }
}

/// The service of [`RouteLayer`].
#[derive(Debug, Clone)]
pub struct RouteService<S> {
    inner: S,
}

/// The answer when a layer finds the facts it needs missing: the stack is wired wrong.
pub(crate) fn misconfigured() -> BoxFut {
    let res = super::error::plain_error(StatusCode::INTERNAL_SERVER_ERROR, "stack_misconfigured");
    Box::pin(async move { Ok(res) })
}

impl<S> Service<Req> for RouteService<S>
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
        let (Some(rt), Some(target), Some(access)) = (
            ext.get::<Arc<Runtime>>(),
            ext.get::<Target>(),
            ext.get::<Arc<Access>>(),
        ) else {
            return misconfigured();
        };
        let (rt, access) = (rt.clone(), access.clone());
        let endpoint = match target {
            Target::Models(id) => {
                let res = super::models::answer(&rt, &access, id.as_deref());
                return Box::pin(async move { Ok(res) });
            }
            Target::Metrics => {
                let res = metrics_answer(&req, &access);
                return Box::pin(async move { Ok(res) });
            }
            Target::Ui => {
                let res = super::ui::answer(&req, &access);
                return Box::pin(async move { Ok(res) });
            }
            Target::Api(call) => {
                let call = *call;
                return Box::pin(
                    async move { Ok(super::api::answer(call, req, &rt, &access).await) },
                );
            }
            Target::Inference(e) => e.clone(),
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match route(req, &rt, &access, &endpoint).await {
                Ok(req) => inner.call(req).await,
                Err(res) => Ok(*res),
            }
        })
    }
}

/// `GET /metrics` for callers with `read_metrics`.
fn metrics_answer(req: &Req, access: &Access) -> Res {
    use crate::config_store::{ConfigStore, ReloadSource};
    if !access.read_metrics {
        return super::error::plain_error(StatusCode::FORBIDDEN, "read_metrics grant required");
    }
    let (Some(telemetry), Some(store)) = (
        req.extensions().get::<Arc<super::Telemetry>>(),
        req.extensions().get::<Arc<ConfigStore>>(),
    ) else {
        return super::error::plain_error(StatusCode::INTERNAL_SERVER_ERROR, "stack_misconfigured");
    };
    let m = &telemetry.metrics;
    if let Some(sink) = &telemetry.sink {
        use std::sync::atomic::Ordering::Relaxed;
        m.log_queue_depth.store(sink.depth() as u64, Relaxed);
        m.log_records_dropped.store(sink.dropped(), Relaxed);
        m.log_write_errors.store(sink.write_errors(), Relaxed);
    }
    let mut reloads = Vec::new();
    for (source, name) in [
        (ReloadSource::File, "file"),
        (ReloadSource::Signal, "signal"),
        (ReloadSource::Api, "api"),
    ] {
        for (ok, result) in [(true, "success"), (false, "failure")] {
            reloads.push((name, result, store.reloads.get(source, ok)));
        }
    }
    let mut res = Res::new(full(m.render(&reloads)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

fn reject(format: aperture_route::ApiFormat, status: StatusCode, message: &str) -> Rejection {
    Box::new(native_error(format, status, message))
}

/// Reads what routing needs and returns the request with its [`Route`] (and possibly a new
/// body), or the native error.
/// A refusal, boxed to keep `Result`s small.
type Rejection = Box<Res>;

async fn route(req: Req, rt: &Runtime, access: &Access, ep: &Endpoint) -> Result<Req, Rejection> {
    let format = ep.format;
    let limit = rt.config.gateway.max_request_body;
    let too_large = || {
        reject(
            format,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is larger than the {limit} byte limit"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let granted = |p: &str, m: &str| access.model_granted(p, m);
    let (mut parts, body) = req.into_parts();
    let route = match &ep.model {
        ModelSource::Body => {
            let bytes = match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
                .collect()
                .await
            {
                Ok(c) => c.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
                Err(_) => {
                    return Err(reject(
                        format,
                        StatusCode::BAD_REQUEST,
                        "could not read the request body",
                    ));
                }
            };
            let found = extract_body_model(&bytes)
                .map_err(|e| Box::new(from_rendered(e.render(format))))?;
            let slot = parts.extensions.get::<RecordSlot>().cloned();
            if let Some(slot) = &slot {
                slot.route("", "", &found.model);
                slot.request_body(&bytes);
            }
            let route = find(rt, ep, &found.model, false, &granted, parts.uri.path())?;
            let body: Bytes = if route.qualified {
                splice_model(&bytes, found.span.clone(), &route.upstream_model)
            } else {
                bytes
            };
            if let Some(slot) = &slot {
                slot.route(
                    &route.provider,
                    &route.upstream_model,
                    &route.requested_model,
                );
                slot.request_body(&body);
            }
            parts.extensions.insert(BufferedBody);
            let mut req = Req::from_parts(parts, full(body));
            req.extensions_mut().insert(route);
            return Ok(req);
        }
        ModelSource::Path(model) => find(rt, ep, model, true, &granted, parts.uri.path())?,
        ModelSource::ResponseId(id) => {
            // The provider that produced the id, when this gateway saw it; a response another
            // login asked for is theirs.
            let origin = parts
                .extensions
                .get::<Arc<super::Telemetry>>()
                .and_then(|t| t.responses.get(id));
            let caller = parts
                .extensions
                .get::<aperture_auth::Identity>()
                .map(|i| i.login.clone());
            if let Some(origin) = origin {
                if Some(&origin.login) != caller.as_ref() {
                    return Err(reject(
                        format,
                        StatusCode::FORBIDDEN,
                        "access denied: this response belongs to another user",
                    ));
                }
                if rt.upstreams.contains_key(&origin.provider) {
                    let route = Route {
                        provider: origin.provider,
                        upstream_model: String::new(),
                        requested_model: String::new(),
                        qualified: false,
                    };
                    if let Some(slot) = parts.extensions.get::<RecordSlot>() {
                        slot.route(&route.provider, "", "");
                    }
                    let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
                    let mut req = Req::from_parts(parts, boxed(body));
                    req.extensions_mut().insert(route);
                    return Ok(req);
                }
            }
            // Otherwise: the sole granted provider with the responses flag.
            let candidates: Vec<&str> =
                rt.routes
                    .providers_for_flag(CompatFlag::OpenaiResponses)
                    .into_iter()
                    .filter(|p| {
                        rt.config.providers.get(*p).is_some_and(|cfg| {
                            cfg.models.iter().any(|m| access.model_granted(p, m))
                        })
                    })
                    .collect();
            match candidates.as_slice() {
                [one] => Route {
                    provider: (*one).to_string(),
                    upstream_model: String::new(),
                    requested_model: String::new(),
                    qualified: false,
                },
                _ => {
                    return Err(reject(
                        format,
                        StatusCode::NOT_FOUND,
                        "no route found for this response id",
                    ));
                }
            }
        }
    };
    if let Some(slot) = parts.extensions.get::<RecordSlot>() {
        slot.route(
            &route.provider,
            &route.upstream_model,
            &route.requested_model,
        );
    }
    let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    // The body streams to the provider; a capped copy goes to the record when it ends.
    let cap = usize::try_from(rt.config.gateway.capture.max_body_bytes).unwrap_or(usize::MAX);
    let slot = parts.extensions.get::<RecordSlot>().cloned();
    let body = CopyBody {
        inner: body,
        copy: Vec::new(),
        cap,
        slot,
    };
    let mut req = Req::from_parts(parts, boxed(body));
    req.extensions_mut().insert(route);
    Ok(req)
}

pin_project_lite::pin_project! {
    /// Relays a request body unchanged and hands a copy of its first `cap` bytes to the
    /// record slot when it ends.
    struct CopyBody<B> {
        #[pin]
        inner: B,
        copy: Vec<u8>,
        cap: usize,
        slot: Option<RecordSlot>,
    }
}

impl<B> http_body::Body for CopyBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let room = this.cap.saturating_sub(this.copy.len());
                    this.copy.extend_from_slice(&data[..data.len().min(room)]);
                }
                // With a known length the library may stop polling at the last byte.
                this.inner.as_ref().get_ref().is_end_stream()
            }
            Poll::Ready(None) => true,
            _ => false,
        };
        if ended {
            if let Some(slot) = this.slot.take() {
                slot.request_body(&Bytes::from(std::mem::take(this.copy)));
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn find(
    rt: &Runtime,
    ep: &Endpoint,
    model: &str,
    from_path: bool,
    granted: &dyn Fn(&str, &str) -> bool,
    path: &str,
) -> Result<Route, Rejection> {
    rt.routes
        .find(model, from_path, ep.flag, granted)
        .map_err(|e| Box::new(from_rendered(e.render(ep.format, path))))
}
