#![doc = include_str!("../README.md")]

pub mod authenticate;
mod authorized;
mod authorizer;
pub mod claims;
pub mod clock;
#[doc(hidden)]
pub mod codegen;
mod error;
pub mod jwt;
pub mod policy;
mod stream;

pub use authenticate::{Authentication, Authenticator, CallContext, Credential};
pub use authorized::{Authorized, ProofFor, Public};
pub use authorizer::{AUDIT_TARGET, Authorizer};
pub use claims::{Claims, StandardClaims};
pub use error::{AuthError, ConfigError};
pub use policy::{MethodPolicy, Policy, ServicePolicy};
pub use stream::GuardedStream;

pub use mcp_auth_macros::{handlers, service};
