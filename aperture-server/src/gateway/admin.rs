//! The admin service: everything that is not inference — `/v1/models`, `/api/*`, `/ui/`,
//! `/metrics`. It sits behind [`IdentifyLayer`](super::IdentifyLayer) and answers from the
//! config version the request started on.

use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use aperture_auth::Access;
use http::{StatusCode, header};
use tower::Service;

use super::record::Telemetry;
use super::{BoxFut, Req, Res, Target};
use crate::body::full;
use crate::config_store::{ConfigStore, ReloadSource};
use crate::error::Error;
use crate::runtime::Runtime;

/// Answers the gateway's own calls for callers [`IdentifyLayer`](super::IdentifyLayer) let
/// through. Needs [`Target`], `Identity` and `Arc<Access>` on the request.
#[derive(Debug, Clone)]
pub struct AdminService {
    ctx: Arc<AdminContext>,
}

/// What the admin calls read: the config version, the request log and metrics, the config
/// store (held weakly: the store holds the stacks that hold this service).
#[derive(Debug)]
pub(crate) struct AdminContext {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) store: Weak<ConfigStore>,
}

impl AdminService {
    /// A service answering from `runtime`, `telemetry` and `store`.
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        telemetry: Arc<Telemetry>,
        store: Weak<ConfigStore>,
    ) -> Self {
        Self {
            ctx: Arc::new(AdminContext {
                runtime,
                telemetry,
                store,
            }),
        }
    }
}

impl Service<Req> for AdminService {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let ext = req.extensions();
        let (Some(target), Some(access)) = (ext.get::<Target>(), ext.get::<Arc<Access>>()) else {
            return super::misconfigured();
        };
        let (target, access) = (target.clone(), access.clone());
        let ctx = self.ctx.clone();
        match target {
            Target::Models(id) => {
                let res = super::models::answer(&ctx.runtime, &access, id.as_deref());
                Box::pin(async move { Ok(res) })
            }
            Target::Metrics => {
                let res = metrics(&ctx, &access).unwrap_or_else(|e| e.respond(&target));
                Box::pin(async move { Ok(res) })
            }
            Target::Ui => {
                let res = super::ui::answer(&req, &access);
                Box::pin(async move { Ok(res) })
            }
            Target::Api(call) => {
                Box::pin(async move { Ok(super::api::answer(call, req, &ctx, &access).await) })
            }
            Target::Inference(_) => super::misconfigured(),
        }
    }
}

/// `GET /metrics` for callers with `read_metrics`.
fn metrics(ctx: &AdminContext, access: &Access) -> Result<Res, Error> {
    if !access.read_metrics {
        return Err(Error::refused(
            StatusCode::FORBIDDEN,
            "read_metrics grant required",
        ));
    }
    let store = ctx.store.upgrade().ok_or(Error::StackMisconfigured)?;
    let telemetry = &ctx.telemetry;
    let m = &telemetry.metrics;
    if let Some(sink) = &telemetry.sink {
        use std::sync::atomic::Ordering::Relaxed;
        m.log_queue_depth.store(sink.depth() as u64, Relaxed);
        m.log_records_dropped.store(sink.dropped(), Relaxed);
        m.log_write_errors.store(sink.write_errors(), Relaxed);
    }
    let mut reloads = Vec::new();
    for source in [ReloadSource::File, ReloadSource::Signal, ReloadSource::Api] {
        for (ok, result) in [(true, "success"), (false, "failure")] {
            reloads.push((source.name(), result, store.reloads.get(source, ok)));
        }
    }
    let mut text = m.render(&reloads);
    let quotas = &ctx.runtime.config.quotas;
    let in_use = telemetry.quotas.balances(quotas, super::quota::now_ms());
    let balances: Vec<(String, i64)> = quotas
        .values()
        .filter(|q| q.template.is_none())
        .map(|q| {
            let used = in_use.iter().find(|b| b.bucket == q.name);
            (q.name.clone(), used.map_or(q.capacity, |b| b.nanodollars))
        })
        .collect();
    m.render_quotas(&mut text, &balances);
    let mut res = Res::new(full(text));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}
