//! Where the authenticator finds its keys: static keys, then each JWKS URL's current set.

use std::sync::Arc;

use jsonwebtoken::Algorithm;

use crate::jwt::jwks::{JwksSource, JwksStatus};
use crate::jwt::key::JwtKey;

/// The keys of an authenticator.
#[derive(Debug)]
pub(crate) struct KeyStore {
    /// Keys given in the configuration (`.key(..)`, JWK set files); they never change.
    fixed: Arc<[JwtKey]>,
    /// Keys fetched from JWKS URLs, in the order the URLs were configured.
    jwks: Vec<JwksSource>,
}

/// A key found for a token, with the snapshot that holds it.
pub(crate) struct FoundKey {
    keys: Arc<[JwtKey]>,
    index: usize,
}

impl FoundKey {
    pub(crate) fn key(&self) -> &JwtKey {
        &self.keys[self.index]
    }
}

/// Which key a token's header selects: the key with its `kid` when it has one (a key without
/// a `kid` is never selected by one), else the first key of its `alg`.
fn selects(key: &JwtKey, kid: Option<&str>, alg: Algorithm) -> bool {
    match (kid, key.kid()) {
        (Some(kid), Some(key_kid)) => kid == key_kid,
        (Some(_), None) => false,
        (None, _) => key.algorithm() == alg,
    }
}

impl KeyStore {
    pub(crate) fn new(fixed: Vec<JwtKey>, jwks: Vec<JwksSource>) -> Self {
        Self {
            fixed: Arc::from(fixed),
            jwks,
        }
    }

    /// The key a token's header selects, searching static keys first, then each JWKS URL.
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<FoundKey> {
        let snapshots =
            std::iter::once(Arc::clone(&self.fixed)).chain(self.jwks.iter().map(JwksSource::keys));
        for keys in snapshots {
            if let Some(index) = keys.iter().position(|key| selects(key, kid, alg)) {
                return Some(FoundKey { keys, index });
            }
        }
        None
    }

    /// Lets each JWKS URL whose keys are past their TTL at `now` refresh in the background.
    pub(crate) fn check_ttl(&self, now: u64) {
        for source in &self.jwks {
            source.check_ttl(now);
        }
    }

    /// A token named a `kid` no key has: each JWKS URL refetches, at most once per interval.
    pub(crate) fn unknown_kid(&self, now: u64) {
        for source in &self.jwks {
            source.request_refetch(now);
        }
    }

    pub(crate) fn jwks_status(&self) -> Vec<JwksStatus> {
        self.jwks.iter().map(JwksSource::status).collect()
    }
}
