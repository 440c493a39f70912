//! A bounded cache of verified tokens.
//!
//! Verifying an ES256 signature costs about twice a whole unary call's server CPU, and a client
//! sends the same token on every call until it expires. [`CachedAuthenticator`] remembers the
//! claims of tokens that verified, keyed by the token itself, and answers a repeated token from
//! memory until its `exp`:
//!
//! - the lookup hashes the token with a fast hash seeded at random per cache (foldhash), and a
//!   hit compares the whole token with the one that verified: two tokens that hash alike are
//!   still two entries, and a token is only ever answered with its own claims. The built-in
//!   JWT cache hashes the last [`JWT_HASHED_BYTES`] bytes of the token, the end of its
//!   signature (an RS256 token is about 600 bytes); [`CachedAuthenticator`] hashes the whole
//!   token;
//! - a token is cached the second time it verifies, not the first: a seen-once filter (4,096
//!   hashes, a few nanoseconds) keeps tokens used once from evicting the ones in use, so a
//!   stream of one-shot tokens costs what it costs without the cache;
//! - each thread keeps the last tokens it answered ([`RECENT_SLOTS`], one per slot: the
//!   built-in JWT cache picks a token's slot from the last 8 characters of its signature, with a
//!   seeded multiply; [`CachedAuthenticator`] from its hash) in front of the shared cache, so a token repeated on the same thread is answered without the shared cache's
//!   lock (two atomic read-modify-writes) and probe; the whole token is compared there too, an
//!   answer is never used at or past `exp`, and [`CachedAuthenticator::clear`] invalidates every
//!   thread's. These answers are held apart from the shared cache's count: up to
//!   `RECENT_SLOTS` tokens (of at most the maximum length) and their claims per thread that
//!   used the cache outlive their eviction, a `clear` or their `exp`, until the thread's slot
//!   is reused or the cache is dropped (never answered after a `clear` or at `exp`). A token answered only from threads'
//!   slots does not count as used in the shared cache's eviction, so under pressure it may be
//!   evicted there and verified again when a thread's slot moves on;
//! - only successes are cached; a token that failed is verified again next time;
//! - an entry is never used at or past the token's `exp` (the leeway the authenticator allows
//!   for clock skew is not extended to cached entries);
//! - the shared cache holds at most `capacity` tokens (default 10,000) and evicts the least useful
//!   (quick_cache's CLOCK-Pro); memory stays bounded whatever callers send (at most `capacity`
//!   tokens of at most the authenticator's maximum length, 8 KiB by default, plus the threads'
//!   `RECENT_SLOTS` each; about 6 MiB of
//!   heap for 10,000 tokens of 280 bytes with [`StandardClaims`](crate::StandardClaims), more in
//!   resident memory when the entries land among short-lived buffers: see BENCHMARKS.md).
//!
//! A token keeps working from the cache until `exp` even if its signing key is removed from the
//! key set meanwhile, exactly as a JWT without a cache would on any replica that verified it.

use std::cell::RefCell;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Equivalent};
use thread_local::ThreadLocal;

use crate::authenticate::{
    Authentication, Authenticator, CallContext, Credential, DEFAULT_MAX_TOKEN_BYTES,
    bearer_candidate, bearer_token,
};
use crate::claims::Claims;
use crate::error::AuthError;

/// The default number of verified tokens kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How many tokens the seen-once filter remembers (by hash, one per slot).
const SEEN_ONCE_SLOTS: usize = 4_096;

/// How many verified tokens each thread keeps in front of the shared cache, one per slot (a
/// JWT's slot comes from the end of its signature, another token's from its hash).
pub const RECENT_SLOTS: usize = 16;

/// How many bytes at the end of a JWT (the end of its signature) the built-in JWT cache hashes.
///
/// 32 base64url characters are 192 bits of a signature, which differ between any two tokens
/// that verified (a signature is a function of the whole signed header and claims); no one
/// without the key can make verified tokens that share them. A hit still compares the whole
/// token. [`CachedAuthenticator`] hashes the whole token: an opaque token may end like every
/// other.
pub const JWT_HASHED_BYTES: usize = 32;

