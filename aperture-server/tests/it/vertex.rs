//! Vertex AI with a `keyfile::` service account (SPEC.md §2.2) through a real gateway: a token
//! server on 127.0.0.1 named by the key's `token_uri` checks each JWT, tokens are minted once
//! and shared, placeholders and Gemini CLI's short path are filled, failures are 502s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aperture_auth::keyfile::ServiceAccount;
use aperture_mock::{MockUpstream, Received, Reply};
use aperture_server::gateway::Gateway;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use serde_json::{Value, json};

use crate::common;

const TEST_KEY: &str =
    include_str!("../../../aperture-auth/tests/fixtures/test-only-service-account-key.pem");
const PROJECT: &str = "test-project-123";
const EMAIL: &str = "gateway@test-project-123.iam.gserviceaccount.com";

fn keyfile(token_uri: &str) -> String {
    let json = json!({"type": "service_account", "project_id": PROJECT, "private_key": TEST_KEY,
                      "client_email": EMAIL, "token_uri": token_uri});
    format!("keyfile::{}", STANDARD.encode(json.to_string()))
}

/// The token server: verifies each assertion and counts exchanges; fails while `down` is set.
struct TokenServer {
    mock: MockUpstream,
    exchanges: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

impl TokenServer {
    async fn start() -> TokenServer {
        let exchanges = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (n, d) = (exchanges.clone(), down.clone());
        let verify_with = Arc::new(std::sync::OnceLock::<(Vec<u8>, String)>::new());
        let verify = verify_with.clone();
        let mock = MockUpstream::start(move |r: &Received| {
            if d.load(Ordering::SeqCst) {
                return Reply::json(StatusCode::BAD_REQUEST, &json!({"error": "invalid_grant"}));
            }
            let (public, uri) = verify.get().expect("key set");
            let form = String::from_utf8_lossy(&r.body).to_string();
            let field = |k: &str| {
                form.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
            assert_eq!(field("grant_type"), "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
            let jwt = field("assertion");
            let parts: Vec<&str> = jwt.split('.').collect();
            let claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            assert_eq!(claims["iss"], EMAIL);
            assert_eq!(claims["aud"], uri.as_str());
            assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform");
            let key = ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                public.as_slice(),
            );
            let signed = format!("{}.{}", parts[0], parts[1]);
            if key.verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).is_err() {
                return Reply::json(StatusCode::UNAUTHORIZED, &json!({"error": "bad signature"}));
            }
            let count = n.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::json(
                StatusCode::OK,
                &json!({"access_token": format!("ya29.SENTINEL-token-{count}"), "expires_in": 3599, "token_type": "Bearer"}),
            )
        })
        .await
        .unwrap();
        mock.set_recording(false);
        let uri = format!("{}/token", mock.base_url());
        let account = ServiceAccount::from_keyfile(&keyfile(&uri)).unwrap();
        let _ = verify_with.set((account.public_key_der(), uri));
        TokenServer {
            mock,
            exchanges,
            down,
        }
    }

    fn uri(&self) -> String {
        format!("{}/token", self.mock.base_url())
    }
}

fn config(base: &str, apikey: &str, data_dir: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "vertex": {{"baseurl": "{base}", "apikey": "{apikey}",
                    "compatibility": {{"google_raw_predict": true, "google_generate_content": true,
                                       "experimental_gemini_cli_vertex_compat": true}},
                    "models": ["claude-sonnet-4-5", "gemini-2.5-flash"]}}
      }},
      "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}}],
      "gateway": {{"data_dir": "{data_dir}", "identity": {{"tailscale": {{"enabled": false}}}}}}
    }}"#
    )
}

fn gateway(text: &str) -> Gateway {
    let config = common::load(text, aperture_config::Mode::Strict);
    Gateway::with_source(config, text.to_string(), None).unwrap()
}

