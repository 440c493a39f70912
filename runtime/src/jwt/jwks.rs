//! A JWKS URL's keys: cached, refreshed in the background, refetched for an unknown `kid`.
//!
//! The keys live in a snapshot (`Arc<[JwtKey]>` behind an uncontended read lock) that a
//! refresh replaces whole; a call takes one read lock and one reference count. One tokio task
//! per URL does every fetch, so fetches never overlap and calls never wait for one. The
//! behaviour users see is documented on [`JwksOptions`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::jwt::fetch::{Fetched, Fetcher};
use crate::jwt::jwk::JwkRules;
use crate::jwt::key::JwtKey;

/// How a JWKS URL is fetched and cached. The defaults suit a public identity provider.
///
/// - **Before serving**: [`build_async`](crate::jwt::JwtAuthenticatorBuilder::build_async)
///   fetches every URL once and fails if a fetch fails, so a server never starts without keys.
/// - **TTL**: the response's `Cache-Control: max-age` (`no-store` and `no-cache` count as the
///   shortest TTL), within [`ttl_bounds`](Self::ttl_bounds), default 5 minutes without one. A
///   tokio task refreshes the keys when a timer of that length fires, or earlier when a call
///   sees, by the authenticator's [`Clock`], that they are past their TTL; the call itself is
///   answered with the keys in hand.
/// - **Unknown `kid`**: a token naming a `kid` that no key has fails closed at once, and asks
///   the task for a refetch, at most once per
///   [`unknown_kid_interval`](Self::unknown_kid_interval) (default 30 s) by the calls' clock.
///   The call does not wait for the network: a burst of tokens with made-up `kid`s costs one
///   fetch per interval and blocks no thread, and a client's retry succeeds once the issuer's
///   new key has landed.
/// - **Failures** (endpoint down, slower than [`timeout`](Self::timeout), a status other than
///   200, a body that is not a JWK set or has no usable key) keep the last good keys and are
///   retried after [`retry_interval`](Self::retry_interval); they are logged (target
///   `mcp_auth::jwks`) and reported by
///   [`JwtAuthenticator::jwks_status`](crate::jwt::JwtAuthenticator::jwks_status). A set with
///   a usable key replaces the old set whole, so a key the issuer withdrew stops verifying at
///   the next refresh.
/// - **Keys**: those of a JWK set file, except that symmetric (`oct`) keys are never taken
///   from a URL. Unusable keys are skipped one by one with a warning.
/// - **Transport**: hyper's HTTP/1.1 client; `https://` through rustls with aws-lc-rs,
///   trusting the Mozilla roots of `webpki-roots` (the same trust on every machine, including
///   images without a CA bundle). `http://` only to loopback addresses, unless
///   [`allow_plain_http`](Self::allow_plain_http). Redirects are not followed.
/// - **Lifetime**: the task ends when the authenticator is dropped.
///
/// ```
/// use std::time::Duration;
/// use mcp_auth::jwt::JwksOptions;
/// let options = JwksOptions::default()
///     .timeout(Duration::from_secs(2))
///     .unknown_kid_interval(Duration::from_secs(60));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct JwksOptions {
    pub(crate) default_ttl: Duration,
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) unknown_kid_interval: Duration,
    pub(crate) retry_interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) allow_plain_http: bool,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(5 * 60),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 60 * 60),
            unknown_kid_interval: Duration::from_secs(30),
            retry_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            allow_plain_http: false,
        }
    }
}

impl JwksOptions {
    /// How long keys are used when the response has no `Cache-Control: max-age`
    /// (default 5 minutes).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The bounds put on the response's `max-age` (default 1 minute to 24 hours): an endpoint
    /// that says `max-age=0` is not fetched on every call, and one that says a year is still
    /// refreshed daily.
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max.max(min);
        self
    }

    /// The least time between two refetches caused by tokens with an unknown `kid`
    /// (default 30 s).
    pub fn unknown_kid_interval(mut self, interval: Duration) -> Self {
        self.unknown_kid_interval = interval;
        self
    }

    /// How long after a failed fetch the next one is tried (default 30 s).
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// The limit on one fetch, from connecting to the last byte of the body (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The cap on the response body (default 1 MiB).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Accepts `http://` URLs to any host (default: only to loopback addresses). Only for a
    /// network path that is protected otherwise, such as a service mesh's mTLS: over plain
    /// http, anyone on the path can replace the keys and sign tokens of their own.
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }
}

