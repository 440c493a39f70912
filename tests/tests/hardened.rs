//! The hardened server end to end: each default of `mcp_auth::server::HardenedServer` observed
//! on a real server on 127.0.0.1:0, through tonic's client where a conforming client shows it,
//! and through a few hand-written HTTP/2 frames where only a misbehaving client can.
//!
//! Nothing here measures time. Waits are bounded (generously) only so that a broken server fails
//! the test instead of hanging it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_auth::clock::ManualClock;
use mcp_auth::coverage::CoverageLayer;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::server::{HardenedLayers, HardenedServer};
use mcp_auth::{Authorized, Authorizer, GuardedStream, StandardClaims};
use mcp_auth_tests::fixtures::streaming::{
    Item, Summary, streams_auth, streams_client::StreamsClient,
};
use mcp_auth_tests::support::{AUDIENCE, ISSUER, ItemStream, NOW, SECRET, token, with_token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_stream::StreamExt;
use tonic::metadata::MetadataValue;
use tonic::service::Routes;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

type C = StandardClaims;

/// How long any single wait may take before the test gives up; never a measurement.
const PATIENCE: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting: {what}"))
}

/// What the handlers saw.
#[derive(Debug)]
struct Seen {
    unary: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    hung_and_dropped: AtomicUsize,
    upload_messages: AtomicUsize,
    release: Semaphore,
}

/// Handlers of the streaming fixture that misbehave on request, by the item's name:
/// `panic` panics, `hang` never answers, `block` waits for a permit of `Seen::release`.
#[derive(Debug, Clone)]
struct Handlers(Arc<Seen>);

/// Counts the drops of a handler future that never finished.
struct DropGuard(Arc<Seen>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.hung_and_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[mcp_auth::handlers]
impl streams_auth::Streams for Handlers {
    type WatchStream = ItemStream;
    type ChatStream = ItemStream;

    async fn unary(
        &self,
        _auth: Authorized<C, streams_auth::policy::Unary>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        let item = request.into_inner();
        match item.name.as_str() {
            "panic" => panic!("a handler bug, on purpose"),
            "hang" => {
                let _guard = DropGuard(Arc::clone(&self.0));
                std::future::pending::<()>().await;
            }
            "block" => {
                let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.0.max_running.fetch_max(now, Ordering::SeqCst);
                self.0.release.acquire().await.unwrap().forget();
                self.0.running.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }
        self.0.unary.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(item))
    }

    async fn watch(
        &self,
        _auth: Authorized<C, streams_auth::policy::Watch>,
        request: Request<Item>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let name = request.into_inner().name;
        let first = Item {
            name: format!("{name}-0"),
            size: Some(0),
        };
        Ok(Response::new(Box::pin(PanicAfterFirst {
            first: Some(first),
            yielded: false,
            panics: name == "panic",
        })))
    }

    async fn upload(
        &self,
        _auth: Authorized<C, streams_auth::policy::Upload>,
        request: Request<GuardedStream<Item>>,
    ) -> Result<Response<Summary>, Status> {
        let mut stream = request.into_inner();
        let mut count = 0;
        while let Some(_item) = stream.message().await? {
            self.0.upload_messages.fetch_add(1, Ordering::SeqCst);
            count += 1;
        }
        Ok(Response::new(Summary { count }))
    }

    async fn chat(
        &self,
        _auth: Authorized<C, streams_auth::policy::Chat>,
        request: Request<GuardedStream<Item>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        Ok(Response::new(Box::pin(request.into_inner())))
    }
}

/// One item, then (once the item has gone out) a panic in the stream's own code, while the
/// response is under way; or the end of the stream, when `panics` is false.
struct PanicAfterFirst {
    first: Option<Item>,
    yielded: bool,
    panics: bool,
}

impl tokio_stream::Stream for PanicAfterFirst {
    type Item = Result<Item, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(first)));
        }
        if !self.yielded {
            // Let tonic send what it has before the next poll.
            self.yielded = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        if self.panics {
            panic!("a stream bug, on purpose");
        }
        std::task::Poll::Ready(None)
    }
}