/// Which bytes of a token the cache hashes.
pub(crate) trait TokenHash: Sized + Send + Sync + 'static {
    /// The bytes of `token` that are hashed.
    fn hashed(token: &[u8]) -> &[u8];

    /// `token`'s slot among a thread's [`RECENT_SLOTS`]. A hit there compares the whole token,
    /// so this only spreads tokens over the slots; `seed` is the cache's, random.
    #[inline]
    fn slot(token: &[u8], hasher: &DefaultHashBuilder, _seed: u64) -> usize {
        hasher.hash_one(Lookup::<Self>(token, PhantomData)) as usize % RECENT_SLOTS
    }
}

/// The whole token (any bearer token).
pub(crate) struct WholeToken;

impl TokenHash for WholeToken {
    fn hashed(token: &[u8]) -> &[u8] {
        token
    }
}

/// The end of a JWT's signature ([`JWT_HASHED_BYTES`]).
pub(crate) struct JwtSignatureEnd;

impl TokenHash for JwtSignatureEnd {
    fn hashed(token: &[u8]) -> &[u8] {
        &token[token.len().saturating_sub(JWT_HASHED_BYTES)..]
    }

    /// The last 8 characters of the signature (about 45 bits a verified token's signer chose,
    /// not its bearer: the last base64url character carries only the signature's last 2-4), seeded and spread by a multiply: what a whole hash would give the slots, for
    /// the cost of a load. Tokens crafted to share a slot cost their own thread's front slots
    /// a miss, never an answer.
    #[inline]
    fn slot(token: &[u8], _: &DefaultHashBuilder, seed: u64) -> usize {
        const { assert!(RECENT_SLOTS.is_power_of_two() && RECENT_SLOTS > 1) };
        let last = match token.last_chunk::<8>() {
            Some(last) => u64::from_le_bytes(*last),
            None => token.iter().fold(0, |v, &b| v << 8 | u64::from(b)),
        };
        let spread = (last ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (spread >> (64 - RECENT_SLOTS.trailing_zeros())) as usize
    }
}

/// A cached token: hashed as `H` says, compared whole.
struct Key<H>(Box<str>, PhantomData<H>);

/// A token looked up: hashed and compared as its [`Key`].
struct Lookup<'a, H>(&'a [u8], PhantomData<H>);

impl<H> PartialEq for Key<H> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<H> Eq for Key<H> {}

impl<H: TokenHash> Hash for Key<H> {
    fn hash<S: Hasher>(&self, state: &mut S) {
        state.write(H::hashed(self.0.as_bytes()));
    }
}

impl<H: TokenHash> Hash for Lookup<'_, H> {
    fn hash<S: Hasher>(&self, state: &mut S) {
        state.write(H::hashed(self.0));
    }
}

impl<H> Equivalent<Key<H>> for Lookup<'_, H> {
    fn equivalent(&self, key: &Key<H>) -> bool {
        self.0 == key.0.as_bytes()
    }
}

/// A token a thread answered from the shared cache, and the cache's generation before it looked.
struct Recent<C> {
    token: Box<[u8]>,
    claims: Arc<C>,
    generation: u64,
}

/// A thread's recent answers, one slot per hash.
type RecentSlots<C> = RefCell<[Option<Recent<C>>; RECENT_SLOTS]>;

/// The verified tokens themselves: claims by token, used until `exp`.
pub(crate) struct VerifiedTokens<C: Send + Sync, H> {
    cache: Cache<Key<H>, Arc<C>>,
    /// Hashes of tokens that verified once and are not cached yet; a slot per hash, the latest
    /// token wins it.
    seen_once: Box<[AtomicU64]>,
    hasher: DefaultHashBuilder,
    /// Seeds [`TokenHash::slot`]: drawn from `hasher`, random per cache.
    slot_seed: u64,
    /// Each thread's recent answers from `cache`: a repeat on the same thread needs no lock.
    recent: ThreadLocal<RecentSlots<C>>,
    /// Counts `clear`s: a recent answer from an older generation is never used.
    generation: AtomicU64,
}