/// The state of one JWKS URL, for health checks and dashboards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStatus {
    /// The URL.
    pub url: String,
    /// How many keys are in use.
    pub keys: usize,
    /// Successful fetches, the first one included.
    pub fetches: u64,
    /// Failed fetches since the start.
    pub failures: u64,
    /// Refetches asked for by tokens with an unknown `kid` (at most one per interval).
    pub unknown_kid_refetches: u64,
    /// When the keys in use were fetched, in the authenticator's clock's seconds.
    pub fetched_at: u64,
    /// When the keys are due for a refresh, in the same seconds.
    pub refresh_due: u64,
    /// Why the last fetch failed, if it did; cleared by a success.
    pub last_error: Option<String>,
}

/// A JWKS URL's cached keys and the task that refreshes them; dropping it ends the task.
pub(crate) struct JwksSource {
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

/// The clock reading `NEVER` stands for "no unknown-kid refetch yet".
const NEVER: u64 = u64::MAX;

struct Shared {
    url: String,
    keys: RwLock<Arc<[JwtKey]>>,
    clock: Arc<dyn Clock>,
    /// Clock seconds after which the keys are past their TTL.
    refresh_due: AtomicU64,
    /// Clock seconds of the last unknown-kid refetch, or `NEVER`.
    last_kid_refetch: AtomicU64,
    kid_refetch_pending: AtomicBool,
    wake: Notify,
    unknown_kid_interval: u64,
    retry_interval: Duration,
    fetches: AtomicU64,
    failures: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    fetched_at: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl JwksSource {
    /// Fetches `url` once, failing if that fetch fails, then starts the refresh task on the
    /// current tokio runtime.
    pub(crate) async fn start(
        url: &str,
        options: &JwksOptions,
        rules: JwkRules,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let fail = |e: String| ConfigError::new(format!("JWKS URL {url}: {e}"));
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| fail("a JWKS URL needs a tokio runtime for its refresh task".into()))?;
        let fetcher = Fetcher::new(url, options.clone(), rules).map_err(fail)?;
        let first = fetcher
            .fetch()
            .await
            .map_err(|e| fail(format!("the first fetch failed: {e}")))?;
        Ok(Self::spawn(&runtime, fetcher, first, options, clock))
    }

    fn spawn(
        runtime: &tokio::runtime::Handle,
        fetcher: Fetcher,
        first: Fetched,
        options: &JwksOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now = clock.now();
        let shared = Arc::new(Shared {
            url: fetcher.uri().to_string(),
            keys: RwLock::new(Arc::from(first.keys)),
            refresh_due: AtomicU64::new(now.saturating_add(secs(first.ttl))),
            clock,
            last_kid_refetch: AtomicU64::new(NEVER),
            kid_refetch_pending: AtomicBool::new(false),
            wake: Notify::new(),
            unknown_kid_interval: secs(options.unknown_kid_interval),
            retry_interval: options.retry_interval,
            fetches: AtomicU64::new(1),
            failures: AtomicU64::new(0),
            unknown_kid_refetches: AtomicU64::new(0),
            fetched_at: AtomicU64::new(now),
            last_error: Mutex::new(None),
        });
        let task = runtime.spawn(refresh(Arc::clone(&shared), fetcher, first.ttl));
        Self {
            shared,
            task: task.abort_handle(),
        }
    }

