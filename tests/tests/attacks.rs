//! Every way to present a bad bearer token, against each kind of RPC (unary, server-, client-
//! and bidirectional streaming) of a real server: refused with `UNAUTHENTICATED`, no handler ran,
//! and neither the token nor a piece of it shows in the status message or metadata.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth::Authorizer;
use mcp_auth::clock::ManualClock;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth_tests::fixtures::streaming::{self, streams_client::StreamsClient};
use mcp_auth_tests::support::{AUDIENCE, Calls, Handlers, ISSUER, NOW, SECRET, serve};
use serde_json::{Value, json};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};

struct Keys {
    es_private_pem: String,
    es_public_pem: String,
    rs_public_pem: String,
}

fn keys() -> Keys {
    let es = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let rs = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    Keys {
        es_private_pem: es.serialize_pem(),
        es_public_pem: es.public_key_pem(),
        rs_public_pem: rs.public_key_pem(),
    }
}

async fn start(keys: &Keys) -> (Channel, Arc<Calls>) {
    let authenticator = JwtAuthenticator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET).with_kid("hs"))
        .key(
            JwtKey::es256_pem(keys.es_public_pem.as_bytes())
                .unwrap()
                .with_kid("es"),
        )
        .key(
            JwtKey::rsa_pem(keys.rs_public_pem.as_bytes(), Algorithm::RS256)
                .unwrap()
                .with_kid("rs"),
        )
        .build()
        .unwrap();
    let authorizer = Authorizer::with_clock(authenticator, ManualClock::new(NOW));
    let calls = Arc::new(Calls::default());
    let channel = serve(
        Server::builder().add_service(streaming::streams_auth::server(
            Handlers(Arc::clone(&calls)),
            authorizer,
        )),
    )
    .await;
    (channel, calls)
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "mallory",
        "scope": "items:read items:write", "iat": NOW, "exp": NOW + 600,
    })
}

fn sign(header: Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    let header = Header {
        kid: Some("hs".into()),
        ..Header::default()
    };
    sign(header, claims, &EncodingKey::from_secret(SECRET))
}

fn with_claims(edit: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    edit(&mut c);
    hs(&c)
}

/// A token whose header is `header` as given, HS256-signed with the test secret (or unsigned).
fn raw(header: Value, signed: bool) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let signature = if signed {
        jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .unwrap()
    } else {
        String::new()
    };
    format!("{input}.{signature}")
}

/// A token of `header` and the payload text `payload` exactly as given (duplicate keys
/// included), signed by `algorithm` with `key`.
fn signed_raw(header: &Value, payload: &str, algorithm: Algorithm, key: &EncodingKey) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, algorithm).unwrap();
    format!("{input}.{signature}")
}

/// The cases RFC 8725 and the OWASP JWT cheat sheet name beyond the basic ones: keys the token
/// brings along (`jwk`, `x5c`, `x5u`), `kid` injection, `alg: none` spelled otherwise, the
/// ECDSA "psychic signature" (r = s = 0), an empty signature, a JWE-shaped token, duplicate
/// claims.
fn literature_cases() -> Vec<(&'static str, Vec<String>)> {
    let bearer = |t: &str| format!("Bearer {t}");
    let attacker = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let attacker_key = EncodingKey::from_ec_pem(attacker.serialize_pem().as_bytes()).unwrap();
    let point = attacker.public_key_raw();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    let certificate = rcgen::CertificateParams::new(vec!["attacker.test".into()])
        .unwrap()
        .self_signed(&attacker)
        .unwrap();
    let x5c = base64::engine::general_purpose::STANDARD.encode(certificate.der());
    let payload = claims().to_string();
    let es = |header: Value| signed_raw(&header, &payload, Algorithm::ES256, &attacker_key);
    let good = hs(&claims());
    let mut parts = good.split('.');
    let (head, body) = (parts.next().unwrap(), parts.next().unwrap());
    let zero_signature = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let es_head = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": "es"}).to_string());
    // The earlier `exp` is valid, the later one expired: a parser that keeps the first would
    // accept it; RFC 7519 allows only rejecting duplicates or keeping the last.
    let duplicate_exp = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"mallory","scope":"items:read items:write","iat":{NOW},"exp":{},"exp":{}}}"#,
        NOW + 600,
        NOW - 10
    );
    vec![
        (
            "alg None",
            vec![bearer(&raw(json!({"alg": "None", "kid": "hs"}), false))],
        ),
        (
            "alg NONE",
            vec![bearer(&raw(json!({"alg": "NONE", "kid": "hs"}), false))],
        ),
        (
            "the attacker's key embedded as jwk",
            vec![bearer(&es(
                json!({"alg": "ES256", "kid": "es", "jwk": jwk}),
            ))],
        ),
        (
            "the attacker's certificate embedded as x5c",
            vec![bearer(&es(
                json!({"alg": "ES256", "kid": "es", "x5c": [x5c]}),
            ))],
        ),
        (
            "an x5u header pointing elsewhere",
            vec![bearer(&es(
                json!({"alg": "ES256", "x5u": "http://127.0.0.1:1/cert.pem"}),
            ))],
        ),
        (
            "kid path traversal, signed with an empty key",
            vec![bearer(&signed_raw(
                &json!({"alg": "HS256", "kid": "../../../../../../dev/null"}),
                &payload,
                Algorithm::HS256,
                &EncodingKey::from_secret(b""),
            ))],
        ),
        (
            "kid SQL injection",
            vec![bearer(&signed_raw(
                &json!({"alg": "HS256", "kid": "x' UNION SELECT 'key"}),
                &payload,
                Algorithm::HS256,
                &EncodingKey::from_secret(b"key"),
            ))],
        ),
        (
            "ECDSA psychic signature (r = s = 0)",
            vec![bearer(&format!("{es_head}.{body}.{zero_signature}"))],
        ),
        ("empty signature", vec![bearer(&format!("{head}.{body}."))]),
        (
            "JWE-shaped (five parts)",
            vec![bearer(&format!("{head}.{body}.{body}.{body}.{body}"))],
        ),
        (
            "duplicate exp, the last expired",
            vec![bearer(&signed_raw(
                &json!({"alg": "HS256", "kid": "hs"}),
                &duplicate_exp,
                Algorithm::HS256,
                &EncodingKey::from_secret(SECRET),
            ))],
        ),
    ]
}

