use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use foldhash::quality::RandomState;
use hashbrown::HashTable;

use super::{RateCheck, RateKey, RateKind, RateLimit, RateLimiter, RateOutcome};

/// Shards of the budget table: checks on different shards never touch the same lock.
const SHARDS: usize = 64;

/// How many checks on one shard pass between two sweeps of its idle budgets.
const SWEEP_EVERY: u32 = 1 << 16;

/// A shard sweeps itself when an insert finds it holding at least twice as many budgets as
/// after its last sweep, and at least this many.
const SWEEP_MIN: usize = 256;

/// GCRA budgets in this process's memory: the default [`RateLimiter`].
///
/// A budget is one atomic theoretical arrival time (TAT) per RPC, kind, caller and limit, in a
/// table sharded 64 ways and found by a hash of the borrowed key (foldhash, seeded at random
/// per limiter): a check takes a read lock on
/// one shard, reads the monotonic clock and updates the TAT with one compare-and-swap; nothing
/// is allocated except when a caller is first seen. A stream looks its message budget up once
/// ([`RateLimiter::budget`]) and then counts against it without the table.
///
/// Memory stays bounded by the callers active within one burst period: a budget whose TAT has
/// passed has fully refilled, so it carries no information and is dropped by a sweep (unless a
/// stream still holds it). A shard sweeps itself whenever inserts have doubled it since its
/// last sweep, and every 65,536 checks it serves; [`sweep`](Self::sweep) sweeps them all.
pub struct InMemoryRateLimiter {
    shards: Box<[Shard]>,
    hasher: RandomState,
    clock: MonotonicNanos,
    /// The shard the next periodic sweep without checks would take (see `sweep`).
    next_sweep: AtomicUsize,
}

/// One lock's worth of budgets, on a cache line of its own.
#[repr(align(64))]
struct Shard {
    table: RwLock<Table>,
    checks: AtomicU32,
}

#[derive(Default)]
struct Table {
    budgets: HashTable<Entry>,
    /// How many budgets the last sweep kept.
    after_sweep: usize,
}

/// A budget in the table: 16 bytes, so that a probe touches few cache lines; the key is
/// compared in the budget itself, on the cache line its state is on.
struct Entry {
    hash: u64,
    gcra: Arc<Gcra>,
}

impl Entry {
    fn is(&self, hash: u64, key: &RateKey<'_>, limit: RateLimit) -> bool {
        self.hash == hash && self.gcra.key.is(key, limit)
    }

    /// Fully refilled and held by no stream: dropping it changes no decision.
    fn is_idle(&self, now: u64) -> bool {
        self.gcra.is_full(now) && Arc::strong_count(&self.gcra) == 1
    }
}

/// Whose budget a [`Gcra`] is.
struct Key {
    method: &'static str,
    kind: RateKind,
    limit: RateLimit,
    identity: Box<str>,
}

impl Key {
    fn is(&self, key: &RateKey<'_>, limit: RateLimit) -> bool {
        self.limit == limit
            && self.kind == key.kind
            && self.method == key.method
            && *self.identity == *key.identity
    }
}

/// Nanoseconds since the limiter was created, from the monotonic clock.
#[derive(Debug, Clone, Copy)]
struct MonotonicNanos(Instant);

impl MonotonicNanos {
    fn now(self) -> u64 {
        // 2^64 ns is 584 years of uptime.
        self.0.elapsed().as_nanos() as u64
    }
}

/// One budget's GCRA: events are spaced `interval` apart on average, `tolerance` ahead at most
/// (a burst of `tolerance / interval` events). Same parameters and arithmetic as the Redis
/// limiter's script.
struct Gcra {
    /// The theoretical arrival time, in nanoseconds of the limiter's clock.
    tat: AtomicU64,
    interval: u64,
    tolerance: u64,
    key: Key,
}

impl Gcra {
    fn new(key: Key) -> Self {
        let (interval, tolerance) = gcra_parameters(key.limit);
        Self {
            tat: AtomicU64::new(0),
            interval,
            tolerance,
            key,
        }
    }

