use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::io::tcp::TcpSettings;
use ::redis::{IntoConnectionInfo as _, Script, Value};

use super::{RateCheck, RateKey, RateLimit, RateLimiter, RateOutcome};
use crate::error::ConfigError;

/// GCRA for one budget, decided atomically on the Redis server with the server's own clock.
///
/// `KEYS[1]` is the budget. `ARGV[1]` is the emission interval T (nanoseconds between two events
/// at the sustained rate) and `ARGV[2]` the tolerance tau = T x burst, both whole nanoseconds.
/// The key holds the budget's theoretical arrival time (TAT) as `<seconds>.<nanoseconds>` of the
/// server's `TIME`. All arithmetic is on nanoseconds relative to now, which stay far below 2^53,
/// so Lua's doubles compute it exactly.
///
/// An event is allowed when `max(TAT, now) + T - now <= tau`; the TAT then moves forward by T
/// and the key expires when the TAT passes (a key that has expired carries no information: its
/// budget is full). A refused event changes nothing and returns how long until it would pass.
/// A TAT further ahead than tau (the server's clock went back, or someone else wrote the key) is
/// clamped, so a clock step never locks a caller out for longer than T.
///
/// Returns `{1, 0}` (allowed) or `{0, retry_after_ns}`.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now_s = tonumber(time[1])
local now_ns = tonumber(time[2]) * 1000
local ahead = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local s, ns = string.match(stored, '^(%d+)%.(%d+)$')
  if s then
    ahead = (tonumber(s) - now_s) * 1000000000 + (tonumber(ns) - now_ns)
  end
end
if ahead < 0 then ahead = 0 end
if ahead > tolerance then ahead = tolerance end
local next_ahead = ahead + interval
if next_ahead > tolerance then
  return {0, next_ahead - tolerance}
end
local tat_ns = now_ns + next_ahead
local tat_s = now_s + math.floor(tat_ns / 1000000000)
tat_ns = tat_ns % 1000000000
redis.call('SET', KEYS[1], string.format('%.0f.%09.0f', tat_s, tat_ns),
  'PX', string.format('%.0f', math.ceil(next_ahead / 1000000)))
return {1, 0}
";

/// The largest tolerance the script is given, in nanoseconds (about 52 days): Lua computes with
/// doubles, exact up to 2^53.
const MAX_TOLERANCE_NANOS: u64 = 1 << 52;

/// How often the connection manager retries one (re)connection before the attempt fails. A
/// failed attempt does not stop reconnection: the next check starts another. Kept low so that
/// checks during an outage fail fast instead of each waiting out a long back-off.
const CONNECTION_RETRIES: usize = 1;

/// How long data sent to Redis may stay unacknowledged before the kernel drops the connection
/// (Linux's `TCP_USER_TIMEOUT`). Without it, a server that vanishes without a reset (a failover
/// behind a black-holing network) keeps every check timing out until TCP gives up, which takes
/// about 15 minutes; with it the connection manager reconnects after this long.
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const DEAD_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket options of connections to Redis: no Nagle delay on the small requests of
/// concurrent checks, and dead connections detected (see [`DEAD_CONNECTION_TIMEOUT`]).
fn tcp_settings() -> TcpSettings {
    let settings = TcpSettings::default().set_nodelay(true);
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let settings = settings.set_user_timeout(DEAD_CONNECTION_TIMEOUT);
    settings
}

