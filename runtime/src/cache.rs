//! A bounded cache of verified tokens.
//!
//! Verifying an ES256 signature costs about twice a whole unary call's server CPU, and a client
//! sends the same token on every call until it expires. [`CachedAuthenticator`] remembers the
//! claims of tokens that verified, keyed by the SHA-256 of the token (the token itself is not
//! kept), and answers a repeated token from memory until its `exp`:
//!
//! - only successes are cached; a token that failed is verified again next time;
//! - an entry is never used at or past the token's `exp` (the leeway the authenticator allows
//!   for clock skew is not extended to cached entries);
//! - the cache holds at most `capacity` tokens (default 10,000) and evicts the least useful
//!   (quick_cache's CLOCK-Pro); memory stays bounded whatever callers send.
//!
//! A token keeps working from the cache until `exp` even if its signing key is removed from the
//! key set meanwhile, exactly as a JWT without a cache would on any replica that verified it.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use quick_cache::sync::Cache;

use crate::authenticate::{
    Authentication, Authenticator, CallContext, Credential, DEFAULT_MAX_TOKEN_BYTES, bearer_token,
};
use crate::claims::Claims;
use crate::error::AuthError;

/// The default number of verified tokens kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The verified tokens themselves: claims by SHA-256 of the token, used until `exp`.
pub(crate) struct VerifiedTokens<C> {
    cache: Cache<[u8; 32], Arc<C>>,
}

impl<C: Claims> VerifiedTokens<C> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            cache: Cache::new(capacity.max(1)),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        digest(&SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes")
    }

    /// The claims of `token` if it verified before and `now` is before its `exp`.
    pub(crate) fn get(&self, token: &str, now: u64) -> Option<Arc<C>> {
        let key = Self::key(token);
        let claims = self.cache.get(&key)?;
        if now < claims.expires_at() {
            Some(claims)
        } else {
            self.cache.remove(&key);
            None
        }
    }

    /// Remembers the claims of a token that just verified.
    pub(crate) fn insert(&self, token: &str, claims: &Arc<C>, now: u64) {
        if now < claims.expires_at() {
            self.cache.insert(Self::key(token), Arc::clone(claims));
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
    }
}

/// Wraps a bearer-token [`Authenticator`] with a bounded cache of verified tokens.
/// [`JwtAuthenticator`](crate::jwt::JwtAuthenticator) has one built in; this is for your own
/// token authenticators.
pub struct CachedAuthenticator<A, C> {
    inner: A,
    tokens: VerifiedTokens<C>,
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
        // A malformed header fails here exactly as in the inner authenticator.
        let token = bearer_token(call.metadata, self.max_token_bytes)?;
        if let Some(claims) = self.tokens.get(token, call.now) {
            return Ok(Authentication {
                claims,
                credential: Credential::Jwt,
            });
        }
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

    fn call(cache: &CachedAuthenticator<Counting, StandardClaims>, token: &str, now: u64) -> bool {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
        let extensions = tonic::Extensions::new();
        cache
            .authenticate(&CallContext {
                metadata: &metadata,
                extensions: &extensions,
                now,
            })
            .is_ok()
    }

    #[test]
    fn repeats_are_answered_from_memory_until_exp_and_failures_are_not_cached() {
        let cache = CachedAuthenticator::new(Counting::default());
        assert!(call(&cache, "good-100", 10));
        assert!(call(&cache, "good-100", 50));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 1);

        // At exp the entry is dropped and the inner authenticator decides again.
        assert!(call(&cache, "good-100", 100));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 2);
        assert!(cache.is_empty(), "an expired entry was kept");

        assert!(!call(&cache, "bad", 10));
        assert!(!call(&cache, "bad", 10));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn memory_is_bounded() {
        let cache = CachedAuthenticator::with_capacity(Counting::default(), 100);
        for exp in 1_000..3_000 {
            assert!(call(&cache, &format!("good-{exp}"), 10));
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
    }
}