    /// Counts `n` events at `now` if all of them fit; otherwise changes nothing and returns
    /// how many nanoseconds until they would.
    fn check_n(&self, now: u64, n: u32) -> Result<(), u64> {
        let cost = self.interval.saturating_mul(u64::from(n));
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            // A TAT further ahead than the tolerance (another thread read the clock a little
            // later) is clamped, as in the Redis script.
            let ahead = tat.saturating_sub(now).min(self.tolerance);
            let next = ahead.saturating_add(cost);
            if next > self.tolerance {
                return Err(next - self.tolerance);
            }
            match self.tat.compare_exchange_weak(
                tat,
                now + next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Gives back `n` events counted but not used.
    fn refund(&self, n: u32) {
        let cost = self.interval.saturating_mul(u64::from(n));
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |tat| {
                Some(tat.saturating_sub(cost))
            });
    }

    fn is_full(&self, now: u64) -> bool {
        self.tat.load(Ordering::Relaxed) <= now
    }
}

/// The emission interval and the tolerance of `limit`, in nanoseconds.
fn gcra_parameters(limit: RateLimit) -> (u64, u64) {
    // `RateLimit::new` raises zeros to 1; the fields are public, so do it here too.
    let per_second = u64::from(limit.per_second.max(1));
    let burst = u64::from(limit.burst.max(1));
    // Rounded up: a rounded-down interval would let a high rate through faster than set.
    let interval = 1_000_000_000u64.div_ceil(per_second);
    (interval, interval.saturating_mul(burst))
}

fn outcome(result: Result<(), u64>) -> RateOutcome {
    match result {
        Ok(()) => RateOutcome::Allowed,
        Err(nanos) => RateOutcome::Limited {
            retry_after: Duration::from_nanos(nanos),
        },
    }
}

/// The largest batch a [`Budget`] takes: as many messages as a stream guard lets pass between
/// two reads of the clock, so a flood's messages go to the shared budget no more often than to
/// the clock (with batches of 256, a flooded stream's guard left its fast path every 205
/// messages, BENCHMARKS.md, Fixed 24). Smaller where 1/16 of the burst or 10 ms of the rate is.
const MOST_BATCHED: u32 = 1024;

/// One budget of an [`InMemoryRateLimiter`], looked up once: what a stream holds to count its
/// messages without a table lookup per message ([`RateLimiter::budget`]).
///
/// To make a message cost a few nanoseconds, a budget takes events from the shared GCRA in
/// small batches (at most 1/16 of the burst and 10 ms of the sustained rate, at most 1,024, and
/// one at a time for small limits) and spends them one by one; near the limit it asks for one
/// event at a time, so a caller is refused only when the shared budget is empty. Events taken
/// and not spent are given back when the stream waits for its next message and when the
/// budget is dropped. Another stream of the same caller
/// may meanwhile be refused up to a batch earlier than without batching, never later.
pub struct Budget {
    gcra: Arc<Gcra>,
    clock: MonotonicNanos,
    /// Events taken from the shared budget and not spent yet.
    stock: u32,
    batch: u32,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("interval_ns", &self.gcra.interval)
            .field("tolerance_ns", &self.gcra.tolerance)
            .field("stock", &self.stock)
            .finish()
    }
}

impl Budget {
    fn new(gcra: Arc<Gcra>, clock: MonotonicNanos, limit: RateLimit) -> Self {
        let batch = (limit.burst / 16)
            .min(limit.per_second / 100)
            .clamp(1, MOST_BATCHED);
        Self {
            gcra,
            clock,
            stock: 0,
            batch,
        }
    }

    /// Counts one event.
    #[inline]
    pub fn check(&mut self) -> RateOutcome {
        if let Some(stock) = self.stock.checked_sub(1) {
            self.stock = stock;
            return RateOutcome::Allowed;
        }
        self.take()
    }

    /// Takes up to `most` of the events in stock, for a stream guard to spend without a call
    /// per event; what it does not spend it gives back with [`put_back`](Self::put_back)
    /// before any other call (the guard's `settle`, before every look at its budget).
    pub(crate) fn take_stock(&mut self, most: u32) -> u32 {
        let taken = self.stock.min(most);
        self.stock -= taken;
        taken
    }

    /// Puts back events taken with [`take_stock`](Self::take_stock) and not spent.
    pub(crate) fn put_back(&mut self, events: u32) {
        debug_assert!(
            self.stock
                .checked_add(events)
                .is_some_and(|s| s <= self.batch)
        );
        self.stock += events;
    }

    /// Gives back the events taken and not spent: a stream calls it when it waits for a
    /// message, so a batch taken long ago cannot be spent after the shared budget refilled
    /// (which would let a caller's streams together exceed the burst in a short window).
    #[inline]
    pub fn release(&mut self) {
        if self.stock > 0 {
            self.gcra.refund(std::mem::take(&mut self.stock));
        }
    }

    /// Takes the next batch (or the last events one by one) from the shared budget.
    #[inline(never)]
    fn take(&mut self) -> RateOutcome {
        let now = self.clock.now();
        if self.batch > 1 && self.gcra.check_n(now, self.batch).is_ok() {
            self.stock = self.batch - 1;
            return RateOutcome::Allowed;
        }
        outcome(self.gcra.check_n(now, 1))
    }
}

