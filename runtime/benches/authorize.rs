//! The per-call check and the per-message stream guard, without the network:
//!
//! - `authorize/*`: `Authorizer::authorize::<P>` on a prepared `tonic::Request` with a token the
//!   cache has seen (the steady state of a client that reuses its token), for a policy of one
//!   scope and of three; and its parts (`bearer_token`, the SHA-256 of the token). The default
//!   rate limits are off here (the limiter has benchmarks of its own); and the generated
//!   adapter's unary method around it (request built per call: subtract `build_request`);
//! - `stream/*`: draining 1,000 messages of a bidirectional echo: the `tonic::Streaming` a plain
//!   handler echoes back, against the response of the generated adapter (authorized at open,
//!   not timed) whose handler echoes its `GuardedStream`: with the expiry check, and with the
//!   expiry check and a message rate limit that is never reached (every per-message check on);
//!   and `decoded_*`, the same checks as the generated server makes them: split by
//!   `StreamGuard::split` into tonic's decoder and the request body, the handler's stream
//!   passing tonic's through (the response's expiry, per frame of the encoded body, is not in
//!   the drain).
//!
//! The policies come from a `mcp_auth::service!` invocation over a hand-written tonic server
//! module, as in the UI tests. `cargo bench -p mcp-auth --bench authorize`; see BENCHMARKS.md.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput};
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::{Authorized, Authorizer, GuardedStream, StandardClaims};
use mcp_auth_bench_support::ThreadCpuTime;
use tonic::codec::{DecodeBuf, Decoder};
use tonic::codegen::tokio_stream::Stream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "mcp-bench";
const SECRET: &[u8] = b"a benchmark secret of at least 32 bytes";
/// Messages per drained stream.
const MESSAGES: usize = 1_000;
/// Payload bytes per stream message.
const MESSAGE_BYTES: usize = 32;

/// What `tonic-prost-build` would generate for
///
/// ```proto
/// service Items {
///   rpc Get(Item) returns (Item);
///   rpc Put(Item) returns (Item);
///   rpc Chat(stream Item) returns (stream Item);
/// }
/// ```
///
/// cut down to what `mcp_auth::service!` needs, and the invocation itself.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    dead_code
)]
mod items {
    /// A message; its size in bytes is all the benchmark keeps of it. (A prost message, as
    /// the generated server's codec needs; the benchmark decodes it with [`ItemDecoder`].)
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Item {
        #[prost(uint64, tag = "1")]
        pub len: u64,
    }

    pub mod items_server {
        use super::Item;
        use tonic::codegen::tokio_stream::Stream;
        use tonic::{Request, Response, Status, Streaming};

        #[tonic::async_trait]
        pub trait Items: Send + Sync + 'static {
            async fn get(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn put(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            type ChatStream: Stream<Item = Result<Item, Status>> + Send + 'static;
            async fn chat(
                &self,
                request: Request<Streaming<Item>>,
            ) -> Result<Response<Self::ChatStream>, Status>;
        }

        pub struct ItemsServer<T>(T);

        impl<T> ItemsServer<T> {
            pub fn new(inner: T) -> Self {
                Self(inner)
            }
        }
    }

    mcp_auth::service! {
        service bench.Items {
            rpc Get(Item) returns (Item) { scopes: ["items:read"] }
            rpc Put(Item) returns (Item) { scopes: ["items:read", "items:write", "items:admin"] }
            rpc Chat(stream Item) returns (stream Item) { scopes: ["items:write"] }
        }
    }
}

use items::items_auth::{AuthorizedItems, policy};
use items::items_server;

/// Decodes an `Item` by skipping its bytes.
#[derive(Debug)]
struct ItemDecoder;

impl Decoder for ItemDecoder {
    type Item = items::Item;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<items::Item>, Status> {
        let len = src.remaining();
        src.advance(len);
        Ok(Some(items::Item { len: len as u64 }))
    }
}

/// [`ItemDecoder`] with prost's encoder: the codec a stream guard splits into for the
/// generated server.
#[derive(Debug)]
struct ItemCodec;

impl tonic::codec::Codec for ItemCodec {
    type Encode = items::Item;
    type Decode = items::Item;
    type Encoder = tonic_prost::ProstEncoder<items::Item>;
    type Decoder = ItemDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic::codec::Codec::encoder(
            &mut tonic_prost::ProstCodec::<items::Item, items::Item>::default(),
        )
    }

