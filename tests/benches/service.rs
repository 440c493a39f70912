//! One unary call through the whole tonic server, without the network: the `http::Request` as
//! hyper hands it over (path, gRPC headers, a bearer token, the framed `Item`) is given to the
//! server's tower `Service`, the response future is driven to its end and the response body
//! collected (the encoded `Item` and the trailers). Building the request is part of every
//! measured call. The same echo handler, served as:
//!
//! - `plain`: plain tonic;
//! - `empty_interceptor`: plain tonic behind an `Interceptor` that does nothing;
//! - `mcp_auth`: the mcp-auth generated server, the token seen before (the verified-token
//!   cache), no rate limit; `mcp_auth_rate_limited`: the same with a call rate limit it never
//!   reaches, so the limiter is asked on every call; `mcp_auth_in_tonic_server`: the same
//!   adapter as `mcp_auth`, served by tonic's generated server instead of mcp-auth's (which
//!   calls the adapter's methods directly).
//!
//! The end-to-end `load` benchmark measures the same servers over HTTP/2, where a call costs
//! 10-13 µs of server CPU and a run's medians move by 1-3 %: differences of a few tens of
//! nanoseconds, such as the interceptor's against mcp-auth's, are only resolved here.
//! CPU time of the benchmark thread, which runs everything (a current-thread tokio runtime).
//!
//! `cargo bench -p mcp-auth-tests --bench service`; see BENCHMARKS.md.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use criterion::Criterion;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::rate_limit::RateLimit;
use mcp_auth::{Authorizer, StandardClaims};
use mcp_auth_bench_support::ThreadCpuTime;
use mcp_auth_tests::bench::{Guarded, Plain, empty_interceptor, streams_auth};
use mcp_auth_tests::fixtures::streaming::Item;
use mcp_auth_tests::fixtures::streaming::streams_server::StreamsServer;
use prost::Message;
use tonic::codegen::http;
use tonic::codegen::{Body, Service};

const ISSUER: &str = "https://issuer.service-bench";
const AUDIENCE: &str = "service-bench";
const SECRET: &[u8] = b"service benchmark HS256 secret, 32+ bytes";

fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench-client",
        "scope": "items:read items:write",
        "iat": now,
        "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("signing")
}

fn authorizer(limit: Option<RateLimit>) -> Authorizer {
    let authenticator = JwtAuthenticator::<StandardClaims>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .build()
        .expect("the authenticator");
    let builder = Authorizer::builder()
        .token(authenticator)
        .no_default_rate_limits();
    match limit {
        Some(limit) => builder.default_rate_limit(limit),
        None => builder,
    }
    .build()
    .expect("the authorizer")
}

/// The unary call as hyper hands it to the server.
fn request(token: &str, frame: &Bytes) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(http::Method::POST)
        .uri("http://127.0.0.1/fixtures.streaming.Streams/Unary")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(frame.clone()))
        .expect("a request")
}

/// `Item { name: "echo", size: 1 }` as one uncompressed gRPC frame.
fn frame() -> Bytes {
    let item = Item {
        name: "echo".to_owned(),
        size: Some(1),
    };
    let mut buf = BytesMut::new();
    buf.put_u8(0);
    buf.put_u32(u32::try_from(item.encoded_len()).expect("a small message"));
    item.encode(&mut buf).expect("room for the message");
    buf.freeze()
}

/// Serves one request and returns the response's `grpc-status` and body bytes.
async fn serve<S, B>(service: &mut S, request: http::Request<Full<Bytes>>) -> (String, usize)
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .expect("ready");
    let response = service.call(request).await.expect("a response");
    let collected = response.into_body().collect().await.expect("the body");
    let status = collected
        .trailers()
        .and_then(|trailers| trailers.get("grpc-status"))
        .map_or_else(|| "none".to_owned(), |v| format!("{v:?}"));
    (status, collected.to_bytes().len())
}

fn bench<S, B>(c: &mut Criterion<ThreadCpuTime>, name: &str, mut service: S, token: &str)
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let frame = frame();
    // Every variant answers the call with the echo (and the token is in mcp-auth's cache).
    let (status, bytes) = runtime.block_on(serve(&mut service, request(token, &frame)));
    assert_eq!((status.as_str(), bytes), ("\"0\"", frame.len()), "{name}");
    // The request is built inside the measured loop, the same for every variant: built in a
    // batch beforehand, its bytes would be out of the caches when read, which the header bytes
    // hyper has just parsed are not.
    c.bench_function(&format!("unary_call/{name}"), |b| {
        b.iter(|| black_box(runtime.block_on(serve(&mut service, request(token, &frame)))))
    });
}

fn main() {
    let mut criterion = mcp_auth_bench_support::criterion();
    let token = token();
    bench(&mut criterion, "plain", StreamsServer::new(Plain), &token);
    bench(
        &mut criterion,
        "empty_interceptor",
        StreamsServer::with_interceptor(Plain, empty_interceptor),
        &token,
    );
    bench(
        &mut criterion,
        "mcp_auth",
        streams_auth::server(Guarded, authorizer(None)),
        &token,
    );
    bench(
        &mut criterion,
        "mcp_auth_in_tonic_server",
        StreamsServer::new(streams_auth::AuthorizedStreams::new(
            Guarded,
            authorizer(None),
        )),
        &token,
    );
    let unreached = RateLimit::new(100_000_000, 100_000_000);
    bench(
        &mut criterion,
        "mcp_auth_rate_limited",
        streams_auth::server(Guarded, authorizer(Some(unreached))),
        &token,
    );
    criterion.final_summary();
}
