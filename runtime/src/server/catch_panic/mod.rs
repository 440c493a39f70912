//! The panic catcher: [`CatchPanicLayer`], its service, future and response body.

mod body;
mod layer;
mod panic;
mod service;

pub use body::CatchPanicBody;
pub use layer::CatchPanicLayer;
pub use panic::PANIC_TARGET;
pub use service::{CatchPanic, CatchPanicFuture};
