use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower_layer::{Identity, Stack};

use super::catch_panic::CatchPanicLayer;
use super::message_size::MessageSizeLimitLayer;

/// The layers [`HardenedServer::build`] puts around every service: [`CatchPanicLayer`]
/// outermost, then [`MessageSizeLimitLayer`]. Layers added afterwards with
/// [`Server::layer`] sit inside both.
pub type HardenedLayers = Stack<MessageSizeLimitLayer, Stack<CatchPanicLayer, Identity>>;

/// A tonic [`Server`] builder whose every limit starts at a safe value.
///
/// `tonic::transport::Server::builder()` leaves most of its HTTP/2 protections off: no limit on
/// concurrent streams, no keepalive, no request timeout, and `None` for
/// `http2_max_local_error_reset_streams`, which hyper hands to h2 as "no limit" and so turns
/// off h2's own guard (1,024 by default) against clients that make the server reset streams
/// ("MadeYouReset", CVE-2025-8671). [`build`](Self::build) returns the same tonic `Server`,
/// configured as below, with a panic catcher and a server-wide message size limit as layers;
/// add services, TLS and your own layers to it as usual, and tonic's own setters still override
/// any value.
///
/// | setting | default | why |
/// | --- | --- | --- |
/// | [`max_concurrent_streams`](Self::max_concurrent_streams) | 100 | RFC 9113's recommended minimum; caps the handlers one connection runs at once |
/// | [`max_local_error_reset_streams`](Self::max_local_error_reset_streams) | 1,024 | h2's and hyper's default, which tonic disables |
/// | [`max_pending_accept_reset_streams`](Self::max_pending_accept_reset_streams) | 20 | h2's default against "Rapid Reset" (CVE-2023-44487), pinned |
/// | [`max_header_list_size`](Self::max_header_list_size) | 16 KiB | hyper's default, pinned: room for an 8 KiB token and metadata |
/// | [`max_message_size`](Self::max_message_size) | 4 MiB | tonic's and gRPC's usual receive limit, as one ceiling for every service |
/// | [`http2_keepalive`](Self::http2_keepalive) | ping every 60 s, close after 20 s without an answer | finds dead peers that hold streams open |
/// | [`tcp_keepalive`](Self::tcp_keepalive) | after 60 s idle, probes every 15 s, 4 probes | finds dead peers below HTTP/2 (on [`serve`](tonic::transport::server::Router::serve) and [`bind`](Self::bind)) |
/// | [`request_timeout`](Self::request_timeout) | 60 s | bounds a handler that never answers |
/// | [`max_connection_age`](Self::max_connection_age) | 1 hour, then a graceful GOAWAY | bounds idle connections and makes clients re-handshake (fresh certificates) |
/// | [`max_connection_age_grace`](Self::max_connection_age_grace) | none | streams still open at the age finish on their own |
/// | panics | caught | a panicking handler answers `INTERNAL` and the server keeps serving ([`CatchPanicLayer`]) |
/// | HTTP/1 | refused | tonic's default, kept: gRPC is HTTP/2 only |
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_auth::server::HardenedServer;
/// # let addr = "127.0.0.1:50051".parse()?;
/// # let routes = tonic::service::Routes::default();
///
/// HardenedServer::new()
///     .request_timeout(std::time::Duration::from_secs(30))
///     .build()
///     // .layer(mcp_auth::coverage::CoverageLayer::new([&tools_auth::POLICY]))
///     // .add_service(tools_auth::server(handlers, authorizer))
///     .add_routes(routes)
///     .serve(addr)
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// What tonic 0.14 cannot do, and so neither can this builder:
///
/// - **no idle timeout**: hyper's HTTP/2 server has none, so an idle but live connection stays
///   open until [`max_connection_age`](Self::max_connection_age) (keepalive pings only find dead
///   ones);
/// - **the request timeout ends at the response headers**: tonic's timeout covers the future that
///   produces the response, which for a server- or bidirectional-streaming RPC ends when the
///   handler returns its stream. The stream itself is bounded by the caller's deadline, the
///   token's expiry checks, and [`max_connection_age_grace`](Self::max_connection_age_grace);
/// - **per-service decoding limits stay per service**: `max_decoding_message_size` is a method of
///   each generated server, not of the `Server`. [`max_message_size`](Self::max_message_size) is
///   a ceiling above them all; to go lower for one service, call it on the generated server:
///   `tools_auth::server(handlers, authorizer).max_decoding_message_size(64 * 1024)`;
/// - **TCP settings apply only to sockets tonic binds**: `serve_with_incoming` ignores them; use
///   [`bind`](Self::bind) to get a listener with them.
#[derive(Debug, Clone)]
pub struct HardenedServer {
    max_concurrent_streams: u32,
    max_local_error_reset_streams: usize,
    max_pending_accept_reset_streams: usize,
    max_header_list_size: u32,
    max_message_size: usize,
    http2_keepalive_interval: Duration,
    http2_keepalive_timeout: Duration,
    tcp_keepalive: TcpKeepalive,
    request_timeout: Duration,
    max_connection_age: Option<Duration>,
    max_connection_age_grace: Option<Duration>,
}

