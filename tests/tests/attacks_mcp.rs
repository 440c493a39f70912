//! The attack suite, second half: with a valid token, every way a caller tries to do more than
//! it may (another RPC's scopes, another tool's, a tool no rule declares, no tool, a routing
//! header that disagrees with the body, one call or message too many, a stream that escalates
//! after a harmless first message, outlives its token, or renews it with another subject's or a
//! forged one), against each kind of RPC that calls tools (`fixtures/attack.proto`: unary,
//! server-, client- and bidirectional streaming) of a real server. Each is refused with its
//! status code, the handler never sees the refused call or message, and no piece of any token
//! shows in status messages, metadata or what mcp-auth logs. (`attacks.rs` is the first half:
//! every kind of bad bearer credential.)

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mcp_auth::clock::ManualClock;
use mcp_auth::{Authorized, Authorizer, GuardedStream, StandardClaims};
use mcp_auth_tests::fixtures::attack::{self, target_auth as auth};
use mcp_auth_tests::support::{AUDIENCE, ISSUER, NOW, SECRET, serve, test_authenticator};
use tokio_stream::StreamExt;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

type C = StandardClaims;

/// What reached the handlers: `"<rpc> <tool>"`, one entry per call or stream message.
#[derive(Clone, Default)]
struct Target(Arc<Mutex<Vec<String>>>);

impl Target {
    fn saw(&self, rpc: &str, tool: &str) {
        self.0.lock().unwrap().push(format!("{rpc} {tool}"));
    }
}

type Replies = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<attack::ToolReply, Status>> + Send + 'static>,
>;

#[mcp_auth::handlers]
impl auth::Target for Target {
    type WatchStream = Replies;
    type ChatStream = Replies;

    async fn call(
        &self,
        _auth: Authorized<C, auth::policy::Call>,
        request: Request<attack::ToolRequest>,
    ) -> Result<Response<attack::ToolReply>, Status> {
        let tool = request.into_inner().tool;
        self.saw("call", &tool);
        Ok(Response::new(attack::ToolReply { tool }))
    }

    async fn watch(
        &self,
        _auth: Authorized<C, auth::policy::Watch>,
        request: Request<attack::ToolRequest>,
    ) -> Result<Response<Replies>, Status> {
        let tool = request.into_inner().tool;
        self.saw("watch", &tool);
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(
            attack::ToolReply { tool },
        )))))
    }

    async fn upload(
        &self,
        _auth: Authorized<C, auth::policy::Upload>,
        request: Request<GuardedStream<attack::ToolRequest>>,
    ) -> Result<Response<attack::ToolReply>, Status> {
        let mut stream = request.into_inner();
        let mut last = String::new();
        while let Some(message) = stream.message().await? {
            self.saw("upload", &message.tool);
            last = message.tool;
        }
        Ok(Response::new(attack::ToolReply { tool: last }))
    }

    async fn chat(
        &self,
        _auth: Authorized<C, auth::policy::Chat>,
        request: Request<GuardedStream<attack::ToolRequest>>,
    ) -> Result<Response<Replies>, Status> {
        let target = self.clone();
        let replies = request.into_inner().map(move |message| {
            let message = message?;
            target.saw("chat", &message.tool);
            Ok(attack::ToolReply { tool: message.tool })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

/// Every field of every event mcp-auth emits, as text: its logs, for the leak check.
#[derive(Clone, Default)]
struct Logs {
    lines: Arc<Mutex<Vec<String>>>,
    next_span: Arc<AtomicU64>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with("mcp_auth")
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
        tracing::span::Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }

    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().target().to_owned());
        event.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }

    fn enter(&self, _span: &tracing::span::Id) {}

    fn exit(&self, _span: &tracing::span::Id) {}
}

struct Harness {
    client: attack::target_client::TargetClient<Channel>,
    clock: ManualClock,
    seen: Target,
    /// Every token minted, for the leak check.
    tokens: Vec<String>,
    subjects: u32,
}

impl Harness {
    async fn start() -> Self {
        let clock = ManualClock::new(NOW);
        let authorizer = Authorizer::with_clock(test_authenticator(), clock.clone());
        let seen = Target::default();
        let channel =
            serve(Server::builder().add_service(auth::server(seen.clone(), authorizer))).await;
        Self {
            client: attack::target_client::TargetClient::new(channel),
            clock,
            seen,
            tokens: Vec::new(),
            subjects: 0,
        }
    }

    /// A token of a subject no earlier case used (rate limits are per subject), valid for
    /// `expires_in` seconds from the server's clock, signed with `secret`.
    fn token_as(&mut self, subject: &str, scope: &str, expires_in: u64, secret: &[u8]) -> String {
        let claims = serde_json::json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "scope": scope,
            "iat": self.clock_now(),
            "exp": self.clock_now() + expires_in,
        });
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        self.tokens.push(token.clone());
        token
    }

    fn token(&mut self, scope: &str) -> String {
        self.subjects += 1;
        let subject = format!("attacker-{}", self.subjects);
        self.token_as(&subject, scope, 600, SECRET)
    }

    fn clock_now(&self) -> u64 {
        use mcp_auth::clock::Clock;
        self.clock.now()
    }

    fn seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.0.lock().unwrap())
    }
}

