//! JWKS URLs against a real HTTP server on 127.0.0.1: the first fetch, rotation on an unknown
//! `kid`, the refetch rate limit, TTL refreshes, and an endpoint that is down, slow or returns
//! garbage.
//!
//! Time: TTLs and the rate limit run on a `ManualClock`; the only real waits are for the
//! refresh task to finish a fetch (polled, with a generous bound), never assertions on timing.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::clock::ManualClock;
use mcp_auth::jwt::{Algorithm, JwksOptions, JwksStatus, JwtAuthenticator, JwtKey};
use mcp_auth::{AuthError, Claims, ConfigError};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const NOW: u64 = 2_000_000_000;

/// What the test server answers.
#[derive(Clone)]
struct Reply {
    status: StatusCode,
    body: String,
    cache_control: Option<&'static str>,
    delay: Duration,
}

impl Reply {
    fn keys(keys: &[&Signer]) -> Self {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        Self::body(json!({ "keys": keys }).to_string())
    }

    fn body(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            body: body.into(),
            cache_control: None,
            delay: Duration::ZERO,
        }
    }
}

/// A JWKS endpoint on 127.0.0.1 that counts its requests.
struct Server {
    addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let hits = Arc::new(AtomicUsize::new(0));
        let (r, h) = (Arc::clone(&reply), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, h) = (Arc::clone(&r), Arc::clone(&h));
                let service = service_fn(move |_request| {
                    let (r, h) = (Arc::clone(&r), Arc::clone(&h));
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        let reply = r.lock().unwrap().clone();
                        tokio::time::sleep(reply.delay).await;
                        let mut response = Response::builder().status(reply.status);
                        if let Some(cache_control) = reply.cache_control {
                            response = response.header("cache-control", cache_control);
                        }
                        Ok::<_, Infallible>(
                            response.body(Full::new(Bytes::from(reply.body))).unwrap(),
                        )
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self {
            addr,
            reply,
            hits,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops accepting connections and waits until the listener is closed: the next fetch is
    /// refused.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// An ES256 key with its JWK and a way to sign tokens.
struct Signer {
    kid: &'static str,
    jwk: Value,
    encoding: EncodingKey,
}

impl Signer {
    fn new(kid: &'static str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = key.public_key_raw();
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        Self {
            kid,
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..]),
            }),
            encoding: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
        }
    }

    fn token(&self) -> String {
        let header = Header {
            kid: Some(self.kid.to_owned()),
            ..Header::new(Algorithm::ES256)
        };
        let claims =
            json!({"iss": "https://iss", "aud": "aud", "sub": self.kid, "exp": NOW + 3_600});
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }
}

async fn build(
    url: &str,
    clock: &ManualClock,
    options: JwksOptions,
) -> Result<JwtAuthenticator, ConfigError> {
    JwtAuthenticator::builder()
        .issuer("https://iss")
        .audience("aud")
        .jwks_url(url)
        .jwks_options(options)
        .clock(clock.clone())
        .build_async()
        .await
}