    /// The keys in use.
    pub(crate) fn keys(&self) -> Arc<[JwtKey]> {
        Arc::clone(
            &self
                .shared
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Wakes the task if the keys are past their TTL at `now`. One atomic load otherwise.
    pub(crate) fn check_ttl(&self, now: u64) {
        if now >= self.shared.refresh_due.load(Ordering::Acquire) {
            self.shared.wake.notify_one();
        }
    }

    /// Asks for a refetch because a token named an unknown `kid`, unless one was asked for
    /// less than the interval ago. Never waits.
    pub(crate) fn request_refetch(&self, now: u64) -> bool {
        let shared = &self.shared;
        let last = shared.last_kid_refetch.load(Ordering::Acquire);
        // `abs_diff`: a clock set back does not stop refetches until it catches up again.
        if last != NEVER && now.abs_diff(last) < shared.unknown_kid_interval {
            return false;
        }
        if shared
            .last_kid_refetch
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false; // another call asked at the same moment
        }
        shared.unknown_kid_refetches.fetch_add(1, Ordering::Relaxed);
        shared.kid_refetch_pending.store(true, Ordering::Release);
        shared.wake.notify_one();
        true
    }

    pub(crate) fn status(&self) -> JwksStatus {
        let s = &self.shared;
        JwksStatus {
            url: s.url.clone(),
            keys: self.keys().len(),
            fetches: s.fetches.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            unknown_kid_refetches: s.unknown_kid_refetches.load(Ordering::Relaxed),
            fetched_at: s.fetched_at.load(Ordering::Relaxed),
            refresh_due: s.refresh_due.load(Ordering::Relaxed),
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

impl Drop for JwksSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.shared.url)
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}

/// Whole seconds, rounded up, for the clock's arithmetic.
fn secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The refresh task: waits for the TTL timer or a wake-up, fetches, stores or keeps.
async fn refresh(shared: Arc<Shared>, fetcher: Fetcher, first_ttl: Duration) {
    let mut deadline = Instant::now() + first_ttl;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.wake.notified() => {
                let for_kid = shared.kid_refetch_pending.swap(false, Ordering::AcqRel);
                let stale = shared.clock.now() >= shared.refresh_due.load(Ordering::Acquire);
                if !for_kid && !stale {
                    continue;
                }
            }
        }
        let outcome = fetcher.fetch().await;
        let now = shared.clock.now();
        let wait = match outcome {
            Ok(fetched) => {
                *shared.keys.write().unwrap_or_else(PoisonError::into_inner) =
                    Arc::from(fetched.keys);
                *shared
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                shared.fetched_at.store(now, Ordering::Relaxed);
                shared.fetches.fetch_add(1, Ordering::Relaxed);
                fetched.ttl
            }
            Err(error) => {
                tracing::warn!(
                    target: "mcp_auth::jwks",
                    url = %shared.url,
                    %error,
                    "JWKS refresh failed; keeping the last good keys"
                );
                *shared
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(error);
                shared.failures.fetch_add(1, Ordering::Relaxed);
                shared.retry_interval
            }
        };
        shared
            .refresh_due
            .store(now.saturating_add(secs(wait)), Ordering::Release);
        deadline = Instant::now() + wait;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn source(clock: &ManualClock) -> JwksSource {
        let rules = JwkRules {
            pinned: None,
            rsa_default: None,
            allow_symmetric: false,
        };
        // Nothing listens on port 1: every refresh fails, which these tests do not reach.
        let fetcher = Fetcher::new("http://127.0.0.1:1/jwks", JwksOptions::default(), rules);
        let first = Fetched {
            keys: vec![JwtKey::hs256(&[1; 32]).with_kid("a")],
            ttl: Duration::from_secs(300),
        };
        JwksSource::spawn(
            &tokio::runtime::Handle::current(),
            fetcher.unwrap(),
            first,
            &JwksOptions::default(),
            Arc::new(clock.clone()),
        )
    }

    #[tokio::test]
    async fn unknown_kid_refetches_are_rate_limited_by_the_clock() {
        let clock = ManualClock::new(1_000);
        let source = source(&clock);
        assert!(source.request_refetch(1_000));
        assert!(!source.request_refetch(1_000));
        assert!(!source.request_refetch(1_029));
        assert!(source.request_refetch(1_030));
        assert!(
            source.request_refetch(900),
            "a clock set back does not block refetches"
        );
        assert_eq!(source.status().unknown_kid_refetches, 3);
    }

    #[tokio::test]
    async fn dropping_the_source_ends_its_task() {
        let source = source(&ManualClock::new(1_000));
        let shared = Arc::downgrade(&source.shared);
        assert_eq!(shared.strong_count(), 2, "the source and its task");
        drop(source);
        for _ in 0..1_000 {
            if shared.strong_count() == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the refresh task outlived its source");
    }
}
