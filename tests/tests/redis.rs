//! The Redis rate limiter against a real `redis-server` that each test starts on a free port of
//! 127.0.0.1 (and kills when it ends): two server instances sharing one Redis enforce one budget
//! per caller, for calls and for stream messages; Redis stopped mid-test makes calls and stream
//! messages UNAVAILABLE with an audit event, or lets them through when the authorizer allows it;
//! a restarted Redis is found again and limits apply as before; a public RPC's per-peer budget
//! is kept in Redis too, and refused with UNAVAILABLE when Redis is gone.
//!
//! `redis-server` comes from Debian's package; `tests/setup.sh` installs it. Without it these
//! tests fail, they do not skip.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_auth::clock::ManualClock;
use mcp_auth::rate_limit::{
    RateCheck, RateKey, RateKind, RateLimit, RateLimiter, RateOutcome, RedisRateLimiter,
};
use mcp_auth::{AuditEvent, Authorizer, AuthorizerBuilder, Decision, StandardClaims};
use mcp_auth_tests::fixtures::limits::{self, limited_auth};
use mcp_auth_tests::support::{
    Limited, LimitedHandlers, NOW, connect, loopback, serve, test_authenticator, with_token,
};
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_types::StatusExt;

type C = StandardClaims;
type Client = limits::limited_client::LimitedClient<Channel>;

const PING: &str = "/fixtures.limits.Limited/Ping";
const FEED: &str = "/fixtures.limits.Limited/Feed";

/// The longest any wait in these tests may last before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(20);

// --- redis-server -----------------------------------------------------------------------------

/// A `redis-server` child process on a port of 127.0.0.1, without persistence; killed on drop.
struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn redis_server_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|path| path.is_file())
    });
    let fallback = PathBuf::from("/usr/bin/redis-server");
    on_path
        .or_else(|| fallback.is_file().then_some(fallback))
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not installed (neither on PATH nor at /usr/bin/redis-server); \
                 run tests/setup.sh, which installs Debian's redis-server"
            )
        })
}

/// A port nothing listens on now: bound on 127.0.0.1:0, then released.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts a server on a free port, trying another if the port was taken in the meantime.
    fn start() -> Self {
        let binary = redis_server_binary();
        for _ in 0..5 {
            let mut server = Self {
                binary: binary.clone(),
                port: free_port(),
                child: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts the process on `self.port` and waits until it answers PING; `false` if it exited
    /// (the port was taken).
    fn spawn(&mut self) -> bool {
        let mut child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if matches!(self.try_command(&["PING"]), Ok(Reply::Simple(pong)) if pong == "PONG") {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// Kills the server; nothing listens on its port afterwards.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts a new, empty server on the same port (no data, no scripts).
    fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        assert!(
            self.spawn(),
            "redis-server did not start again on port {}",
            self.port
        );
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Sends one command on a connection of its own and returns the reply.
    fn command(&self, args: &[&str]) -> Reply {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    fn try_command(&self, args: &[&str]) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(PATIENCE))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request)?;
        read_reply(&mut BufReader::new(stream))
    }

    /// The keys under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        match self.command(&["KEYS", &format!("{prefix}*")]) {
            Reply::Array(keys) => keys
                .into_iter()
                .map(|key| match key {
                    Reply::Bulk(Some(key)) => String::from_utf8(key).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    /// The time to live of `key` in milliseconds (-1: none, -2: no such key).
    fn pttl(&self, key: &str) -> i64 {
        match self.command(&["PTTL", key]) {
            Reply::Int(ttl) => ttl,
            other => panic!("{other:?}"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A RESP2 reply.
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, line.to_owned());
    let (kind, rest) = line.split_at_checked(1).ok_or_else(invalid)?;
    let number = || rest.parse::<i64>().map_err(|_| invalid());
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut bulk = vec![0; len + 2];
                reader.read_exact(&mut bulk)?;
                bulk.truncate(len);
                Reply::Bulk(Some(bulk))
            }
        },
        "*" => {
            let len = usize::try_from(number()?).unwrap_or(0);
            let items = (0..len).map(|_| read_reply(reader));
            Reply::Array(items.collect::<Result<_, _>>()?)
        }
        _ => return Err(invalid()),
    })
}

// --- servers ----------------------------------------------------------------------------------

/// One audited decision: method, decision, reason, detail.
type Audited = (String, Decision, String, Option<String>);

/// An authorizer's builder with the test token authenticator, a manual clock, `limiter`, and an
/// audit sink recording into the returned log.
fn audited_builder(limiter: RedisRateLimiter) -> (AuthorizerBuilder<C>, Arc<Mutex<Vec<Audited>>>) {
    let audit: Arc<Mutex<Vec<Audited>>> = Arc::default();
    let sink = Arc::clone(&audit);
    let builder = Authorizer::builder()
        .token(test_authenticator())
        .clock(ManualClock::new(NOW))
        .rate_limiter(limiter)
        .audit_sink(move |event: &AuditEvent<'_>| {
            sink.lock().unwrap().push((
                event.method.to_owned(),
                event.decision,
                event.reason.to_owned(),
                event.detail.map(str::to_owned),
            ));
        });
    (builder, audit)
}

/// How many decisions on `method` in `audit` were `decision` for `reason`.
fn count(audit: &Mutex<Vec<Audited>>, method: &str, decision: Decision, reason: &str) -> usize {
    audit
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, d, r, _)| m == method && *d == decision && r == reason)
        .count()
}

