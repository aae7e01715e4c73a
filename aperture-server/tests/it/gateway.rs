//! The gateway end to end: a real gateway on 127.0.0.1:0 in front of the mock provider on
//! 127.0.0.1:0; the tests assert what reached the provider, byte for byte, and what came back.

use crate::common;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aperture_mock::{MockUpstream, Reply, Then, gzip_stored};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const PROVIDER_KEY: &str = "sk-sentinel-provider-key";

struct Gateway {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A config with providers of every kind pointing at `base` (the mock).
fn config(base: &str, extra_gateway: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "anthropic": {{"baseurl": "{base}", "authorization": "x-api-key", "auth_mode": "passthrough",
                       "compatibility": {{"anthropic_messages": true}},
                       "models": ["claude-sonnet-4-6"]}},
        "openai": {{"baseurl": "{base}/", "apikey": "{PROVIDER_KEY}",
                    "compatibility": {{"openai_chat": true, "openai_responses": true}},
                    "models": ["gpt-5", "gpt-5-mini"], "add_headers": ["X-Provider-Header: p"]}},
        "backup": {{"baseurl": "{base}", "apikey": "sk-backup", "preference": -1, "models": ["gpt-5"]}},
        "gemini": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "authorization": "x-goog-api-key",
                    "compatibility": {{"gemini_generate_content": true}}, "models": ["gemini-2.5-flash"]}},
        "local": {{"baseurl": "{base}/v1", "auth_mode": "none", "models": ["llama3"]}},
        "vertex": {{"baseurl": "{base}", "apikey": "keyfile::e30=",
                    "compatibility": {{"google_generate_content": true}}, "models": ["gemini-2.5-pro"]}}
      }},
      "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [
        {{"role": "admin"}}, {{"models": "**", "add_headers": ["X-Grant-Header: g"]}}]}}}}],
      "gateway": {{"timeouts": {{"response_headers": "1s", "stream_idle": "2s"}},
                   "max_request_body": "64KiB", "shutdown_grace": "1s" {extra_gateway}}}
    }}"#
    )
}

async fn gateway(text: &str) -> Gateway {
    let config = common::load(text, aperture_config::Mode::Load);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(aperture_server::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let client = common::client();
    Gateway {
        addr,
        stop: Some(stop),
        client,
    }
}

async fn setup() -> (Gateway, MockUpstream) {
    let mock = MockUpstream::start_default().await.unwrap();
    let gw = gateway(&config(&mock.base_url(), "")).await;
    (gw, mock)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }
}

impl Gateway {
    fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Full::new(Bytes::copy_from_slice(body))).unwrap()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let res = self
            .client
            .request(self.request(method, path, headers, body))
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        let headers = format!("{:?}", answer.headers);
        for secret in ["sk-sentinel", "sk-backup"] {
            assert!(
                !String::from_utf8_lossy(&answer.body).contains(secret)
                    && !headers.contains(secret),
                "a provider key leaked into an answer"
            );
        }
        answer
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        self.send(Method::POST, path, headers, body).await
    }
}

