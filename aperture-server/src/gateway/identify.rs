//! Identity and role: who is calling, and may they use the gateway at all (SPEC.md §5, §6.1).
//!
//! Sources in order, first hit wins: trusted `Tailscale-User-*` headers (only from peers in
//! `trusted_proxies`), Tailscale WhoIs (non-loopback peers), the static table, loopback. A
//! caller none of them knows gets 403 `access denied: unknown identity`; an unreachable or
//! confused tailscaled gets 503 `identity service unavailable`. Nothing is forwarded either way.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::{HeaderIdentity, Identity, from_static_table, from_trusted_headers};
use aperture_config::{Config, IdentitySources};
use aperture_log::RecordSlot;
use aperture_log::store::RecordIdentity;
use http::{HeaderMap, Method, Request, Uri};
use tower::{Layer, Service};

use super::{BoxFut, PeerAddr, Res, Target};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::runtime::{GrantCache, Runtime};
use crate::tailscale::{WhoIs, WhoIsClient};

/// Marks a request whose TCP peer is a trusted proxy: its `Forwarded` and `X-Forwarded-*`
/// headers are not forwarded upstream.
#[derive(Debug, Clone, Copy)]
pub struct FromTrustedProxy;

/// What an identity source sees of a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallerInfo<'a> {
    /// The TCP peer, when the server (or the embedding app) put a [`PeerAddr`] on the request.
    pub peer: Option<SocketAddr>,
    /// The method.
    pub method: &'a Method,
    /// The URI as received.
    pub uri: &'a Uri,
    /// The request headers (identity headers from untrusted peers already removed).
    pub headers: &'a HeaderMap,
}

/// The future an [`IdentitySource`] returns.
pub type IdentityFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Identity>, Error>> + Send + 'a>>;

/// An identity source an embedding application adds with
/// [`GatewayBuilder::identity`](super::GatewayBuilder::identity): API keys, JWTs, mTLS names
/// mapped to a login. Added sources are asked in order before the built-in ones; `Ok(None)`
/// passes to the next source, `Ok(Some(identity))` decides, and `Err` refuses the request with
/// that error in the caller's native envelope (recorded like any refusal). Grants then apply
/// to the identity's login and groups exactly as to a Tailscale user's.
pub trait IdentitySource: Send + Sync + 'static {
    /// Who `caller` is, if this source knows.
    fn identify<'a>(&'a self, caller: CallerInfo<'a>) -> IdentityFuture<'a>;
}

/// What [`IdentifyLayer`] needs of a config version: the identity sources, the hosts the
/// gateway answers to, tailscaled, and the grants.
#[derive(Debug, Clone)]
pub struct IdentifySettings {
    /// `gateway.identity`: trusted proxies, the static table, loopback.
    pub sources: IdentitySources,
    /// `gateway.allowed_hosts`, lowercased.
    pub allowed_hosts: Vec<String>,
    /// Tailscale WhoIs, when enabled.
    pub whois: Option<Arc<WhoIsClient>>,
    /// The grants, evaluated per login.
    pub grants: Arc<GrantCache>,
}

impl IdentifySettings {
    /// The settings of a compiled config.
    pub fn from_runtime(rt: &Runtime) -> Self {
        Self {
            sources: rt.config.gateway.identity.clone(),
            allowed_hosts: rt.config.gateway.allowed_hosts.clone(),
            whois: rt.whois.clone(),
            grants: rt.grants.clone(),
        }
    }
}

/// Inserts [`Identity`] and `Arc<Access>`; rejects unknown callers (403), callers without a
/// role (403), cross-site browser requests and foreign `Host`s (403), and answers 503 when
/// tailscaled cannot be asked. Reads the [`Target`] and, when present, fills the
/// [`RecordSlot`].
#[derive(Clone)]
pub struct IdentifyLayer {
    settings: Arc<IdentifySettings>,
    extra: Arc<[Arc<dyn IdentitySource>]>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for IdentifyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifyLayer")
            .field("settings", &self.settings)
            .field("extra_sources", &self.extra.len())
            .finish()
    }
}

