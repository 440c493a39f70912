//! Token verification per algorithm (HS256, RS256, ES256, EdDSA), through
//! `JwtAuthenticator::authenticate` as the authorizer calls it:
//!
//! - `decode`: `jsonwebtoken::decode` alone with the validation mcp-auth used before it verified
//!   with keys parsed once (what a hand-written verifier pays for the signature and the claims);
//! - `signature`: aws-lc's check of the signature alone, with the key parsed beforehand (the
//!   floor of any verifier);
//! - `cold`: the authenticator with its verified-token cache off (`.verified_token_cache(0)`);
//! - `first_sight`: the cache on, the tokens missing from it (a pool of tokens far larger than
//!   the cache, cycled), so each call verifies; as the pool comes round again, the seen-once
//!   filter has seen each token before and admits it, so each call also inserts and evicts (the
//!   dearest case: a token truly seen once is only hashed into the filter). The cache's
//!   eviction keeps some entries it has seen hit, so at most `FIRST_SIGHT_CACHE` of each round
//!   of the pool can be answered by it (1.6 %; with a cache of 128 it was about 12 %);
//! - `cached`: the cache on, the same token every time (a hash and a lookup).
//!
//! `decode`, `cold` and `first_sight` cycle through the same pool of distinct tokens.
//! `first_sight_full_cache/HS256` is `first_sight` with the cache at its default size (10,000)
//! and full: every call inserts a token and evicts another.
//!
//! `cargo bench -p mcp-auth --bench tokens`; see BENCHMARKS.md.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, BenchmarkId, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::{Authenticator, CallContext, StandardClaims};
use mcp_auth_bench_support::ThreadCpuTime;
use serde_json::json;
use tonic::metadata::{MetadataMap, MetadataValue};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "mcp-bench";
const SECRET: &[u8] = b"a benchmark secret of at least 32 bytes";
/// Distinct tokens cycled by `decode`, `cold` and `first_sight`; the cache of `first_sight` holds
/// far fewer, so at most 1.6 % of its calls can be answered by the cache (see above).
const FIRST_SIGHT_POOL: usize = 1024;
const FIRST_SIGHT_CACHE: usize = 16;

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

/// Checks a signature (decoded) of a message.
type SignatureCheck = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// The aws-lc check of one signature with the case's key, parsed once.
fn signature_check(case: &Case) -> SignatureCheck {
    use aws_lc_rs::{hmac, signature as lc};
    let public = |algorithm: &'static dyn lc::VerificationAlgorithm, bytes: &[u8]| {
        let key = lc::ParsedPublicKey::new(algorithm, bytes).unwrap();
        Box::new(move |m: &[u8], s: &[u8]| key.verify_sig(m, s).is_ok()) as Box<_>
    };
    let bytes = || case.decoding.try_get_as_bytes().unwrap();
    match case.algorithm {
        Algorithm::HS256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
            Box::new(move |m, s| hmac::verify(&key, m, s).is_ok())
        }
        Algorithm::RS256 => public(&lc::RSA_PKCS1_2048_8192_SHA256, bytes()),
        Algorithm::ES256 => public(&lc::ECDSA_P256_SHA256_FIXED, bytes()),
        Algorithm::EdDSA => public(&lc::ED25519, bytes()),
        other => unreachable!("no case for {other:?}"),
    }
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
        let now = now();
        // Distinct tokens, cycled: an ECDSA or EdDSA check takes longer for some signatures
        // than others, so every measurement averages over the same kind of pool.
        let pool: Vec<String> = (1..=FIRST_SIGHT_POOL)
            .map(|jti| token(&case, jti))
            .collect();
        let pool_metadata: Vec<MetadataMap> = pool.iter().map(|t| metadata(t)).collect();
        let same = metadata(&pool[0]);

        let validation = validation(case.algorithm);
        let mut next = pool.iter().cycle();
        group.bench_function(BenchmarkId::new("decode", case.name), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<StandardClaims>(
                    black_box(next.next().unwrap()),
                    &case.decoding,
                    &validation,
                )
                .unwrap()
            })
        });

        // The signature check alone, with the key parsed beforehand: what is left of a
        // first sight once the token's bytes are split and decoded.
        let signed: Vec<(&[u8], Vec<u8>)> = pool
            .iter()
            .map(|token| {
                let (message, signature) = token.rsplit_once('.').unwrap();
                (
                    message.as_bytes(),
                    URL_SAFE_NO_PAD.decode(signature).unwrap(),
                )
            })
            .collect();
        let check = signature_check(&case);
        let mut next = signed.iter().cycle();
        group.bench_function(BenchmarkId::new("signature", case.name), |b| {
            b.iter(|| {
                let (message, signature) = next.next().unwrap();
                assert!(check(black_box(message), signature));
            })
        });

        let cold = authenticator(&case, 0);
        let mut next = pool_metadata.iter().cycle();
        group.bench_function(BenchmarkId::new("cold", case.name), |b| {
            b.iter(|| authenticate(&cold, next.next().unwrap(), now))
        });

        let first_sight = authenticator(&case, FIRST_SIGHT_CACHE);
        let mut next = pool_metadata.iter().cycle();
        group.bench_function(BenchmarkId::new("first_sight", case.name), |b| {
            b.iter(|| authenticate(&first_sight, next.next().unwrap(), now))
        });

        let cached = authenticator(&case, mcp_auth::cache::DEFAULT_CAPACITY);
        authenticate(&cached, &same, now);
        group.bench_function(BenchmarkId::new("cached", case.name), |b| {
            b.iter(|| authenticate(&cached, &same, now))
        });
    }
    // The cache at its default size, full, every call a token it has never seen (signed in the
    // untimed setup): the steady state of a server that keeps seeing new tokens. The cost does
    // not depend on the algorithm; HS256 keeps the signing short.
    let hs256 = &cases()[0];
    let now = now();
    let full = authenticator(hs256, mcp_auth::cache::DEFAULT_CAPACITY);
    let mut jti = 0..;
    let mut fresh = || metadata(&token(hs256, jti.next().expect("endless")));
    for _ in 0..2 * mcp_auth::cache::DEFAULT_CAPACITY {
        authenticate(&full, &fresh(), now);
    }
    group.bench_function(
        BenchmarkId::new("first_sight_full_cache", hs256.name),
        |b| {
            b.iter_batched(
                &mut fresh,
                |call| authenticate(&full, &call, now),
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
}

fn main() {
    let mut criterion = mcp_auth_bench_support::criterion();
    verification(&mut criterion);
    criterion.final_summary();
}
