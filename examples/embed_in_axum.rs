//! Mount the gateway inside an axum app, beside the app's own routes.
//!
//! ```text
//! cargo run -p aperture-examples --example embed_in_axum
//! curl localhost:3000/                      # the app's own route
//! ANTHROPIC_BASE_URL=http://127.0.0.1:3000/llm claude   # LLM calls through the gateway
//! ```
//!
//! The gateway is mounted under `/llm` (axum strips the prefix, so the gateway sees
//! `/v1/messages`). A small middleware copies the peer address into the `PeerAddr` extension
//! the gateway's identity layer reads.

use std::net::SocketAddr;
use std::sync::Arc;

use aperture_server::gateway::Gateway;
use axum::Router;
use axum::middleware;
use axum::routing::get;

/// The app: its own routes plus the gateway under `/llm`.
fn app(gateway: &Gateway) -> Router {
    Router::new()
        .route("/", get(|| async { "my app" }))
        .route("/status", get(|| async { "all good" }))
        .nest_service("/llm", gateway.service())
        .layer(middleware::from_fn(aperture_examples::peer_addr))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let loaded = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default());
    let config = loaded
        .config
        .ok_or_else(|| std::io::Error::other("starter config invalid"))?;
    let gateway = Gateway::new(Arc::new(config)).map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app(&gateway).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aperture_mock::MockUpstream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn http(addr: SocketAddr, request: String) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn app_routes_and_gateway_live_side_by_side() {
        let mut mock = MockUpstream::start_default().await.unwrap();
        let text = format!(
            r#"{{"providers": {{"anthropic": {{"baseurl": "{}", "auth_mode": "passthrough",
                 "compatibility": {{"anthropic_messages": true}}, "models": ["claude-sonnet-4-6"]}}}},
               "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "**"}}]}}}}]}}"#,
            mock.base_url()
        );
        let config = aperture_config::load_str(&text, Default::default())
            .config
            .unwrap();
        let gateway = Gateway::new(Arc::new(config)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app(&gateway).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });

        let own = http(
            addr,
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into(),
        )
        .await;
        assert!(
            own.starts_with("HTTP/1.1 200") && own.ends_with("my app"),
            "{own}"
        );

        let body = r#"{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[]}"#;
        let req = format!(
            "POST /llm/v1/messages?beta=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-ant-oat01-T\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = http(addr, req).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("x-aperture-request-id: req_"), "{answer}");
        let got = mock.next_request().await.unwrap();
        assert_eq!(
            got.uri, "/v1/messages?beta=true",
            "the /llm prefix is the app's, not the provider's"
        );
        assert_eq!(got.body, body.as_bytes());
        assert_eq!(got.header("authorization"), Some("Bearer sk-ant-oat01-T"));
    }
}
