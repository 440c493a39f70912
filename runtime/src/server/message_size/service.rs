use std::task::{Context, Poll};

use tonic::codegen::{Bytes, http};
use tower_service::Service;

use super::body::MessageLimitedBody;

/// Service that refuses inbound gRPC messages larger than a limit; made by
/// [`MessageSizeLimitLayer`](super::MessageSizeLimitLayer).
///
/// The inner service receives the request with its body wrapped and boxed as a
/// [`tonic::body::Body`], the type tonic's router and generated servers take.
#[derive(Debug, Clone)]
pub struct MessageSizeLimit<S> {
    inner: S,
    max: usize,
}

impl<S> MessageSizeLimit<S> {
    /// Wraps `inner`, refusing messages larger than `max` bytes.
    pub fn new(inner: S, max: usize) -> Self {
        Self { inner, max }
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

impl<S, ReqBody> Service<http::Request<ReqBody>> for MessageSizeLimit<S>
where
    S: Service<http::Request<tonic::body::Body>>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let max = self.max;
        self.inner
            .call(request.map(|body| tonic::body::Body::new(MessageLimitedBody::new(body, max))))
    }
}
