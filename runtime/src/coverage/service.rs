use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::http;
use tower_service::Service;

use super::layer::Covered;
use crate::audit::AUDIT_TARGET;

/// Service that refuses calls to methods without a policy; made by
/// [`CoverageLayer`](super::CoverageLayer).
#[derive(Debug, Clone)]
pub struct Coverage<S> {
    inner: S,
    covered: Arc<Covered>,
}

impl<S> Coverage<S> {
    pub(super) fn new(inner: S, covered: Arc<Covered>) -> Self {
        Self { inner, covered }
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

impl<S, B> Service<http::Request<B>> for Coverage<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CoverageFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if self.covered.allows(path) {
            return CoverageFuture {
                state: State::Inner {
                    future: self.inner.call(request),
                },
            };
        }
        tracing::warn!(
            target: AUDIT_TARGET,
            method = path,
            decision = "deny",
            reason = "no_policy",
            "call to a method without an mcp-auth policy refused"
        );
        let refused = tonic::Status::unimplemented("method not found").into_http();
        CoverageFuture {
            state: State::Refused {
                response: Some(refused),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Coverage`].
    pub struct CoverageFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<http::Response<tonic::body::Body>> },
    }
}

impl<F> std::fmt::Debug for CoverageFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoverageFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for CoverageFuture<F>
where
    F: Future<Output = Result<http::Response<tonic::body::Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("CoverageFuture polled after completion"))),
        }
    }
}
