//! Handlers and token helpers shared by the end-to-end tests.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::{Authorized, Public, StandardClaims};
use tokio_stream::{Stream, StreamExt};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::fixtures::{echo, public, streaming};

/// The HS256 secret of the test issuer.
pub const SECRET: &[u8] = b"e2e test secret, at least 32 bytes long";
/// The test issuer.
pub const ISSUER: &str = "https://issuer.test";
/// The audience of the test servers.
pub const AUDIENCE: &str = "mcp-tests";
/// The time the tests' manual clocks start at.
pub const NOW: u64 = 1_900_000_000;

type C = StandardClaims;

/// How often each handler ran (or saw a message).
#[derive(Debug, Default)]
pub struct Calls {
    pub say: AtomicUsize,
    pub who_am_i: AtomicUsize,
    pub ping: AtomicUsize,
    pub reset: AtomicUsize,
    pub upload_messages: AtomicUsize,
    pub streams_opened: AtomicUsize,
    pub unary: AtomicUsize,
    pub watch: AtomicUsize,
}

/// Handlers of the echo, streaming and public fixtures that count their calls.
#[derive(Debug, Clone)]
pub struct Handlers(pub Arc<Calls>);

#[mcp_auth::handlers]
impl echo::echo_auth::Echo for Handlers {
    async fn say(
        &self,
        _auth: Authorized<C, echo::echo_auth::policy::Say>,
        request: Request<echo::SayRequest>,
    ) -> Result<Response<echo::SayResponse>, Status> {
        self.0.say.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(echo::SayResponse {
            message: request.into_inner().message,
        }))
    }

    async fn shout(
        &self,
        _auth: Authorized<C, echo::echo_auth::policy::Shout>,
        request: Request<echo::SayRequest>,
    ) -> Result<Response<echo::SayResponse>, Status> {
        Ok(Response::new(echo::SayResponse {
            message: request.into_inner().message.to_uppercase(),
        }))
    }

    async fn who_am_i(
        &self,
        auth: Authorized<C, echo::echo_auth::policy::WhoAmI>,
        _request: Request<echo::WhoAmIRequest>,
    ) -> Result<Response<echo::WhoAmIResponse>, Status> {
        self.0.who_am_i.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(echo::WhoAmIResponse {
            subject: auth.subject().to_owned(),
        }))
    }
}

pub type ItemStream = Pin<Box<dyn Stream<Item = Result<streaming::Item, Status>> + Send>>;

#[mcp_auth::handlers]
impl streaming::streams_auth::Streams for Handlers {
    type WatchStream = ItemStream;
    type ChatStream = ItemStream;

    async fn unary(
        &self,
        _auth: Authorized<C, streaming::streams_auth::policy::Unary>,
        request: Request<streaming::Item>,
    ) -> Result<Response<streaming::Item>, Status> {
        self.0.unary.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(request.into_inner()))
    }

    async fn watch(
        &self,
        _auth: Authorized<C, streaming::streams_auth::policy::Watch>,
        request: Request<streaming::Item>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.0.watch.fetch_add(1, Ordering::SeqCst);
        let item = request.into_inner();
        // `forever` sends one item and then keeps the stream open without sending more.
        let forever = item.name == "forever";
        let count = if forever { 1 } else { 3 };
        let items = (0..count).map(move |i| {
            Ok(streaming::Item {
                name: format!("{}-{i}", item.name),
                size: Some(i),
            })
        });
        let items = tokio_stream::iter(items);
        if forever {
            Ok(Response::new(Box::pin(
                items.chain(tokio_stream::pending()),
            )))
        } else {
            Ok(Response::new(Box::pin(items)))
        }
    }

    async fn upload(
        &self,
        _auth: Authorized<C, streaming::streams_auth::policy::Upload>,
        request: Request<mcp_auth::GuardedStream<streaming::Item>>,
    ) -> Result<Response<streaming::Summary>, Status> {
        self.0.streams_opened.fetch_add(1, Ordering::SeqCst);
        let mut stream = request.into_inner();
        let mut count = 0;
        while let Some(_item) = stream.message().await? {
            self.0.upload_messages.fetch_add(1, Ordering::SeqCst);
            count += 1;
        }
        Ok(Response::new(streaming::Summary { count }))
    }

    async fn chat(
        &self,
        _auth: Authorized<C, streaming::streams_auth::policy::Chat>,
        request: Request<mcp_auth::GuardedStream<streaming::Item>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        self.0.streams_opened.fetch_add(1, Ordering::SeqCst);
        let stream = request.into_inner();
        Ok(Response::new(Box::pin(stream)))
    }
}

pub type PingStream = Pin<Box<dyn Stream<Item = Result<public::PingResponse, Status>> + Send>>;

#[mcp_auth::handlers]
impl public::status_auth::Status for Handlers {
    type TailStream = PingStream;

