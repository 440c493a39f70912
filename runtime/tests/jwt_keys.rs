//! Key types and key sources other than a JWKS URL: PEM, single JWKs, JWK set files, and the
//! header members (`jwk`, `jku`, `x5u`, `x5c`) that must never choose a key.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::jwt::{Algorithm, JwtAuthenticator, JwtKey};
use mcp_auth::{AuthError, Claims};
use serde_json::{Value, json};

const NOW: u64 = 2_000_000_000;

fn claims() -> Value {
    json!({"iss": "https://iss", "aud": "aud", "sub": "alice", "exp": NOW + 300, "iat": NOW})
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    };
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn authenticator(
    configure: impl FnOnce(
        mcp_auth::jwt::JwtAuthenticatorBuilder,
    ) -> mcp_auth::jwt::JwtAuthenticatorBuilder,
) -> Result<JwtAuthenticator, mcp_auth::ConfigError> {
    configure(
        JwtAuthenticator::builder()
            .issuer("https://iss")
            .audience("aud"),
    )
    .build()
}

fn accepts(auth: &JwtAuthenticator, token: &str) -> bool {
    match auth.verify(token, NOW) {
        Ok(claims) => claims.subject() == "alice",
        Err(AuthError::InvalidToken(_)) => false,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// One RSA key for the whole file: generating one takes a moment.
fn rsa() -> &'static rcgen::KeyPair {
    static KEY: OnceLock<rcgen::KeyPair> = OnceLock::new();
    KEY.get_or_init(|| rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap())
}

fn rsa_signing_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(rsa().serialize_pem().as_bytes()).unwrap()
}

fn rsa_jwk() -> Value {
    let public = aws_lc_rs::rsa::PublicKey::from_der(rsa().public_key_raw()).unwrap();
    json!({
        "kty": "RSA",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    })
}

fn ec(alg: &'static rcgen::SignatureAlgorithm) -> (rcgen::KeyPair, EncodingKey) {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let signing = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    (key, signing)
}

fn ec_jwk(key: &rcgen::KeyPair, crv: &str) -> Value {
    let point = key.public_key_raw();
    let half = (point.len() - 1) / 2;
    json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=half]), "y": b64(&point[half + 1..])})
}

#[test]
fn rsa_pem_keys_verify_the_one_algorithm_they_are_pinned_to() {
    let pem = rsa().public_key_pem();
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::PS512] {
        let auth = authenticator(|b| b.key(JwtKey::rsa_pem(pem.as_bytes(), alg).unwrap())).unwrap();
        assert!(
            accepts(&auth, &sign(alg, None, &rsa_signing_key())),
            "{alg:?}"
        );
        let other = if alg == Algorithm::RS256 {
            Algorithm::PS256
        } else {
            Algorithm::RS256
        };
        assert!(
            !accepts(&auth, &sign(other, None, &rsa_signing_key())),
            "{other:?} accepted by a {alg:?} key"
        );
    }
    let err = |r: Result<JwtKey, mcp_auth::ConfigError>| r.unwrap_err().to_string();
    assert!(err(JwtKey::rsa_pem(pem.as_bytes(), Algorithm::ES256)).contains("not an algorithm"));
    assert!(
        err(JwtKey::rsa_pem(
            rsa().serialize_pem().as_bytes(),
            Algorithm::RS256
        ))
        .contains("private key")
    );
    let (p256, _) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    assert!(JwtKey::rsa_pem(p256.public_key_pem().as_bytes(), Algorithm::RS256).is_err());
}

