//! The innermost service: send the request to the provider and stream the answer back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use aperture_auth::{Access, QueryKey};
use aperture_config::{CompatFlag, Timeouts};
use aperture_log::RecordSlot;
use aperture_route::{Route, upstream_uri};
use http::{Extensions, StatusCode, Version, header};
use tower::Service;

use super::route::BufferedBody;
use super::{BoxFut, Req, Res, Target};
use crate::body::boxed;
use crate::error::Error;
use crate::headers::{clean_upstream_request, strip_hop_by_hop};
use crate::idle::IdleTimeout;
use crate::runtime::{Runtime, Upstream};
use crate::upstream::UpstreamClient;

/// What [`Proxy`] needs of a config version.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Routable providers by id: base URL, credential strategy, `add_headers`.
    pub upstreams: Arc<HashMap<String, Upstream>>,
    /// `gateway.timeouts`.
    pub timeouts: Timeouts,
    /// `gateway.max_request_body`, named in a 413 for a streamed body.
    pub max_request_body: u64,
}

impl ProxySettings {
    /// The settings of a compiled config.
    pub fn from_runtime(rt: &Runtime) -> Self {
        Self {
            upstreams: rt.upstreams.clone(),
            timeouts: rt.config.gateway.timeouts,
            max_request_body: rt.config.gateway.max_request_body,
        }
    }
}

/// Forwards routed requests with the pooled client: credentials by `auth_mode`, headers
/// cleaned and added, the upstream URL; 502 when the provider cannot be reached, 504 when it
/// does not answer in time; the answer streams back untouched. Needs [`Target`], [`Route`] and
/// `Arc<Access>` on the request.
#[derive(Debug, Clone)]
pub struct Proxy {
    client: UpstreamClient,
    settings: Arc<ProxySettings>,
}

impl Proxy {
    /// A proxy sending with `client`.
    pub fn new(client: UpstreamClient, settings: ProxySettings) -> Self {
        Self {
            client,
            settings: Arc::new(settings),
        }
    }
}

/// The upstream client across config versions: rebuilt when a reload changes its connect
/// timeout or TLS roots (a new connection pool); otherwise the pool is kept.
#[derive(Debug, Clone)]
pub(crate) struct ClientCell(Arc<std::sync::Mutex<(ClientKey, UpstreamClient)>>);

/// The settings an upstream client is built from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientKey {
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

impl ClientCell {
    /// A cell holding a client built for `gw`.
    pub(crate) fn new(gw: &aperture_config::Gateway) -> Result<Self, Error> {
        let client = crate::upstream::build_client(gw).map_err(Error::Internal)?;
        Ok(Self(Arc::new(std::sync::Mutex::new((
            ClientKey::of(gw),
            client,
        )))))
    }

