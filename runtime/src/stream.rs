//! Streams under guard: the inbound stream of a client- or bidirectional-streaming call, checked
//! message by message, and the response stream of a server-streaming call, ended at expiry.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::tokio_stream::Stream;
use tonic::{Status, Streaming};

use crate::audit::{AuditEvent, Auditor, Decision};
use crate::authorizer::Limits;
use crate::clock::{Clock, Sleep};
use crate::error::AuthError;
use crate::policy::MethodPolicy;
use crate::rate_limit::{RateCheck, RateKey, RateKind, RateLimit, RateOutcome};

/// A rate-limit decision a remote store has not given yet.
type PendingCheck = Pin<Box<dyn Future<Output = RateOutcome> + Send>>;

/// The per-message rate limit of one stream: the caller's budget for the RPC's messages,
/// shared with its other streams.
#[derive(Debug, Clone)]
pub(crate) struct MessageLimit {
    pub(crate) limits: Limits,
    pub(crate) limit: RateLimit,
    pub(crate) identity: Arc<str>,
}

/// Ends a stream at a deadline of the clock: created lazily, so a stream that never waits
/// never starts a timer.
struct Deadline {
    at: u64,
    clock: Arc<dyn Clock>,
    sleep: Option<Sleep>,
}

impl Deadline {
    fn new(at: Option<u64>, clock: &Arc<dyn Clock>) -> Option<Self> {
        at.map(|at| Self {
            at,
            clock: Arc::clone(clock),
            sleep: None,
        })
    }

    fn passed(&self) -> bool {
        self.clock.now() >= self.at
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (at, clock) = (self.at, &self.clock);
        self.sleep
            .get_or_insert_with(|| clock.sleep_until(at))
            .as_mut()
            .poll(cx)
    }
}

/// The stream a streaming handler receives instead of [`tonic::Streaming`].
///
/// Before each message reaches the handler, the guard
/// - re-checks the caller's credential expiry (unless the proto sets `unchecked_expiry`): an
///   expired token ends the stream with `UNAUTHENTICATED` ("token expired; reconnect with fresh
///   credentials"), and so does reaching the expiry while no message arrives;
/// - counts the message against the caller's message budget for the RPC (unless the proto sets
///   `unlimited_messages`), shared by all its streams: over budget ends the stream with
///   `RESOURCE_EXHAUSTED` and the retry delay.
///
/// A refused message never reaches the handler, and nothing after it is read.
pub struct GuardedStream<T> {
    inner: Streaming<T>,
    policy: &'static MethodPolicy,
    subject: Option<Arc<str>>,
    deadline: Option<Deadline>,
    auditor: Auditor,
    limit: Option<MessageLimit>,
    /// A message waiting for a rate-limit decision from a remote store.
    checking: Option<(Box<T>, PendingCheck)>,
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
        limit: Option<MessageLimit>,
    ) -> Self {
        Self {
            inner,
            policy,
            subject,
            deadline: Deadline::new(expires_at, &clock),
            auditor,
            limit,
            checking: None,
            ended: false,
        }
    }

    /// The next message, `Ok(None)` at the end of the stream, or the error that ended it.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Ends the stream with `error`, auditing the refusal.
    fn refuse(&mut self, error: &AuthError) -> Poll<Option<Result<T, Status>>> {
        self.ended = true;
        self.checking = None;
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

    /// Decides on a message the rate limiter has answered for.
    fn admit(&mut self, message: T, outcome: RateOutcome) -> Poll<Option<Result<T, Status>>> {
        let decision = match &self.limit {
            Some(limit) => limit.limits.decide(outcome),
            None => Ok(()),
        };
        match decision {
            Ok(()) => Poll::Ready(Some(Ok(message))),
            Err(error) => self.refuse(&error),
        }
    }
}

impl<T> Stream for GuardedStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some((_, check)) = &mut this.checking {
            let outcome = std::task::ready!(check.as_mut().poll(cx));
            let (message, _) = this.checking.take().expect("checked above");
            return this.admit(*message, outcome);
        }
        let message = match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => message,
            Poll::Ready(None) => {
                this.ended = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(status))) => return Poll::Ready(Some(Err(status))),
            Poll::Pending => {
                // No message yet: the stream still ends when the credentials expire.
                if let Some(deadline) = &mut this.deadline
                    && deadline.poll(cx).is_ready()
                {
                    return this.refuse(&AuthError::Expired);
                }
                return Poll::Pending;
            }
        };
        if this.deadline.as_ref().is_some_and(Deadline::passed) {
            return this.refuse(&AuthError::Expired);
        }
        let Some(limit) = &this.limit else {
            return Poll::Ready(Some(Ok(message)));
        };
        let key = RateKey {
            method: this.policy.path,
            kind: RateKind::Message,
            identity: &limit.identity,
        };
        match limit.limits.start(limit.limit, key) {
            RateCheck::Ready(outcome) => this.admit(message, outcome),
            RateCheck::Pending(mut check) => match check.as_mut().poll(cx) {
                Poll::Ready(outcome) => this.admit(message, outcome),
                Poll::Pending => {
                    this.checking = Some((Box::new(message), check));
                    Poll::Pending
                }
            },
        }
    }
}

impl<T> fmt::Debug for GuardedStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedStream")
            .field("method", &self.policy.path)
            .field("subject", &self.subject)
            .field("expires_at", &self.deadline.as_ref().map(|d| d.at))
            .field("limit", &self.limit.as_ref().map(|l| l.limit))
            .field("ended", &self.ended)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The response stream of a server-streaming RPC as the client receives it: the handler's
    /// stream, ended with `UNAUTHENTICATED` when the caller's credentials expire.
    pub struct ExpiringStream<S> {
        #[pin]
        inner: S,
        deadline: Option<Deadline>,
        ended: bool,
    }
}

impl<S> ExpiringStream<S> {
    pub(crate) fn new(inner: S, expires_at: Option<u64>, clock: &Arc<dyn Clock>) -> Self {
        Self {
            inner,
            deadline: Deadline::new(expires_at, clock),
            ended: false,
        }
    }
}

impl<S, T> Stream for ExpiringStream<S>
where
    S: Stream<Item = Result<T, Status>>,
{
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let expired = match this.deadline {
            Some(deadline) => deadline.passed() || deadline.poll(cx).is_ready(),
            None => false,
        };
        if expired {
            *this.ended = true;
            return Poll::Ready(Some(Err(AuthError::Expired.to_status())));
        }
        let item = std::task::ready!(this.inner.poll_next(cx));
        if item.is_none() {
            *this.ended = true;
        }
        Poll::Ready(item)
    }
}

impl<S> fmt::Debug for ExpiringStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpiringStream")
            .field("expires_at", &self.deadline.as_ref().map(|d| d.at))
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