#[test]
fn ec_and_ed25519_pem_keys_are_checked_against_their_curve() {
    let (p384, p384_signing) = ec(&rcgen::PKCS_ECDSA_P384_SHA384);
    let pem = p384.public_key_pem();
    let auth = authenticator(|b| b.key(JwtKey::ec_pem(pem.as_bytes(), Algorithm::ES384).unwrap()))
        .unwrap();
    assert!(accepts(&auth, &sign(Algorithm::ES384, None, &p384_signing)));
    let refused = JwtKey::ec_pem(pem.as_bytes(), Algorithm::ES256).unwrap_err();
    assert!(refused.to_string().contains("curve of ES256"), "{refused}");
    assert!(JwtKey::es256_pem(pem.as_bytes()).is_err());

    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let key = JwtKey::ed_pem(ed.public_key_pem().as_bytes()).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EdDSA);
    let auth = authenticator(|b| b.key(key)).unwrap();
    let signing = EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap();
    assert!(accepts(&auth, &sign(Algorithm::EdDSA, None, &signing)));
    assert!(
        JwtKey::ed_pem(pem.as_bytes()).is_err(),
        "an EC key as Ed25519"
    );
}

#[test]
fn hmac_secrets_must_be_as_long_as_the_hash() {
    let build = |key: JwtKey| authenticator(|b| b.key(key)).map(drop);
    let short = build(JwtKey::hs384(&[1; 47])).unwrap_err().to_string();
    assert!(short.contains("HS384 must be at least 48 bytes"), "{short}");
    assert!(build(JwtKey::hs512(&[1; 63])).is_err());
    let auth = authenticator(|b| b.key(JwtKey::hs512(&[1; 64]))).unwrap();
    let token = sign(Algorithm::HS512, None, &EncodingKey::from_secret(&[1; 64]));
    assert!(accepts(&auth, &token));
    let hs256 = sign(Algorithm::HS256, None, &EncodingKey::from_secret(&[1; 64]));
    assert!(!accepts(&auth, &hs256));
}

#[test]
fn an_rsa_jwk_needs_its_algorithm_from_the_jwk_or_the_configuration() {
    let jwk = rsa_jwk();
    let refused = JwtKey::from_jwk(&jwk.to_string()).unwrap_err().to_string();
    assert!(
        refused.contains("RSA JWK without `alg`") && refused.contains("never taken from the token"),
        "{refused}"
    );
    let pinned = JwtKey::from_jwk_with_algorithm(&jwk.to_string(), Algorithm::RS256).unwrap();
    let auth = authenticator(|b| b.key(pinned)).unwrap();
    assert!(accepts(
        &auth,
        &sign(Algorithm::RS256, None, &rsa_signing_key())
    ));
    assert!(!accepts(
        &auth,
        &sign(Algorithm::PS256, None, &rsa_signing_key())
    ));

    let mut with_alg = jwk.clone();
    with_alg["alg"] = json!("PS384");
    with_alg["kid"] = json!("r1");
    let key = JwtKey::from_jwk(&with_alg.to_string()).unwrap();
    assert_eq!((key.kid(), key.algorithm()), (Some("r1"), Algorithm::PS384));
    assert!(
        JwtKey::from_jwk_with_algorithm(&with_alg.to_string(), Algorithm::RS256).is_err(),
        "the configured algorithm contradicts the JWK's"
    );
    let auth = authenticator(|b| b.key(key)).unwrap();
    assert!(accepts(
        &auth,
        &sign(Algorithm::PS384, Some("r1"), &rsa_signing_key())
    ));
    assert!(!accepts(
        &auth,
        &sign(Algorithm::RS384, Some("r1"), &rsa_signing_key())
    ));

    let mut small = jwk;
    small["alg"] = json!("RS256");
    small["n"] = json!(b64(&[0xff; 128]));
    let refused = JwtKey::from_jwk(&small.to_string())
        .unwrap_err()
        .to_string();
    assert!(refused.contains("1024 bits"), "{refused}");
}

