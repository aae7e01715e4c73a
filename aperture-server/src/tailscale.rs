//! Tailscale LocalAPI WhoIs over tailscaled's unix socket, cached per peer address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aperture_auth::{Identity, identity_from_whois};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

/// How long one WhoIs call may take before the caller gets 503.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Entries kept before the cache starts over.
const CACHE_LIMIT: usize = 50_000;

/// What tailscaled said about a peer.
#[derive(Debug, Clone)]
pub enum WhoIs {
    /// A user's device or a tagged device.
    Found(Identity),
    /// Not a tailnet peer (404): try the next source.
    NotFound,
    /// A tailnet node with neither user nor tags: it never resolves (SPEC.md §5).
    NoIdentity,
}

/// Why a WhoIs lookup failed; the request is refused with 503, never let through.
#[derive(Debug)]
pub struct WhoIsFailure(pub String);

impl std::fmt::Display for WhoIsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WhoIs client with a per-`ip:port` cache.
#[derive(Debug)]
pub struct WhoIsClient {
    socket: PathBuf,
    ttl: Duration,
    cache: Mutex<HashMap<SocketAddr, (Instant, WhoIs)>>,
}

impl WhoIsClient {
    /// A client for the LocalAPI socket at `socket`, reusing answers for `ttl`.
    pub fn new(socket: PathBuf, ttl: Duration) -> Self {
        Self {
            socket,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Who `peer` is, from the cache or from tailscaled.
    pub async fn whois(&self, peer: SocketAddr) -> Result<WhoIs, WhoIsFailure> {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, answer)) = cache.get(&peer) {
                if now.duration_since(*at) < self.ttl {
                    return Ok(answer.clone());
                }
            }
        }
        let answer = tokio::time::timeout(LOOKUP_TIMEOUT, self.lookup(peer))
            .await
            .map_err(|_| WhoIsFailure("tailscaled did not answer in time".into()))??;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(peer, (now, answer.clone()));
        }
        Ok(answer)
    }

    async fn lookup(&self, peer: SocketAddr) -> Result<WhoIs, WhoIsFailure> {
        let fail = |what: &str, e: &dyn std::fmt::Display| WhoIsFailure(format!("{what}: {e}"));
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| fail(&format!("cannot connect to {}", self.socket.display()), &e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail("LocalAPI handshake failed", &e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::get(format!("/localapi/v0/whois?addr={peer}"))
            .header("host", "local-tailscaled.sock")
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail("bad WhoIs request", &e))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| fail("WhoIs request failed", &e))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| fail("WhoIs answer unreadable", &e))?
            .to_bytes();
        match status {
            StatusCode::OK => match identity_from_whois(&body) {
                Ok(Some(identity)) => Ok(WhoIs::Found(identity)),
                Ok(None) => Ok(WhoIs::NoIdentity),
                Err(e) => Err(fail("WhoIs answer", &e)),
            },
            StatusCode::NOT_FOUND => Ok(WhoIs::NotFound),
            other => Err(WhoIsFailure(format!("WhoIs answered {other}"))),
        }
    }
}