impl<C: Claims, H: TokenHash> VerifiedTokens<C, H> {
    pub(crate) fn new(capacity: usize) -> Self {
        let hasher = DefaultHashBuilder::default();
        Self {
            cache: Cache::new(capacity.max(1)),
            seen_once: (0..SEEN_ONCE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            slot_seed: hasher.hash_one(SEEN_ONCE_SLOTS),
            hasher,
            recent: ThreadLocal::new(),
            generation: AtomicU64::new(0),
        }
    }

    fn lookup(token: &[u8]) -> Lookup<'_, H> {
        Lookup(token, PhantomData)
    }

    /// The claims of `token` if it verified before and `now` is before its `exp`. `token` may
    /// be any bytes ([`bearer_candidate`](crate::authenticate::bearer_candidate)): only
    /// tokens that passed [`bearer_token`] and verified are in the cache, and only an equal
    /// one is answered.
    #[inline(always)]
    pub(crate) fn get(&self, token: &[u8], now: u64) -> Option<Arc<C>> {
        let slot = H::slot(token, &self.hasher, self.slot_seed);
        // Read before the shared cache is: whatever `clear` removes from it after this read is
        // remembered under this generation, which `clear` then ends.
        let generation = self.generation.load(Ordering::Acquire);
        let recent = self
            .recent
            .get_or(|| RefCell::new(std::array::from_fn(|_| None)));
        // Borrowed only here, on this thread (what runs meanwhile, `expires_at` and dropping a
        // slot's claims, cannot reach it again); `try_` keeps that panic-free all the same.
        if let Ok(slots) = recent.try_borrow()
            && let Some(answer) = &slots[slot]
            && answer.generation == generation
            && now < answer.claims.expires_at()
            && *answer.token == *token
        {
            return Some(Arc::clone(&answer.claims));
        }
        self.get_shared(token, now, recent, slot, generation)
    }

    /// [`get`](Self::get) past the thread's slots: the shared cache, whose answer then takes
    /// the slot. Out of line: a repeated token is answered before it.
    #[inline(never)]
    fn get_shared(
        &self,
        token: &[u8],
        now: u64,
        recent: &RecentSlots<C>,
        slot: usize,
        generation: u64,
    ) -> Option<Arc<C>> {
        let claims = self.cache.get(&Self::lookup(token))?;
        if now < claims.expires_at() {
            if let Ok(mut slots) = recent.try_borrow_mut() {
                slots[slot] = Some(Recent {
                    token: token.into(),
                    claims: Arc::clone(&claims),
                    generation,
                });
            }
            Some(claims)
        } else {
            self.cache.remove(&Self::lookup(token));
            None
        }
    }

    /// The call's claims if its bearer token is in the cache and before its `exp`: found by
    /// the bytes after `Bearer ` ([`bearer_candidate`]), not checked against the token grammar
    /// again, as only an exact copy of a token that passed [`bearer_token`] is answered.
    #[inline(always)]
    pub(crate) fn answer(&self, call: &CallContext<'_>, max_token_bytes: usize) -> Option<Arc<C>> {
        let token = bearer_candidate(call.metadata, max_token_bytes)?;
        self.get(token, call.now)
    }