impl IdentifyLayer {
    /// A layer resolving callers with `settings`, asking the `extra` sources first, and
    /// counting lookups in `metrics`.
    pub fn new(
        settings: IdentifySettings,
        extra: Arc<[Arc<dyn IdentitySource>]>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            settings: Arc::new(settings),
            extra,
            metrics,
        }
    }
}

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Identify {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`IdentifyLayer`].
#[derive(Debug, Clone)]
pub struct Identify<S> {
    inner: S,
    layer: IdentifyLayer,
}

/// Source 1, trusted headers: `Some` when they decide (a login, or a refusal).
fn from_headers(headers: &HeaderMap, trusted: bool) -> Option<Result<Identity, Error>> {
    if !trusted {
        return None;
    }
    match from_trusted_headers(headers) {
        HeaderIdentity::Known(id) => Some(Ok(id)),
        HeaderIdentity::Denied => Some(Err(Error::UnknownIdentity)),
        HeaderIdentity::NotProxied => None,
    }
}

/// Sources 3 and 4, the static table and loopback. A proxied request that no trusted header
/// named is not the proxy's own: it never gets here (SPEC.md §5), whether or not the proxy is
/// trusted — a local reverse proxy must not turn the whole internet into `(loopback)`.
fn from_local_sources(
    sources: &IdentitySources,
    ip: IpAddr,
    proxied: bool,
) -> Result<Identity, Error> {
    if proxied {
        return Err(Error::UnknownIdentity);
    }
    if let Some(id) = from_static_table(&sources.static_table, ip) {
        return Ok(id);
    }
    if sources.loopback && ip.is_loopback() {
        return Ok(Identity::loopback());
    }
    Err(Error::UnknownIdentity)
}

/// Whether a request came through some proxy (judged before untrusted identity headers are
/// removed).
fn looks_proxied(headers: &HeaderMap) -> bool {
    headers.contains_key("x-forwarded-for")
        || headers.contains_key("forwarded")
        || headers.keys().any(|k| k.as_str().starts_with("tailscale-"))
}

/// Whether `ip` is a trusted proxy under `sources`.
fn is_trusted(sources: &IdentitySources, ip: IpAddr) -> bool {
    sources.trusted_proxies.iter().any(|c| c.contains(ip))
}

/// Runs the sources in order: the embedder's, trusted headers, WhoIs, static table, loopback.
async fn resolve(
    layer: &IdentifyLayer,
    caller: CallerInfo<'_>,
    trusted: bool,
    proxied: bool,
) -> Result<Identity, Error> {
    for source in layer.extra.iter() {
        if let Some(id) = source.identify(caller).await? {
            return Ok(id);
        }
    }
    let settings = &layer.settings;
    let Some(peer) = caller.peer else {
        return Err(Error::UnknownIdentity);
    };
    let ip = peer.ip().to_canonical();
    if let Some(decided) = from_headers(caller.headers, trusted) {
        return decided;
    }
    if let (Some(whois), false) = (&settings.whois, ip.is_loopback()) {
        match whois.whois(SocketAddr::new(ip, peer.port())).await {
            Ok(WhoIs::Found(id)) => return Ok(id),
            Ok(WhoIs::NotFound) => {}
            Ok(WhoIs::NoIdentity) => return Err(Error::UnknownIdentity),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "identity service unavailable");
                return Err(Error::IdentityUnavailable);
            }
        }
    }
    from_local_sources(&settings.sources, ip, proxied)
}

/// The identity as the request log keeps it.
pub(crate) fn record_identity(i: &Identity) -> RecordIdentity {
    RecordIdentity {
        login: i.login.clone(),
        display_name: i.display_name.clone(),
        node_id: i.node_id.clone(),
        node_name: i.node_name.clone(),
        tags: i.tags.clone(),
        source: i.source.as_str().to_string(),
    }
}

/// Who the caller of `req` would be under another config (for the lockout guard): the same
/// rules without asking tailscaled again — a caller tailscaled identified keeps that identity
/// as long as the other config still asks tailscaled.
pub(crate) fn identity_under(
    config: &Config,
    caller: &Caller,
    current: &Identity,
) -> Option<Identity> {
    let ip = caller.peer.ip().to_canonical();
    let sources = &config.gateway.identity;
    if let Some(decided) = from_headers(&caller.headers, is_trusted(sources, ip)) {
        return decided.ok();
    }
    // An embedder's source decided before the built-in ones: it decides under any config.
    if matches!(current.source, aperture_auth::IdentitySource::Custom(_)) {
        return Some(current.clone());
    }
    if current.source == aperture_auth::IdentitySource::Tailscale && sources.tailscale.is_some() {
        return Some(current.clone());
    }
    from_local_sources(sources, ip, caller.proxied).ok()
}

