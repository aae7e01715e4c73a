//! `aperture serve`: load the config, listen, answer the gateway's own paths, shut down
//! gracefully.
//!
//! Forwarding to providers is built by the gateway issue on top of this server; until then
//! inference paths answer 501.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aperture_config::Config;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// Serves the gateway on `listener` with `config` until `shutdown` resolves, then lets open
/// connections finish for up to the config's `shutdown_grace`.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let config = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default())
///     .config
///     .expect("the starter config is valid");
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// aperture_server::serve(listener, std::sync::Arc::new(config), std::future::pending()).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let grace = config.gateway.shutdown_grace;
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let config = config.clone();
                let svc = service_fn(move |req| {
                    let config = config.clone();
                    async move { Ok::<_, Infallible>(handle(&config, &req)) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    Ok(())
}

fn handle(_config: &Config, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let method = req.method();
    match path {
        "/" | "/healthz" | "/api/hello" if method != Method::GET && method != Method::HEAD => {
            let mut r = json(
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"error":"method not allowed"}"#,
            );
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            r
        }
        "/" => text(StatusCode::OK, "aperture ok"),
        "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#),
        "/api/hello" => text(StatusCode::OK, ""),
        _ if is_inference_prefix(path) => json(
            StatusCode::NOT_IMPLEMENTED,
            r#"{"error":"forwarding to providers is not available in this build yet"}"#,
        ),
        _ => json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
    }
}

fn is_inference_prefix(path: &str) -> bool {
    [
        "/v1/",
        "/v1beta/",
        "/v1beta1/",
        "/bedrock/",
        "/codex/",
        "/chat/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = text(status, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Resolves when the process gets SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The addresses to listen on: `--listen` when given, else the config's `gateway.listen`.
pub fn listen_addrs(config: &Config, flag: Option<SocketAddr>) -> Vec<SocketAddr> {
    match flag {
        Some(a) => vec![a],
        None => config.gateway.listen.clone(),
    }
}
