//! Routing: read the model (from the body, bounded, or the path) and pick the provider.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::{Access, Identity};
use aperture_config::CompatFlag;
use aperture_log::RecordSlot;
use aperture_route::{Endpoint, ModelSource, Route, RouteTable, extract_body_model, splice_model};
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};
use tower::{Layer, Service};

use super::record::ResponseOrigins;
use super::{BoxFut, Req, Res, Target};
use crate::body::{boxed, full};
use crate::error::Error;
use crate::runtime::Runtime;

/// Marks a request whose body the gateway buffered (and may have rewritten), so the proxy lets
/// the HTTP library set `Content-Length`. A layer of an embedder's that replaces the body
/// inserts it too.
#[derive(Debug, Clone, Copy)]
pub struct BufferedBody;

/// What [`RouteLayer`] needs of a config version.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    /// Model → provider.
    pub routes: Arc<RouteTable>,
    /// `gateway.max_request_body`.
    pub max_request_body: u64,
    /// `gateway.capture.max_body_bytes`: how much of a streamed body the record keeps.
    pub capture_max_body: usize,
    /// Routable providers' ids.
    pub routable: HashSet<String>,
    /// Providers with the `openai_responses` flag and their models, for response ids this
    /// process has not seen.
    pub responses_providers: Vec<(String, Vec<String>)>,
}

impl RouteSettings {
    /// The settings of a compiled config.
    pub fn from_runtime(rt: &Runtime) -> Self {
        let responses_providers = rt
            .routes
            .providers_for_flag(CompatFlag::OpenaiResponses)
            .into_iter()
            .filter_map(|p| {
                let cfg = rt.config.providers.get(p)?;
                Some((p.to_string(), cfg.models.clone()))
            })
            .collect();
        Self {
            routes: rt.routes.clone(),
            max_request_body: rt.config.gateway.max_request_body,
            capture_max_body: usize::try_from(rt.config.gateway.capture.max_body_bytes)
                .unwrap_or(usize::MAX),
            routable: rt.upstreams.keys().cloned().collect(),
            responses_providers,
        }
    }
}

/// Reads the model and inserts the [`Route`]: 400 for an unreadable model, 403 for one the
/// caller's grants do not allow, 404 for one no provider serves, 413 for a body over
/// `max_request_body`. Needs [`Target`], [`Identity`] and `Arc<Access>` on the request.
#[derive(Debug, Clone)]
pub struct RouteLayer {
    settings: Arc<RouteSettings>,
    origins: Arc<ResponseOrigins>,
}

impl RouteLayer {
    /// A layer routing with `settings`; `origins` tells which provider produced a response id.
    pub fn new(settings: RouteSettings, origins: Arc<ResponseOrigins>) -> Self {
        Self {
            settings: Arc::new(settings),
            origins,
        }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RouteService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RouteLayer`].
#[derive(Debug, Clone)]
pub struct RouteService<S> {
    inner: S,
    layer: RouteLayer,
}

impl<S, B> Service<http::Request<B>> for RouteService<S>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::body::BoxError>,
    S: Service<Req, Response = Res, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The body may be read, replaced or wrapped: from here on it is the gateway's own.
        let req = req.map(crate::body::into_body);
        let ext = req.extensions();
        let (Some(target), Some(access)) = (ext.get::<Target>(), ext.get::<Arc<Access>>()) else {
            return super::misconfigured();
        };
        let Target::Inference(endpoint) = target else {
            return super::misconfigured();
        };
        let (endpoint, access) = (endpoint.clone(), access.clone());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            match route(req, &layer, &access, &endpoint).await {
                Ok(req) => inner.call(req).await,
                Err(e) => Ok(e.respond(&Target::Inference(endpoint))),
            }
        })
    }
}

/// Reads what routing needs and returns the request with its [`Route`] (and possibly a new
/// body), or the refusal.
async fn route(
    req: Req,
    layer: &RouteLayer,
    access: &Access,
    ep: &Endpoint,
) -> Result<Req, Box<Error>> {
    let settings = &layer.settings;
    let limit = settings.max_request_body;
    let too_large = || Box::new(Error::BodyTooLarge { limit });
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
                Err(_) => return Err(Box::new(Error::BodyUnreadable)),
            };
            let found = extract_body_model(&bytes).map_err(|e| Box::new(Error::Model(e)))?;
            let slot = parts.extensions.get::<RecordSlot>().cloned();
            if let Some(slot) = &slot {
                slot.route("", "", &found.model);
                slot.request_body(&bytes);
            }
            let route = find(
                settings,
                ep,
                &found.model,
                false,
                &granted,
                parts.uri.path(),
            )?;
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
        ModelSource::Path(model) => find(settings, ep, model, true, &granted, parts.uri.path())?,
        ModelSource::ResponseId(id) => {
            // The provider that produced the id, when this gateway saw it; a response another
            // login asked for is theirs.
            let origin = layer.origins.get(id);
            let caller = parts.extensions.get::<Identity>().map(|i| i.login.clone());
            if let Some(origin) = origin {
                if Some(&origin.login) != caller.as_ref() {
                    return Err(Box::new(Error::refused(
                        StatusCode::FORBIDDEN,
                        "access denied: this response belongs to another user",
                    )));
                }
                if settings.routable.contains(&origin.provider) {
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
            let candidates: Vec<&str> = settings
                .responses_providers
                .iter()
                .filter(|(p, models)| models.iter().any(|m| access.model_granted(p, m)))
                .map(|(p, _)| p.as_str())
                .collect();
            match candidates.as_slice() {
                [one] => Route {
                    provider: (*one).to_string(),
                    upstream_model: String::new(),
                    requested_model: String::new(),
                    qualified: false,
                },
                _ => {
                    return Err(Box::new(Error::refused(
                        StatusCode::NOT_FOUND,
                        "no route found for this response id",
                    )));
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
    let slot = parts.extensions.get::<RecordSlot>().cloned();
    let body = CopyBody {
        inner: body,
        copy: Vec::new(),
        cap: settings.capture_max_body,
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
    settings: &RouteSettings,
    ep: &Endpoint,
    model: &str,
    from_path: bool,
    granted: &dyn Fn(&str, &str) -> bool,
    path: &str,
) -> Result<Route, Box<Error>> {
    settings
        .routes
        .find(model, from_path, ep.flag, granted)
        .map_err(|error| {
            Box::new(Error::Route {
                error,
                path: path.to_string(),
            })
        })
}
