//! End-to-end load benchmark: the same tonic service, unary and one bidirectional stream, served
//! four ways in one process and measured side by side over interleaved rounds on 127.0.0.1:
//!
//! - (a) plain tonic, no authorization;
//! - (b) plain tonic behind an empty `Interceptor`;
//! - (c) plain tonic behind a hand-written interceptor that verifies the JWT with
//!   `jsonwebtoken::decode` on every call and checks the scope (what users write today);
//! - (d) the mcp-auth generated server: tokens seen before (answered by the verified-token
//!   cache), and first-sight tokens (every call a token the server has never seen); without
//!   rate limits, and with call and message limits this load never reaches (so every check
//!   runs and passes); and, for comparison, the same mcp-auth adapter served by tonic's
//!   generated server instead of mcp-auth's.
//!
//! The stream runs twice for each server: through tonic's client, which spends more CPU per
//! message than the server and so sets the pace, and flooded, by a client that writes frames
//! it encoded ahead straight to HTTP/2, so that the server is the bottleneck and its CPU per
//! message is its own work at full buffers (`flood_run` says why both). The stream target is
//! judged on each.
//!
//! After the main rounds, a second phase runs the variants given one token throughout (the
//! cached mcp-auth variants, plain tonic and the empty interceptor, unary and stream) over many
//! short interleaved rounds (300 of 0.05 s), which the cached and stream targets are judged
//! on: whether mcp-auth's cached check costs less than an empty interceptor is a difference of
//! tenths of a percent, below what the main rounds resolve (see `cached_phase`).
//!
//! ```text
//! cargo run --release -p mcp-auth-tests --bin load             # about 5.5 minutes
//! cargo run --release -p mcp-auth-tests --bin load -- --help   # rounds, durations, sizes
//! ```
//!
//! The server and the client each run on their own single-worker tokio runtime, and the CPU
//! time of each side is read per thread from `/proc/self/task/*/schedstat`, so "server CPU per
//! call" is the server's alone although the client shares the process (see BENCHMARKS.md).
//! While a run is measured the client's worker never sleeps (it polls its sockets between
//! yields; on one core it sleeps, as with `--sleeping-client`): on loopback, a response sent to
//! a sleeping client would charge the server for waking it, which on a network the client's
//! machine pays. The client's CPU per call therefore includes its polling.
//! Every run is bounded by a call count and a duration, and the whole benchmark stops by itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::{Authorizer, StandardClaims};
use mcp_auth_bench_support::thread_cpu_time;
use mcp_auth_tests::fixtures::streaming::Item;
use mcp_auth_tests::fixtures::streaming::streams_client::StreamsClient;
use mcp_auth_tests::fixtures::streaming::streams_server::StreamsServer;
use prost::bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_stream::StreamExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::{self, uri::PathAndQuery};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Server};
use tonic::{Request, Status};

use mcp_auth_tests::bench::{Guarded, Plain, empty_interceptor, streams_auth};

const ISSUER: &str = "https://issuer.load-bench";
const AUDIENCE: &str = "load-bench";
const SCOPES: &str = "items:read items:write";
const HS256_SECRET: &[u8] = b"load benchmark HS256 secret, 32+ bytes";

// Benchmark-only key pairs (generated with openssl for this file; they protect nothing).
const ES256_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmYI8gBw2JKt7TflB
T4NBYrxH9+cBOcWL6f2ZTHcp6mChRANCAAQtbbAq4DsQ9zQ1yfbkAgEjMDgY2GIg
gVNIioGhj+zNCUntlmzaekW3teMDPXP9IqwpnhmB9Dil0/bl9f8W4dKI
-----END PRIVATE KEY-----
";
const ES256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELW2wKuA7EPc0Ncn25AIBIzA4GNhi
IIFTSIqBoY/szQlJ7ZZs2npFt7XjAz1z/SKsKZ4ZgfQ4pdP25fX/FuHSiA==
-----END PUBLIC KEY-----
";
const RS256_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCam669YCTifJ19
XH+T972P85GmnPnULMAtOi6ePOpthXu9t/xJIC6CebXB1iamjIJYQOgYesBrwQiO
AA2cS+bcLWHEuejTMtLJD5Mc9zN3i1ln0/2JC4h8EwIq5cJ8nfDdpTQM8FihWhp4
3/RhI/3zIHHhgNoNd/o3YTo3g09utvUmfwT1o8D+oEQ/88GnAbkyLTQkkp5Q1Hmy
YwaTXzX5+z42h35g5Xp9+voSsCeiSxfG85EvLQnuHozmxi2mnn7A0n0j6X+zdHK8
Ngo/WbiCko7kM8iVndrnAYz2QpXedq0sbjiSD4KcKHvxH3VUizPfvEoHnLT5AdgA
ewZpH2Y7AgMBAAECggEAE37eIfMls4mTMmOfksECnkxQaXoR5rdd5FYZ2spDpVvX
pqy0m2P7eWhvium+JfJB3W8R1URlTzEgKwfGr5bCnbD7SxtGSJt4CPJ10ok5bDGe
LIGGzuktZLfg5hfi1mP0I37ZeWg1RONfwy46WqV3OFk3AwCEfn5KhwEznhxov8UQ
J8euEgCF+BtT6HVUBJ1jeyDTp47go7pZPGr8u2SSAvScmKAkgmRMZxSwCE+qb6St
RgkXw73mUrUhbobVSnobEJlUiIvfnifw47z1DU5v/ML5SiAlliYBJDdCEtNsF/tr
l0OZ71FTWio3QehOiiFP4JJzHtW/MqJNpbLXMhn5gQKBgQDImNvoJxSyT3/pg9xZ
jb3rr7qoInoA23q+6nJP4sGRYgGj4t0KbPm6yIVsex4/+z0gvwGkMz3Rg6I9e0xz
OULOYTWIZByRkYmELd95dDWkAOXH9KcN/Xs2fmuhIkv7pZ9i9+OSM4C/Mp6zY27T
Kv+dTDdqkKyv4YeJjGH+YoWi8wKBgQDFTzDu6GA4THP+bX5co4GB6GqngSZ8qkq0
3xrOx2AEBQ8tXus5I/krKKmfhzkZfHToE+Qdp79TqFWFlFufnzBlco8qt1ypbEcm
spY7OY+3+Eo0UKbCVF5jqILkVCouz0iufW0fN00CAMjvFgFo1wZyFotzIGu+c1+I
cZq9B82xmQKBgHKzhTsP7bOv5bI+5eaHOAvmZdLyM9T9qwgzwr2PKaPZ6JovhLkL
axi0xCYtmDR5kpCA541eh4Cfxktlj2drXJnp19Rvei56i6l7GYe3PVzT7pARgtxr
DuMwEpcGp2/zWloa6JOWw42QglKNDrfMpHDrPdy/cR741KmADiCJcWSlAoGAGtS6
AsL20rES1PZuyIozgkbouf6GDU3a+t2b96KFHAbUGYde1VZe+897wYXR7fVOsICD
9MRq8CVj+9ZA32P2YNVDQrvMjf17b3e5ljQtpwbMkHCnPKXccBDqO8J2OgdWCuRj
gmsyvaL9sAV+C5Ox/LG0JOOzwyJNS3Cnai01e4ECgYEAg+R56kJ9Jlw/ybf0QQ5g
f3gsKtJVI+Ex8qGIlWMURfrazCjSBT1o7y4eYHTnkzbYoYgWBY0FfhJ3MEdle5V7
4eWa8HXwyJ00pfBOUB+MAyqKJqgxQeAbxWTO13HFNWcf/HLqhdqJm2cx7RRfjmVy
6D8ZYDqEreK/t48PelvoCdg=
-----END PRIVATE KEY-----
";
const RS256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmpuuvWAk4nydfVx/k/e9
j/ORppz51CzALTounjzqbYV7vbf8SSAugnm1wdYmpoyCWEDoGHrAa8EIjgANnEvm
3C1hxLno0zLSyQ+THPczd4tZZ9P9iQuIfBMCKuXCfJ3w3aU0DPBYoVoaeN/0YSP9
8yBx4YDaDXf6N2E6N4NPbrb1Jn8E9aPA/qBEP/PBpwG5Mi00JJKeUNR5smMGk181
+fs+Nod+YOV6ffr6ErAnoksXxvORLy0J7h6M5sYtpp5+wNJ9I+l/s3RyvDYKP1m4
gpKO5DPIlZ3a5wGM9kKV3natLG44kg+CnCh78R91VIsz37xKB5y0+QHYAHsGaR9m
OwIDAQAB
-----END PUBLIC KEY-----
";
const ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILLA41q5Xo/nD4SB4VH6ZRmk3y/r964d71vcSO0Adi7E
-----END PRIVATE KEY-----
";
const ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAALmuEBnJjplYCh9fAXu43qMenNvlziIHbY0VjDTtfpg=
-----END PUBLIC KEY-----
";

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Options {
    rounds: usize,
    run_time: Duration,
    max_calls: usize,
    first_sight_calls: usize,
    max_messages: usize,
    concurrency: usize,
    first_sight_concurrency: usize,
    spinning_client: bool,
    only: Vec<String>,
    /// The shapes to run; all when empty.
    shapes: Vec<Shape>,
    cached_rounds: usize,
    cached_run_time: Duration,
    trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rounds: 7,
            run_time: Duration::from_millis(600),
            max_calls: 100_000,
            first_sight_calls: 2_000,
            max_messages: 1_000_000,
            // Enough calls in flight that the server is the bottleneck: with 16 it waited for
            // the client about 5 % of a run, and how long depended on the variant's timing
            // (the empty interceptor's server, 0.4 % dearer per call, completed 0.3 % more
            // calls/s than plain tonic's); with 64 it is busy about 98 % of a run and calls/s
            // follows its CPU per call. The server-CPU ratios move too: the empty interceptor's
            // from 0.994-0.999x to 0.986x (BENCHMARKS.md, "How the load benchmark measures").
            concurrency: 64,
            first_sight_concurrency: 16,
            spinning_client: true,
            only: Vec::new(),
            shapes: Vec::new(),
            cached_rounds: 300,
            cached_run_time: Duration::from_millis(50),
            trace: false,
        }
    }
}

