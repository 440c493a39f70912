use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::{Bytes, http};
use tower_service::Service;

use super::body::CatchPanicBody;
use super::panic::{internal, report};

/// Service that turns a panicking handler into an `INTERNAL` status; made by
/// [`CatchPanicLayer`](super::CatchPanicLayer).
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S> CatchPanic<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CatchPanic<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = request.uri().clone();
        let inner = &mut self.inner;
        let state = match catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => State::Running { future },
            Err(payload) => State::Panicked {
                payload: Some(payload),
            },
        };
        CatchPanicFuture { state, method }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`CatchPanic`].
    pub struct CatchPanicFuture<F> {
        #[pin]
        state: State<F>,
        method: http::Uri,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F },
        Panicked { payload: Option<Box<dyn Any + Send>> },
        Done,
    }
}

impl<F> std::fmt::Debug for CatchPanicFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchPanicFuture")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<http::Response<tonic::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let payload = match this.state.as_mut().project() {
            StateProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => {
                        this.state.set(State::Done);
                        let method = this.method.path().to_owned();
                        return Poll::Ready(result.map(|response| {
                            response.map(|body| {
                                tonic::body::Body::new(CatchPanicBody::new(body, method))
                            })
                        }));
                    }
                    Err(payload) => payload,
                }
            }
            StateProj::Panicked { payload } => payload
                .take()
                .expect("CatchPanicFuture polled after completion"),
            StateProj::Done => panic!("CatchPanicFuture polled after completion"),
        };
        // The panicked future is dropped here, never polled again.
        this.state.set(State::Done);
        report(this.method.path(), payload.as_ref());
        Poll::Ready(Ok(internal().into_http()))
    }
}
