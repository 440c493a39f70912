//! End to end: generated services on a real tonic server on 127.0.0.1:0, called by the
//! generated tonic clients with real HS256 tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth::Authorizer;
use mcp_auth::clock::ManualClock;
use mcp_auth_tests::fixtures::{echo, public, streaming};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

use mcp_auth_tests::support::{
    Calls, Handlers, NOW, connect, loopback, serve, test_authenticator, token, with_token,
};

struct Harness {
    channel: Channel,
    calls: Arc<Calls>,
    clock: ManualClock,
}

/// Which server serves the generated adapters.
#[derive(Clone, Copy)]
enum Served {
    /// mcp-auth's generated servers, as `server()` returns them.
    ByMcpAuth,
    /// tonic's generated servers around the same adapters.
    ByTonic,
}

async fn start() -> Harness {
    start_served(Served::ByMcpAuth).await
}

async fn start_served(served: Served) -> Harness {
    let clock = ManualClock::new(NOW);
    let authenticator = test_authenticator();
    let authorizer = Authorizer::with_clock(authenticator, clock.clone());
    let calls = Arc::new(Calls::default());
    let handlers = Handlers(Arc::clone(&calls));
    let router = match served {
        Served::ByMcpAuth => Server::builder()
            .add_service(echo::echo_auth::server(
                handlers.clone(),
                authorizer.clone(),
            ))
            .add_service(streaming::streams_auth::server(
                handlers.clone(),
                authorizer.clone(),
            ))
            .add_service(public::status_auth::server(handlers, authorizer)),
        Served::ByTonic => Server::builder()
            .add_service(echo::echo_server::EchoServer::new(
                echo::echo_auth::AuthorizedEcho::new(handlers.clone(), authorizer.clone()),
            ))
            .add_service(streaming::streams_server::StreamsServer::new(
                streaming::streams_auth::AuthorizedStreams::new(
                    handlers.clone(),
                    authorizer.clone(),
                ),
            ))
            .add_service(public::status_server::StatusServer::new(
                public::status_auth::AuthorizedStatus::new(handlers, authorizer),
            )),
    };
    let channel = serve(router).await;
    Harness {
        channel,
        calls,
        clock,
    }
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
    unary_calls_are_checked(start().await).await;
}

/// The adapter implements tonic's server trait too: served by tonic's own generated server,
/// every call is checked the same way.
#[tokio::test]
async fn the_adapters_behind_tonics_servers_check_every_call_too() {
    unary_calls_are_checked(start_served(Served::ByTonic).await).await;
    public_rpcs_are_public_alone(start_served(Served::ByTonic).await).await;
    streams_are_checked_at_open(start_served(Served::ByTonic).await).await;
}

async fn unary_calls_are_checked(h: Harness) {
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
    public_rpcs_are_public_alone(start().await).await;
}

async fn public_rpcs_are_public_alone(h: Harness) {
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
    streams_are_checked_at_open(start().await).await;
}