/// GCRA budgets in Redis, shared by every replica that talks to the same server: several
/// instances of a service enforce one budget per caller.
///
/// Each check runs one Lua script atomically on the server: the GCRA of the in-memory limiter
/// (same interval, same burst, same retry delay), timed by the server's own `TIME`, so replicas
/// whose clocks disagree still agree on every budget. The key of a budget is the configured
/// prefix followed by [`RateKey::to_key_string`] (the kind, the RPC and the caller), so the
/// limits of different RPCs never share a key. Every key expires by itself once its budget has
/// refilled: Redis holds only the callers active within one burst period. Requires Redis 5 or
/// later (or a compatible server such as Valkey); one key per script run, so a cluster slot
/// never matters, but the client speaks to one server (no cluster or sentinel client, no TLS).
///
/// A check that gets no answer within the timeout (default
/// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)), an error from Redis or a reply the script
/// cannot give is [`RateOutcome::Unavailable`]: the authorizer then refuses the call with
/// `UNAVAILABLE` and audits it (reason `rate_limiter_unavailable`), unless it was built with
/// [`allow_when_rate_limiter_unavailable`](crate::AuthorizerBuilder::allow_when_rate_limiter_unavailable).
/// The connection is redis-rs's `ConnectionManager`, which reconnects by itself once Redis is
/// back; the script is sent by hash (`EVALSHA`) and loaded again when the server answers
/// `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
///
/// Emission intervals are whole nanoseconds (`1 s / per_second`, truncated, as in the
/// in-memory limiter), and the tolerance (`interval x burst`) is capped at about 52 days.
///
/// ```no_run
/// # async fn example(authenticator: mcp_auth::jwt::JwtAuthenticator) -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_auth::rate_limit::RedisRateLimiter;
///
/// let limiter = RedisRateLimiter::builder("redis://10.0.0.5:6379/0")
///     .key_prefix("tools-prod:rate:")
///     .timeout(std::time::Duration::from_millis(100))
///     .connect()
///     .await?;
/// let authorizer = mcp_auth::Authorizer::builder()
///     .token(authenticator)
///     .rate_limiter(limiter)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: Arc<Script>,
    prefix: Arc<str>,
    timeout: Duration,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its URL may hold a password.
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// The prefix of every key unless [`RedisRateLimiterBuilder::key_prefix`] sets another.
    pub const DEFAULT_PREFIX: &'static str = "mcp-auth:rate:";

    /// How long a check waits for Redis unless [`RedisRateLimiterBuilder::timeout`] sets
    /// otherwise: 250 ms.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

    /// How long one connection attempt may take unless
    /// [`RedisRateLimiterBuilder::connect_timeout`] sets otherwise: 1 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Connects to the Redis server at `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `redis+unix:///path`) with the default prefix and timeouts.
    ///
    /// Fails when the URL is invalid or the first connection fails: the server cannot be
    /// reached, does not answer `PING`, refuses the credentials, or cannot load the script.
    /// Call it from within a tokio runtime; the connection's background task runs there.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        Self::builder(url).connect().await
    }

    /// Starts a configuration for the Redis server at `url`.
    pub fn builder(url: impl Into<String>) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            url: url.into(),
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a check waits for Redis.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The Redis key of `key`'s budget.
    pub fn key(&self, key: &RateKey<'_>) -> String {
        format!("{}{}", self.prefix, key.to_key_string())
    }
}

impl RateLimiter for RedisRateLimiter {
    fn check(&self, key: &RateKey<'_>, limit: RateLimit) -> RateCheck {
        let key = self.key(key);
        let (interval, tolerance) = gcra_parameters(limit);
        let mut connection = self.connection.clone();
        let script = Arc::clone(&self.script);
        let timeout = self.timeout;
        RateCheck::Pending(Box::pin(async move {
            let mut invocation = script.prepare_invoke();
            invocation.key(key).arg(interval).arg(tolerance);
            let reply = invocation.invoke_async::<Value>(&mut connection);
            let timed_out = || {
                RateOutcome::Unavailable(format!(
                    "redis: no answer within {} ms",
                    timeout.as_millis()
                ))
            };
            match tokio::time::timeout(timeout, reply).await {
                Ok(Ok(reply)) => outcome(&reply).unwrap_or_else(|| {
                    RateOutcome::Unavailable(
                        "redis: unexpected reply to the rate-limit script".to_owned(),
                    )
                }),
                // The connection's own response timeout is the same one.
                Ok(Err(error)) if error.is_timeout() => timed_out(),
                Ok(Err(error)) => RateOutcome::Unavailable(format!("redis: {error}")),
                Err(_) => timed_out(),
            }
        }))
    }
}

/// The emission interval and the tolerance of `limit`, in nanoseconds.
fn gcra_parameters(limit: RateLimit) -> (u64, u64) {
    // `RateLimit::new` raises zeros to 1; the fields are public, so do it here too.
    let per_second = u64::from(limit.per_second.max(1));
    let burst = u64::from(limit.burst.max(1));
    // Rounded up: a rounded-down interval would let a high rate through faster than set.
    let interval = 1_000_000_000u64.div_ceil(per_second);
    let tolerance = interval.saturating_mul(burst).min(MAX_TOLERANCE_NANOS);
    (interval, tolerance.max(interval))
}

