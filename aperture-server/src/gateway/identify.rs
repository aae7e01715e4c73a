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

use aperture_auth::{HeaderIdentity, Identity, from_static_table, from_trusted_headers};
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

/// Runs the sources in order. `trusted` says whether the peer is a trusted proxy.
async fn resolve(
    rt: &Runtime,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: bool,
) -> Result<Identity, Refusal> {
    let Some(peer) = peer else {
        return Err(UNKNOWN);
    };
    let ip = peer.ip().to_canonical();
    let sources = &rt.config.gateway.identity;
    if trusted {
        match from_trusted_headers(headers) {
            HeaderIdentity::Known(id) => return Ok(id),
            HeaderIdentity::Denied => return Err(UNKNOWN),
            HeaderIdentity::NotProxied => {}
        }
    }
    if let (Some(whois), false) = (&rt.whois, ip.is_loopback()) {
        match whois.whois(SocketAddr::new(ip, peer.port())).await {
            Ok(WhoIs::Found(id)) => return Ok(id),
            Ok(WhoIs::NotFound) => {}
            Err(e) => {
                eprintln!("aperture: identity service unavailable for peer {peer}: {e}");
                return Err(Refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "identity service unavailable",
                ));
            }
        }
    }
    // A proxied request that no trusted header named is not the proxy's own: it never falls
    // through to the static table or loopback (SPEC.md §5), whether or not the proxy is
    // trusted (a local reverse proxy must not turn the whole internet into `(loopback)`).
    let proxied = headers.contains_key("x-forwarded-for")
        || headers.contains_key("forwarded")
        || headers.keys().any(|k| k.as_str().starts_with("tailscale-"));
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
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        let trusted = peer.is_some_and(|p| {
            let ip = p.ip().to_canonical();
            rt.config
                .gateway
                .identity
                .trusted_proxies
                .iter()
                .any(|c| c.contains(ip))
        });
        if trusted {
            req.extensions_mut().insert(FromTrustedProxy);
        } else {
            strip_identity_headers(req.headers_mut());
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let identity = match resolve(&rt, peer, req.headers(), trusted).await {
                Ok(id) => id,
                Err(Refusal(status, message)) => return Ok(target.error(status, message)),
            };
            let access = rt.access(&identity);
            if access.role.is_none() {
                return Ok(target.error(StatusCode::FORBIDDEN, "access denied: no role granted"));
            }
            req.extensions_mut().insert(identity);
            req.extensions_mut().insert(access);
            inner.call(req).await
        })
    }
}