    async fn ping(
        &self,
        _public: Public<public::status_auth::policy::Ping>,
        _request: Request<public::PingRequest>,
    ) -> Result<Response<public::PingResponse>, Status> {
        self.0.ping.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(public::PingResponse {
            status: "ok".into(),
        }))
    }

    async fn tail(
        &self,
        _public: Public<public::status_auth::policy::Tail>,
        request: Request<mcp_auth::GuardedStream<public::PingRequest>>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let stream = request.into_inner().map(|message| {
            message.map(|_| public::PingResponse {
                status: "tail".into(),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn reset(
        &self,
        _auth: Authorized<C, public::status_auth::policy::Reset>,
        _request: Request<public::PingRequest>,
    ) -> Result<Response<public::PingResponse>, Status> {
        self.0.reset.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(public::PingResponse {
            status: "reset".into(),
        }))
    }
}

/// An HS256 token for `alice` with `scope`, expiring `expires_in` seconds after [`NOW`].
pub fn token(scope: &str, expires_in: i64) -> String {
    token_for("alice", scope, expires_in)
}

/// An HS256 token for `subject` with `scope`, expiring `expires_in` seconds after [`NOW`].
pub fn token_for(subject: &str, scope: &str, expires_in: i64) -> String {
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "scope": scope,
        "iat": NOW,
        "exp": NOW as i64 + expires_in,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// `message` with `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

/// The HS256 authenticator of the test issuer, without leeway, so expiry tests can move the
/// clock to the exact second.
pub fn test_authenticator() -> mcp_auth::jwt::JwtAuthenticator<C> {
    mcp_auth::jwt::JwtAuthenticator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(mcp_auth::jwt::JwtKey::hs256(SECRET))
        .leeway_secs(0)
        .build()
        .expect("the test authenticator is valid")
}

/// A listener on 127.0.0.1 with a free port, as a stream for `serve_with_incoming`, and its
/// address.
pub async fn loopback() -> (
    tokio_stream::wrappers::TcpListenerStream,
    std::net::SocketAddr,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    (
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        addr,
    )
}

/// Serves `router` on 127.0.0.1 with a free port, in a task of its own, and connects to it.
pub async fn serve(router: tonic::transport::server::Router) -> tonic::transport::Channel {
    let (incoming, addr) = loopback().await;
    tokio::spawn(router.serve_with_incoming(incoming));
    connect(addr).await
}

/// A plaintext channel to a test server.
pub async fn connect(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("the test server accepts connections")
}

/// A JSON object as the `google.protobuf.Struct` MCP clients send tool arguments in.
///
/// # Panics
///
/// When `json` is not an object.
pub fn to_struct(json: serde_json::Value) -> prost_types::Struct {
    assert!(
        json.is_object(),
        "tool arguments are a JSON object, not {json}"
    );
    mcp_auth::arguments::struct_from_json(json).unwrap_or_default()
}

/// What the `Limited` handlers counted.
#[derive(Debug, Default)]
pub struct Limited {
    /// `Ping` calls that reached the handler.
    pub pings: AtomicUsize,
    /// `Feed` messages that reached the handler.
    pub fed: AtomicUsize,
}

/// The handlers of the `limits` fixture: they count what reaches them.
#[derive(Debug)]
pub struct LimitedHandlers(pub Arc<Limited>);

#[mcp_auth::handlers]
impl crate::fixtures::limits::limited_auth::Limited for LimitedHandlers {
    async fn ping(
        &self,
        _auth: Authorized<C, crate::fixtures::limits::limited_auth::policy::Ping>,
        request: Request<crate::fixtures::limits::Tick>,
    ) -> Result<Response<crate::fixtures::limits::Tick>, Status> {
        self.0.pings.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(request.into_inner()))
    }

    async fn feed(
        &self,
        _auth: Authorized<C, crate::fixtures::limits::limited_auth::policy::Feed>,
        request: Request<mcp_auth::GuardedStream<crate::fixtures::limits::Tick>>,
    ) -> Result<Response<crate::fixtures::limits::Count>, Status> {
        let mut stream = request.into_inner();
        let mut count = 0;
        while stream.message().await?.is_some() {
            self.0.fed.fetch_add(1, Ordering::SeqCst);
            count += 1;
        }
        Ok(Response::new(crate::fixtures::limits::Count { count }))
    }

    async fn firehose(
        &self,
        _auth: Authorized<C, crate::fixtures::limits::limited_auth::policy::Firehose>,
        request: Request<mcp_auth::GuardedStream<crate::fixtures::limits::Tick>>,
    ) -> Result<Response<crate::fixtures::limits::Count>, Status> {
        let mut stream = request.into_inner();
        let mut count = 0;
        while stream.message().await?.is_some() {
            count += 1;
        }
        Ok(Response::new(crate::fixtures::limits::Count { count }))
    }
}