fn handlers() -> Handlers {
    Handlers(Arc::new(Seen {
        unary: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        max_running: AtomicUsize::new(0),
        hung_and_dropped: AtomicUsize::new(0),
        upload_messages: AtomicUsize::new(0),
        release: Semaphore::new(0),
    }))
}

fn authorizer() -> Authorizer<C> {
    let authenticator = JwtAuthenticator::<C>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .build()
        .unwrap();
    Authorizer::with_clock(authenticator, ManualClock::new(NOW))
}

/// The streaming fixture with its generated `server()`, as a user mounts it.
fn streams(handlers: &Handlers) -> streams_auth::AuthorizedStreamsServer<Handlers> {
    streams_auth::server(handlers.clone(), authorizer())
}

/// Serves `routes` with `server` on a fresh 127.0.0.1 port.
fn spawn(mut server: Server<HardenedLayers>, routes: Routes) -> SocketAddr {
    let incoming = HardenedServer::new()
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(server.add_routes(routes).serve_with_incoming(incoming));
    addr
}

/// A hardened server with `handlers` behind the generated `server()`, and the coverage layer
/// inside the hardened layers, as a deployment stacks them.
fn serve(builder: HardenedServer, handlers: &Handlers) -> SocketAddr {
    let mut server = builder
        .build()
        .layer(CoverageLayer::new([&streams_auth::POLICY]));
    let incoming = HardenedServer::new()
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(
        server
            .add_service(streams(handlers))
            .serve_with_incoming(incoming),
    );
    addr
}

async fn connect(addr: SocketAddr) -> StreamsClient<Channel> {
    let channel = within(
        "connect",
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect(),
    )
    .await
    .unwrap();
    StreamsClient::new(channel)
}

fn item(name: impl Into<String>) -> Item {
    Item {
        name: name.into(),
        size: None,
    }
}

fn read(name: impl Into<String>) -> Request<Item> {
    with_token(item(name), &token("items:read", 600))
}