#[test]
fn single_jwks_of_each_curve() {
    for (alg, crv, expected) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, "P-256", Algorithm::ES256),
        (&rcgen::PKCS_ECDSA_P384_SHA384, "P-384", Algorithm::ES384),
    ] {
        let (key, signing) = ec(alg);
        let jwk = JwtKey::from_jwk(&ec_jwk(&key, crv).to_string()).unwrap();
        assert_eq!(jwk.algorithm(), expected);
        let auth = authenticator(|b| b.key(jwk)).unwrap();
        assert!(accepts(&auth, &sign(expected, None, &signing)));
    }
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key_raw()), "use": "sig"});
    let auth = authenticator(|b| b.key(JwtKey::from_jwk(&jwk.to_string()).unwrap())).unwrap();
    let signing = EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap();
    assert!(accepts(&auth, &sign(Algorithm::EdDSA, None, &signing)));

    let mut enc = jwk;
    enc["use"] = json!("enc");
    let refused = JwtKey::from_jwk(&enc.to_string()).unwrap_err().to_string();
    assert!(refused.contains("not `sig`"), "{refused}");
    assert!(JwtKey::from_jwk("not json").is_err());
}

/// A JWK set file in the temporary directory, removed when dropped.
struct SetFile(std::path::PathBuf);

