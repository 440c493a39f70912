//! Refuses calls to any method that has no mcp-auth policy.
//!
//! The generated `server()` of each service checks its own RPCs. A service added to the router
//! without it (a hand-written tonic service, or a generated one mounted by its plain tonic
//! server) would be served unchecked. [`CoverageLayer`] closes that gap: given the policy
//! tables of the services that are meant to be served, it answers every other path with
//! `UNIMPLEMENTED`, as if it did not exist, and records an audit event.
//!
//! ```text
//! Server::builder()
//!     .layer(mcp_auth::coverage::CoverageLayer::new([&tools_auth::POLICY]))
//!     .add_service(tools_auth::server(handlers, authorizer))
//!     .serve(addr)
//! ```

mod layer;
mod service;

pub use layer::CoverageLayer;
pub use service::{Coverage, CoverageFuture};
