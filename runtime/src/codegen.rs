//! What the generated code reaches the runtime through. Not a public API: it changes with the
//! code generator.
#![doc(hidden)]

pub use prost_types;
pub use tonic;
pub use tonic_prost;

pub use crate::arguments;

pub use crate::authorized::{ProofFor, ProofOf, ProtectedRpc, PublicRpc};
pub use crate::authorizer::Admission;
pub use crate::policy::{
    Access, IdentityRequirement, MethodKind, MethodPolicy, Policy, RateLimit, ServicePolicy,
    StreamChecks,
};
pub use crate::stream::{
    ExpiringBody, Expiry, GuardCodec, GuardDecoder, GuardedBody, StreamFinish, StreamHooks,
};
pub use crate::tools::{
    PromptPolicy, PromptRules, ResourcePolicy, ResourceRules, ToolPolicy, ToolRules,
};
pub use crate::{
    Authorized, Authorizer, Claims, ExpiringStream, GuardedStream, Public, StandardClaims,
    StreamGuard,
};

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use tonic::body::Body;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::codegen::http;
use tonic::server::Grpc;
use tonic_prost::ProstCodec;

/// The future of a generated adapter's method, as tonic's server trait wants it: boxed.
pub type BoxedCall<'a, R> = Pin<Box<dyn Future<Output = Result<R, tonic::Status>> + Send + 'a>>;

/// What a generated adapter's method returns for one call: the handler's future once
/// `admission` admits the caller, or the refusal. `then` runs once the caller is admitted, with
/// its proof; it does what remains before the handler (per-tool checks, the stream guard), and
/// may refuse, then returns the handler's future.
///
/// A check decided at once (every call, unless a remote rate limiter must answer) keeps no
/// state of the check in the future and boxes nothing: tonic's trait method boxes it once. (The
/// generated server checks on the call's head instead, [`with_head`], and hands tonic
/// [`handle_admitted`]'s future.)
#[inline]
pub fn handle_after<'a, A, R, F, H>(admission: Admission<'a, A>, then: F) -> Handled<'a, H, R>
where
    A: Send + 'a,
    R: Send + 'a,
    F: FnOnce(A) -> Result<H, tonic::Status> + Send + 'a,
    H: Future<Output = Result<R, tonic::Status>> + Send + 'a,
{
    match admission {
        Admission::Decided(Ok(proof)) => match then(proof) {
            Ok(handler) => Handled::Handler { handler },
            Err(status) => Handled::Refused {
                status: Some(status),
            },
        },
        Admission::Decided(Err(status)) => Handled::Refused {
            status: Some(status),
        },
        Admission::Waiting(decision) => Handled::Waiting {
            call: Box::pin(async move { then(decision.await?)?.await }),
        },
    }
}

/// Lends the head of `request` (its metadata and extensions) to `read` as a
/// `tonic::Request<()>`, and puts it back. The generated server runs the RPC's admission on
/// it before tonic decodes the message, refusing a caller the way an interceptor does without
/// reading the body, and makes a client stream's guard on it before tonic reads the stream.
#[inline]
pub fn with_head<B, R>(
    request: &mut http::Request<B>,
    read: impl FnOnce(&tonic::Request<()>) -> R,
) -> R {
    let head = tonic::Request::from_parts(
        tonic::metadata::MetadataMap::from_headers(std::mem::take(request.headers_mut())),
        std::mem::take(request.extensions_mut()),
        (),
    );
    let read = read(&head);
    let (metadata, extensions, ()) = head.into_parts();
    *request.headers_mut() = metadata.into_headers();
    *request.extensions_mut() = extensions;
    read
}

pin_project_lite::pin_project! {
    /// A request body that ends in an error where the client sent trailers. gRPC clients never
    /// send request trailers, and tonic merges them into a unary or server-streaming call's
    /// metadata after the decode, over the headers the caller was checked on: the generated
    /// server refuses them rather than let a trailer stand in for a header it checked (the
    /// routed tool's, say, or the `authorization` a handler might read).
    pub struct NoTrailers<B> {
        #[pin]
        inner: B,
    }
}

