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

    #[test]
    fn time_claims_are_checked_against_the_given_clock_with_leeway() {
        let auth = authenticator(JwtKey::hs256(SECRET));
        let token = hs(&claims());
        assert!(
            auth.verify(&token, NOW + 300 + 60).is_ok(),
            "inside the leeway"
        );
        assert_eq!(
            auth.verify(&token, NOW + 300 + 61).unwrap_err(),
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
        for typ in ["JWT", "at+jwt", "application/at+jwt"] {
            let token = with_header(json!({"alg": "HS256", "typ": typ}), &claims(), Some(SECRET));
            assert!(auth.verify(&token, NOW).is_ok(), "typ {typ} refused");
        }
        let token = with_header(
            json!({"alg": "HS256", "typ": "secevent+jwt"}),
            &claims(),
            Some(SECRET),
        );
        assert!(invalid(auth.verify(&token, NOW)));
        let token = with_header(
            json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
            &claims(),
            Some(SECRET),
        );
        assert!(invalid(auth.verify(&token, NOW)));
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
}