/// What identity resolution saw of a request, kept for checks that come later (the lockout
/// guard re-resolves the saver under the config being saved).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) peer: SocketAddr,
    pub(crate) headers: HeaderMap,
    pub(crate) proxied: bool,
}

/// The browser guard (SPEC.md §5): a web page must not spend a caller's identity. A request a
/// browser marks `Sec-Fetch-Site: cross-site`, or whose `Origin` names another host than
/// `Host`, is refused (CORS grants, which would allow some, are not implemented yet).
fn cross_site(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (header("origin"), header("host")) {
        (Some("null"), _) => true,
        (Some(origin), host) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            host.is_none_or(|h| !origin_host.eq_ignore_ascii_case(h))
        }
        (None, _) => false,
    }
}

/// The `Host` (or HTTP/2 authority) of a request when it is not one the gateway answers to:
/// IP addresses, `localhost`, single-label names (MagicDNS short names such as `ai`: no public
/// DNS name has one label, so a rebinding page cannot be served under one), `*.ts.net` (every
/// MagicDNS name, this node's included) and `gateway.allowed_hosts` are. A page on a domain
/// its owner re-points at the gateway's address (DNS rebinding) is "same origin" to the
/// browser; this is what stops it.
fn foreign_host<B>(req: &http::Request<B>, allowed: &[String]) -> Option<String> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let single_label = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let ok = name.parse::<IpAddr>().is_ok()
        || single_label
        || name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".ts.net")
        || allowed.contains(&name);
    (!ok).then(|| host.to_string())
}

/// Removes identity headers an untrusted peer sent, before anything else sees them.
fn strip_identity_headers(headers: &mut HeaderMap) {
    let names: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("tailscale-"))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

impl<S, B> Service<Request<B>> for Identify<S>
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
        let Some(target) = req.extensions().get::<Target>().cloned() else {
            return super::respond_now(Error::StackMisconfigured, &Target::Metrics);
        };
        let settings = &self.layer.settings;
        if cross_site(req.headers()) {
            return super::respond_now(Error::CrossSite, &target);
        }
        if let Some(host) = foreign_host(&req, &settings.allowed_hosts) {
            return super::respond_now(Error::ForeignHost(host), &target);
        }
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        let trusted = peer.is_some_and(|p| is_trusted(&settings.sources, p.ip().to_canonical()));
        let proxied = looks_proxied(req.headers());
        if trusted {
            req.extensions_mut().insert(FromTrustedProxy);
        } else {
            strip_identity_headers(req.headers_mut());
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let caller = CallerInfo {
                peer,
                method: req.method(),
                uri: req.uri(),
                headers: req.headers(),
            };
            let resolved = resolve(&layer, caller, trusted, proxied).await;
            let (source, result) = match &resolved {
                Ok(id) => (id.source.as_str(), "hit"),
                Err(Error::IdentityUnavailable) => ("tailscale", "error"),
                Err(_) => ("none", "miss"),
            };
            layer.metrics.identity_lookup(source, result);
            let identity = match resolved {
                Ok(id) => id,
                Err(e) => return Ok(e.respond(&target)),
            };
            if let Some(slot) = req.extensions().get::<RecordSlot>() {
                slot.identity(record_identity(&identity));
            }
            let access = layer.settings.grants.access(&identity);
            if access.role.is_none() && !matches!(target, Target::Metrics) {
                return Ok(Error::NoRole.respond(&target));
            }
            // Only a config save needs to re-resolve its caller: no header copy otherwise.
            let saving = matches!(target, Target::Api(super::ApiCall::PutConfig));
            if let (Some(peer), true) = (peer, saving) {
                let caller = Caller {
                    peer,
                    headers: req.headers().clone(),
                    proxied,
                };
                req.extensions_mut().insert(caller);
            }
            req.extensions_mut().insert(identity);
            req.extensions_mut().insert(access);
            inner.call(req).await
        })
    }
}
