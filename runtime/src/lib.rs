#![doc = include_str!("../README.md")]

pub mod arguments;
pub mod audit;
pub mod authenticate;
mod authorized;
mod authorizer;
pub mod cache;
pub mod claims;
pub mod clock;
#[doc(hidden)]
pub mod codegen;
pub mod coverage;
mod error;
pub mod jwt;
pub mod mtls;
pub mod policy;
pub mod rate_limit;
pub mod server;
mod stream;
pub mod tools;

pub use audit::{AUDIT_TARGET, AuditEvent, AuditSink, Decision};
pub use authenticate::{Authentication, Authenticator, CallContext, Credential};
pub use authorized::{Authorized, ProofFor, Public};
pub use authorizer::{Authorizer, AuthorizerBuilder};
pub use claims::{Claims, StandardClaims};
pub use error::{AuthError, ConfigError};
pub use policy::{MethodPolicy, Policy, ServicePolicy};
pub use server::HardenedServer;
pub use stream::{ExpiringStream, Expiry, GuardedStream, StreamGuard, StreamHooks};

pub use mcp_auth_macros::{Claims, handlers, service};

/// Includes the code `protoc_gen_mcp_auth::Builder` generated for a proto package: prost's
/// messages with tonic's service (`<package>.rs`) and the authorization layer
/// (`<package>.mcp_auth.rs`). Use it inside the module that stands for the package.
///
/// ```text
/// pub mod tools {
///     pub mod v1 {
///         mcp_auth::include_proto!("tools.v1");
///     }
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:tt) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
        include!(concat!(env!("OUT_DIR"), "/", $package, ".mcp_auth.rs"));
    };
}