const RAW_PREDICT: &str = "/v1/projects/_aperture_auto_vertex_project_id_/locations/_aperture_auto_vertex_region_/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict";
const CLAUDE: &str = r#"{"anthropic_version":"vertex-2023-10-16","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_on_vertex_gets_the_project_region_and_one_shared_token() {
    let tokens = TokenServer::start().await;
    let mut provider = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("vertex");
    let text = config(
        &provider.base_url(),
        &keyfile(&tokens.uri()),
        dir.to_str().unwrap(),
    );
    let gw = Arc::new(gateway(&text));
    // Ten first requests at once share one exchange.
    let mut calls = Vec::new();
    for _ in 0..10 {
        let gw = gw.clone();
        calls.push(tokio::spawn(async move {
            common::call(
                &gw,
                "POST",
                "127.0.0.1:1",
                RAW_PREDICT,
                &[("x-api-key", "sk-client-SENTINEL-x")],
                CLAUDE,
            )
            .await
        }));
    }
    for c in calls {
        let a = c.await.unwrap();
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    assert_eq!(
        tokens.exchanges.load(Ordering::SeqCst),
        1,
        "one exchange for ten requests"
    );
    let up = provider
        .next_request_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        up.path(),
        format!(
            "/v1/projects/{PROJECT}/locations/global/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict"
        )
    );
    assert_eq!(
        up.header("authorization"),
        Some("Bearer ya29.SENTINEL-token-1")
    );
    assert!(
        up.header("x-api-key").is_none(),
        "the client's key never goes to Vertex"
    );
    assert_eq!(String::from_utf8_lossy(&up.body), CLAUDE, "body untouched");
    // Later requests reuse the cached token.
    for _ in 0..5 {
        let a = common::call(&gw, "POST", "127.0.0.1:1", RAW_PREDICT, &[], CLAUDE).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    assert_eq!(tokens.exchanges.load(Ordering::SeqCst), 1);

    // Gemini CLI's short path is made whole.
    let a = common::call(
        &gw,
        "POST",
        "127.0.0.1:1",
        "/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent",
        &[],
        r#"{"contents":[{"role":"model","parts":[{"functionCall":{"id":"call-1","name":"ls","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"id":"call-1","name":"ls","response":{"ok":true}}}]}]}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let mut last = None;
    while let Some(r) = provider.try_next_request() {
        last = Some(r);
    }
    let up = last.unwrap();
    assert_eq!(
        up.path(),
        format!(
            "/v1/projects/{PROJECT}/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"
        )
    );
    assert_eq!(
        up.header("authorization"),
        Some("Bearer ya29.SENTINEL-token-1")
    );
    // Vertex v1 has no function call ids: removed, the rest as sent.
    let sent = up.json();
    assert!(
        sent["contents"][0]["parts"][0]["functionCall"]
            .get("id")
            .is_none(),
        "{sent}"
    );
    assert!(
        sent["contents"][1]["parts"][0]["functionResponse"]
            .get("id")
            .is_none(),
        "{sent}"
    );
    assert_eq!(
        sent["contents"][0]["parts"][0]["functionCall"]["name"],
        "ls"
    );

    // Neither the key nor the token is shown or stored.
    let cfg = common::call(&gw, "GET", "127.0.0.1:1", "/api/config", &[], "").await;
    assert!(
        !cfg.text.contains("BEGIN PRIVATE KEY") && !cfg.text.contains(&STANDARD.encode(PROJECT))
    );
    assert!(cfg.text.contains("__REDACTED__"), "{}", cfg.text);
    let rows = common::records(gw.db(), 16).await;
    for row in rows {
        let record = gw.db().request(&row.id).unwrap().unwrap();
        let text = format!("{record:?}");
        assert!(
            !text.contains("ya29.SENTINEL") && !text.contains("PRIVATE KEY"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_failed_exchange_is_a_502_and_no_keyfile_is_a_400() {
    let tokens = TokenServer::start().await;
    tokens.down.store(true, Ordering::SeqCst);
    let mut provider = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("vertex-fail");
    let gw = gateway(&config(
        &provider.base_url(),
        &keyfile(&tokens.uri()),
        dir.to_str().unwrap(),
    ));
    let a = common::call(&gw, "POST", "127.0.0.1:1", RAW_PREDICT, &[], CLAUDE).await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY, "{}", a.text);
    assert_eq!(
        a.json["error"]["message"],
        r#"could not obtain an access token for provider "vertex""#
    );
    assert!(provider.try_next_request().is_none());
    // The token server is back: the next request gets through.
    tokens.down.store(false, Ordering::SeqCst);
    let a = common::call(&gw, "POST", "127.0.0.1:1", RAW_PREDICT, &[], CLAUDE).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // A provider with a plain key cannot fill the placeholders.
    let dir = common::temp_dir("vertex-nokey");
    let gw = gateway(&config(
        &provider.base_url(),
        "sk-plain",
        dir.to_str().unwrap(),
    ));
    let a = common::call(&gw, "POST", "127.0.0.1:1", RAW_PREDICT, &[], CLAUDE).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert_eq!(
        a.json["error"]["message"],
        r#"provider "vertex" needs a keyfile:: credential to fill _aperture_auto_vertex_project_id_"#
    );
}
