//! The response body that observes what it relays and emits the record when it ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use aperture_log::usage::Observer;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::{Outcome, Pending};
use crate::body::{Body, BoxError};

/// Relays `inner` unchanged; a copy of each data chunk goes to the observer.
pub(crate) struct RecordBody {
    inner: Body,
    observer: Option<Observer>,
    pending: Option<Pending>,
    first_byte: Option<Instant>,
}

impl RecordBody {
    pub(crate) fn new(inner: Body, observer: Option<Observer>, pending: Pending) -> Self {
        Self {
            inner,
            observer,
            pending: Some(pending),
            first_byte: None,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(pending) = self.pending.take() {
            let observation = self.observer.take().map(Observer::finish);
            pending.finish(observation, self.first_byte, outcome);
        }
    }
}

impl HttpBody for RecordBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.first_byte.get_or_insert_with(Instant::now);
                    if let Some(p) = this.pending.as_mut() {
                        p.bytes_out += data.len() as u64;
                    }
                    if let Some(o) = this.observer.as_mut() {
                        o.push(data);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(Outcome::Failed(e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish(Outcome::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordBody {
    fn drop(&mut self) {
        // Dropped before its end: the client went away (hyper drops the body), or the body was
        // never polled (an empty answer to a HEAD, say). Either way the request is on the record.
        // A stream whose terminal event was relayed is complete even if the client closes
        // before the body's last bytes (Codex stops reading at `response.completed`): it keeps
        // the provider's status and the usage of that event. 499 is for clients that leave
        // before it.
        if let Some(pending) = self.pending.take() {
            let observation = self.observer.take().map(Observer::finish);
            let delivered = observation
                .as_ref()
                .is_some_and(|o| o.stream && !o.incomplete);
            let outcome = if self.inner.is_end_stream() || delivered {
                Outcome::Complete
            } else {
                Outcome::ClientGone
            };
            pending.finish(observation, self.first_byte, outcome);
        }
    }
}
