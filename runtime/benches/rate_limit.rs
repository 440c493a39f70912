//! The in-memory rate limiter (issue 7: at most 100 ns per check on one thread; memory per
//! tracked identity bounded and idle identities dropped):
//!
//! - `rate_limit/one_thread_one_key`: `RateLimiter::check` of one caller's call budget, as
//!   `Authorizer::authorize` does for every call (the key is borrowed, the limit never reached);
//! - `rate_limit/two_threads_one_key`: the same while a second thread checks the same key as
//!   fast as it can (the budget's cache line and the shard's lock go back and forth); the CPU
//!   time is the benchmark thread's;
//! - `rate_limit/one_thread_many_keys/{10000,1000000}`: that many callers' budgets in the
//!   table, checked in a scattered order (with a million, every check misses the CPU caches,
//!   for the benchmark's own key as well as for the table);
//! - `rate_limit/stream_budget`: what a stream pays per message: [`Budget::check`] on the
//!   budget it looked up at open.
//!
//! Then, printed (not a criterion figure): the heap held by 1,000,000 distinct subjects, counted
//! by a global allocator that tallies live bytes, and what is left once they are idle and swept;
//! and the largest table while 3,000,000 more subjects arrive one after the other and go idle,
//! with no sweep but the limiter's own.
//!
//! `cargo bench -p mcp-auth --bench rate_limit`; see BENCHMARKS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::Criterion;
use mcp_auth::rate_limit::{
    InMemoryRateLimiter, RateCheck, RateKey, RateKind, RateLimit, RateLimiter, RateOutcome,
};
use mcp_auth_bench_support::{CountingAllocator, ThreadCpuTime, live_bytes};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const METHOD: &str = "/mcp.McpService/CallTool";
/// A limit this benchmark never reaches: every check runs the whole GCRA and passes.
const UNREACHED: RateLimit = RateLimit::new(1_000_000_000, 1_000_000_000);
/// Callers in the many-keys benchmark and the memory figure.
const SUBJECTS: usize = 1_000_000;

fn key(identity: &str) -> RateKey<'_> {
    RateKey {
        method: METHOD,
        kind: RateKind::Call,
        identity,
    }
}

/// A subject as an identity provider writes one (a UUID's length).
fn subject(i: usize) -> String {
    format!(
        "user-{i:08x}-4b1d-8e2f-{:012x}",
        i.wrapping_mul(0x9e37_79b9)
    )
}

fn allowed(check: RateCheck) -> bool {
    matches!(check, RateCheck::Ready(RateOutcome::Allowed))
}

fn checks(c: &mut Criterion<ThreadCpuTime>) {
    let limiter = InMemoryRateLimiter::new();
    let alice = subject(0);
    let mut group = c.benchmark_group("rate_limit");
    group.bench_function("one_thread_one_key", |b| {
        b.iter(|| allowed(limiter.check(black_box(&key(&alice)), UNREACHED)))
    });

    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                black_box(allowed(limiter.check(&key(&alice), UNREACHED)));
            }
        });
        group.bench_function("two_threads_one_key", |b| {
            b.iter(|| allowed(limiter.check(black_box(&key(&alice)), UNREACHED)))
        });
        stop.store(true, Ordering::Relaxed);
    });

    for count in [10_000, SUBJECTS] {
        let limiter = InMemoryRateLimiter::new();
        let subjects: Vec<String> = (0..count).map(subject).collect();
        for s in &subjects {
            assert!(allowed(limiter.check(&key(s), UNREACHED)));
        }
        let mut next = 0;
        group.bench_function(format!("one_thread_many_keys/{count}"), |b| {
            b.iter(|| {
                // A stride coprime with the count: every key, in an order caches cannot follow.
                next = (next + 7_919) % count;
                allowed(limiter.check(black_box(&key(&subjects[next])), UNREACHED))
            })
        });
    }

    let stream_key = RateKey {
        kind: RateKind::Message,
        ..key(&alice)
    };
    // Batches of 64 at this limit; the default message limit (1,000/s, bursts of 2,000) takes
    // batches of 10.
    let mut budget = limiter
        .budget(&stream_key, UNREACHED)
        .expect("the in-memory limiter hands out budgets");
    group.bench_function("stream_budget", |b| {
        b.iter(|| black_box(budget.check()) == RateOutcome::Allowed)
    });
    group.finish();
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The heap held for 1,000,000 distinct subjects, and after they went idle.
fn memory() {
    // Refills in a microsecond: every budget is idle as soon as the next one is checked.
    let fast = RateLimit::new(1_000_000, 1);
    // Every budget is busy for 1,000 s: nothing can be swept.
    let slow = RateLimit::new(1, 1_000);
    let subjects: Vec<String> = (0..SUBJECTS).map(subject).collect();

    let before = live_bytes();
    let limiter = InMemoryRateLimiter::new();
    for s in &subjects {
        assert!(allowed(limiter.check(&key(s), slow)));
    }
    let held = live_bytes() - before;
    println!(
        "rate_limit/memory: {} subjects tracked: {:.1} MiB, {} bytes per subject (key {} bytes)",
        limiter.tracked_keys(),
        mib(held),
        held / SUBJECTS,
        subjects[0].len()
    );
    limiter.sweep();
    assert_eq!(
        limiter.tracked_keys(),
        SUBJECTS,
        "a busy budget was dropped"
    );
    drop(limiter);

    let limiter = InMemoryRateLimiter::new();
    for s in &subjects {
        assert!(allowed(limiter.check(&key(s), fast)));
    }
    std::thread::sleep(std::time::Duration::from_millis(10));
    limiter.sweep();
    let left = live_bytes() - before;
    println!(
        "rate_limit/memory: the same subjects idle, after a sweep: {} tracked, {:.2} MiB",
        limiter.tracked_keys(),
        mib(left)
    );

    // 3,000,000 more subjects, each idle a microsecond after its check; only the limiter's own
    // sweeps (a shard sweeps itself when inserts double it).
    let mut peak_keys = 0;
    let mut peak_bytes = 0;
    for i in 0..3 * SUBJECTS {
        assert!(allowed(limiter.check(&key(&subject(SUBJECTS + i)), fast)));
        if i % 1_000 == 0 {
            peak_keys = peak_keys.max(limiter.tracked_keys());
            peak_bytes = peak_bytes.max(live_bytes() - before);
        }
    }
    println!(
        "rate_limit/memory: 3,000,000 more subjects one after the other, idle at once, no sweep \
         but the limiter's own: at most {peak_keys} tracked, {:.2} MiB",
        mib(peak_bytes)
    );
}

fn main() {
    memory();
    let mut criterion = mcp_auth_bench_support::criterion();
    checks(&mut criterion);
    criterion.final_summary();
}
