//! One access line per admin request (`/v1/models`, `/api/*`, `/ui/`, `/metrics`), at info on
//! the `aperture::access` target. Inference requests get theirs from the record layer, when
//! their body ends, with the model, provider and bytes relayed.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use aperture_log::RecordSlot;
use http::Request;
use tower::{Layer, Service};

use super::{BoxFut, Res};
use crate::error::GatewayError;

/// Logs method, path, status, login, duration and body size of each request it wraps; the
/// login comes from the [`RecordSlot`] it puts on the request, which
/// [`IdentifyLayer`](super::IdentifyLayer) fills. Never a query, header or body.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl AccessLogLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for AccessLog<S>
where
    B: Send + 'static,
    S: Service<Request<B>, Response = Res, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !tracing::enabled!(target: "aperture::access", tracing::Level::INFO) {
            return Box::pin(self.inner.call(req));
        }
        let slot = RecordSlot::default();
        req.extensions_mut().insert(slot.clone());
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let id = req
            .extensions()
            .get::<super::RequestId>()
            .map(|i| i.0.clone())
            .unwrap_or_default();
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            let login = slot.take().identity.map(|i| i.login).unwrap_or_default();
            let bytes = http_body::Body::size_hint(res.body()).exact();
            let error = res.extensions().get::<GatewayError>().map(|e| e.0.as_str());
            tracing::info!(
                target: "aperture::access",
                request_id = %id,
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                login = %login,
                duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                bytes = bytes.unwrap_or(0),
                error = error.unwrap_or(""),
            );
            Ok(res)
        })
    }
}