/// Budgets of `limit`'s batches that share one GCRA of `burst` events that does not refill
/// during a test: for the stream guard's tests.
#[cfg(test)]
pub(crate) fn frozen_budgets(burst: u64, limit: RateLimit) -> impl Fn() -> Budget {
    let shared = tests::frozen(burst);
    let clock = MonotonicNanos(Instant::now());
    move || Budget::new(Arc::clone(&shared), clock, limit)
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.release();
    }
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
            shards: (0..SHARDS)
                .map(|_| Shard {
                    table: RwLock::default(),
                    checks: AtomicU32::new(0),
                })
                .collect(),
            hasher: RandomState::default(),
            clock: MonotonicNanos(Instant::now()),
            next_sweep: AtomicUsize::new(0),
        }
    }

    /// How many budgets are held now.
    pub fn tracked_keys(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .table
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .budgets
                    .len()
            })
            .sum()
    }

    /// Drops every budget that has fully refilled (and no stream holds), and gives the memory
    /// back; runs by itself shard by shard as the table grows and as checks pass.
    pub fn sweep(&self) {
        let now = self.clock.now();
        for shard in &self.shards {
            Self::sweep_table(&mut write(shard), now);
        }
        self.next_sweep.store(0, Ordering::Relaxed);
    }

    fn sweep_table(table: &mut Table, now: u64) {
        table.budgets.retain(|entry| !entry.is_idle(now));
        let len = table.budgets.len();
        if table.budgets.capacity() > 2 * len.max(SWEEP_MIN) {
            table.budgets.shrink_to(len, |entry| entry.hash);
        }
        table.after_sweep = len;
    }

    fn hash(&self, key: &RateKey<'_>, limit: RateLimit) -> u64 {
        self.hasher
            .hash_one((key.method, key.kind, key.identity, limit))
    }

    fn shard(&self, hash: u64) -> &Shard {
        // Bits hashbrown uses for neither the bucket (low bits) nor the tag (top 7 bits).
        &self.shards[(hash >> 40) as usize % SHARDS]
    }

    /// Runs `f` on the budget of `key`, creating it if it is new.
    fn with_gcra<R>(&self, key: &RateKey<'_>, limit: RateLimit, f: impl Fn(&Arc<Gcra>) -> R) -> R {
        let hash = self.hash(key, limit);
        let shard = self.shard(hash);
        if shard.checks.fetch_add(1, Ordering::Relaxed) == SWEEP_EVERY - 1 {
            shard.checks.store(0, Ordering::Relaxed);
            Self::sweep_table(&mut write(shard), self.clock.now());
        }
        {
            let table = shard.table.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = table.budgets.find(hash, |e| e.is(hash, key, limit)) {
                return f(&entry.gcra);
            }
        }
        let mut table = write(shard);
        if table.budgets.len() >= (2 * table.after_sweep).max(SWEEP_MIN) {
            Self::sweep_table(&mut table, self.clock.now());
        }
        let entry = table
            .budgets
            .entry(hash, |e| e.is(hash, key, limit), |e| e.hash);
        let entry = entry.or_insert_with(|| Entry {
            hash,
            gcra: Arc::new(Gcra::new(Key {
                method: key.method,
                kind: key.kind,
                limit,
                identity: key.identity.into(),
            })),
        });
        f(&entry.get().gcra)
    }
}

fn write(shard: &Shard) -> RwLockWriteGuard<'_, Table> {
    shard.table.write().unwrap_or_else(PoisonError::into_inner)
}

impl RateLimiter for InMemoryRateLimiter {
    fn check(&self, key: &RateKey<'_>, limit: RateLimit) -> RateCheck {
        let outcome = self.with_gcra(key, limit, |gcra| {
            outcome(gcra.check_n(self.clock.now(), 1))
        });
        RateCheck::Ready(outcome)
    }

