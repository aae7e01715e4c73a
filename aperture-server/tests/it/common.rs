//! The shared harness: configs from text, a gateway serving on 127.0.0.1:0, fresh temp folders,
//! an HTTP client, and waiting on a condition instead of sleeping.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aperture_config::{Config, Mode};
use aperture_server::gateway::Gateway;
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