/// When an idle TCP connection is probed, how often, and how many probes go unanswered before
/// the kernel drops it.
#[derive(Debug, Clone, Copy)]
struct TcpKeepalive {
    idle: Duration,
    interval: Duration,
    retries: u32,
}

impl Default for HardenedServer {
    fn default() -> Self {
        Self::new()
    }
}

impl HardenedServer {
    /// Default of [`max_concurrent_streams`](Self::max_concurrent_streams).
    pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
    /// Default of [`max_local_error_reset_streams`](Self::max_local_error_reset_streams).
    pub const DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
    /// Default of [`max_pending_accept_reset_streams`](Self::max_pending_accept_reset_streams).
    pub const DEFAULT_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
    /// Default of [`max_header_list_size`](Self::max_header_list_size), in bytes.
    pub const DEFAULT_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
    /// Default of [`max_message_size`](Self::max_message_size), in bytes.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
    /// Default interval of [`http2_keepalive`](Self::http2_keepalive).
    pub const DEFAULT_HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
    /// Default timeout of [`http2_keepalive`](Self::http2_keepalive).
    pub const DEFAULT_HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
    /// Default idle time of [`tcp_keepalive`](Self::tcp_keepalive).
    pub const DEFAULT_TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
    /// Default probe interval of [`tcp_keepalive`](Self::tcp_keepalive).
    pub const DEFAULT_TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
    /// Default probe count of [`tcp_keepalive`](Self::tcp_keepalive).
    pub const DEFAULT_TCP_KEEPALIVE_RETRIES: u32 = 4;
    /// Default of [`request_timeout`](Self::request_timeout).
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default of [`max_connection_age`](Self::max_connection_age).
    pub const DEFAULT_MAX_CONNECTION_AGE: Duration = Duration::from_secs(60 * 60);

    /// The defaults in the table above.
    pub fn new() -> Self {
        Self {
            max_concurrent_streams: Self::DEFAULT_MAX_CONCURRENT_STREAMS,
            max_local_error_reset_streams: Self::DEFAULT_MAX_LOCAL_ERROR_RESET_STREAMS,
            max_pending_accept_reset_streams: Self::DEFAULT_MAX_PENDING_ACCEPT_RESET_STREAMS,
            max_header_list_size: Self::DEFAULT_MAX_HEADER_LIST_SIZE,
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            http2_keepalive_interval: Self::DEFAULT_HTTP2_KEEPALIVE_INTERVAL,
            http2_keepalive_timeout: Self::DEFAULT_HTTP2_KEEPALIVE_TIMEOUT,
            tcp_keepalive: TcpKeepalive {
                idle: Self::DEFAULT_TCP_KEEPALIVE_IDLE,
                interval: Self::DEFAULT_TCP_KEEPALIVE_INTERVAL,
                retries: Self::DEFAULT_TCP_KEEPALIVE_RETRIES,
            },
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_connection_age: Some(Self::DEFAULT_MAX_CONNECTION_AGE),
            max_connection_age_grace: None,
        }
    }

