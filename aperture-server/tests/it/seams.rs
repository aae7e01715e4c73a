//! The embedder's seams: identity sources, checks after routing, extra layers, a custom store,
//! and panics — each through a real gateway in front of the mock provider, with the request
//! log read back.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aperture_auth::{Identity, IdentitySource as Source};
use aperture_log::store::{RequestSummary, SqliteStore, Store};
use aperture_mock::MockUpstream;
use aperture_route::Route;
use aperture_server::Error;
use aperture_server::gateway::{
    CallerInfo, Gateway, GatewayBuilder, IdentityFuture, IdentitySource, PeerAddr, Req, Res, Stack,
};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;

use crate::common;

const PROVIDER_KEY: &str = "sk-SENTINEL-seams-provider";

/// Bob may use gpt-5 only; loopback is an admin with every model.
fn config(base: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "openai": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "models": ["gpt-5", "gpt-5-mini"]}},
        "anthropic": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "authorization": "x-api-key",
                       "compatibility": {{"anthropic_messages": true}}, "models": ["claude-sonnet-4-6"]}}
      }},
      "grants": [
        {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}},
        {{"src": ["bob@example.com"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "openai/gpt-5"}}]}}}}
      ],
      "gateway": {{"identity": {{"tailscale": {{"enabled": false}}}}}}
    }}"#
    )
}

/// `X-Team-Key: key-bob` is bob; `X-Team-Key: revoked` is refused; no header passes on.
struct TeamKeys {
    asked: AtomicUsize,
}

impl IdentitySource for TeamKeys {
    fn identify<'a>(&'a self, caller: CallerInfo<'a>) -> IdentityFuture<'a> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let key = caller
            .headers
            .get("x-team-key")
            .and_then(|v| v.to_str().ok());
        let answer = match key {
            None => Ok(None),
            Some("key-bob") => Ok(Some(Identity::new(
                "bob@example.com",
                Source::Custom("team-key"),
            ))),
            Some(_) => Err(Error::refused(StatusCode::UNAUTHORIZED, "unknown team key")),
        };
        Box::pin(async move { answer })
    }
}

async fn send(
    gateway: &Gateway,
    peer: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let a = common::call(gateway, "POST", peer, path, headers, body).await;
    (a.status, a.json)
}

async fn records(db: &Arc<dyn Store>, n: usize) -> Vec<RequestSummary> {
    common::records(db, n).await
}

const CHAT: &str = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn an_identity_source_names_the_caller_and_grants_apply() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let keys = Arc::new(TeamKeys {
        asked: AtomicUsize::new(0),
    });
    struct Shared(Arc<TeamKeys>);
    impl IdentitySource for Shared {
        fn identify<'a>(&'a self, caller: CallerInfo<'a>) -> IdentityFuture<'a> {
            self.0.identify(caller)
        }
    }
    let gateway = GatewayBuilder::new(common::load(
        &config(&mock.base_url()),
        aperture_config::Mode::Strict,
    ))
    .identity(Shared(keys.clone()))
    .build()
    .unwrap();
    let remote = "192.0.2.7:5000"; // not loopback, not in any table

    // Bob by key, from a peer no built-in source knows: allowed for gpt-5.
    let (status, _) = send(
        &gateway,
        remote,
        "/v1/chat/completions",
        &[("x-team-key", "key-bob")],
        CHAT,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    // ... and refused gpt-5-mini by his grants, in OpenAI's envelope.
    let mini = CHAT.replace("gpt-5", "gpt-5-mini");
    let (status, body) = send(
        &gateway,
        remote,
        "/v1/chat/completions",
        &[("x-team-key", "key-bob")],
        &mini,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    // A key the source refuses: its own error, in the caller's format.
    let (status, body) = send(
        &gateway,
        remote,
        "/v1/chat/completions",
        &[("x-team-key", "revoked")],
        CHAT,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "unknown team key");
    // No key: the built-in sources decide; this peer is unknown to them.
    let (status, body) = send(&gateway, remote, "/v1/chat/completions", &[], CHAT).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["message"], "access denied: unknown identity");
    // No key from loopback: loopback, as without the source.
    let (status, _) = send(
        &gateway,
        "127.0.0.1:5000",
        "/v1/chat/completions",
        &[],
        CHAT,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys.asked.load(Ordering::Relaxed), 5);

    // Ids made within one millisecond do not sort by arrival: compare as sets.
    let rows = records(gateway.db(), 5).await;
    let mut seen: Vec<(&str, u16)> = rows.iter().map(|r| (r.login.as_str(), r.status)).collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            ("", 401),
            ("", 403),
            ("(loopback)", 200),
            ("bob@example.com", 200),
            ("bob@example.com", 403),
        ]
    );
    let bob_ok = rows
        .iter()
        .find(|r| r.login == "bob@example.com" && r.status == 200)
        .unwrap();
    let bob = gateway.db().request(&bob_ok.id).unwrap().unwrap();
    assert_eq!(bob.identity.source, "team-key");
}