/// The script's reply as an outcome; `None` for anything the script does not return.
fn outcome(reply: &Value) -> Option<RateOutcome> {
    let Value::Array(items) = reply else {
        return None;
    };
    match items.as_slice() {
        [Value::Int(1), Value::Int(0)] => Some(RateOutcome::Allowed),
        [Value::Int(0), Value::Int(retry)] if *retry > 0 => Some(RateOutcome::Limited {
            retry_after: Duration::from_nanos(u64::try_from(*retry).ok()?),
        }),
        _ => None,
    }
}

/// Configures a [`RedisRateLimiter`].
pub struct RedisRateLimiterBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
}

impl fmt::Debug for RedisRateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("RedisRateLimiterBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiterBuilder {
    /// Starts every key with `prefix` (default [`RedisRateLimiter::DEFAULT_PREFIX`]). Replicas
    /// that enforce one budget must use the same prefix; services that must not share budgets
    /// in one Redis database use different ones.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a check waits for Redis before it counts as unavailable (default
    /// [`RedisRateLimiter::DEFAULT_TIMEOUT`]). This is added to a call's latency while Redis is
    /// slow or unreachable; it must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long one attempt to (re)connect may take (default
    /// [`RedisRateLimiter::DEFAULT_CONNECT_TIMEOUT`]); it must not be zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects, checks that the server answers `PING` and loads the script.
    ///
    /// Fails when the URL is invalid, a timeout is zero or the first connection fails. Call it
    /// from within a tokio runtime; the connection's background task runs there.
    pub async fn connect(self) -> Result<RedisRateLimiter, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "the Redis rate limiter's timeout must not be zero",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "the Redis rate limiter's connect timeout must not be zero",
            ));
        }
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(|error| ConfigError::new(format!("invalid Redis URL: {error}")))?;
        let client = ::redis::Client::open(info.set_tcp_settings(tcp_settings()))
            .map_err(|error| ConfigError::new(format!("invalid Redis URL: {error}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(CONNECTION_RETRIES)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let unreachable = |error: ::redis::RedisError| {
            ConfigError::new(format!("cannot use Redis for rate limits: {error}"))
        };
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        let pong: String = ::redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(unreachable)?;
        if pong != "PONG" {
            return Err(ConfigError::new(
                "cannot use Redis for rate limits: the server did not answer PING with PONG",
            ));
        }
        let script = Script::new(GCRA);
        script
            .prepare_invoke()
            .load_async(&mut connection)
            .await
            .map_err(unreachable)?;
        Ok(RedisRateLimiter {
            connection,
            script: Arc::new(script),
            prefix: self.prefix.into(),
            timeout: self.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_in_memory_limiter() {
        assert_eq!(
            gcra_parameters(RateLimit::new(1, 3)),
            (1_000_000_000, 3_000_000_000)
        );
        assert_eq!(
            gcra_parameters(RateLimit::new(1_000, 2_000)),
            (1_000_000, 2_000_000_000)
        );
        // Rounded up to whole nanoseconds: never faster than the rate set.
        assert_eq!(gcra_parameters(RateLimit::new(3, 1)).0, 333_333_334);
        // Zeros written into the public fields are raised to 1.
        let zero = RateLimit {
            per_second: 0,
            burst: 0,
        };
        assert_eq!(gcra_parameters(zero), (1_000_000_000, 1_000_000_000));
        // Faster than a nanosecond, and a tolerance beyond what doubles hold exactly.
        assert_eq!(gcra_parameters(RateLimit::new(u32::MAX, 1)), (1, 1));
        assert_eq!(
            gcra_parameters(RateLimit::new(1, u32::MAX)),
            (1_000_000_000, MAX_TOLERANCE_NANOS)
        );
    }

    #[test]
    fn only_the_two_replies_of_the_script_are_outcomes() {
        let reply = |a, b| Value::Array(vec![Value::Int(a), Value::Int(b)]);
        assert_eq!(outcome(&reply(1, 0)), Some(RateOutcome::Allowed));
        assert_eq!(
            outcome(&reply(0, 250_000_000)),
            Some(RateOutcome::Limited {
                retry_after: Duration::from_millis(250)
            })
        );
        for garbage in [
            reply(1, 5),
            reply(0, 0),
            reply(0, -1),
            reply(2, 0),
            Value::Nil,
            Value::Int(1),
            Value::Okay,
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Int(1), Value::Int(0), Value::Int(0)]),
            Value::Array(vec![
                Value::BulkString(b"1".to_vec()),
                Value::BulkString(b"0".to_vec()),
            ]),
        ] {
            assert_eq!(outcome(&garbage), None, "{garbage:?}");
        }
    }
}
