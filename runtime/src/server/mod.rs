//! A tonic server with safe limits: [`HardenedServer`], and the two layers it adds to every
//! service, [`CatchPanicLayer`] and [`MessageSizeLimitLayer`].
//!
//! ```text
//! HardenedServer::new()                       // every limit at its documented default
//!     .build()                                // a tonic::transport::Server
//!     .layer(CoverageLayer::new([&tools_auth::POLICY]))
//!     .add_service(tools_auth::server(handlers, authorizer))
//!     .serve(addr)
//! ```

mod builder;
mod catch_panic;
mod message_size;

pub use builder::{HardenedLayers, HardenedServer};
pub use catch_panic::{
    CatchPanic, CatchPanicBody, CatchPanicFuture, CatchPanicLayer, PANIC_TARGET,
};
pub use message_size::{MessageLimitedBody, MessageSizeLimit, MessageSizeLimitLayer};
