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
    /// which the monotonic clock does not count) is seen within a second. It ends when
    /// [`now`](Clock::now) reads the deadline, which is what its callers check: should the
    /// kernel's coarse clock run late (see `now`), it waits for it in 5 ms steps.
    fn sleep_until(&self, deadline: u64) -> Sleep {
        const SLICE: Duration = Duration::from_secs(1);
        const CATCH_UP: Duration = Duration::from_millis(5);
        let at = UNIX_EPOCH + Duration::from_secs(deadline);
        let clock = *self;
        Box::pin(async move {
            loop {
                match at.duration_since(SystemTime::now()) {
                    Ok(wait) if !wait.is_zero() => tokio::time::sleep(wait.min(SLICE)).await,
                    _ if clock.now() >= deadline => break,
                    _ => tokio::time::sleep(CATCH_UP).await,
                }
            }
        })
    }

    /// The second of the precise wall clock (`SystemTime::now`), read the cheap way where
    /// there is one: every authorized call reads it.
    ///
    /// On Linux it comes from the kernel's coarse clock (`CLOCK_REALTIME_COARSE`: the time of
    /// the kernel's last tick, what glibc's `time()` returns), read through the vDSO in a few
    /// nanoseconds, where the precise clock costs 25-45 ns inside a busy server (measured:
    /// BENCHMARKS.md). Both come from the kernel's timekeeping and the coarse one lags by up
    /// to a tick (1-10 ms; never ahead), so its second is the precise clock's whenever it
    /// reads well before the next second: at least twice its resolution, and at least 10 ms.
    /// Nearer the next second the precise clock is read. So an `nbf` or `iat` is never reached
    /// early, and an `exp` is passed on time unless the kernel's ticks run later than that
    /// margin (a guest paused by its host, say): then, in the first moments of a second, this
    /// reads the previous one, and an `exp` is passed that much late at most.
    #[inline]
    fn now(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(second) = coarse::now() {
            return second;
        }
        precise_seconds()
    }
}

/// The precise wall clock's second.
fn precise_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        // A clock before 1970 is broken; treating it as the epoch makes every token look
        // issued in the future, which fails closed.
        .unwrap_or(0)
}

/// The kernel's coarse wall clock, where its second is the precise clock's.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use std::sync::OnceLock;

    use rustix::time::{ClockId, DynamicClockId, Timespec, clock_getres, clock_gettime_dynamic};

    const NANOS_PER_SEC: i64 = 1_000_000_000;
    /// The least distance from the next second at which a coarse reading is trusted.
    const MIN_MARGIN_NANOS: i64 = 10_000_000;
    /// A coarse clock with a resolution above this is not used.
    const MAX_TICK_NANOS: i64 = 50_000_000;

    /// The coarse clock's second, or `None` where the precise clock must be read.
    #[inline]
    pub(super) fn now() -> Option<u64> {
        let margin = margin()?;
        second(read().ok()?, margin)
    }

    /// The coarse clock, an error rather than a panic where the kernel refuses it.
    #[inline]
    fn read() -> rustix::io::Result<Timespec> {
        clock_gettime_dynamic(DynamicClockId::Known(ClockId::RealtimeCoarse))
    }

    /// How far before the next second a coarse reading must be (twice the clock's resolution,
    /// at least [`MIN_MARGIN_NANOS`]); `None` if the coarse clock is not usable here.
    #[inline]
    fn margin() -> Option<i64> {
        static MARGIN: OnceLock<Option<i64>> = OnceLock::new();
        *MARGIN.get_or_init(|| {
            // rustix's `clock_getres` cannot report an error: ask only of a clock that reads.
            read().ok()?;
            let tick = nanos(clock_getres(ClockId::RealtimeCoarse))?;
            (tick > 0 && tick <= MAX_TICK_NANOS).then(|| (2 * tick).max(MIN_MARGIN_NANOS))
        })
    }

    /// `reading`'s second if it is at least `margin` before the next one.
    #[inline]
    pub(super) fn second(reading: Timespec, margin: i64) -> Option<u64> {
        if (0..NANOS_PER_SEC - margin).contains(&subsec_nanos(&reading)) {
            u64::try_from(reading.tv_sec).ok()
        } else {
            None
        }
    }

    /// `span` in nanoseconds.
    fn nanos(span: Timespec) -> Option<i64> {
        span.tv_sec
            .checked_mul(NANOS_PER_SEC)?
            .checked_add(subsec_nanos(&span))
    }

    /// `tv_nsec` as an `i64` (it is a `c_long` on some targets).
    #[inline]
    #[allow(clippy::useless_conversion)]
    fn subsec_nanos(time: &Timespec) -> i64 {
        i64::from(time.tv_nsec)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_system_clock_reads_the_precise_clocks_second() {
        // Reads across a whole second, from 30 ms before it to 30 ms after: for up to a tick
        // after the second turns, the coarse clock still reads the old one, and only the
        // precise clock is right.
        let turn = UNIX_EPOCH + Duration::from_secs(precise_seconds() + 1);
        if let Ok(wait) = turn.duration_since(SystemTime::now()) {
            std::thread::sleep(wait.saturating_sub(Duration::from_millis(30)));
        }
        let past = turn + Duration::from_millis(30);
        let mut reads = 0u32;
        while SystemTime::now() < past {
            let before = precise_seconds();
            let read = SystemClock.now();
            let after = precise_seconds();
            assert!(
                before <= read && read <= after,
                "SystemClock read {read} between precise readings {before} and {after}"
            );
            reads += 1;
        }
        assert!(reads > 100, "only {reads} reads around a second");
    }

    #[tokio::test]
    async fn sleeping_until_a_second_ends_when_the_clock_reads_it() {
        let deadline = precise_seconds() + 1;
        SystemClock.sleep_until(deadline).await;
        assert!(SystemClock.now() >= deadline);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_coarse_reading_is_used_only_well_before_the_next_second() {
        use rustix::time::Timespec;
        let at = |tv_sec, tv_nsec| Timespec { tv_sec, tv_nsec };
        let margin = 10_000_000;
        assert_eq!(
            coarse::second(at(1_700_000_000, 0), margin),
            Some(1_700_000_000)
        );
        assert_eq!(
            coarse::second(at(1_700_000_000, 989_999_999), margin),
            Some(1_700_000_000)
        );
        assert_eq!(coarse::second(at(1_700_000_000, 990_000_000), margin), None);
        assert_eq!(coarse::second(at(1_700_000_000, 999_999_999), margin), None);
        assert_eq!(coarse::second(at(-1, 0), margin), None);
        assert_eq!(coarse::second(at(1_700_000_000, -1), margin), None);
    }
}
