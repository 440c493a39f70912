//! The server-wide message size limit: [`MessageSizeLimitLayer`], its service and request body.

mod body;
mod layer;
mod service;

pub use body::MessageLimitedBody;
pub use layer::MessageSizeLimitLayer;
pub use service::MessageSizeLimit;
