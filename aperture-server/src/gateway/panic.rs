//! A panic in a request becomes a 500 in the caller's format; the gateway keeps serving.
//!
//! tower-http's `CatchPanicLayer` does the same but boxes every response body a second time;
//! this one keeps the gateway's body type, so the hot path pays nothing but a `catch_unwind`
//! around each poll. It sits outermost (a backstop for everything) and again just inside the
//! record layer, so that a panic in identity, routing, an embedder's check or the proxy is
//! answered in the caller's native envelope and recorded as a 500.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use tower::{Layer, Service};

use super::{Res, Target};
use crate::error::Error;

/// Catches panics of the inner service's `call` and future.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl CatchPanicLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

/// The service of [`CatchPanicLayer`].
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

fn panic_response(target: &Target) -> Res {
    tracing::error!("a request handler panicked; answered 500");
    Error::Internal("internal error".into()).respond(target)
}

impl<S, B> Service<Request<B>> for CatchPanic<S>
where
    B: Send + 'static,
    S: Service<Request<B>, Response = Res, Error = Infallible>,
{
    type Response = Res;
    type Error = Infallible;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Before classification there is no target: a management-style 500.
        let target = req
            .extensions()
            .get::<Target>()
            .cloned()
            .unwrap_or(Target::Metrics);
        let inner = &mut self.inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
            Ok(fut) => CatchPanicFuture {
                state: State::Inner {
                    fut,
                    target: Some(target),
                },
            },
            Err(_) => CatchPanicFuture {
                state: State::Panicked {
                    res: Some(panic_response(&target)),
                },
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CatchPanic`].
    pub struct CatchPanicFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = Proj]
    enum State<F> {
        // The inner future, polled inside `catch_unwind`; what the 500 is shaped for.
        Inner { #[pin] fut: F, target: Option<Target> },
        // `call` panicked: the 500, once.
        Panicked { res: Option<Res> },
    }
}

impl<F> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<Res, Infallible>>,
{
    type Output = Result<Res, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Proj::Inner { fut, target } => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                    Ok(p) => p,
                    Err(_) => {
                        let target = target.take().unwrap_or(Target::Metrics);
                        Poll::Ready(Ok(panic_response(&target)))
                    }
                }
            }
            Proj::Panicked { res } => match res.take() {
                Some(res) => Poll::Ready(Ok(res)),
                None => Poll::Pending,
            },
        }
    }
}