#[tokio::test]
async fn claude_subscription_request_arrives_unchanged() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    // Loopback is not a trusted proxy here. (Identity headers from untrusted peers are covered
    // in tests/identity.rs: such a request counts as proxied and never becomes `(loopback)`.)
    let gw = gateway(&config(
        &mock.base_url(),
        r#", "identity": {"headers": {"trusted_proxies": []}}"#,
    ))
    .await;
    let body = br#"{"model":"claude-sonnet-4-6","max_tokens":64,"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.0"}],"messages":[{"role":"user","content":"hi \u00e9"}],"metadata":{"user_id":"u"}}"#;
    let res = gw
        .post(
            "/v1/messages?beta=true",
            &[
                ("authorization", "Bearer sk-ant-oat01-SUBSCRIPTION"),
                ("anthropic-version", "2023-06-01"),
                ("anthropic-beta", "claude-code-20250219,oauth-2025-04-20"),
                ("anthropic-beta", "interleaved-thinking-2025-05-14"),
                ("x-claude-code-session-id", "sess-1"),
                ("x-vendor-unknown", "kept"),
                ("user-agent", "claude-cli/2.0.0"),
                ("proxy-authorization", "Basic c2VjcmV0"),
                ("connection", "keep-alive, x-hop"),
                ("x-hop", "gone"),
            ],
            body,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["type"], "message");
    assert!(
        res.headers["x-aperture-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );

    let got = mock.next_request().await.unwrap();
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.uri, "/v1/messages?beta=true");
    assert_eq!(&got.body[..], &body[..], "body bytes identical");
    assert_eq!(
        got.header_all("authorization"),
        ["Bearer sk-ant-oat01-SUBSCRIPTION"]
    );
    assert!(got.header("x-api-key").is_none());
    assert_eq!(
        got.header_all("anthropic-beta"),
        [
            "claude-code-20250219,oauth-2025-04-20",
            "interleaved-thinking-2025-05-14"
        ]
    );
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(got.header("x-claude-code-session-id"), Some("sess-1"));
    assert_eq!(got.header("x-vendor-unknown"), Some("kept"));
    assert_eq!(got.header("user-agent"), Some("claude-cli/2.0.0"));
    assert_eq!(got.header("x-grant-header"), Some("g"));
    for gone in ["tailscale-user-login", "proxy-authorization", "x-hop"] {
        assert!(
            got.header(gone).is_none(),
            "{gone} must not reach the provider"
        );
    }
    assert_eq!(got.header("host"), Some(mock.addr().to_string().as_str()));
}

#[tokio::test]
async fn injected_key_replaces_placeholders_and_qualified_model_is_spliced() {
    let (gw, mut mock) = setup().await;
    let body =
        br#"{ "messages": [{"role":"user","content":"model"}],  "model" : "openai/gpt-5", "n":1 }"#;
    let res = gw
        .post(
            "/v1/chat/completions",
            &[("authorization", "Bearer -"), ("x-api-key", "-")],
            body,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.uri, "/v1/chat/completions",
        "baseurl's trailing slash trimmed"
    );
    assert_eq!(
        got.header_all("authorization"),
        [format!("Bearer {PROVIDER_KEY}")]
    );
    assert!(got.header("x-api-key").is_none(), "placeholder stripped");
    assert_eq!(got.header("x-provider-header"), Some("p"));
    let expected = String::from_utf8_lossy(body).replace("\"openai/gpt-5\"", "\"gpt-5\"");
    assert_eq!(
        String::from_utf8_lossy(&got.body),
        expected,
        "only the model token changed"
    );
    assert_eq!(
        got.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
}

#[tokio::test]
async fn preference_picks_the_provider() {
    let (gw, mut mock) = setup().await;
    gw.post("/chat/completions", &[], br#"{"model":"gpt-5"}"#)
        .await;
    let got = mock.next_request().await.unwrap();
    // `openai` (preference 0) beats `backup` (-1).
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    assert_eq!(got.uri, "/chat/completions");
    // A qualified name picks the provider outright.
    gw.post("/v1/chat/completions", &[], br#"{"model":"backup/gpt-5"}"#)
        .await;
    let got = mock.next_request().await.unwrap();
    assert_eq!(got.header("authorization"), Some("Bearer sk-backup"));
    assert_eq!(got.json()["model"], "gpt-5");
}

#[tokio::test]
async fn gemini_key_header_and_query_key() {
    let (gw, mut mock) = setup().await;
    let body = br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    let res = gw
        .post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIza-client",
            &[("x-goog-api-key", "not-needed")],
            body,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&res.body).contains("usageMetadata"));
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.uri,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(got.header_all("x-goog-api-key"), [PROVIDER_KEY]);
    assert_eq!(&got.body[..], &body[..]);
}

#[tokio::test]
async fn auth_mode_none_sends_no_credential_and_prefix_baseurl_nests() {
    let (gw, mut mock) = setup().await;
    let res = gw
        .post(
            "/chat/completions",
            &[("authorization", "Bearer sk-client")],
            br#"{"model":"llama3"}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(got.uri, "/v1/chat/completions");
    assert!(got.header("authorization").is_none());
}

#[tokio::test]
async fn streams_arrive_event_by_event() {
    let delay = Duration::from_millis(150);
    let events: Vec<(Duration, Bytes)> = (0..4)
        .map(|i| {
            (
                if i == 0 { Duration::ZERO } else { delay },
                Bytes::from(format!("event: ping\ndata: {{\"i\":{i}}}\n\n")),
            )
        })
        .collect();
    let expected: Vec<u8> = events.iter().flat_map(|(_, b)| b.to_vec()).collect();
    let mock = MockUpstream::start(move |_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: events.clone(),
        then: Then::End,
    })
    .await
    .unwrap();
    let gw = gateway(&config(&mock.base_url(), "")).await;
    let req = gw.request(
        Method::POST,
        "/v1/messages",
        &[],
        br#"{"model":"claude-sonnet-4-6","stream":true}"#,
    );
    let res = gw.client.request(req).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let start = Instant::now();
    let mut frames = Vec::new();
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push(start.elapsed());
            all.extend_from_slice(&data);
        }
    }
    assert_eq!(all, expected, "stream bytes identical");
    assert!(
        frames.len() >= 4,
        "events were coalesced: {} frames",
        frames.len()
    );
    let spread = *frames.last().unwrap() - frames[0];
    assert!(spread >= delay * 2, "events not spaced as sent: {frames:?}");
}

