//! Identities and grants end to end: a fake tailscaled serving the LocalAPI on a unix socket,
//! the mock provider on 127.0.0.1:0, and the gateway stack called in process with the peer
//! address each case needs (tailnet peers are not reachable from a test's loopback socket).

use crate::common;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aperture_mock::MockUpstream;
use aperture_server::gateway::{Gateway, PeerAddr};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

/// A fake tailscaled: answers `GET /localapi/v0/whois?addr=IP:PORT` from a table keyed by IP
/// (unknown IPs get 404, like tailscaled for non-tailnet peers) and counts the calls.
struct FakeTailscaled {
    socket: PathBuf,
    calls: Arc<AtomicUsize>,
}

async fn fake_tailscaled(
    name: &str,
    answers: HashMap<&'static str, (u16, String)>,
) -> FakeTailscaled {
    let dir = std::env::temp_dir().join(format!("aperture-ts-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("tailscaled.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(answers);
    let counter = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let answers = answers.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let query = req.uri().query().unwrap_or_default().to_string();
                    let ip = query
                        .strip_prefix("addr=")
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default();
                    let (status, body) = match (req.uri().path(), answers.get(ip.as_str())) {
                        ("/localapi/v0/whois", Some((s, b))) => (*s, b.clone()),
                        _ => (404, "no match for IP:port".to_string()),
                    };
                    let mut res = Response::new(Full::new(Bytes::from(body)));
                    *res.status_mut() = StatusCode::from_u16(status).unwrap();
                    async move { Ok::<_, Infallible>(res) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    FakeTailscaled { socket, calls }
}

const ALICE: &str = "100.64.0.5";
const CI_NODE: &str = "100.64.0.6";
const CAPMAP_NODE: &str = "100.64.0.7";
const GARBAGE: &str = "100.64.0.8";
const USERLESS: &str = "100.64.0.9";
const STRANGER: &str = "100.64.0.10";

fn whois_answers() -> HashMap<&'static str, (u16, String)> {
    HashMap::from([
        (ALICE, (200, json!({
            "Node": {"ID": 1, "StableID": "nALICE", "Name": "alice-laptop.example.ts.net.", "Addresses": ["100.64.0.5/32"], "Tags": null},
            "UserProfile": {"ID": 10, "LoginName": "alice@example.com", "DisplayName": "Alice", "ProfilePicURL": ""},
            "CapMap": null
        }).to_string())),
        (CI_NODE, (200, json!({
            "Node": {"ID": 2, "StableID": "nCI", "Name": "ci-runner.example.ts.net.", "Tags": ["tag:prod", "tag:ci"]},
            "UserProfile": {"ID": 11, "LoginName": "tagged-devices", "DisplayName": "Tagged Devices"},
            "CapMap": {}
        }).to_string())),
        (CAPMAP_NODE, (200, json!({
            "Node": {"ID": 3, "StableID": "nBOB", "Name": "bob.example.ts.net."},
            "UserProfile": {"ID": 12, "LoginName": "bob@example.com", "DisplayName": "Bob"},
            "CapMap": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "openai/gpt-5-mini"}],
                       "example.com/cap/policy": [{"tier": "enterprise"}]}
        }).to_string())),
        (GARBAGE, (200, "<html>not json</html>".to_string())),
        (USERLESS, (200, json!({"Node": {"StableID": "nX", "Name": "x."}, "UserProfile": {"LoginName": ""}}).to_string())),
    ])
}

fn config(base: &str, socket: &str, extra_identity: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "anthropic": {{"baseurl": "{base}", "auth_mode": "passthrough", "compatibility": {{"anthropic_messages": true}},
                       "models": ["claude-sonnet-4-6", "claude-haiku-4-5"]}},
        "openai": {{"baseurl": "{base}", "apikey": "sk-sentinel-key", "models": ["gpt-5", "gpt-5-mini"],
                    "compatibility": {{"openai_chat": true, "openai_responses": true}}}},
        "old": {{"baseurl": "{base}", "models": ["gpt-4"], "disabled": true}}
      }},
      "grants": [
        {{"src": ["alice@example.com"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}},
        {{"src": ["tag:ci,tag:prod"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "anthropic/claude-haiku*"}}]}}}},
        {{"src": ["group:eng"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "openai/*"}}]}}}},
        {{"src": ["carol@example.com"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "anthropic/**"}}]}}}}
      ],
      "gateway": {{"identity": {{"tailscale": {{"socket": "{socket}", "cache_ttl": "1h"}} {extra_identity} }}}}
    }}"#
    )
}

struct Harness {
    gateway: Gateway,
    mock: MockUpstream,
    tailscaled: FakeTailscaled,
}