    fn budget(&self, key: &RateKey<'_>, limit: RateLimit) -> Option<Budget> {
        let gcra = self.with_gcra(key, limit, Arc::clone);
        Some(Budget::new(gcra, self.clock, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(identity: &str) -> RateKey<'_> {
        RateKey {
            method: "/a.B/C",
            kind: RateKind::Call,
            identity,
        }
    }

    fn check(limiter: &InMemoryRateLimiter, identity: &str, limit: RateLimit) -> RateOutcome {
        match limiter.check(&key(identity), limit) {
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
        // Another RPC, kind or limit is another budget.
        let other_kind = RateKey {
            kind: RateKind::Message,
            ..key("alice")
        };
        assert!(matches!(
            limiter.check(&other_kind, limit),
            RateCheck::Ready(RateOutcome::Allowed)
        ));
        assert_eq!(
            check(&limiter, "alice", RateLimit::new(1, 4)),
            RateOutcome::Allowed
        );
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

    #[test]
    fn a_budget_held_by_a_stream_is_shared_and_survives_sweeps() {
        let limiter = InMemoryRateLimiter::new();
        let limit = RateLimit::new(1_000_000, 1);
        let mut budget = limiter.budget(&key("alice"), limit).unwrap();
        assert_eq!(budget.check(), RateOutcome::Allowed);
        std::thread::sleep(std::time::Duration::from_millis(5));
        limiter.sweep();
        assert_eq!(limiter.tracked_keys(), 1, "a held budget was dropped");
        drop(budget);
        limiter.sweep();
        assert_eq!(limiter.tracked_keys(), 0);

        // Slow limits are counted one event at a time, against the caller's calls too.
        let slow = RateLimit::new(1, 3);
        let mut budget = limiter.budget(&key("bob"), slow).unwrap();
        assert_eq!(budget.check(), RateOutcome::Allowed);
        assert_eq!(check(&limiter, "bob", slow), RateOutcome::Allowed);
        assert_eq!(budget.check(), RateOutcome::Allowed);
        assert!(matches!(budget.check(), RateOutcome::Limited { .. }));
        assert!(matches!(
            check(&limiter, "bob", slow),
            RateOutcome::Limited { .. }
        ));
    }

    /// What a stream took in a batch and did not spend goes back when it waits: two streams of
    /// one caller cannot hold more than the burst between them across a refill.
    #[test]
    fn a_released_budget_gives_back_its_batch() {
        let limiter = InMemoryRateLimiter::new();
        // A batch of 64 (burst / 16 and 10 ms of the rate), a burst of 1,024.
        let limit = RateLimit::new(6_400, 1_024);
        let mut first = limiter.budget(&key("carol"), limit).unwrap();
        assert_eq!(first.check(), RateOutcome::Allowed);
        let mut second = limiter.budget(&key("carol"), limit).unwrap();
        let taken = (0..2_000)
            .take_while(|_| second.check() == RateOutcome::Allowed)
            .count();
        // The first stream holds 63 of the burst unspent...
        assert!(taken < 1_024 - 62, "{taken} taken beside a held batch");
        first.release();
        drop(second);
        // ...and gives them back when it waits: a new stream gets them.
        let mut third = limiter.budget(&key("carol"), limit).unwrap();
        let again = (0..2_000)
            .take_while(|_| third.check() == RateOutcome::Allowed)
            .count();
        assert!(again >= 63, "only {again} after the release");
    }

    /// A budget of `burst` events that does not refill during a test (one event per 10 s).
    pub(super) fn frozen(burst: u64) -> Arc<Gcra> {
        let interval = 10_000_000_000;
        Arc::new(Gcra {
            tat: AtomicU64::new(0),
            interval,
            tolerance: interval * burst,
            key: Key {
                method: "/a.B/C",
                kind: RateKind::Message,
                limit: RateLimit::new(1, 1),
                identity: "frozen".into(),
            },
        })
    }

    #[test]
    fn batches_never_let_more_through_than_the_budget_and_are_given_back() {
        let clock = MonotonicNanos(Instant::now());
        // Batches of 64.
        let limit = RateLimit::new(6_400, 1_024);
        let shared = frozen(1_000);
        let mut a = Budget::new(Arc::clone(&shared), clock, limit);
        let mut b = Budget::new(Arc::clone(&shared), clock, limit);
        assert_eq!(a.batch, 64);
        let mut allowed = 0;
        for _ in 0..600 {
            allowed += usize::from(a.check() == RateOutcome::Allowed);
            allowed += usize::from(b.check() == RateOutcome::Allowed);
        }
        assert_eq!(allowed, 1_000, "a burst of 1,000 spent by two streams");

        // What a stream took and did not spend is given back when it ends.
        let shared = frozen(100);
        let mut c = Budget::new(Arc::clone(&shared), clock, limit);
        let mut d = Budget::new(Arc::clone(&shared), clock, limit);
        assert_eq!(c.check(), RateOutcome::Allowed);
        let spent = |d: &mut Budget| {
            (0..200)
                .take_while(|_| d.check() == RateOutcome::Allowed)
                .count()
        };
        assert_eq!(spent(&mut d), 36);
        drop(c);
        assert_eq!(spent(&mut d), 63);
    }

    #[test]
    fn colliding_keys_are_told_apart() {
        let limiter = InMemoryRateLimiter::new();
        let limit = RateLimit::new(1, 1);
        // Many identities in few shards: every one has a budget of its own.
        for i in 0..5_000 {
            assert_eq!(
                check(&limiter, &format!("s{i}"), limit),
                RateOutcome::Allowed
            );
        }
        for i in 0..5_000 {
            assert!(matches!(
                check(&limiter, &format!("s{i}"), limit),
                RateOutcome::Limited { .. }
            ));
        }
    }
}