#[tokio::test]
async fn an_authorize_check_refuses_in_the_native_envelope_and_is_recorded() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let gateway = GatewayBuilder::new(common::load(
        &config(&mock.base_url()),
        aperture_config::Mode::Strict,
    ))
    .authorize(|req: Req| async move {
        let model = req
            .extensions()
            .get::<Route>()
            .map(|r| r.upstream_model.clone());
        if model.as_deref() == Some("claude-sonnet-4-6") {
            return Err(Error::refused(
                StatusCode::TOO_MANY_REQUESTS,
                "claude is closed today",
            ));
        }
        Ok(req)
    })
    .build()
    .unwrap();
    let loopback = "127.0.0.1:4000";
    let claude = r#"{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[]}"#;
    let (status, body) = send(&gateway, loopback, "/v1/messages", &[], claude).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["type"], "error", "Anthropic's envelope: {body}");
    assert_eq!(body["error"]["message"], "claude is closed today");
    let (status, _) = send(&gateway, loopback, "/v1/chat/completions", &[], CHAT).await;
    assert_eq!(status, StatusCode::OK);
    // Only the allowed request reached the provider.
    assert_eq!(mock.next_request().await.unwrap().json()["model"], "gpt-5");
    assert!(
        mock.try_next_request().is_none(),
        "the refused request was not forwarded"
    );

    let rows = records(gateway.db(), 2).await;
    let refused = rows.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(refused.model, "claude-sonnet-4-6");
    assert_eq!(refused.error.as_deref(), Some("claude is closed today"));
    assert!(rows.iter().any(|r| r.status == 200 && r.model == "gpt-5"));
}

