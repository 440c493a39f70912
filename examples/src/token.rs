//! Development tokens: an ES256 key pair (or an HS256 secret), tokens signed with it, and the
//! JWK set a server verifies them with.
//!
//! This is a stand-in for an identity provider, for the quickstart, the tests and trying the
//! server by hand. A real deployment gets its tokens from its issuer and gives the server the
//! issuer's JWKS URL.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// The issuer (`iss`) of development tokens, unless told otherwise.
pub const DEV_ISSUER: &str = "https://dev-issuer.mcp-auth.invalid";

/// The audience (`aud`) of development tokens, unless told otherwise.
pub const DEV_AUDIENCE: &str = "mcp-tools";

/// The quickstart's embedded development key (P-256, PKCS#8).
///
/// **Public, so worthless as a secret**: anyone can sign tokens with it. It exists so that the
/// quickstart runs on a fresh machine with nothing to set up; never give a server that faces
/// anyone else its JWK set. `mcp-token keygen` makes a key of your own.
pub const DEV_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglsFoLpU+m+byIbgU
zUC8VDBJN8KaDJFX6edD5T2DHqihRANCAAQgYk0T+nDVxKQMtp1+urKdBpxXtorQ
KVxYP7j7EwWSiiI20U1UHGWI7sFfgDPw2dkubVflO3anYnjV80wbgT2Q
-----END PRIVATE KEY-----
";

/// What a token says about its caller.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// `sub`, who the caller is.
    pub subject: String,
    /// The scopes, joined with spaces into `scope`.
    pub scopes: Vec<String>,
    /// Seconds from now to `exp`; negative for a token that has already expired.
    pub lifetime_secs: i64,
}

impl TokenSpec {
    /// A development token for `subject` with `scopes`, valid for `lifetime_secs`.
    pub fn dev(subject: &str, scopes: &[&str], lifetime_secs: i64) -> Self {
        Self {
            issuer: DEV_ISSUER.to_owned(),
            audience: DEV_AUDIENCE.to_owned(),
            subject: subject.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            lifetime_secs,
        }
    }
}

/// A key that signs development tokens.
pub enum SigningKey {
    /// ECDSA P-256 with SHA-256, `kid` the key's RFC 7638 thumbprint unless set.
    Es256 {
        /// The PKCS#8 private key.
        encoding: EncodingKey,
        /// The public point, `0x04 || x || y`.
        public: Vec<u8>,
        /// The key id put in tokens and in the JWK.
        kid: String,
    },
    /// HMAC SHA-256 with a shared secret (at least 32 bytes, as the server requires).
    Hs256 {
        /// The secret.
        encoding: EncodingKey,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Es256 { kid, .. } => f.debug_struct("Es256").field("kid", kid).finish(),
            Self::Hs256 { .. } => f.write_str("Hs256"),
        }
    }
}

impl SigningKey {
    /// Reads a P-256 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn es256_pem(pem: &str) -> Result<Self, String> {
        let der = pem_body(pem, "PRIVATE KEY")?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(|_| {
                "not a P-256 private key in PKCS#8 (`openssl pkcs8 -topk8 -nocrypt` converts one)"
                    .to_owned()
            })?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = thumbprint(&public);
        Ok(Self::Es256 {
            encoding: EncodingKey::from_ec_der(&der),
            public,
            kid,
        })
    }

    /// An HS256 secret; at least 32 bytes.
    pub fn hs256(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err(format!(
                "an HS256 secret needs at least 32 bytes, this one has {}",
                secret.len()
            ));
        }
        Ok(Self::Hs256 {
            encoding: EncodingKey::from_secret(secret),
        })
    }

    /// Replaces the key id of an ES256 key.
    pub fn with_kid(mut self, new_kid: impl Into<String>) -> Self {
        if let Self::Es256 { kid, .. } = &mut self {
            *kid = new_kid.into();
        }
        self
    }

    /// The key id, for ES256 keys.
    pub fn kid(&self) -> Option<&str> {
        match self {
            Self::Es256 { kid, .. } => Some(kid),
            Self::Hs256 { .. } => None,
        }
    }

    /// Signs a token as `spec` says, issued now.
    pub fn mint(&self, spec: &TokenSpec) -> Result<String, String> {
        let now = unix_now();
        let claims = json!({
            "iss": spec.issuer,
            "aud": spec.audience,
            "sub": spec.subject,
            "scope": spec.scopes.join(" "),
            "iat": now,
            "exp": now.saturating_add_signed(spec.lifetime_secs),
        });
        let (header, key) = match self {
            Self::Es256 { encoding, kid, .. } => {
                let mut header = Header::new(Algorithm::ES256);
                header.kid = Some(kid.clone());
                (header, encoding)
            }
            Self::Hs256 { encoding } => (Header::new(Algorithm::HS256), encoding),
        };
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| e.to_string())
    }

    /// The public JWK of an ES256 key.
    pub fn jwk(&self) -> Result<serde_json::Value, String> {
        match self {
            Self::Es256 { public, kid, .. } => {
                let (x, y) = coordinates(public);
                Ok(json!({
                    "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                }))
            }
            Self::Hs256 { .. } => Err(
                "an HS256 secret is shared, not published: there is no JWK set to print".to_owned(),
            ),
        }
    }

    /// The JWK set (`{"keys": [..]}`) that verifies this key's tokens.
    pub fn jwks(&self) -> Result<serde_json::Value, String> {
        Ok(json!({ "keys": [self.jwk()?] }))
    }
}

/// A new P-256 private key, in PKCS#8 PEM.
pub fn generate_es256_pem() -> Result<String, String> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| "key generation failed".to_owned())?;
    let der = pair
        .to_pkcs8v1()
        .map_err(|_| "key encoding failed".to_owned())?;
    Ok(pem("PRIVATE KEY", der.as_ref()))
}