    /// How many streams (calls) one connection may have open at once, announced to the client as
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`. Conforming clients (tonic's among them) queue calls
    /// beyond it once they have the server's SETTINGS; h2 refuses the streams opened past it
    /// (`REFUSED_STREAM`, which tonic's client reports as `UNAVAILABLE` and which is safe to
    /// retry), and each refusal counts towards
    /// [`max_local_error_reset_streams`](Self::max_local_error_reset_streams). Default 100.
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.max_concurrent_streams = max;
        self
    }

    /// How many streams the server may reset because of the client's protocol errors (malformed
    /// frames, streams over the concurrency limit, oversized headers) before it ends the
    /// connection with `GOAWAY(ENHANCE_YOUR_CALM)`. The count is per connection and never goes
    /// down, so [`max_connection_age`](Self::max_connection_age) also bounds how long a
    /// well-behaved client's occasional errors accumulate. Default 1,024, h2's own default, which
    /// a plain tonic server turns off.
    pub fn max_local_error_reset_streams(mut self, max: usize) -> Self {
        self.max_local_error_reset_streams = max;
        self
    }

    /// How many streams the client may open and reset before the server has accepted them, before
    /// the connection ends with `GOAWAY(ENHANCE_YOUR_CALM)` (the "Rapid Reset" attack,
    /// CVE-2023-44487). Default 20, h2's own default, pinned here.
    pub fn max_pending_accept_reset_streams(mut self, max: usize) -> Self {
        self.max_pending_accept_reset_streams = max;
        self
    }

    /// The largest header list (request headers and metadata, as HTTP/2 counts them) the server
    /// accepts, announced as `SETTINGS_MAX_HEADER_LIST_SIZE`. h2 answers a request over it with
    /// HTTP 431 and no gRPC status (tonic's client reports `UNKNOWN`), before any handler or
    /// authorization runs. Default 16 KiB, which leaves room for the 8 KiB `authorization`
    /// value mcp-auth accepts.
    pub fn max_header_list_size(mut self, max: u32) -> Self {
        self.max_header_list_size = max;
        self
    }

    /// The largest inbound message, in bytes, for every service on the server
    /// ([`MessageSizeLimitLayer`]). A larger message ends its call with `RESOURCE_EXHAUSTED`
    /// before it is buffered or reaches the handler; the messages before it on a stream are
    /// delivered. Each generated server's own `max_decoding_message_size` (4 MiB unless set)
    /// still applies below it, with tonic's `OUT_OF_RANGE`. Default 4 MiB.
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// Sends an HTTP/2 PING every `interval` and closes the connection if one goes unanswered for
    /// `timeout`. Default every 60 s, 20 s to answer.
    pub fn http2_keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.http2_keepalive_interval = interval;
        self.http2_keepalive_timeout = timeout;
        self
    }

    /// Turns on TCP keepalive on accepted sockets: the kernel probes a connection idle for
    /// `idle`, every `interval`, and drops it after `retries` unanswered probes. Default 60 s,
    /// 15 s, 4.
    ///
    /// tonic applies it on `serve` and `serve_with_shutdown`; `serve_with_incoming` ignores it,
    /// so bind with [`bind`](Self::bind) when you pass your own listener.
    pub fn tcp_keepalive(mut self, idle: Duration, interval: Duration, retries: u32) -> Self {
        self.tcp_keepalive = TcpKeepalive {
            idle,
            interval,
            retries,
        };
        self
    }

    /// How long a call may take to produce its response before the server cancels it. The
    /// handler's future is dropped and the caller receives tonic's `CANCELLED` ("Timeout
    /// expired"); a shorter `grpc-timeout` sent by the caller wins. For streaming responses this
    /// bounds the time to the first response headers, not the stream. Default 60 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a connection may live before the server sends a graceful GOAWAY: no new calls
    /// are accepted on it, calls in flight finish, and clients reconnect (with a new TLS
    /// handshake, so a rotated or revoked client certificate stops being used). `None` lets
    /// connections live for ever. Default 1 hour.
    pub fn max_connection_age(mut self, age: Option<Duration>) -> Self {
        self.max_connection_age = age;
        self
    }

    /// How long calls still in flight at [`max_connection_age`](Self::max_connection_age) may
    /// continue before the connection is closed under them. `None` (the default) lets them
    /// finish, since mcp-auth re-checks long streams itself.
    pub fn max_connection_age_grace(mut self, grace: Option<Duration>) -> Self {
        self.max_connection_age_grace = grace;
        self
    }

    /// The configured tonic [`Server`], with [`CatchPanicLayer`] and [`MessageSizeLimitLayer`]
    /// around every service.
    pub fn build(self) -> Server<HardenedLayers> {
        let mut server = Server::builder()
            .accept_http1(false)
            .max_concurrent_streams(self.max_concurrent_streams)
            .http2_max_local_error_reset_streams(Some(self.max_local_error_reset_streams))
            .http2_max_pending_accept_reset_streams(Some(self.max_pending_accept_reset_streams))
            .http2_max_header_list_size(self.max_header_list_size)
            .http2_keepalive_interval(Some(self.http2_keepalive_interval))
            .http2_keepalive_timeout(Some(self.http2_keepalive_timeout))
            .tcp_nodelay(true)
            .tcp_keepalive(Some(self.tcp_keepalive.idle))
            .tcp_keepalive_interval(Some(self.tcp_keepalive.interval))
            .tcp_keepalive_retries(Some(self.tcp_keepalive.retries))
            .timeout(self.request_timeout);
        if let Some(age) = self.max_connection_age {
            server = server.max_connection_age(age);
        }
        if let Some(grace) = self.max_connection_age_grace {
            server = server.max_connection_age_grace(grace);
        }
        server
            .layer(CatchPanicLayer::new())
            .layer(MessageSizeLimitLayer::new(self.max_message_size))
    }

    /// Binds a listener whose accepted sockets get this builder's TCP settings (keepalive,
    /// `TCP_NODELAY`), for `serve_with_incoming`. Bind port 0 and read the port with
    /// [`TcpIncoming::local_addr`]. Call it inside a tokio runtime.
    pub fn bind(&self, addr: SocketAddr) -> std::io::Result<TcpIncoming> {
        Ok(TcpIncoming::bind(addr)?
            .with_nodelay(Some(true))
            .with_keepalive(Some(self.tcp_keepalive.idle))
            .with_keepalive_interval(Some(self.tcp_keepalive.interval))
            .with_keepalive_retries(Some(self.tcp_keepalive.retries)))
    }
}
