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
pub use crate::stream::{Expiry, StreamHooks};
pub use crate::tools::{
    PromptPolicy, PromptRules, ResourcePolicy, ResourceRules, ToolPolicy, ToolRules,
};
pub use crate::{
    Authorized, Authorizer, Claims, ExpiringStream, GuardedStream, Public, StandardClaims,
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

/// What a generated adapter returns for one call: `then` runs once `admission` admits the
/// caller, with its proof; it does what remains before the handler (per-tool checks, the stream
/// guard), and may refuse, then returns the handler's future.
///
/// A check decided at once (every call, unless a remote rate limiter must answer) boxes that
/// future alone: no state of the check travels with the call, where an `async` adapter carries
/// the request twice and the check's future beside the handler's.
#[inline]
pub fn handle_after<'a, A, R, F, H>(admission: Admission<'a, A>, then: F) -> BoxedCall<'a, R>
where
    A: Send + 'a,
    R: Send + 'a,
    F: FnOnce(A) -> Result<H, tonic::Status> + Send + 'a,
    H: Future<Output = Result<R, tonic::Status>> + Send + 'a,
{
    match admission {
        Admission::Decided(Ok(proof)) => match then(proof) {
            Ok(handler) => Box::pin(handler),
            Err(status) => Box::pin(std::future::ready(Err(status))),
        },
        Admission::Decided(Err(status)) => Box::pin(std::future::ready(Err(status))),
        Admission::Waiting(decision) => Box::pin(async move { then(decision.await?)?.await }),
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
        Grpc::new(ProstCodec::default())
            .apply_compression_config(self.accept_compression, self.send_compression)
            .apply_max_message_size_config(
                self.max_decoding_message_size,
                self.max_encoding_message_size,
            )
    }
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