const HELP: &str = "\
load: mcp-auth against plain tonic, end to end on 127.0.0.1 (see BENCHMARKS.md)

options:
  --rounds N             interleaved measured rounds, after one warm-up round (default 7)
  --secs S               time limit of each run, unary or stream (default 0.6)
  --calls N              call limit of each unary run (default 100000)
  --first-sight-calls N  calls of each first-sight run, one new token each (default 2000)
  --messages N           message limit of each stream run (default 1000000)
  --concurrency N        unary calls in flight (default 64)
  --first-sight-concurrency N
                         first-sight calls in flight (default 16; 1 makes every server handle
                         each call alone, which does not make server CPU additive: BENCHMARKS.md)
  --sleeping-client      let the client's thread sleep while it waits for responses: every
                         response the server sends on loopback then pays for waking it (13 µs
                         a call on the VM in BENCHMARKS.md when calls are slow; see \"How the
                         load benchmark measures\")
  --cached-rounds N      rounds of the second phase, cached tokens against the empty
                         interceptor (default 300; 0 skips it)
  --cached-secs S        time limit of each run of that phase (default 0.05)
  --trace                print every measured run to stderr: phase, round, server µs per call,
                         calls/s, variant
  --quick                3 rounds of 0.25 s, 500 first-sight calls, 20 cached rounds: a smoke
                         run
  --only TEXT            run only the variants whose name contains TEXT (repeatable; the
                         plain tonic baselines, one per token, always run), e.g. to profile one of them
  --shape SHAPE          run only the variants of SHAPE: unary, stream (through tonic's client) or
                         flood (the stream flooded by a client writing ready-made frames);
                         repeatable
";

/// A run time in seconds, in (0, 60].
fn seconds(name: &str, v: String) -> Result<Duration, String> {
    v.parse()
        .ok()
        .filter(|s: &f64| *s > 0.0 && *s <= 60.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{name}: `{v}` is not in (0, 60]"))
}

impl Options {
    /// Whether the variants of `shape` run (`--shape`; all when none is given).
    fn runs(&self, shape: Shape) -> bool {
        self.shapes.is_empty() || self.shapes.contains(&shape)
    }
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{name}: `{v}` is not a positive number"))
        };
        match arg.as_str() {
            "--rounds" => options.rounds = number("--rounds", value("--rounds")?)?,
            "--secs" => options.run_time = seconds("--secs", value("--secs")?)?,
            "--cached-secs" => {
                options.cached_run_time = seconds("--cached-secs", value("--cached-secs")?)?
            }
            "--cached-rounds" => {
                let v = value("--cached-rounds")?;
                options.cached_rounds = v
                    .parse()
                    .map_err(|_| format!("--cached-rounds: `{v}` is not a number"))?;
            }
            "--trace" => options.trace = true,
            "--calls" => options.max_calls = number("--calls", value("--calls")?)?,
            "--first-sight-calls" => {
                options.first_sight_calls =
                    number("--first-sight-calls", value("--first-sight-calls")?)?
            }
            "--messages" => options.max_messages = number("--messages", value("--messages")?)?,
            "--concurrency" => {
                options.concurrency = number("--concurrency", value("--concurrency")?)?
            }
            "--first-sight-concurrency" => {
                options.first_sight_concurrency = number(
                    "--first-sight-concurrency",
                    value("--first-sight-concurrency")?,
                )?
            }
            "--only" => options.only.push(value("--only")?),
            "--shape" => options.shapes.push(match value("--shape")?.as_str() {
                "unary" => Shape::Unary,
                "stream" => Shape::Stream,
                "flood" => Shape::Flood,
                other => return Err(format!("--shape: `{other}` is not unary, stream or flood")),
            }),
            "--sleeping-client" => options.spinning_client = false,
            "--quick" => {
                options.rounds = 3;
                options.run_time = Duration::from_millis(250);
                options.first_sight_calls = 500;
                options.cached_rounds = 20;
            }
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n\n{HELP}")),
        }
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens

/// One signing algorithm: the key pair, and its name as the token's `kid`.
struct Alg {
    name: &'static str,
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    key: JwtKey,
}

fn algorithms() -> Vec<Alg> {
    let pem = |what: &str, result: jsonwebtoken::errors::Result<EncodingKey>| {
        result.unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    let dec = |what: &str, result: jsonwebtoken::errors::Result<DecodingKey>| {
        result.unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    vec![
        Alg {
            name: "HS256",
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(HS256_SECRET),
            decoding: DecodingKey::from_secret(HS256_SECRET),
            key: JwtKey::hs256(HS256_SECRET).with_kid("HS256"),
        },
        Alg {
            name: "RS256",
            algorithm: Algorithm::RS256,
            encoding: pem("RS256", EncodingKey::from_rsa_pem(RS256_PRIVATE.as_bytes())),
            decoding: dec("RS256", DecodingKey::from_rsa_pem(RS256_PUBLIC.as_bytes())),
            key: JwtKey::rsa_pem(RS256_PUBLIC.as_bytes(), Algorithm::RS256)
                .expect("RS256 key")
                .with_kid("RS256"),
        },
        Alg {
            name: "ES256",
            algorithm: Algorithm::ES256,
            encoding: pem("ES256", EncodingKey::from_ec_pem(ES256_PRIVATE.as_bytes())),
            decoding: dec("ES256", DecodingKey::from_ec_pem(ES256_PUBLIC.as_bytes())),
            key: JwtKey::es256_pem(ES256_PUBLIC.as_bytes())
                .expect("ES256 key")
                .with_kid("ES256"),
        },
        Alg {
            name: "EdDSA",
            algorithm: Algorithm::EdDSA,
            encoding: pem(
                "EdDSA",
                EncodingKey::from_ed_pem(ED25519_PRIVATE.as_bytes()),
            ),
            decoding: dec("EdDSA", DecodingKey::from_ed_pem(ED25519_PUBLIC.as_bytes())),
            key: JwtKey::ed_pem(ED25519_PUBLIC.as_bytes())
                .expect("EdDSA key")
                .with_kid("EdDSA"),
        },
    ]
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// A typical access token for the benchmark's client; `jti` makes each one distinct.
fn token(alg: &Alg, jti: Option<&str>) -> String {
    let now = unix_now();
    let mut claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "load-bench-client",
        "scope": SCOPES,
        "iat": now,
        "exp": now + 3600,
    });
    if let Some(jti) = jti {
        claims["jti"] = jti.into();
    }
    let mut header = Header::new(alg.algorithm);
    header.kid = Some(alg.name.to_owned());
    jsonwebtoken::encode(&header, &claims, &alg.encoding).expect("signing")
}

fn bearer(token: &str) -> AsciiMetadataValue {
    MetadataValue::try_from(format!("Bearer {token}")).expect("a token is ASCII")
}

/// `total` distinct tokens (their `jti`s `{prefix}-0`, `{prefix}-1`, ...), signed on all cores.
fn distinct_tokens(alg: &Alg, prefix: &str, total: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = total.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(total))
                        .map(|i| token(alg, Some(&format!("{prefix}-{i}"))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a signing thread"))
            .collect()
    })
}

/// `count` distinct tokens for every round, as `authorization` values.
fn first_sight_tokens(alg: &Alg, rounds: usize, count: usize) -> Vec<Vec<AsciiMetadataValue>> {
    let all: Vec<AsciiMetadataValue> = distinct_tokens(alg, "first-sight", rounds * count)
        .iter()
        .map(|token| bearer(token))
        .collect();
    all.chunks(count).map(<[_]>::to_vec).collect()
}

/// A `jsonwebtoken` validation with the checks `JwtAuthenticator` makes (issuer, audience; the
/// time claims it checks after decoding): the reference decode.
fn mcp_auth_validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation
}

/// Spends `cpu` of this thread's CPU time.
fn burn_cpu(cpu: Duration) {
    let start = thread_cpu_time();
    while thread_cpu_time() - start < cpu {
        std::hint::spin_loop();
    }
}

/// The median over rounds of `a`'s server CPU per call minus `b`'s in the same round.
fn median_difference(a: &[RunResult], b: &[RunResult]) -> f64 {
    let mut differences: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.server_cpu_micros - b.server_cpu_micros)
        .collect();
    median(&mut differences)
}

/// Distinct tokens the decode alone cycles through, as many as the `tokens` benchmark's pool.
///
/// A first-sight token is decoded once. A short cycle of tokens lets the CPU's branch predictors
/// learn the branches of the variable-time parts of the ECDSA check (the scalar inversion, the
/// windows of the multiplication), which no first-sight token enjoys: within one hour the ES256
/// decode alone read 49.6-50.9 µs cycling 1 token, 51.3-52.3 cycling 16 (this harness until
/// session 9), and 53.1-54.5 cycling 64, 256, 1,024, 2,048 or 4,096; HS256, RS256 and EdDSA
/// moved by less than 2 %, either way (BENCHMARKS.md, Fixed 21).
const DECODE_TOKENS: usize = 1024;

/// The CPU cost of one `jsonwebtoken::decode` of `alg`'s tokens, in microseconds: the median of
/// 9 batches cycling through `tokens` ([`DECODE_TOKENS`] distinct tokens shaped like the
/// first-sight ones), with the checks mcp-auth makes.
fn raw_decode_micros(alg: &Alg, tokens: &[String]) -> f64 {
    let validation = mcp_auth_validation(alg.algorithm);
    let mut next = tokens.iter().cycle();
    let mut decode = || {
        let token = next.next().expect("a cycle never ends");
        jsonwebtoken::decode::<StandardClaims>(token, &alg.decoding, &validation)
            .expect("the token verifies")
    };
    let start = thread_cpu_time();
    let mut calibration = 0u32;
    while thread_cpu_time() - start < Duration::from_millis(20) {
        std::hint::black_box(decode());
        calibration += 1;
    }
    let batch = calibration.max(16);
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let start = thread_cpu_time();
            for _ in 0..batch {
                std::hint::black_box(decode());
            }
            (thread_cpu_time() - start).as_secs_f64() * 1e6 / f64::from(batch)
        })
        .collect();
    median(&mut samples)
}

