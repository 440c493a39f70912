//! The authenticator: configuration, and the checks of one token.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use std::borrow::Cow;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;

use crate::authenticate::{
    Authentication, Authenticator, CallContext, Credential, DEFAULT_MAX_TOKEN_BYTES, bearer_token,
};
use crate::cache::{JwtSignatureEnd, VerifiedTokens};
use crate::claims::{Claims, StandardClaims};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError};
use crate::jwt::jwk::{self, JwkRules};
use crate::jwt::jwks::{JwksOptions, JwksSource, JwksStatus};
use crate::jwt::key::JwtKey;
use crate::jwt::store::KeyStore;

/// The default clock-skew allowance for `exp`, `nbf` and `iat`, 60 seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Verifies `authorization: Bearer <jwt>` against pinned keys, issuer and audience.
///
/// ```
/// use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
/// let authenticator = JwtAuthenticator::<mcp_auth::StandardClaims>::builder()
///     .issuer("https://issuer.example")
///     .audience("mcp-tools")
///     .key(JwtKey::hs256(b"an hmac secret of at least 32 bytes!").with_kid("dev"))
///     .build()
///     .unwrap();
/// # let _ = authenticator;
/// ```
///
/// With a JWKS URL it owns a background task that refreshes the keys; dropping the
/// authenticator ends it.
pub struct JwtAuthenticator<C: Send + Sync = StandardClaims> {
    keys: KeyStore,
    /// The issuers and audiences accepted.
    expected: Expected,
    leeway: u64,
    max_token_bytes: usize,
    verified: Option<VerifiedTokens<C, JwtSignatureEnd>>,
    _claims: PhantomData<fn() -> C>,
}

impl<C: Send + Sync> fmt::Debug for JwtAuthenticator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("keys", &self.keys)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish()
    }
}

/// Configures a [`JwtAuthenticator`]. Issuer and audience are required.
pub struct JwtAuthenticatorBuilder<C = StandardClaims> {
    issuers: Vec<String>,
    audiences: Vec<String>,
    keys: Vec<JwtKey>,
    jwk_set_files: Vec<PathBuf>,
    jwks_urls: Vec<String>,
    jwks_options: JwksOptions,
    rsa_jwk_algorithm: Option<Algorithm>,
    clock: Arc<dyn Clock>,
    leeway: u64,
    max_token_bytes: usize,
    cache_capacity: usize,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtAuthenticatorBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticatorBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys)
            .field("jwk_set_files", &self.jwk_set_files)
            .field("jwks_urls", &self.jwks_urls)
            .field("jwks_options", &self.jwks_options)
            .field("rsa_jwk_algorithm", &self.rsa_jwk_algorithm)
            .field("clock", &self.clock)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("cache_capacity", &self.cache_capacity)
            .finish()
    }
}

