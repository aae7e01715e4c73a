//! The mock's accept loop, request recording and the streaming body that notices early drops.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use super::replies::{Reply, Then};
use super::{Closed, Received};

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) script: Box<dyn Fn(&Received) -> Reply + Send + Sync>,
    pub(super) requests: UnboundedSender<Received>,
    pub(super) closes: UnboundedSender<Closed>,
    pub(super) record: Arc<AtomicBool>,
}

/// Accepts connections until aborted; aborting drops (closes) every open connection.
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    connections: Arc<AtomicUsize>,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let svc = service_fn(move |req| handle(req, shared.clone()));
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                conns.spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return Ok(plain(StatusCode::BAD_REQUEST, "mock: request body failed"));
    };
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.to_string(), |pq| pq.as_str().to_owned());
    let received = Received {
        method: parts.method,
        uri,
        version: parts.version,
        headers: parts.headers,
        body,
    };
    let reply = (shared.script)(&received);
    let uri = received.uri.clone();
    if shared.record.load(Ordering::SeqCst) {
        let _ = shared.requests.send(received);
    }
    let guard = CloseGuard {
        tx: shared.closes.clone(),
        uri,
        headers_sent: false,
        chunks_sent: 0,
        armed: true,
    };
    Ok(match reply {
        Reply::Hang => {
            // Never answer; the guard reports the client giving up when this future is dropped.
            let _guard = guard;
            std::future::pending::<Response<MockBody>>().await
        }
        Reply::Json {
            status,
            headers,
            body,
        } => response(
            status,
            with_default(headers, "application/json"),
            MockBody::full(body),
        ),
        Reply::Sse {
            status,
            headers,
            events,
            then,
        } => {
            let headers = with_default(headers, "text/event-stream");
            let mut headers = headers;
            if !headers.contains_key(header::CACHE_CONTROL) {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            }
            let hang = matches!(then, Then::Hang);
            response(status, headers, MockBody::stream(events, hang, guard))
        }
        Reply::Raw {
            status,
            headers,
            chunks,
        } => {
            let events = chunks.into_iter().map(|c| (Duration::ZERO, c)).collect();
            response(status, headers, MockBody::stream(events, false, guard))
        }
        Reply::Redirect { status, location } => match HeaderValue::from_str(&location) {
            Ok(location) => {
                let mut headers = HeaderMap::new();
                headers.insert(header::LOCATION, location);
                response(status, headers, MockBody::full(Bytes::new()))
            }
            Err(_) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: invalid redirect location",
            ),
        },
    })
}

fn with_default(mut headers: HeaderMap, content_type: &'static str) -> HeaderMap {
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    headers
}

fn response(status: StatusCode, headers: HeaderMap, body: MockBody) -> Response<MockBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<MockBody> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response(
        status,
        headers,
        MockBody::full(Bytes::from_static(text.as_bytes())),
    )
}

/// Reports a [`Closed`] when dropped while still armed.
struct CloseGuard {
    tx: UnboundedSender<Closed>,
    uri: String,
    headers_sent: bool,
    chunks_sent: usize,
    armed: bool,
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.tx.send(Closed {
                uri: std::mem::take(&mut self.uri),
                headers_sent: self.headers_sent,
                chunks_sent: self.chunks_sent,
            });
        }
    }
}

/// The response body: chunks sent one frame each after their delay, then the end or nothing.
///
/// Dropped before its end (the client went away), its guard reports a [`Closed`].
pub(super) struct MockBody {
    chunks: VecDeque<(Duration, Bytes)>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    hang: bool,
    exact_len: Option<u64>,
    guard: Option<CloseGuard>,
}

impl MockBody {
    fn full(body: Bytes) -> MockBody {
        let exact_len = Some(body.len() as u64);
        let chunks = if body.is_empty() {
            VecDeque::new()
        } else {
            VecDeque::from([(Duration::ZERO, body)])
        };
        MockBody {
            chunks,
            sleep: None,
            hang: false,
            exact_len,
            guard: None,
        }
    }

    fn stream(chunks: Vec<(Duration, Bytes)>, hang: bool, mut guard: CloseGuard) -> MockBody {
        guard.headers_sent = true;
        let mut body = MockBody {
            chunks: chunks.into_iter().filter(|(_, c)| !c.is_empty()).collect(),
            sleep: None,
            hang,
            exact_len: None,
            guard: Some(guard),
        };
        body.disarm_if_done();
        body
    }

    fn done(&self) -> bool {
        self.chunks.is_empty() && !self.hang
    }

    fn disarm_if_done(&mut self) {
        if self.done() {
            if let Some(g) = self.guard.as_mut() {
                g.armed = false;
            }
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let Some(&(delay, _)) = this.chunks.front() else {
            return if this.hang {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        };
        if !delay.is_zero() {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        let Some((_, chunk)) = this.chunks.pop_front() else {
            return Poll::Ready(None);
        };
        if let Some(g) = this.guard.as_mut() {
            g.chunks_sent += 1;
        }
        this.disarm_if_done();
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
