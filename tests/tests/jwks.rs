//! End to end with a JWKS-backed issuer: the server fetches the issuer's keys over HTTP from
//! 127.0.0.1 before it serves, and ES256 tokens signed by the issuer are accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth::Authorizer;
use mcp_auth::jwt::JwtAuthenticator;
use mcp_auth_tests::fixtures::echo;
use mcp_auth_tests::support::{AUDIENCE, Calls, Handlers, ISSUER, serve, with_token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic::transport::Server;

/// Serves `body` as `application/json` to every request, counting them.
async fn serve_jwks(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = vec![0; 4096];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     cache-control: max-age=300\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn tokens_from_a_jwks_backed_issuer_are_accepted() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    // An uncompressed P-256 point: 0x04 || X || Y.
    let point = key.public_key_raw();
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": "issuer-2026",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]});
    let (url, hits) = serve_jwks(jwks.to_string()).await;
    let authenticator = JwtAuthenticator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .jwks_url(url)
        .build_async()
        .await
        .unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "keys fetched before serving"
    );

    let calls = Arc::new(Calls::default());
    let channel = serve(Server::builder().add_service(echo::echo_auth::server(
        Handlers(Arc::clone(&calls)),
        Authorizer::new(authenticator),
    )))
    .await;
    let mut client = echo::echo_client::EchoClient::new(channel);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signing_key = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let token = |kid: &str| {
        let header = Header {
            kid: Some(kid.into()),
            ..Header::new(Algorithm::ES256)
        };
        let claims = serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "carol",
            "scope": "echo:say", "iat": now, "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &signing_key).unwrap()
    };
    let say = || echo::SayRequest {
        message: "hello".into(),
    };

    let reply = client
        .say(with_token(say(), &token("issuer-2026")))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "hello");
    assert_eq!(calls.say.load(Ordering::SeqCst), 1);

    let status = client
        .say(with_token(say(), &token("not-published")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(calls.say.load(Ordering::SeqCst), 1);
}