#[tokio::test]
async fn client_disconnect_closes_the_upstream_stream() {
    let mock = MockUpstream::start(|_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: vec![(
            Duration::ZERO,
            Bytes::from_static(b"event: ping\ndata: {}\n\n"),
        )],
        then: Then::Hang,
    })
    .await
    .unwrap();
    let mut mock = mock;
    let gw = gateway(&config(&mock.base_url(), "")).await;
    let req = gw.request(
        Method::POST,
        "/v1/messages",
        &[],
        br#"{"model":"claude-sonnet-4-6","stream":true}"#,
    );
    let res = gw.client.request(req).await.unwrap();
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    let closed = mock
        .next_close()
        .await
        .expect("the provider saw the stream end early");
    assert!(closed.headers_sent);
}

#[tokio::test]
async fn gzip_sse_passes_untouched() {
    let sse = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: message_stop\ndata: {}\n\n";
    let gz = Bytes::from(gzip_stored(sse));
    let gz2 = gz.clone();
    let mock = MockUpstream::start(move |_| {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert("content-encoding", HeaderValue::from_static("gzip"));
        Reply::Raw {
            status: StatusCode::OK,
            headers: h,
            chunks: vec![gz2.slice(..10), gz2.slice(10..)],
        }
    })
    .await
    .unwrap();
    let gw = gateway(&config(&mock.base_url(), "")).await;
    let res = gw
        .post(
            "/v1/messages",
            &[("accept-encoding", "gzip")],
            br#"{"model":"claude-sonnet-4-6","stream":true}"#,
        )
        .await;
    assert_eq!(res.headers["content-encoding"], "gzip");
    assert_eq!(res.body, gz);
}

