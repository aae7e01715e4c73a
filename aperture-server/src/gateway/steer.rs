//! The outer pieces that do not change with the config: a request id on every request and
//! response, and the steer that hands each request to the stacks of the config version that is
//! running when it arrives (and keeps it on that version to its end).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request};
use tower::{Layer, Service, ServiceExt};

use super::{BoxFut, Req, Res, Target};
use crate::config_store::ConfigStore;
use crate::request_id::RequestId;

/// Inserts a fresh [`RequestId`] and sends it back as `x-aperture-request-id` on every
/// response.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl RequestIdLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for SetRequestId<S>
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
        let id = RequestId::new();
        let header = HeaderValue::from_str(&id.0).ok();
        req.extensions_mut().insert(id);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            if let Some(h) = header {
                res.headers_mut().insert("x-aperture-request-id", h);
            }
            Ok(res)
        })
    }
}

/// Sends inference requests to the running config version's inference stack and everything
/// else to its admin service. Needs the [`Target`].
#[derive(Debug, Clone)]
pub struct Steer {
    store: Arc<ConfigStore>,
}

impl Steer {
    /// A steer over the versions `store` runs.
    pub fn new(store: Arc<ConfigStore>) -> Self {
        Self { store }
    }
}

impl Service<Req> for Steer {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let active = self.store.snapshot().active();
        let stack = match req.extensions().get::<Target>() {
            Some(t) if t.is_inference() => active.stacks.inference.clone(),
            Some(_) => active.stacks.admin.clone(),
            None => return super::misconfigured(),
        };
        // An embedder's layer may apply back-pressure: wait for readiness.
        Box::pin(stack.oneshot(req))
    }
}