impl<C: Claims> JwtAuthenticator<C> {
    /// Starts the configuration.
    pub fn builder() -> JwtAuthenticatorBuilder<C> {
        JwtAuthenticatorBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            keys: Vec::new(),
            jwk_set_files: Vec::new(),
            jwks_urls: Vec::new(),
            jwks_options: JwksOptions::default(),
            rsa_jwk_algorithm: None,
            clock: Arc::new(SystemClock),
            leeway: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            cache_capacity: crate::cache::DEFAULT_CAPACITY,
            _claims: PhantomData,
        }
    }

    /// Verifies one token at time `now` (seconds since the Unix epoch).
    ///
    /// A token whose `kid` no key has fails at once; if the authenticator has JWKS URLs, it
    /// also asks them for a refetch in the background (at most once per
    /// [`JwksOptions::unknown_kid_interval`]), so a retry succeeds once the issuer's new key
    /// has been fetched.
    pub fn verify(&self, token: &str, now: u64) -> Result<C, AuthError> {
        use base64::Engine as _;
        let invalid = |what: &str| AuthError::InvalidToken(what.to_owned());
        let base64url = |segment: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(segment)
                .ok()
        };
        // A compact JWS: exactly three segments (RFC 7515 §7.1).
        let mut segments = token.split('.');
        let (Some(header_segment), Some(claims_segment), Some(signature_segment), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(invalid("not three dot-separated segments"));
        };
        // RFC 7519 7.2: the header and the claims are UTF-8. serde_json skips the members a
        // type does not read without checking their UTF-8, so a signed token with invalid bytes
        // in an unknown member would pass; found by the `token_signed` fuzz target. Checked
        // once, whole; serde_json then reads a `&str` without checking each string again.
        // Both are JSON objects (RFC 7515 §4, RFC 7519 §7.2): serde's derive would also read
        // a struct from an array, member by member in order.
        let object = |segment: &str| {
            base64url(segment)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|json| json.trim_ascii_start().starts_with('{'))
        };
        let (Some(header_json), Some(claims_json)) =
            (object(header_segment), object(claims_segment))
        else {
            return Err(invalid(
                "header or claims not a base64url-encoded UTF-8 JSON object",
            ));
        };
        let header: JoseHeader<'_> =
            serde_json::from_str(&header_json).map_err(|_| invalid("malformed header"))?;
        // By its name only: the enum's derived form would also read `{"HS256": null}`.
        let alg: Algorithm = header
            .alg
            .0
            .parse()
            .map_err(|_| invalid("unsupported alg"))?;
        if let Some(typ) = header.typ.as_deref() {
            // RFC 7515 §4.1.9: case-insensitive, `application/` may be left out.
            let typ = typ
                .get(..12)
                .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
                .map_or(typ, |_| &typ[12..]);
            if !typ.eq_ignore_ascii_case("jwt") && !typ.eq_ignore_ascii_case("at+jwt") {
                return Err(invalid("unexpected typ"));
            }
        }
        if header.crit.is_some() {
            // No critical header extension is understood here (RFC 7515 §4.1.11).
            return Err(invalid("unsupported crit header"));
        }
        self.keys.check_ttl(now);
        let Some(found) = self.keys.find(header.kid.as_deref(), alg) else {
            if header.kid.is_some() {
                self.keys.unknown_kid(now);
            }
            return Err(invalid("no key for the token's kid and alg"));
        };
        let key = found.key();
        if key.algorithm() != alg {
            return Err(invalid("alg does not match the key's algorithm"));
        }
        // The signature, before anything in the claims is read. The key was parsed when it
        // was loaded; `jsonwebtoken::decode` would parse it again, decode the header twice
        // and deserialize the claims twice (0.2-3 µs a token, see BENCHMARKS.md).
        let signature =
            base64url(signature_segment).ok_or_else(|| invalid("signature not base64url"))?;
        let signing_input = &token.as_bytes()[..header_segment.len() + 1 + claims_segment.len()];
        if !key.verifies(signing_input, &signature) {
            return Err(invalid("bad signature"));
        }
        self.expected.check(&claims_json)?;
        // The error's category and place, never the values it quotes.
        let claims: C = serde_json::from_str(&claims_json).map_err(|e| {
            AuthError::InvalidToken(format!(
                "claims: {:?} error at column {}",
                e.classify(),
                e.column()
            ))
        })?;
        if claims.subject().is_empty() {
            return Err(invalid("empty sub"));
        }
        // RFC 7519 4.1.4: the current time must be before `exp`.
        if now >= claims.expires_at().saturating_add(self.leeway) {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = claims.not_before()
            && now.saturating_add(self.leeway) < nbf
        {
            return Err(invalid("not yet valid (nbf)"));
        }
        if let Some(iat) = claims.issued_at()
            && iat > now.saturating_add(self.leeway)
        {
            return Err(invalid("issued in the future (iat)"));
        }
        Ok(claims)
    }

    /// The state of each JWKS URL (keys in use, fetches, failures, the last error), in the
    /// order they were configured; empty without JWKS URLs.
    pub fn jwks_status(&self) -> Vec<JwksStatus> {
        self.keys.jwks_status()
    }
}

