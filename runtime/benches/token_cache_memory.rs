//! The memory of a full verified-token cache (10,000 entries, the default), printed, not a
//! criterion figure:
//!
//! - the heap the entries hold, counted by a global allocator that tallies live bytes and
//!   allocations: the token, the `Arc<StandardClaims>` and its strings, quick_cache's slots;
//! - VmRSS after glibc's `malloc_trim`, growth over the start of the measurement: first with
//!   the entries made one after the other on one thread, then with the entries made on four
//!   threads while each holds a window of short-lived buffers (as a server's streams and
//!   connections do), all freed at the end. The second is what a long-running server sees: each
//!   entry keeps the page it landed on, among memory that is free again.
//!
//! Tokens shaped like the soak test's (`iss`, `aud`, `sub`, two scopes, `iat`, `exp`: about 280
//! bytes) and larger ones (five scopes, `client_id`, `jti`: about 450 bytes), HS256, each
//! verified twice so the seen-once filter admits it.
//!
//! `cargo bench -p mcp-auth --bench token_cache_memory` (a second or two); see BENCHMARKS.md.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::{Authenticator, CallContext, StandardClaims};
use mcp_auth_bench_support::{CountingAllocator, live_blocks, live_bytes};
use serde_json::json;
use tonic::metadata::{MetadataMap, MetadataValue};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ISSUER: &str = "https://issuer.example/realms/tools";
const AUDIENCE: &str = "mcp-tools";
const SECRET: &[u8] = b"a benchmark secret of at least 32 bytes";
/// The cache's default capacity, filled exactly.
const ENTRIES: usize = 10_000;
/// Threads of the interleaved fill, and the short-lived buffers each holds at a time (64 to
/// 1,563 bytes, about 16 MiB in all).
const THREADS: usize = 4;
const HELD_PER_THREAD: usize = 5_000;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The `i`th distinct token: soak-shaped, or `large`.
fn token(i: usize, large: bool, now: u64) -> String {
    // Distinct by `iat` (and, when large, by `sub` and `jti`), all in the past.
    let n = i as u64;
    let claims = if large {
        let jti = format!("{:032x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": format!("user-{i:08}@tenant.example"),
            "scope": "tools:call files:read files:list resources:read prompts:get",
            "client_id": "mcp-desktop-client", "jti": jti, "iat": now - n, "exp": now + 3_600,
        })
    } else {
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": format!("subject-{}", i % 500),
            "scope": "tools:call files:read", "iat": now - n, "exp": now + 3_600,
        })
    };
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("HS256 signs")
}

fn authenticator() -> JwtAuthenticator<StandardClaims> {
    JwtAuthenticator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .verified_token_cache(ENTRIES)
        .build()
        .expect("the benchmark authenticator is valid")
}

fn authenticate(authenticator: &JwtAuthenticator<StandardClaims>, token: &str, now: u64) {
    let mut metadata = MetadataMap::new();
    metadata.insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("a token is ASCII"),
    );
    let extensions = tonic::Extensions::new();
    authenticator
        .authenticate(&CallContext {
            metadata: &metadata,
            extensions: &extensions,
            now,
        })
        .expect("the token verifies");
}

/// VmRSS in KiB after returning the allocator's free pages to the system.
fn trimmed_rss_kib() -> i64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and may be called at any time.
        unsafe {
            malloc_trim(0);
        }
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix("VmRSS:")?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Fills a fresh cache with `tokens` and prints what it holds. `interleaved`: on [`THREADS`]
/// threads, each holding short-lived buffers meanwhile.
fn fill(label: &str, tokens: &[String], interleaved: bool, now: u64) {
    let token_bytes: usize = tokens.iter().map(String::len).sum();
    let authenticator = authenticator();
    // The first call builds what is built once (lazy statics, the filter); not an entry's.
    authenticate(&authenticator, &token(ENTRIES, false, now), now);
    let (bytes, blocks, rss) = (live_bytes(), live_blocks(), trimmed_rss_kib());
    if interleaved {
        std::thread::scope(|scope| {
            for first in 0..THREADS {
                let authenticator = &authenticator;
                scope.spawn(move || {
                    let mut held = VecDeque::with_capacity(HELD_PER_THREAD + 4);
                    let mut state = first as u64 + 1;
                    for token in tokens.iter().skip(first).step_by(THREADS) {
                        for _ in 0..4 {
                            // xorshift64
                            state ^= state << 13;
                            state ^= state >> 7;
                            state ^= state << 17;
                            held.push_back(vec![1u8; 64 + (state % 1_500) as usize]);
                        }
                        authenticate(authenticator, token, now);
                        authenticate(authenticator, token, now);
                        while held.len() > HELD_PER_THREAD {
                            held.pop_front();
                        }
                    }
                });
            }
        });
    } else {
        for token in tokens {
            authenticate(&authenticator, token, now);
            authenticate(&authenticator, token, now);
        }
    }
    let bytes = live_bytes() - bytes;
    let blocks = live_blocks() - blocks;
    let rss = trimmed_rss_kib() - rss;
    println!(
        "token_cache/memory: {label}: {} tokens of {} bytes ({:.2} MiB): heap {:.2} MiB, {} bytes \
         and {:.1} allocations per entry; VmRSS (trimmed) +{:.1} MiB",
        tokens.len(),
        token_bytes / tokens.len(),
        token_bytes as f64 / 1_048_576.0,
        bytes as f64 / 1_048_576.0,
        bytes / tokens.len(),
        blocks as f64 / tokens.len() as f64,
        rss as f64 / 1024.0,
    );
}

fn main() {
    let now = unix_now();
    let soak: Vec<String> = (0..ENTRIES).map(|i| token(i, false, now)).collect();
    let large: Vec<String> = (0..ENTRIES).map(|i| token(i, true, now)).collect();
    fill("one thread", &soak, false, now);
    fill("one thread, larger tokens", &large, false, now);
    // Last: the threads' arenas keep some of what they used.
    fill("four threads among short-lived buffers", &soak, true, now);
}
