use tower_layer::Layer;

use super::service::CatchPanic;

/// Layer that answers `INTERNAL` when a handler panics, and keeps the connection serving.
///
/// Without it a panicking handler takes down the task hyper runs its HTTP/2 stream on: h2
/// resets the stream with `CANCEL`, the caller reads a transport error (tonic's client reports
/// `CANCELLED`, "h2 protocol error", as if the caller had cancelled), and nothing says which
/// method failed. The layer catches the unwind in the service's `call`, in its response future
/// (unary and client-streaming handlers, and the opening of every streaming handler) and in the
/// response body (the stream a server- or bidirectional-streaming handler returned), and ends
/// the call with `INTERNAL` ("internal error"): in the trailers after the messages already sent,
/// when the response stream panics (messages tonic had encoded but not yet sent in the same
/// poll are lost with the panic). The panic message is logged as a `tracing` error with the
/// target [`PANIC_TARGET`](super::PANIC_TARGET); it never reaches the caller.
///
/// The unwind is caught with [`std::panic::AssertUnwindSafe`]: the state the panicking call owned
/// is dropped with it, and state shared with other calls is the handler's to keep consistent (a
/// `std::sync::Mutex` held across the panic is poisoned, and later calls see that). Nothing is
/// caught when the binary is built with `panic = "abort"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer {
    _private: (),
}

impl CatchPanicLayer {
    /// A layer that catches the panics of every service it wraps.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic::new(inner)
    }
}
