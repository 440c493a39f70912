//! Property tests (proptest) of the parts an attacker feeds: tokens, claims and the rate
//! limiter. Case counts are modest so the suite stays fast; the coverage-guided fuzz targets
//! in `fuzz/` (run by `fuzz/run.sh`) search the same inputs for longer.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::rate_limit::{
    InMemoryRateLimiter, RateCheck, RateKey, RateKind, RateLimit, RateLimiter, RateOutcome,
};
use mcp_auth::{AuthError, Claims, StandardClaims};
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &[u8] = b"property test secret, 32 bytes or more";
const ISSUER: &str = "https://issuer.prop";
const AUDIENCE: &str = "mcp-prop";
const NOW: u64 = 1_900_000_000;

fn authenticator() -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .leeway_secs(0)
        .build()
        .unwrap()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn valid_claims(sub: &str, scope: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope, "iat": NOW, "exp": NOW + 600})
}

/// RFC 6749 scope tokens: `%x21 / %x23-5B / %x5D-7E`, here at most 8 of them.
fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,8}"
}

/// Arbitrary JSON of bounded depth and size.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![ISSUER, AUDIENCE, "alice", "", "HS256", "none", "JWT"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "iss", "aud", "sub", "exp", "nbf", "iat", "scope", "scp", "alg", "typ", "kid",
                    "crit", "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Text that is not a token the issuer signed is refused, whatever its shape.
    #[test]
    fn arbitrary_tokens_are_refused(
        token in prop_oneof![
            ".{0,64}",
            "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,48}",
        ]
    ) {
        prop_assert!(authenticator().verify(&token, NOW).is_err());
    }

    /// Any header and any claims, signed with another secret or with none: refused.
    #[test]
    fn tokens_not_signed_by_the_key_are_refused(
        header in json_value(),
        claims in json_value(),
        signature in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        let token = format!("{}.{}.{}", encode(&header), encode(&claims), URL_SAFE_NO_PAD.encode(&signature));
        prop_assert!(authenticator().verify(&token, NOW).is_err());
        let other = sign(&valid_claims("alice", "a"), b"another secret, also 32 bytes long");
        prop_assert!(authenticator().verify(&other, NOW).is_err());
    }

    /// A valid token with any one byte changed to any other token character is refused:
    /// header, claims and signature are all covered by the signature, and base64url's unused
    /// trailing bits are not ignored.
    #[test]
    fn a_token_with_one_byte_changed_is_refused(
        sub in "[a-z]{1,12}",
        scopes in prop::collection::vec(scope_token(), 0..4),
        at in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.=-]",
    ) {
        let token = sign(&valid_claims(&sub, &scopes.join(" ")), SECRET);
        prop_assert!(authenticator().verify(&token, NOW).is_ok());
        let at = at.index(token.len());
        let replacement = replacement.as_bytes()[0];
        prop_assume!(token.as_bytes()[at] != replacement);
        let mut bytes = token.into_bytes();
        bytes[at] = replacement;
        let mutated = String::from_utf8(bytes).unwrap();
        prop_assert!(authenticator().verify(&mutated, NOW).is_err(), "{} accepted", mutated);
    }

    /// Tokens the issuer signed with arbitrary claims: accepted only when the claims meet the
    /// policy (issuer, audience, a non-empty subject, an `exp` after now, and no `nbf` / `iat`
    /// after now), and then with exactly the token's subject and expiry.
    #[test]
    fn signed_claims_are_accepted_only_when_they_meet_the_policy(
        claims in json_value(),
        iss in prop::option::weighted(0.9, prop_oneof![3 => Just(json!(ISSUER)), 1 => json_value()]),
        aud in prop::option::weighted(0.9, prop_oneof![
            2 => Just(json!(AUDIENCE)), 1 => Just(json!(["x", AUDIENCE])), 1 => json_value()
        ]),
        sub in prop::option::weighted(0.9, prop_oneof![3 => Just(json!("alice")), 1 => json_value()]),
        exp in prop::option::weighted(0.9, prop_oneof![
            3 => (NOW - 2..NOW + 8).prop_map(Value::from), 1 => json_value()
        ]),
    ) {
        let mut claims = match claims {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        for (name, value) in [("iss", iss), ("aud", aud), ("sub", sub), ("exp", exp)] {
            if let Some(value) = value {
                claims.insert(name.to_owned(), value);
            }
        }
        let token = sign(&Value::Object(claims.clone()), SECRET);
        let result = authenticator().verify(&token, NOW);
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == AUDIENCE,
            // An array holding anything but strings is malformed (RFC 7519 4.1.3): refused.
            Some(Value::Array(auds)) => {
                auds.iter().all(Value::is_string) && auds.iter().any(|a| a == AUDIENCE)
            }
            _ => false,
        };
        // `null` is the claim's absence.
        let time_ok = |name: &str| match claims.get(name) {
            None | Some(Value::Null) => true,
            Some(t) => t.as_u64().is_some_and(|t| t <= NOW),
        };
        let scopes_ok = claims.get("scope").is_none_or(|s| s.is_null() || s.is_string())
            && claims.get("scp").is_none_or(|s| {
                s.is_null()
                    || s.as_array().is_some_and(|a| {
                        a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty() && !s.contains(' ')))
                    })
            });
        let others_ok = ["client_id", "jti"]
            .iter()
            .all(|name| claims.get(*name).is_none_or(|v| v.is_null() || v.is_string()));
        let expected = claims.get("iss") == Some(&json!(ISSUER))
            && audience_ok
            && claims.get("sub").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
            && claims.get("exp").and_then(Value::as_u64).is_some_and(|exp| exp > NOW)
            && time_ok("nbf")
            && time_ok("iat")
            && scopes_ok
            && others_ok;
        prop_assert_eq!(result.is_ok(), expected, "{:?} -> {:?}", claims, result);
        if let Ok(verified) = result {
            prop_assert_eq!(Some(verified.subject()), claims["sub"].as_str());
            prop_assert_eq!(Some(verified.expires_at()), claims["exp"].as_u64());
        }
    }

    /// Scopes parse from a space-delimited `scope` (any number of spaces between them) and
    /// from an `scp` array alike, are granted one by one and nothing else, and survive a round
    /// trip through the claims' JSON.
    #[test]
    fn scopes_parse_and_round_trip(
        scopes in prop::collection::vec(scope_token(), 0..6),
        gaps in prop::collection::vec(1usize..4, 6),
        probe in scope_token(),
    ) {
        let mut scope = String::new();
        for (i, s) in scopes.iter().enumerate() {
            scope.push_str(&" ".repeat(gaps[i]));
            scope.push_str(s);
        }
        let from_string: StandardClaims =
            serde_json::from_value(json!({"sub": "alice", "exp": NOW, "scope": scope})).unwrap();
        prop_assert_eq!(from_string.scopes(), scopes.as_slice());
        let from_list: StandardClaims =
            serde_json::from_value(json!({"sub": "alice", "exp": NOW, "scp": scopes})).unwrap();
        for s in &scopes {
            prop_assert!(from_string.has_scope(s) && from_list.has_scope(s));
        }
        prop_assert_eq!(from_string.has_scope(&probe), scopes.contains(&probe));
        prop_assert_eq!(from_list.has_scope(&probe), scopes.contains(&probe));
        let two = format!("{} {}", probe, probe);
        prop_assert!(!from_string.has_scope("") && !from_string.has_scope(&two));
        let again: StandardClaims =
            serde_json::from_slice(&serde_json::to_vec(&from_string).unwrap()).unwrap();
        prop_assert_eq!(again, from_string);
    }
}