impl SetFile {
    fn new(name: &str, contents: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("mcp-auth-{}-{name}.json", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for SetFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_jwk_set_file_gives_every_usable_key_and_skips_the_rest() {
    let (p256, p256_signing) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut ec_key = ec_jwk(&p256, "P-256");
    ec_key["kid"] = json!("ec");
    let mut rsa_key = rsa_jwk();
    rsa_key["kid"] = json!("rsa");
    let mut enc = ec_jwk(&p256, "P-256");
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let secret = [9u8; 32];
    let hmac = json!({"kty": "oct", "alg": "HS256", "kid": "hmac", "k": b64(&secret)});
    let file = SetFile::new(
        "set",
        &json!({"keys": [ec_key, rsa_key, enc, hmac, {"kty": "unknown"}]}).to_string(),
    );

    let auth =
        authenticator(|b| b.jwk_set_file(&file.0).rsa_jwk_algorithm(Algorithm::PS256)).unwrap();
    assert!(accepts(
        &auth,
        &sign(Algorithm::ES256, Some("ec"), &p256_signing)
    ));
    assert!(accepts(
        &auth,
        &sign(Algorithm::PS256, Some("rsa"), &rsa_signing_key())
    ));
    assert!(!accepts(
        &auth,
        &sign(Algorithm::RS256, Some("rsa"), &rsa_signing_key())
    ));
    assert!(accepts(
        &auth,
        &sign(
            Algorithm::HS256,
            Some("hmac"),
            &EncodingKey::from_secret(&secret)
        )
    ));
    assert!(
        !accepts(&auth, &sign(Algorithm::ES256, Some("enc"), &p256_signing)),
        "a `use: enc` key verified a token"
    );

    // Without `rsa_jwk_algorithm` the RSA key is skipped, the others still load.
    let auth = authenticator(|b| b.jwk_set_file(&file.0)).unwrap();
    assert!(!accepts(
        &auth,
        &sign(Algorithm::RS256, Some("rsa"), &rsa_signing_key())
    ));
    assert!(accepts(
        &auth,
        &sign(Algorithm::ES256, Some("ec"), &p256_signing)
    ));

    let message = |b: fn(
        mcp_auth::jwt::JwtAuthenticatorBuilder,
    ) -> mcp_auth::jwt::JwtAuthenticatorBuilder| {
        authenticator(b).unwrap_err().to_string()
    };
    assert!(
        message(|b| b.jwk_set_file("/nonexistent/jwks.json")).contains("/nonexistent/jwks.json")
    );
    let empty = SetFile::new("empty", r#"{"keys": [{"kty": "EC", "use": "enc"}]}"#);
    let refused = authenticator(|b| b.jwk_set_file(&empty.0)).unwrap_err();
    assert!(refused.to_string().contains("no usable key"), "{refused}");
    assert!(
        message(|b| b
            .rsa_jwk_algorithm(Algorithm::ES256)
            .key(JwtKey::hs256(&[1; 32])))
        .contains("must be an RSA algorithm")
    );
    assert!(
        message(|b| b.jwks_url("https://idp.example/jwks")).contains("build_async"),
        "a JWKS URL built synchronously"
    );
}

#[test]
fn header_members_never_choose_the_key() {
    let (trusted, _) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (attacker, attacker_signing) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    let auth = authenticator(|b| {
        b.key(
            JwtKey::es256_pem(trusted.public_key_pem().as_bytes())
                .unwrap()
                .with_kid("trusted"),
        )
    })
    .unwrap();
    let attacker_jwk = ec_jwk(&attacker, "P-256");
    for (member, value) in [
        ("jwk", attacker_jwk),
        ("jku", json!("https://attacker.example/jwks")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIBattacker"])),
    ] {
        for kid in [json!("trusted"), json!("attacker"), Value::Null] {
            let mut header = json!({"alg": "ES256", "typ": "JWT", member: value.clone()});
            if !kid.is_null() {
                header["kid"] = kid.clone();
            }
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims().to_string().as_bytes())
            );
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &attacker_signing, Algorithm::ES256)
                    .unwrap();
            let token = format!("{input}.{signature}");
            assert!(
                matches!(auth.verify(&token, NOW), Err(AuthError::InvalidToken(_))),
                "`{member}` with kid {kid} chose the attacker's key"
            );
        }
    }
}

/// A token whose header says `header_alg` and whose signature is made with `signed_as`, over
/// the exact header and claims it carries.
fn sign_as(header_alg: Algorithm, signed_as: Algorithm, key: &EncodingKey) -> String {
    let header = b64(json!({"alg": header_alg, "typ": "JWT"})
        .to_string()
        .as_bytes());
    let signing_input = format!("{header}.{}", b64(claims().to_string().as_bytes()));
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, signed_as).unwrap();
    format!("{signing_input}.{signature}")
}

/// Verification uses each key as parsed when it was loaded, with the hash, padding and curve
/// of the key's algorithm: every algorithm, from PEM, from a JWK and from RSA components,
/// accepts its own signatures, refuses one flipped bit, and refuses a signature made with
/// another scheme of the same family over the same bytes.
#[test]
fn every_algorithm_verifies_with_its_own_scheme_and_no_other() {
    let hmac = |bytes: usize| vec![7; bytes];
    let (p256, p256_signing) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (p384, p384_signing) = ec(&rcgen::PKCS_ECDSA_P384_SHA384);
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let ed_signing = EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap();
    let rsa_pem = rsa().public_key_pem();
    let oct = |alg: Algorithm, secret: &[u8]| {
        JwtKey::from_jwk(&json!({"kty": "oct", "alg": alg, "k": b64(secret)}).to_string()).unwrap()
    };
    let with_alg = |mut jwk: Value, alg: Algorithm| {
        jwk["alg"] = json!(alg);
        JwtKey::from_jwk(&jwk.to_string()).unwrap()
    };

    let rsa_family = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];
    let hmac_family = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    // (algorithm, the keys that verify it, the signing key, the family's other schemes)
    let mut cases: Vec<(Algorithm, Vec<JwtKey>, EncodingKey, &[Algorithm])> = Vec::new();
    for (alg, len) in hmac_family.iter().zip([32, 48, 64]) {
        let secret = hmac(len);
        let pem_like = match alg {
            Algorithm::HS256 => JwtKey::hs256(&secret),
            Algorithm::HS384 => JwtKey::hs384(&secret),
            _ => JwtKey::hs512(&secret),
        };
        let keys = vec![pem_like, oct(*alg, &secret)];
        cases.push((*alg, keys, EncodingKey::from_secret(&secret), &hmac_family));
    }
    for alg in rsa_family {
        let keys = vec![
            JwtKey::rsa_pem(rsa_pem.as_bytes(), alg).unwrap(),
            with_alg(rsa_jwk(), alg),
        ];
        cases.push((alg, keys, rsa_signing_key(), &rsa_family));
    }
    let p256_keys = vec![
        JwtKey::es256_pem(p256.public_key_pem().as_bytes()).unwrap(),
        JwtKey::from_jwk(&ec_jwk(&p256, "P-256").to_string()).unwrap(),
    ];
    cases.push((Algorithm::ES256, p256_keys, p256_signing, &[]));
    let p384_keys = vec![
        JwtKey::ec_pem(p384.public_key_pem().as_bytes(), Algorithm::ES384).unwrap(),
        JwtKey::from_jwk(&ec_jwk(&p384, "P-384").to_string()).unwrap(),
    ];
    cases.push((Algorithm::ES384, p384_keys, p384_signing, &[]));
    let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key_raw())});
    let ed_keys = vec![
        JwtKey::ed_pem(ed.public_key_pem().as_bytes()).unwrap(),
        JwtKey::from_jwk(&ed_jwk.to_string()).unwrap(),
    ];
    cases.push((Algorithm::EdDSA, ed_keys, ed_signing, &[]));

    for (alg, keys, signing, family) in cases {
        let token = sign(alg, None, &signing);
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut flipped = URL_SAFE_NO_PAD.decode(signature).unwrap();
        flipped[0] ^= 1;
        let flipped = format!("{signed}.{}", b64(&flipped));
        for key in keys {
            assert_eq!(key.algorithm(), alg);
            let auth = authenticator(|b| b.key(key)).unwrap();
            assert!(accepts(&auth, &token), "{alg:?} refused its own signature");
            assert!(!accepts(&auth, &flipped), "{alg:?} accepted a flipped bit");
            for &other in family.iter().filter(|&&other| other != alg) {
                assert!(
                    !accepts(&auth, &sign_as(alg, other, &signing)),
                    "a {alg:?} key accepted a {other:?} signature"
                );
            }
        }
    }
}

