//! A mock LLM provider (an "upstream") for the gateway's integration tests and benches.
//!
//! [`MockUpstream::start`] binds `127.0.0.1:0` (HTTP/1.1 and h2c) and answers every request with
//! the [`Reply`] its script returns. Each request is recorded as a [`Received`] (exact path and
//! query, every header, exact body bytes) and can be awaited with
//! [`MockUpstream::next_request`]; a streamed body the client dropped before its end is reported
//! by [`MockUpstream::next_close`]. [`Reply::auto`] speaks the real wire formats of Anthropic
//! Messages, OpenAI Chat Completions and Responses, and Gemini `generateContent`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use aperture_mock::{MockUpstream, Reply};
//! let mut mock = MockUpstream::start(|req| Reply::auto(req)).await?;
//! // ... point the gateway at `mock.base_url()` and send it a request ...
//! let received = mock.next_request().await;
//! assert!(received.is_some_and(|r| r.uri == "/v1/messages"));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod formats;
mod gzip;
mod replies;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use formats::{INPUT_TOKENS, OUTPUT_TOKENS, REPLY_TEXT};
pub use gzip::{crc32, gzip_stored};
pub use replies::{Reply, Then};

/// How long [`MockUpstream::next_request`] and [`MockUpstream::next_close`] wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request method.
    pub method: Method,
    /// Path and query exactly as received (`/v1/messages?beta=true`).
    pub uri: String,
    /// `HTTP/1.1` or `HTTP/2.0` (h2c).
    pub version: Version,
    /// Every header, repeated ones kept in order.
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub body: Bytes,
}

impl Received {
    /// The path part of [`Received::uri`].
    pub fn path(&self) -> &str {
        self.uri
            .split_once('?')
            .map_or(self.uri.as_str(), |(p, _)| p)
    }

    /// The query part of [`Received::uri`], without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// Every value of header `name` in order (non-UTF-8 bytes replaced); empty when absent.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The first value of header `name`, if any and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON; `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A response the client went away from before it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// Path and query of the request it answered.
    pub uri: String,
    /// `false` for a [`Reply::Hang`] (the client gave up waiting for headers).
    pub headers_sent: bool,
    /// How many body chunks had been handed to the connection.
    pub chunks_sent: usize,
}

/// A running mock provider; dropping it stops the listener and closes its connections.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<Received>,
    closes: mpsc::UnboundedReceiver<Closed>,
    connections: Arc<AtomicUsize>,
    record: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Binds `127.0.0.1:0` and answers each request with `script(&received)`.
    pub async fn start(
        script: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<MockUpstream> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (req_tx, requests) = mpsc::unbounded_channel();
        let (close_tx, closes) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let record = Arc::new(AtomicBool::new(true));
        let shared = Arc::new(server::Shared {
            script: Box::new(script),
            requests: req_tx,
            closes: close_tx,
            record: record.clone(),
        });
        let task = tokio::spawn(server::accept_loop(listener, shared, connections.clone()));
        Ok(MockUpstream {
            addr,
            requests,
            closes,
            connections,
            record,
            task,
        })
    }

    /// [`MockUpstream::start`] with [`Reply::auto`].
    pub async fn start_default() -> std::io::Result<MockUpstream> {
        Self::start(Reply::auto).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many TCP connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Stops (or resumes) recording requests, e.g. for benches that never read them.
    pub fn set_recording(&self, on: bool) {
        self.record.store(on, Ordering::SeqCst);
    }

    /// The next recorded request, waiting up to [`WAIT`]; `None` on timeout.
    pub async fn next_request(&mut self) -> Option<Received> {
        self.next_request_within(WAIT).await
    }

    /// The next recorded request, waiting up to `wait`; `None` on timeout.
    pub async fn next_request_within(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.requests.recv())
            .await
            .ok()
            .flatten()
    }

    /// A request already recorded and not yet taken, without waiting.
    pub fn try_next_request(&mut self) -> Option<Received> {
        self.requests.try_recv().ok()
    }

    /// The next response the client dropped before its end (a streamed body still running, or a
    /// [`Reply::Hang`]), waiting up to [`WAIT`]; `None` on timeout.
    pub async fn next_close(&mut self) -> Option<Closed> {
        self.next_close_within(WAIT).await
    }

    /// [`MockUpstream::next_close`] waiting up to `wait`.
    pub async fn next_close_within(&mut self, wait: Duration) -> Option<Closed> {
        tokio::time::timeout(wait, self.closes.recv())
            .await
            .ok()
            .flatten()
    }

    /// A close already reported and not yet taken, without waiting.
    pub fn try_next_close(&mut self) -> Option<Closed> {
        self.closes.try_recv().ok()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
