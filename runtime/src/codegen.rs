//! What the generated code reaches the runtime through. Not a public API: it changes with the
//! code generator.
#![doc(hidden)]

pub use prost_types;
pub use tonic;

pub use crate::arguments;
pub use tonic::async_trait;

pub use crate::authorized::{ProofFor, ProofOf, ProtectedRpc, PublicRpc};
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
