//! Token verification per algorithm (HS256, RS256, ES256, EdDSA), through
//! `JwtAuthenticator::authenticate` as the authorizer calls it:
//!
//! - `decode`: `jsonwebtoken::decode` alone with the validation mcp-auth uses (the floor: what
//!   any verifier pays for the signature and the claims);
//! - `cold`: the authenticator with its verified-token cache off (`.verified_token_cache(0)`),
//!   the same token every time;
//! - `first_sight`: the cache on, every token new to it (a pool of tokens larger than the cache,
//!   cycled), so each call verifies, hashes and inserts;
//! - `cached`: the cache on, the same token every time (a SHA-256 and a lookup).
//!
//! `cargo bench -p mcp-auth --bench tokens`; see BENCHMARKS.md.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

mod support;

use criterion::{BenchmarkId, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::{Authenticator, CallContext, StandardClaims};
use serde_json::json;
use support::ThreadCpuTime;
use tonic::metadata::{MetadataMap, MetadataValue};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "mcp-bench";
const SECRET: &[u8] = b"a benchmark secret of at least 32 bytes";
/// Tokens cycled by `first_sight`; the cache holds fewer, so every call misses.
const FIRST_SIGHT_POOL: usize = 1024;
const FIRST_SIGHT_CACHE: usize = 128;

/// One algorithm: its verification key, signing key and header.
struct Case {
    name: &'static str,
    algorithm: Algorithm,
    key: JwtKey,
    decoding: DecodingKey,
    encoding: EncodingKey,
}

fn cases() -> Vec<Case> {
    let pair = |alg: &'static rcgen::SignatureAlgorithm| {
        rcgen::KeyPair::generate_for(alg).expect("key generation")
    };
    let es = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
    let rs = pair(&rcgen::PKCS_RSA_SHA256);
    let ed = pair(&rcgen::PKCS_ED25519);
    vec![
        Case {
            name: "HS256",
            algorithm: Algorithm::HS256,
            key: JwtKey::hs256(SECRET),
            decoding: DecodingKey::from_secret(SECRET),
            encoding: EncodingKey::from_secret(SECRET),
        },
        Case {
            name: "RS256",
            algorithm: Algorithm::RS256,
            key: JwtKey::rsa_pem(rs.public_key_pem().as_bytes(), Algorithm::RS256).unwrap(),
            decoding: DecodingKey::from_rsa_pem(rs.public_key_pem().as_bytes()).unwrap(),
            encoding: EncodingKey::from_rsa_pem(rs.serialize_pem().as_bytes()).unwrap(),
        },
        Case {
            name: "ES256",
            algorithm: Algorithm::ES256,
            key: JwtKey::es256_pem(es.public_key_pem().as_bytes()).unwrap(),
            decoding: DecodingKey::from_ec_pem(es.public_key_pem().as_bytes()).unwrap(),
            encoding: EncodingKey::from_ec_pem(es.serialize_pem().as_bytes()).unwrap(),
        },
        Case {
            name: "EdDSA",
            algorithm: Algorithm::EdDSA,
            key: JwtKey::ed_pem(ed.public_key_pem().as_bytes()).unwrap(),
            decoding: DecodingKey::from_ed_pem(ed.public_key_pem().as_bytes()).unwrap(),
            encoding: EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap(),
        },
    ]
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// A typical access token: issuer, audience, subject, a few scopes, an hour to live.
fn token(case: &Case, jti: usize) -> String {
    let now = now();
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench-client",
        "scope": "items:read items:write tools:list",
        "iat": now,
        "exp": now + 3600,
        "jti": format!("token-{jti}"),
    });
    jsonwebtoken::encode(&Header::new(case.algorithm), &claims, &case.encoding).unwrap()
}

fn metadata(token: &str) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    metadata.insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    metadata
}

fn authenticator(case: &Case, cache: usize) -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(case.key.clone())
        .verified_token_cache(cache)
        .build()
        .unwrap()
}

/// The validation `JwtAuthenticator` builds for an algorithm (time claims are checked after
/// decoding, against the authorizer's clock).
fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation
}

fn authenticate(authenticator: &JwtAuthenticator, metadata: &MetadataMap, now: u64) {
    let extensions = tonic::Extensions::new();
    let call = CallContext {
        metadata,
        extensions: &extensions,
        now,
    };
    black_box(authenticator.authenticate(black_box(&call)).unwrap());
}

fn verification(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("verify");
    for case in cases() {
        let same_token = token(&case, 0);
        let same = metadata(&same_token);
        let now = now();

        let validation = validation(case.algorithm);
        group.bench_function(BenchmarkId::new("decode", case.name), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<StandardClaims>(
                    black_box(&same_token),
                    &case.decoding,
                    &validation,
                )
                .unwrap()
            })
        });

        let cold = authenticator(&case, 0);
        group.bench_function(BenchmarkId::new("cold", case.name), |b| {
            b.iter(|| authenticate(&cold, &same, now))
        });

        let first_sight = authenticator(&case, FIRST_SIGHT_CACHE);
        let pool: Vec<MetadataMap> = (1..=FIRST_SIGHT_POOL)
            .map(|jti| metadata(&token(&case, jti)))
            .collect();
        let mut next = pool.iter().cycle();
        group.bench_function(BenchmarkId::new("first_sight", case.name), |b| {
            b.iter(|| authenticate(&first_sight, next.next().unwrap(), now))
        });

        let cached = authenticator(&case, mcp_auth::cache::DEFAULT_CAPACITY);
        authenticate(&cached, &same, now);
        group.bench_function(BenchmarkId::new("cached", case.name), |b| {
            b.iter(|| authenticate(&cached, &same, now))
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = support::criterion();
    verification(&mut criterion);
    criterion.final_summary();
}
