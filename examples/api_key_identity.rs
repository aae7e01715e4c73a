//! An axum service that puts its own API keys in front of the gateway: each key maps to a
//! login, the config's grants apply to that login as to any Tailscale user, and the request log
//! carries it.
//!
//! ```text
//! cargo run -p aperture-examples --example api_key_identity
//! ANTHROPIC_BASE_URL=http://127.0.0.1:3001/llm ANTHROPIC_AUTH_TOKEN=gw-alice-0001 claude
//! ```
//!
//! Keys start with `gw-` so they never collide with a provider credential: any other token
//! (a Claude subscription's OAuth token, say) passes on to the gateway's own sources and, under
//! `auth_mode: passthrough`, upstream untouched. With an injected provider key (as here) the
//! gateway replaces the caller's `Authorization`, so a `gw-` key never leaves the machine; it is
//! also scrubbed from the stored record like any client credential. Under
//! `auth_mode: passthrough` the caller's credential headers are forwarded as sent — a `gw-` key
//! included — so use such keys only with providers whose key the gateway injects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aperture_auth::{Identity, IdentitySource as Source};
use aperture_server::Error;
use aperture_server::gateway::{CallerInfo, Gateway, IdentityFuture, IdentitySource};
use axum::Router;
use axum::middleware;
use axum::routing::get;
use http::StatusCode;

/// API keys mapped to logins.
pub struct ApiKeys(HashMap<String, String>);

/// Never prints a key.
impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.0.len())
    }
}

impl ApiKeys {
    fn key<'a>(caller: &CallerInfo<'a>) -> Option<&'a str> {
        let bearer = caller
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let x_api_key = caller
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok());
        bearer.or(x_api_key).filter(|k| k.starts_with("gw-"))
    }
}

impl IdentitySource for ApiKeys {
    fn identify<'a>(&'a self, caller: CallerInfo<'a>) -> IdentityFuture<'a> {
        let answer = match Self::key(&caller) {
            // Not one of ours: the gateway's own sources decide.
            None => Ok(None),
            Some(key) => match self.0.get(key) {
                Some(login) => Ok(Some(Identity::new(
                    login.clone(),
                    Source::Custom("api-key"),
                ))),
                None => Err(Error::refused(StatusCode::UNAUTHORIZED, "unknown API key")),
            },
        };
        Box::pin(std::future::ready(answer))
    }
}

/// The app: its own route plus the gateway under `/llm`.
fn app(gateway: &Gateway) -> Router {
    Router::new()
        .route("/", get(|| async { "my app" }))
        .nest_service("/llm", gateway.service())
        .layer(middleware::from_fn(aperture_examples::peer_addr))
}

/// The gateway for `config_text`, with the keys in front and loopback no longer trusted.
fn gateway(config_text: &str, keys: ApiKeys) -> Result<Gateway, Error> {
    let text = config_text.replace(
        r#""tailscale": {"enabled": false}"#,
        r#""tailscale": {"enabled": false}, "loopback": false"#,
    );
    let config = aperture_config::load_str(&text, Default::default())
        .config
        .ok_or_else(|| Error::Internal("invalid config".into()))?;
    Gateway::builder(Arc::new(config)).identity(keys).build()
}

fn team_keys() -> ApiKeys {
    ApiKeys(HashMap::from([
        ("gw-alice-0001".to_string(), "alice@example.com".to_string()),
        ("gw-bob-0002".to_string(), "bob@example.com".to_string()),
    ]))
}

/// Alice may use gpt-5 only; bob every model.
const GRANTS: &str = r#",
    {"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "openai/gpt-5"}]}},
    {"src": ["bob@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "**"}]}}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
    let text = aperture_examples::config_text("https://api.openai.com", &key, GRANTS);
    let gateway = gateway(&text, team_keys())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app(&gateway).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aperture_examples::{http, post};
    use aperture_log::store::{Filter, Page};
    use aperture_mock::MockUpstream;

    const PROVIDER_KEY: &str = "sk-provider-SENTINEL";

    #[tokio::test]
    async fn keys_name_the_caller_grants_apply_and_records_carry_the_login() {
        let mut mock = MockUpstream::start_default().await.unwrap();
        let text = aperture_examples::config_text(&mock.base_url(), PROVIDER_KEY, GRANTS);
        let gateway = gateway(&text, team_keys()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = app(&gateway);
        tokio::spawn(async move {
            axum::serve(
                listener,
                served.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let send = |headers: &'static [&'static str], model: &'static str| async move {
            let body = format!(r#"{{"model":"{model}","messages":[]}}"#);
            http(addr, &post("/llm/v1/chat/completions", headers, &body))
                .await
                .unwrap()
        };
        let as_alice = &["Authorization: Bearer gw-alice-0001"];

        let ok = send(as_alice, "gpt-5").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let upstream = mock.next_request().await.unwrap();
        assert_eq!(
            upstream.header("authorization"),
            Some(format!("Bearer {PROVIDER_KEY}").as_str()),
            "the team key never reaches the provider"
        );
        let refused = send(as_alice, "gpt-5-mini").await;
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
        let unknown = send(&["Authorization: Bearer gw-nobody"], "gpt-5").await;
        assert!(unknown.starts_with("HTTP/1.1 401"), "{unknown}");
        assert!(unknown.contains("unknown API key"), "{unknown}");
        let nobody = send(&[], "gpt-5").await;
        assert!(
            nobody.starts_with("HTTP/1.1 403"),
            "loopback is off: {nobody}"
        );
        let bob = send(&["x-api-key: gw-bob-0002"], "gpt-5-mini").await;
        assert!(bob.starts_with("HTTP/1.1 200"), "{bob}");

        // The request log: one record per request, with the key's login.
        let mut rows = Vec::new();
        for _ in 0..500 {
            rows = gateway
                .db()
                .requests(&Filter::default(), Page::default())
                .unwrap();
            if rows.len() == 5 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut seen: Vec<(String, u16)> =
            rows.iter().map(|r| (r.login.clone(), r.status)).collect();
        seen.sort();
        let expected = [
            ("", 401),
            ("", 403),
            ("alice@example.com", 200),
            ("alice@example.com", 403),
            ("bob@example.com", 200),
        ];
        assert_eq!(seen, expected.map(|(l, s)| (l.to_string(), s)));
        for r in &rows {
            let stored = gateway.db().request(&r.id).unwrap().unwrap();
            let text = format!("{stored:?}");
            assert!(!text.contains("gw-alice-0001") && !text.contains("gw-bob-0002"));
        }
    }
}