#[tokio::test]
async fn redirects_and_upstream_errors_are_relayed() {
    let mock = MockUpstream::start(|r| {
        if r.json()["model"] == "gpt-5" {
            Reply::Redirect {
                status: StatusCode::TEMPORARY_REDIRECT,
                location: "https://elsewhere.example/x".into(),
            }
        } else {
            Reply::json(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error": {"type": "rate_limit", "message": "slow down"}}),
            )
        }
    })
    .await
    .unwrap();
    let gw = gateway(&config(&mock.base_url(), "")).await;
    let res = gw
        .post("/v1/chat/completions", &[], br#"{"model":"gpt-5"}"#)
        .await;
    assert_eq!(res.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers["location"], "https://elsewhere.example/x");
    let res = gw
        .post("/v1/chat/completions", &[], br#"{"model":"gpt-5-mini"}"#)
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        res.json(),
        json!({"error": {"type": "rate_limit", "message": "slow down"}})
    );
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_headers_504() {
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = gateway(&config(&format!("http://{dead}"), "")).await;
    let res = gw
        .post(
            "/v1/messages",
            &[("anthropic-version", "2023-06-01")],
            br#"{"model":"claude-sonnet-4-6"}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert_eq!(res.json()["type"], "error");
    assert_eq!(res.json()["error"]["type"], "api_error");

    let mock = MockUpstream::start(|_| Reply::Hang).await.unwrap();
    let gw = gateway(&config(&mock.base_url(), "")).await;
    let res = gw
        .post("/v1/chat/completions", &[], br#"{"model":"gpt-5"}"#)
        .await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.json()["error"]["code"], "timeout");
}

#[tokio::test]
async fn gateway_errors_use_the_callers_envelope() {
    let (gw, mut mock) = setup().await;
    // Unknown model: 404, Anthropic envelope.
    let res = gw
        .post("/v1/messages", &[], br#"{"model":"claude-nope"}"#)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.json()["error"]["type"], "not_found_error");
    assert_eq!(
        res.json()["error"]["message"],
        "no route found for model \"claude-nope\""
    );
    // Flag off: gpt-5 is not served on /v1/messages.
    let res = gw.post("/v1/messages", &[], br#"{"model":"gpt-5"}"#).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(
        res.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("enable the anthropic_messages compatibility flag")
    );
    // No model, not JSON, duplicate model: 400 OpenAI envelope.
    for (body, message) in [
        (&br#"{"messages":[]}"#[..], "request body has no model"),
        (b"not json", "request body is not valid JSON"),
        (
            br#"{"model":"gpt-5","model":"gpt-5-mini"}"#,
            "request body has duplicate \"model\" keys",
        ),
    ] {
        let res = gw.post("/v1/chat/completions", &[], body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert_eq!(res.json()["error"]["type"], "invalid_request_error");
        assert_eq!(res.json()["error"]["message"], message);
    }
    // Too large: 413.
    let big = format!(r#"{{"model":"gpt-5","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let res = gw.post("/v1/chat/completions", &[], big.as_bytes()).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.json()["error"]["code"], "request_too_large");
    // Unknown path under /v1: 404 OpenAI; a keyfile provider whose key (`{}`) cannot mint a
    // token: 502 in Gemini's envelope.
    let res = gw.post("/v1/nope", &[], b"{}").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.json()["error"]["code"], "unknown_url");
    let res = gw
        .post(
            "/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:generateContent",
            &[],
            b"{}",
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert_eq!(res.json()["error"]["status"], "UNAVAILABLE");
    assert_eq!(
        res.json()["error"]["message"],
        r#"could not obtain an access token for provider "vertex""#
    );
    // Other paths: plain 404.
    let res = gw.send(Method::GET, "/elsewhere", &[], b"").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.json(), json!({"error": "not found"}));
    // None of these reached the provider.
    assert!(mock.try_next_request().is_none());
}

#[tokio::test]
async fn models_lists_granted_models() {
    let (gw, _mock) = setup().await;
    let res = gw
        .send(Method::GET, "/v1/models?limit=1000", &[], b"")
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let v = res.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["has_more"], false);
    let ids: Vec<(String, String)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["owned_by"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ids[0],
        ("anthropic".to_string(), "claude-sonnet-4-6".to_string())
    );
    assert!(ids.contains(&("openai".to_string(), "gpt-5-mini".to_string())));
    assert_eq!(v["data"][0]["metadata"]["provider"]["id"], "anthropic");
    let one = gw
        .send(Method::GET, "/v1/models/gpt-5-mini", &[], b"")
        .await;
    assert_eq!(one.json()["id"], "gpt-5-mini");
    let none = gw.send(Method::GET, "/v1/models/nope", &[], b"").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn callers_without_identity_or_role_are_refused() {
    let mock = MockUpstream::start_default().await.unwrap();
    let gw = gateway(&config(
        &mock.base_url(),
        r#", "identity": {"loopback": false}"#,
    ))
    .await;
    let res = gw
        .post("/v1/messages", &[], br#"{"model":"claude-sonnet-4-6"}"#)
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        res.json()["error"]["message"],
        "access denied: unknown identity"
    );
    assert_eq!(res.json()["error"]["type"], "permission_error");

    let text = config(&mock.base_url(), "").replace(r#"{"role": "admin"}, "#, "");
    let gw = gateway(&text).await;
    let res = gw
        .post("/v1/chat/completions", &[], br#"{"model":"gpt-5"}"#)
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        res.json()["error"]["message"],
        "access denied: no role granted"
    );
    // The health paths need no identity.
    assert_eq!(
        gw.send(Method::GET, "/healthz", &[], b"").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn connections_to_the_provider_are_reused() {
    let (gw, mut mock) = setup().await;
    for _ in 0..5 {
        let res = gw
            .post("/v1/chat/completions", &[], br#"{"model":"gpt-5"}"#)
            .await;
        assert_eq!(res.status, StatusCode::OK);
        mock.next_request().await.unwrap();
    }
    assert_eq!(mock.connections(), 1);
}

fn config_with_more_providers(base: &str, extra_gateway: &str) -> String {
    config(base, extra_gateway).replace(
        r#""local": {"#,
        &format!(
            r#""bedrock": {{"baseurl": "{base}", "apikey": "sk-bedrock", "compatibility": {{"bedrock_model_invoke": true}},
                          "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0"]}},
               "chatgpt": {{"baseurl": "{base}/backend-api/codex", "auth_mode": "passthrough",
                          "compatibility": {{"openai_responses": true, "openai_chat": false}}, "models": ["gpt-5-codex"]}},
               "local": {{"#
        ),
    )
}

#[tokio::test]
async fn bedrock_and_codex_prefixes_are_removed() {
    let mut mock = MockUpstream::start(|_| Reply::json(StatusCode::OK, &json!({"ok": true})))
        .await
        .unwrap();
    let gw = gateway(&config_with_more_providers(&mock.base_url(), "")).await;
    let res = gw
        .post(
            "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
            &[],
            br#"{"anthropic_version":"bedrock-2023-05-31"}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.uri, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
        "path forwarded as received"
    );
    assert_eq!(got.header("authorization"), Some("Bearer sk-bedrock"));

    let res = gw
        .post(
            "/codex/responses",
            &[
                ("authorization", "Bearer chatgpt-oauth"),
                ("chatgpt-account-id", "acc"),
            ],
            br#"{"model":"gpt-5-codex","stream":true}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(got.uri, "/backend-api/codex/responses");
    assert_eq!(got.header("authorization"), Some("Bearer chatgpt-oauth"));
    assert_eq!(got.header("chatgpt-account-id"), Some("acc"));
}

#[tokio::test]
async fn responses_by_id_go_to_the_sole_responses_provider() {
    let mut mock = MockUpstream::start(|_| Reply::json(StatusCode::OK, &json!({"id": "resp_1"})))
        .await
        .unwrap();
    let gw = gateway(&config(&mock.base_url(), "")).await;
    let res = gw
        .send(Method::GET, "/v1/responses/resp_1?include=x", &[], b"")
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        (&got.method, got.uri.as_str()),
        (&Method::GET, "/v1/responses/resp_1?include=x")
    );
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    // With two responses providers the gateway cannot tell which one made the id.
    let gw = gateway(&config_with_more_providers(&mock.base_url(), "")).await;
    let res = gw
        .send(Method::DELETE, "/v1/responses/resp_1", &[], b"")
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn silent_streams_are_cut_after_stream_idle() {
    let mut mock = MockUpstream::start(|_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: vec![(
            Duration::ZERO,
            Bytes::from_static(b"event: ping\ndata: {}\n\n"),
        )],
        then: Then::Hang,
    })
    .await
    .unwrap();
    let text =
        config(&mock.base_url(), "").replace(r#""stream_idle": "2s""#, r#""stream_idle": "300ms""#);
    let gw = gateway(&text).await;
    let req = gw.request(
        Method::POST,
        "/v1/messages",
        &[],
        br#"{"model":"claude-sonnet-4-6","stream":true}"#,
    );
    let res = gw.client.request(req).await.unwrap();
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    // The next read fails: the gateway aborted the stream instead of waiting forever.
    let next = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("cut in time");
    assert!(
        matches!(next, Some(Err(_))),
        "the silent stream must end with an error, not a clean end"
    );
    assert!(
        mock.next_close().await.is_some(),
        "the provider connection is closed too"
    );
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let (gw, mut mock) = setup().await;
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let req = gw.request(
        Method::POST,
        "/v1/chat/completions",
        &[],
        br#"{"model":"gpt-5"}"#,
    );
    let res = client.request(req).await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::OK);
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.version,
        http::Version::HTTP_11,
        "upstream speaks HTTP/1.1 to a plain-http provider"
    );
    assert_eq!(&got.body[..], br#"{"model":"gpt-5"}"#);
}

#[tokio::test]
async fn shutdown_lets_running_streams_finish() {
    let events: Vec<(Duration, Bytes)> = (0..4)
        .map(|i| {
            (
                Duration::from_millis(100),
                Bytes::from(format!("data: {{\"i\":{i}}}\n\n")),
            )
        })
        .collect();
    let mock = MockUpstream::start(move |_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: events.clone(),
        then: Then::End,
    })
    .await
    .unwrap();
    let mut gw = gateway(&config(&mock.base_url(), "")).await;
    let req = gw.request(
        Method::POST,
        "/v1/chat/completions",
        &[],
        br#"{"model":"gpt-5","stream":true}"#,
    );
    let res = gw.client.request(req).await.unwrap();
    // Stop the server while the stream is running: it stops accepting, the stream goes on.
    gw.stop.take().unwrap().send(()).unwrap();
    let body = res
        .into_body()
        .collect()
        .await
        .expect("the stream finished")
        .to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body).matches("data: ").count(),
        4,
        "{body:?}"
    );
}

fn config_modes(base: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "pt": {{"baseurl": "{base}", "auth_mode": "passthrough", "authorization": "x-api-key", "apikey": "sk-sentinel-fallback",
                "models": ["pt-model"], "add_headers": ["X-Both: provider", "X-Provider-Only: p"]}},
        "ptf": {{"baseurl": "{base}", "auth_mode": "passthrough-with-fallback", "apikey": "sk-sentinel-fallback2", "models": ["ptf-model"]}},
        "none": {{"baseurl": "{base}", "auth_mode": "none", "apikey": "sk-sentinel-unused", "models": ["none-model"],
                  "compatibility": {{"gemini_generate_content": true}}}}
      }},
      "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [
        {{"role": "user"}}, {{"models": "**"}}, {{"models": "pt/**", "add_headers": ["X-Both: grant"]}}]}}}}],
      "gateway": {{"max_request_body": "1KiB"}}
    }}"#
    )
}