#[tokio::test]
async fn an_extra_layer_sees_the_route_and_its_answer_is_recorded() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    // A layer of the embedder's: answers gpt-5-mini itself (a cache, say), passes the rest.
    let layer = tower::layer::layer_fn(|inner: Stack| {
        tower::service_fn(move |req: Req| {
            let inner = inner.clone();
            async move {
                let cached = req
                    .extensions()
                    .get::<Route>()
                    .is_some_and(|r| r.upstream_model == "gpt-5-mini");
                if cached {
                    let mut res = Res::new(aperture_server::body::full(r#"{"cached":true}"#));
                    res.headers_mut()
                        .insert("x-cache", http::HeaderValue::from_static("hit"));
                    return Ok::<_, Infallible>(res);
                }
                inner.oneshot(req).await
            }
        })
    });
    let gateway = GatewayBuilder::new(common::load(
        &config(&mock.base_url()),
        aperture_config::Mode::Strict,
    ))
    .layer(layer)
    .build()
    .unwrap();
    let mini = CHAT.replace("gpt-5", "gpt-5-mini");
    let (status, body) = send(
        &gateway,
        "127.0.0.1:4000",
        "/v1/chat/completions",
        &[],
        &mini,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cached"], true);
    assert!(mock.try_next_request().is_none(), "answered by the layer");
    let rows = records(gateway.db(), 1).await;
    assert_eq!(
        (rows[0].status, rows[0].model.as_str()),
        (200, "gpt-5-mini")
    );
}

#[tokio::test]
async fn a_panic_is_a_recorded_500_and_the_gateway_keeps_serving() {
    let mock = MockUpstream::start_default().await.unwrap();
    let gateway = GatewayBuilder::new(common::load(
        &config(&mock.base_url()),
        aperture_config::Mode::Strict,
    ))
    .authorize(|req: Req| async move {
        if req.headers().contains_key("x-boom") {
            panic!("a bug in an embedder's check");
        }
        Ok(req)
    })
    .build()
    .unwrap();
    let claude = r#"{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[]}"#;
    let (status, body) = send(
        &gateway,
        "127.0.0.1:4000",
        "/v1/messages",
        &[("x-boom", "1")],
        claude,
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["type"], "error", "Anthropic's envelope: {body}");
    let (status, _) = send(&gateway, "127.0.0.1:4000", "/v1/messages", &[], claude).await;
    assert_eq!(status, StatusCode::OK);
    let rows = records(gateway.db(), 2).await;
    let failed = rows.iter().find(|r| r.status == 500).unwrap();
    assert_eq!(failed.error.as_deref(), Some("internal error"));
    assert!(rows.iter().any(|r| r.status == 200));
}

#[tokio::test]
async fn records_go_to_the_store_handed_to_the_builder_and_seams_survive_a_reload() {
    let mock = MockUpstream::start_default().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let text = config(&mock.base_url());
    let gateway = GatewayBuilder::new(common::load(&text, aperture_config::Mode::Strict))
        .source(text.clone(), None)
        .store(store.clone())
        .identity(TeamKeys {
            asked: AtomicUsize::new(0),
        })
        .build()
        .unwrap();
    assert!(Arc::ptr_eq(gateway.db(), &store));
    let (status, _) = send(
        &gateway,
        "192.0.2.7:1",
        "/v1/chat/completions",
        &[("x-team-key", "key-bob")],
        CHAT,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A save composes new stacks for the new config: the identity source is still there.
    let hash = aperture_server::config_store::hash_text(&text);
    let saved = text.replace(r#""openai/gpt-5""#, r#""openai/**""#);
    let put = serde_json::json!({ "config": saved, "hash": hash }).to_string();
    let mut req = Request::builder()
        .method("PUT")
        .uri("/api/config")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(put)))
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr("127.0.0.1:9".parse().unwrap()));
    let res = gateway.service().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mini = CHAT.replace("gpt-5", "gpt-5-mini");
    let (status, _) = send(
        &gateway,
        "192.0.2.7:1",
        "/v1/chat/completions",
        &[("x-team-key", "key-bob")],
        &mini,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "bob's new grant and the key source both apply"
    );
    let rows = records(&store, 2).await;
    assert!(rows.iter().all(|r| r.login == "bob@example.com"));
}

#[tokio::test]
async fn the_layers_stand_alone_over_any_request_body() {
    use aperture_server::gateway::{
        ClassifyLayer, IdentifyLayer, IdentifySettings, RequestIdLayer,
    };
    use aperture_server::runtime::Runtime;
    use tower::ServiceBuilder;

    let runtime = Runtime::new(common::load(
        &config("http://127.0.0.1:9"),
        aperture_config::Mode::Strict,
    ));
    // An application's own stack over `Full<Bytes>` bodies, with the gateway's identity layer
    // in it and its own handler after.
    let svc = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(ClassifyLayer::new())
        .layer(IdentifyLayer::new(
            IdentifySettings::from_runtime(&runtime),
            Arc::new([]),
            Arc::default(),
        ))
        .service(tower::service_fn(|req: Request<Full<Bytes>>| async move {
            let login = req.extensions().get::<Identity>().unwrap().login.clone();
            Ok::<_, Infallible>(Res::new(aperture_server::body::full(login)))
        }));
    let ask = |peer: &str| {
        let mut req = Request::post("/v1/chat/completions")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        svc.clone().oneshot(req)
    };
    let res = ask("127.0.0.1:1").await.unwrap();
    assert!(res.headers().contains_key("x-aperture-request-id"));
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "(loopback)");
    let res = ask("192.0.2.1:1").await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "unknown peers are refused by the layer"
    );
}
