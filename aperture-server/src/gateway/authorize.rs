//! The embedder's checks after routing: the shape of tower-http's `AsyncAuthorizeRequest`
//! (`authorize(Request) -> Result<Request, Error>`), run in the order they were added.
//!
//! A check sees everything the gateway learned: [`Target`], `Identity`, `Arc<Access>` and
//! `Route` are request extensions. It may pass the request on (changed or not) or refuse it
//! with an [`Error`]; the refusal is answered in the caller's native envelope and, being
//! inside the record layer, recorded like the gateway's own refusals. Quotas and pre-request
//! hooks plug in at the same place.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{BoxFut, Req, Res, Target};
use crate::error::Error;

/// The future an [`Authorize`] check returns.
pub type AuthorizeFuture = Pin<Box<dyn Future<Output = Result<Req, Error>> + Send>>;

/// An async check after routing. Implemented for any
/// `Fn(Req) -> impl Future<Output = Result<Req, Error>>`.
///
/// ```
/// use aperture_server::Error;
/// use aperture_server::gateway::{GatewayBuilder, Req};
/// use aperture_route::Route;
/// use http::StatusCode;
///
/// let config = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default())
///     .config
///     .unwrap();
/// let gateway = GatewayBuilder::new(std::sync::Arc::new(config))
///     .authorize(|req: Req| async move {
///         let model = req.extensions().get::<Route>().map(|r| r.upstream_model.clone());
///         if model.as_deref() == Some("gpt-5") {
///             return Err(Error::refused(StatusCode::FORBIDDEN, "gpt-5 is not for this team"));
///         }
///         Ok(req)
///     })
///     .build()
///     .unwrap();
/// # drop(gateway);
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// Passes `req` on, or refuses it.
    fn authorize(&self, req: Req) -> AuthorizeFuture;
}

impl<F, Fut> Authorize for F
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Req, Error>> + Send + 'static,
{
    fn authorize(&self, req: Req) -> AuthorizeFuture {
        Box::pin(self(req))
    }
}

/// Runs the [`Authorize`] checks in order; the first refusal answers. With no checks it adds
/// nothing but a pass-through call.
#[derive(Clone)]
pub struct AuthorizeLayer {
    checks: Arc<[Arc<dyn Authorize>]>,
}

impl std::fmt::Debug for AuthorizeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeLayer")
            .field("checks", &self.checks.len())
            .finish()
    }
}

impl AuthorizeLayer {
    /// A layer running `checks` in order.
    pub fn new(checks: Arc<[Arc<dyn Authorize>]>) -> Self {
        Self { checks }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = AuthorizeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeService {
            inner,
            checks: self.checks.clone(),
        }
    }
}

/// The service of [`AuthorizeLayer`].
#[derive(Clone)]
pub struct AuthorizeService<S> {
    inner: S,
    checks: Arc<[Arc<dyn Authorize>]>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AuthorizeService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeService")
            .field("inner", &self.inner)
            .field("checks", &self.checks.len())
            .finish()
    }
}

impl<S> Service<Req> for AuthorizeService<S>
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
        if self.checks.is_empty() {
            return Box::pin(self.inner.call(req));
        }
        let Some(target) = req.extensions().get::<Target>().cloned() else {
            return super::misconfigured();
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let checks = self.checks.clone();
        Box::pin(async move {
            let mut req = req;
            for check in checks.iter() {
                req = match check.authorize(req).await {
                    Ok(req) => req,
                    Err(e) => return Ok(e.respond(&target)),
                };
            }
            inner.call(req).await
        })
    }
}