impl<C: Claims> Authenticator<C> for JwtAuthenticator<C> {
    /// A token answered from the cache takes the inlined path; the rest is out of line.
    #[inline(always)]
    fn authenticate(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError> {
        if let Some(claims) = self
            .verified
            .as_ref()
            .and_then(|verified| verified.answer(call, self.max_token_bytes))
        {
            return Ok(Authentication {
                claims,
                credential: Credential::Jwt,
            });
        }
        self.verify_call(call)
    }
}

impl<C: Claims> JwtAuthenticator<C> {
    /// [`authenticate`](Authenticator::authenticate) for a token the cache did not answer.
    #[inline(never)]
    fn verify_call(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError> {
        let token = bearer_token(call.metadata, self.max_token_bytes)?;
        let claims = Arc::new(self.verify(token, call.now)?);
        if let Some(verified) = &self.verified {
            verified.insert(token, &claims, call.now);
        }
        Ok(Authentication {
            claims,
            credential: Credential::Jwt,
        })
    }
}

impl<C: Claims> JwtAuthenticatorBuilder<C> {
    /// Accepts tokens whose `iss` is `issuer` (call again to accept several). Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` contains `audience` (call again to accept several). Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds a verification key.
    pub fn key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds the keys of a JWK set file (`{"keys": [...]}`, the format of a JWKS URL), read
    /// when the authenticator is built. Keys that cannot be used (`use` other than `sig`, an
    /// unsupported type or curve, an RSA key without `alg` and no
    /// [`rsa_jwk_algorithm`](Self::rsa_jwk_algorithm), a duplicate `kid`...) are skipped with
    /// a warning; a file with no usable key fails the build. HMAC (`oct`) keys are accepted
    /// from a file, with `alg` and a secret of the hash's length.
    pub fn jwk_set_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.jwk_set_files.push(path.into());
        self
    }

    /// Adds a JWKS URL (call again for several). It is fetched by
    /// [`build_async`](Self::build_async), which fails if that first fetch fails, then cached
    /// and refreshed in the background as [`JwksOptions`] says. `https://` is required, except
    /// for loopback addresses (or with [`JwksOptions::allow_plain_http`]). HMAC keys are never
    /// taken from a URL.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_urls.push(url.into());
        self
    }