impl<B> NoTrailers<B> {
    /// Wraps a request body.
    #[inline]
    pub fn new(inner: B) -> Self {
        Self { inner }
    }
}

impl<B> http_body::Body for NoTrailers<B>
where
    B: http_body::Body,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = B::Data;
    type Error = tonic::codegen::StdError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, Self::Error>>> {
        match std::task::ready!(self.project().inner.poll_frame(cx)) {
            Some(Ok(frame)) if frame.is_trailers() => std::task::Poll::Ready(Some(Err(
                tonic::Status::invalid_argument("request trailers are not accepted").into(),
            ))),
            Some(Ok(frame)) => std::task::Poll::Ready(Some(Ok(frame))),
            Some(Err(error)) => std::task::Poll::Ready(Some(Err(error.into()))),
            None => std::task::Poll::Ready(None),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// [`handle_after`] for a caller the generated server admitted on the call's head: `then` runs
/// with its proof once tonic has decoded the message. tonic calls a method's service once per
/// call, so the proof is always there; were it not, the call is refused, never let through.
#[inline]
pub fn handle_admitted<'a, A, R, F, H>(auth: Option<A>, then: F) -> Handled<'a, H, R>
where
    R: Send + 'a,
    F: FnOnce(A) -> Result<H, tonic::Status>,
    H: Future<Output = Result<R, tonic::Status>> + Send + 'a,
{
    let status = match auth.map(then) {
        Some(Ok(handler)) => return Handled::Handler { handler },
        Some(Err(status)) => status,
        None => tonic::Status::internal("the call's admission was already used"),
    };
    Handled::Refused {
        status: Some(status),
    }
}

pin_project_lite::pin_project! {
    /// The future [`handle_after`] returns: the handler's, a refusal, or (when a remote rate
    /// limiter must answer first) the boxed rest of the call.
    #[project = HandledProjection]
    pub enum Handled<'a, H, R> {
        /// The caller was admitted: the handler's future.
        Handler { #[pin] handler: H },
        /// The caller was refused; taken on the first poll.
        Refused { status: Option<tonic::Status> },
        /// Waiting for the rate limiter, then the rest of the checks and the handler.
        Waiting { call: BoxedCall<'a, R> },
    }
}

impl<H, R> Future for Handled<'_, H, R>
where
    H: Future<Output = Result<R, tonic::Status>>,
{
    type Output = Result<R, tonic::Status>;

    #[inline]
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            HandledProjection::Handler { handler } => handler.poll(cx),
            HandledProjection::Refused { status } => std::task::Poll::Ready(Err(status
                .take()
                .expect("a refused call's future is not polled after it answered"))),
            HandledProjection::Waiting { call } => call.as_mut().poll(cx),
        }
    }
}

impl<H, R> std::fmt::Debug for Handled<'_, H, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handler { .. } => f.write_str("Handler"),
            Self::Refused { status } => f.debug_tuple("Refused").field(status).finish(),
            Self::Waiting { .. } => f.write_str("Waiting"),
        }
    }
}

/// A closure as the tower service tonic's `Grpc` calls (tonic implements its four per-kind
/// service traits for tower services): the generated server passes the adapter's method, so
/// tonic awaits that method's future where it is, unboxed.
#[derive(Debug, Clone, Copy)]
pub struct CallWith<F>(pub F);

impl<F, Request, Fut, R> tower_service::Service<Request> for CallWith<F>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<R, tonic::Status>>,
{
    type Response = R;
    type Error = tonic::Status;
    type Future = Fut;

    #[inline]
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), tonic::Status>> {
        std::task::Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: Request) -> Fut {
        (self.0)(request)
    }
}

/// What a generated server's `call` returns: tonic's generated servers' future.
pub type HttpCall = tonic::codegen::BoxFuture<http::Response<Body>, Infallible>;

