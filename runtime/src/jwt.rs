//! Bearer tokens (JWT) verified with keys pinned to one algorithm each.
//!
//! The algorithm comes from the key, never from the token header: a token whose `alg` differs
//! from its key's is rejected, `none` is never accepted, and the header's `jku`, `x5u`, `jwk`
//! and `x5c` are never used to find a key. `kid` is an opaque lookup key.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::authenticate::{
    Authentication, Authenticator, CallContext, Credential, DEFAULT_MAX_TOKEN_BYTES, bearer_token,
};
use crate::claims::{Claims, StandardClaims};
use crate::error::{AuthError, ConfigError};

/// The default clock-skew allowance for `exp`, `nbf` and `iat`, 60 seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// A verification key pinned to one algorithm.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl JwtKey {
    /// An HMAC-SHA256 shared secret. Secrets shorter than 32 bytes are refused by
    /// [`JwtAuthenticatorBuilder::build`] (RFC 7518 §3.2).
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            kid: None,
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        }
    }

    /// An ECDSA P-256 public key (ES256) in PEM (`BEGIN PUBLIC KEY`).
    pub fn es256_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem)
            .map_err(|e| ConfigError::new(format!("not an EC public key in PEM: {e}")))?;
        Ok(Self {
            kid: None,
            algorithm: Algorithm::ES256,
            key,
        })
    }

    /// Sets the key id that tokens name in their `kid` header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn secret_len(&self) -> Option<usize> {
        match self.algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                self.key.try_get_as_bytes().ok().map(<[u8]>::len)
            }
            _ => None,
        }
    }
}

impl fmt::Debug for JwtKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

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
pub struct JwtAuthenticator<C = StandardClaims> {
    keys: Arc<[(JwtKey, Validation)]>,
    leeway: u64,
    max_token_bytes: usize,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtAuthenticator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field(
                "keys",
                &self.keys.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
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
    leeway: u64,
    max_token_bytes: usize,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtAuthenticatorBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticatorBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
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
            leeway: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            _claims: PhantomData,
        }
    }

    /// Verifies one token at time `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<C, AuthError> {
        let invalid = |what: &str| AuthError::InvalidToken(what.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed header"))?;
        if let Some(typ) = header.typ.as_deref() {
            let typ = typ.to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if typ != "jwt" && typ != "at+jwt" {
                return Err(invalid("unexpected typ"));
            }
        }
        if header.crit.is_some() {
            // No critical header extension is understood here (RFC 7515 §4.1.11).
            return Err(invalid("unsupported crit header"));
        }
        let (key, validation) = self
            .keys
            .iter()
            .find(|(key, _)| match (&header.kid, &key.kid) {
                (Some(kid), Some(key_kid)) => kid == key_kid,
                (Some(_), None) => false,
                (None, _) => key.algorithm == header.alg,
            })
            .ok_or_else(|| invalid("no key for the token's kid and alg"))?;
        if key.algorithm != header.alg {
            return Err(invalid("alg does not match the key's algorithm"));
        }
        let data = jsonwebtoken::decode::<C>(token, &key.key, validation)
            .map_err(|e| AuthError::InvalidToken(format!("{:?}", e.kind())))?;
        let claims = data.claims;
        if now > claims.expires_at().saturating_add(self.leeway) {
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
}

impl<C: Claims> Authenticator<C> for JwtAuthenticator<C> {
    fn authenticate(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError> {
        let token = bearer_token(call.metadata, self.max_token_bytes)?;
        let claims = self.verify(token, call.now)?;
        Ok(Authentication {
            claims: Arc::new(claims),
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

    /// Checks the configuration and builds the authenticator.
    pub fn build(self) -> Result<JwtAuthenticator<C>, ConfigError> {
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
        if self.keys.is_empty() {
            return Err(ConfigError::new("no verification key configured"));
        }
        for key in &self.keys {
            if key.secret_len().is_some_and(|len| len < 32) {
                return Err(ConfigError::new(
                    "HMAC secrets must be at least 32 bytes (RFC 7518 section 3.2)",
                ));
            }
        }
        let keys = self
            .keys
            .into_iter()
            .map(|key| {
                let mut validation = Validation::new(key.algorithm);
                // Time claims are checked in `verify` against the injected clock.
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.set_required_spec_claims(&["iss", "aud"]);
                validation.set_issuer(&self.issuers);
                validation.set_audience(&self.audiences);
                (key, validation)
            })
            .collect();
        Ok(JwtAuthenticator {
            keys,
            leeway: self.leeway,
            max_token_bytes: self.max_token_bytes,
            _claims: PhantomData,
        })
    }
}

/// Selects aws-lc-rs as jsonwebtoken's crypto backend for the process, so a dependency graph
/// that enables several backends never reaches jsonwebtoken's "no provider" panic.
fn install_crypto_provider() {
    // An error means a provider is installed already, which is what we need.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}