/// One server instance: its own tonic server, authorizer and Redis connection.
struct Replica {
    addr: std::net::SocketAddr,
    limited: Arc<Limited>,
    audit: Arc<Mutex<Vec<Audited>>>,
}

impl Replica {
    async fn start(
        redis: &RedisServer,
        configure: impl FnOnce(AuthorizerBuilder<C>) -> AuthorizerBuilder<C>,
    ) -> Self {
        let limiter = RedisRateLimiter::connect(&redis.url()).await.unwrap();
        let (builder, audit) = audited_builder(limiter);
        let authorizer = configure(builder).build().unwrap();
        let limited = Arc::new(Limited::default());
        let (incoming, addr) = loopback().await;
        tokio::spawn(
            Server::builder()
                .add_service(limited_auth::server(
                    LimitedHandlers(Arc::clone(&limited)),
                    authorizer,
                ))
                .serve_with_incoming(incoming),
        );
        Self {
            addr,
            limited,
            audit,
        }
    }

    async fn client(&self) -> Client {
        Client::new(connect(self.addr).await)
    }

    fn pings(&self) -> usize {
        self.limited.pings.load(Ordering::SeqCst)
    }

    fn fed(&self) -> usize {
        self.limited.fed.load(Ordering::SeqCst)
    }

    /// The denials recorded with `reason`, as (method, detail).
    fn denials(&self, reason: &str) -> Vec<(String, Option<String>)> {
        self.audit
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, decision, r, _)| *decision == Decision::Deny && r == reason)
            .map(|(method, _, _, detail)| (method.clone(), detail.clone()))
            .collect()
    }
}

/// A token for `subject`, without scopes: the fixture's RPCs only need a caller.
fn token_for(subject: &str) -> String {
    mcp_auth_tests::support::token_for(subject, "", 600)
}

async fn ping(client: &mut Client, token: &str) -> Result<(), Status> {
    client
        .ping(with_token(limits::Tick { n: 0 }, token))
        .await
        .map(drop)
}

async fn feed(client: &mut Client, token: &str, messages: u64) -> Result<u64, Status> {
    let ticks = tokio_stream::iter((0..messages).map(|n| limits::Tick { n }));
    client
        .feed(with_token(ticks, token))
        .await
        .map(|r| r.into_inner().count)
}

/// Budgets refill at one event per second in the fixture: how many refills `elapsed` can hold.
fn refills(elapsed: Duration) -> usize {
    elapsed.as_secs() as usize
}

