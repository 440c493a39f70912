//! What the generated code reaches the runtime through. Not a public API: it changes with the
//! code generator.
#![doc(hidden)]

pub use prost_types;
pub use tonic;

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

use std::future::Future;
use std::pin::Pin;

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
