//! The innermost service: send the request to the provider and stream the answer back.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::{Access, QueryKey};
use aperture_route::{Route, upstream_uri};
use http::{Extensions, StatusCode, Version, header};
use tower::Service;

use super::error::native_error;
use super::route::{BufferedBody, misconfigured};
use super::{BoxFut, Req, Res, Target};
use crate::body::boxed;
use crate::headers::{clean_upstream_request, strip_hop_by_hop};
use crate::idle::IdleTimeout;
use crate::runtime::Runtime;
use crate::upstream::UpstreamClient;

/// Forwards routed requests with the pooled client.
#[derive(Debug, Clone)]
pub struct Proxy {
    client: Arc<std::sync::RwLock<(ClientKey, UpstreamClient)>>,
}

/// The settings an upstream client is built from; a reload that changes them gets a new
/// client (and a new connection pool).
#[derive(Debug, Clone, PartialEq)]
struct ClientKey {
    connect: Option<std::time::Duration>,
    tls_roots: aperture_config::TlsRoots,
}

impl ClientKey {
    fn of(gw: &aperture_config::Gateway) -> Self {
        Self {
            connect: gw.timeouts.connect,
            tls_roots: gw.tls_roots.clone(),
        }
    }
}

impl Proxy {
    /// A proxy sending with `client`, built from `gateway`'s settings.
    pub fn new(client: UpstreamClient, gateway: &aperture_config::Gateway) -> Self {
        Self {
            client: Arc::new(std::sync::RwLock::new((ClientKey::of(gateway), client))),
        }
    }

    /// The client for the running config: rebuilt when its connect timeout or TLS roots
    /// changed (if that fails, the previous client stays and the reason is logged).
    fn client_for(&self, gw: &aperture_config::Gateway) -> UpstreamClient {
        let key = ClientKey::of(gw);
        if let Ok(current) = self.client.read() {
            if current.0 == key {
                return current.1.clone();
            }
        }
        let mut current = match self.client.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.0 != key {
            match crate::upstream::build_client(gw) {
                Ok(c) => *current = (key, c),
                Err(e) => tracing::warn!(error = %e, "keeping the previous upstream client"),
            }
        }
        current.1.clone()
    }
}

impl Service<Req> for Proxy {
    type Response = Res;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let ext = req.extensions();
        let (Some(rt), Some(Target::Inference(ep)), Some(route), Some(access)) = (
            ext.get::<Arc<Runtime>>().cloned(),
            ext.get::<Target>().cloned(),
            ext.get::<Route>().cloned(),
            ext.get::<Arc<Access>>().cloned(),
        ) else {
            return misconfigured();
        };
        let client = self.client_for(&rt.config.gateway);
        Box::pin(async move { Ok(forward(client, req, &rt, &ep, &route, &access).await) })
    }
}

fn has_key_param(query: Option<&str>) -> bool {
    query.is_some_and(aperture_route::has_key_param)
}

/// Whether a send failed because the request body went over `max_request_body` (a streamed
/// body is limited as it goes): that is the client's 413, not the provider's 502.
fn body_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

async fn forward(
    client: UpstreamClient,
    req: Req,
    rt: &Runtime,
    ep: &aperture_route::Endpoint,
    route: &Route,
    access: &Access,
) -> Res {
    let format = ep.format;
    let Some(up) = rt.upstreams.get(&route.provider) else {
        return native_error(format, StatusCode::BAD_GATEWAY, "provider is not routable");
    };
    if up.keyfile {
        let message = format!(
            "provider \"{}\": keyfile:: credentials are not supported yet",
            up.id
        );
        return native_error(format, StatusCode::NOT_IMPLEMENTED, &message);
    }
    let buffered = req.extensions().get::<BufferedBody>().is_some();
    let via_proxy = req.extensions().get::<super::FromTrustedProxy>().is_some();
    let (mut parts, body) = req.into_parts();

    clean_upstream_request(&mut parts.headers, via_proxy);
    if buffered {
        // The body may have been rewritten; the HTTP library sets the length from it.
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let query = parts.uri.query().map(str::to_string);
    let keep_key = up
        .strategy
        .apply(&mut parts.headers, has_key_param(query.as_deref()));
    for h in up
        .add_headers
        .iter()
        .chain(access.headers_for(&route.provider, &route.upstream_model))
    {
        parts.headers.insert(h.name.clone(), h.value.clone());
    }
    let uri = match upstream_uri(
        &up.baseurl,
        &ep.upstream_path,
        query.as_deref(),
        keep_key == QueryKey::Drop,
    ) {
        Ok(u) => u,
        Err(_) => {
            return native_error(
                format,
                StatusCode::BAD_REQUEST,
                "the request path cannot be forwarded",
            );
        }
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let slot = parts.extensions.get::<super::record::RecordSlot>().cloned();
    parts.extensions = Extensions::new();
    let upstream_req = Req::from_parts(parts, body);

    let timeouts = rt.config.gateway.timeouts;
    let asked = std::time::Instant::now();
    let sent = client.request(upstream_req);
    let answer = match timeouts.response_headers {
        Some(limit) => match tokio::time::timeout(limit, sent).await {
            Ok(r) => r,
            Err(_) => {
                let message = format!(
                    "provider {} did not answer within {}",
                    up.id,
                    aperture_config::format_duration(limit)
                );
                return native_error(format, StatusCode::GATEWAY_TIMEOUT, &message);
            }
        },
        None => sent.await,
    };
    if let Some(slot) = &slot {
        slot.upstream_wait(asked.elapsed());
    }
    match answer {
        Ok(res) => {
            let (mut parts, body) = res.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Res::from_parts(parts, boxed(IdleTimeout::new(body, timeouts.stream_idle)))
        }
        Err(e) if body_too_large(&e) => native_error(
            format,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "request body is larger than the {} byte limit",
                rt.config.gateway.max_request_body
            ),
        ),
        Err(e) => {
            let message = if e.is_connect() {
                format!("could not connect to provider {}", up.id)
            } else {
                format!("provider {} closed the connection", up.id)
            };
            native_error(format, StatusCode::BAD_GATEWAY, &message)
        }
    }
}