// ---------------------------------------------------------------------------------------------
// The service, four ways

/// The claims a hand-written interceptor typically decodes.
#[derive(Debug, Clone, serde::Deserialize)]
#[allow(dead_code)] // read by handlers that would look at the caller
struct InterceptorClaims {
    sub: String,
    scope: String,
    exp: u64,
}

/// What users write today: verify the token on every call, check the scope, pass the claims on.
fn verify_interceptor(
    alg: &Alg,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    let key = Arc::new(alg.decoding.clone());
    let mut validation = Validation::new(alg.algorithm);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let validation = Arc::new(validation);
    move |mut request: Request<()>| {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let claims = jsonwebtoken::decode::<InterceptorClaims>(token, &key, &validation)
            .map_err(|_| Status::unauthenticated("invalid token"))?
            .claims;
        if !claims.scope.split(' ').any(|s| s == "items:read") {
            return Err(Status::permission_denied("insufficient scope"));
        }
        request.extensions_mut().insert(claims);
        Ok(request)
    }
}

/// Whether the mcp-auth server counts calls and messages against a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limits {
    /// No rate limit (`no_default_rate_limits`).
    Off,
    /// Default limits so high this load never reaches them: every check runs and passes.
    Unreached,
}

/// A rate no run of this benchmark reaches.
const UNREACHED: mcp_auth::rate_limit::RateLimit =
    mcp_auth::rate_limit::RateLimit::new(100_000_000, 100_000_000);

/// The default verified-token cache.
const CACHE: usize = mcp_auth::cache::DEFAULT_CAPACITY;

fn mcp_auth_server(
    algs: &[Alg],
    limits: Limits,
    cache: usize,
) -> streams_auth::AuthorizedStreamsServer<Guarded> {
    streams_auth::server(Guarded, mcp_auth_authorizer(algs, limits, cache))
}

/// The authorizer of [`mcp_auth_server`].
fn mcp_auth_authorizer(algs: &[Alg], limits: Limits, cache: usize) -> Authorizer {
    let mut builder = JwtAuthenticator::<StandardClaims>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .verified_token_cache(cache);
    for alg in algs {
        builder = builder.key(alg.key.clone());
    }
    let authenticator = builder.build().expect("the authenticator");
    // The default limits (100 calls/s, 1,000 messages/s per caller) would refuse this load.
    let builder = Authorizer::builder()
        .token(authenticator)
        .no_default_rate_limits();
    let builder = match limits {
        Limits::Off => builder,
        Limits::Unreached => builder
            .default_rate_limit(UNREACHED)
            .default_message_rate_limit(UNREACHED),
    };
    builder.build().expect("the authorizer")
}

// ---------------------------------------------------------------------------------------------
// Variants and runs

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Unary,
    /// One bidirectional stream through tonic's client ([`stream_run`]).
    Stream,
    /// The same stream flooded by a client that writes ready-made frames ([`flood_run`]).
    Flood,
}

/// A run's connection to its server, made before the run's clocks are read.
enum Connection {
    Tonic(Channel),
    Flood(Flood),
}

type Router = tonic::service::Routes;

/// A variant before its server starts: name, shape, routes, tokens, the algorithm whose
/// first-sight baseline it is compared with, whether it is mcp-auth.
type Spec = (String, Shape, Router, Tokens, Option<&'static str>, bool);

/// Which tokens a run's requests carry.
#[derive(Debug, Clone)]
enum Tokens {
    /// The same token on every call.
    Same(AsciiMetadataValue),
    /// A new token on every call: one list per round.
    FirstSight(Arc<Vec<Vec<AsciiMetadataValue>>>),
}

struct Variant {
    name: String,
    shape: Shape,
    /// The name of the baseline its CPU is compared with, for first-sight runs.
    first_sight_of: Option<&'static str>,
    is_mcp_auth: bool,
    /// Its server; every run connects anew (see `measure`).
    addr: std::net::SocketAddr,
    tokens: Tokens,
}

/// One run of one variant.
#[derive(Debug, Clone, Copy)]
struct RunResult {
    per_second: f64,
    p50_micros: f64,
    p99_micros: f64,
    server_cpu_micros: f64,
    client_cpu_micros: f64,
}

/// Cumulative CPU time of the process's threads by role, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
struct CpuTimes {
    server: u64,
    client: u64,
}

const SERVER_THREAD: &str = "load-server";
const CLIENT_THREAD: &str = "load-client";

/// Reads every thread's CPU time: `schedstat` (nanoseconds) where the kernel has it, else the
/// clock ticks of `stat`.
fn cpu_times() -> CpuTimes {
    let mut times = CpuTimes::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return times;
    };
    let ticks_ns = 1e9 / 100.0; // USER_HZ is 100 on Linux
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let ns = match std::fs::read_to_string(dir.join("schedstat")) {
            Ok(s) => s
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0),
            Err(_) => std::fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|s| {
                    let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
                    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()?
                        + fields.get(12)?.parse::<u64>().ok()?;
                    Some((ticks as f64 * ticks_ns) as u64)
                })
                .unwrap_or(0),
        };
        if comm.starts_with(SERVER_THREAD) {
            times.server += ns;
        } else if comm.starts_with(CLIENT_THREAD) {
            times.client += ns;
        }
    }
    times
}

fn percentile_micros(sorted_nanos: &[u32], p: f64) -> f64 {
    if sorted_nanos.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted_nanos.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted_nanos[index]) / 1e3
}

fn nanos_u32(d: Duration) -> u32 {
    u32::try_from(d.as_nanos()).unwrap_or(u32::MAX)
}