async fn harness(name: &str, extra_identity: &str) -> Harness {
    let mock = MockUpstream::start_default().await.unwrap();
    let tailscaled = fake_tailscaled(name, whois_answers()).await;
    let text = config(
        &mock.base_url(),
        tailscaled.socket.to_str().unwrap(),
        extra_identity,
    );
    let cfg = common::load(&text, aperture_config::Mode::Load);
    Harness {
        gateway: Gateway::new(cfg).unwrap(),
        mock,
        tailscaled,
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Harness {
    async fn call(
        &self,
        peer: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        let mut svc = self.gateway.service();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("sk-sentinel"),
            "key leaked"
        );
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body }
    }

    async fn chat(&self, peer: &str, model: &str) -> Answer {
        self.call(
            peer,
            Method::POST,
            "/v1/chat/completions",
            &[],
            &format!(r#"{{"model":"{model}"}}"#),
        )
        .await
    }

    async fn messages(&self, peer: &str, model: &str, headers: &[(&str, &str)]) -> Answer {
        self.call(
            peer,
            Method::POST,
            "/v1/messages",
            headers,
            &format!(r#"{{"model":"{model}"}}"#),
        )
        .await
    }
}

#[tokio::test]
async fn tailnet_user_is_identified_and_cached_per_peer_address() {
    let mut h = harness("user", "").await;
    let me = h
        .call(&format!("{ALICE}:41000"), Method::GET, "/api/me", &[], "")
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["login"], "alice@example.com");
    assert_eq!(me.body["display_name"], "Alice");
    assert_eq!(me.body["node_id"], "nALICE");
    assert_eq!(me.body["node_name"], "alice-laptop.example.ts.net");
    assert_eq!(me.body["source"], "tailscale");
    assert_eq!(me.body["role"], "admin");
    assert_eq!(h.tailscaled.calls.load(Ordering::SeqCst), 1);

    assert_eq!(
        h.chat(&format!("{ALICE}:41000"), "gpt-5").await.status,
        StatusCode::OK
    );
    h.mock.next_request().await.unwrap();
    assert_eq!(
        h.tailscaled.calls.load(Ordering::SeqCst),
        1,
        "answer reused within cache_ttl"
    );
    // Another source port is another connection: asked again.
    assert_eq!(
        h.chat(&format!("{ALICE}:41001"), "gpt-5").await.status,
        StatusCode::OK
    );
    assert_eq!(h.tailscaled.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn tagged_device_logs_in_as_its_sorted_tags() {
    let mut h = harness("tagged", "").await;
    let peer = format!("{CI_NODE}:5000");
    let me = h.call(&peer, Method::GET, "/api/me", &[], "").await;
    assert_eq!(me.body["login"], "tag:ci,tag:prod");
    assert_eq!(me.body["tags"], json!(["tag:ci", "tag:prod"]));
    assert_eq!(
        h.messages(&peer, "claude-haiku-4-5", &[]).await.status,
        StatusCode::OK
    );
    h.mock.next_request().await.unwrap();
    let denied = h.messages(&peer, "claude-sonnet-4-6", &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        denied.body["error"]["message"],
        "access denied: model \"claude-sonnet-4-6\" is not granted"
    );
    assert_eq!(denied.body["error"]["type"], "permission_error");
}

#[tokio::test]
async fn capmap_grants_merge_with_config_grants() {
    let mut h = harness("capmap", "").await;
    let peer = format!("{CAPMAP_NODE}:5000");
    // Bob has no grant in the config; his node's CapMap gives him a role and one model.
    assert_eq!(h.chat(&peer, "gpt-5-mini").await.status, StatusCode::OK);
    h.mock.next_request().await.unwrap();
    assert_eq!(h.chat(&peer, "gpt-5").await.status, StatusCode::FORBIDDEN);
    let models = h.call(&peer, Method::GET, "/v1/models", &[], "").await;
    let ids: Vec<&str> = models.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-5-mini"]);
}

#[tokio::test]
async fn unknown_peers_are_refused_and_nothing_is_forwarded() {
    let mut h = harness("unknown", "").await;
    for peer in [STRANGER, USERLESS] {
        let res = h.chat(&format!("{peer}:5000"), "gpt-5").await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{peer}");
        assert_eq!(
            res.body["error"]["message"],
            "access denied: unknown identity"
        );
    }
    assert!(h.mock.try_next_request().is_none());
}

#[tokio::test]
async fn static_table_answers_when_tailscaled_does_not_know_the_peer() {
    let mut h = harness(
        "static",
        r#", "static": [{"cidr": "100.64.0.0/24", "login": "dave@example.com", "groups": ["group:eng"]}]"#,
    )
    .await;
    let peer = format!("{STRANGER}:5000");
    let me = h.call(&peer, Method::GET, "/api/me", &[], "").await;
    assert_eq!(
        (me.body["login"].as_str(), me.body["source"].as_str()),
        (Some("dave@example.com"), Some("static"))
    );
    assert_eq!(
        h.chat(&peer, "gpt-5").await.status,
        StatusCode::OK,
        "group:eng grants openai/*"
    );
    h.mock.next_request().await.unwrap();
    // WhoIs wins over the static table for peers it knows.
    let me = h
        .call(&format!("{ALICE}:5000"), Method::GET, "/api/me", &[], "")
        .await;
    assert_eq!(me.body["login"], "alice@example.com");
}

#[tokio::test]
async fn tailscaled_failures_refuse_with_503_never_let_in() {
    let mut h = harness(
        "garbage",
        r#", "static": [{"cidr": "0.0.0.0/0", "login": "alice@example.com"}]"#,
    )
    .await;
    let res = h
        .messages(
            &format!("{GARBAGE}:5000"),
            "claude-sonnet-4-6",
            &[("anthropic-version", "2023-06-01")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.body["error"]["type"], "overloaded_error");
    assert_eq!(res.body["error"]["message"], "identity service unavailable");

    // No tailscaled at all.
    std::fs::remove_file(&h.tailscaled.socket).unwrap();
    let res = h.chat(&format!("{STRANGER}:5000"), "gpt-5").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.mock.try_next_request().is_none());
}

#[tokio::test]
async fn identity_headers_count_only_from_trusted_proxies() {
    let mut h = harness("headers", "").await;
    // From loopback (a trusted proxy by default), as `tailscale serve` sends them.
    let carol = [
        ("tailscale-user-login", "carol@example.com"),
        ("tailscale-user-name", "Carol"),
        ("x-forwarded-for", "100.64.0.44"),
    ];
    let res = h
        .messages("127.0.0.1:6000", "claude-sonnet-4-6", &carol)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = h.mock.next_request().await.unwrap();
    for gone in [
        "tailscale-user-login",
        "tailscale-user-name",
        "x-forwarded-for",
    ] {
        assert!(got.header(gone).is_none(), "{gone} forwarded");
    }
    // A proxied request without a login (a tagged device, Funnel) is refused outright.
    let res = h
        .messages(
            "127.0.0.1:6000",
            "claude-sonnet-4-6",
            &[("x-forwarded-for", "100.64.0.44")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        res.body["error"]["message"],
        "access denied: unknown identity"
    );
    // From a tailnet peer that is not a trusted proxy, the header is ignored: WhoIs decides.
    let res = h
        .call(
            &format!("{CI_NODE}:5000"),
            Method::GET,
            "/api/me",
            &[("tailscale-user-login", "alice@example.com")],
            "",
        )
        .await;
    assert_eq!(res.body["login"], "tag:ci,tag:prod");
    let res = h
        .messages(
            &format!("{CI_NODE}:5001"),
            "claude-haiku-4-5",
            &[("tailscale-user-login", "alice@example.com")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = h.mock.next_request().await.unwrap();
    assert!(got.header("tailscale-user-login").is_none());
}

#[tokio::test]
async fn listings_show_only_what_is_granted() {
    let h = harness("listings", "").await;
    let ci = format!("{CI_NODE}:5000");
    let providers = h.call(&ci, Method::GET, "/api/providers", &[], "").await;
    assert_eq!(providers.status, StatusCode::OK);
    assert_eq!(
        providers.body,
        json!([{
            "id": "anthropic", "name": "anthropic", "description": "", "models": ["claude-haiku-4-5"],
            "compatibility": {"openai_chat": false, "openai_responses": false, "anthropic_messages": true,
                "gemini_generate_content": false, "bedrock_model_invoke": false, "bedrock_converse": false,
                "google_generate_content": false, "google_raw_predict": false, "experimental_gemini_cli_vertex_compat": false}
        }])
    );
    assert!(!providers.body.to_string().contains("baseurl"));
    let forbidden = h
        .call(
            &ci,
            Method::GET,
            "/api/providers?include_disabled=true",
            &[],
            "",
        )
        .await;
    assert_eq!(
        (forbidden.status, &forbidden.body),
        (
            StatusCode::FORBIDDEN,
            &json!({"error": "admin role required"})
        )
    );

    let admin = h
        .call(
            &format!("{ALICE}:5000"),
            Method::GET,
            "/api/providers?include_disabled=true",
            &[],
            "",
        )
        .await;
    let ids: Vec<&str> = admin
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["anthropic", "old", "openai"]);
    let models = h
        .call(&format!("{ALICE}:5000"), Method::GET, "/v1/models", &[], "")
        .await;
    assert!(
        !models.body.to_string().contains("gpt-4"),
        "disabled providers are not listed"
    );
}

/// An independent matcher for model globs (SPEC.md §6.3), to check the gateway against.
fn reference_match(glob: &[&str], name: &[&str]) -> bool {
    fn seg(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| seg(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && seg(rest, &s[1..]),
        }
    }
    match glob.split_first() {
        None => name.is_empty(),
        Some((&"**", rest)) => (0..=name.len()).any(|i| reference_match(rest, &name[i..])),
        Some((g, rest)) => {
            !name.is_empty()
                && seg(g.as_bytes(), name[0].as_bytes())
                && reference_match(rest, &name[1..])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the grants say, a request reaches the provider only if some granted glob
    /// matches `provider/model` by the reference matcher, and it always does when one does.
    #[test]
    fn a_request_never_reaches_a_model_no_grant_matches(
        globs in prop::collection::vec(prop::sample::select(vec![
            "**", "anthropic/**", "openai/**", "*/gpt-5", "*/claude-*", "openai/gpt-5*",
            "anthropic/claude-sonnet-4-6", "x/**", "*/*", "openai/*-mini", "**/gpt-5",
        ]), 0..3),
        model in prop::sample::select(vec![
            "gpt-5", "gpt-5-mini", "claude-sonnet-4-6", "claude-haiku-4-5",
            "openai/gpt-5", "anthropic/claude-haiku-4-5", "openai/claude-sonnet-4-6",
        ]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut mock = MockUpstream::start_default().await.unwrap();
            let caps: Vec<String> = globs.iter().map(|g| format!(r#"{{"models": "{g}"}}"#)).collect();
            let text = format!(
                r#"{{"providers": {{
                    "anthropic": {{"baseurl": "{b}", "models": ["claude-sonnet-4-6", "claude-haiku-4-5"]}},
                    "openai": {{"baseurl": "{b}", "models": ["gpt-5", "gpt-5-mini"]}}}},
                  "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}} {caps}]}}}}]}}"#,
                b = mock.base_url(),
                caps = caps.iter().map(|c| format!(", {c}")).collect::<String>(),
            );
            let cfg = aperture_config::load_str(&text, aperture_config::Mode::Load).config.unwrap();
            let gateway = Gateway::new(Arc::new(cfg)).unwrap();
            let mut req = Request::post("/v1/chat/completions")
                .body(Full::new(Bytes::from(format!(r#"{{"model":"{model}"}}"#))))
                .unwrap();
            req.extensions_mut().insert(PeerAddr("127.0.0.1:1".parse().unwrap()));
            let res = gateway.service().oneshot(req).await.unwrap();
            let forwarded = mock.try_next_request_after(res.status()).await;

            let candidates: Vec<(&str, &str)> = match model.split_once('/') {
                Some((p, m)) if p == "openai" || p == "anthropic" => vec![(p, m)],
                _ => ["anthropic", "openai"].into_iter().map(|p| (p, model)).collect(),
            };
            let served = |p: &str, m: &str| match p {
                "anthropic" => m.starts_with("claude"),
                _ => m.starts_with("gpt"),
            };
            let allowed = candidates.iter().any(|(p, m)| {
                served(p, m) && globs.iter().any(|g| {
                    let g: Vec<&str> = g.split('/').collect();
                    reference_match(&g, &[p, m])
                })
            });
            prop_assert_eq!(forwarded, allowed, "globs {:?} model {}", globs, model);
            Ok(())
        })?;
    }
}

trait TryNext {
    async fn try_next_request_after(&mut self, status: StatusCode) -> bool;
}

impl TryNext for MockUpstream {
    /// Whether the request reached the provider: on success the mock has recorded it (wait for
    /// it); on a refusal nothing may have been recorded.
    async fn try_next_request_after(&mut self, status: StatusCode) -> bool {
        if status == StatusCode::OK {
            self.next_request().await.is_some()
        } else {
            self.try_next_request().is_some()
        }
    }
}

#[tokio::test]
async fn a_response_belongs_to_the_login_that_asked_for_it() {
    let mut h = harness("response-owner", "").await;
    let alice = format!("{ALICE}:5000");
    let made = h
        .call(
            &alice,
            Method::POST,
            "/v1/responses",
            &[],
            r#"{"model":"gpt-5-mini","input":"hi"}"#,
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    h.mock.next_request().await.unwrap();
    let id = made.body["id"].as_str().unwrap().to_string();
    // Bob may use gpt-5-mini too, but not read Alice's response.
    let bob = h
        .call(
            &format!("{CAPMAP_NODE}:5000"),
            Method::GET,
            &format!("/v1/responses/{id}"),
            &[],
            "",
        )
        .await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN);
    assert_eq!(
        bob.body["error"]["message"],
        "access denied: this response belongs to another user"
    );
    assert!(h.mock.try_next_request().is_none());
    h.call(&alice, Method::GET, &format!("/v1/responses/{id}"), &[], "")
        .await;
    let got = h
        .mock
        .next_request()
        .await
        .expect("Alice's own response is fetched");
    assert_eq!(got.uri, format!("/v1/responses/{id}"));
}
