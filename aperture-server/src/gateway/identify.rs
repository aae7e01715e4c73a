//! Identity and role: who is calling, and may they use the gateway at all (SPEC.md §5, §6.1).
//!
//! Sources in order, first hit wins: trusted `Tailscale-User-*` headers (only from peers in
//! `trusted_proxies`), Tailscale WhoIs (non-loopback peers), the static table, loopback. A
//! caller none of them knows gets 403 `access denied: unknown identity`; an unreachable or
//! confused tailscaled gets 503 `identity service unavailable`. Nothing is forwarded either way.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::net::IpAddr;

use aperture_auth::{HeaderIdentity, Identity, from_static_table, from_trusted_headers};
use aperture_config::{Config, IdentitySources};
use http::{HeaderMap, StatusCode};
use tower::{Layer, Service};

use super::{BoxFut, PeerAddr, Req, Res, Target};
use crate::runtime::Runtime;
use crate::tailscale::WhoIs;

/// Marks a request whose TCP peer is a trusted proxy: its `Forwarded` and `X-Forwarded-*`
/// headers are not forwarded upstream.
#[derive(Debug, Clone, Copy)]
pub struct FromTrustedProxy;

/// Inserts [`Identity`] and `Arc<Access>`; rejects unknown callers and callers without a role.
#[derive(Debug, Clone, Copy)]
pub struct IdentifyLayer;

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Identify { inner }
    }
}

/// The service of [`IdentifyLayer`].
#[derive(Debug, Clone)]
pub struct Identify<S> {
    inner: S,
}

/// Why a caller is refused.
struct Refusal(StatusCode, &'static str);

const UNKNOWN: Refusal = Refusal(StatusCode::FORBIDDEN, "access denied: unknown identity");

/// Source 1, trusted headers: `Some` when they decide (a login, or a refusal).
fn from_headers(headers: &HeaderMap, trusted: bool) -> Option<Result<Identity, Refusal>> {
    if !trusted {
        return None;
    }
    match from_trusted_headers(headers) {
        HeaderIdentity::Known(id) => Some(Ok(id)),
        HeaderIdentity::Denied => Some(Err(UNKNOWN)),
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
) -> Result<Identity, Refusal> {
    if proxied {
        return Err(UNKNOWN);
    }
    if let Some(id) = from_static_table(&sources.static_table, ip) {
        return Ok(id);
    }
    if sources.loopback && ip.is_loopback() {
        return Ok(Identity::loopback());
    }
    Err(UNKNOWN)
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

/// Runs the sources in order: trusted headers, WhoIs, static table, loopback.
async fn resolve(
    rt: &Runtime,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: bool,
    proxied: bool,
) -> Result<Identity, Refusal> {
    let Some(peer) = peer else {
        return Err(UNKNOWN);
    };
    let ip = peer.ip().to_canonical();
    if let Some(decided) = from_headers(headers, trusted) {
        return decided;
    }
    if let (Some(whois), false) = (&rt.whois, ip.is_loopback()) {
        match whois.whois(SocketAddr::new(ip, peer.port())).await {
            Ok(WhoIs::Found(id)) => return Ok(id),
            Ok(WhoIs::NotFound) => {}
            Ok(WhoIs::NoIdentity) => return Err(UNKNOWN),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "identity service unavailable");
                return Err(Refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "identity service unavailable",
                ));
            }
        }
    }
    from_local_sources(&rt.config.gateway.identity, ip, proxied)
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
/// IP addresses, `localhost`, `*.ts.net` and `gateway.allowed_hosts` are. A page on a domain
/// its owner re-points at the gateway's address (DNS rebinding) is "same origin" to the
/// browser; this is what stops it.
fn foreign_host(req: &Req, allowed: &[String]) -> Option<String> {
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
    let ok = name.parse::<IpAddr>().is_ok()
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

impl<S> Service<Req> for Identify<S>
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
        let (Some(rt), Some(target)) = (
            req.extensions().get::<Arc<Runtime>>().cloned(),
            req.extensions().get::<Target>().cloned(),
        ) else {
            return super::route::misconfigured();
        };
        if cross_site(req.headers()) {
            let res = target.error(StatusCode::FORBIDDEN, "access denied: cross-site request");
            return Box::pin(async move { Ok(res) });
        }
        if let Some(host) = foreign_host(&req, &rt.config.gateway.allowed_hosts) {
            let message =
                format!("access denied: host {host:?} is not allowed (see gateway.allowed_hosts)");
            let res = target.error(StatusCode::FORBIDDEN, &message);
            return Box::pin(async move { Ok(res) });
        }
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        let sources = &rt.config.gateway.identity;
        let trusted = peer.is_some_and(|p| is_trusted(sources, p.ip().to_canonical()));
        let proxied = looks_proxied(req.headers());
        if trusted {
            req.extensions_mut().insert(FromTrustedProxy);
        } else {
            strip_identity_headers(req.headers_mut());
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let resolved = resolve(&rt, peer, req.headers(), trusted, proxied).await;
            if let Some(t) = req.extensions().get::<Arc<super::Telemetry>>() {
                let (source, result) = match &resolved {
                    Ok(id) => (id.source.as_str(), "hit"),
                    Err(Refusal(StatusCode::SERVICE_UNAVAILABLE, _)) => ("tailscale", "error"),
                    Err(_) => ("none", "miss"),
                };
                t.metrics.identity_lookup(source, result);
            }
            let identity = match resolved {
                Ok(id) => id,
                Err(Refusal(status, message)) => return Ok(target.error(status, message)),
            };
            if let Some(slot) = req.extensions().get::<super::record::RecordSlot>() {
                slot.identity(&identity);
            }
            let access = rt.access(&identity);
            if access.role.is_none() && !matches!(target, Target::Metrics) {
                return Ok(target.error(StatusCode::FORBIDDEN, "access denied: no role granted"));
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
            if let Some(slot) = req.extensions().get::<super::record::RecordSlot>() {
                slot.identity(&identity);
            }
            req.extensions_mut().insert(identity);
            req.extensions_mut().insert(access);
            inner.call(req).await
        })
    }
}
