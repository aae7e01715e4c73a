//! Classification: which API a request speaks, answered early when the path is wrong.

use std::convert::Infallible;
use std::task::{Context, Poll};

use aperture_route::Endpoint;
use http::Method;
use http::Request;
use tower::{Layer, Service};

use super::{BoxFut, Res};
use crate::error::Error;

/// What a request is for.
#[derive(Debug, Clone)]
pub enum Target {
    /// An inference endpoint.
    Inference(Endpoint),
    /// `GET /v1/models` (`None`) or `GET /v1/models/{id}`.
    Models(Option<String>),
    /// A management call under `/api/`.
    Api(ApiCall),
    /// `GET /metrics`: needs the `read_metrics` grant, not a role.
    Metrics,
    /// `GET /ui/…`: the dashboard's pages and assets (role required).
    Ui,
}

/// The management calls (SPEC.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCall {
    /// `GET /api/me`: the caller's identity and role.
    Me,
    /// `GET /api/providers`: the providers and models the caller may use.
    Providers,
    /// `GET /api/config`, `GET /aperture/config` (admin): the text, secrets redacted, and hash.
    GetConfig,
    /// `PUT /api/config` (admin): replace the config.
    PutConfig,
    /// `POST /aperture/config:validate` (admin): strict validation, nothing saved.
    Validate,
    /// `GET /api/sessions`: sessions with matching requests, newest activity first.
    Sessions,
    /// `GET /api/sessions/{id}`: one session's summary and requests.
    Session,
    /// `GET /api/requests`: matching requests, newest first.
    Requests,
    /// `GET /api/requests/{id}`: one request with its capture and tool calls.
    Request,
    /// `GET /api/usage`: totals per user, model and day, top users and models.
    Usage,
    /// `GET /api/usage.csv`: usage per day, user, provider and model as CSV.
    UsageCsv,
    /// `GET /api/quotas`: quota buckets (admins all, others their own).
    Quotas,
    /// `POST /api/quotas/refill` (admin): add money to a bucket, up to its capacity.
    QuotaRefill,
}

impl Target {
    /// An error answer in this target's format: the caller's native envelope for inference
    /// and `/v1/models`, `{"error":"…"}` for management calls.
    pub fn error(&self, status: http::StatusCode, message: &str) -> Res {
        Error::refused(status, message).respond(self)
    }

    /// Whether the inference stack serves this target (the admin service serves the rest).
    pub fn is_inference(&self) -> bool {
        matches!(self, Target::Inference(_))
    }
}

/// Classifies the request path into a [`Target`] extension; unknown or malformed paths get
/// their native error here (404, 405, 400, 501). It has no settings: what a path means does
/// not depend on the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassifyLayer;

impl ClassifyLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

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
    if method == Method::GET && path == "/metrics" {
        return Some(Target::Metrics);
    }
    let call = match (method.as_str(), path) {
        ("GET", "/api/me") => Some(ApiCall::Me),
        ("GET", "/api/providers") => Some(ApiCall::Providers),
        ("GET", "/api/config" | "/aperture/config") => Some(ApiCall::GetConfig),
        ("PUT", "/api/config") => Some(ApiCall::PutConfig),
        ("POST", "/aperture/config:validate") => Some(ApiCall::Validate),
        ("GET", "/api/sessions") => Some(ApiCall::Sessions),
        ("GET", "/api/requests") => Some(ApiCall::Requests),
        ("GET", "/api/usage") => Some(ApiCall::Usage),
        ("GET", "/api/usage.csv") => Some(ApiCall::UsageCsv),
        ("GET", "/api/quotas") => Some(ApiCall::Quotas),
        ("POST", "/api/quotas/refill") => Some(ApiCall::QuotaRefill),
        ("GET", p) if p.starts_with("/api/sessions/") => Some(ApiCall::Session),
        ("GET", p) if p.starts_with("/api/requests/") => Some(ApiCall::Request),
        _ => None,
    };
    if let Some(call) = call {
        return Some(Target::Api(call));
    }
    if (method == Method::GET || method == Method::HEAD)
        && (path == "/ui" || path.starts_with("/ui/"))
    {
        return Some(Target::Ui);
    }
    if method != Method::GET {
        return None;
    }
    if path == "/v1/models" || path == "/v1/models/" {
        return Some(Target::Models(None));
    }
    let id = path.strip_prefix("/v1/models/")?;
    (!id.contains(':')).then(|| Target::Models(Some(id.to_string())))
}

impl<S, B> Service<Request<B>> for Classify<S>
where
    B: Send + 'static,
    S: Service<Request<B>, Response = Res, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
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
            Err(e) => super::respond_now(Error::Classify(e), &Target::Metrics),
        }
    }
}
