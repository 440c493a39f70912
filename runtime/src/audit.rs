//! Every authorization decision, as data.
//!
//! Each allow and deny is a `tracing` event with the target [`AUDIT_TARGET`] and the fields
//! `method`, `subject`, `certificate`, `decision`, `reason` (and `detail` on denials). An
//! [`AuditSink`] receives the same events as values, for shipping them elsewhere. Events never
//! contain the token or key material.

use std::fmt;
use std::sync::Arc;

/// The target of the `tracing` events for every authorization decision.
pub const AUDIT_TARGET: &str = "mcp_auth::audit";

/// Whether a call (or stream message) was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Let through.
    Allow,
    /// Refused.
    Deny,
}

impl Decision {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// One authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEvent<'a> {
    /// The HTTP/2 path of the RPC, e.g. `/mcp.McpService/CallTool`.
    pub method: &'a str,
    /// The token's subject, when a token was verified.
    pub subject: Option<&'a str>,
    /// The client certificate's identity, when one was verified.
    pub certificate: Option<&'a str>,
    /// Allowed or denied.
    pub decision: Decision,
    /// A short machine-readable reason: `authorized`, `public`, `missing_credentials`,
    /// `invalid_token`, `insufficient_scope`, `token_expired`...
    pub reason: &'a str,
    /// What exactly failed, on denials (never the token itself).
    pub detail: Option<&'a str>,
}

/// Receives every authorization decision.
pub trait AuditSink: Send + Sync + 'static {
    /// Records one decision. Called on the request path: keep it cheap (queue, don't block).
    fn record(&self, event: &AuditEvent<'_>);
}

impl<F> AuditSink for F
where
    F: Fn(&AuditEvent<'_>) + Send + Sync + 'static,
{
    fn record(&self, event: &AuditEvent<'_>) {
        self(event)
    }
}

/// Emits the tracing event and feeds the sink.
#[derive(Clone, Default)]
pub(crate) struct Auditor {
    sink: Option<Arc<dyn AuditSink>>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("sink", &self.sink.as_ref().map(|_| "AuditSink"))
            .finish()
    }
}

impl Auditor {
    pub(crate) fn new(sink: Option<Arc<dyn AuditSink>>) -> Self {
        Self { sink }
    }

    #[inline]
    pub(crate) fn record(&self, event: &AuditEvent<'_>) {
        match event.decision {
            Decision::Allow => tracing::info!(
                target: AUDIT_TARGET,
                method = event.method,
                subject = event.subject,
                certificate = event.certificate,
                decision = "allow",
                reason = event.reason,
                "authorization decision"
            ),
            Decision::Deny => tracing::warn!(
                target: AUDIT_TARGET,
                method = event.method,
                subject = event.subject,
                certificate = event.certificate,
                decision = "deny",
                reason = event.reason,
                detail = event.detail,
                "authorization decision"
            ),
        }
        if let Some(sink) = &self.sink {
            sink.record(event);
        }
    }
}