/// One burst of `count` checks of one caller.
#[derive(Debug, Clone)]
struct Burst {
    caller: usize,
    count: u32,
    pause_ms: u64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Under any schedule of bursts and pauses from several callers, no caller is let through
    /// more than `burst + per_second * elapsed` times (GCRA's bound, plus one for the clock's
    /// granularity), and each caller's first `burst` checks pass.
    #[test]
    fn the_rate_limiter_never_admits_more_than_its_budget(
        per_second in 1u32..200,
        burst in 1u32..20,
        schedule in prop::collection::vec(
            (0usize..3, 1u32..40, 0u64..4).prop_map(|(caller, count, pause_ms)| Burst { caller, count, pause_ms }),
            1..12,
        ),
    ) {
        let limiter = InMemoryRateLimiter::new();
        let limit = RateLimit::new(per_second, burst);
        let callers = ["alice", "bob", "carol"];
        let mut allowed = [0u32; 3];
        let mut checked = [0u32; 3];
        let mut first_seen: [Option<Instant>; 3] = [None; 3];
        for step in &schedule {
            first_seen[step.caller].get_or_insert_with(Instant::now);
            for _ in 0..step.count {
                let key = RateKey { method: "/p.S/M", kind: RateKind::Call, identity: callers[step.caller] };
                let RateCheck::Ready(outcome) = limiter.check(&key, limit) else {
                    panic!("the in-memory limiter never defers");
                };
                match outcome {
                    RateOutcome::Allowed => allowed[step.caller] += 1,
                    RateOutcome::Limited { retry_after } => {
                        prop_assert!(retry_after.as_secs_f64() <= 1.0 / f64::from(per_second) + 0.01);
                    }
                    RateOutcome::Unavailable(why) => panic!("unavailable: {why}"),
                }
                checked[step.caller] += 1;
                if checked[step.caller] == burst {
                    // A caller's budget starts full: none of its first `burst` checks fails.
                    prop_assert_eq!(allowed[step.caller], burst, "the first burst was refused");
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(step.pause_ms));
        }
        for caller in 0..3 {
            if let Some(start) = first_seen[caller] {
                let elapsed = start.elapsed().as_secs_f64();
                let bound = f64::from(burst) + f64::from(per_second) * elapsed + 1.0;
                prop_assert!(
                    f64::from(allowed[caller]) <= bound,
                    "{} allowed, bound {:.1} after {:.3} s", allowed[caller], bound, elapsed
                );
            }
        }
    }
}

/// Regression (fuzz target `token_signed`): a token the issuer signed whose claims hold bytes
/// that are not UTF-8 in a member nothing reads was accepted (serde_json skips ignored members
/// without checking them); header and claims must be UTF-8 (RFC 7519 7.2).
#[test]
fn a_signed_token_with_claims_that_are_not_utf8_is_refused() {
    let sign_raw = |header: &[u8], claims: &[u8]| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let header = br#"{"alg":"HS256"}"#;
    let claims = |extra: &[u8]| {
        let mut claims = format!(
            r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","exp":{},"x":""#,
            NOW + 60
        )
        .into_bytes();
        claims.extend_from_slice(extra);
        claims.extend_from_slice(b"\"}");
        claims
    };
    // The same token with a UTF-8 member verifies: only the bytes differ.
    assert!(
        authenticator()
            .verify(&sign_raw(header, &claims(b"ok")), NOW)
            .is_ok()
    );
    for bad in [&b"\xff\xff"[..], b"\xc3", b"\xed\xa0\x80"] {
        let token = sign_raw(header, &claims(bad));
        assert!(
            authenticator().verify(&token, NOW).is_err(),
            "{bad:?} accepted"
        );
        let mut header = br#"{"alg":"HS256","x":""#.to_vec();
        header.extend_from_slice(bad);
        header.extend_from_slice(b"\"}");
        let token = sign_raw(&header, &claims(b"ok"));
        assert!(
            authenticator().verify(&token, NOW).is_err(),
            "{bad:?} in the header accepted"
        );
    }
    // The fuzzer's own input: `<header> NUL <claims>`.
    let crash = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/token_signed/regression-claims-not-utf8"
    ))
    .unwrap();
    let at = crash.iter().position(|&b| b == 0).unwrap();
    let token = sign_raw(&crash[..at], &crash[at + 1..]);
    assert!(authenticator().verify(&token, NOW).is_err());
}

#[test]
fn the_token_fields_checked_above_are_the_ones_verify_reports() {
    // Guard for the policy model of `signed_claims_are_accepted_only_when_they_meet_the_policy`:
    // an expired, otherwise valid token is `Expired`, a valid one verifies.
    let expired = sign(
        &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "exp": NOW}),
        SECRET,
    );
    assert_eq!(
        authenticator().verify(&expired, NOW).unwrap_err(),
        AuthError::Expired
    );
    let valid = sign(&valid_claims("a", "x y"), SECRET);
    assert_eq!(
        authenticator().verify(&valid, NOW).unwrap().scopes(),
        ["x", "y"]
    );
}