    /// Sets how JWKS URLs are fetched and cached (see [`JwksOptions`] for the defaults).
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.jwks_options = options;
        self
    }

    /// The algorithm of RSA keys without `alg` in JWK sets (files and URLs): one of `RS256`,
    /// `RS384`, `RS512`, `PS256`, `PS384`, `PS512`. Without it such keys are skipped: an RSA
    /// key fits six algorithms, and the token must not be the one to choose.
    pub fn rsa_jwk_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.rsa_jwk_algorithm = Some(algorithm);
        self
    }

    /// The clock of the JWKS cache's TTL (default: the system clock). Give the
    /// [`Authorizer`](crate::Authorizer) the same one: the calls' time decides when cached
    /// keys are stale and when an unknown `kid` may cause another refetch.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the clock-skew allowance for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway_secs(mut self, leeway: u64) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the cap on a token's length (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Sets how many verified tokens are remembered until their `exp` (default 10,000; `0`
    /// turns the cache off). From its second sight a repeated token then costs a hash and a
    /// lookup instead of a signature check; see [`crate::cache`].
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Checks the configuration and builds the authenticator. A configuration with JWKS URLs
    /// needs [`build_async`](Self::build_async), which fetches them first.
    pub fn build(self) -> Result<JwtAuthenticator<C>, ConfigError> {
        if !self.jwks_urls.is_empty() {
            return Err(ConfigError::new(
                "JWKS URLs are fetched before the authenticator is used: build with `.build_async().await`",
            ));
        }
        let fixed = self.fixed_keys()?;
        Ok(self.finish(fixed, Vec::new()))
    }

    /// Checks the configuration, fetches every JWKS URL, and builds the authenticator. Fails
    /// if a first fetch fails (unreachable, slower than [`JwksOptions::timeout`], not a JWK set
    /// with a usable key), so a server never starts without its keys.
    ///
    /// Must run on the tokio runtime that will serve: each JWKS URL gets a task there that
    /// refreshes its keys until the authenticator is dropped (if that runtime shuts down
    /// first, the keys in hand stay in use, unrefreshed).
    pub async fn build_async(self) -> Result<JwtAuthenticator<C>, ConfigError> {
        let fixed = self.fixed_keys()?;
        let rules = JwkRules {
            pinned: None,
            rsa_default: self.rsa_jwk_algorithm,
            allow_symmetric: false,
        };
        let mut sources = Vec::with_capacity(self.jwks_urls.len());
        for url in &self.jwks_urls {
            let source =
                JwksSource::start(url, &self.jwks_options, rules, Arc::clone(&self.clock)).await?;
            sources.push(source);
        }
        Ok(self.finish(fixed, sources))
    }

    /// Checks issuer, audience and keys; reads the JWK set files.
    fn fixed_keys(&self) -> Result<Vec<JwtKey>, ConfigError> {
        install_crypto_provider();
        if self.issuers.is_empty() {
            return Err(ConfigError::new(
                "no issuer configured: call `.issuer(..)` with the `iss` your tokens carry",
            ));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::new(
                "no audience configured: call `.audience(..)` with this server's `aud`",
            ));
        }
        if self.keys.is_empty() && self.jwk_set_files.is_empty() && self.jwks_urls.is_empty() {
            return Err(ConfigError::new("no verification key configured"));
        }
        if let Some(algorithm) = self.rsa_jwk_algorithm
            && algorithm.family() != AlgorithmFamily::Rsa
        {
            return Err(ConfigError::new(format!(
                "`rsa_jwk_algorithm` must be an RSA algorithm (RS256..PS512), not {algorithm:?}"
            )));
        }
        let mut keys = self.keys.clone();
        for key in &keys {
            key.check_secret_strength().map_err(ConfigError::new)?;
        }
        let rules = JwkRules {
            pinned: None,
            rsa_default: self.rsa_jwk_algorithm,
            allow_symmetric: true,
        };
        for path in &self.jwk_set_files {
            let fail = |e: String| ConfigError::new(format!("JWK set {}: {e}", path.display()));
            let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
            let set = jwk::parse_set(&bytes, &rules).map_err(fail)?;
            for skipped in &set.skipped {
                tracing::warn!(target: "mcp_auth::jwks", file = %path.display(), "skipped {skipped}");
            }
            keys.extend(set.keys);
        }
        Ok(keys)
    }

    fn finish(self, fixed: Vec<JwtKey>, jwks: Vec<JwksSource>) -> JwtAuthenticator<C> {
        JwtAuthenticator {
            keys: KeyStore::new(fixed, jwks),
            expected: Expected {
                issuers: self.issuers.into(),
                audiences: self.audiences.into(),
            },
            leeway: self.leeway,
            max_token_bytes: self.max_token_bytes,
            verified: (self.cache_capacity > 0).then(|| VerifiedTokens::new(self.cache_capacity)),
            _claims: PhantomData,
        }
    }
}

/// The issuers and audiences a token must name.
#[derive(Debug)]
struct Expected {
    issuers: Box<[String]>,
    audiences: Box<[String]>,
}

/// The JOSE header members `verify` reads (RFC 7515 §4.1), borrowed where the JSON has no
/// escapes. The others (`jwk`, `jku`, `x5u`, `x5c`, `cty`, ...) are never used, whatever they
/// hold: the key comes from the configuration, never the token. A repeated member of these four
/// is refused. (jsonwebtoken's `Header` would also copy every other member into a map of JSON
/// values, for nothing here.)
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Borrowed<'a>,
    #[serde(borrow)]
    typ: Option<Borrowed<'a>>,
    #[serde(borrow)]
    kid: Option<Borrowed<'a>>,
    /// Present (not `null`) means refused: no critical extension is understood here.
    crit: Option<serde::de::IgnoredAny>,
}

/// The registered claims `verify` checks against [`Expected`], borrowed where the JSON has no
/// escapes. A duplicated member, or one of the wrong type, fails to deserialize.
#[derive(Deserialize)]
struct Registered<'a> {
    #[serde(borrow)]
    iss: Option<Borrowed<'a>>,
    #[serde(borrow)]
    aud: Option<Audience<'a>>,
}