    /// Remembers the claims of a token that just verified, if it verified once before.
    pub(crate) fn insert(&self, token: &str, claims: &Arc<C>, now: u64) {
        if now >= claims.expires_at() {
            return;
        }
        // Never 0, the empty slot.
        let hash = self.hasher.hash_one(Self::lookup(token.as_bytes())) | 1;
        let slot = &self.seen_once[hash as usize % SEEN_ONCE_SLOTS];
        if slot.swap(hash, Ordering::Relaxed) == hash {
            slot.store(0, Ordering::Relaxed);
            self.cache
                .insert(Key(token.into(), PhantomData), Arc::clone(claims));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.cache.capacity()
    }

    pub(crate) fn clear(&self) {
        self.cache.clear();
        // After the shared cache is empty: a thread that read the old generation and then
        // found an entry about to be cleared remembers it under the old generation.
        self.generation.fetch_add(1, Ordering::AcqRel);
        for slot in &self.seen_once {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// Wraps a bearer-token [`Authenticator`] with a bounded cache of verified tokens.
/// [`JwtAuthenticator`](crate::jwt::JwtAuthenticator) has one built in; this is for your own
/// token authenticators.
pub struct CachedAuthenticator<A, C: Send + Sync> {
    inner: A,
    tokens: VerifiedTokens<C, WholeToken>,
    max_token_bytes: usize,
}

impl<A: fmt::Debug, C: Claims> fmt::Debug for CachedAuthenticator<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedAuthenticator")
            .field("inner", &self.inner)
            .field("entries", &self.tokens.len())
            .field("capacity", &self.tokens.capacity())
            .finish()
    }
}

impl<A: Authenticator<C>, C: Claims> CachedAuthenticator<A, C> {
    /// Caches up to [`DEFAULT_CAPACITY`] tokens verified by `inner`.
    pub fn new(inner: A) -> Self {
        Self::with_capacity(inner, DEFAULT_CAPACITY)
    }

    /// Caches up to `capacity` tokens verified by `inner`.
    pub fn with_capacity(inner: A, capacity: usize) -> Self {
        Self {
            inner,
            tokens: VerifiedTokens::new(capacity),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// How many verified tokens are cached now.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every cached token (after a key was revoked, say).
    pub fn clear(&self) {
        self.tokens.clear();
    }
}

impl<A: Authenticator<C>, C: Claims> Authenticator<C> for CachedAuthenticator<A, C> {
    fn authenticate(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError> {
        if let Some(claims) = self.tokens.answer(call, self.max_token_bytes) {
            return Ok(Authentication {
                claims,
                credential: Credential::Jwt,
            });
        }
        // A malformed header fails here exactly as in the inner authenticator.
        let token = bearer_token(call.metadata, self.max_token_bytes)?;
        let authentication = self.inner.authenticate(call)?;
        self.tokens.insert(token, &authentication.claims, call.now);
        Ok(authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StandardClaims;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tonic::metadata::{MetadataMap, MetadataValue};

    /// Accepts `good-<exp>` tokens and counts how often it is asked.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl Authenticator<StandardClaims> for Counting {
        fn authenticate(
            &self,
            call: &CallContext<'_>,
        ) -> Result<Authentication<StandardClaims>, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let token = bearer_token(call.metadata, 1024)?;
            let exp: u64 = token
                .strip_prefix("good-")
                .and_then(|e| e.parse().ok())
                .ok_or_else(|| AuthError::InvalidToken("bad".into()))?;
            let claims = serde_json::from_value(serde_json::json!({"sub": "a", "exp": exp}))
                .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
            Ok(Authentication {
                claims: Arc::new(claims),
                credential: Credential::Jwt,
            })
        }
    }

    fn authenticate(
        cache: &CachedAuthenticator<Counting, StandardClaims>,
        token: &str,
        now: u64,
    ) -> Result<Authentication<StandardClaims>, AuthError> {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
        let extensions = tonic::Extensions::new();
        cache.authenticate(&CallContext {
            metadata: &metadata,
            extensions: &extensions,
            now,
        })
    }

    fn call(cache: &CachedAuthenticator<Counting, StandardClaims>, token: &str, now: u64) -> bool {
        authenticate(cache, token, now).is_ok()
    }

    fn claims(subject: &str) -> Arc<StandardClaims> {
        Arc::new(serde_json::from_value(serde_json::json!({"sub": subject, "exp": 1_000})).unwrap())
    }

    /// A cached token is found by its raw bytes without the grammar check: every header that
    /// is not exactly a well-formed `Bearer` value with that token gets what it gets without a
    /// cache, refusals included.
    #[test]
    fn the_cache_changes_no_outcome_of_a_near_miss_header() {
        let cache = CachedAuthenticator::new(Counting::default());
        assert!(call(&cache, "good-100", 10));
        assert!(call(&cache, "good-100", 10));
        assert_eq!(cache.len(), 1);
        let values: [&[&str]; 9] = [
            &["Bearer good-100"],
            &["bearer good-100"],
            &["Bearer good-100 "],
            &["Bearer  good-100"],
            &["Bearer good-100\t"],
            &["Basic good-100"],
            &["Bearergood-100"],
            &["Bearer good-100", "Bearer good-100"],
            &[],
        ];
        for value in values {
            let mut metadata = MetadataMap::new();
            for v in value {
                metadata.append("authorization", MetadataValue::try_from(*v).unwrap());
            }
            let extensions = tonic::Extensions::new();
            let context = CallContext {
                metadata: &metadata,
                extensions: &extensions,
                now: 20,
            };
            let cached = cache.authenticate(&context).map(|a| a.claims);
            let uncached = Counting::default().authenticate(&context).map(|a| a.claims);
            assert_eq!(format!("{cached:?}"), format!("{uncached:?}"), "{value:?}");
        }
    }

    /// Tokens whose hashed ends are the same (and so hash alike) are two entries, each
    /// answered with its own claims; one that only shares the end is not answered at all.
    #[test]
    fn tokens_that_hash_alike_are_told_apart_by_the_whole_token() {
        let tokens = VerifiedTokens::<StandardClaims, JwtSignatureEnd>::new(16);
        let end = "s".repeat(JWT_HASHED_BYTES);
        let (alice, bob) = (format!("a.a.{end}"), format!("b.b.{end}"));
        // Each at its second verification (the seen-once filter keeps hashes too).
        for (token, subject) in [(&alice, "alice"), (&bob, "bob")] {
            tokens.insert(token, &claims(subject), 10);
            tokens.insert(token, &claims(subject), 10);
        }
        assert_eq!(tokens.len(), 2);
        // In turn, several times: the two share this thread's recent slot too.
        for _ in 0..3 {
            assert_eq!(tokens.get(alice.as_bytes(), 20).unwrap().subject(), "alice");
            assert_eq!(tokens.get(bob.as_bytes(), 20).unwrap().subject(), "bob");
        }
        assert!(tokens.get(format!("c.c.{end}").as_bytes(), 20).is_none());
        assert!(tokens.get(end.as_bytes(), 20).is_none());
    }

    #[test]
    fn repeats_are_answered_from_memory_until_exp_and_failures_are_not_cached() {
        let cache = CachedAuthenticator::new(Counting::default());
        // Cached at its second sight.
        assert!(call(&cache, "good-100", 10));
        assert!(cache.is_empty(), "a token seen once was cached");
        assert!(call(&cache, "good-100", 20));
        assert!(call(&cache, "good-100", 50));
        assert!(call(&cache, "good-100", 99));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 1);

        // At exp the entry is dropped and the inner authenticator decides again.
        assert!(call(&cache, "good-100", 100));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 3);
        assert!(cache.is_empty(), "an expired entry was kept");

        assert!(!call(&cache, "bad", 10));
        assert!(!call(&cache, "bad", 10));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_token_is_answered_only_with_its_own_claims() {
        let cache = CachedAuthenticator::new(Counting::default());
        for token in ["good-1000", "good-2000"] {
            assert!(call(&cache, token, 10));
            assert!(call(&cache, token, 10));
        }
        assert_eq!(cache.len(), 2);
        let claims = |token: &str| authenticate(&cache, token, 10).unwrap().claims.expires_at();
        assert_eq!(claims("good-1000"), 1000);
        assert_eq!(claims("good-2000"), 2000);
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 4);
    }

    /// More cached tokens than a thread has recent slots, asked in turn: each answer is the
    /// token's own, and none needs the inner authenticator.
    #[test]
    fn recent_slots_shared_by_many_tokens_answer_each_with_its_own_claims() {
        let cache = CachedAuthenticator::new(Counting::default());
        let exps: Vec<u64> = (1_000..1_000 + 8 * RECENT_SLOTS as u64).collect();
        for exp in &exps {
            assert!(call(&cache, &format!("good-{exp}"), 10));
            assert!(call(&cache, &format!("good-{exp}"), 10));
        }
        let verified = cache.inner.0.load(Ordering::SeqCst);
        for _ in 0..3 {
            for exp in exps.iter().chain(exps.iter().rev()) {
                let claims = authenticate(&cache, &format!("good-{exp}"), 20)
                    .unwrap()
                    .claims;
                assert_eq!(claims.expires_at(), *exp);
            }
        }
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), verified);
    }

    /// A JWT's front slot comes from the end of its signature: tokens that differ only there
    /// spread over every slot about evenly, whatever the cache's seed, and a token shorter than
    /// 8 bytes has a slot too.
    #[test]
    fn jwt_signature_ends_spread_over_every_recent_slot() {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let per_slot = 1_000;
        for _ in 0..3 {
            let cache = VerifiedTokens::<StandardClaims, JwtSignatureEnd>::new(1);
            let slot = |token: &[u8]| JwtSignatureEnd::slot(token, &cache.hasher, cache.slot_seed);
            let mut counts = [0usize; RECENT_SLOTS];
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            for _ in 0..per_slot * RECENT_SLOTS {
                let mut token = b"eyJhbGciOiJFUzI1NiJ9.e30.MEUCIQD".to_vec();
                for _ in 0..8 {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    token.push(ALPHABET[(state >> 58) as usize]);
                }
                counts[slot(&token)] += 1;
            }
            assert!(
                counts
                    .iter()
                    .all(|&n| n > per_slot * 3 / 4 && n < per_slot * 5 / 4),
                "{counts:?}"
            );
            for short in [&b""[..], b"a", b"abcdefg"] {
                assert!(slot(short) < RECENT_SLOTS);
            }
        }
    }

    /// A thread's recent answer is refused at `exp` like the shared cache's, and `clear` on
    /// any thread ends every thread's.
    #[test]
    fn recent_answers_end_at_exp_and_with_clear_on_any_thread() {
        let asked = |cache: &CachedAuthenticator<Counting, StandardClaims>| {
            cache.inner.0.load(Ordering::SeqCst)
        };
        let cache = CachedAuthenticator::new(Counting::default());
        for now in [10, 10, 20, 30, 99] {
            assert!(call(&cache, "good-100", now));
        }
        assert_eq!(asked(&cache), 2, "answered from memory before exp");
        assert!(call(&cache, "good-100", 100));
        assert_eq!(asked(&cache), 3, "answered from memory at exp");

        let cache = CachedAuthenticator::new(Counting::default());
        let (to_worker, worker_inbox) = std::sync::mpsc::channel::<()>();
        let (to_main, main_inbox) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let cache = &cache;
            scope.spawn(move || {
                // Verified twice (cached), then answered from the shared cache and remembered
                // by this thread, then from this thread's memory.
                for _ in 0..4 {
                    assert!(call(cache, "good-1000", 10));
                }
                to_main.send(()).unwrap();
                worker_inbox.recv().unwrap();
                assert!(call(cache, "good-1000", 10));
                to_main.send(()).unwrap();
            });
            main_inbox.recv().unwrap();
            assert_eq!(asked(cache), 2);
            cache.clear();
            to_worker.send(()).unwrap();
            main_inbox.recv().unwrap();
        });
        assert_eq!(
            asked(&cache),
            3,
            "the worker answered a cleared token from memory"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let cache = CachedAuthenticator::with_capacity(Counting::default(), 100);
        for exp in 1_000..3_000 {
            assert!(call(&cache, &format!("good-{exp}"), 10));
            assert!(call(&cache, &format!("good-{exp}"), 10));
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
    }
}