async fn streams_are_checked_at_open(h: Harness) {
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
    let authenticator = test_authenticator();
    let authorizer = Authorizer::with_clock(authenticator, ManualClock::new(NOW));
    let (incoming, addr) = loopback().await;
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
    tokio::spawn(router.serve_with_incoming(incoming));
    let channel = connect(addr).await;

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

/// What mcp-auth's generated server keeps of tonic's generated one, beside the checks: a
/// method the service does not have is UNIMPLEMENTED, and its settings (compression both
/// ways, the largest message encoded) apply to the calls it checks.
#[tokio::test]
async fn the_generated_server_keeps_tonics_answers_and_settings() {
    use tonic::codec::CompressionEncoding::Gzip;
    use tonic::codegen::http::uri::PathAndQuery;
    use tonic_prost::ProstCodec;

    let calls = Arc::new(Calls::default());
    let authorizer = Authorizer::with_clock(test_authenticator(), ManualClock::new(NOW));
    let server = streaming::streams_auth::server(Handlers(Arc::clone(&calls)), authorizer);
    let item = |name: &str| streaming::Item {
        name: name.into(),
        size: None,
    };
    let read = token("items:read", 600);

    // A path of the service that is not one of its methods.
    let channel = serve(Server::builder().add_service(server.clone())).await;
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, streaming::Item, _>(
            with_token(item("missing"), &read),
            PathAndQuery::from_static("/fixtures.streaming.Streams/Missing"),
            ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    // Compression is off unless the server turns it on, as in tonic.
    let mut client = streaming::streams_client::StreamsClient::new(channel)
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    let status = client
        .unary(with_token(item("gzip"), &read))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(calls.unary.load(Ordering::SeqCst), 0);

    let channel = serve(
        Server::builder().add_service(
            server
                .clone()
                .accept_compressed(Gzip)
                .send_compressed(Gzip)
                .max_encoding_message_size(64),
        ),
    )
    .await;
    let mut client = streaming::streams_client::StreamsClient::new(channel)
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    let reply = client.unary(with_token(item("gzip"), &read)).await.unwrap();
    assert_eq!(
        reply
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip"),
        "the reply is compressed"
    );
    assert_eq!(reply.into_inner().name, "gzip");
    // The check still comes first.
    let status = client.unary(item("no token")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // A reply over the encoding limit, compressed: 1,000 pseudo-random letters.
    let mut state = 1u32;
    let noise: String = (0..1_000)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            char::from(b'a' + (state >> 24) as u8 % 26)
        })
        .collect();
    let status = client
        .unary(with_token(item(&noise), &read))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(calls.unary.load(Ordering::SeqCst), 2);
}

/// The generated server checks the caller on the call's head, as a tonic interceptor does: a
/// caller it refuses cannot make it decode a message, however large or malformed; an admitted
/// caller's message is decoded and limited as tonic does.
#[tokio::test]
async fn a_refused_caller_s_message_is_never_decoded() {
    use std::sync::Mutex;
    use tonic::codegen::http::uri::PathAndQuery;
    use tonic_prost::ProstCodec;

    let calls = Arc::new(Calls::default());
    let decisions = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&decisions);
    let authorizer = Authorizer::builder()
        .token(test_authenticator())
        .clock(ManualClock::new(NOW))
        .audit_sink(move |event: &mcp_auth::AuditEvent<'_>| {
            sink.lock()
                .unwrap()
                .push(event.decision.as_str().to_owned());
        })
        .build()
        .unwrap();
    let server = streaming::streams_auth::server(Handlers(Arc::clone(&calls)), authorizer)
        .max_decoding_message_size(1024);
    let channel = serve(Server::builder().add_service(server)).await;
    let mut client = streaming::streams_client::StreamsClient::new(channel.clone());
    let large = streaming::Item {
        name: "x".repeat(4096),
        size: None,
    };
    let read = token("items:read", 600);

    // Over the decoding limit: refused for who the caller is, not for the message.
    let status = client.unary(large.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .unary(with_token(large.clone(), &token("items:write", 600)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client.watch(large.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // An admitted caller's message is decoded, and tonic's limit applies to it.
    let status = client.unary(with_token(large, &read)).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    // Not an `Item`: field 1 is a varint where `Item` has a string.
    let malformed = prost_types::Duration {
        seconds: 7,
        nanos: 0,
    };
    let mut grpc = tonic::client::Grpc::new(channel);
    let mut send = async |request: Request<prost_types::Duration>| {
        grpc.ready().await.unwrap();
        grpc.unary::<_, streaming::Item, _>(
            request,
            PathAndQuery::from_static("/fixtures.streaming.Streams/Unary"),
            ProstCodec::default(),
        )
        .await
        .unwrap_err()
    };
    let status = send(Request::new(malformed)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = send(with_token(malformed, &read)).await;
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(calls.unary.load(Ordering::SeqCst), 0);
    assert_eq!(calls.watch.load(Ordering::SeqCst), 0);
    // The decision is made on the head: the two admitted callers whose message then failed to
    // decode have their allow event, and no handler ran.
    assert_eq!(
        *decisions.lock().unwrap(),
        ["deny", "deny", "deny", "allow", "deny", "allow"]
    );
}

/// A caller over its call rate limit is refused on the head too: its message is not decoded,
/// and it learns it is limited (not that its message is too large).
#[tokio::test]
async fn a_rate_limited_caller_s_message_is_never_decoded() {
    let calls = Arc::new(Calls::default());
    let authorizer = Authorizer::builder()
        .token(test_authenticator())
        .clock(ManualClock::new(NOW))
        .default_rate_limit(mcp_auth::rate_limit::RateLimit::new(1, 1))
        .build()
        .unwrap();
    let server = streaming::streams_auth::server(Handlers(Arc::clone(&calls)), authorizer)
        .max_decoding_message_size(1024);
    let channel = serve(Server::builder().add_service(server)).await;
    let mut client = streaming::streams_client::StreamsClient::new(channel);
    let read = token("items:read", 600);
    let small = streaming::Item {
        name: "x".into(),
        size: None,
    };
    client.unary(with_token(small, &read)).await.unwrap();
    let large = streaming::Item {
        name: "x".repeat(4096),
        size: None,
    };
    let status = client.unary(with_token(large, &read)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(calls.unary.load(Ordering::SeqCst), 1);
}

/// gRPC clients never send request trailers; tonic would merge them into a unary call's metadata
/// after the decode, over the headers the caller was checked on. The generated server refuses a
/// request that carries them, whatever they hold, and the handler never runs.
#[tokio::test]
async fn request_trailers_are_refused() {
    use prost::Message as _;

    let calls = Arc::new(Calls::default());
    let authorizer = Authorizer::with_clock(test_authenticator(), ManualClock::new(NOW));
    let server = streaming::streams_auth::server(Handlers(Arc::clone(&calls)), authorizer);
    let (incoming, addr) = loopback().await;
    tokio::spawn(
        Server::builder()
            .add_service(server)
            .serve_with_incoming(incoming),
    );
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let read = token("items:read", 600);
    let message = streaming::Item {
        name: "with trailers".into(),
        size: None,
    }
    .encode_to_vec();
    let mut frame = vec![0];
    frame.extend(u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend(message);

    // The grpc-status of one call to `method` with `token`: `frames` copies of the message,
    // then `trailers` (none: a plain call).
    let call = |method: &str,
                token: &str,
                frames: usize,
                trailers: Option<tonic::codegen::http::HeaderMap>| {
        let client = client.clone();
        let body = bytes::Bytes::from(frame.repeat(frames));
        let request = tonic::codegen::http::Request::post(format!(
            "http://{addr}/fixtures.streaming.Streams/{method}"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
        async move {
            let mut client = client.ready().await.unwrap();
            let (response, mut send) = client.send_request(request, false).unwrap();
            match trailers {
                Some(trailers) => {
                    send.send_data(body, false).unwrap();
                    send.send_trailers(trailers).unwrap();
                }
                None => send.send_data(body, true).unwrap(),
            }
            let response = response.await.unwrap();
            if let Some(status) = response.headers().get("grpc-status") {
                return status.to_str().unwrap().to_owned();
            }
            let mut body = response.into_body();
            while let Some(data) = body.data().await {
                let data = data.unwrap();
                body.flow_control().release_capacity(data.len()).unwrap();
            }
            let trailers = body.trailers().await.unwrap().expect("grpc trailers");
            trailers["grpc-status"].to_str().unwrap().to_owned()
        }
    };

    assert_eq!(
        call("Unary", &read, 1, None).await,
        "0",
        "the same call without trailers succeeds"
    );
    assert_eq!(calls.unary.load(Ordering::SeqCst), 1);
    for (name, value) in [
        ("authorization", format!("Bearer {read}")),
        ("mcp_tool", "anything".to_owned()),
        ("x-harmless", "1".to_owned()),
    ] {
        let mut trailers = tonic::codegen::http::HeaderMap::new();
        trailers.insert(name, value.parse().unwrap());
        assert_eq!(
            call("Unary", &read, 1, Some(trailers)).await,
            (Code::InvalidArgument as i32).to_string(),
            "a `{name}` trailer"
        );
    }
    assert_eq!(calls.unary.load(Ordering::SeqCst), 1);

    // On a client stream the trailers end the stream where they arrive: the messages before
    // them reach the handler, then the stream fails and so does the call.
    let write = token("items:write", 600);
    let mut trailers = tonic::codegen::http::HeaderMap::new();
    trailers.insert("authorization", format!("Bearer {write}").parse().unwrap());
    assert_eq!(
        call("Upload", &write, 3, Some(trailers)).await,
        (Code::InvalidArgument as i32).to_string(),
    );
    assert_eq!(calls.upload_messages.load(Ordering::SeqCst), 3);
    assert_eq!(call("Upload", &write, 2, None).await, "0");
    assert_eq!(calls.upload_messages.load(Ordering::SeqCst), 5);
}
