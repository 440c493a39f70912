//! Long-lived streams and floods: a stream ends at its token's expiry even while idle, a
//! server stream stops there too, and rate limits per caller hold across streams and
//! connections, with the retry delay in the status.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mcp_auth::clock::ManualClock;
use mcp_auth::rate_limit::RateLimit;
use mcp_auth::{Authorizer, AuthorizerBuilder, StandardClaims};
use mcp_auth_tests::fixtures::limits::{self, limited_auth};
use mcp_auth_tests::fixtures::streaming;
use mcp_auth_tests::support::{
    AUDIENCE, Calls, Handlers, ISSUER, Limited, LimitedHandlers, NOW, SECRET, connect, loopback,
    test_authenticator, token, with_token,
};
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_types::StatusExt;

type C = StandardClaims;

struct Harness {
    addr: std::net::SocketAddr,
    clock: ManualClock,
    calls: Arc<Calls>,
    limited: Arc<Limited>,
}

async fn start(configure: impl FnOnce(AuthorizerBuilder<C>) -> AuthorizerBuilder<C>) -> Harness {
    let clock = ManualClock::new(NOW);
    let authenticator = test_authenticator();
    let authorizer = configure(
        Authorizer::builder()
            .token(authenticator)
            .clock(clock.clone()),
    )
    .build()
    .unwrap();
    let calls = Arc::new(Calls::default());
    let limited = Arc::new(Limited::default());
    let (incoming, addr) = loopback().await;
    tokio::spawn(
        Server::builder()
            .add_service(streaming::streams_auth::server(
                Handlers(Arc::clone(&calls)),
                authorizer.clone(),
            ))
            .add_service(limited_auth::server(
                LimitedHandlers(Arc::clone(&limited)),
                authorizer,
            ))
            .serve_with_incoming(incoming),
    );
    Harness {
        addr,
        clock,
        calls,
        limited,
    }
}

impl Harness {
    async fn channel(&self) -> Channel {
        connect(self.addr).await
    }
}

fn token_for(subject: &str, scope: &str) -> String {
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "scope": scope, "exp": NOW + 600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn item(name: &str) -> streaming::Item {
    streaming::Item {
        name: name.into(),
        size: None,
    }
}

#[tokio::test]
async fn an_idle_stream_ends_at_expiry_without_another_message() {
    let h = start(|b| b).await;
    let mut client = streaming::streams_client::StreamsClient::new(h.channel().await);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let upload = tokio::spawn(async move {
        client
            .upload(with_token(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                &token("items:write", 30),
            ))
            .await
    });
    tx.send(item("only")).await.unwrap();
    while h.calls.upload_messages.load(Ordering::SeqCst) < 1 {
        tokio::task::yield_now().await;
    }
    // The client keeps the stream open and sends nothing more.
    h.clock.advance(30);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), upload)
        .await
        .expect("the idle stream was not ended at expiry")
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.message(),
        "token expired; reconnect with fresh credentials"
    );
    drop(tx);
}

#[tokio::test]
async fn a_server_stream_stops_at_expiry() {
    let h = start(|b| b).await;
    let mut client = streaming::streams_client::StreamsClient::new(h.channel().await);
    let mut watch = client
        .watch(with_token(item("forever"), &token("items:read", 30)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().name, "forever-0");
    h.clock.advance(30);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), watch.message())
        .await
        .expect("the server stream was not ended at expiry")
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn calls_over_the_proto_limit_get_resource_exhausted_with_a_retry_delay() {
    let h = start(|b| b).await;
    let alice = token_for("alice", "");
    let mut client = limits::limited_client::LimitedClient::new(h.channel().await);
    for n in 0..3 {
        client
            .ping(with_token(limits::Tick { n }, &alice))
            .await
            .unwrap();
    }
    let status = client
        .ping(with_token(limits::Tick { n: 3 }, &alice))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("a RetryInfo detail");
    assert!(retry > std::time::Duration::ZERO && retry <= std::time::Duration::from_secs(1));

    // A new connection does not reset the budget; another caller has its own.
    let mut reconnected = limits::limited_client::LimitedClient::new(h.channel().await);
    let status = reconnected
        .ping(with_token(limits::Tick { n: 4 }, &alice))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    reconnected
        .ping(with_token(limits::Tick { n: 5 }, &token_for("bob", "")))
        .await
        .unwrap();
    assert_eq!(h.limited.pings.load(Ordering::SeqCst), 4);
}

async fn feed(channel: Channel, token: String, messages: u64) -> Result<u64, Status> {
    let ticks = tokio_stream::iter((0..messages).map(|n| limits::Tick { n }));
    limits::limited_client::LimitedClient::new(channel)
        .feed(with_token(ticks, &token))
        .await
        .map(|r| r.into_inner().count)
}

#[tokio::test]
async fn a_flood_on_one_stream_or_two_shares_one_message_budget() {
    let h = start(|b| b).await;
    // One stream: 2,000 messages against a burst of 5.
    let status = feed(h.channel().await, token_for("carol", ""), 2_000)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let first = h.limited.fed.load(Ordering::SeqCst);
    assert!((5..=6).contains(&first), "{first} messages passed");

    // Two parallel streams of a new caller on two connections: together within one budget.
    let dave = token_for("dave", "");
    let (a, b) = tokio::join!(
        feed(h.channel().await, dave.clone(), 1_000),
        feed(h.channel().await, dave.clone(), 1_000),
    );
    assert!(
        a.is_err() || b.is_err(),
        "the shared budget was not enforced"
    );
    let both = h.limited.fed.load(Ordering::SeqCst) - first;
    assert!(
        (5..=6).contains(&both),
        "{both} messages passed on two streams"
    );

    // The exemption is named in the proto.
    let ticks = tokio_stream::iter((0..2_000).map(|n| limits::Tick { n }));
    let count = limits::limited_client::LimitedClient::new(h.channel().await)
        .firehose(with_token(ticks, &token_for("erin", "")))
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_eq!(count, 2_000);
}

#[tokio::test]
async fn server_defaults_limit_rpcs_the_proto_leaves_open() {
    let h = start(|b| {
        b.default_rate_limit(RateLimit::new(1, 2))
            .default_message_rate_limit(RateLimit::new(1, 10))
    })
    .await;
    let mut client = streaming::streams_client::StreamsClient::new(h.channel().await);
    let frank = token_for("frank", "items:read items:write");
    for _ in 0..2 {
        client.unary(with_token(item("x"), &frank)).await.unwrap();
    }
    let status = client
        .unary(with_token(item("x"), &frank))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    let many = tokio_stream::iter((0..100).map(|_| item("y")));
    let status = client.upload(with_token(many, &frank)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let passed = h.calls.upload_messages.load(Ordering::SeqCst);
    assert!((10..=11).contains(&passed), "{passed} messages passed");

    // The same default holds on a bidirectional stream: replies stop at the budget.
    let flood = tokio_stream::iter((0..100).map(|_| item("z")));
    let mut replies = client
        .chat(with_token(flood, &token_for("grace", "items:write")))
        .await
        .unwrap()
        .into_inner();
    let mut echoed = 0;
    let status = loop {
        match replies.message().await {
            Ok(Some(_)) => echoed += 1,
            Ok(None) => panic!("the flood was not stopped"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!((10..=11).contains(&echoed), "{echoed} messages echoed");
}