/// `calls` unary echo calls (or as many as fit in `run_time`), `concurrency` at a time.
async fn unary_run(
    client: StreamsClient<Channel>,
    tokens: Vec<AsciiMetadataValue>,
    calls: usize,
    concurrency: usize,
    options: &Options,
) -> Result<(usize, Duration, Vec<u32>), Status> {
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + options.run_time;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let mut client = client.clone();
        let tokens = Arc::clone(&tokens);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls || Instant::now() >= deadline {
                    return Ok::<_, Status>(latencies);
                }
                let mut request = Request::new(Item {
                    name: "echo".to_owned(),
                    size: Some(i as i64),
                });
                request
                    .metadata_mut()
                    .insert("authorization", tokens[i % tokens.len()].clone());
                let sent = Instant::now();
                client.unary(request).await?;
                latencies.push(nanos_u32(sent.elapsed()));
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result.expect("a client task")?);
    }
    Ok((latencies.len(), start.elapsed(), latencies))
}

/// The benchmark client's side of `Chat`, kept as cheap as possible so that the server, not
/// the client, is what limits a stream: it writes each `Item` as pre-laid-out protobuf bytes
/// (`name: "message"`, `size`: the send time in nanoseconds since the run started) and reads
/// only `size` back from the echo.
#[derive(Debug, Clone, Copy)]
struct RawItemCodec {
    start: Instant,
}

impl Codec for RawItemCodec {
    type Encode = ();
    type Decode = u64;
    type Encoder = RawItemCodec;
    type Decoder = RawItemCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for RawItemCodec {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, (): (), dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(ITEM_HEAD);
        prost::encoding::encode_varint(nanos_u64(self.start.elapsed()), dst);
        Ok(())
    }
}

impl Decoder for RawItemCodec {
    type Item = u64;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<u64>, Status> {
        echo_sent(src).map(Some)
    }
}

/// The first ten bytes of every `Item` the stream runs send: `name` = "message", then the tag
/// of `size`, which carries the send time (a varint of nanoseconds since the run's start).
const ITEM_HEAD: &[u8] = b"\x0a\x07message\x10";

/// The send time an echoed `Item` carries in `size`.
fn echo_sent(src: &mut impl Buf) -> Result<u64, Status> {
    let malformed = |_| Status::internal("malformed echo");
    let mut sent = 0;
    while src.has_remaining() {
        let (tag, wire_type) = prost::encoding::decode_key(src).map_err(malformed)?;
        if tag == 2 && wire_type == prost::encoding::WireType::Varint {
            sent = prost::encoding::decode_varint(src).map_err(malformed)?;
        } else {
            prost::encoding::skip_field(
                wire_type,
                tag,
                src,
                prost::encoding::DecodeContext::default(),
            )
            .map_err(malformed)?;
        }
    }
    Ok(sent)
}

/// One bidirectional stream: the client sends as fast as HTTP/2 flow control lets it, up to
/// `max_messages` or `run_time`, and counts the echoes. Latency is from encoding a message to
/// reading its echo, so it includes the queue that flow control allows (tens of kilobytes).
async fn stream_run(
    channel: Channel,
    token: AsciiMetadataValue,
    options: &Options,
) -> Result<(usize, Duration, Vec<u32>), Status> {
    let start = Instant::now();
    let deadline = start + options.run_time;
    let outbound = tokio_stream::iter(0..options.max_messages)
        .take_while(move |&i| i % 256 != 0 || Instant::now() < deadline)
        .map(|_| ());
    let mut request = Request::new(outbound);
    request.metadata_mut().insert("authorization", token);
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = PathAndQuery::from_static("/fixtures.streaming.Streams/Chat");
    let mut responses = grpc
        .streaming(request, path, RawItemCodec { start })
        .await?
        .into_inner();
    let mut latencies = Vec::with_capacity(1 << 20);
    let mut last = start;
    while let Some(sent) = responses.message().await? {
        let now = start.elapsed();
        latencies.push(u32::try_from(nanos_u64(now).saturating_sub(sent)).unwrap_or(u32::MAX));
        last = start + now;
    }
    Ok((latencies.len(), last - start, latencies))
}

/// Messages per chunk a flooding client writes: one clock read and one deadline check each.
const FLOOD_CHUNK: usize = 256;

/// One bidirectional stream flooded: the same echo as [`stream_run`], but the client writes
/// gRPC frames it encoded ahead, a chunk of [`FLOOD_CHUNK`] at a time, straight to HTTP/2, and
/// counts the echoes by their length prefixes, so that the server is the bottleneck.
///
/// Through tonic's client the client spends more CPU per message than the server (1.2x on the
/// Intel host of BENCHMARKS.md, 1.5x on the AMD one), so the server waits for it (its thread
/// was busy about 63 % of a run on the AMD host) and reads whatever has arrived when it gets
/// to it: a server that spends more per message finds more waiting at each read, and pays for
/// fewer reads, wake-ups and writes per message, which hides part of what it spent. Flooded,
/// the server's thread is busy about 98 % of a run, every server reads full buffers, and
/// messages per second and CPU per message compare the servers' own work per message.
/// Latency runs from the chunk's encoding to the reading of the echo's chunk.
async fn flood_run(
    flood: Flood,
    token: AsciiMetadataValue,
    options: &Options,
) -> Result<(usize, Duration, Vec<u32>), Status> {
    let failed =
        |what: &'static str| move |e: h2::Error| Status::unavailable(format!("{what}: {e}"));
    let Flood { mut client, addr } = flood;
    let start = Instant::now();
    let deadline = start + options.run_time;
    let max_messages = options.max_messages;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/fixtures.streaming.Streams/Chat"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", token.as_encoded_bytes())
        .body(())
        .map_err(|e| Status::internal(format!("request: {e}")))?;
    let (response, mut outbound) = client
        .send_request(request, false)
        .map_err(failed("sending the request"))?;

    let send = async move {
        let mut sent = 0;
        let mut chunk = BytesMut::new();
        while sent < max_messages && (sent == 0 || Instant::now() < deadline) {
            let count = FLOOD_CHUNK.min(max_messages - sent);
            let at = nanos_u64(start.elapsed());
            let mut item = ITEM_HEAD.to_vec();
            prost::encoding::encode_varint(at, &mut item);
            let prefix = u32::try_from(item.len())
                .expect("a short message")
                .to_be_bytes();
            for _ in 0..count {
                chunk.put_u8(0);
                chunk.put_slice(&prefix);
                chunk.put_slice(&item);
            }
            let mut data = chunk.split().freeze();
            while !data.is_empty() {
                outbound.reserve_capacity(data.len());
                let capacity = match std::future::poll_fn(|cx| outbound.poll_capacity(cx)).await {
                    Some(capacity) => capacity.map_err(failed("waiting for the window"))?,
                    None => return Err(Status::unavailable("the server closed the stream")),
                };
                let part = data.split_to(capacity.min(data.len()));
                outbound.send_data(part, false).map_err(failed("sending"))?;
            }
            sent += count;
        }
        outbound
            .send_data(Bytes::new(), true)
            .map_err(failed("ending the stream"))?;
        Ok(sent)
    };

    let receive = async move {
        let response = response.await.map_err(failed("the response"))?;
        // Whether `headers` carry `grpc-status`, and whether it is OK.
        let grpc_ok = |headers: &http::HeaderMap| {
            headers
                .get("grpc-status")
                .map(|status| status.as_bytes() == b"0")
        };
        if response.status() != http::StatusCode::OK {
            return Err(Status::unavailable(format!("HTTP {}", response.status())));
        }
        if grpc_ok(response.headers()).is_some() {
            let headers = response.headers();
            return Err(Status::unavailable(format!("refused at once: {headers:?}")));
        }
        let mut body = response.into_body();
        let mut pending = BytesMut::new();
        let mut latencies = Vec::with_capacity(1 << 20);
        let mut last = start;
        while let Some(data) = body.data().await {
            let data = data.map_err(failed("reading"))?;
            let _ = body.flow_control().release_capacity(data.len());
            let now = start.elapsed();
            pending.extend_from_slice(&data);
            while let Some(prefix) = pending.get(..5) {
                let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
                let len = usize::try_from(len).expect("a 32-bit length");
                if pending.len() < 5 + len {
                    break;
                }
                let mut message = pending.split_to(5 + len);
                if message[0] != 0 {
                    return Err(Status::internal("a compressed echo"));
                }
                message.advance(5);
                let sent = echo_sent(&mut message)?;
                latencies
                    .push(u32::try_from(nanos_u64(now).saturating_sub(sent)).unwrap_or(u32::MAX));
            }
            last = start + now;
        }
        match body.trailers().await.map_err(failed("the trailers"))? {
            Some(trailers) if grpc_ok(&trailers) == Some(true) => {}
            Some(trailers) => return Err(Status::unavailable(format!("ended with {trailers:?}"))),
            None => return Err(Status::unavailable("no trailers")),
        }
        if !pending.is_empty() {
            return Err(Status::internal("a truncated echo"));
        }
        Ok((latencies.len(), last - start, latencies))
    };

    // The first error ends both: a receiver that stopped reading would leave the sender
    // waiting for a window the server cannot open.
    let (sent, received) = tokio::try_join!(send, receive)?;
    if received.0 != sent {
        return Err(Status::internal(format!(
            "{sent} messages sent, {} echoed",
            received.0
        )));
    }
    Ok(received)
}

