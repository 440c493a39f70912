//! The inbound stream of a client- or bidirectional-streaming call, checked message by message.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::tokio_stream::Stream;
use tonic::{Status, Streaming};

use crate::audit::{AuditEvent, Auditor, Decision};
use crate::clock::Clock;
use crate::error::AuthError;
use crate::policy::MethodPolicy;

/// The stream a streaming handler receives instead of [`tonic::Streaming`].
///
/// Before each message reaches the handler, the guard re-checks the caller's token expiry
/// (unless the proto sets `unchecked_expiry`). An expired token ends the stream with
/// `UNAUTHENTICATED` ("token expired; reconnect with fresh credentials"), and nothing after it is
/// read.
pub struct GuardedStream<T> {
    inner: Streaming<T>,
    policy: &'static MethodPolicy,
    subject: Option<Arc<str>>,
    expires_at: Option<u64>,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
    ended: bool,
}

impl<T> GuardedStream<T> {
    pub(crate) fn new(
        inner: Streaming<T>,
        policy: &'static MethodPolicy,
        subject: Option<Arc<str>>,
        expires_at: Option<u64>,
        clock: Arc<dyn Clock>,
        auditor: Auditor,
    ) -> Self {
        Self {
            inner,
            policy,
            subject,
            expires_at,
            clock,
            auditor,
            ended: false,
        }
    }

    /// The next message, `Ok(None)` at the end of the stream, or the error that ended it.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    fn check(&self) -> Result<(), AuthError> {
        match self.expires_at {
            Some(exp) if self.clock.now() >= exp => Err(AuthError::Expired),
            _ => Ok(()),
        }
    }
}

impl<T> Stream for GuardedStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let message = match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => message,
            Poll::Ready(None) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            other => return other,
        };
        match self.check() {
            Ok(()) => Poll::Ready(Some(Ok(message))),
            Err(error) => {
                self.ended = true;
                let detail = error.to_string();
                self.auditor.record(&AuditEvent {
                    method: self.policy.path,
                    subject: self.subject.as_deref(),
                    certificate: None,
                    decision: Decision::Deny,
                    reason: error.reason(),
                    detail: Some(&detail),
                });
                Poll::Ready(Some(Err(error.to_status())))
            }
        }
    }
}

impl<T> fmt::Debug for GuardedStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedStream")
            .field("method", &self.policy.path)
            .field("subject", &self.subject)
            .field("expires_at", &self.expires_at)
            .field("ended", &self.ended)
            .finish()
    }
}
