//! End to end: generated services on a real tonic server on 127.0.0.1:0, called by the
//! generated tonic clients with real HS256 tokens.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::clock::ManualClock;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::{Authorized, Authorizer, Public, StandardClaims};
use mcp_auth_tests::fixtures::{echo, public, streaming};
use tokio_stream::{Stream, StreamExt};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

const SECRET: &[u8] = b"e2e test secret, at least 32 bytes long";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "mcp-tests";
const NOW: u64 = 1_900_000_000;

#[derive(Default)]
struct Calls {
    say: AtomicUsize,
    who_am_i: AtomicUsize,
    ping: AtomicUsize,
    reset: AtomicUsize,
    upload_messages: AtomicUsize,
    streams_opened: AtomicUsize,
}

#[derive(Clone)]
struct Handlers(Arc<Calls>);

type C = StandardClaims;

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

type ItemStream = Pin<Box<dyn Stream<Item = Result<streaming::Item, Status>> + Send>>;

#[mcp_auth::handlers]
impl streaming::streams_auth::Streams for Handlers {
    type WatchStream = ItemStream;
    type ChatStream = ItemStream;

    async fn unary(
        &self,
        _auth: Authorized<C, streaming::streams_auth::policy::Unary>,
        request: Request<streaming::Item>,
    ) -> Result<Response<streaming::Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn watch(
        &self,
        _auth: Authorized<C, streaming::streams_auth::policy::Watch>,
        request: Request<streaming::Item>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let item = request.into_inner();
        let items = (0..3).map(move |i| {
            Ok(streaming::Item {
                name: format!("{}-{i}", item.name),
                size: Some(i),
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
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

type PingStream = Pin<Box<dyn Stream<Item = Result<public::PingResponse, Status>> + Send>>;

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

struct Harness {
    channel: Channel,
    calls: Arc<Calls>,
    clock: ManualClock,
}

async fn start() -> Harness {
    let clock = ManualClock::new(NOW);
    let authenticator = JwtAuthenticator::<C>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .leeway_secs(0)
        .build()
        .unwrap();
    let authorizer = Authorizer::with_clock(authenticator, clock.clone());
    let calls = Arc::new(Calls::default());
    let handlers = Handlers(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder()
        .add_service(echo::echo_auth::server(
            handlers.clone(),
            authorizer.clone(),
        ))
        .add_service(streaming::streams_auth::server(
            handlers.clone(),
            authorizer.clone(),
        ))
        .add_service(public::status_auth::server(handlers, authorizer));
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Harness {
        channel,
        calls,
        clock,
    }
}

fn token(scope: &str, expires_in: i64) -> String {
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
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

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

fn challenge(status: &Status) -> &str {
    status
        .metadata()
        .get("www-authenticate")
        .expect("a www-authenticate challenge")
        .to_str()
        .unwrap()
}

fn say() -> echo::SayRequest {
    echo::SayRequest {
        message: "hi".into(),
    }
}

#[tokio::test]
async fn unary_calls_are_checked_before_the_handler_runs() {
    let h = start().await;
    let mut client = echo::echo_client::EchoClient::new(h.channel.clone());

    let status = client.say(say()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing credentials");
    assert_eq!(challenge(&status), "Bearer");

    let status = client
        .say(with_token(say(), &token("echo:loud", 600)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        challenge(&status),
        r#"Bearer error="insufficient_scope", scope="echo:say""#
    );

    let status = client
        .say(with_token(say(), "not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(challenge(&status), r#"Bearer error="invalid_token""#);

    let status = client
        .say(with_token(say(), &token("echo:say", -1)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(h.calls.say.load(Ordering::SeqCst), 0, "a denied call ran");

    let response = client
        .say(with_token(say(), &token("tools:list echo:say", 600)))
        .await
        .unwrap();
    assert_eq!(response.into_inner().message, "hi");
    assert_eq!(h.calls.say.load(Ordering::SeqCst), 1);

    // Two scopes are both required.
    let status = client
        .shout(with_token(say(), &token("echo:say", 600)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        challenge(&status),
        r#"Bearer error="insufficient_scope", scope="echo:say echo:loud""#
    );
    let shout = client
        .shout(with_token(say(), &token("echo:loud echo:say", 600)))
        .await
        .unwrap();
    assert_eq!(shout.into_inner().message, "HI");

    // `authenticated: true` needs a valid token but no scope.
    let status = client.who_am_i(echo::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(h.calls.who_am_i.load(Ordering::SeqCst), 0);
    let me = client
        .who_am_i(with_token(echo::WhoAmIRequest {}, &token("", 600)))
        .await
        .unwrap();
    assert_eq!(me.into_inner().subject, "alice");
}

#[tokio::test]
async fn public_rpcs_need_no_token_and_their_neighbours_still_do() {
    let h = start().await;
    let mut client = public::status_client::StatusClient::new(h.channel.clone());

    let pong = client.ping(public::PingRequest {}).await.unwrap();
    assert_eq!(pong.into_inner().status, "ok");
    assert_eq!(h.calls.ping.load(Ordering::SeqCst), 1);

    let tail = client
        .tail(tokio_stream::iter(vec![public::PingRequest {}; 2]))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(tail.len(), 2);

    let status = client.reset(public::PingRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .reset(with_token(
            public::PingRequest {},
            &token("status:read", 600),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(h.calls.reset.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn every_streaming_kind_is_checked_at_open() {
    let h = start().await;
    let mut client = streaming::streams_client::StreamsClient::new(h.channel.clone());
    let item = || streaming::Item {
        name: "a".into(),
        size: None,
    };

    let status = client.watch(item()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let watched = client
        .watch(with_token(item(), &token("items:read", 600)))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(watched.len(), 3);

    let status = client
        .upload(with_token(
            tokio_stream::iter(vec![item()]),
            &token("items:read", 600),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = client
        .chat(tokio_stream::iter(vec![item()]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(h.calls.streams_opened.load(Ordering::SeqCst), 0);

    let summary = client
        .upload(with_token(
            tokio_stream::iter(vec![item(), item()]),
            &token("items:write", 600),
        ))
        .await
        .unwrap();
    assert_eq!(summary.into_inner().count, 2);
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires_between_two_messages() {
    let h = start().await;
    let mut client = streaming::streams_client::StreamsClient::new(h.channel.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let item = |name: &str| streaming::Item {
        name: name.into(),
        size: None,
    };
    let upload = tokio::spawn(async move {
        client
            .upload(with_token(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                &token("items:write", 30),
            ))
            .await
    });
    tx.send(item("before")).await.unwrap();
    while h.calls.upload_messages.load(Ordering::SeqCst) < 1 {
        tokio::task::yield_now().await;
    }
    h.clock.advance(30);
    tx.send(item("after")).await.unwrap();
    let status = upload.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.message(),
        "token expired; reconnect with fresh credentials"
    );
    assert_eq!(
        h.calls.upload_messages.load(Ordering::SeqCst),
        1,
        "the message after expiry reached the handler"
    );
}

#[tokio::test]
async fn unchecked_expiry_keeps_a_stream_open_past_exp() {
    let h = start().await;
    let mut client = streaming::streams_client::StreamsClient::new(h.channel.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = client
        .chat(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &token("items:write", 30),
        ))
        .await
        .unwrap()
        .into_inner();
    let item = |name: &str| streaming::Item {
        name: name.into(),
        size: None,
    };
    tx.send(item("one")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().name, "one");
    h.clock.advance(3_600);
    tx.send(item("two")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().name, "two");
}

/// A service mounted with its plain tonic server, bypassing mcp-auth.
struct Unchecked(Arc<AtomicUsize>);

#[tonic::async_trait]
impl echo::echo_server::Echo for Unchecked {
    async fn say(
        &self,
        request: Request<echo::SayRequest>,
    ) -> Result<Response<echo::SayResponse>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(echo::SayResponse {
            message: request.into_inner().message,
        }))
    }

    async fn shout(
        &self,
        request: Request<echo::SayRequest>,
    ) -> Result<Response<echo::SayResponse>, Status> {
        self.say(request).await
    }

    async fn who_am_i(
        &self,
        _request: Request<echo::WhoAmIRequest>,
    ) -> Result<Response<echo::WhoAmIResponse>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(echo::WhoAmIResponse::default()))
    }
}

#[tokio::test]
async fn the_coverage_layer_refuses_services_mounted_without_mcp_auth() {
    let unchecked_calls = Arc::new(AtomicUsize::new(0));
    let authenticator = JwtAuthenticator::<C>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .build()
        .unwrap();
    let authorizer = Authorizer::with_clock(authenticator, ManualClock::new(NOW));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder()
        .layer(mcp_auth::coverage::CoverageLayer::new([
            &streaming::streams_auth::POLICY,
        ]))
        .add_service(streaming::streams_auth::server(
            Handlers(Arc::new(Calls::default())),
            authorizer,
        ))
        .add_service(echo::echo_server::EchoServer::new(Unchecked(Arc::clone(
            &unchecked_calls,
        ))));
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut echo = echo::echo_client::EchoClient::new(channel.clone());
    let status = echo
        .say(with_token(say(), &token("echo:say", 600)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let status = echo.who_am_i(echo::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(unchecked_calls.load(Ordering::SeqCst), 0);

    let mut streams = streaming::streams_client::StreamsClient::new(channel);
    let item = streaming::Item {
        name: "covered".into(),
        size: None,
    };
    let reply = streams
        .unary(with_token(item, &token("items:read", 600)))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().name, "covered");
}
