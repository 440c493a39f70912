use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::{RateCheck, RateKey, RateLimit, RateLimiter, RateOutcome};

/// How many checks pass between two sweeps of idle keys.
const SWEEP_EVERY: u64 = 1 << 16;

/// GCRA budgets in this process's memory (governor), one keyed limiter per distinct limit.
///
/// Memory stays bounded by the callers active within one burst period: every
/// 65,536 checks, keys whose budget has fully refilled (which therefore carry no
/// information) are dropped with governor's `retain_recent`, and the maps are shrunk.
pub struct InMemoryRateLimiter {
    limiters: RwLock<HashMap<RateLimit, Arc<DefaultKeyedRateLimiter<String>>>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl Default for InMemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryRateLimiter")
            .field("tracked_keys", &self.tracked_keys())
            .finish()
    }
}

impl InMemoryRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self {
            limiters: RwLock::new(HashMap::new()),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// How many budgets are held now.
    pub fn tracked_keys(&self) -> usize {
        self.limiters
            .read()
            .map(|l| l.values().map(|limiter| limiter.len()).sum())
            .unwrap_or(0)
    }

    /// Drops every budget that has fully refilled; runs by itself every so many checks.
    pub fn sweep(&self) {
        if let Ok(limiters) = self.limiters.read() {
            for limiter in limiters.values() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }

    fn limiter(&self, limit: RateLimit) -> Arc<DefaultKeyedRateLimiter<String>> {
        if let Some(limiter) = self
            .limiters
            .read()
            .ok()
            .and_then(|l| l.get(&limit).cloned())
        {
            return limiter;
        }
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(limiters.entry(limit).or_insert_with(|| {
            let rate = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        }))
    }
}

impl RateLimiter for InMemoryRateLimiter {
    fn check(&self, key: &RateKey<'_>, limit: RateLimit) -> RateCheck {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let outcome = match self.limiter(limit).check_key(&key.to_key_string()) {
            Ok(()) => RateOutcome::Allowed,
            Err(not_until) => RateOutcome::Limited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        };
        RateCheck::Ready(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::RateKind;

    fn check(limiter: &InMemoryRateLimiter, identity: &str, limit: RateLimit) -> RateOutcome {
        let key = RateKey {
            method: "/a.B/C",
            kind: RateKind::Call,
            identity,
        };
        match limiter.check(&key, limit) {
            RateCheck::Ready(outcome) => outcome,
            RateCheck::Pending(_) => panic!("the in-memory limiter never defers"),
        }
    }

    #[test]
    fn a_burst_passes_then_the_caller_waits_and_others_are_unaffected() {
        let limiter = InMemoryRateLimiter::new();
        let limit = RateLimit::new(1, 3);
        for _ in 0..3 {
            assert_eq!(check(&limiter, "alice", limit), RateOutcome::Allowed);
        }
        match check(&limiter, "alice", limit) {
            RateOutcome::Limited { retry_after } => {
                assert!(retry_after.as_millis() > 0 && retry_after.as_secs() <= 1)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check(&limiter, "bob", limit), RateOutcome::Allowed);
    }

    #[test]
    fn idle_keys_are_dropped_by_a_sweep() {
        let limiter = InMemoryRateLimiter::new();
        let limit = RateLimit::new(1_000_000, 1);
        for i in 0..1_000 {
            check(&limiter, &format!("subject-{i}"), limit);
        }
        assert_eq!(limiter.tracked_keys(), 1_000);
        // At a million per second every budget refills within a microsecond.
        std::thread::sleep(std::time::Duration::from_millis(5));
        limiter.sweep();
        assert_eq!(limiter.tracked_keys(), 0);
    }
}
