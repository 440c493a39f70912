//! One verification key, pinned to one algorithm.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaPublicKeyComponents};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};

use crate::error::ConfigError;
use crate::jwt::jwk::{self, JwkRules};

/// The smallest RSA modulus accepted, in bits (aws-lc refuses smaller ones at verification).
const MIN_RSA_BITS: usize = 2048;
/// The largest, in bits: aws-lc's JWS parameters (`RSA_*_2048_8192_*`) refuse larger ones at
/// every verification, so such a key could never verify anything.
const MAX_RSA_BITS: usize = 8192;

/// A verification key pinned to one algorithm.
///
/// The algorithm is part of the key, chosen when the key is made: from the constructor
/// (`hs256`, `rsa_pem(.., Algorithm::PS256)`, ...), or from a JWK's `alg` member, or from its
/// curve. A token whose header names another algorithm is refused; the header never chooses.
///
/// Public keys are checked when they are made: the point must lie on the algorithm's curve,
/// an RSA modulus must have 2048 to 8192 bits, and a PEM must hold a public key, never a
/// private one.
///
/// The key is parsed once, when it is made, into the form aws-lc verifies with (an HMAC key
/// with its pads hashed, an RSA key with its Montgomery context, an EC point checked to lie
/// on its curve), so verifying a token does not parse the key again.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    algorithm: Algorithm,
    verifier: Verifier,
}

/// A key as aws-lc-rs verifies with it, parsed once.
#[derive(Clone)]
enum Verifier {
    /// An HMAC secret; `len` is the secret's length, checked against RFC 7518 §3.2 at build.
    Hmac { key: Box<hmac::Key>, len: usize },
    /// A public key, with the verification algorithm (padding, hash, curve) of its `alg`.
    Public(ParsedPublicKey),
}

impl JwtKey {
    /// An HMAC-SHA256 shared secret. Secrets shorter than 32 bytes are refused by
    /// [`JwtAuthenticatorBuilder::build`](crate::jwt::JwtAuthenticatorBuilder::build)
    /// (RFC 7518 §3.2).
    pub fn hs256(secret: &[u8]) -> Self {
        Self::hmac(secret, Algorithm::HS256)
    }

    /// An HMAC-SHA384 shared secret. Secrets shorter than 48 bytes are refused by
    /// [`JwtAuthenticatorBuilder::build`](crate::jwt::JwtAuthenticatorBuilder::build).
    pub fn hs384(secret: &[u8]) -> Self {
        Self::hmac(secret, Algorithm::HS384)
    }

    /// An HMAC-SHA512 shared secret. Secrets shorter than 64 bytes are refused by
    /// [`JwtAuthenticatorBuilder::build`](crate::jwt::JwtAuthenticatorBuilder::build).
    pub fn hs512(secret: &[u8]) -> Self {
        Self::hmac(secret, Algorithm::HS512)
    }

    fn hmac(secret: &[u8], algorithm: Algorithm) -> Self {
        let hash = match algorithm {
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        };
        Self {
            kid: None,
            algorithm,
            verifier: Verifier::Hmac {
                key: Box::new(hmac::Key::new(hash, secret)),
                len: secret.len(),
            },
        }
    }