/// A flooding client's HTTP/2 connection, made before a run's clocks are read.
struct Flood {
    client: h2::client::SendRequest<Bytes>,
    addr: std::net::SocketAddr,
}

/// Connects a flooding client to `addr`: the connection and the task that drives it, which
/// ends once the client and its streams are gone.
async fn flood_connect(
    addr: std::net::SocketAddr,
) -> Result<(Flood, tokio::task::JoinHandle<Result<(), h2::Error>>), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    // Windows as large as the server's (hyper's 1 MiB), so that the echoes never wait for the
    // client's window updates.
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 20)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    let connection = tokio::spawn(connection);
    let client = client
        .ready()
        .await
        .map_err(|e| format!("HTTP/2 ready: {e}"))?;
    Ok((Flood { client, addr }, connection))
}

fn nanos_u64(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

async fn run_variant(
    connection: Connection,
    shape: Shape,
    tokens: Tokens,
    round: usize,
    options: Options,
) -> Result<(usize, Duration, Vec<u32>), Status> {
    match (shape, tokens, connection) {
        (Shape::Unary, Tokens::Same(token), Connection::Tonic(channel)) => {
            let client = StreamsClient::new(channel);
            let (calls, concurrency) = (options.max_calls, options.concurrency);
            unary_run(client, vec![token], calls, concurrency, &options).await
        }
        (Shape::Unary, Tokens::FirstSight(rounds), Connection::Tonic(channel)) => {
            let tokens = rounds[round].clone();
            let calls = tokens.len();
            let client = StreamsClient::new(channel);
            let concurrency = options.first_sight_concurrency;
            unary_run(client, tokens, calls, concurrency, &options).await
        }
        (Shape::Stream, Tokens::Same(token), Connection::Tonic(channel)) => {
            stream_run(channel, token, &options).await
        }
        (Shape::Flood, Tokens::Same(token), Connection::Flood(flood)) => {
            flood_run(flood, token, &options).await
        }
        (shape, ..) => {
            unreachable!("{shape:?}: streams reuse their token, and only the flooded stream floods")
        }
    }
}

/// The pause between two runs.
const SETTLE: Duration = Duration::from_millis(20);

/// The order of the variants' runs in `round`: a shuffle, the same in every process (an
/// xorshift seeded by the round). A rotation kept each variant's predecessor the same in every
/// round, and whatever a run leaves behind landed on the same next variant every time: plain
/// tonic's stream, always run after the last unary variant, measured dearer than the same
/// server behind an empty interceptor in every run (by 0.2-20 %, a median of 3.4 % over six
/// runs; BENCHMARKS.md).
fn run_order(n: usize, round: usize) -> Vec<usize> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (round as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// One run of `variant` on a connection of its own, made before the CPU clocks are read: a
/// connection kept for every round carried its state (buffers, flow-control windows, where they
/// sit in memory) from round to round, and one variant's connection could sit a few percent
/// slow or fast for a whole run, which the median over rounds cannot see.
fn measure(
    client_runtime: &tokio::runtime::Runtime,
    variant: &Variant,
    round: usize,
    options: &Options,
) -> Result<RunResult, String> {
    let failed = |e: String| format!("{}: {e}", variant.name);
    let (connection, flood_driver) = if variant.shape == Shape::Flood {
        let (flood, driver) = client_runtime
            .block_on(client_runtime.spawn(flood_connect(variant.addr)))
            .expect("the connect task")
            .map_err(failed)?;
        (Connection::Flood(flood), Some(driver))
    } else {
        let uri = format!("http://{}", variant.addr);
        let connect = async move { Channel::from_shared(uri).expect("a URI").connect().await };
        let channel = client_runtime
            .block_on(client_runtime.spawn(connect))
            .expect("the connect task")
            .map_err(|e| failed(format!("connecting: {e}")))?;
        (Connection::Tonic(channel), None)
    };
    // Keeps the client's worker from parking while the run is measured, so no response the
    // server sends pays for waking it (the module doc says why).
    let spinning = Arc::new(AtomicBool::new(options.spinning_client));
    let spinner = client_runtime.spawn({
        let spinning = Arc::clone(&spinning);
        async move {
            while spinning.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        }
    });
    let before = cpu_times();
    let task = client_runtime.spawn(run_variant(
        connection,
        variant.shape,
        variant.tokens.clone(),
        round,
        options.clone(),
    ));
    let run = client_runtime.block_on(task).expect("the run task");
    let after = cpu_times();
    spinning.store(false, Ordering::Relaxed);
    client_runtime.block_on(spinner).expect("the spinner");
    // A flooding client's connection closes after the clocks are read, as it opened before.
    if let Some(driver) = flood_driver {
        let closing = async { tokio::time::timeout(Duration::from_secs(5), driver).await };
        if client_runtime.block_on(closing).is_err() {
            return Err(failed("the connection did not close in 5 s".into()));
        }
    }
    let (calls, elapsed, mut latencies) = run.map_err(|status| failed(status.to_string()))?;
    if calls == 0 {
        return Err(format!("{}: no call completed", variant.name));
    }
    latencies.sort_unstable();
    let per_call = |ns: u64| ns as f64 / 1e3 / calls as f64;
    Ok(RunResult {
        per_second: calls as f64 / elapsed.as_secs_f64(),
        p50_micros: percentile_micros(&latencies, 0.50),
        p99_micros: percentile_micros(&latencies, 0.99),
        server_cpu_micros: per_call(after.server.saturating_sub(before.server)),
        client_cpu_micros: per_call(after.client.saturating_sub(before.client)),
    })
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    let mut options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let algs = algorithms();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 && options.spinning_client {
        // A spinning client would take the server's only core half the time.
        eprintln!("load: one core: the client sleeps between responses (--sleeping-client)");
        options.spinning_client = false;
    }
    println!(
        "load: {} measured rounds (+1 warm-up), runs of {:.2} s / {} calls / {} stream messages, \
         {} unary calls in flight, {} first-sight calls per run, {} at a time, {} client; \
         {} cores, load average {}",
        options.rounds,
        options.run_time.as_secs_f64(),
        options.max_calls,
        options.max_messages,
        options.concurrency,
        options.first_sight_calls,
        options.first_sight_concurrency,
        if options.spinning_client {
            "spinning"
        } else {
            "sleeping"
        },
        cores,
        load_average(),
    );

    let decode_tokens: BTreeMap<&str, Vec<String>> = algs
        .iter()
        .map(|alg| (alg.name, distinct_tokens(alg, "decode", DECODE_TOKENS)))
        .collect();
    // The signing kept every core busy: let the host settle before the measurement the
    // burning interceptor takes its burn from.
    std::thread::sleep(SETTLE);
    println!(
        "jsonwebtoken::decode alone, CPU time per token ({DECODE_TOKENS} distinct tokens \
         cycled, this thread):"
    );
    let decode_micros: BTreeMap<&str, f64> = algs
        .iter()
        .map(|alg| {
            let micros = raw_decode_micros(alg, &decode_tokens[alg.name]);
            println!("  {:<6} {micros:7.2} µs", alg.name);
            (alg.name, micros)
        })
        .collect();

    let rounds_total = options.rounds + 1;
    let signing = Instant::now();
    let wanted = |name: &str| {
        options.only.is_empty()
            || name.starts_with("plain tonic")
            || options.only.iter().any(|only| name.contains(only.as_str()))
    };
    let first_sight: Vec<(&'static str, Arc<Vec<Vec<AsciiMetadataValue>>>)> = algs
        .iter()
        .filter(|alg| {
            options.runs(Shape::Unary)
                && (wanted(&format!("plain, first sight {}", alg.name))
                    || wanted(&format!("verify interceptor, first sight {}", alg.name))
                    || wanted(&format!(
                        "interceptor burning decode, first sight {}",
                        alg.name
                    ))
                    || wanted(&format!("mcp-auth, first sight {}", alg.name))
                    || wanted(&format!("mcp-auth, no cache, first sight {}", alg.name)))
        })
        .map(|alg| {
            let tokens = first_sight_tokens(alg, rounds_total, options.first_sight_calls);
            (alg.name, Arc::new(tokens))
        })
        .collect();
    println!(
        "signed {} first-sight tokens per algorithm in {:.1} s",
        rounds_total * options.first_sight_calls,
        signing.elapsed().as_secs_f64()
    );

    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .expect("the server runtime");
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .expect("the client runtime");

    let alg = |name: &str| algs.iter().find(|a| a.name == name).expect("a known alg");
    let same = |name: &str| Tokens::Same(bearer(&token(alg(name), None)));

    let mut specs: Vec<Spec> = Vec::new();
    // Plain tonic and the empty interceptor, given the ES256 token: every shape's baselines.
    let plain = || Router::new(StreamsServer::new(Plain));
    let baselines = |specs: &mut Vec<Spec>, shape: Shape| {
        let empty = Router::new(StreamsServer::with_interceptor(Plain, empty_interceptor));
        for (name, router) in [("plain tonic", plain()), ("empty interceptor", empty)] {
            specs.push((name.into(), shape, router, same("ES256"), None, false));
        }
    };
    baselines(&mut specs, Shape::Unary);
    // h2 never indexes `authorization` in HPACK, so every call carries the whole token and the
    // server decodes it: a longer token costs the HTTP/2 layer whoever checks it. Every RS256
    // variant is compared with plain tonic receiving an RS256 token (the others: ES256).
    specs.push((
        "plain tonic, RS256 token".into(),
        Shape::Unary,
        plain(),
        same("RS256"),
        None,
        false,
    ));
    for name in ["HS256", "RS256", "ES256", "EdDSA"] {
        specs.push((
            format!("verify interceptor {name}"),
            Shape::Unary,
            Router::new(StreamsServer::with_interceptor(
                Plain,
                verify_interceptor(alg(name)),
            )),
            same(name),
            None,
            false,
        ));
    }
    for name in ["ES256", "RS256"] {
        specs.push((
            format!("mcp-auth, seen before {name}"),
            Shape::Unary,
            Router::new(mcp_auth_server(&algs, Limits::Off, CACHE)),
            same(name),
            None,
            true,
        ));
    }
    // The same adapter served by tonic's generated server: what mcp-auth's own server saves.
    specs.push((
        "mcp-auth in tonic's server, seen before ES256".into(),
        Shape::Unary,
        Router::new(StreamsServer::new(streams_auth::AuthorizedStreams::new(
            Guarded,
            mcp_auth_authorizer(&algs, Limits::Off, CACHE),
        ))),
        same("ES256"),
        None,
        true,
    ));
    specs.push((
        "mcp-auth, seen before, rate limit".into(),
        Shape::Unary,
        Router::new(mcp_auth_server(&algs, Limits::Unreached, CACHE)),
        same("ES256"),
        None,
        true,
    ));
    for (name, tokens) in &first_sight {
        specs.push((
            format!("plain, first sight {name}"),
            Shape::Unary,
            plain(),
            Tokens::FirstSight(Arc::clone(tokens)),
            None,
            false,
        ));
        // What users write today, given the same new tokens: its decode inside the server, on
        // the same tokens, is the cost first sight is judged against.
        specs.push((
            format!("verify interceptor, first sight {name}"),
            Shape::Unary,
            Router::new(StreamsServer::with_interceptor(
                Plain,
                verify_interceptor(alg(name)),
            )),
            Tokens::FirstSight(Arc::clone(tokens)),
            None,
            false,
        ));
        // The decode's own CPU time (measured alone above), spent inside the server: an
        // interceptor that burns exactly that much CPU. The server's own cost per call grows
        // as its call rate falls (fewer calls per read, write and wake-up), so this is what the
        // raw decode costs in this server, whoever spends it.
        let burn = Duration::from_secs_f64(decode_micros[name] / 1e6);
        specs.push((
            format!("interceptor burning decode, first sight {name}"),
            Shape::Unary,
            Router::new(StreamsServer::with_interceptor(Plain, move |request| {
                burn_cpu(burn);
                Ok(request)
            })),
            Tokens::FirstSight(Arc::clone(tokens)),
            None,
            false,
        ));
        specs.push((
            format!("mcp-auth, first sight {name}"),
            Shape::Unary,
            Router::new(mcp_auth_server(&algs, Limits::Off, CACHE)),
            Tokens::FirstSight(Arc::clone(tokens)),
            Some(name),
            true,
        ));
        // The same without the verified-token cache: what inserting into it costs.
        specs.push((
            format!("mcp-auth, no cache, first sight {name}"),
            Shape::Unary,
            Router::new(mcp_auth_server(&algs, Limits::Off, 0)),
            Tokens::FirstSight(Arc::clone(tokens)),
            Some(name),
            true,
        ));
    }
    for shape in [Shape::Stream, Shape::Flood] {
        baselines(&mut specs, shape);
        specs.push((
            "mcp-auth, expiry check".into(),
            shape,
            Router::new(mcp_auth_server(&algs, Limits::Off, CACHE)),
            same("ES256"),
            None,
            true,
        ));
        specs.push((
            "mcp-auth, every check".into(),
            shape,
            Router::new(mcp_auth_server(&algs, Limits::Unreached, CACHE)),
            same("ES256"),
            None,
            true,
        ));
    }

    // Every first-sight variant's baseline, plain tonic given the same new tokens, runs too.
    specs.retain(|(name, shape, ..)| {
        options.runs(*shape) && (wanted(name) || name.starts_with("plain, first sight "))
    });
    let mut variants = Vec::new();
    for (name, shape, router, tokens, first_sight_of, is_mcp_auth) in specs {
        let listener = server_runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        // TCP_NODELAY on the accepted sockets, as `Server::serve` and mcp-auth's
        // `HardenedServer::bind` set it: without it a response written in more than one piece
        // waited for the client's delayed ACK (40 ms) whenever few calls were in flight.
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        server_runtime.spawn(
            Server::builder()
                .add_routes(router)
                .serve_with_incoming(incoming),
        );
        variants.push(Variant {
            name,
            shape,
            first_sight_of,
            is_mcp_auth,
            addr,
            tokens,
        });
    }

    // results[variant][round]
    let mut results: Vec<Vec<RunResult>> = vec![Vec::new(); variants.len()];
    // The decode alone again in every round, after its runs: the host's speed drifts by a few
    // percent over a run, so first sight is judged against the decode round by round.
    let mut decode_rounds: BTreeMap<&str, Vec<f64>> = first_sight
        .iter()
        .map(|(name, _)| (*name, Vec::new()))
        .collect();
    for round in 0..rounds_total {
        let round_started = Instant::now();
        for index in run_order(variants.len(), round) {
            let result = run_after_pause(&client_runtime, &variants[index], round, &options);
            if round > 0 {
                trace(&options, "main", round, &variants[index], &result);
                results[index].push(result);
            }
        }
        if round > 0 {
            for (name, micros) in &mut decode_rounds {
                std::thread::sleep(SETTLE);
                micros.push(raw_decode_micros(alg(name), &decode_tokens[name]));
            }
        }
        let label = if round == 0 {
            "warm-up round".to_owned()
        } else {
            format!("round {round}/{}", options.rounds)
        };
        eprintln!(
            "load: {label} done in {:.1} s",
            round_started.elapsed().as_secs_f64()
        );
    }
    let cached = cached_phase(&client_runtime, &variants, &options);
    client_runtime.shutdown_timeout(Duration::from_secs(1));
    server_runtime.shutdown_timeout(Duration::from_secs(1));

    print!(
        "{}",
        report(&variants, &results, &cached, &decode_rounds, &options)
    );
    println!(
        "total {:.0} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
}

/// One run of `variant` after a pause of [`SETTLE`], so that what the previous run left to clean
/// up (its connection closing, its buffers freed) is done before this one's clocks are read. A
/// failed run ends the benchmark.
fn run_after_pause(
    client_runtime: &tokio::runtime::Runtime,
    variant: &Variant,
    round: usize,
    options: &Options,
) -> RunResult {
    std::thread::sleep(SETTLE);
    measure(client_runtime, variant, round, options).unwrap_or_else(|message| {
        eprintln!("load: run failed: {message}");
        std::process::exit(1);
    })
}

/// Prints one measured run to stderr (`--trace`).
fn trace(options: &Options, phase: &str, round: usize, variant: &Variant, result: &RunResult) {
    if options.trace {
        eprintln!(
            "trace {phase} {round} {:.3} {:.0} {}",
            result.server_cpu_micros, result.per_second, variant.name
        );
    }
}

/// Whether a variant takes part in the second phase: the variants given one token throughout,
/// unary and stream, mcp-auth's and their baselines (not the verify interceptors).
fn in_cached_phase(variant: &Variant) -> bool {
    variant.first_sight_of.is_none()
        && matches!(variant.tokens, Tokens::Same(_))
        && (variant.is_mcp_auth
            || variant.name.starts_with("plain tonic")
            || variant.name == "empty interceptor")
}

/// The second phase: the cached mcp-auth variants, plain tonic and the empty interceptor, unary
/// and stream, over many short interleaved rounds (`--cached-rounds` of `--cached-secs`).
///
/// Whether mcp-auth's cached check costs less than tonic's empty interceptor is a difference of
/// a few tenths of a percent of a call, and a run's server CPU per call moves by about 5 % from
/// run to run whatever its length (0.05 to 0.6 s measured alike; the same connection kept
/// across runs too): what resolves it is the number of runs, not their length. 300 runs of
/// each variant put the median's 95 % interval within about ±0.1-0.4 % (server CPU; up to
/// ±0.7 % for calls/s); with the streams, flooded too, the phase takes about six minutes.
/// Results per variant and round, empty for the variants not in the phase.
fn cached_phase(
    client_runtime: &tokio::runtime::Runtime,
    variants: &[Variant],
    options: &Options,
) -> Vec<Vec<RunResult>> {
    let mut results = vec![Vec::new(); variants.len()];
    let members: Vec<usize> = (0..variants.len())
        .filter(|&i| in_cached_phase(&variants[i]))
        .collect();
    let has = |name: &str| members.iter().any(|&i| variants[i].name == name);
    let mcp_auth = members.iter().any(|&i| variants[i].is_mcp_auth);
    if options.cached_rounds == 0 || !mcp_auth || !has("plain tonic") || !has("empty interceptor") {
        return results;
    }
    let short = Options {
        run_time: options.cached_run_time,
        ..options.clone()
    };
    let started = Instant::now();
    for round in 1..=options.cached_rounds {
        for position in run_order(members.len(), round) {
            let index = members[position];
            let result = run_after_pause(client_runtime, &variants[index], round, &short);
            trace(options, "cached", round, &variants[index], &result);
            results[index].push(result);
        }
        if round % 50 == 0 || round == options.cached_rounds {
            eprintln!(
                "load: cached round {round}/{} ({:.0} s)",
                options.cached_rounds,
                started.elapsed().as_secs_f64()
            );
        }
    }
    results
}

/// The distribution-free 95 % interval of the median of `values`: the order statistics of
/// ranks `⌊n/2 − 0.98·√n⌋` and `⌈1 + n/2 + 0.98·√n⌉` (1-based; the normal approximation of the
/// binomial). `NaN`s for fewer than 6 values.
fn median_interval(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n < 6 {
        return (f64::NAN, f64::NAN);
    }
    let half = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - half).floor() as usize).saturating_sub(1);
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    (sorted[lo], sorted[hi])
}

/// Per-round ratios of a variant to plain tonic of the same shape.
#[derive(Debug, Clone, Copy)]
enum Ratio {
    /// Calls (messages) per second over plain tonic's: what a client sees.
    Throughput,
    /// Plain tonic's server CPU per call over the variant's: the throughput ratio of a server
    /// that is the bottleneck, and much less disturbed by other load on the machine.
    ServerCpu,
    /// Plain tonic's client CPU per call over the variant's. The client polls without sleeping
    /// while a run is measured, so its CPU per call is close to the run's wall time per call
    /// and this ratio follows calls/s; against server CPU it shows how much of a run the
    /// server spent waiting for the client.
    ClientCpu,
}

fn report(
    variants: &[Variant],
    results: &[Vec<RunResult>],
    cached: &[Vec<RunResult>],
    decode_rounds: &BTreeMap<&str, Vec<f64>>,
    options: &Options,
) -> String {
    let rounds = options.rounds;
    let mut out = String::new();
    let position = |shape: Shape, name: &str| {
        variants
            .iter()
            .position(|v| v.shape == shape && v.name == name)
    };
    // Each round's ratio of `index` to its plain baseline, in `results` (the main rounds or the
    // cached phase).
    let ratios_in = |results: &[Vec<RunResult>], index: usize, kind: Ratio| -> Vec<f64> {
        let shape = variants[index].shape;
        // The baseline with the same token, where there is one (see "plain tonic, RS256 token").
        let base = variants[index]
            .name
            .rsplit(' ')
            .next()
            .and_then(|alg| position(shape, &format!("plain tonic, {alg} token")))
            .or_else(|| position(shape, "plain tonic"))
            .expect("a plain baseline");
        results[index]
            .iter()
            .zip(&results[base])
            .map(|(r, b)| match kind {
                Ratio::Throughput => r.per_second / b.per_second,
                Ratio::ServerCpu => b.server_cpu_micros / r.server_cpu_micros,
                Ratio::ClientCpu => b.client_cpu_micros / r.client_cpu_micros,
            })
            .collect()
    };
    let ratios = |index: usize, kind: Ratio| ratios_in(results, index, kind);
    let ratio_text = |index: usize, kind: Ratio| {
        let values = ratios(index, kind);
        let (lo, hi) = min_max(&values);
        format!("{:.3}x ({lo:.2}-{hi:.2})", median(&mut values.clone()))
    };
    let med = |index: usize, f: fn(&RunResult) -> f64| {
        median(&mut results[index].iter().map(f).collect::<Vec<_>>())
    };
    let _ = writeln!(
        out,
        "\nmedians of {rounds} interleaved rounds; ratios to plain tonic in the same round, \
         median (min-max): of calls/s, and of server CPU per call (plain's over the variant's)"
    );
    for shape in [Shape::Unary, Shape::Stream, Shape::Flood] {
        let (title, unit) = match shape {
            Shape::Unary => ("unary echo", "calls/s"),
            Shape::Stream => ("one bidirectional stream (echo)", "msgs/s"),
            Shape::Flood => ("one bidirectional stream, flooded (echo)", "msgs/s"),
        };
        let _ = writeln!(out, "\n{title}");
        let _ = writeln!(
            out,
            "  {:<33} {unit:>9} {:>8} {:>8} {:>8} {:>8}  {:<22} server CPU ratio",
            "variant", "p50 µs", "p99 µs", "srv µs", "cli µs", "calls/s ratio",
        );
        for (index, variant) in variants.iter().enumerate() {
            if variant.shape != shape {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<33} {:>9.0} {:>8.1} {:>8.1} {:>8.2} {:>8.2}  {:<22} {}",
                variant.name,
                med(index, |r| r.per_second),
                med(index, |r| r.p50_micros),
                med(index, |r| r.p99_micros),
                med(index, |r| r.server_cpu_micros),
                med(index, |r| r.client_cpu_micros),
                ratio_text(index, Ratio::Throughput),
                ratio_text(index, Ratio::ServerCpu),
            );
        }
    }

    let empty = position(Shape::Unary, "empty interceptor");
    let cached_rounds = cached.iter().map(Vec::len).max().unwrap_or(0);
    // Each round's ratio of `index` over the empty interceptor's, in `results`.
    let paired_in = |results: &[Vec<RunResult>], index: usize, empty: usize, kind: Ratio| {
        ratios_in(results, index, kind)
            .iter()
            .zip(ratios_in(results, empty, kind))
            .map(|(variant, empty)| variant / empty)
            .collect::<Vec<f64>>()
    };
    if cached_rounds > 0 {
        let interval = |values: Vec<f64>| {
            let (lo, hi) = median_interval(&values);
            format!("{:.3}x ({lo:.3}-{hi:.3})", median(&mut values.clone()))
        };
        let _ = writeln!(
            out,
            "\ntokens seen before, second phase: {cached_rounds} interleaved rounds of {:.2} s; ratios to \
             plain tonic in the same round, median (95 % interval of the median)",
            options.cached_run_time.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  {:<33} {:>9} {:>8} {:>8}  {:<24} {:<24} {:<24} paired with the empty \
             interceptor (above 1: cheaper than it): calls/s, server CPU",
            "variant",
            "calls/s",
            "srv µs",
            "cli µs",
            "calls/s ratio",
            "server CPU ratio",
            "client CPU ratio",
        );
        let mut shape = None;
        for (index, variant) in variants.iter().enumerate() {
            if cached[index].is_empty() {
                continue;
            }
            if shape != Some(variant.shape) {
                shape = Some(variant.shape);
                let title = match variant.shape {
                    Shape::Unary => "unary echo (µs per call)",
                    Shape::Stream => "one bidirectional stream (µs per message)",
                    Shape::Flood => "one bidirectional stream, flooded (µs per message)",
                };
                let _ = writeln!(out, "  {title}");
            }
            let paired = match position(variant.shape, "empty interceptor") {
                Some(empty) if variant.is_mcp_auth => format!(
                    "{}, {}",
                    interval(paired_in(cached, index, empty, Ratio::Throughput)),
                    interval(paired_in(cached, index, empty, Ratio::ServerCpu))
                ),
                _ => String::new(),
            };
            let med = |f: fn(&RunResult) -> f64| {
                median(&mut cached[index].iter().map(f).collect::<Vec<_>>())
            };
            let _ = writeln!(
                out,
                "  {:<33} {:>9.0} {:>8.3} {:>8.3}  {:<24} {:<24} {:<24} {paired}",
                variant.name,
                med(|r| r.per_second),
                med(|r| r.server_cpu_micros),
                med(|r| r.client_cpu_micros),
                interval(ratios_in(cached, index, Ratio::Throughput)),
                interval(ratios_in(cached, index, Ratio::ServerCpu)),
                interval(ratios_in(cached, index, Ratio::ClientCpu)),
            );
        }
    }

    let _ = writeln!(out, "\ntargets (issue 7), on both ratios");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    // The rounds a target is judged on: the second phase where the variant ran (its many
    // rounds resolve what the main rounds cannot), the main rounds otherwise; and their name.
    let judged_on = |index: usize, phase: &str| -> (&[Vec<RunResult>], String) {
        if cached[index].is_empty() {
            (results, format!("{rounds} main rounds"))
        } else {
            (cached, format!("{cached_rounds} {phase} rounds"))
        }
    };
    let both_in = |results: &[Vec<RunResult>], index: usize, floor: Option<usize>| {
        [Ratio::Throughput, Ratio::ServerCpu]
            .map(|kind| {
                let ratio = median(&mut ratios_in(results, index, kind));
                let floor = floor.map(|f| median(&mut ratios_in(results, f, kind)));
                let ok = ratio >= 0.97 && floor.is_none_or(|f| ratio >= f);
                let floor = floor.map_or(String::new(), |f| format!(", empty interceptor {f:.3}x"));
                format!("{ratio:.3}x{floor}: {}", verdict(ok))
            })
            .join(" | ")
    };
    for (index, variant) in variants.iter().enumerate() {
        // The adapter in tonic's server is a comparison, not what `server()` gives users.
        if variant.shape == Shape::Unary
            && variant.is_mcp_auth
            && variant.first_sight_of.is_none()
            && !variant.name.contains("tonic's server")
        {
            let (judged, source) = judged_on(index, "cached");
            // With call rate limits on, mcp-auth also counts the call, which the empty
            // interceptor does not: "not below the empty interceptor" is about the check, so
            // this variant is judged on 0.97x, and its comparison with the interceptor is
            // printed beside it, paired, as the others'.
            let limited = variant.name.contains("rate limit");
            let (floor, target) = if limited {
                (
                    None,
                    ">= 0.97x; the empty interceptor counts no rate limit, so beside it",
                )
            } else {
                (empty, ">= 0.97x and >= empty interceptor")
            };
            // The same comparison paired: each round's ratio over the empty interceptor's in
            // that round, so the host's drift from round to round cancels out.
            // The two medians can differ by less than either moves; the paired interval says
            // whether the difference is resolved.
            let paired = empty.map_or(String::new(), |empty| {
                [
                    (Ratio::Throughput, "calls/s"),
                    (Ratio::ServerCpu, "server CPU"),
                ]
                .map(|(kind, label)| {
                    let over = paired_in(judged, index, empty, kind);
                    let (lo, hi) = median_interval(&over);
                    let reading = if lo > 1.0 {
                        "cheaper, beyond the interval"
                    } else if hi < 1.0 {
                        "dearer, beyond the interval"
                    } else {
                        "the interval holds 1: a tie, whatever the two medians say"
                    };
                    format!(
                        "\n      {label} ratio to the empty interceptor, round by round \
                             (above 1: cheaper than it): {:.3}x (95 % interval \
                             {lo:.3}-{hi:.3}; {reading})",
                        median(&mut over.clone())
                    )
                })
                .concat()
            });
            let _ = writeln!(
                out,
                "  unary {:<34} {target} ({source}); calls/s {}{paired}",
                variant.name.trim_start_matches("mcp-auth, "),
                both_in(judged, index, floor).replacen(" | ", "; server CPU ", 1),
            );
        }
    }
    for (index, variant) in variants.iter().enumerate() {
        let Some(alg) = variant.first_sight_of else {
            continue;
        };
        let Some(plain) = position(Shape::Unary, &format!("plain, first sight {alg}")) else {
            continue;
        };
        let per_round: Vec<f64> = results[index]
            .iter()
            .zip(&results[plain])
            .map(|(r, p)| r.server_cpu_micros - p.server_cpu_micros)
            .collect();
        let (lo, hi) = min_max(&per_round);
        let added = median(&mut per_round.clone());
        // The decode alone of the same round, and what the variant adds beyond it, round by
        // round: the verdict on the decode alone is that median surplus.
        let (decode, surplus) = match decode_rounds.get(alg) {
            Some(decodes) if decodes.len() == per_round.len() => {
                let mut surplus: Vec<f64> =
                    per_round.iter().zip(decodes).map(|(a, d)| a - d).collect();
                (median(&mut decodes.clone()), median(&mut surplus))
            }
            _ => (f64::NAN, f64::NAN),
        };
        // The same decode inside the server: a hand-written verify interceptor given the same
        // new tokens, over plain tonic given them, round by round; where that variant did not
        // run, the interceptor given one token over the empty interceptor.
        let in_server = match (
            position(
                Shape::Unary,
                &format!("verify interceptor, first sight {alg}"),
            ),
            position(Shape::Unary, &format!("verify interceptor {alg}")),
            empty,
        ) {
            (Some(verify), ..) => median_difference(&results[verify], &results[plain]),
            (None, Some(verify), Some(empty)) => {
                median_difference(&results[verify], &results[empty])
            }
            _ => f64::NAN,
        };
        // The decode alone, its CPU burnt inside the server, over plain tonic.
        let burnt = position(
            Shape::Unary,
            &format!("interceptor burning decode, first sight {alg}"),
        )
        .map_or(f64::NAN, |burn| {
            median_difference(&results[burn], &results[plain])
        });
        let judge = |reference: f64| {
            if reference.is_nan() {
                "n/a".to_owned()
            } else {
                format!(
                    "{:.2} -> {:.2} ({})",
                    reference,
                    reference + 5.0,
                    verdict(added <= reference + 5.0)
                )
            }
        };
        let _ = writeln!(
            out,
            "  unary {:<28} adds {added:6.2} µs server CPU per call ({lo:.2}-{hi:.2}); decode + 5 µs:\n      \
             decode alone {decode:.2} (each round's), {surplus:+.2} beyond it round by round ({}); \
             that CPU burnt inside the server {}; the interceptor's decode of the same tokens {}",
            variant.name.trim_start_matches("mcp-auth, "),
            if surplus.is_nan() {
                "n/a"
            } else {
                verdict(surplus <= 5.0)
            },
            judge(burnt),
            judge(in_server),
        );
    }
    for (shape, label) in [(Shape::Stream, "stream"), (Shape::Flood, "flooded")] {
        for name in ["mcp-auth, expiry check", "mcp-auth, every check"] {
            if let Some(index) = position(shape, name) {
                let (judged, source) = judged_on(index, "second-phase");
                let variant = format!("{label}, {}", name.trim_start_matches("mcp-auth, "));
                let _ = writeln!(
                    out,
                    "  {variant:<38} >= 0.97x the unguarded stream ({source}); msgs/s {}",
                    both_in(judged, index, None).replacen(" | ", "; server CPU ", 1),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::median_interval;

    /// What the cached targets' intervals rest on: for 300 values, ranks 133 and 168 around
    /// the median, whatever the order they come in; none for fewer than 6 values.
    #[test]
    fn the_median_interval_is_the_order_statistics_around_the_median() {
        let values: Vec<f64> = (1..=300).rev().map(f64::from).collect();
        assert_eq!(median_interval(&values), (133.0, 168.0));
        assert_eq!(median_interval(&[5.0, 1.0, 4.0, 2.0, 3.0, 6.0]), (1.0, 6.0));
        let (lo, hi) = median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(lo.is_nan() && hi.is_nan());
    }
}
