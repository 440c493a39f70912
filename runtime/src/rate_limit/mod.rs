//! Rate limits per caller identity, on calls and on stream messages.
//!
//! Every call, and every message of a client stream, is counted against a GCRA budget keyed by
//! the RPC and the caller's identity (the token's subject, else the certificate's identity; the
//! peer's IP address for public RPCs), never by connection: a new connection or stream does not
//! reset the budget, and two streams of one caller share it.
//!
//! The limits come from the proto (`rate_limit` in a method rule) or, where it says nothing,
//! from the server's defaults ([`DEFAULT_CALL_LIMIT`], [`DEFAULT_MESSAGE_LIMIT`]); turning the
//! defaults off is explicit (`AuthorizerBuilder::no_default_rate_limits`).
//!
//! [`InMemoryRateLimiter`] (GCRA in a sharded table of atomics) is the default; a [`RateLimiter`] backed by a store
//! shared between replicas makes several servers enforce one budget: `RedisRateLimiter`, behind
//! the `redis` cargo feature, runs the same GCRA atomically in Redis.

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[cfg(feature = "redis")]
pub use self::redis::{RedisRateLimiter, RedisRateLimiterBuilder};
#[cfg(test)]
pub(crate) use memory::frozen_budgets;
pub use memory::{Budget, InMemoryRateLimiter};

pub use crate::policy::RateLimit;

/// The server's default call limit per caller and RPC where the proto sets none: 100 calls per
/// second, bursts of 200.
pub const DEFAULT_CALL_LIMIT: RateLimit = RateLimit::new(100, 200);

/// The server's default stream-message limit per caller and RPC where the proto sets none:
/// 1,000 messages per second, bursts of 2,000.
pub const DEFAULT_MESSAGE_LIMIT: RateLimit = RateLimit::new(1_000, 2_000);

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKind {
    /// A call (a unary request, or the opening of a stream).
    Call,
    /// One message of a client stream.
    Message,
}

/// Whose budget an event is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateKey<'a> {
    /// The RPC's path, e.g. `/mcp.McpService/CallTool`.
    pub method: &'static str,
    /// Calls or messages.
    pub kind: RateKind,
    /// The caller: a subject, a certificate identity, or `peer:<ip>` on public RPCs.
    pub identity: &'a str,
}

impl RateKey<'_> {
    /// One string naming the budget, for stores keyed by strings.
    pub fn to_key_string(&self) -> String {
        let kind = match self.kind {
            RateKind::Call => "c",
            RateKind::Message => "m",
        };
        format!("{kind}\u{1f}{}\u{1f}{}", self.method, self.identity)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateOutcome {
    /// Within budget.
    Allowed,
    /// Over budget; the caller may retry after the delay.
    Limited {
        /// When the next event would be allowed.
        retry_after: Duration,
    },
    /// The limiter could not decide (its store is unreachable). Denied unless the authorizer
    /// was told to allow in that case.
    Unavailable(String),
}

/// A check that is decided at once, or later (for limiters that ask a remote store).
pub enum RateCheck {
    /// Decided.
    Ready(RateOutcome),
    /// To be awaited.
    Pending(Pin<Box<dyn Future<Output = RateOutcome> + Send + 'static>>),
}

impl fmt::Debug for RateCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready(outcome) => f.debug_tuple("Ready").field(outcome).finish(),
            Self::Pending(_) => f.write_str("Pending"),
        }
    }
}

impl RateCheck {
    /// Waits for the outcome.
    pub async fn outcome(self) -> RateOutcome {
        match self {
            Self::Ready(outcome) => outcome,
            Self::Pending(future) => future.await,
        }
    }
}

/// Counts events against per-identity budgets.
pub trait RateLimiter: Send + Sync + fmt::Debug + 'static {
    /// Counts one event for `key` under `limit`.
    fn check(&self, key: &RateKey<'_>, limit: RateLimit) -> RateCheck;

    /// The budget of `key` under `limit`, looked up once for a stream that counts each of its
    /// messages against it; `None` (the default) makes the stream call [`check`](Self::check)
    /// for every message, as a limiter backed by a shared store needs.
    fn budget(&self, key: &RateKey<'_>, limit: RateLimit) -> Option<Budget> {
        let _ = (key, limit);
        None
    }
}

impl<L: RateLimiter + ?Sized> RateLimiter for std::sync::Arc<L> {
    fn check(&self, key: &RateKey<'_>, limit: RateLimit) -> RateCheck {
        (**self).check(key, limit)
    }

    fn budget(&self, key: &RateKey<'_>, limit: RateLimit) -> Option<Budget> {
        (**self).budget(key, limit)
    }
}