    /// The client for `gw`: the current one when its settings match, else a new one (if that
    /// fails, the previous client stays and the reason is logged).
    pub(crate) fn client_for(&self, gw: &aperture_config::Gateway) -> UpstreamClient {
        let key = ClientKey::of(gw);
        let mut current = match self.0.lock() {
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
        let (Some(target), Some(route), Some(access)) = (
            ext.get::<Target>(),
            ext.get::<Route>().cloned(),
            ext.get::<Arc<Access>>().cloned(),
        ) else {
            return super::misconfigured();
        };
        let Target::Inference(ep) = target.clone() else {
            return super::misconfigured();
        };
        let client = self.client.clone();
        let settings = self.settings.clone();
        Box::pin(async move {
            Ok(forward(client, req, &settings, &ep, &route, &access)
                .await
                .unwrap_or_else(|e| e.respond(&Target::Inference(ep))))
        })
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
    settings: &ProxySettings,
    ep: &aperture_route::Endpoint,
    route: &Route,
    access: &Access,
) -> Result<Res, Error> {
    let Some(up) = settings.upstreams.get(&route.provider) else {
        return Err(Error::refused(
            StatusCode::BAD_GATEWAY,
            "provider is not routable",
        ));
    };
    // Vertex service accounts: placeholders filled, Gemini CLI's short path made whole, and a
    // minted token instead of any client credential (SPEC.md §2.2).
    let short_form = ep.flag == CompatFlag::ExperimentalGeminiCliVertexCompat;
    let (upstream_path, bearer) = match &up.vertex {
        Some(Ok(vertex)) => (
            vertex.fill(&ep.upstream_path, short_form),
            Some(vertex.bearer(&client).await?),
        ),
        Some(Err(_)) => {
            return Err(Error::refused(
                StatusCode::BAD_GATEWAY,
                format!(
                    "could not obtain an access token for provider {}",
                    serde_json::Value::from(up.id.as_str())
                ),
            ));
        }
        None => {
            let missing = super::vertex::placeholder_in(&ep.upstream_path)
                .or(short_form.then_some(super::vertex::PROJECT_PLACEHOLDER));
            if let Some(placeholder) = missing {
                return Err(Error::refused(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "provider {} needs a keyfile:: credential to fill {placeholder}",
                        serde_json::Value::from(up.id.as_str())
                    ),
                ));
            }
            (ep.upstream_path.clone(), None)
        }
    };
    // Gemini CLI's body, made acceptable to Vertex v1 (SPEC.md §2.2).
    let req = if short_form && up.vertex.is_some() {
        let (mut parts, body) = req.into_parts();
        let limit = usize::try_from(settings.max_request_body).unwrap_or(usize::MAX);
        let bytes = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, limit))
            .await
            .map_err(|_| Error::BodyTooLarge {
                limit: settings.max_request_body,
            })?
            .to_bytes();
        let bytes = match super::vertex::vertex_v1_body(&bytes) {
            Some(cleaned) => {
                if let Some(slot) = parts.extensions.get::<RecordSlot>() {
                    slot.request_body(&cleaned);
                }
                cleaned
            }
            None => bytes,
        };
        parts.extensions.insert(BufferedBody);
        Req::from_parts(parts, crate::body::full(bytes))
    } else {
        req
    };
    let buffered = req.extensions().get::<BufferedBody>().is_some();
    let via_proxy = req.extensions().get::<super::FromTrustedProxy>().is_some();
    let (mut parts, body) = req.into_parts();

    clean_upstream_request(&mut parts.headers, via_proxy);
    if buffered {
        // The body may have been rewritten; the HTTP library sets the length from it.
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let query = parts.uri.query().map(str::to_string);
    let keep_key = match bearer {
        Some(bearer) => {
            // Whatever the auth_mode: the client's credentials never go to Vertex.
            aperture_auth::CredentialStrategy::None.apply(&mut parts.headers, false);
            parts.headers.insert(header::AUTHORIZATION, bearer);
            QueryKey::Drop
        }
        None => up
            .strategy
            .apply(&mut parts.headers, has_key_param(query.as_deref())),
    };
    for h in up
        .add_headers
        .iter()
        .chain(access.headers_for(&route.provider, &route.upstream_model))
    {
        parts.headers.insert(h.name.clone(), h.value.clone());
    }
    let Ok(uri) = upstream_uri(
        &up.baseurl,
        &upstream_path,
        query.as_deref(),
        keep_key == QueryKey::Drop,
    ) else {
        return Err(Error::refused(
            StatusCode::BAD_REQUEST,
            "the request path cannot be forwarded",
        ));
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let slot = parts.extensions.get::<RecordSlot>().cloned();
    parts.extensions = Extensions::new();
    let upstream_req = Req::from_parts(parts, body);

    let timeouts = settings.timeouts;
    let asked = std::time::Instant::now();
    let sent = client.request(upstream_req);
    let answer = match timeouts.response_headers {
        Some(limit) => match tokio::time::timeout(limit, sent).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(provider = %up.id, "provider did not answer in time");
                return Err(Error::UpstreamTimeout {
                    provider: up.id.clone(),
                    after: aperture_config::format_duration(limit),
                });
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
            Ok(Res::from_parts(
                parts,
                boxed(IdleTimeout::new(body, timeouts.stream_idle)),
            ))
        }
        Err(e) if body_too_large(&e) => Err(Error::BodyTooLarge {
            limit: settings.max_request_body,
        }),
        Err(e) => {
            let provider = up.id.clone();
            tracing::warn!(%provider, error = %e, "upstream request failed");
            Err(if e.is_connect() {
                Error::UpstreamConnect { provider }
            } else {
                Error::UpstreamClosed { provider }
            })
        }
    }
}