async fn unary(client: &mut StreamsClient<Channel>, name: &str) -> Result<Item, Status> {
    within(name, client.unary(read(name)))
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_server_keeps_serving() {
    let handlers = handlers();
    let addr = serve(HardenedServer::new(), &handlers);
    let mut client = connect(addr).await;

    // A unary handler that panics.
    let status = unary(&mut client, "panic").await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal error");
    assert!(!status.message().contains("on purpose"), "{status:?}");

    // The same connection keeps serving.
    assert_eq!(unary(&mut client, "next").await.unwrap().name, "next");

    // A response stream that panics after its first item: the item arrives, then INTERNAL.
    let mut stream = within("watch", client.watch(read("panic")))
        .await
        .unwrap()
        .into_inner();
    let first = within("first item", stream.next()).await.unwrap().unwrap();
    assert_eq!(first.name, "panic-0");
    let status = within("end", stream.next()).await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal error");
    assert!(within("after", stream.next()).await.is_none());

    // Still serving, on the same connection and on a new one.
    assert_eq!(unary(&mut client, "again").await.unwrap().name, "again");
    let mut fresh = connect(addr).await;
    assert_eq!(unary(&mut fresh, "fresh").await.unwrap().name, "fresh");
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_oversized_message_is_refused_before_the_handler_runs() {
    let handlers = handlers();

    // The default ceiling is 4 MiB, for every service.
    let addr = serve(HardenedServer::new(), &handlers);
    let mut client = connect(addr).await;
    let over_default = "x".repeat(HardenedServer::DEFAULT_MAX_MESSAGE_SIZE + 1);
    let status = unary(&mut client, &over_default).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("larger than the server's limit"));
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 0);

    // A lower ceiling applies to unary and streaming requests alike, and the server keeps serving.
    let addr = serve(HardenedServer::new().max_message_size(64 * 1024), &handlers);
    let mut client = connect(addr).await;
    let status = unary(&mut client, &"x".repeat(100 * 1024))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 0);
    let fits = "y".repeat(32 * 1024);
    assert_eq!(unary(&mut client, &fits).await.unwrap().name, fits);

    let uploads = tokio_stream::iter(vec![
        item("small"),
        item("x".repeat(100 * 1024)),
        item("never read"),
    ]);
    let status = within(
        "upload",
        client.upload(with_token(uploads, &token("items:write", 600))),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        handlers.0.upload_messages.load(Ordering::SeqCst),
        1,
        "only the message before the oversized one reached the handler"
    );

    // A generated server's own, lower, limit still applies below the ceiling: tonic answers
    // OUT_OF_RANGE.
    let addr = spawn(
        HardenedServer::new().max_message_size(64 * 1024).build(),
        Routes::new(streams(&handlers).max_decoding_message_size(16 * 1024)),
    );
    let mut client = connect(addr).await;
    let status = unary(&mut client, &fits).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_conforming_client_queues_calls_beyond_the_stream_limit() {
    let handlers = handlers();
    let addr = serve(HardenedServer::new().max_concurrent_streams(2), &handlers);
    // One channel is one HTTP/2 connection. One call first: a client learns the limit from the
    // server's SETTINGS, and h2 refuses (REFUSED_STREAM, UNAVAILABLE in tonic) the streams a
    // client opens past the limit before it has them.
    let mut client = connect(addr).await;
    unary(&mut client, "settings").await.unwrap();

    let calls: Vec<_> = (0..5)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.unary(read("block")).await })
        })
        .collect();
    within("two handlers running", async {
        while handlers.0.running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Give the other three every chance to start, were the limit not enforced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(handlers.0.running.load(Ordering::SeqCst), 2);

    handlers.0.release.add_permits(5);
    for call in calls {
        within("call", call).await.unwrap().unwrap();
    }
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 6);
    assert_eq!(handlers.0.max_running.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_client_ignoring_the_stream_limit_has_the_extra_stream_refused() {
    let handlers = handlers();
    let addr = serve(HardenedServer::new(), &handlers);
    let mut h2 = RawH2::connect(addr).await;

    // The default limit, 100 streams, is accepted; the 101st is refused.
    let limit = HardenedServer::DEFAULT_MAX_CONCURRENT_STREAMS;
    for n in 0..=limit {
        h2.open_stream(2 * n + 1).await;
    }
    let refused_id = 2 * limit + 1;
    let frame = h2
        .until("a reset", |frame| {
            frame.kind == RST_STREAM || frame.kind == GOAWAY
        })
        .await;
    assert_eq!(frame.kind, RST_STREAM);
    assert_eq!(frame.stream_id, refused_id);
    assert_eq!(frame.error_code(), REFUSED_STREAM);
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn too_many_refused_streams_end_the_connection_with_enhance_your_calm() {
    let handlers = handlers();
    // One stream at a time, so every further stream is refused and counts as a local reset.
    let addr = serve(HardenedServer::new().max_concurrent_streams(1), &handlers);
    let mut h2 = RawH2::connect(addr).await;
    let allowed = HardenedServer::DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS as u32;
    for n in 0..=allowed + 1 {
        h2.open_stream(2 * n + 1).await;
    }
    let mut refused = 0;
    let goaway = h2
        .until("GOAWAY", |frame| {
            if frame.kind == RST_STREAM && frame.error_code() == REFUSED_STREAM {
                refused += 1;
            }
            frame.kind == GOAWAY
        })
        .await;
    assert_eq!(refused, allowed, "every refusal up to the limit is a reset");
    assert_eq!(goaway.goaway_error_code(), ENHANCE_YOUR_CALM);
}

#[tokio::test]
async fn a_plain_tonic_server_refuses_streams_for_ever_and_never_calms_the_client() {
    // What the builder fixes: tonic's own `Server` passes `None` for the local error reset limit,
    // which turns h2's guard off. The same flood is refused stream by stream, without end.
    let handlers = handlers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder()
        .max_concurrent_streams(1)
        .add_service(streams(&handlers));
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let mut h2 = RawH2::connect(addr).await;
    let flood = HardenedServer::DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS as u32 + 100;
    for n in 0..=flood {
        h2.open_stream(2 * n + 1).await;
    }
    let mut refused = 0;
    let mut goaway = false;
    h2.until("every refusal", |frame| {
        goaway |= frame.kind == GOAWAY;
        if frame.kind == RST_STREAM && frame.error_code() == REFUSED_STREAM {
            refused += 1;
        }
        goaway || refused == flood
    })
    .await;
    assert!(!goaway, "a plain tonic server sent GOAWAY");
    assert_eq!(refused, flood);
    // And the connection is still open: it answers a PING.
    h2.write_frame(PING, 0, 0, b"stillup!").await;
    let pong = h2.until("PING ack", |frame| frame.kind == PING).await;
    assert_eq!(
        (pong.flags & ACK, pong.payload.as_slice()),
        (ACK, &b"stillup!"[..])
    );
}

#[tokio::test]
async fn headers_over_the_limit_are_refused_before_authorization() {
    let handlers = handlers();
    let addr = serve(HardenedServer::new(), &handlers);
    let mut client = connect(addr).await;

    let mut request = read("padded");
    let padding = "p".repeat(HardenedServer::DEFAULT_MAX_HEADER_LIST_SIZE as usize);
    request.metadata_mut().insert(
        "x-padding",
        MetadataValue::try_from(padding.as_str()).unwrap(),
    );
    let status = within("oversized headers", client.unary(request))
        .await
        .unwrap_err();
    // h2 answers `431 Request Header Fields Too Large` without a gRPC status, which tonic's
    // client reports as UNKNOWN.
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(status.message().contains("431"), "{status:?}");
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 0);

    // An 8 KiB token's worth of metadata fits, on the same connection.
    let mut request = read("fits");
    request.metadata_mut().insert(
        "x-padding",
        MetadataValue::try_from("p".repeat(8 * 1024).as_str()).unwrap(),
    );
    within("fitting headers", client.unary(request))
        .await
        .unwrap();
    assert_eq!(handlers.0.unary.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_handler_past_the_request_timeout_is_cancelled_and_dropped() {
    let handlers = handlers();
    let addr = serve(
        HardenedServer::new().request_timeout(Duration::from_millis(100)),
        &handlers,
    );
    let mut client = connect(addr).await;

    let status = unary(&mut client, "hang").await.unwrap_err();
    // tonic reports its server timeout as CANCELLED ("Timeout expired").
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    within("the handler's future dropped", async {
        while handlers.0.hung_and_dropped.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(unary(&mut client, "next").await.unwrap().name, "next");
}

#[tokio::test]
async fn http2_keepalive_pings_and_closes_a_silent_peer() {
    let handlers = handlers();
    let addr = serve(
        HardenedServer::new()
            .http2_keepalive(Duration::from_millis(100), Duration::from_millis(100)),
        &handlers,
    );
    let mut h2 = RawH2::connect(addr).await;
    h2.answer_pings = false;
    let ping = h2.until("a PING", |frame| frame.kind == PING).await;
    assert_eq!(ping.flags & ACK, 0);
    // Unanswered, the server gives up on the connection.
    within("the connection to close", async {
        while h2.next_frame().await.is_some() {}
    })
    .await;
}

#[tokio::test]
async fn an_old_connection_is_sent_away_gracefully() {
    let handlers = handlers();
    let addr = serve(
        HardenedServer::new().max_connection_age(Some(Duration::from_millis(100))),
        &handlers,
    );
    let mut h2 = RawH2::connect(addr).await;
    // Graceful: NO_ERROR, and calls already open may finish.
    let goaway = h2.until("GOAWAY", |frame| frame.kind == GOAWAY).await;
    assert_eq!(goaway.goaway_error_code(), NO_ERROR);
}

#[tokio::test]
async fn accepted_sockets_get_tcp_keepalive() {
    let builder = HardenedServer::new();
    let mut incoming = builder.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let accepted = within("accept", incoming.next()).await.unwrap().unwrap();
    let socket = socket2::SockRef::from(&accepted);
    assert!(socket.keepalive().unwrap());
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        HardenedServer::DEFAULT_TCP_KEEPALIVE_IDLE
    );
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        HardenedServer::DEFAULT_TCP_KEEPALIVE_INTERVAL
    );
    assert_eq!(
        socket.tcp_keepalive_retries().unwrap(),
        HardenedServer::DEFAULT_TCP_KEEPALIVE_RETRIES
    );
    assert!(socket.tcp_nodelay().unwrap());
}

// A few HTTP/2 frames by hand (RFC 9113), to be the client that conforming libraries never are.

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const NO_ERROR: u32 = 0x0;
const REFUSED_STREAM: u32 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;

#[derive(Debug)]
struct Frame {
    kind: u8,
    flags: u8,
    stream_id: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn error_code(&self) -> u32 {
        u32::from_be_bytes(self.payload[..4].try_into().unwrap())
    }

    fn goaway_error_code(&self) -> u32 {
        u32::from_be_bytes(self.payload[4..8].try_into().unwrap())
    }
}

struct RawH2 {
    stream: TcpStream,
    answer_pings: bool,
}

impl RawH2 {
    async fn connect(addr: SocketAddr) -> Self {
        let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut h2 = Self {
            stream,
            answer_pings: true,
        };
        h2.write_frame(SETTINGS, 0, 0, &[]).await;
        h2
    }

    async fn write_frame(&mut self, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        frame.extend([kind, flags]);
        frame.extend(stream_id.to_be_bytes());
        frame.extend(payload);
        within("write", self.stream.write_all(&frame))
            .await
            .unwrap();
    }

    /// Opens a gRPC call to `Streams/Unary` with a token that may make it, and sends nothing
    /// more on it, so it stays open: the server admits the caller on the call's head, then
    /// waits for the message. (Without the token it would answer at once.)
    async fn open_stream(&mut self, id: u32) {
        let mut block = Vec::new();
        let authorization = format!("Bearer {}", token("items:read", 600));
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/fixtures.streaming.Streams/Unary"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("authorization", &authorization),
        ] {
            hpack_literal(&mut block, name, value);
        }
        self.write_frame(HEADERS, END_HEADERS, id, &block).await;
    }

    /// The next frame from the server, `None` once it closed the connection. Acknowledges its
    /// SETTINGS, and its PINGs while `answer_pings`.
    async fn next_frame(&mut self) -> Option<Frame> {
        let mut head = [0; 9];
        if within("a frame", self.stream.read_exact(&mut head))
            .await
            .is_err()
        {
            return None;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        if within("a payload", self.stream.read_exact(&mut payload))
            .await
            .is_err()
        {
            return None;
        }
        let frame = Frame {
            kind: head[3],
            flags: head[4],
            stream_id: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        };
        if frame.kind == SETTINGS && frame.flags & ACK == 0 {
            self.write_frame(SETTINGS, ACK, 0, &[]).await;
        }
        if frame.kind == PING && frame.flags & ACK == 0 && self.answer_pings {
            let payload = frame.payload.clone();
            self.write_frame(PING, ACK, 0, &payload).await;
        }
        Some(frame)
    }

    /// Reads frames until one satisfies `done`; fails if the connection closes first.
    async fn until(&mut self, what: &str, mut done: impl FnMut(&Frame) -> bool) -> Frame {
        within(what, async {
            loop {
                let frame = self
                    .next_frame()
                    .await
                    .unwrap_or_else(|| panic!("connection closed before {what}"));
                if done(&frame) {
                    return frame;
                }
            }
        })
        .await
    }
}

/// An HPACK "literal header field without indexing, new name", without Huffman coding.
fn hpack_literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    for string in [name, value] {
        hpack_integer(block, 7, string.len());
        block.extend(string.as_bytes());
    }
}

fn hpack_integer(block: &mut Vec<u8>, prefix_bits: u32, mut value: usize) {
    let max = (1 << prefix_bits) - 1;
    if value < max {
        block.push(value as u8);
        return;
    }
    block.push(max as u8);
    value -= max;
    while value >= 128 {
        block.push((value % 128 + 128) as u8);
        value /= 128;
    }
    block.push(value as u8);
}

#[tokio::test]
async fn without_the_layer_a_panic_resets_the_stream() {
    // What the layer fixes: on tonic's own `Server`, the panic ends the task hyper runs the
    // stream on, h2 resets the stream with CANCEL, and the caller reads a transport error as
    // if it had cancelled the call itself.
    let handlers = handlers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder().add_service(streams(&handlers));
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut client = connect(addr).await;
    let status = unary(&mut client, "panic").await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(status.message().contains("h2 protocol error"), "{status:?}");
}