    fn decoder(&mut self) -> ItemDecoder {
        ItemDecoder
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

fn token() -> String {
    let now = now();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench-client",
        "scope": "tools:list items:read items:write items:admin",
        "iat": now,
        "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// An authorizer for HS256 tokens with the default verified-token cache. The default rate limits
/// are off: they would refuse this many calls, and the limiter has benchmarks of its own.
fn authorizer() -> Authorizer {
    let authenticator = JwtAuthenticator::<StandardClaims>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .build()
        .unwrap();
    Authorizer::builder()
        .token(authenticator)
        .no_default_rate_limits()
        .build()
        .unwrap()
}

/// The output of a future that completes without waiting, as `authorize` does with the
/// in-memory rate limiter (or none).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the check waited"),
    }
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

fn authorization(c: &mut Criterion<ThreadCpuTime>) {
    let authorizer = authorizer();
    let token = token();
    let request = with_token(items::Item::default(), &token);
    // The first call verifies the signature; every measured one is answered by the cache.
    ready(authorizer.authorize::<policy::Get, _>(&request)).expect("the token is accepted");

    let mut group = c.benchmark_group("authorize");
    group.bench_function("one_scope_cached_token", |b| {
        b.iter(|| ready(authorizer.authorize::<policy::Get, _>(black_box(&request))).unwrap())
    });
    group.bench_function("three_scopes_cached_token", |b| {
        b.iter(|| ready(authorizer.authorize::<policy::Put, _>(black_box(&request))).unwrap())
    });
    // The whole generated adapter of the unary RPC: the check, then the handler.
    let adapter = AuthorizedItems::new(Handlers, authorizer.clone());
    group.bench_function("adapter_one_scope_cached_token", |b| {
        b.iter(|| {
            let request = with_token(items::Item::default(), &token);
            ready(items_server::Items::get(&adapter, request)).unwrap()
        })
    });
    group.bench_function("parts/build_request_with_token", |b| {
        b.iter(|| with_token(items::Item::default(), black_box(&token)))
    });
    group.bench_function("parts/bearer_token", |b| {
        b.iter(|| {
            mcp_auth::authenticate::bearer_token(black_box(request.metadata()), 8192).unwrap()
        })
    });
    group.bench_function("parts/sha256_of_token", |b| {
        b.iter(|| {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(token.as_bytes()))
        })
    });
    group.finish();
}

/// `count` gRPC frames (uncompressed, `MESSAGE_BYTES` each), as one HTTP body.
fn grpc_body(count: usize) -> http_body_util::Full<Bytes> {
    let mut buf = BytesMut::with_capacity(count * (5 + MESSAGE_BYTES));
    for _ in 0..count {
        buf.put_u8(0);
        buf.put_u32(MESSAGE_BYTES as u32);
        buf.put_bytes(b'x', MESSAGE_BYTES);
    }
    http_body_util::Full::new(buf.freeze())
}

fn streaming() -> Streaming<items::Item> {
    Streaming::new_request(ItemDecoder, grpc_body(MESSAGES), None, None)
}

/// Like [`authorizer`], with a message rate limit no stream here reaches, so that every
/// per-message check runs and passes.
fn authorizer_counting_messages() -> Authorizer {
    let authenticator = JwtAuthenticator::<StandardClaims>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .build()
        .unwrap();
    Authorizer::builder()
        .token(authenticator)
        .no_default_rate_limits()
        .default_message_rate_limit(mcp_auth::rate_limit::RateLimit::new(
            100_000_000,
            100_000_000,
        ))
        .build()
        .unwrap()
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<items::Item, Status>> + Send>>;

/// The handlers a user writes; `chat` echoes the guarded stream back, as a plain tonic
/// handler would echo the bare one.
#[derive(Debug, Clone, Copy)]
struct Handlers;

impl items::items_auth::Items for Handlers {
    async fn get(
        &self,
        _auth: Authorized<StandardClaims, policy::Get>,
        request: Request<items::Item>,
    ) -> Result<Response<items::Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn put(
        &self,
        _auth: Authorized<StandardClaims, policy::Put>,
        request: Request<items::Item>,
    ) -> Result<Response<items::Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    type ChatStream = ItemStream;

    async fn chat(
        &self,
        _auth: Authorized<StandardClaims, policy::Chat>,
        request: Request<GuardedStream<items::Item>>,
    ) -> Result<Response<ItemStream>, Status> {
        Ok(Response::new(Box::pin(request.into_inner())))
    }
}

/// Drains `stream` on the runtime (the guard's expiry timer needs one) and returns the count.
fn drain_on<S>(runtime: &tokio::runtime::Runtime, mut stream: S) -> usize
where
    S: Stream<Item = Result<items::Item, Status>> + Unpin,
{
    runtime.block_on(std::future::poll_fn(|cx| {
        let mut count = 0;
        loop {
            match Pin::new(&mut stream).poll_next(cx) {
                Poll::Ready(Some(Ok(item))) => {
                    black_box(item);
                    count += 1;
                }
                Poll::Ready(None) => return Poll::Ready(count),
                Poll::Ready(Some(Err(status))) => panic!("stream failed: {status}"),
                Poll::Pending => panic!("an in-memory body is never pending"),
            }
        }
    }))
}

fn stream_guard(c: &mut Criterion<ThreadCpuTime>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let expiry_only = AuthorizedItems::new(Handlers, authorizer());
    let every_check = AuthorizedItems::new(Handlers, authorizer_counting_messages());
    let token = token();
    // The adapter as tonic calls it: authorize, guard the inbound stream, run the handler, wrap
    // the response stream. Only the draining is timed.
    let open = |adapter: &AuthorizedItems<Handlers>| {
        let request = with_token(streaming(), &token);
        runtime
            .block_on(items_server::Items::chat(adapter, request))
            .expect("the call is authorized")
            .into_inner()
    };
    // The generated server: the caller checked on the head, the guard split into the
    // decoder and the request body, the handler's stream passing tonic's through. (Its
    // response's expiry is checked per frame of the encoded body, not in this drain.)
    let split = |authorizer: &Authorizer| -> ItemStream {
        let head = with_token((), &token);
        let auth = runtime
            .block_on(authorizer.authorize::<policy::Chat, ()>(&head))
            .expect("the call is authorized");
        let guard = authorizer.stream_guard(&auth, &head, mcp_auth::StreamHooks::NONE);
        let (mut codec, body, finish) = guard.split(ItemCodec, grpc_body(MESSAGES));
        let decoder = tonic::codec::Codec::decoder(&mut codec);
        Box::pin(finish.stream(Streaming::new_request(decoder, body, None, None)))
    };
    let expiry_authorizer = authorizer();
    let counting_authorizer = authorizer_counting_messages();
    let plain = || -> ItemStream { Box::pin(streaming()) };
    assert_eq!(drain_on(&runtime, plain()), MESSAGES);
    assert_eq!(drain_on(&runtime, open(&every_check)), MESSAGES);
    assert_eq!(drain_on(&runtime, split(&counting_authorizer)), MESSAGES);

    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("unguarded_1000_messages", |b| {
        b.iter_batched(plain, |s| drain_on(&runtime, s), BatchSize::SmallInput)
    });
    group.bench_function("guarded_expiry_1000_messages", |b| {
        b.iter_batched(
            || open(&expiry_only),
            |s| drain_on(&runtime, s),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("guarded_every_check_1000_messages", |b| {
        b.iter_batched(
            || open(&every_check),
            |s| drain_on(&runtime, s),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("decoded_expiry_1000_messages", |b| {
        b.iter_batched(
            || split(&expiry_authorizer),
            |s| drain_on(&runtime, s),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("decoded_every_check_1000_messages", |b| {
        b.iter_batched(
            || split(&counting_authorizer),
            |s| drain_on(&runtime, s),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn main() {
    let mut criterion = mcp_auth_bench_support::criterion();
    authorization(&mut criterion);
    stream_guard(&mut criterion);
    criterion.final_summary();
}