/// `aud`: one string, or an array of strings (RFC 7519 §4.1.3).
enum Audience<'a> {
    One(Borrowed<'a>),
    Many(Vec<Borrowed<'a>>),
}

/// A string borrowed from the JSON where it has no escapes. (`#[serde(borrow)]` borrows a
/// `Cow<str>` field only when the field's type is the `Cow` itself, not an `Option` or a
/// `Vec` of it.)
#[derive(Deserialize)]
struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Borrowed<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// By its JSON type, where `#[serde(untagged)]` would copy the value into a buffer and try
/// each shape in turn (a tenth of a first sight's claims checks).
impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape<'a>(PhantomData<Audience<'a>>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Shape<'a> {
            type Value = Audience<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_borrowed_str<E>(self, aud: &'de str) -> Result<Audience<'a>, E> {
                Ok(Audience::One(Borrowed(Cow::Borrowed(aud))))
            }

            fn visit_str<E>(self, aud: &str) -> Result<Audience<'a>, E> {
                Ok(Audience::One(Borrowed(Cow::Owned(aud.to_owned()))))
            }

            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Audience<'a>, S::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(aud) = seq.next_element::<Borrowed<'a>>()? {
                    all.push(aud);
                }
                Ok(Audience::Many(all))
            }
        }
        deserializer.deserialize_any(Shape(PhantomData))
    }
}

impl Expected {
    /// `iss` must be one of the issuers (a single string: RFC 7519 §4.1.1), and `aud` must
    /// name one of the audiences (RFC 7519 §4.1.3). Both are required.
    fn check(&self, claims_json: &str) -> Result<(), AuthError> {
        let invalid = |what: &str| AuthError::InvalidToken(what.to_owned());
        let registered: Registered<'_> =
            serde_json::from_str(claims_json).map_err(|_| invalid("malformed iss or aud"))?;
        let Some(iss) = registered.iss else {
            return Err(invalid("missing iss"));
        };
        if !self.issuers.iter().any(|issuer| *issuer == *iss) {
            return Err(invalid("unexpected iss"));
        }
        let ours = |aud: &Borrowed<'_>| self.audiences.iter().any(|ours| *ours == **aud);
        let named = match &registered.aud {
            None => return Err(invalid("missing aud")),
            Some(Audience::One(aud)) => ours(aud),
            Some(Audience::Many(auds)) => auds.iter().any(ours),
        };
        if !named {
            return Err(invalid("aud does not name this server"));
        }
        Ok(())
    }
}

