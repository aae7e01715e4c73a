//! A response body that ends with an error when its upstream falls silent.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

/// The error a stream ends with when no byte arrived for the idle limit.
#[derive(Debug)]
pub struct StreamIdleTimeout;

impl std::fmt::Display for StreamIdleTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream idle timeout")
    }
}

impl std::error::Error for StreamIdleTimeout {}

pin_project! {
    /// Wraps a body; if no frame arrives within `limit`, the body fails with
    /// [`StreamIdleTimeout`] (which aborts the client connection) and the inner body is dropped
    /// (which closes the upstream connection).
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Option<Sleep>,
        limit: Option<Duration>,
    }
}

impl<B> IdleTimeout<B> {
    /// Wraps `inner`; `None` never times out.
    pub fn new(inner: B, limit: Option<Duration>) -> Self {
        let sleep = limit.map(tokio::time::sleep);
        Self {
            inner,
            sleep,
            limit,
        }
    }
}

impl<B> HttpBody for IdleTimeout<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                if let (Some(sleep), Some(limit)) = (this.sleep.as_mut().as_pin_mut(), *this.limit)
                {
                    sleep.reset(Instant::now() + limit);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
                    ready!(sleep.poll(cx));
                    return Poll::Ready(Some(Err(Box::new(StreamIdleTimeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
