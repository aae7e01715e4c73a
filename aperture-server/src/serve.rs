//! The server: accept connections (HTTP/1.1 and h2c, TCP_NODELAY), answer the gateway's own
//! paths, run everything else through the gateway stack, and shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aperture_config::Config;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

use crate::body::Body;
use crate::gateway::{BoxFut, Gateway, PeerAddr, Stack};

/// Serves the gateway on `listener` with `config` until `shutdown` resolves, then lets open
/// connections (and their streams) finish for up to the config's `shutdown_grace`.
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
    let gateway = Gateway::new(config).map_err(std::io::Error::other)?;
    serve_gateway(listener, gateway, shutdown).await
}

/// Serves `gateway` on `listener` until `shutdown` resolves (see [`serve`]); several listeners
/// can serve one gateway, sharing its config store.
pub async fn serve_gateway(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (grace, tls) = {
        let gw = &gateway.snapshot().load().config.gateway;
        (gw.shutdown_grace, gw.tls.clone())
    };
    // HTTPS when gateway.tls names the files; they are read now, so a bad pair fails the start.
    let tls = match &tls {
        Some(files) => Some(crate::tls::acceptor(files).map_err(std::io::Error::other)?),
        None => None,
    };
    let stack = gateway.stack();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Slow or silent clients cannot hold a connection open before sending their headers.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(64 * 1024 + 8 * 1024);
    builder.http2().max_header_list_size(64 * 1024);
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let stack = stack.clone();
                let svc = service_fn(move |req: Request<Incoming>| handle(stack.clone(), peer, req));
                match &tls {
                    None => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                        let conn = graceful.watch(conn.into_owned());
                        connections.spawn(async move {
                            let _ = conn.await;
                        });
                    }
                    Some(acceptor) => {
                        // The handshake runs on the connection's own task, bounded in time.
                        let (acceptor, builder) = (acceptor.clone(), builder.clone());
                        let watcher = graceful.watcher();
                        connections.spawn(async move {
                            let handshake = acceptor.accept(stream);
                            let Ok(Ok(stream)) =
                                tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, handshake).await
                            else {
                                return;
                            };
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                            let _ = watcher.watch(conn.into_owned()).await;
                        });
                    }
                }
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    // Past the grace period, whatever is still open is cut.
    connections.abort_all();
    // Wait for the aborted connections to drop their bodies (their records are written).
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Gateway-owned paths first (no identity needed, SPEC.md §4.3); everything else goes through
/// the stack.
fn handle(mut stack: Stack, peer: SocketAddr, req: Request<Incoming>) -> BoxFut {
    match own_path(&req) {
        Some(res) => Box::pin(std::future::ready(Ok(res))),
        None => {
            let mut req = req.map(crate::body::boxed);
            req.extensions_mut().insert(PeerAddr(peer));
            // Every layer of the stack is always ready (none buffers or limits), so `call`
            // without `poll_ready` is within the contract here.
            stack.call(req)
        }
    }
}

/// The answer for `/`, `/healthz` and `/api/hello`, or `None` for everything else.
fn own_path(req: &Request<Incoming>) -> Option<Response<Body>> {
    let path = req.uri().path();
    let method = req.method();
    let own = matches!(path, "/" | "/healthz" | "/api/hello");
    if own && method != Method::GET && method != Method::HEAD {
        let mut r = json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"method not allowed"}"#,
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    match path {
        "/" => Some(text(StatusCode::OK, "aperture ok")),
        "/healthz" => Some(json(StatusCode::OK, r#"{"status":"ok"}"#)),
        "/api/hello" => Some(text(StatusCode::OK, "")),
        _ => None,
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(crate::body::full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = text(status, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Binds `addr` for the gateway with `SO_REUSEADDR` and a listen backlog of 4,096 (the kernel
/// caps it at `net.core.somaxconn`): a burst of new connections, such as 2,000 agents opening
/// streams within a second, waits in the queue instead of overflowing it and retrying a second
/// later (tokio's own `bind` uses 1,024).
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
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