const ALL: &str = "tools:call files:read files:write";

/// A case: what it tries, the token's scopes, the tool named, extra metadata, the refusal.
type Overreach = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Code,
);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidirectional,
}

const KINDS: [Kind; 4] = [
    Kind::Unary,
    Kind::ServerStreaming,
    Kind::ClientStreaming,
    Kind::Bidirectional,
];

fn message(tool: &str) -> attack::ToolRequest {
    attack::ToolRequest {
        tool: tool.into(),
        token: String::new(),
    }
}

fn request<T>(body: T, token: &str, headers: &[(&'static str, &str)]) -> Request<T> {
    let mut request = Request::new(body);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    for (key, value) in headers {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    request
}

/// A call of `kind` with `messages` (one for unary and server streaming), between which
/// `between` runs (it may move the clock): the tools answered, or the status it ended with.
async fn call(
    h: &mut Harness,
    kind: Kind,
    token: &str,
    headers: &[(&'static str, &str)],
    messages: Vec<attack::ToolRequest>,
    between: impl Fn(usize) + Send + Sync + 'static,
) -> Result<Vec<String>, Status> {
    let mut client = h.client.clone();
    match kind {
        Kind::Unary => {
            let reply = client
                .call(request(messages[0].clone(), token, headers))
                .await?;
            Ok(vec![reply.into_inner().tool])
        }
        Kind::ServerStreaming => {
            let mut replies = client
                .watch(request(messages[0].clone(), token, headers))
                .await?
                .into_inner();
            let mut out = Vec::new();
            while let Some(reply) = replies.message().await? {
                out.push(reply.tool);
            }
            Ok(out)
        }
        Kind::ClientStreaming | Kind::Bidirectional => {
            // Messages go one at a time: the next only after the previous was answered (bidi)
            // or after a pause (client streaming), so `between` acts between them.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let outbound = tokio_stream::wrappers::ReceiverStream::new(rx);
            let between = Arc::new(between);
            let feeder = {
                let between = Arc::clone(&between);
                tokio::spawn(async move {
                    for (i, message) in messages.into_iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                            between(i);
                        }
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                })
            };
            let result = if matches!(kind, Kind::ClientStreaming) {
                client
                    .upload(request(outbound, token, headers))
                    .await
                    .map(|reply| vec![reply.into_inner().tool])
            } else {
                match client.chat(request(outbound, token, headers)).await {
                    Err(status) => Err(status),
                    Ok(replies) => {
                        let mut replies = replies.into_inner();
                        let mut out = Vec::new();
                        loop {
                            match replies.message().await {
                                Ok(Some(reply)) => out.push(reply.tool),
                                Ok(None) => break Ok(out),
                                Err(status) => break Err(status),
                            }
                        }
                    }
                }
            };
            feeder.abort();
            result
        }
    }
}

fn rpc(kind: Kind) -> &'static str {
    match kind {
        Kind::Unary => "call",
        Kind::ServerStreaming => "watch",
        Kind::ClientStreaming => "upload",
        Kind::Bidirectional => "chat",
    }
}

/// No 12-character piece of any token in `texts`.
fn assert_no_token_in(tokens: &[String], texts: &[String], what: &str) {
    for token in tokens {
        let bytes = token.as_bytes();
        for window in bytes.windows(12).step_by(6) {
            let piece = std::str::from_utf8(window).unwrap();
            for text in texts {
                assert!(
                    !text.contains(piece),
                    "a piece of a token ({piece}) shows in {what}: {text}"
                );
            }
        }
    }
}

fn metadata_texts(metadata: &MetadataMap) -> Vec<String> {
    metadata
        .iter()
        .map(|entry| match entry {
            tonic::metadata::KeyAndValueRef::Ascii(key, value) => {
                format!("{key}: {}", value.to_str().unwrap_or_default())
            }
            tonic::metadata::KeyAndValueRef::Binary(key, value) => {
                format!("{key}: {:?}", value.to_bytes())
            }
        })
        .collect()
}

/// One refusal: the code, nothing reached the handler but `seen`, nothing leaked.
fn refused(
    h: &Harness,
    case: &str,
    kind: Kind,
    outcome: Result<Vec<String>, Status>,
    code: Code,
    seen: &[&str],
) {
    let status = match outcome {
        Err(status) => status,
        Ok(answered) => panic!("{case} on {kind:?}: answered {answered:?}"),
    };
    assert_eq!(status.code(), code, "{case} on {kind:?}: {status:?}");
    let expected: Vec<String> = seen.iter().map(|t| format!("{} {t}", rpc(kind))).collect();
    assert_eq!(
        h.seen(),
        expected,
        "{case} on {kind:?}: what reached the handler"
    );
    let mut texts = vec![status.message().to_owned()];
    texts.extend(metadata_texts(status.metadata()));
    texts.push(String::from_utf8_lossy(status.details()).into_owned());
    assert_no_token_in(
        &h.tokens,
        &texts,
        &format!("the status of {case} on {kind:?}"),
    );
}

#[tokio::test]
async fn every_overreach_is_refused_on_every_kind_of_rpc() {
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    let mut h = Harness::start().await;
    let stream_kinds = [Kind::ClientStreaming, Kind::Bidirectional];
    let nothing = |_: usize| {};

    for kind in KINDS {
        // The control: a token with every scope calls `read`.
        let token = h.token(ALL);
        let answered = call(&mut h, kind, &token, &[], vec![message("read")], nothing).await;
        assert_eq!(answered.unwrap(), ["read"], "{kind:?}");
        assert_eq!(h.seen(), [format!("{} read", rpc(kind))]);

        let cases: [Overreach; 5] = [
            (
                "the RPC's scope missing",
                "files:read files:write",
                "read",
                &[],
                Code::PermissionDenied,
            ),
            (
                "the tool's scope missing",
                "tools:call files:read",
                "write",
                &[],
                Code::PermissionDenied,
            ),
            (
                "a tool no rule declares",
                ALL,
                "format_disk",
                &[],
                Code::PermissionDenied,
            ),
            ("no tool named", ALL, "", &[], Code::PermissionDenied),
            (
                "an mcp_tool header naming another tool",
                ALL,
                "read",
                &[("mcp_tool", "write")],
                Code::InvalidArgument,
            ),
        ];
        for (case, scope, tool, headers, code) in cases {
            let token = h.token(scope);
            let outcome = call(&mut h, kind, &token, headers, vec![message(tool)], nothing).await;
            refused(&h, case, kind, outcome, code, &[]);
        }

        // One call (stream) too many: the proto allows a burst of 3.
        let token = h.token(ALL);
        for _ in 0..3 {
            call(&mut h, kind, &token, &[], vec![message("read")], nothing)
                .await
                .unwrap();
        }
        h.seen();
        let outcome = call(&mut h, kind, &token, &[], vec![message("read")], nothing).await;
        refused(
            &h,
            "a fourth call in a burst of 3",
            kind,
            outcome,
            Code::ResourceExhausted,
            &[],
        );
    }

    for kind in stream_kinds {
        // A harmless first message, then one the token may not send.
        let token = h.token("tools:call files:read");
        let outcome = call(
            &mut h,
            kind,
            &token,
            &[],
            vec![message("read"), message("write"), message("read")],
            nothing,
        )
        .await;
        refused(
            &h,
            "a write after a read",
            kind,
            outcome,
            Code::PermissionDenied,
            &["read"],
        );

        // The token expires while the stream is open.
        h.subjects += 1;
        let subject = format!("attacker-{}", h.subjects);
        let token = h.token_as(&subject, ALL, 60, SECRET);
        let clock = h.clock.clone();
        let outcome = call(
            &mut h,
            kind,
            &token,
            &[],
            vec![message("read"), message("read")],
            move |_| clock.advance(61),
        )
        .await;
        refused(
            &h,
            "a message after expiry",
            kind,
            outcome,
            Code::Unauthenticated,
            &["read"],
        );

        // Renewal with another subject's token, and with a forged one.
        for (case, secret, other_subject) in [
            ("a renewal as another subject", SECRET, true),
            (
                "a renewal signed with another key",
                &b"another secret, also 32 bytes long!"[..],
                false,
            ),
        ] {
            h.subjects += 1;
            let subject = format!("attacker-{}", h.subjects);
            let token = h.token_as(&subject, ALL, 600, SECRET);
            let renewal_subject = if other_subject {
                "victim"
            } else {
                subject.as_str()
            };
            let renewal = h.token_as(renewal_subject, ALL, 600, secret);
            let outcome = call(
                &mut h,
                kind,
                &token,
                &[],
                vec![
                    message("read"),
                    attack::ToolRequest {
                        tool: "read".into(),
                        token: renewal,
                    },
                ],
                nothing,
            )
            .await;
            refused(&h, case, kind, outcome, Code::Unauthenticated, &["read"]);
        }

        // A flood: the proto allows a burst of 4 messages.
        let token = h.token(ALL);
        let outcome = call(&mut h, kind, &token, &[], vec![message("read"); 6], nothing).await;
        refused(
            &h,
            "a fifth message in a burst of 4",
            kind,
            outcome,
            Code::ResourceExhausted,
            &["read"; 4],
        );
    }

    let lines = logs.lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("mcp_auth::audit")),
        "no audit event was recorded, so the log check would prove nothing"
    );
    assert_no_token_in(&h.tokens, &lines, "mcp-auth's logs");
}

/// The leak check finds a token quoted in the middle of a message.
#[test]
#[should_panic(expected = "shows in a test")]
fn the_leak_check_finds_a_piece_of_a_token() {
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz".to_owned();
    let text = format!("bad token near {}...", &token[20..40]);
    assert_no_token_in(&[token], &[text], "a test");
}
