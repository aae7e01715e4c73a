//! Spending limits before forwarding (SPEC.md §10.1): every quota bucket that applies to the
//! routed model must be positive, else 429 in the caller's envelope with `Retry-After`. The
//! buckets that passed go into the [`RecordSlot`]; the record layer debits the request's
//! recorded cost from each after the response, whatever its outcome.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::{Access, Identity};
use aperture_config::{BucketTemplate, Quota};
use aperture_log::RecordSlot;
use aperture_log::quota::QuotaBook;
use aperture_route::Route;
use tower::{Layer, Service};

use super::{BoxFut, PeerAddr, Req, Res, Target};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::runtime::Runtime;

/// What [`QuotaLayer`] needs of a config version: the `quotas` section.
#[derive(Debug, Clone)]
pub struct QuotaSettings {
    /// The quotas by name (`daily:<user>`).
    pub quotas: Arc<BTreeMap<String, Quota>>,
}

impl QuotaSettings {
    /// The settings of a compiled config.
    pub fn from_runtime(rt: &Runtime) -> Self {
        Self {
            quotas: Arc::new(rt.config.quotas.clone()),
        }
    }
}

/// Checks the caller's quota buckets for the routed model; fails closed (an undefined quota or
/// an unusable template is a 429 too). Needs [`Target`], [`Identity`], `Arc<Access>` and
/// [`Route`]; a request with no applicable quota passes at the cost of one look.
#[derive(Debug, Clone)]
pub struct QuotaLayer {
    settings: Arc<QuotaSettings>,
    book: Arc<QuotaBook>,
    metrics: Arc<Metrics>,
}

impl QuotaLayer {
    /// A layer checking `book` under `settings`, counting refusals in `metrics`.
    pub fn new(settings: QuotaSettings, book: Arc<QuotaBook>, metrics: Arc<Metrics>) -> Self {
        Self {
            settings: Arc::new(settings),
            book,
            metrics,
        }
    }
}

impl<S> Layer<S> for QuotaLayer {
    type Service = QuotaService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        QuotaService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`QuotaLayer`].
#[derive(Debug, Clone)]
pub struct QuotaService<S> {
    inner: S,
    layer: QuotaLayer,
}

/// The bucket a quota reference names for this caller: `daily:<user>` →
/// `daily:alice@example.com`, `<node>` → the node id (or `ip:<peer>`), no template → the name.
/// A template this gateway cannot expand (`daily:<team>`) resolves to nothing, so the request
/// fails closed instead of sharing one bucket with everybody.
pub fn bucket_name(
    reference: &str,
    quota: &Quota,
    identity: &Identity,
    peer: Option<std::net::SocketAddr>,
) -> Option<String> {
    let Some(template) = quota.template else {
        let unexpandable = reference
            .split_once(':')
            .is_some_and(|(_, t)| t.starts_with('<') && t.ends_with('>'));
        return (!unexpandable).then(|| reference.to_string());
    };
    let (prefix, _) = reference.split_once(':')?;
    let value = match template {
        BucketTemplate::User => identity.login.clone(),
        BucketTemplate::Node if !identity.node_id.is_empty() => identity.node_id.clone(),
        BucketTemplate::Node => format!("ip:{}", peer?.ip().to_canonical()),
    };
    Some(format!("{prefix}:{value}"))
}

/// The buckets `access` charges a request to `route`, resolved for `identity`; the first
/// reference that cannot be resolved as the error.
pub fn buckets_for(
    access: &Access,
    route: &Route,
    quotas: &BTreeMap<String, Quota>,
    identity: &Identity,
    peer: Option<std::net::SocketAddr>,
) -> Result<Vec<(String, Quota)>, String> {
    let mut out: Vec<(String, Quota)> = Vec::new();
    for reference in access.quotas_for(&route.provider, &route.upstream_model) {
        let resolved = quotas
            .get(reference)
            .and_then(|q| Some((bucket_name(reference, q, identity, peer)?, q.clone())));
        match resolved {
            Some(b) if out.iter().any(|(n, _)| *n == b.0) => {}
            Some(b) => out.push(b),
            None => return Err(reference.to_string()),
        }
    }
    Ok(out)
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl<S> Service<Req> for QuotaService<S>
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
        let (Some(target), Some(identity), Some(access), Some(route)) = (
            ext.get::<Target>(),
            ext.get::<Identity>(),
            ext.get::<Arc<Access>>(),
            ext.get::<Route>(),
        ) else {
            return super::misconfigured();
        };
        if access.quotas.is_empty() {
            return Box::pin(self.inner.call(req));
        }
        let peer = ext.get::<PeerAddr>().map(|p| p.0);
        let quotas = &self.layer.settings.quotas;
        let checked = buckets_for(access, route, quotas, identity, peer)
            .map_err(|reference| aperture_log::quota::Exceeded {
                quota: reference.clone(),
                bucket: reference,
                retry_after_secs: 86_400,
            })
            .and_then(|buckets| {
                let refs: Vec<(String, &Quota)> =
                    buckets.iter().map(|(n, q)| (n.clone(), q)).collect();
                self.layer.book.check(&refs, now_ms())?;
                Ok(buckets)
            });
        match checked {
            Ok(buckets) => {
                if let Some(slot) = ext.get::<RecordSlot>() {
                    slot.quota_buckets(buckets);
                }
                Box::pin(self.inner.call(req))
            }
            Err(exceeded) => {
                tracing::warn!(
                    login = %identity.login,
                    model = %route.upstream_model,
                    bucket = %exceeded.bucket,
                    "quota exceeded"
                );
                self.layer.metrics.quota_rejected(&exceeded.quota);
                let e = Error::QuotaExceeded {
                    bucket: exceeded.bucket,
                    retry_after_secs: exceeded.retry_after_secs,
                };
                super::respond_now(e, &target.clone())
            }
        }
    }
}
