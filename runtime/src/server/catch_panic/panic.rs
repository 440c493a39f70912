//! What a caught panic becomes: the status the caller sees and the event the server logs.

/// The `tracing` target of the events logged when a handler panics.
pub const PANIC_TARGET: &str = "mcp_auth::server::panic";

/// The status a panicking call ends with.
pub(super) fn internal() -> tonic::Status {
    tonic::Status::internal("internal error")
}

/// Logs a caught panic with the method it happened in.
pub(super) fn report(method: &str, payload: &(dyn std::any::Any + Send)) {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic payload that is not a string");
    tracing::error!(
        target: PANIC_TARGET,
        method,
        panic = message,
        "handler panicked; the call ends with INTERNAL"
    );
}