/// The settings of a generated server that tonic's `Grpc` applies to each call: what tonic's
/// generated servers keep as four fields, with their four setters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerConfig {
    accept_compression: EnabledCompressionEncodings,
    send_compression: EnabledCompressionEncodings,
    max_decoding_message_size: Option<usize>,
    max_encoding_message_size: Option<usize>,
}

impl ServerConfig {
    /// Accepts requests compressed with `encoding`.
    pub fn accept_compressed(&mut self, encoding: CompressionEncoding) {
        self.accept_compression.enable(encoding);
    }

    /// Compresses responses with `encoding` when the client accepts it.
    pub fn send_compressed(&mut self, encoding: CompressionEncoding) {
        self.send_compression.enable(encoding);
    }

    /// The largest message decoded (tonic's default: 4 MiB).
    pub fn max_decoding_message_size(&mut self, limit: usize) {
        self.max_decoding_message_size = Some(limit);
    }

    /// The largest message encoded (tonic's default: no limit).
    pub fn max_encoding_message_size(&mut self, limit: usize) {
        self.max_encoding_message_size = Some(limit);
    }

    /// tonic's handler of one call with the prost codec, configured.
    #[inline]
    pub fn grpc<E, D>(self) -> Grpc<ProstCodec<E, D>>
    where
        E: prost::Message + Send + 'static,
        D: prost::Message + Default + Send + 'static,
    {
        self.configure(ProstCodec::default())
    }

    /// tonic's handler of a streaming call whose inbound stream `guard` checks: the prost
    /// codec with the guard's decoder, the request with the guard's body, and what makes the
    /// handler's stream from tonic's ([`StreamGuard::split`](crate::StreamGuard::split)).
    #[inline]
    pub fn guarded_grpc<E, D, B>(
        self,
        guard: crate::StreamGuard<D>,
        request: http::Request<B>,
    ) -> GuardedGrpc<E, D, B>
    where
        E: prost::Message + Send + 'static,
        D: prost::Message + Default + Send + 'static,
    {
        let (head, body) = request.into_parts();
        let (codec, body, finish) = guard.split(ProstCodec::default(), body);
        (
            self.configure(codec),
            http::Request::from_parts(head, body),
            finish,
        )
    }

    fn configure<C: tonic::codec::Codec>(self, codec: C) -> Grpc<C> {
        Grpc::new(codec)
            .apply_compression_config(self.accept_compression, self.send_compression)
            .apply_max_message_size_config(
                self.max_decoding_message_size,
                self.max_encoding_message_size,
            )
    }
}

/// What [`ServerConfig::guarded_grpc`] returns: tonic's handler with the guard's codec, the
/// request with the guard's body, and what makes the handler's stream.
pub type GuardedGrpc<E, D, B> = (
    Grpc<GuardCodec<ProstCodec<E, D>>>,
    http::Request<GuardedBody<B>>,
    StreamFinish<D>,
);

/// Ends a generated server's server-streaming response at `expiry`, with `UNAUTHENTICATED`
/// in its trailers ([`ExpiringBody`]); a response that never expires is left as it is.
#[inline]
pub fn expiring_response<C: Claims>(
    authorizer: &Authorizer<C>,
    expiry: Expiry,
    response: http::Response<Body>,
) -> http::Response<Body> {
    if expiry.is_never() {
        return response;
    }
    response.map(|body| Body::new(authorizer.expiring_body(expiry, body)))
}

/// The answer to a path the service does not have: `UNIMPLEMENTED`, as tonic's generated
/// servers give it.
pub fn unimplemented() -> HttpCall {
    let mut response = http::Response::new(Body::default());
    let headers = response.headers_mut();
    headers.insert(
        tonic::Status::GRPC_STATUS,
        http::HeaderValue::from(tonic::Code::Unimplemented as i32),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    Box::pin(std::future::ready(Ok(response)))
}