fn accepts(auth: &JwtAuthenticator, signer: &Signer, now: u64) -> bool {
    match auth.verify(&signer.token(), now) {
        Ok(claims) => claims.subject() == signer.kid,
        Err(AuthError::InvalidToken(_)) => false,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

fn status(auth: &JwtAuthenticator) -> JwksStatus {
    auth.jwks_status().remove(0)
}

/// Waits until the refresh task has done what `done` checks. Only a bound against hanging
/// forever: nothing is asserted about how long it takes.
async fn eventually(auth: &JwtAuthenticator, what: &str, done: impl Fn(&JwksStatus) -> bool) {
    for _ in 0..3_000 {
        if done(&status(auth)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} never happened: {:?}", status(auth));
}

#[tokio::test]
async fn a_token_signed_by_a_key_of_the_jwks_url_is_accepted() {
    let (a, enc) = (Signer::new("a"), Signer::new("enc"));
    let mut enc_jwk = enc.jwk.clone();
    enc_jwk["use"] = json!("enc");
    let hmac =
        json!({"kty": "oct", "alg": "HS256", "kid": "hmac", "k": URL_SAFE_NO_PAD.encode([7; 32])});
    let server = Server::start(Reply::body(
        json!({"keys": [a.jwk, enc_jwk, hmac]}).to_string(),
    ))
    .await;
    let clock = ManualClock::new(NOW);
    let auth = build(&server.url(), &clock, JwksOptions::default())
        .await
        .unwrap();

    assert!(accepts(&auth, &a, NOW));
    assert!(
        !accepts(&auth, &enc, NOW),
        "a `use: enc` key verified a token"
    );
    let status = status(&auth);
    assert_eq!(status.keys, 1, "the enc and the symmetric key are skipped");
    assert_eq!((status.fetches, status.failures), (1, 0));
    assert_eq!(status.fetched_at, NOW);
    assert_eq!(status.refresh_due, NOW + 300, "the default TTL");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn rotation_is_picked_up_on_an_unknown_kid_at_most_once_per_interval() {
    let (a, b, c) = (Signer::new("a"), Signer::new("b"), Signer::new("c"));
    let server = Server::start(Reply::keys(&[&a])).await;
    let clock = ManualClock::new(NOW);
    let auth = build(&server.url(), &clock, JwksOptions::default())
        .await
        .unwrap();

    // The issuer rotates: b appears. The first token signed with b fails closed at once and
    // asks for a refetch; once it has landed, b verifies.
    server.set(Reply::keys(&[&a, &b]));
    assert!(!accepts(&auth, &b, NOW));
    assert_eq!(status(&auth).unknown_kid_refetches, 1);
    eventually(&auth, "the refetch for kid b", |s| s.fetches == 2).await;
    assert!(accepts(&auth, &b, NOW));
    assert!(accepts(&auth, &a, NOW));

    // Tokens with an unknown kid within the interval cause no more fetches.
    for _ in 0..20 {
        assert!(!accepts(&auth, &c, NOW + 29));
    }
    assert_eq!(status(&auth).unknown_kid_refetches, 1);
    assert_eq!(server.hits(), 2);

    // After the interval, one more.
    server.set(Reply::keys(&[&b, &c]));
    assert!(!accepts(&auth, &c, NOW + 30));
    eventually(&auth, "the refetch for kid c", |s| s.fetches == 3).await;
    assert!(accepts(&auth, &c, NOW + 30));
    assert!(
        !accepts(&auth, &a, NOW + 30),
        "a key the issuer withdrew still verifies"
    );
    assert_eq!(status(&auth).unknown_kid_refetches, 2);
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn keys_past_their_max_age_are_refreshed_by_the_calls_clock() {
    let (a, b) = (Signer::new("a"), Signer::new("b"));
    let server = Server::start(Reply {
        cache_control: Some("public, max-age=120"),
        ..Reply::keys(&[&a])
    })
    .await;
    let clock = ManualClock::new(NOW);
    let auth = build(&server.url(), &clock, JwksOptions::default())
        .await
        .unwrap();
    assert_eq!(status(&auth).refresh_due, NOW + 120);

    server.set(Reply {
        cache_control: Some("max-age=600"),
        ..Reply::keys(&[&b])
    });
    clock.set(NOW + 120);
    // The stale keys still answer this call; the refresh happens behind it.
    assert!(accepts(&auth, &a, NOW + 120));
    eventually(&auth, "the TTL refresh", |s| s.fetches == 2).await;
    assert!(accepts(&auth, &b, NOW + 120));
    assert!(!accepts(&auth, &a, NOW + 120));
    assert_eq!(status(&auth).refresh_due, NOW + 120 + 600);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn the_refresh_task_runs_on_its_own_timer() {
    let a = Signer::new("a");
    let server = Server::start(Reply::keys(&[&a])).await;
    let second = Duration::from_secs(1);
    let options = JwksOptions::default()
        .default_ttl(second)
        .ttl_bounds(second, second);
    let auth = build(&server.url(), &ManualClock::new(NOW), options)
        .await
        .unwrap();
    // No call at all: the task's timer alone refreshes.
    eventually(&auth, "two timer refreshes", |s| s.fetches >= 3).await;
    assert!(accepts(&auth, &a, NOW));
}

/// How a test breaks the endpoint after the first fetch.
enum Failure {
    Down,
    Reply(Reply),
}

/// Breaks the endpoint, then checks that the old key keeps working, that a new kid fails
/// closed, and that the failure is reported.
async fn survives(failure: Failure, expected_error: &str) {
    let (a, b) = (Signer::new("a"), Signer::new("b"));
    let server = Server::start(Reply::keys(&[&a])).await;
    let clock = ManualClock::new(NOW);
    let options = JwksOptions::default().timeout(Duration::from_secs(1));
    let auth = build(&server.url(), &clock, options).await.unwrap();

    match failure {
        Failure::Down => server.stop().await,
        Failure::Reply(reply) => server.set(reply),
    }
    assert!(!accepts(&auth, &b, NOW));
    eventually(&auth, "the failed refetch", |s| s.failures == 1).await;
    assert!(accepts(&auth, &a, NOW), "the last good key was dropped");
    assert!(!accepts(&auth, &b, NOW));
    let status = status(&auth);
    assert_eq!((status.keys, status.fetches), (1, 1));
    let error = status.last_error.unwrap();
    assert!(error.contains(expected_error), "{error}");
    assert_eq!(
        status.refresh_due,
        NOW + 30,
        "retried after the retry interval"
    );
}

#[tokio::test]
async fn an_endpoint_that_is_down_keeps_the_last_good_keys() {
    survives(Failure::Down, "request failed").await;
}

#[tokio::test]
async fn an_endpoint_that_returns_garbage_keeps_the_last_good_keys() {
    survives(
        Failure::Reply(Reply::body("<html>oops</html>")),
        "not a JWK set",
    )
    .await;
}

#[tokio::test]
async fn an_endpoint_that_returns_an_error_status_keeps_the_last_good_keys() {
    let reply = Reply {
        status: StatusCode::SERVICE_UNAVAILABLE,
        ..Reply::keys(&[&Signer::new("b")])
    };
    survives(Failure::Reply(reply), "status 503").await;
}

#[tokio::test]
async fn an_endpoint_with_no_usable_key_keeps_the_last_good_keys() {
    survives(Failure::Reply(Reply::body(r#"{"keys": []}"#)), "no keys").await;
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_keeps_the_last_good_keys() {
    let reply = Reply {
        delay: Duration::from_secs(30),
        ..Reply::keys(&[&Signer::new("b")])
    };
    survives(Failure::Reply(reply), "no complete response within").await;
}

#[tokio::test]
async fn the_authenticator_is_not_built_when_the_first_fetch_fails() {
    let a = Signer::new("a");
    let clock = ManualClock::new(NOW);
    let options = || JwksOptions::default().timeout(Duration::from_secs(1));
    let refused = |reply: Reply| {
        let clock = clock.clone();
        async move {
            let server = Server::start(reply).await;
            build(&server.url(), &clock, options())
                .await
                .unwrap_err()
                .to_string()
        }
    };
    let cases = [
        (Reply::body("garbage"), "not a JWK set"),
        (
            Reply {
                status: StatusCode::NOT_FOUND,
                ..Reply::keys(&[&a])
            },
            "status 404",
        ),
        (
            Reply {
                delay: Duration::from_secs(30),
                ..Reply::keys(&[&a])
            },
            "no complete response",
        ),
        (
            Reply::body(json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}).to_string()),
            "no usable key",
        ),
    ];
    for (reply, expected) in cases {
        let message = refused(reply).await;
        assert!(
            message.contains("the first fetch failed") && message.contains(expected),
            "{message}"
        );
    }

    let down = Server::start(Reply::keys(&[&a])).await;
    let url = down.url();
    down.stop().await;
    let message = build(&url, &clock, options())
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("the first fetch failed"), "{message}");

    let message = build("http://idp.example/jwks", &clock, options())
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("use https"), "{message}");
}

#[tokio::test]
async fn an_rsa_key_without_alg_is_used_only_with_a_configured_algorithm() {
    let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let public = aws_lc_rs::rsa::PublicKey::from_der(rsa.public_key_raw()).unwrap();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({
        "kty": "RSA", "kid": "r",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    });
    let a = Signer::new("a");
    let server = Server::start(Reply::body(json!({"keys": [jwk, a.jwk]}).to_string())).await;
    let encoding = EncodingKey::from_rsa_pem(rsa.serialize_pem().as_bytes()).unwrap();
    let claims = json!({"iss": "https://iss", "aud": "aud", "sub": "r", "exp": NOW + 60});
    let token = |alg| {
        let header = Header {
            kid: Some("r".to_owned()),
            ..Header::new(alg)
        };
        jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
    };
    let clock = ManualClock::new(NOW);

    let auth = build(&server.url(), &clock, JwksOptions::default())
        .await
        .unwrap();
    assert_eq!(
        status(&auth).keys,
        1,
        "the RSA key without alg was not skipped"
    );
    assert!(auth.verify(&token(Algorithm::RS256), NOW).is_err());

    let auth = JwtAuthenticator::<mcp_auth::StandardClaims>::builder()
        .issuer("https://iss")
        .audience("aud")
        .jwks_url(server.url())
        .rsa_jwk_algorithm(Algorithm::RS256)
        .clock(clock.clone())
        .build_async()
        .await
        .unwrap();
    assert_eq!(status(&auth).keys, 2);
    assert!(auth.verify(&token(Algorithm::RS256), NOW).is_ok());
    assert!(auth.verify(&token(Algorithm::PS256), NOW).is_err());
}

#[tokio::test]
async fn static_keys_and_a_jwks_url_work_together() {
    let a = Signer::new("a");
    let server = Server::start(Reply::keys(&[&a])).await;
    let secret = [3u8; 32];
    let auth = JwtAuthenticator::<mcp_auth::StandardClaims>::builder()
        .issuer("https://iss")
        .audience("aud")
        .key(JwtKey::hs256(&secret).with_kid("local"))
        .jwks_url(server.url())
        .clock(ManualClock::new(NOW))
        .build_async()
        .await
        .unwrap();
    assert!(accepts(&auth, &a, NOW));
    let header = Header {
        kid: Some("local".to_owned()),
        ..Header::default()
    };
    let claims = json!({"iss": "https://iss", "aud": "aud", "sub": "local", "exp": NOW + 60});
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
    assert!(auth.verify(&token, NOW).is_ok());
}

#[tokio::test]
async fn https_endpoints_are_verified_against_the_mozilla_roots() {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    // A self-signed certificate for 127.0.0.1: TLS is spoken, but no Mozilla root signed it.
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certified.cert.der().clone()],
        PrivateKeyDer::Pkcs8(key),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (handshakes, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h, r) = (Arc::clone(&handshakes), Arc::clone(&requests));
    let body = json!({"keys": [Signer::new("a").jwk]}).to_string();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            let Ok(tls) = acceptor.accept(stream).await else {
                continue;
            };
            let (r, body) = (Arc::clone(&r), body.clone());
            let service = service_fn(move |_request| {
                r.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tls), service));
        }
    });

    let url = format!("https://{addr}/jwks");
    let message = build(&url, &ManualClock::new(NOW), JwksOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("the first fetch failed") && message.contains("UnknownIssuer"),
        "{message}"
    );
    assert!(
        handshakes.load(Ordering::SeqCst) >= 1,
        "no TLS connection was made"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "a request went to an untrusted server"
    );
    server.abort();
}