#[tokio::test]
async fn passthrough_falls_back_to_the_key_and_headers_layer_in_order() {
    let mut mock = MockUpstream::start(|_| Reply::json(StatusCode::OK, &json!({})))
        .await
        .unwrap();
    let gw = gateway(&config_modes(&mock.base_url())).await;
    for (model, header, value) in [
        ("pt-model", "x-api-key", "sk-sentinel-fallback"),
        ("ptf-model", "authorization", "Bearer sk-sentinel-fallback2"),
    ] {
        let body = format!(r#"{{"model":"{model}"}}"#);
        gw.post(
            "/v1/chat/completions",
            &[("x-both", "client")],
            body.as_bytes(),
        )
        .await;
        let got = mock.next_request().await.unwrap();
        assert_eq!(
            got.header_all(header),
            [value],
            "{model}: no client credential, so the key"
        );
        if model == "pt-model" {
            // Client, then provider, then grant: each replaces the earlier same-named header.
            assert_eq!(got.header_all("x-both"), ["grant"]);
            assert_eq!(got.header("x-provider-only"), Some("p"));
        }
    }
    // With a client credential, passthrough forwards it and adds nothing.
    gw.post(
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-client-own")],
        br#"{"model":"ptf-model"}"#,
    )
    .await;
    let got = mock.next_request().await.unwrap();
    assert_eq!(got.header_all("authorization"), ["Bearer sk-client-own"]);
}

#[tokio::test]
async fn none_mode_strips_every_credential() {
    let mut mock = MockUpstream::start(|_| Reply::json(StatusCode::OK, &json!({})))
        .await
        .unwrap();
    let gw = gateway(&config_modes(&mock.base_url())).await;
    gw.post(
        "/v1beta/models/none-model:generateContent?key=AIza-client&alt=json",
        &[
            ("authorization", "Bearer c"),
            ("x-api-key", "c"),
            ("x-goog-api-key", "c"),
        ],
        b"{}",
    )
    .await;
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.uri,
        "/v1beta/models/none-model:generateContent?alt=json"
    );
    for h in ["authorization", "x-api-key", "x-goog-api-key"] {
        assert!(got.header(h).is_none(), "{h}");
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut mock = MockUpstream::start(|_| Reply::json(StatusCode::OK, &json!({})))
        .await
        .unwrap();
    let gw = gateway(&config_modes(&mock.base_url())).await;
    for path in [
        "/v1/chat/completions",
        "/v1beta/models/none-model:generateContent",
    ] {
        let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!(r#"{{"model":"none-model","pad":"{}"}}"#, "x".repeat(600));
        for _ in 0..3 {
            let _ = s
                .write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
                .await;
        }
        let _ = s.write_all(b"0\r\n\r\n").await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert!(out.starts_with("HTTP/1.1 413"), "{path}: {out}");
    }
    // A streamed body may have started upstream, but never past the limit.
    while let Some(got) = mock.try_next_request() {
        assert!(
            got.body.len() <= 1024,
            "no more than the limit was forwarded"
        );
    }
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_removed_and_pings_keep_streams_alive() {
    let mock = MockUpstream::start(|r| {
        if r.json()["stream"] == true {
            let events = (0..8)
                .map(|_| {
                    (
                        Duration::from_millis(100),
                        Bytes::from_static(b": ping\n\n"),
                    )
                })
                .collect();
            Reply::Sse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                events,
                then: Then::End,
            }
        } else {
            let mut h = HeaderMap::new();
            h.insert("connection", HeaderValue::from_static("x-secret-hop"));
            h.insert("x-secret-hop", HeaderValue::from_static("1"));
            h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
            h.insert("x-vendor", HeaderValue::from_static("kept"));
            h.insert("content-type", HeaderValue::from_static("application/json"));
            Reply::Raw {
                status: StatusCode::OK,
                headers: h,
                chunks: vec![Bytes::from_static(b"{}")],
            }
        }
    })
    .await
    .unwrap();
    let text =
        config(&mock.base_url(), "").replace(r#""stream_idle": "2s""#, r#""stream_idle": "300ms""#);
    let gw = gateway(&text).await;
    let res = gw
        .post("/v1/chat/completions", &[], br#"{"model":"gpt-5"}"#)
        .await;
    assert_eq!(res.headers["x-vendor"], "kept");
    assert!(res.headers.get("x-secret-hop").is_none());
    assert!(res.headers.get("keep-alive").is_none());
    // 8 pings 100 ms apart: 800 ms in all, but never 300 ms of silence.
    let res = gw
        .post(
            "/v1/chat/completions",
            &[],
            br#"{"model":"gpt-5","stream":true}"#,
        )
        .await;
    assert_eq!(res.body.len(), 8 * b": ping\n\n".len());
}

#[tokio::test]
async fn proxied_requests_never_become_loopback() {
    let (gw, mut mock) = setup().await;
    // Loopback is a trusted proxy by default: a forwarded request without a login is refused.
    let res = gw
        .post(
            "/v1/chat/completions",
            &[("x-forwarded-for", "203.0.113.9")],
            br#"{"model":"gpt-5"}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    // Nor when loopback is not trusted: the request still came through some proxy.
    let gw2 = gateway(&config(
        &mock.base_url(),
        r#", "identity": {"headers": {"trusted_proxies": []}}"#,
    ))
    .await;
    let res = gw2
        .post(
            "/v1/chat/completions",
            &[("forwarded", "for=203.0.113.9")],
            br#"{"model":"gpt-5"}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        res.json()["error"]["message"],
        "access denied: unknown identity"
    );
    assert!(mock.try_next_request().is_none());
}

#[tokio::test]
async fn browser_pages_cannot_spend_a_callers_identity() {
    let (gw, mut mock) = setup().await;
    let host = gw.addr.clone();
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
    ] {
        let res = gw
            .post("/v1/chat/completions", &headers, br#"{"model":"gpt-5"}"#)
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(
            res.json()["error"]["message"],
            "access denied: cross-site request"
        );
    }
    assert!(mock.try_next_request().is_none());
    // The gateway's own origin, and same-site fetches, are fine.
    let origin = format!("http://{host}");
    let res = gw
        .post(
            "/v1/chat/completions",
            &[
                ("origin", origin.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
            br#"{"model":"gpt-5"}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_need_the_read_metrics_grant() {
    let (gw, _mock) = setup().await;
    let res = gw.send(Method::GET, "/metrics", &[], b"").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.json(), json!({"error": "read_metrics grant required"}));
}

#[tokio::test]
async fn models_carry_string_prices() {
    let (gw, _mock) = setup().await;
    let res = gw
        .send(Method::GET, "/v1/models/claude-sonnet-4-6", &[], b"")
        .await;
    let pricing = &res.json()["pricing"];
    assert!(
        pricing["input"].is_string() && pricing["output"].is_string(),
        "{pricing}"
    );
    let input: f64 = pricing["input"].as_str().unwrap().parse().unwrap();
    assert!(input > 0.0 && input < 0.001, "per-token USD: {input}");
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_a_connect_failure() {
    // Accepts TCP connections and never says a word: the TLS handshake never completes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let text = config(
        &format!("https://{addr}"),
        r#", "timeouts": {"connect": "300ms", "response_headers": "30s"}"#,
    )
    .replace(
        r#""timeouts": {"response_headers": "1s", "stream_idle": "2s"},"#,
        "",
    );
    let gw = gateway(&text).await;
    let res = gw
        .post("/v1/chat/completions", &[], br#"{"model":"gpt-5"}"#)
        .await;
    // 502 (connect failed), not 504 (which the 30 s header timeout would give).
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn a_reload_that_changes_the_connect_timeout_takes_effect() {
    use tower::ServiceExt;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let text = |connect: &str| {
        format!(
            r#"{{"providers": {{"p": {{"baseurl": "https://{addr}", "apikey": "k", "models": ["m"]}}}},
               "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}}],
               "gateway": {{"timeouts": {{"connect": "{connect}", "response_headers": "400ms"}}}}}}"#
        )
    };
    let first = text("30s");
    let config = aperture_config::load_str(&first, aperture_config::Mode::Strict)
        .config
        .unwrap();
    let gw = aperture_server::gateway::Gateway::new(Arc::new(config)).unwrap();
    async fn call(gw: &aperture_server::gateway::Gateway) -> StatusCode {
        let mut req = Request::post("/v1/chat/completions")
            .body(Full::new(Bytes::from_static(br#"{"model":"m"}"#)))
            .unwrap();
        req.extensions_mut()
            .insert(aperture_server::gateway::PeerAddr(
                "127.0.0.1:1".parse().unwrap(),
            ));
        gw.service().oneshot(req).await.unwrap().status()
    }
    // The handshake outlasts the header timeout: 504.
    assert_eq!(call(&gw).await, StatusCode::GATEWAY_TIMEOUT);
    // After a save with a short connect timeout, the same stall is a connect failure: 502.
    let (_, hash) = gw.store().current().await;
    let saver = aperture_auth::Identity::loopback();
    gw.store()
        .save(&text("100ms"), &hash, &saver, &|_| {
            Some(aperture_auth::Identity::loopback())
        })
        .await
        .unwrap();
    assert_eq!(call(&gw).await, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn responses_by_id_go_back_to_the_provider_that_made_them() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    // Two providers serve the Responses API here, so only the log can tell them apart.
    let gw = gateway(&config_with_more_providers(&mock.base_url(), "")).await;
    let made = gw
        .post(
            "/codex/responses",
            &[("authorization", "Bearer c")],
            br#"{"model":"gpt-5-codex"}"#,
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    mock.next_request().await.unwrap();
    let id = made.json()["id"].as_str().unwrap().to_string();
    let res = gw
        .send(
            Method::GET,
            &format!("/v1/responses/{id}"),
            &[("authorization", "Bearer c")],
            b"",
        )
        .await;
    assert_ne!(res.status, StatusCode::FORBIDDEN);
    let got = mock.next_request().await.unwrap();
    assert_eq!(
        got.uri,
        format!("/backend-api/codex/v1/responses/{id}"),
        "sent to the chatgpt provider"
    );
}