    /// An ECDSA P-256 public key (ES256) in PEM (`BEGIN PUBLIC KEY`).
    pub fn es256_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        Self::ec_pem(pem, Algorithm::ES256)
    }

    /// An ECDSA public key in PEM (`BEGIN PUBLIC KEY`) for `algorithm`: `ES256` (P-256) or
    /// `ES384` (P-384). A key on the other curve is refused.
    pub fn ec_pem(pem: &[u8], algorithm: Algorithm) -> Result<Self, ConfigError> {
        Self::from_pem(
            pem,
            algorithm,
            AlgorithmFamily::Ec,
            DecodingKey::from_ec_pem,
        )
    }

    /// An RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) for
    /// `algorithm`: one of `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`. The modulus
    /// must have 2048 to 8192 bits.
    pub fn rsa_pem(pem: &[u8], algorithm: Algorithm) -> Result<Self, ConfigError> {
        Self::from_pem(
            pem,
            algorithm,
            AlgorithmFamily::Rsa,
            DecodingKey::from_rsa_pem,
        )
    }

    /// An Ed25519 public key in PEM (`BEGIN PUBLIC KEY`), for `EdDSA`.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        Self::from_pem(
            pem,
            Algorithm::EdDSA,
            AlgorithmFamily::Ed,
            DecodingKey::from_ed_pem,
        )
    }

    fn from_pem(
        pem: &[u8],
        algorithm: Algorithm,
        family: AlgorithmFamily,
        decode: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>,
    ) -> Result<Self, ConfigError> {
        let kind = family_name(family);
        if algorithm.family() != family {
            return Err(ConfigError::new(format!(
                "{algorithm:?} is not an algorithm for {kind} keys"
            )));
        }
        if pem
            .windows(b"PRIVATE KEY".len())
            .any(|w| w == b"PRIVATE KEY")
        {
            return Err(ConfigError::new(format!(
                "this PEM holds a private key; give the {kind} public key (`BEGIN PUBLIC KEY`)"
            )));
        }
        let key = decode(pem)
            .map_err(|e| ConfigError::new(format!("not an {kind} public key in PEM: {e}")))?;
        Self::new(algorithm, key).map_err(ConfigError::new)
    }

    /// A key from one JSON Web Key (RFC 7517), such as one entry of an identity provider's
    /// JWK set.
    ///
    /// The algorithm is the JWK's `alg` member; without one it follows from the key type:
    /// EC `P-256` is ES256, EC `P-384` is ES384, OKP `Ed25519` is EdDSA. An RSA or symmetric
    /// (`oct`) JWK without `alg` is refused: pin its algorithm with
    /// [`JwtKey::from_jwk_with_algorithm`]. A JWK whose `use` is not `sig`, whose `key_ops`
    /// lack `verify`, or that carries private key members is refused. Its `kid` becomes the
    /// key's id.
    ///
    /// ```
    /// use mcp_auth::jwt::{Algorithm, JwtKey};
    /// let key = JwtKey::from_jwk(r#"{"kty": "oct", "alg": "HS256", "kid": "k1",
    ///     "k": "YW4gaG1hYyBzZWNyZXQgb2YgYXQgbGVhc3QgMzIgYnl0ZXMh"}"#).unwrap();
    /// assert_eq!((key.kid(), key.algorithm()), (Some("k1"), Algorithm::HS256));
    /// ```
    pub fn from_jwk(json: &str) -> Result<Self, ConfigError> {
        Self::jwk(json, None)
    }

    /// A key from one JSON Web Key, pinned to `algorithm` when the JWK has no `alg` member
    /// (the way to load an RSA JWK without `alg`). A JWK whose `alg`, or whose curve, names
    /// another algorithm is refused.
    pub fn from_jwk_with_algorithm(json: &str, algorithm: Algorithm) -> Result<Self, ConfigError> {
        Self::jwk(json, Some(algorithm))
    }

    fn jwk(json: &str, pinned: Option<Algorithm>) -> Result<Self, ConfigError> {
        let rules = JwkRules {
            pinned,
            rsa_default: None,
            allow_symmetric: true,
        };
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| ConfigError::new(format!("not a JWK (JSON object): {e}")))?;
        jwk::parse(&value, &rules).map_err(|e| ConfigError::new(format!("JWK refused: {e}")))
    }

    /// A key checked for its algorithm: the family matches, the public key parses for it.
    pub(crate) fn new(algorithm: Algorithm, key: DecodingKey) -> Result<Self, String> {
        if algorithm.family() == AlgorithmFamily::Hmac && key.family() == AlgorithmFamily::Hmac {
            let secret = key.try_get_as_bytes().map_err(|e| e.to_string())?;
            return Ok(Self::hmac(secret, algorithm));
        }
        Ok(Self {
            kid: None,
            algorithm,
            verifier: Verifier::Public(parse_public_key(algorithm, &key)?),
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

    /// Whether `signature` (decoded from base64url) signs `message` under this key and its
    /// algorithm. HMAC tags are compared in constant time.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Hmac { key, .. } => hmac::verify(key, message, signature).is_ok(),
            Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }

    /// Refuses HMAC secrets shorter than the hash output (RFC 7518 §3.2).
    pub(crate) fn check_secret_strength(&self) -> Result<(), String> {
        let (Some(min), Verifier::Hmac { len, .. }) =
            (min_secret_len(self.algorithm), &self.verifier)
        else {
            return Ok(());
        };
        let len = *len;
        if len < min {
            return Err(format!(
                "HMAC secrets for {:?} must be at least {min} bytes (RFC 7518 section 3.2)",
                self.algorithm
            ));
        }
        Ok(())
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

/// The shortest HMAC secret for `algorithm`, or `None` for a public-key algorithm.
pub(crate) fn min_secret_len(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

pub(crate) fn family_name(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "Ed25519",
    }
}

/// Parses the public key for `algorithm`'s verification (hash, padding, curve), once, so a
/// key that could never verify anything is refused when it is loaded rather than failing every
/// call, and no call parses it again.
fn parse_public_key(algorithm: Algorithm, key: &DecodingKey) -> Result<ParsedPublicKey, String> {
    if key.family() != algorithm.family() {
        return Err(format!(
            "a {} key cannot verify {algorithm:?}",
            family_name(key.family())
        ));
    }
    let rejected = |e: aws_lc_rs::error::KeyRejected| format!("invalid {algorithm:?} key: {e}");
    let rsa: Option<&'static lc::RsaParameters> = match algorithm {
        Algorithm::RS256 => Some(&lc::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Some(&lc::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Some(&lc::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Some(&lc::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Some(&lc::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Some(&lc::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    let verification: &'static dyn lc::VerificationAlgorithm = match (rsa, algorithm) {
        (Some(params), _) => params,
        (None, Algorithm::ES256) => &lc::ECDSA_P256_SHA256_FIXED,
        (None, Algorithm::ES384) => &lc::ECDSA_P384_SHA384_FIXED,
        (None, Algorithm::EdDSA) => &lc::ED25519,
        (None, _) => {
            return Err(format!(
                "{algorithm:?} verifies with a secret, not a public key"
            ));
        }
    };
    match (algorithm.family(), key.kind()) {
        (AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            ParsedPublicKey::new(verification, point)
                .map_err(|_| format!("not a point on the curve of {algorithm:?}"))
        }
        (AlgorithmFamily::Ed, DecodingKeyKind::SecretOrDer(bytes)) => {
            ParsedPublicKey::new(verification, bytes).map_err(rejected)
        }
        (AlgorithmFamily::Rsa, DecodingKeyKind::SecretOrDer(der)) => {
            let public = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(rejected)?;
            check_rsa_modulus(public.modulus().big_endian_without_leading_zero())?;
            ParsedPublicKey::new(verification, der).map_err(rejected)
        }
        (AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            check_rsa_modulus(&n[start..])?;
            let Some(params) = rsa else {
                return Err(format!("{algorithm:?} is not an RSA algorithm"));
            };
            RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(params)
                .map_err(rejected)
        }
        (family, _) => Err(format!(
            "a {} key in this form cannot verify {algorithm:?}",
            family_name(family)
        )),
    }
}

fn check_rsa_modulus(modulus: &[u8]) -> Result<(), String> {
    let bits = modulus
        .first()
        .map_or(0, |b| modulus.len() * 8 - b.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA modulus of {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!(
            "RSA modulus of {bits} bits; at most {MAX_RSA_BITS} can verify a JWS"
        ));
    }
    Ok(())
}