/// Selects aws-lc-rs as jsonwebtoken's crypto backend for the process, if none is selected yet.
/// `verify` does not use it (it checks signatures with the keys it parsed itself), but the
/// application's own jsonwebtoken calls beside mcp-auth (signing tokens in its tests, say) then
/// never reach jsonwebtoken's "no provider" panic in a dependency graph that enables several
/// backends, as they did not when `verify` used `jsonwebtoken::decode`.
fn install_crypto_provider() {
    // An error means a provider is installed already, which is what we need.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    const SECRET: &[u8] = b"a unit-test secret of 32 bytes!!";
    const NOW: u64 = 2_000_000_000;

    fn claims() -> Value {
        json!({"iss": "https://iss", "aud": "aud", "sub": "alice", "exp": NOW + 300, "iat": NOW})
    }

    fn hs(claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    fn authenticator(key: JwtKey) -> JwtAuthenticator {
        JwtAuthenticator::builder()
            .issuer("https://iss")
            .audience("aud")
            .key(key)
            .build()
            .unwrap()
    }

    fn invalid(result: Result<StandardClaims, AuthError>) -> bool {
        matches!(result, Err(AuthError::InvalidToken(_)))
    }

    fn with_header(header: Value, claims: &Value, sign_with: Option<&[u8]>) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{h}.{c}");
        let signature = match sign_with {
            None => String::new(),
            Some(secret) => {
                // Re-sign the exact header with HS256 through jsonwebtoken's crypto.
                let key = EncodingKey::from_secret(secret);
                jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256)
                    .unwrap()
            }
        };
        format!("{signing_input}.{signature}")
    }

    #[test]
    fn a_valid_hs256_token_is_accepted() {
        let claims = authenticator(JwtKey::hs256(SECRET))
            .verify(&hs(&claims()), NOW)
            .unwrap();
        assert_eq!(claims.subject(), "alice");
    }

    #[test]
    fn the_algorithm_comes_from_the_key_never_the_header() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims(),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(
            invalid(auth.verify(&hs384, NOW)),
            "HS384 accepted by an HS256 key"
        );
        let none = with_header(json!({"alg": "none", "typ": "JWT"}), &claims(), None);
        assert!(invalid(auth.verify(&none, NOW)), "alg none accepted");
        let none = format!("{}sig", none);
        assert!(invalid(auth.verify(&none, NOW)));
    }

    #[test]
    fn hs_rs_confusion_with_the_public_key_as_secret_fails() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let public_pem = key.public_key_pem();
        let auth = authenticator(JwtKey::es256_pem(public_pem.as_bytes()).unwrap());
        let forged = jsonwebtoken::encode(
            &Header::default(),
            &claims(),
            &EncodingKey::from_secret(public_pem.as_bytes()),
        )
        .unwrap();
        assert!(invalid(auth.verify(&forged, NOW)));

        let es256 = jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &claims(),
            &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(auth.verify(&es256, NOW).unwrap().subject(), "alice");
    }

    #[test]
    fn issuer_and_audience_must_match_and_be_present() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        for (field, value) in [
            ("iss", json!("https://other")),
            ("aud", json!("other")),
            ("aud", json!(["other", "another"])),
        ] {
            let mut c = claims();
            c[field] = value;
            assert!(invalid(auth.verify(&hs(&c), NOW)), "{field} accepted");
        }
        for field in ["iss", "aud"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(field);
            assert!(
                invalid(auth.verify(&hs(&c), NOW)),
                "missing {field} accepted"
            );
        }
        let mut c = claims();
        c["aud"] = json!(["other", "aud"]);
        assert!(auth.verify(&hs(&c), NOW).is_ok());
    }

    /// An HS256 token over a header and claims given as raw bytes.
    fn hs_bytes(header: &[u8], claims: &[u8]) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let key = EncodingKey::from_secret(SECRET);
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{signing_input}.{signature}")
    }

    /// An HS256 token over claims given as raw JSON text.
    fn hs_raw(claims_json: &str) -> String {
        hs_bytes(br#"{"alg":"HS256","typ":"JWT"}"#, claims_json.as_bytes())
    }

    #[test]
    fn issuer_and_audience_are_read_strictly() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let rest = format!(r#""sub":"alice","exp":{},"iat":{NOW}"#, NOW + 300);
        let verify = |members: &str| auth.verify(&hs_raw(&format!("{{{members},{rest}}}")), NOW);
        // JSON escapes are read as what they mean.
        assert!(verify(r#""iss":"https:\/\/iss","aud":"\u0061ud""#).is_ok());
        assert!(verify(r#""iss":"https://iss","aud":["x","\u0061ud"]"#).is_ok());
        assert!(verify(r#""iss":"https://iss","aud":["x","aud"]"#).is_ok());
        for refused in [
            // `iss` is one string (RFC 7519 §4.1.1), not an array, even one naming the issuer.
            r#""iss":["https://iss"],"aud":"aud""#,
            r#""iss":null,"aud":"aud""#,
            r#""iss":7,"aud":"aud""#,
            r#""iss":"https://iss","aud":[]"#,
            r#""iss":"https://iss","aud":["aud",7]"#,
            r#""iss":"https://iss","aud":{"aud":true}"#,
            r#""iss":"https://iss","aud":null"#,
            // A repeated member is refused, whichever value comes last.
            r#""iss":"https://other","iss":"https://iss","aud":"aud""#,
            r#""iss":"https://iss","aud":"aud","aud":"aud""#,
        ] {
            assert!(invalid(verify(refused)), "accepted {refused}");
        }
    }

    #[test]
    fn a_token_is_exactly_three_segments() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let token = hs(&claims());
        assert!(auth.verify(&token, NOW).is_ok());
        let (signed, signature) = token.rsplit_once('.').unwrap();
        for bad in [
            format!("{token}."),
            format!("{token}.{signature}"),
            signed.to_owned(),
            format!(".{token}"),
            format!("{signed}.{signature}="),
            format!("{signed}..{signature}"),
        ] {
            assert!(invalid(auth.verify(&bad, NOW)), "accepted {bad}");
        }
    }

    #[test]
    fn time_claims_are_checked_against_the_given_clock_with_leeway() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let token = hs(&claims());
        assert!(
            auth.verify(&token, NOW + 300 + 59).is_ok(),
            "inside the leeway"
        );
        assert_eq!(
            auth.verify(&token, NOW + 300 + 60).unwrap_err(),
            AuthError::Expired
        );
        let mut c = claims();
        c["nbf"] = json!(NOW + 120);
        assert!(invalid(auth.verify(&hs(&c), NOW)), "not yet valid accepted");
        let mut c = claims();
        c["iat"] = json!(NOW + 120);
        assert!(
            invalid(auth.verify(&hs(&c), NOW)),
            "issued in the future accepted"
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("exp");
        assert!(invalid(auth.verify(&hs(&c), NOW)), "missing exp accepted");
        let mut c = claims();
        c["exp"] = json!("soon");
        assert!(invalid(auth.verify(&hs(&c), NOW)), "string exp accepted");
    }

    #[test]
    fn typ_and_crit_headers_are_checked() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let typ = |typ: &str| {
            let token = with_header(json!({"alg": "HS256", "typ": typ}), &claims(), Some(SECRET));
            auth.verify(&token, NOW)
        };
        for accepted in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/JWT",
        ] {
            assert!(typ(accepted).is_ok(), "typ {accepted} refused");
        }
        for refused in [
            "secevent+jwt",
            "application/",
            "application/application/jwt",
            "jwt ",
            "",
            "applicatión/jwt",
        ] {
            assert!(invalid(typ(refused)), "typ {refused:?} accepted");
        }
        for crit in [json!(["exp"]), json!([]), json!("exp")] {
            let token = with_header(
                json!({"alg": "HS256", "crit": crit, "exp": 1}),
                &claims(),
                Some(SECRET),
            );
            assert!(invalid(auth.verify(&token, NOW)), "crit {crit} accepted");
        }
    }

    #[test]
    fn header_members_never_used_are_ignored_and_those_read_are_read_strictly() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        // `jwk`, `x5c`, `jku`, `cty` and unknown members never choose anything, whatever they
        // hold (RFC 7515 §4: not understood, not critical, ignored).
        let ignored =
            json!({"alg": "HS256", "jwk": 5, "x5c": "x", "jku": null, "cty": [1], "z": {}});
        let token = with_header(ignored, &claims(), Some(SECRET));
        assert!(auth.verify(&token, NOW).is_ok());
        let raw = |header: &str| {
            let h = URL_SAFE_NO_PAD.encode(header);
            let signing_input = format!("{h}.{}", URL_SAFE_NO_PAD.encode(claims().to_string()));
            let key = EncodingKey::from_secret(SECRET);
            let signature =
                jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256)
                    .unwrap();
            auth.verify(&format!("{signing_input}.{signature}"), NOW)
        };
        assert!(raw(r#"{"alg":"HS256"}"#).is_ok());
        for refused in [
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","kid":"a","kid":"a"}"#,
            r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            // Not a JSON object: serde's derive would read the members in order from an array.
            r#"["HS256",null,null,null]"#,
            r#"["HS256"]"#,
            r#"  ["HS256"]"#,
            // The algorithm by its name only, not the enum's externally tagged form.
            r#"{"alg":{"HS256":null}}"#,
        ] {
            assert!(invalid(raw(refused)), "accepted {refused}");
        }
        assert!(
            raw(r#" {"alg":"HS256"}"#).is_ok(),
            "leading whitespace is JSON"
        );
    }

    #[test]
    fn the_header_and_the_claims_are_utf8_even_where_nothing_reads_them() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let exp = NOW + 300;
        // An unread member `x` holding `extra` in each.
        let header = |extra: &[u8]| [br#"{"alg":"HS256","x":""#.as_slice(), extra, b"\"}"].concat();
        let claims = |sub: &str, extra: &[u8]| {
            let head =
                format!(r#"{{"sub":"{sub}","iss":"https://iss","aud":"aud","exp":{exp},"x":""#);
            [head.as_bytes(), extra, b"\"}"].concat()
        };
        let token = hs_bytes(&header("é".as_bytes()), &claims("José", "ü".as_bytes()));
        assert_eq!(auth.verify(&token, NOW).unwrap().subject(), "José");
        // A lone continuation byte, an overlong `/`, a surrogate, a truncated sequence.
        for bad in [&b"\x80"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82"] {
            let in_claims = hs_bytes(&header(b""), &claims("alice", bad));
            assert!(invalid(auth.verify(&in_claims, NOW)), "claims with {bad:?}");
            let in_header = hs_bytes(&header(bad), &claims("alice", b""));
            assert!(invalid(auth.verify(&in_header, NOW)), "header with {bad:?}");
        }
    }

    #[test]
    fn the_claims_are_a_json_object() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let exp = NOW + 300;
        let array = format!(r#"["alice","https://iss",{exp},null,null,"s",null,null,null]"#);
        assert!(invalid(auth.verify(&hs_raw(&array), NOW)));
        let object = format!(r#"{{"sub":"alice","iss":"https://iss","aud":"aud","exp":{exp}}}"#);
        assert!(auth.verify(&hs_raw(&object), NOW).is_ok());
    }

    #[test]
    fn kid_selects_the_key_and_an_unknown_kid_fails() {
        let other: &[u8] = b"another unit-test secret, 32 b!!";
        let auth = JwtAuthenticator::<StandardClaims>::builder()
            .issuer("https://iss")
            .audience("aud")
            .key(JwtKey::hs256(other).with_kid("old"))
            .key(JwtKey::hs256(SECRET).with_kid("new"))
            .build()
            .unwrap();
        let mut header = Header {
            kid: Some("new".into()),
            ..Header::default()
        };
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(auth.verify(&token, NOW).is_ok());
        header.kid = Some("old".into());
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(
            invalid(auth.verify(&token, NOW)),
            "wrong key for kid accepted"
        );
        header.kid = Some("missing".into());
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(invalid(auth.verify(&token, NOW)));
    }

    #[test]
    fn tampering_is_detected() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let token = hs(&claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut c = claims();
        c["sub"] = json!("mallory");
        parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
        assert!(invalid(auth.verify(&parts.join("."), NOW)));
        let mut sig = parts[2].clone().into_bytes();
        sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
        let tampered = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap(),
            token.split('.').nth(1).unwrap(),
            String::from_utf8(sig).unwrap()
        );
        assert!(invalid(auth.verify(&tampered, NOW)));
    }

    #[test]
    fn the_builder_requires_issuer_audience_and_a_strong_key() {
        let base = || JwtAuthenticator::<StandardClaims>::builder();
        let msg = |b: JwtAuthenticatorBuilder| b.build().unwrap_err().to_string();
        assert!(msg(base().audience("a").key(JwtKey::hs256(SECRET))).contains("no issuer"));
        assert!(msg(base().issuer("i").key(JwtKey::hs256(SECRET))).contains("no audience"));
        assert!(msg(base().issuer("i").audience("a")).contains("no verification key"));
        assert!(
            msg(base()
                .issuer("i")
                .audience("a")
                .key(JwtKey::hs256(b"short")))
            .contains("at least 32 bytes")
        );
        assert!(JwtKey::es256_pem(b"not a pem").is_err());
    }

    #[test]
    fn repeated_tokens_come_from_the_cache_but_never_past_exp() {
        use tonic::metadata::{MetadataMap, MetadataValue};
        let auth = JwtAuthenticator::<StandardClaims>::builder()
            .issuer("https://iss")
            .audience("aud")
            .key(JwtKey::hs256(SECRET))
            .leeway_secs(0)
            .build()
            .unwrap();
        let mut metadata = MetadataMap::new();
        let token = hs(&claims());
        metadata.insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
        let extensions = tonic::Extensions::new();
        let at = |now| {
            auth.authenticate(&CallContext {
                metadata: &metadata,
                extensions: &extensions,
                now,
            })
        };
        // Cached at its second sight.
        at(NOW).unwrap();
        let first = at(NOW).unwrap();
        let second = at(NOW + 1).unwrap();
        assert!(Arc::ptr_eq(&first.claims, &second.claims), "not cached");
        assert_eq!(auth.verified.as_ref().unwrap().len(), 1);
        assert_eq!(at(NOW + 300).unwrap_err(), AuthError::Expired);
        assert_eq!(auth.verified.as_ref().unwrap().len(), 0);
    }

    #[test]
    fn an_empty_subject_is_refused() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let mut c = claims();
        c["sub"] = json!("");
        assert!(invalid(auth.verify(&hs(&c), NOW)));
    }
}
