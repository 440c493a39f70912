//! Time as the authorization checks see it.
//!
//! Expiry logic never reads the system clock directly: it asks a [`Clock`], so tests can move
//! time with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A future that resolves at a deadline of a [`Clock`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current time, in whole seconds since the Unix epoch (the unit of JWT
/// `exp`, `nbf` and `iat`).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> u64;

    /// Resolves when this clock reaches `deadline` (seconds since the Unix epoch): how streams
    /// end at their credentials' expiry while no message arrives. Needs a tokio runtime.
    fn sleep_until(&self, deadline: u64) -> Sleep;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Waits on tokio's monotonic timer in slices of at most a second, reading the wall clock
    /// between them: the wall clock set forward (an NTP step, a machine resumed from suspend,
    /// which the monotonic clock does not count) is seen within a second.
    fn sleep_until(&self, deadline: u64) -> Sleep {
        const SLICE: Duration = Duration::from_secs(1);
        let at = UNIX_EPOCH + Duration::from_secs(deadline);
        Box::pin(async move {
            while let Ok(wait) = at.duration_since(SystemTime::now()) {
                if wait.is_zero() {
                    break;
                }
                tokio::time::sleep(wait.min(SLICE)).await;
            }
        })
    }

    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            // A clock before 1970 is broken; treating it as the epoch makes every token look
            // issued in the future, which fails closed.
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; cloning it shares the same time.
///
/// ```
/// use mcp_auth::clock::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(30);
/// assert_eq!(clock.now(), 1_030);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(0)
    }
}

impl ManualClock {
    /// A clock that reads `now` seconds since the Unix epoch.
    pub fn new(now: u64) -> Self {
        Self {
            now: Arc::new(tokio::sync::watch::Sender::new(now)),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.now.send_modify(|now| *now += seconds);
    }

    /// Sets the clock to `now` seconds since the Unix epoch.
    pub fn set(&self, now: u64) {
        self.now.send_replace(now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: u64) -> Sleep {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if every clone is gone the
            // time can never reach the deadline, so wait forever rather than fire early.
            if now.wait_for(|now| *now >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
