//! Examples of embedding the Aperture gateway crates; see the `examples` targets. This library
//! holds the little they share: a config for a provider, and a raw HTTP/1.1 exchange for their
//! tests.
#![deny(missing_docs)]

use std::net::SocketAddr;

use aperture_server::gateway::PeerAddr;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An axum middleware (`middleware::from_fn(peer_addr)`) that copies the connection's peer
/// address into the [`PeerAddr`] extension the gateway's identity layer reads. The app must be
/// served with `into_make_service_with_connect_info::<SocketAddr>()`.
pub async fn peer_addr(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().insert(PeerAddr(peer));
    next.run(req).await
}

/// A config with one OpenAI-compatible provider at `base` (the gateway injects `apikey`), an
/// admin on loopback, and `grants` (JSON array members) after it.
pub fn config_text(base: &str, apikey: &str, grants: &str) -> String {
    format!(
        r#"{{
  "providers": {{
    "openai": {{"baseurl": "{base}", "apikey": "{apikey}", "models": ["gpt-5", "gpt-5-mini"]}},
    "anthropic": {{"baseurl": "{base}", "apikey": "{apikey}", "authorization": "x-api-key",
                   "compatibility": {{"anthropic_messages": true}}, "models": ["claude-opus-4-1"]}}
  }},
  "grants": [
    {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}}
    {grants}
  ],
  "gateway": {{"identity": {{"tailscale": {{"enabled": false}}}}}}
}}"#
    )
}

/// Sends one raw HTTP/1.1 request to `addr` (it should say `Connection: close`) and returns
/// the whole answer as text.
pub async fn http(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// A `POST` of `body` to `path` with `headers` (each `Name: value`), closing after the answer.
pub fn post(path: &str, headers: &[&str], body: &str) -> String {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head + "\r\n" + body
}