/// Each case: a name and the `authorization` values sent (none for a missing header).
fn cases(keys: &Keys) -> Vec<(&'static str, Vec<String>)> {
    let good = hs(&claims());
    let bearer = |t: &str| format!("Bearer {t}");
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut forged = claims();
    forged["sub"] = json!("admin");
    let tampered_payload = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(forged.to_string())
    );
    let mut flipped = signature.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered_signature = format!("{head}.{payload}.{}", String::from_utf8(flipped).unwrap());
    let es_key = EncodingKey::from_ec_pem(keys.es_private_pem.as_bytes()).unwrap();
    let confused = sign(
        Header {
            kid: Some("es".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(),
        &EncodingKey::from_secret(keys.es_public_pem.as_bytes()),
    );
    let rs_confused = sign(
        Header {
            kid: Some("rs".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(),
        &EncodingKey::from_secret(keys.rs_public_pem.as_bytes()),
    );
    let es_under_hs_kid = sign(
        Header {
            kid: Some("hs".into()),
            ..Header::new(Algorithm::ES256)
        },
        &claims(),
        &es_key,
    );
    vec![
        ("missing", vec![]),
        ("empty", vec![String::new()]),
        ("scheme only", vec!["Bearer".into()]),
        ("malformed", vec![bearer("not-a-jwt")]),
        ("two dots of garbage", vec![bearer("a.b.c")]),
        ("oversized", vec![bearer(&"a".repeat(9_000))]),
        ("doubled", vec![bearer(&good), bearer(&good)]),
        ("basic scheme", vec![format!("Basic {good}")]),
        ("token scheme", vec![format!("Token {good}")]),
        ("no scheme", vec![good.clone()]),
        (
            "alg none",
            vec![bearer(&raw(json!({"alg": "none", "typ": "JWT"}), false))],
        ),
        (
            "alg none with a signature",
            vec![bearer(&raw(json!({"alg": "none", "kid": "hs"}), true))],
        ),
        (
            "HS256 signed with the ES256 public key",
            vec![bearer(&confused)],
        ),
        (
            "HS256 signed with the RS256 public key",
            vec![bearer(&rs_confused)],
        ),
        (
            "ES256 token under the HS256 kid",
            vec![bearer(&es_under_hs_kid)],
        ),
        (
            "unknown kid",
            vec![bearer(&sign(
                Header {
                    kid: Some("retired".into()),
                    ..Header::default()
                },
                &claims(),
                &EncodingKey::from_secret(SECRET),
            ))],
        ),
        (
            "jku header pointing elsewhere",
            vec![bearer(&raw(
                json!({"alg": "HS256", "jku": "http://127.0.0.1:1/keys", "kid": "attacker"}),
                true,
            ))],
        ),
        (
            "expired",
            vec![bearer(&with_claims(|c| c["exp"] = json!(NOW - 120)))],
        ),
        (
            "not yet valid",
            vec![bearer(&with_claims(|c| c["nbf"] = json!(NOW + 3_600)))],
        ),
        (
            "issued in the future",
            vec![bearer(&with_claims(|c| c["iat"] = json!(NOW + 3_600)))],
        ),
        (
            "wrong issuer",
            vec![bearer(&with_claims(|c| {
                c["iss"] = json!("https://evil.test")
            }))],
        ),
        (
            "missing issuer",
            vec![bearer(&with_claims(|c| {
                c.as_object_mut().unwrap().remove("iss");
            }))],
        ),
        (
            "wrong audience",
            vec![bearer(&with_claims(|c| c["aud"] = json!("another-api")))],
        ),
        (
            "missing audience",
            vec![bearer(&with_claims(|c| {
                c.as_object_mut().unwrap().remove("aud");
            }))],
        ),
        (
            "missing exp",
            vec![bearer(&with_claims(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }))],
        ),
        ("tampered payload", vec![bearer(&tampered_payload)]),
        ("tampered signature", vec![bearer(&tampered_signature)]),
        (
            "wrong typ",
            vec![bearer(&raw(
                json!({"alg": "HS256", "kid": "hs", "typ": "secevent+jwt"}),
                true,
            ))],
        ),
        (
            "unsupported crit",
            vec![bearer(&raw(
                json!({"alg": "HS256", "kid": "hs", "crit": ["b64"], "b64": false}),
                true,
            ))],
        ),
        (
            "exp of the wrong type",
            vec![bearer(&with_claims(|c| c["exp"] = json!("tomorrow")))],
        ),
        (
            "sub of the wrong type",
            vec![bearer(&with_claims(|c| c["sub"] = json!(42)))],
        ),
        (
            "scope of the wrong type",
            vec![bearer(&with_claims(|c| {
                c["scope"] = json!(["items:write"])
            }))],
        ),
    ]
}

fn request<T>(message: T, values: &[String]) -> Request<T> {
    let mut request = Request::new(message);
    for value in values {
        request.metadata_mut().append(
            "authorization",
            MetadataValue::try_from(value.as_str()).unwrap(),
        );
    }
    request
}

/// Checks that nothing of the presented credentials comes back to the caller.
fn assert_nothing_leaked(case: &str, rpc: &str, values: &[String], status: &Status) {
    let mut shown = status.message().to_owned();
    shown.push_str(&String::from_utf8_lossy(status.details()));
    let metadata: &MetadataMap = status.metadata();
    for entry in metadata.iter() {
        if let tonic::metadata::KeyAndValueRef::Ascii(key, value) = entry {
            shown.push_str(key.as_str());
            shown.push_str(value.to_str().unwrap_or_default());
        }
    }
    for value in values {
        for token_part in value.split(['.', ' ']).filter(|p| p.len() >= 12) {
            assert!(
                !shown.contains(token_part),
                "{case} / {rpc}: the response shows part of the credentials: {shown}"
            );
        }
    }
}

fn item() -> streaming::Item {
    streaming::Item {
        name: "x".into(),
        size: None,
    }
}

#[tokio::test]
async fn every_bad_token_is_refused_on_every_kind_of_rpc_and_no_handler_runs() {
    let keys = keys();
    let (channel, calls) = start(&keys).await;
    let mut client = StreamsClient::new(channel);

    // The harness accepts a good token, so the refusals below are the token's doing.
    let good = vec![format!("Bearer {}", hs(&claims()))];
    client.unary(request(item(), &good)).await.unwrap();
    assert_eq!(calls.unary.load(Ordering::SeqCst), 1);
    calls.unary.store(0, Ordering::SeqCst);

    let mut failures = Vec::new();
    let mut all = cases(&keys);
    all.extend(literature_cases());
    for (case, values) in all {
        let outcomes = [
            ("unary", client.unary(request(item(), &values)).await.err()),
            (
                "server streaming",
                client.watch(request(item(), &values)).await.err(),
            ),
            (
                "client streaming",
                client
                    .upload(request(tokio_stream::iter(vec![item()]), &values))
                    .await
                    .err(),
            ),
            (
                "bidirectional",
                client
                    .chat(request(tokio_stream::iter(vec![item()]), &values))
                    .await
                    .err(),
            ),
        ];
        for (rpc, outcome) in outcomes {
            match outcome {
                None => failures.push(format!("{case} / {rpc}: accepted")),
                Some(status) if status.code() != Code::Unauthenticated => {
                    failures.push(format!("{case} / {rpc}: {:?}", status.code()));
                }
                Some(status) => assert_nothing_leaked(case, rpc, &values, &status),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    for (handler, count) in [
        ("unary", &calls.unary),
        ("watch", &calls.watch),
        ("upload/chat", &calls.streams_opened),
    ] {
        assert_eq!(count.load(Ordering::SeqCst), 0, "the {handler} handler ran");
    }
}
