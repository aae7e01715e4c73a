//! Outermost layer: one config snapshot and one request id per request.

use std::task::{Context, Poll};

use http::HeaderValue;
use tower::{Layer, Service};

use super::{BoxFut, Req, Res};
use crate::request_id::RequestId;
use std::sync::Arc;

use crate::config_store::ConfigStore;

/// Inserts the current `Arc<Runtime>`, the `Arc<ConfigStore>` and a [`RequestId`] into the
/// request, and sends the id back as `x-aperture-request-id` on every response.
#[derive(Debug, Clone)]
pub struct SnapshotLayer {
    store: Arc<ConfigStore>,
}

impl SnapshotLayer {
    /// A layer reading from `store`.
    pub fn new(store: Arc<ConfigStore>) -> Self {
        Self { store }
    }
}

impl<S> Layer<S> for SnapshotLayer {
    type Service = SnapshotService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SnapshotService {
            inner,
            store: self.store.clone(),
        }
    }
}

/// The service of [`SnapshotLayer`].
#[derive(Debug, Clone)]
pub struct SnapshotService<S> {
    inner: S,
    store: Arc<ConfigStore>,
}

impl<S> Service<Req> for SnapshotService<S>
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
        let id = RequestId::new();
        let header = HeaderValue::from_str(&id.0).ok();
        req.extensions_mut().insert(self.store.snapshot().load());
        req.extensions_mut().insert(self.store.clone());
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
