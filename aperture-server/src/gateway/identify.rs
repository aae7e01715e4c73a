//! Identity and role: who is calling, and may they use the gateway at all.
//!
//! Until the identity issue lands, only loopback peers are identified (as `(loopback)`, when
//! `gateway.identity.loopback` is on); everyone else gets 403 `access denied: unknown identity`
//! and nothing is forwarded.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::Identity;
use http::StatusCode;
use tower::{Layer, Service};

use super::error::native_error;
use super::{BoxFut, PeerAddr, Req, Res, Target};
use crate::runtime::Runtime;

/// Inserts [`Identity`] and [`Access`]; rejects unknown callers and callers without a role.
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
            req.extensions().get::<Arc<Runtime>>(),
            req.extensions().get::<Target>(),
        ) else {
            return super::route::misconfigured();
        };
        let format = target.format();
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        let loopback_ok = rt.config.gateway.identity.loopback;
        let identity = match peer {
            Some(ip) if loopback_ok && ip.to_canonical().is_loopback() => Identity::loopback(),
            _ => {
                let res = native_error(
                    format,
                    StatusCode::FORBIDDEN,
                    "access denied: unknown identity",
                );
                return Box::pin(async move { Ok(res) });
            }
        };
        let access = rt.access(&identity);
        if access.role.is_none() {
            let res = native_error(
                format,
                StatusCode::FORBIDDEN,
                "access denied: no role granted",
            );
            return Box::pin(async move { Ok(res) });
        }
        req.extensions_mut().insert(identity);
        req.extensions_mut().insert(access);
        Box::pin(self.inner.call(req))
    }
}