/// The public key of a PKCS#8 PEM private key, as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
pub fn public_key_pem(private_pem: &str) -> Result<String, String> {
    let der = pem_body(private_pem, "PRIVATE KEY")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| "not a P-256 private key in PKCS#8".to_owned())?;
    let spki = pair
        .public_key()
        .as_der()
        .map_err(|_| "key encoding failed".to_owned())?;
    Ok(pem("PUBLIC KEY", spki.as_ref()))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The x and y coordinates of an uncompressed P-256 point.
fn coordinates(public: &[u8]) -> (&[u8], &[u8]) {
    public[1..].split_at(32)
}

/// The RFC 7638 thumbprint of the public key: SHA-256 over its required JWK members in
/// lexicographic order, base64url. The same key file always gets the same `kid`.
fn thumbprint(public: &[u8]) -> String {
    let (x, y) = coordinates(public);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(x),
        URL_SAFE_NO_PAD.encode(y)
    );
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| format!("no `{begin}` block (a PKCS#8 PEM private key is expected)"))?;
    let rest = &pem[start + begin.len()..];
    let stop = rest.find(&end).ok_or_else(|| format!("no `{end}` line"))?;
    let body: String = rest[..stop].split_whitespace().collect();
    STANDARD
        .decode(body)
        .map_err(|_| format!("the `{label}` block is not valid base64"))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth::jwt::{JwtAuthenticator, JwtKey};

    fn verify(jwks: &serde_json::Value, token: &str) -> Result<mcp_auth::StandardClaims, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, jwks.to_string()).unwrap();
        let authenticator = JwtAuthenticator::<mcp_auth::StandardClaims>::builder()
            .issuer(DEV_ISSUER)
            .audience(DEV_AUDIENCE)
            .jwk_set_file(&file)
            .build()
            .map_err(|e| e.to_string())?;
        authenticator
            .verify(token, unix_now())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_dev_key_signs_tokens_its_jwk_set_verifies() {
        let key = SigningKey::es256_pem(DEV_KEY_PEM).unwrap();
        let token = key
            .mint(&TokenSpec::dev("alice", &["tools:list", "files:read"], 60))
            .unwrap();
        let claims = verify(&key.jwks().unwrap(), &token).unwrap();
        assert_eq!(mcp_auth::Claims::subject(&claims), "alice");
        assert!(mcp_auth::Claims::has_scope(&claims, "files:read"));
        // The same key always gets the same kid.
        assert_eq!(SigningKey::es256_pem(DEV_KEY_PEM).unwrap().kid(), key.kid());
    }

    #[test]
    fn a_generated_key_round_trips_and_its_public_pem_verifies() {
        let pem = generate_es256_pem().unwrap();
        let key = SigningKey::es256_pem(&pem).unwrap();
        let other = SigningKey::es256_pem(DEV_KEY_PEM).unwrap();
        let token = key
            .mint(&TokenSpec::dev("bob", &["tools:list"], 60))
            .unwrap();
        assert!(verify(&key.jwks().unwrap(), &token).is_ok());
        assert!(verify(&other.jwks().unwrap(), &token).is_err());
        let public = public_key_pem(&pem).unwrap();
        let authenticator = JwtAuthenticator::<mcp_auth::StandardClaims>::builder()
            .issuer(DEV_ISSUER)
            .audience(DEV_AUDIENCE)
            .key(
                JwtKey::es256_pem(public.as_bytes())
                    .unwrap()
                    .with_kid(key.kid().unwrap()),
            )
            .build()
            .unwrap();
        authenticator.verify(&token, unix_now()).unwrap();
    }

    #[test]
    fn expired_tokens_and_bad_keys() {
        let key = SigningKey::es256_pem(DEV_KEY_PEM).unwrap();
        let token = key.mint(&TokenSpec::dev("alice", &[], -3600)).unwrap();
        assert!(verify(&key.jwks().unwrap(), &token).is_err());
        assert!(SigningKey::es256_pem("not a key").is_err());
        assert!(SigningKey::hs256(b"short").is_err());
        assert!(SigningKey::hs256(&[7; 32]).unwrap().jwks().is_err());
    }
}
