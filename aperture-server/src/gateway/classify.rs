//! Classification: which API a request speaks, answered early when the path is wrong.

use std::convert::Infallible;
use std::task::{Context, Poll};

use aperture_route::{ClassifyError, Endpoint};
use http::Method;
use tower::{Layer, Service};

use super::error::from_rendered;
use super::{BoxFut, Req, Res};

/// What a request is for.
#[derive(Debug, Clone)]
pub enum Target {
    /// An inference endpoint.
    Inference(Endpoint),
    /// `GET /v1/models` (`None`) or `GET /v1/models/{id}`.
    Models(Option<String>),
}

impl Target {
    /// The API format errors are answered in.
    pub fn format(&self) -> aperture_route::ApiFormat {
        match self {
            Target::Inference(e) => e.format,
            Target::Models(_) => aperture_route::ApiFormat::OpenAi,
        }
    }
}

/// Classifies the request path into a [`Target`] extension; unknown or malformed paths get
/// their native error here.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyLayer;

impl<S> Layer<S> for ClassifyLayer {
    type Service = Classify<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Classify { inner }
    }
}

/// The service of [`ClassifyLayer`].
#[derive(Debug, Clone)]
pub struct Classify<S> {
    inner: S,
}

fn models_target(method: &Method, path: &str) -> Option<Target> {
    if method != Method::GET {
        return None;
    }
    if path == "/v1/models" || path == "/v1/models/" {
        return Some(Target::Models(None));
    }
    let id = path.strip_prefix("/v1/models/")?;
    (!id.contains(':')).then(|| Target::Models(Some(id.to_string())))
}

impl<S> Service<Req> for Classify<S>
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

    fn call(&mut self, mut req: Req) -> Self::Future {
        let target = match models_target(req.method(), req.uri().path()) {
            Some(t) => Ok(t),
            None => Endpoint::classify(req.method(), req.uri().path(), req.headers())
                .map(Target::Inference),
        };
        match target {
            Ok(t) => {
                req.extensions_mut().insert(t);
                Box::pin(self.inner.call(req))
            }
            Err(e) => {
                let res = rejection(&e);
                Box::pin(async move { Ok(res) })
            }
        }
    }
}

fn rejection(e: &ClassifyError) -> Res {
    from_rendered(e.render())
}