/// JWS ECDSA signatures are the fixed-width `r || s` (RFC 7518 §3.4): the same signature in
/// ASN.1 DER, as TLS and X.509 carry it, is refused, for both curves.
#[test]
fn ecdsa_signatures_in_der_are_refused() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as lc, EcdsaKeyPair, KeyPair as _};
    for (rcgen_alg, der_alg, fixed_alg, alg) in [
        (
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &lc::ECDSA_P256_SHA256_ASN1_SIGNING,
            &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES256,
        ),
        (
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &lc::ECDSA_P384_SHA384_ASN1_SIGNING,
            &lc::ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::ES384,
        ),
    ] {
        let (key, _) = ec(rcgen_alg);
        let pkcs8 = key.serialize_der();
        let der_signer = EcdsaKeyPair::from_pkcs8(der_alg, &pkcs8).unwrap();
        let fixed_signer = EcdsaKeyPair::from_pkcs8(fixed_alg, &pkcs8).unwrap();
        assert_eq!(der_signer.public_key().as_ref(), key.public_key_raw());
        let pem = key.public_key_pem();
        let auth = authenticator(|b| b.key(JwtKey::ec_pem(pem.as_bytes(), alg).unwrap())).unwrap();
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
        let signing_input = format!("{header}.{}", b64(claims().to_string().as_bytes()));
        let sign = |signer: &EcdsaKeyPair| {
            let signature = signer
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .unwrap();
            format!("{signing_input}.{}", b64(signature.as_ref()))
        };
        assert!(
            accepts(&auth, &sign(&fixed_signer)),
            "{alg:?} r || s refused"
        );
        assert!(!accepts(&auth, &sign(&der_signer)), "{alg:?} DER accepted");
    }
}

/// An RSA key must have 2048 to 8192 bits: aws-lc refuses others at every verification, so a
/// key outside that range is refused when it is loaded rather than failing every call.
#[test]
fn rsa_moduli_outside_2048_to_8192_bits_are_refused_at_load() {
    let jwk = |modulus_bytes: usize| {
        let mut n = vec![0xC5; modulus_bytes];
        n[modulus_bytes - 1] |= 1;
        json!({"kty": "RSA", "alg": "RS256", "n": b64(&n), "e": "AQAB"}).to_string()
    };
    for (bytes, refused) in [(255, true), (256, false), (1024, false), (1025, true)] {
        let result = JwtKey::from_jwk(&jwk(bytes));
        assert_eq!(result.is_err(), refused, "{} bits", bytes * 8);
        if let Err(error) = result {
            let message = error.to_string();
            assert!(message.contains("RSA modulus of"), "{message}");
        }
    }
}