/// Calls Ping on `client` until the call is answered by a rate limiter that works (allowed, or
/// refused for the budget), within [`PATIENCE`].
async fn until_redis_answers(client: &mut Client, token: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match ping(client, token).await {
            Ok(()) => return,
            Err(status) if status.code() == Code::ResourceExhausted => return,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    Instant::now() < deadline,
                    "the rate limiter did not reconnect to Redis"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

// --- tests ------------------------------------------------------------------------------------

#[tokio::test]
async fn two_servers_sharing_redis_enforce_one_call_budget() {
    let redis = RedisServer::start();
    let a = Replica::start(&redis, |b| b).await;
    let b = Replica::start(&redis, |b| b).await;
    let mut clients = [a.client().await, b.client().await];
    let alice = token_for("alice");

    // Alternating between the servers, the caller gets one burst of 3, not one per server.
    let started = Instant::now();
    let mut passed = 0;
    let mut refused = None;
    for n in 0..12 {
        match ping(&mut clients[n % 2], &alice).await {
            Ok(()) => passed += 1,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    let status = refused.expect("12 calls passed: the servers did not share a budget");
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("a RetryInfo detail");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    assert!(
        (3..=3 + refills(elapsed)).contains(&passed),
        "{passed} calls passed in {elapsed:?}"
    );
    assert_eq!(a.pings() + b.pings(), passed);
    assert!(a.pings() >= 2 && b.pings() >= 1);

    // Another caller has a budget of its own, on either server.
    let bob = token_for("bob");
    ping(&mut clients[1], &bob).await.unwrap();
    ping(&mut clients[0], &bob).await.unwrap();

    // One key per caller and RPC, expiring by itself within the burst period (3 s).
    let keys = redis.keys(RedisRateLimiter::DEFAULT_PREFIX);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let key = RateKey {
        method: PING,
        kind: RateKind::Call,
        identity: "alice",
    };
    let alices = format!(
        "{}{}",
        RedisRateLimiter::DEFAULT_PREFIX,
        key.to_key_string()
    );
    assert!(keys.contains(&alices), "{keys:?}");
    let ttl = redis.pttl(&alices);
    assert!(ttl > 0 && ttl <= 3_000, "{ttl}");
}

#[tokio::test]
async fn stream_messages_on_two_servers_share_one_budget() {
    let redis = RedisServer::start();
    let a = Replica::start(&redis, |b| b).await;
    let b = Replica::start(&redis, |b| b).await;

    // A flood on server A spends the burst of 5; the same caller on server B finds it spent.
    let carol = token_for("carol");
    let started = Instant::now();
    let status = feed(&mut a.client().await, &carol, 2_000)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let status = feed(&mut b.client().await, &carol, 2_000)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let elapsed = started.elapsed();
    assert!(a.fed() >= 5, "{} messages passed on A", a.fed());
    assert!(
        a.fed() + b.fed() <= 5 + refills(elapsed),
        "{} + {} messages passed in {elapsed:?}",
        a.fed(),
        b.fed()
    );

    // Two parallel streams of a new caller, one on each server: together within one burst.
    let dave = token_for("dave");
    let before = a.fed() + b.fed();
    let (mut to_a, mut to_b) = (a.client().await, b.client().await);
    let started = Instant::now();
    let (on_a, on_b) = tokio::join!(feed(&mut to_a, &dave, 1_000), feed(&mut to_b, &dave, 1_000));
    let elapsed = started.elapsed();
    assert!(on_a.is_err() && on_b.is_err(), "{on_a:?} {on_b:?}");
    let both = a.fed() + b.fed() - before;
    assert!(
        (5..=5 + refills(elapsed)).contains(&both),
        "{both} messages passed on two servers in {elapsed:?}"
    );
}

#[tokio::test]
async fn redis_stopped_mid_test_denies_with_an_audit_event_unless_allowed() {
    let mut redis = RedisServer::start();
    let strict = Replica::start(&redis, |b| b).await;
    let lenient = Replica::start(&redis, |b| b.allow_when_rate_limiter_unavailable()).await;
    let (mut to_strict, mut to_lenient) = (strict.client().await, lenient.client().await);
    let alice = token_for("alice");
    ping(&mut to_strict, &alice).await.unwrap();
    ping(&mut to_lenient, &token_for("bob")).await.unwrap();

    // A stream opened while Redis is up, with one message through.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut streaming = strict.client().await;
    let stream_token = token_for("carol");
    let upload = tokio::spawn(async move {
        streaming
            .feed(with_token(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                &stream_token,
            ))
            .await
    });
    tx.send(limits::Tick { n: 0 }).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while strict.fed() < 1 {
        assert!(
            Instant::now() < deadline,
            "the first message did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    redis.stop();

    // The next message cannot be counted: the stream ends with UNAVAILABLE.
    tx.send(limits::Tick { n: 1 }).await.unwrap();
    let status = tokio::time::timeout(PATIENCE, upload)
        .await
        .expect("the stream was not ended")
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(strict.fed(), 1);

    // Calls are refused with UNAVAILABLE, and the handler does not run.
    for _ in 0..3 {
        let status = ping(&mut to_strict, &alice).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "rate limiter unavailable");
    }
    assert_eq!(strict.pings(), 1);

    // Each refusal is audited with the reason, and the detail says why.
    let denials = strict.denials("rate_limiter_unavailable");
    assert_eq!(
        denials.iter().filter(|(method, _)| method == FEED).count(),
        1,
        "{denials:?}"
    );
    assert_eq!(
        denials.iter().filter(|(method, _)| method == PING).count(),
        3,
        "{denials:?}"
    );
    for (_, detail) in &denials {
        let detail = detail.as_deref().unwrap_or_default();
        assert!(
            detail.starts_with("rate limiter unavailable: redis"),
            "{detail}"
        );
    }

    // The server that allows calls without its limiter lets them all through, past the burst.
    let bob = token_for("bob");
    for _ in 0..5 {
        ping(&mut to_lenient, &bob).await.unwrap();
    }
    assert_eq!(lenient.pings(), 6);
    assert!(lenient.denials("rate_limiter_unavailable").is_empty());
    // Letting calls through still shows the outage in the audit log.
    let allowed_blind = count(
        &lenient.audit,
        PING,
        Decision::Allow,
        "rate_limiter_unavailable_allowed",
    );
    assert_eq!(allowed_blind, 5);
}

/// A public RPC's budget is its peer's, kept in Redis like a caller's: the generated adapter
/// waits for Redis before the handler, refuses past the budget, and refuses with UNAVAILABLE
/// and an audit event when Redis is gone.
#[tokio::test]
async fn a_public_rpc_waits_for_redis_and_is_refused_when_it_is_gone() {
    use mcp_auth_tests::fixtures::public;
    use mcp_auth_tests::support::{Calls, Handlers};

    const PUBLIC_PING: &str = "/fixtures.public.Status/Ping";
    let mut redis = RedisServer::start();
    let (builder, audit) = audited_builder(RedisRateLimiter::connect(&redis.url()).await.unwrap());
    let authorizer = builder
        .default_rate_limit(RateLimit::new(1, 2))
        .build()
        .unwrap();
    let calls = Arc::new(Calls::default());
    let channel = serve(Server::builder().add_service(public::status_auth::server(
        Handlers(Arc::clone(&calls)),
        authorizer,
    )))
    .await;
    let mut client = public::status_client::StatusClient::new(channel);
    let pings = || calls.ping.load(Ordering::SeqCst);

    // A burst of 2 at one a second: the third quick call is refused, the handler not run.
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..4 {
        match client.ping(public::PingRequest {}).await {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused += 1;
            }
        }
    }
    let allowed = 2 + refills(started.elapsed());
    assert!(refused >= 4_usize.saturating_sub(allowed), "{refused}");
    assert_eq!(pings(), 4 - refused);

    redis.stop();
    let before = pings();
    let status = client.ping(public::PingRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "rate limiter unavailable");
    assert_eq!(pings(), before);
    let denied = count(
        &audit,
        PUBLIC_PING,
        Decision::Deny,
        "rate_limiter_unavailable",
    );
    assert_eq!(denied, 1);
}

#[tokio::test]
async fn a_restarted_redis_is_found_again_and_limits_apply() {
    let mut redis = RedisServer::start();
    let a = Replica::start(&redis, |b| b).await;
    let b = Replica::start(&redis, |b| b).await;
    let mut clients = [a.client().await, b.client().await];
    let probe = token_for("probe");
    ping(&mut clients[0], &probe).await.unwrap();
    ping(&mut clients[1], &probe).await.unwrap();

    redis.stop();
    for client in &mut clients {
        let status = ping(client, &probe).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
    }

    // A new, empty server on the same port: no budgets and no script loaded.
    redis.restart();
    for client in &mut clients {
        until_redis_answers(client, &probe).await;
    }

    // Both servers count in the new Redis again, one budget for both.
    let erin = token_for("erin");
    let started = Instant::now();
    let mut passed = 0;
    let mut refused = None;
    for n in 0..12 {
        match ping(&mut clients[n % 2], &erin).await {
            Ok(()) => passed += 1,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    let status = refused.expect("no limit applied after the restart");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        (3..=3 + refills(elapsed)).contains(&passed),
        "{passed} calls passed in {elapsed:?}"
    );
    assert!(redis.keys(RedisRateLimiter::DEFAULT_PREFIX).len() >= 2);
}

// --- the limiter on its own -------------------------------------------------------------------

async fn outcome(limiter: &RedisRateLimiter, key: &RateKey<'_>, limit: RateLimit) -> RateOutcome {
    match limiter.check(key, limit) {
        RateCheck::Pending(check) => check.await,
        RateCheck::Ready(outcome) => panic!("decided without asking Redis: {outcome:?}"),
    }
}

#[tokio::test]
async fn gcra_in_redis_keeps_one_expiring_key_per_budget() {
    let redis = RedisServer::start();
    let limiter = RedisRateLimiter::builder(redis.url())
        .key_prefix("test:")
        .connect()
        .await
        .unwrap();
    assert_eq!(limiter.prefix(), "test:");
    let calls = RateKey {
        method: "/a.B/C",
        kind: RateKind::Call,
        identity: "alice",
    };
    // 20 a second (one each 50 ms), bursts of 2.
    let limit = RateLimit::new(20, 2);
    assert_eq!(outcome(&limiter, &calls, limit).await, RateOutcome::Allowed);
    assert_eq!(outcome(&limiter, &calls, limit).await, RateOutcome::Allowed);
    let retry_after = match outcome(&limiter, &calls, limit).await {
        RateOutcome::Limited { retry_after } => retry_after,
        other => panic!("{other:?}"),
    };
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_millis(50),
        "{retry_after:?}"
    );
    // The refusal spent nothing: after the delay the next event passes.
    tokio::time::sleep(retry_after).await;
    assert_eq!(outcome(&limiter, &calls, limit).await, RateOutcome::Allowed);

    // The messages of the RPC and the calls of another RPC have budgets of their own.
    let messages = RateKey {
        kind: RateKind::Message,
        ..calls
    };
    let other = RateKey {
        method: "/a.B/D",
        ..calls
    };
    assert_eq!(
        outcome(&limiter, &messages, limit).await,
        RateOutcome::Allowed
    );
    assert_eq!(outcome(&limiter, &other, limit).await, RateOutcome::Allowed);
    let mut keys = redis.keys("test:");
    keys.sort();
    let mut expected = [
        limiter.key(&calls),
        limiter.key(&messages),
        limiter.key(&other),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    assert!(expected.iter().all(|key| key.starts_with("test:")));
    for key in &keys {
        let ttl = redis.pttl(key);
        assert!(ttl > 0 && ttl <= 100, "{key:?} lives {ttl} ms");
    }

    // Idle budgets leave Redis by themselves.
    let deadline = Instant::now() + PATIENCE;
    while !redis.keys("test:").is_empty() {
        assert!(Instant::now() < deadline, "idle keys did not expire");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_flushed_script_is_loaded_again_and_a_foreign_value_is_handled() {
    let redis = RedisServer::start();
    let limiter = RedisRateLimiter::connect(&redis.url()).await.unwrap();
    let key = RateKey {
        method: "/a.B/C",
        kind: RateKind::Call,
        identity: "alice",
    };
    let limit = RateLimit::new(1, 1);

    // NOSCRIPT: the script is loaded again and the check goes on.
    assert_eq!(
        redis.command(&["SCRIPT", "FLUSH"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(outcome(&limiter, &key, limit).await, RateOutcome::Allowed);
    assert!(matches!(
        outcome(&limiter, &key, limit).await,
        RateOutcome::Limited { .. }
    ));

    // A value that is not a time is replaced (it says nothing about the budget).
    redis.command(&["SET", &limiter.key(&key), "garbage"]);
    assert_eq!(outcome(&limiter, &key, limit).await, RateOutcome::Allowed);
    assert!(matches!(
        outcome(&limiter, &key, limit).await,
        RateOutcome::Limited { .. }
    ));

    // A key of another type cannot be used: unavailable, with Redis's error as the reason.
    redis.command(&["DEL", &limiter.key(&key)]);
    redis.command(&["LPUSH", &limiter.key(&key), "x"]);
    match outcome(&limiter, &key, limit).await {
        RateOutcome::Unavailable(reason) => assert!(reason.contains("WRONGTYPE"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_check_redis_does_not_answer_in_time_is_unavailable() {
    let redis = RedisServer::start();
    let limiter = RedisRateLimiter::builder(redis.url())
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    assert_eq!(limiter.timeout(), Duration::from_millis(100));
    let key = RateKey {
        method: "/a.B/C",
        kind: RateKind::Call,
        identity: "alice",
    };
    let limit = RateLimit::new(1_000, 1_000);
    assert_eq!(outcome(&limiter, &key, limit).await, RateOutcome::Allowed);

    // Redis holds every client's commands for 2 s.
    assert_eq!(
        redis.command(&["CLIENT", "PAUSE", "2000", "ALL"]),
        Reply::Simple("OK".into())
    );
    let started = Instant::now();
    let outcome_while_paused = outcome(&limiter, &key, limit).await;
    assert_eq!(
        outcome_while_paused,
        RateOutcome::Unavailable("redis: no answer within 100 ms".into())
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Once Redis answers again, so does the limiter.
    let deadline = Instant::now() + PATIENCE;
    while outcome(&limiter, &key, limit).await != RateOutcome::Allowed {
        assert!(Instant::now() < deadline, "the limiter did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connecting_fails_without_a_working_redis() {
    // Nothing listens.
    let error = RedisRateLimiter::connect(&format!("redis://127.0.0.1:{}/", free_port()))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot use Redis for rate limits"),
        "{error}"
    );

    // Not a Redis URL.
    let error = RedisRateLimiter::connect("http://127.0.0.1/")
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with("invalid Redis URL"),
        "{error}"
    );

    // TLS is not built in: refused at once rather than spoken in clear text.
    let error = RedisRateLimiter::connect("rediss://user:hunter2@127.0.0.1/")
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with("invalid Redis URL"),
        "{error}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");

    // Something that is not Redis answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0; 1024];
                while let Ok(n) = socket.read(&mut buffer).await {
                    if n == 0
                        || socket
                            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let error = RedisRateLimiter::connect(&format!("redis://{addr}/"))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot use Redis for rate limits"),
        "{error}"
    );

    // A zero timeout is a mistake.
    let redis = RedisServer::start();
    let error = RedisRateLimiter::builder(redis.url())
        .timeout(Duration::ZERO)
        .connect()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("must not be zero"), "{error}");
}
