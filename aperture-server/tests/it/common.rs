//! The shared harness: configs from text, a gateway serving on 127.0.0.1:0, fresh temp folders,
//! an HTTP client, and waiting on a condition instead of sleeping.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aperture_config::{Config, Mode};
use aperture_log::store::{Filter, Page, RequestSummary, Store};
use aperture_server::gateway::{Gateway, PeerAddr};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A plain HTTP/1.1 client.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Loads `text` in `mode`; a config with errors fails the test with its diagnostics.
pub(crate) fn load(text: &str, mode: Mode) -> Arc<Config> {
    let loaded = aperture_config::load_str(text, mode);
    Arc::new(
        loaded
            .config
            .unwrap_or_else(|| panic!("{}", loaded.diagnostics.render("test config"))),
    )
}

/// Serves `gateway` on a fresh 127.0.0.1 port until the test ends; returns `host:port`. The
/// listener is bound before this returns, so requests can be sent at once.
pub(crate) async fn serve(gateway: Gateway) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(aperture_server::serve_gateway(
        listener,
        gateway,
        std::future::pending(),
    ));
    addr
}

/// A client for [`serve`]d gateways.
pub(crate) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A fresh, empty folder under the temp dir, unique to this process and `name`.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aperture-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Polls `check` until it returns `Some`, for at most ten seconds; fails the test naming
/// `what` otherwise. For effects that happen on another thread (the record writer, the file
/// watcher), never a fixed sleep.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An answer from [`call`].
pub(crate) struct Answer {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) json: serde_json::Value,
    pub(crate) text: String,
}

/// Sends one request through `gateway`'s service in-process, as if from `peer`.
pub(crate) async fn call(
    gateway: &Gateway,
    method: &str,
    peer: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
    let res = gateway.service().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The stored records once there are `n`, by id (ids made in one millisecond do not sort by
/// arrival: compare as sets).
pub(crate) async fn records(db: &Arc<dyn Store>, n: usize) -> Vec<RequestSummary> {
    let page = Page {
        limit: 1000,
        offset: 0,
    };
    let mut rows = eventually(&format!("{n} records"), || {
        let rows = db.requests(&Filter::default(), page).unwrap();
        std::future::ready((rows.len() >= n).then_some(rows))
    })
    .await;
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}
