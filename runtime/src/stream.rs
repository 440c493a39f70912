//! Streams under guard: the inbound stream of a client- or bidirectional-streaming call, checked
//! message by message, and the response stream of a server-streaming call, ended at expiry.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};

use tonic::codegen::tokio_stream::Stream;
use tonic::{Status, Streaming};

use crate::audit::{AuditEvent, Auditor, Decision};
use crate::authorizer::Limits;
use crate::clock::{Clock, Sleep};
use crate::error::AuthError;
use crate::policy::MethodPolicy;
use crate::rate_limit::{Budget, RateCheck, RateKey, RateKind, RateLimit, RateOutcome};
use crate::tools::{GrantedScopes, Routed, TOOL_HEADER};

mod decoded;

pub(crate) use decoded::split;
pub use decoded::{ExpiringBody, GuardCodec, GuardDecoder, GuardedBody, StreamFinish};

/// A rate-limit decision a remote store has not given yet.
type PendingCheck = Pin<Box<dyn Future<Output = RateOutcome> + Send>>;

/// The per-message rate limit of one stream: the caller's budget for the RPC's messages,
/// shared with its other streams.
#[derive(Debug)]
pub(crate) struct MessageLimit {
    pub(crate) limits: Limits,
    pub(crate) limit: RateLimit,
    pub(crate) identity: Arc<str>,
}

/// How many messages may pass between two reads of the clock while the expiry timer is armed
/// and silent: a backstop for a runtime that does not get to its timers (a task that never
/// yields on a current-thread runtime). Each read costs a few tens of nanoseconds, so a read
/// every 64 messages was still a tenth of the guard's cost per message.
const READ_CLOCK_EVERY: u32 = 1024;

/// Within this many seconds of the deadline the clock is read for every message, so a late
/// timer cannot let a message through after the deadline. The first timer is set for this long
/// before the deadline: when it rings, the clock is read and the stream is near from then on.
const NEAR_SECS: u64 = 2;

/// Rings when a stream's expiry timer fires: sets a flag the stream reads per message instead
/// of the clock, and wakes the stream's task if it is waiting for a message.
///
/// Clearing the flag and then reading the deadline, against storing a new deadline and then
/// ringing, is the store-buffering pattern: both sides use `SeqCst`, so a reader that missed
/// the new deadline always sees the ring (with weaker orderings it could miss both). The
/// per-message read of the flag is a plain acquire load.
///
/// A stream checked in tonic's decoder (the generated server, [`StreamGuard::split`]) keeps
/// its messages counted ahead (`fast`) and its refusal (`done`) here too, beside `rang`: its
/// decoder's fast path reads one cache line. Only the call's own task touches `fast` (tonic
/// polls the decoder and the body from the handler's stream), so it is loaded and stored,
/// never read-modify-written.
#[derive(Default)]
struct Alarm {
    rang: AtomicBool,
    /// Messages the decoder may pass with no check but `rang` ([`decoded`]'s `Checks::grant`).
    fast: AtomicU32,
    /// The decoder-checked stream was refused: a message that calls a tool is refused again
    /// without being decoded.
    done: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Alarm {
    #[inline]
    fn rang(&self) -> bool {
        self.rang.load(Ordering::Acquire)
    }

    /// Counts a message about to be decoded when it was counted ahead and the alarm is
    /// silent; `false` leaves it to the decoder's slow path.
    #[inline(always)]
    fn take_fast(&self) -> bool {
        let fast = self.fast.load(Ordering::Relaxed);
        if fast > 0 && !self.rang() {
            self.fast.store(fast - 1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Whether a decoder-checked stream was refused.
    #[inline]
    fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Wakes `waker` when the timer fires.
    fn register(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if !task.as_ref().is_some_and(|task| task.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }
}

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rang.store(true, Ordering::SeqCst);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// Ends a stream at a deadline of the clock.
///
/// The deadline is shared: a re-authentication on the inbound stream moves it for the
/// response stream of the same call too ([`Expiry::move_to`] rings every deadline following it).
///
/// Per message the deadline costs a counter and one load, not a clock read, until it is near:
/// a timer set for [`NEAR_SECS`] before the deadline (armed at the first message or the first
/// wait, re-armed when the deadline moves) rings an [`Alarm`], and the clock is read when it
/// has rung, when the deadline moved (which rings it too), for every message in the last
/// [`NEAR_SECS`], and every [`READ_CLOCK_EVERY`] messages. The clock alone decides: a timer
/// that rings early (the clock set back) is re-armed, and one that rings late (the clock set
/// forward, a suspended machine: [`SystemClock`](crate::clock::SystemClock) re-reads the wall
/// clock at least every second while it waits) cannot let a message through past the deadline
/// by more than that.
struct Deadline {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    alarm: Arc<Alarm>,
    /// Wakes `alarm`: the waker the timer is polled with.
    alarm_waker: Waker,
    /// The timer, the deadline it was set for, and the time it rings at (before the deadline
    /// until the stream is near it).
    sleep: Option<(u64, u64, Sleep)>,
    /// Messages that may still pass without a read of the clock while the alarm is silent: 0
    /// until the timer is armed for the current deadline, and from when the deadline is near.
    quiet: u32,
    /// The timer is armed for the deadline as it was when the alarm was last cleared.
    armed: bool,
    /// The deadline was less than [`NEAR_SECS`] away at the last read of the clock.
    near: bool,
}

/// The deadline of one call and the alarms of the deadlines that follow it.
#[derive(Debug)]
struct Shared {
    at: AtomicU64,
    /// Weak: a stream that ended does not keep its alarm (and the task it would wake) alive.
    alarms: Mutex<Vec<Weak<Alarm>>>,
}

impl Deadline {
    fn new(expiry: Expiry, clock: &Arc<dyn Clock>) -> Option<Self> {
        expiry.0.map(|shared| {
            let alarm = Arc::new(Alarm::default());
            shared
                .alarms
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::downgrade(&alarm));
            Self {
                shared,
                clock: Arc::clone(clock),
                alarm_waker: Waker::from(Arc::clone(&alarm)),
                alarm,
                sleep: None,
                quiet: 0,
                armed: false,
                near: false,
            }
        })
    }

    fn at(&self) -> u64 {
        self.shared.at.load(Ordering::SeqCst)
    }

    /// Takes up to `most` of the messages that may pass without a read of the clock, for a
    /// guard's fast path; see [`GuardedStream::grant`].
    fn take_quiet(&mut self, most: u32) -> u32 {
        let taken = self.quiet.min(most);
        self.quiet -= taken;
        taken
    }

    /// Whether the deadline has passed, asked for each message.
    #[inline(always)]
    fn passed(&mut self) -> bool {
        if self.quiet > 0 && !self.alarm.rang() {
            self.quiet -= 1;
            return false;
        }
        self.read_clock()
    }

    /// [`passed`](Self::passed) with the clock read and the timer (re)armed or polled.
    #[cold]
    #[inline(never)]
    fn read_clock(&mut self) -> bool {
        // Cleared before the deadline is read: a move after the read rings the alarm again.
        self.alarm.rang.store(false, Ordering::SeqCst);
        let at = self.at();
        let now = self.clock.now();
        if now >= at {
            return true;
        }
        self.near = at - now <= NEAR_SECS;
        self.armed = false;
        if self.poll_timer().is_ready() {
            return true;
        }
        self.quiet = if self.near || !self.armed {
            0
        } else {
            READ_CLOCK_EVERY
        };
        false
    }

    /// Ready once the deadline has passed, following moves of the deadline; asked while the
    /// stream waits, and wakes the task when the timer fires.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before looking at the flag: a timer that fires after this wakes the task,
        // one that fired before has set the flag.
        self.alarm.register(cx.waker());
        if self.armed && !self.alarm.rang() {
            return Poll::Pending;
        }
        self.alarm.rang.store(false, Ordering::SeqCst);
        self.armed = false;
        self.quiet = 0;
        self.poll_timer()
    }

    /// Polls the timer with the alarm's waker, (re)arming it for the current deadline first:
    /// Ready once the clock says the deadline has passed. A timer that rang is only a reason to
    /// read the clock: before the deadline it is set again, for the deadline itself once near.
    /// The alarm was cleared before the caller last read the deadline; `armed` is set when the
    /// timer is pending for the deadline read here.
    fn poll_timer(&mut self) -> Poll<()> {
        // A clock whose timer keeps ringing before its own time says the deadline is near is
        // broken; after a few tries the answer is "not yet", and each message reads the clock.
        for _ in 0..4 {
            let at = self.at();
            let ring_at = if self.near {
                at
            } else {
                at.saturating_sub(NEAR_SECS)
            };
            let sleep = match &mut self.sleep {
                Some((armed_for, rings, sleep)) if *armed_for == at && *rings == ring_at => sleep,
                slot => {
                    &mut slot
                        .insert((at, ring_at, self.clock.sleep_until(ring_at)))
                        .2
                }
            };
            if sleep
                .as_mut()
                .poll(&mut Context::from_waker(&self.alarm_waker))
                .is_pending()
            {
                self.armed = true;
                return Poll::Pending;
            }
            // Rang: read the clock (a move of the deadline meanwhile is read on the next turn).
            self.alarm.rang.store(false, Ordering::SeqCst);
            if self.at() != at {
                continue;
            }
            let now = self.clock.now();
            if now >= at {
                return Poll::Ready(());
            }
            // Rang before the deadline: near it now (or the clock was set back); wait again.
            self.near = at - now <= NEAR_SECS;
            self.sleep = None;
        }
        self.near = true;
        Poll::Pending
    }
}

/// When a call's credentials stop being valid, shared by its inbound and response streams.
#[derive(Debug, Clone, Default)]
pub struct Expiry(Option<Arc<Shared>>);

impl Expiry {
    /// No expiry (public RPCs, `unchecked_expiry`).
    pub fn never() -> Self {
        Self(None)
    }

    /// Whether this is [`Expiry::never`].
    pub(crate) fn is_never(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn at(expires_at: Option<u64>) -> Self {
        Self(expires_at.map(|at| {
            Arc::new(Shared {
                at: AtomicU64::new(at),
                alarms: Mutex::new(Vec::new()),
            })
        }))
    }

    /// Moves the deadline (a re-authentication) and rings every stream following it, so each
    /// reads the new one at its next message or while it waits.
    fn move_to(shared: &Shared, at: u64) {
        shared.at.store(at, Ordering::SeqCst);
        let alarms = shared.alarms.lock().unwrap_or_else(PoisonError::into_inner);
        for alarm in alarms.iter().filter_map(Weak::upgrade) {
            alarm.wake_by_ref();
        }
    }
}

/// Reads what the guard needs from a stream's messages; written by the generated code from the
/// proto (`tool_name_field`, `reauth_token_field`).
pub struct StreamHooks<T> {
    /// The tool a message calls, when the RPC carries tool calls.
    pub tool_name: Option<fn(&T) -> Option<&str>>,
    /// Takes the fresh token out of a message (leaving the field empty), when the RPC allows
    /// in-band re-authentication.
    pub reauth_token: Option<fn(&mut T) -> String>,
}

impl<T> StreamHooks<T> {
    /// No hooks.
    pub const NONE: Self = Self {
        tool_name: None,
        reauth_token: None,
    };
}

impl<T> fmt::Debug for StreamHooks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamHooks")
            .field("tool_name", &self.tool_name.is_some())
            .field("reauth_token", &self.reauth_token.is_some())
            .finish()
    }
}

/// The caller's credentials after an in-band re-authentication.
pub(crate) struct Renewed {
    pub(crate) granted: Arc<dyn GrantedScopes>,
    pub(crate) expires_at: u64,
}

/// Verifies a fresh token presented on a stream for the stream's subject.
pub(crate) type Reauthenticate = Arc<dyn Fn(&str) -> Result<Renewed, AuthError> + Send + Sync>;

/// The stream a streaming handler receives instead of [`tonic::Streaming`].
///
/// Before each message reaches the handler, the guard
/// - takes a fresh token out of the message and re-authenticates with it, when the proto names
///   a `reauth_token_field`: the token must verify and name the same subject, and from then on
///   its expiry and scopes apply; a bad one ends the stream;
/// - re-checks the caller's credential expiry (unless the proto sets `unchecked_expiry`): an
///   expired token ends the stream with `UNAUTHENTICATED` ("token expired; reconnect with fresh
///   credentials"), and so does reaching the expiry while no message arrives;
/// - when the stream was opened with `mcp_tool` metadata (for proxies), checks that the message
///   calls exactly that tool: another ends the stream with `INVALID_ARGUMENT`;
/// - checks the tool the message calls against the caller's scopes, when the RPC carries tool
///   calls (unless the proto sets `unchecked_message_scopes`): a tool the caller may not call
///   ends the stream with `PERMISSION_DENIED`;
/// - counts the message against the caller's message budget for the RPC (unless the proto sets
///   `unlimited_messages`), shared by all its streams: over budget ends the stream with
///   `RESOURCE_EXHAUSTED` and the retry delay.
///
/// A refused message never reaches the handler, and nothing after it is read. The stream ends
/// after the first error it yields, a refusal or not: after an error of tonic's (a frame it
/// cannot read, a message it cannot decode, a failed body), tonic's own stream would read on
/// from the middle of a message, or repeat the error.
///
/// Served by the generated server, the checks that need no wait run inside tonic's decode and
/// the deadline's timer on the request body, and this stream passes tonic's messages straight
/// through (see [`StreamGuard`]); it is the same stream either way to the handler.
pub struct GuardedStream<T> {
    inner: Streaming<T>,
    /// The decoder and the body check (the generated server): pass `inner` through until it
    /// fails, and end there. Cleared at the first error (the stream has ended, and
    /// [`poll_checked`](Self::poll_checked) sees `ended`) and in every other mode; every
    /// field but `ended` is inert while it is set.
    through: bool,
    /// The expiry the stream enforces, for the response stream of the same call.
    expiry: Expiry,
    /// Messages that may pass with no check but the deadline's alarm: as many as both the
    /// deadline lets pass without a clock read and the budget holds in stock (the smaller of
    /// the two), taken out of `deadline` and `budget` ahead by [`grant`](Self::grant) and put
    /// back by [`settle`](Self::settle) before anything else looks at them. Every look at the
    /// deadline or the budget happens while it is 0; it stays 0 unless `fast_allowed`, and
    /// after a refusal or the end.
    fast: u32,
    /// Whether a message can need no more than the expiry check and the in-process budget:
    /// no tool or token hooks, and a budget whenever there is a limit. Set once: none of
    /// them changes during the stream. A check added to [`check`](Self::check) must clear it.
    fast_allowed: bool,
    /// The deadline's alarm, or one of the stream's own that nothing rings when it has no
    /// deadline: read on the fast path without going through the `Option`.
    alarm: Arc<Alarm>,
    policy: &'static MethodPolicy,
    subject: Option<Arc<str>>,
    deadline: Option<Deadline>,
    auditor: Auditor,
    limit: Option<MessageLimit>,
    /// The caller's message budget, looked up at open, when the limiter keeps it in this
    /// process; otherwise every message asks the limiter.
    budget: Option<Budget>,
    granted: Option<Arc<dyn GrantedScopes>>,
    hooks: StreamHooks<T>,
    reauthenticate: Option<Reauthenticate>,
    /// The tool the stream's `mcp_tool` metadata names.
    routed_tool: Routed,
    /// A message waiting for a rate-limit decision from a remote store.
    checking: Option<(Box<T>, PendingCheck)>,
    ended: bool,
}

/// Everything a guard is made of, gathered by the authorizer.
pub(crate) struct GuardParts<T> {
    pub(crate) policy: &'static MethodPolicy,
    pub(crate) subject: Option<Arc<str>>,
    pub(crate) expiry: Expiry,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) auditor: Auditor,
    pub(crate) limit: Option<MessageLimit>,
    pub(crate) budget: Option<Budget>,
    pub(crate) granted: Option<Arc<dyn GrantedScopes>>,
    pub(crate) hooks: StreamHooks<T>,
    pub(crate) reauthenticate: Option<Reauthenticate>,
    pub(crate) routed_tool: Routed,
}

/// Puts back `unspent` messages a guard counted ahead and did not spend, before anything else
/// looks at the deadline or the budget.
#[inline]
fn put_back(unspent: u32, deadline: Option<&mut Deadline>, budget: Option<&mut Budget>) {
    if unspent > 0 {
        if let Some(deadline) = deadline {
            debug_assert!(deadline.quiet.checked_add(unspent).is_some());
            deadline.quiet += unspent;
        }
        if let Some(budget) = budget {
            budget.put_back(unspent);
        }
    }
}

/// After a message passed: takes ahead as many messages as both the deadline lets pass
/// without a read of the clock and the budget holds in stock (all of them when there is
/// neither), for a guard's fast path.
#[inline]
fn take_ahead(mut deadline: Option<&mut Deadline>, budget: Option<&mut Budget>) -> u32 {
    let quiet = deadline.as_ref().map_or(u32::MAX, |d| d.quiet);
    let most = match budget {
        Some(budget) => budget.take_stock(quiet),
        None => quiet,
    };
    match deadline.as_mut() {
        Some(deadline) => deadline.take_quiet(most),
        None => most,
    }
}

/// The audit event of a stream's refusal.
fn refusal_event<'a>(
    policy: &'static MethodPolicy,
    subject: Option<&'a str>,
    error: &AuthError,
    detail: &'a str,
) -> AuditEvent<'a> {
    AuditEvent {
        method: policy.path,
        subject,
        certificate: None,
        decision: Decision::Deny,
        reason: error.reason(),
        detail: Some(detail),
    }
}

/// The guard of one streaming call's inbound stream, made when the caller is admitted and
/// before tonic reads the stream: what [`Authorizer::stream_guard`](crate::Authorizer::stream_guard)
/// returns.
///
/// Either it wraps tonic's [`Streaming`] as a [`GuardedStream`] that checks every message
/// ([`guard`](Self::guard): tonic's generated server, through the adapter), or mcp-auth's
/// generated server splits it between tonic's decoder, the request body and a stream that
/// passes the messages through, which costs a flood of small messages less (BENCHMARKS.md,
/// Fixed 23). The handler gets a [`GuardedStream`] either way.
pub struct StreamGuard<T> {
    parts: GuardParts<T>,
}

impl<T> StreamGuard<T> {
    pub(crate) fn new(parts: GuardParts<T>) -> Self {
        Self { parts }
    }

    /// The expiry the guard enforces, for the response stream of the same call; a
    /// re-authentication on the inbound stream moves it.
    pub fn expiry(&self) -> Expiry {
        self.parts.expiry.clone()
    }

    /// Wraps tonic's stream in the guard.
    pub fn guard(self, inner: Streaming<T>) -> GuardedStream<T> {
        GuardedStream::new(inner, self.parts)
    }

    /// Splits the guard for a call tonic has not started: `codec`'s decoder checks each
    /// message as it decodes it, `body` (the request's) gives back what was counted ahead
    /// and ends the call at the expiry while no message comes, and the [`StreamFinish`]
    /// makes the handler's stream from tonic's ([`StreamFinish::stream`]). Streams whose
    /// checks do not fit in a decode (re-authentication, a limiter that keeps no budget in
    /// this process) keep every check on the handler's stream.
    #[doc(hidden)]
    pub fn split<C, B>(self, codec: C, body: B) -> (GuardCodec<C>, GuardedBody<B>, StreamFinish<T>)
    where
        C: tonic::codec::Codec<Decode = T>,
    {
        split(self.parts, codec, body)
    }
}

impl<T> fmt::Debug for StreamGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamGuard")
            .field("method", &self.parts.policy.path)
            .field("subject", &self.parts.subject)
            .finish_non_exhaustive()
    }
}

impl<T> StreamFinish<T> {
    /// The handler's stream, from tonic's.
    pub fn stream(self, inner: Streaming<T>) -> GuardedStream<T> {
        match self.0 {
            decoded::Finish::Stream(parts) => GuardedStream::new(inner, *parts),
            decoded::Finish::Decoded {
                alarm,
                expiry,
                policy,
                subject,
            } => GuardedStream {
                inner,
                through: true,
                alarm,
                expiry,
                fast: 0,
                fast_allowed: false,
                policy,
                subject,
                deadline: None,
                auditor: Auditor::default(),
                limit: None,
                budget: None,
                granted: None,
                hooks: StreamHooks::NONE,
                reauthenticate: None,
                routed_tool: Routed::Absent,
                checking: None,
                ended: false,
            },
        }
    }
}

impl<T> GuardedStream<T> {
    pub(crate) fn new(inner: Streaming<T>, parts: GuardParts<T>) -> Self {
        let expiry = parts.expiry.clone();
        let deadline = Deadline::new(parts.expiry, &parts.clock);
        let fast_allowed = parts.hooks.tool_name.is_none()
            && parts.hooks.reauth_token.is_none()
            && (parts.budget.is_some() || parts.limit.is_none());
        Self {
            inner,
            through: false,
            expiry,
            fast: 0,
            fast_allowed,
            alarm: deadline
                .as_ref()
                .map_or_else(Arc::default, |d| Arc::clone(&d.alarm)),
            policy: parts.policy,
            subject: parts.subject,
            deadline,
            auditor: parts.auditor,
            limit: parts.limit,
            budget: parts.budget,
            granted: parts.granted,
            hooks: parts.hooks,
            reauthenticate: parts.reauthenticate,
            routed_tool: parts.routed_tool,
            checking: None,
            ended: false,
        }
    }

    /// The expiry this stream enforces, for the response stream of the same call.
    #[doc(hidden)]
    pub fn expiry(&self) -> Expiry {
        self.expiry.clone()
    }

    /// The next message, `Ok(None)` at the end of the stream, or the error that ended it.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Ends the stream with `error`, auditing the refusal.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, error: &AuthError) -> Poll<Option<Result<T, Status>>> {
        self.end();
        let detail = error.to_string();
        self.auditor.record(&refusal_event(
            self.policy,
            self.subject.as_deref(),
            error,
            &detail,
        ));
        Poll::Ready(Some(Err(error.to_status())))
    }

    /// Decides on a message the rate limiter has answered for.
    #[inline(never)]
    fn admit(&mut self, message: T, outcome: RateOutcome) -> Poll<Option<Result<T, Status>>> {
        let decision = match &self.limit {
            Some(limit) => {
                let key = RateKey {
                    method: self.policy.path,
                    kind: RateKind::Message,
                    identity: &limit.identity,
                };
                limit.limits.decide(outcome, &key)
            }
            None => Ok(()),
        };
        match decision {
            Ok(()) => Poll::Ready(Some(Ok(message))),
            Err(error) => self.refuse(&error),
        }
    }

    /// Applies a fresh token carried by `message`; `Ok(true)` when the message carried only
    /// the token and is not passed on.
    fn reauthenticate(&mut self, message: &mut T) -> Result<bool, AuthError> {
        let (Some(take), Some(verify)) = (self.hooks.reauth_token, &self.reauthenticate) else {
            return Ok(false);
        };
        let token = take(message);
        if token.is_empty() {
            return Ok(false);
        }
        let renewed = verify(&token)?;
        self.granted = Some(renewed.granted);
        if let Some(deadline) = &self.deadline {
            Expiry::move_to(&deadline.shared, renewed.expires_at);
        }
        let only_token = self
            .hooks
            .tool_name
            .is_some_and(|name| name(message).is_none_or(str::is_empty));
        Ok(only_token)
    }

    fn check_tool(&self, message: &T) -> Result<(), AuthError> {
        let (Some(name), Some(rules), Some(granted)) =
            (self.hooks.tool_name, self.policy.tools, &self.granted)
        else {
            return Ok(());
        };
        // Not relaxed by `unchecked_message_scopes`: a proxy decided on the header.
        self.routed_tool.check(TOOL_HEADER, name(message))?;
        if !self.policy.stream.message_scopes {
            return Ok(());
        }
        rules.check(name(message), &**granted)
    }
}

impl<T> Stream for GuardedStream<T> {
    type Item = Result<T, Status>;

    /// Checked as tonic decoded it (the generated server): tonic's answer as it is, written
    /// by tonic's call straight where this one's goes (nothing copied), and nothing after an
    /// error. Every refusal reaches the handler as tonic's error (the decoder's or the
    /// body's), and no error of tonic's `Streaming` leaves it fit to read on: after a
    /// message it could not decode its framing is lost, after a failed body it repeats the
    /// error once. The flag read here is the stream's own, beside tonic's, so the fast path
    /// loads nothing from the shared alarm (BENCHMARKS.md, Fixed 24).
    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !this.through {
            return this.poll_checked(cx);
        }
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            this.through = false;
            this.ended = true;
        }
        polled
    }
}

impl<T> GuardedStream<T> {
    /// Every check here (tonic's server through the adapter, re-authentication, a remote
    /// limiter).
    #[inline(never)]
    fn poll_checked(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        // The fast path: a message counted ahead, while the deadline's alarm is silent.
        if self.fast > 0 {
            debug_assert!(self.fast_allowed && !self.ended && self.checking.is_none());
            return match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) if !self.alarm.rang() => {
                    self.fast -= 1;
                    Poll::Ready(Some(Ok(message)))
                }
                other => self.leave_fast_path(other, cx),
            };
        }
        self.poll_slow(cx)
    }
}

impl<T> GuardedStream<T> {
    /// Puts back what the fast path took ahead and did not spend.
    #[inline]
    fn settle(&mut self) {
        let unspent = std::mem::take(&mut self.fast);
        put_back(unspent, self.deadline.as_mut(), self.budget.as_mut());
    }

    /// Ends the stream: what the fast path took ahead and the budget's stock go back, so the
    /// caller's other streams can spend them.
    fn end(&mut self) {
        self.settle();
        self.ended = true;
        self.checking = None;
        if let Some(budget) = &mut self.budget {
            budget.release();
        }
    }

    /// After a message passed the checks (so the stream has not ended and waits for no
    /// limiter): takes ahead as many messages as both the deadline and the budget let pass
    /// without a look, when that is all a message needs.
    #[inline]
    fn grant(&mut self) {
        debug_assert_eq!(self.fast, 0);
        if !self.fast_allowed {
            return;
        }
        self.fast = take_ahead(self.deadline.as_mut(), self.budget.as_mut());
    }

    /// The fast path's message was not a plain one, or the alarm rang: settles, then goes the
    /// slow way with what the inner stream gave. A stream that waits between its messages
    /// comes here at every wait; `#[cold]` only lays the fast path out as the straight line
    /// (a message that waited costs microseconds, one of a flood a few nanoseconds).
    #[cold]
    #[inline(never)]
    fn leave_fast_path(
        &mut self,
        polled: Poll<Option<Result<T, Status>>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, Status>>> {
        self.settle();
        let message = match polled {
            Poll::Ready(Some(Ok(message))) => message,
            other => return self.no_message(other, cx),
        };
        self.check_and_grant(message, cx)
    }

    /// Every check on `message`, then the fast path's grant if it passed.
    #[inline(always)]
    fn check_and_grant(
        &mut self,
        message: T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, Status>>> {
        let polled = self.check(message, cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            self.grant();
        }
        polled
    }

    /// A message the fast path does not cover: every check, one by one.
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        if self.ended || self.checking.is_some() {
            return self.poll_ended_or_checking(cx);
        }
        let message = match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => message,
            other => return self.no_message(other, cx),
        };
        if self.hooks.reauth_token.is_some() {
            return self.poll_with_reauthentication(message, cx);
        }
        self.check_and_grant(message, cx)
    }

    /// After the end, or while a remote limiter decides on a message.
    #[inline(never)]
    fn poll_ended_or_checking(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let Some((_, check)) = &mut self.checking else {
            return Poll::Ready(None);
        };
        let outcome = std::task::ready!(check.as_mut().poll(cx));
        let (message, _) = self.checking.take().expect("checked above");
        self.admit(*message, outcome)
    }

    /// The inner stream had no message: it ended, failed, or has none yet (then the stream
    /// still ends when the credentials expire).
    #[inline(never)]
    fn no_message(
        &mut self,
        polled: Poll<Option<Result<T, Status>>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, Status>>> {
        match polled {
            Poll::Ready(None) => {
                self.end();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some(deadline) = &mut self.deadline
                    && deadline.poll(cx).is_ready()
                {
                    return self.refuse(&AuthError::Expired);
                }
                // Nothing to spend events on: give back what the stream took and did not
                // spend, so none is kept across a wait in which the shared budget refills.
                if let Some(budget) = &mut self.budget {
                    budget.release();
                }
                Poll::Pending
            }
            failed => {
                // tonic's stream is not fit to read on after an error (see `poll_next`).
                self.end();
                failed
            }
        }
    }

    /// A message on a stream that accepts fresh tokens: applies the token, skips messages
    /// that carried only a token.
    #[inline(never)]
    fn poll_with_reauthentication(
        &mut self,
        mut message: T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, Status>>> {
        loop {
            match self.reauthenticate(&mut message) {
                Ok(false) => return self.check(message, cx),
                Ok(true) => {}
                Err(error) => return self.refuse(&error),
            }
            message = match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => message,
                other => return self.no_message(other, cx),
            };
        }
    }

    /// The per-message checks: expiry, tool, rate limit, for a message the fast path does not
    /// cover: every message of a stream with hooks or a remote limiter; otherwise the first
    /// after each wait, the first of each of the budget's batches and of each run of
    /// [`READ_CLOCK_EVERY`], and every message once the alarm rang. Inlined into its two
    /// callers (always: left to itself, the compiler sometimes did not); the tool check (which
    /// builds errors) is out of line.
    #[inline(always)]
    fn check(&mut self, message: T, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        if self.deadline.as_mut().is_some_and(Deadline::passed) {
            return self.refuse(&AuthError::Expired);
        }
        if self.hooks.tool_name.is_some() {
            return self.check_tool_and_count(message, cx);
        }
        self.count(message, cx)
    }

    /// The tool check, then the rate limit.
    #[inline(never)]
    fn check_tool_and_count(
        &mut self,
        message: T,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, Status>>> {
        if let Err(error) = self.check_tool(&message) {
            return self.refuse(&error);
        }
        self.count(message, cx)
    }

    /// Counts the message against the caller's message budget.
    #[inline(always)]
    fn count(&mut self, message: T, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        if let Some(budget) = &mut self.budget {
            return match budget.check() {
                RateOutcome::Allowed => Poll::Ready(Some(Ok(message))),
                outcome => self.admit(message, outcome),
            };
        }
        if self.limit.is_none() {
            return Poll::Ready(Some(Ok(message)));
        }
        self.ask_limiter(message, cx)
    }
}

impl<T> GuardedStream<T> {
    /// Counts `message` with a limiter that keeps no budget in this process (a shared store).
    #[inline(never)]
    fn ask_limiter(&mut self, message: T, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let Some(limit) = &self.limit else {
            return Poll::Ready(Some(Ok(message)));
        };
        let key = RateKey {
            method: self.policy.path,
            kind: RateKind::Message,
            identity: &limit.identity,
        };
        match limit.limits.start(limit.limit, key) {
            RateCheck::Ready(outcome) => self.admit(message, outcome),
            RateCheck::Pending(mut check) => match check.as_mut().poll(cx) {
                Poll::Ready(outcome) => self.admit(message, outcome),
                Poll::Pending => {
                    self.checking = Some((Box::new(message), check));
                    Poll::Pending
                }
            },
        }
    }
}

impl<T> Drop for GuardedStream<T> {
    /// Puts back the events the fast path took ahead, for the budget to give back.
    fn drop(&mut self) {
        self.settle();
    }
}

impl<T> fmt::Debug for GuardedStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedStream")
            .field("method", &self.policy.path)
            .field("subject", &self.subject)
            .field("expires_at", &self.deadline.as_ref().map(Deadline::at))
            .field("limit", &self.limit.as_ref().map(|l| l.limit))
            .field("ended", &self.ended)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The response stream of a server-streaming RPC as the client receives it: the handler's
    /// stream, ended with `UNAUTHENTICATED` when the caller's credentials expire.
    pub struct ExpiringStream<S> {
        #[pin]
        inner: S,
        deadline: Option<Deadline>,
        ended: bool,
    }
}

impl<S> ExpiringStream<S> {
    pub(crate) fn new(inner: S, expiry: Expiry, clock: &Arc<dyn Clock>) -> Self {
        Self {
            inner,
            deadline: Deadline::new(expiry, clock),
            ended: false,
        }
    }
}

impl<S, T> Stream for ExpiringStream<S>
where
    S: Stream<Item = Result<T, Status>>,
{
    type Item = Result<T, Status>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        // The handler's stream first: the deadline is looked at per item (a few loads) and,
        // while the handler has nothing to send, by its timer.
        let expired = match this.inner.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                if !this.deadline.as_mut().is_some_and(Deadline::passed) {
                    return Poll::Ready(Some(item));
                }
                true
            }
            Poll::Ready(None) => {
                *this.ended = true;
                return Poll::Ready(None);
            }
            Poll::Pending => match this.deadline {
                Some(deadline) => deadline.poll(cx).is_ready(),
                None => false,
            },
        };
        if !expired {
            return Poll::Pending;
        }
        *this.ended = true;
        Poll::Ready(Some(Err(AuthError::Expired.to_status())))
    }
}

impl<S> fmt::Debug for ExpiringStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpiringStream")
            .field("expires_at", &self.deadline.as_ref().map(Deadline::at))
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// Items sent on a channel, as a handler's response stream.
    struct Items(tokio::sync::mpsc::UnboundedReceiver<Result<u32, Status>>);

    impl Stream for Items {
        type Item = Result<u32, Status>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }

    async fn next(stream: &mut ExpiringStream<Items>) -> Option<Result<u32, Status>> {
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
    }

    /// A clock whose time and timers move apart: its timers run on tokio's (paused) clock from
    /// `START`, its time is set by the test. A late timer (a starved runtime), or the wall
    /// clock set forward while the monotonic timer does not move.
    #[derive(Debug)]
    struct LateTimers {
        now: AtomicU64,
        started: tokio::time::Instant,
    }

    const START: u64 = 1_000;

    impl LateTimers {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                now: AtomicU64::new(START),
                started: tokio::time::Instant::now(),
            })
        }
    }

    impl Clock for LateTimers {
        fn now(&self) -> u64 {
            self.now.load(Ordering::SeqCst)
        }

        fn sleep_until(&self, deadline: u64) -> crate::clock::Sleep {
            let at = self.started + std::time::Duration::from_secs(deadline.saturating_sub(START));
            Box::pin(tokio::time::sleep_until(at))
        }
    }

    fn item() -> Result<u32, Status> {
        Ok(1)
    }

    /// A response stream ending at a deadline on a [`LateTimers`] clock, the sender of its
    /// handler's items, and the call's deadline (to move, as a re-authentication on the inbound
    /// stream of the same call does).
    struct Expiring {
        clock: Arc<LateTimers>,
        tx: tokio::sync::mpsc::UnboundedSender<Result<u32, Status>>,
        stream: ExpiringStream<Items>,
        shared: Arc<Shared>,
    }

    fn expiring_at(deadline: u64) -> Expiring {
        let clock = LateTimers::new();
        let dyn_clock: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let expiry = Expiry::at(Some(deadline));
        let shared = Arc::clone(expiry.0.as_ref().expect("a deadline"));
        let stream = ExpiringStream::new(Items(rx), expiry, &dyn_clock);
        Expiring {
            clock,
            tx,
            stream,
            shared,
        }
    }

    /// Items flow until the clock reaches the deadline, whatever the timers do: a timer that
    /// rings late does not let an item out after it once the stream is near (the first timer
    /// rings `NEAR_SECS` early), and one that rings early does not end the stream.
    #[tokio::test(start_paused = true)]
    async fn the_clock_decides_not_the_timer() {
        let Expiring {
            clock,
            tx,
            mut stream,
            ..
        } = expiring_at(1_100);
        tx.send(item()).unwrap();
        assert!(matches!(next(&mut stream).await, Some(Ok(1))));

        // The early timer (at 1,098) rings on time: the stream is near from then on.
        clock.now.store(1_098, Ordering::SeqCst);
        tokio::time::advance(std::time::Duration::from_secs(98)).await;
        tx.send(item()).unwrap();
        assert!(matches!(next(&mut stream).await, Some(Ok(1))));

        // The deadline passes, its timer does not ring: the next item is refused all the same.
        clock.now.store(1_100, Ordering::SeqCst);
        tx.send(item()).unwrap();
        let refused = next(&mut stream).await.unwrap().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(next(&mut stream).await.is_none());
    }

    /// A fresh token that expires sooner moves the deadline of the other direction too: its
    /// timer, armed for the old deadline, does not let the next item through.
    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_earlier_applies_to_the_next_item() {
        let Expiring {
            clock,
            tx,
            mut stream,
            shared,
        } = expiring_at(1_100);
        tx.send(item()).unwrap();
        assert!(matches!(next(&mut stream).await, Some(Ok(1))));
        Expiry::move_to(&shared, 1_050);
        clock.now.store(1_050, Ordering::SeqCst);
        tx.send(item()).unwrap();
        let refused = next(&mut stream).await.unwrap().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    }

    /// The same while the stream waits for its handler: the move wakes it, and it ends at the
    /// new deadline rather than the old one.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_stream_follows_a_moved_deadline() {
        let Expiring {
            clock,
            tx: _tx,
            mut stream,
            shared,
        } = expiring_at(1_100);
        let waiting = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut stream).poll_next(cx)));
        assert!(waiting.await.is_pending());
        Expiry::move_to(&shared, 1_050);
        clock.now.store(1_050, Ordering::SeqCst);
        // The new timer rings NEAR_SECS before the new deadline; the old one only at 1,098.
        tokio::time::advance(std::time::Duration::from_secs(48)).await;
        let ended = tokio::time::timeout(std::time::Duration::from_secs(1), next(&mut stream))
            .await
            .expect("the stream ends at the new deadline");
        assert_eq!(
            ended.unwrap().unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_that_rings_early_does_not_end_the_stream() {
        let Expiring {
            clock,
            tx,
            mut stream,
            ..
        } = expiring_at(1_100);
        tx.send(item()).unwrap();
        assert!(matches!(next(&mut stream).await, Some(Ok(1))));
        // Every timer rings (the clock was set back after they were armed): the clock says 1,000.
        tokio::time::advance(std::time::Duration::from_secs(500)).await;
        tx.send(item()).unwrap();
        assert!(matches!(next(&mut stream).await, Some(Ok(1))));
        clock.now.store(1_100, Ordering::SeqCst);
        tx.send(item()).unwrap();
        assert!(next(&mut stream).await.unwrap().is_err());
    }

    /// Data frames sent on a channel, as tonic's encoded response body.
    struct Encoded(tokio::sync::mpsc::UnboundedReceiver<tonic::codegen::Bytes>);

    impl http_body::Body for Encoded {
        type Data = tonic::codegen::Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Status>>> {
            self.0
                .poll_recv(cx)
                .map(|data| data.map(|data| Ok(http_body::Frame::data(data))))
        }
    }

    /// The generated server's response body: frames flow until the deadline, then the
    /// response ends with `UNAUTHENTICATED` in its trailers, whether a frame comes after the
    /// deadline or none comes (the timer ends it).
    #[tokio::test(start_paused = true)]
    async fn a_response_body_ends_in_trailers_at_the_deadline() {
        use http_body_util::BodyExt;

        for idle in [false, true] {
            let clock = LateTimers::new();
            let dyn_clock: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let mut body = ExpiringBody::new(Encoded(rx), Expiry::at(Some(START + 10)), &dyn_clock);
            tx.send(tonic::codegen::Bytes::from_static(b"one")).unwrap();
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), &b"one"[..]);
            // The timer rings (it was set when the first frame went out) and the clock says
            // the deadline has passed.
            clock.now.store(START + 10, Ordering::SeqCst);
            tokio::time::advance(std::time::Duration::from_secs(11)).await;
            if !idle {
                tx.send(tonic::codegen::Bytes::from_static(b"late"))
                    .unwrap();
            }
            let trailers = body
                .frame()
                .await
                .unwrap()
                .unwrap()
                .into_trailers()
                .unwrap();
            assert_eq!(trailers["grpc-status"], "16", "idle: {idle}");
            assert!(http_body::Body::is_end_stream(&body));
            assert!(body.frame().await.is_none());
        }
    }

    /// The inbound side: a [`GuardedStream`] of `u32` messages sent as gRPC frames on a channel.
    mod guarded {
        use bytes::{Buf, BufMut, Bytes, BytesMut};

        use super::*;
        use crate::authorizer::Limits;
        use crate::policy::{Access, IdentityRequirement, MethodKind, StreamChecks};
        use crate::rate_limit::{RateLimit, frozen_budgets};
        use crate::tools::tests::Holds;

        static CHAT: MethodPolicy = MethodPolicy {
            service: "a.B",
            method: "Chat",
            path: "/a.B/Chat",
            kind: MethodKind::Bidirectional,
            access: Access::Authenticated,
            identity: IdentityRequirement::Any,
            stream: StreamChecks::STRICT,
            rate_limit: None,
            message_rate_limit: None,
            tools: None,
            resources: None,
            prompts: None,
        };

        /// `CHAT`, whose messages call tools: `read` needs no scope beyond the RPC's, `delete`
        /// needs `items:delete`.
        static CHAT_TOOLS: MethodPolicy = MethodPolicy {
            tools: Some(crate::tools::ToolRules {
                tools: &[
                    crate::tools::ToolPolicy {
                        name: "read",
                        scopes: &[],
                        description: "",
                        input_schema: crate::tools::ToolPolicy::ANY_ARGUMENTS,
                    },
                    crate::tools::ToolPolicy {
                        name: "delete",
                        scopes: &["items:delete"],
                        description: "",
                        input_schema: crate::tools::ToolPolicy::ANY_ARGUMENTS,
                    },
                ],
                allow_undeclared: false,
            }),
            ..CHAT
        };

        /// Message 2 calls `delete`, the others `read`.
        fn tool_of(message: &u32) -> Option<&str> {
            Some(if *message == 2 { "delete" } else { "read" })
        }

        /// A limiter that keeps no budget in this process (as a shared store) and counts what
        /// it is asked.
        #[derive(Debug, Default)]
        struct Remote(std::sync::atomic::AtomicUsize);

        impl crate::rate_limit::RateLimiter for Remote {
            fn check(
                &self,
                _: &crate::rate_limit::RateKey<'_>,
                _: RateLimit,
            ) -> crate::rate_limit::RateCheck {
                self.0.fetch_add(1, Ordering::SeqCst);
                crate::rate_limit::RateCheck::Ready(RateOutcome::Allowed)
            }
        }

        /// A request body whose frames a test sends.
        struct Frames(tokio::sync::mpsc::UnboundedReceiver<Bytes>);

        impl http_body::Body for Frames {
            type Data = Bytes;
            type Error = Status;

            fn poll_frame(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
                self.0
                    .poll_recv(cx)
                    .map(|data| data.map(|data| Ok(http_body::Frame::data(data))))
            }
        }

        struct U32s;

        impl tonic::codec::Decoder for U32s {
            type Item = u32;
            type Error = Status;

            fn decode(
                &mut self,
                src: &mut tonic::codec::DecodeBuf<'_>,
            ) -> Result<Option<u32>, Status> {
                Ok(Some(src.get_u32()))
            }
        }

        /// [`U32s`] with an encoder, for [`split`].
        struct U32Codec;

        struct U32Encoder;

        impl tonic::codec::Encoder for U32Encoder {
            type Item = u32;
            type Error = Status;

            fn encode(
                &mut self,
                item: u32,
                dst: &mut tonic::codec::EncodeBuf<'_>,
            ) -> Result<(), Status> {
                dst.put_u32(item);
                Ok(())
            }
        }

        impl tonic::codec::Codec for U32Codec {
            type Encode = u32;
            type Decode = u32;
            type Encoder = U32Encoder;
            type Decoder = U32s;

            fn encoder(&mut self) -> U32Encoder {
                U32Encoder
            }

            fn decoder(&mut self) -> U32s {
                U32s
            }
        }

        /// Where a test's guard checks: on the handler's stream (tonic's server, through the
        /// adapter), or split between the decoder and the body (the generated server).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Mode {
            Stream,
            Decoded,
        }

        const MODES: [Mode; 2] = [Mode::Stream, Mode::Decoded];

        /// Messages counted ahead, wherever the guard keeps them.
        fn counted_ahead(stream: &GuardedStream<u32>) -> u32 {
            if stream.through {
                stream.alarm.fast.load(Ordering::Relaxed)
            } else {
                stream.fast
            }
        }

        /// The sending end of a guarded stream.
        struct Client(tokio::sync::mpsc::UnboundedSender<Bytes>);

        impl Client {
            fn send(&self, messages: u32) {
                let mut frames = BytesMut::new();
                for n in 0..messages {
                    frames.put_u8(0);
                    frames.put_u32(4);
                    frames.put_u32(n);
                }
                self.0.send(frames.freeze()).unwrap();
            }
        }

        /// A guarded stream of `CHAT` with a deadline at `START + secs` on `clock` and a message
        /// limit counted with `budget`, from the in-memory limiter.
        fn guarded(
            mode: Mode,
            secs: u64,
            clock: &Arc<LateTimers>,
            budget: Budget,
        ) -> (Client, GuardedStream<u32>) {
            let limiter = Arc::new(crate::rate_limit::InMemoryRateLimiter::new());
            let parts = parts(&CHAT, limiter, Some(budget), StreamHooks::NONE);
            guarded_with(mode, Some(START + secs), clock, parts)
        }

        /// What [`guarded`] puts together, for the tests that change one part.
        fn parts(
            policy: &'static MethodPolicy,
            limiter: Arc<dyn crate::rate_limit::RateLimiter>,
            budget: Option<Budget>,
            hooks: StreamHooks<u32>,
        ) -> GuardParts<u32> {
            let identity: Arc<str> = "carol".into();
            GuardParts {
                policy,
                subject: Some(Arc::clone(&identity)),
                expiry: Expiry::never(),
                clock: Arc::new(crate::clock::SystemClock),
                auditor: Auditor::default(),
                limit: Some(MessageLimit {
                    limits: Limits::for_tests(limiter),
                    limit: BATCHED,
                    identity,
                }),
                budget,
                granted: Some(Arc::new(Holds(&["items:read"]))),
                hooks,
                reauthenticate: None,
                routed_tool: Routed::Absent,
            }
        }

        fn guarded_with(
            mode: Mode,
            deadline: Option<u64>,
            clock: &Arc<LateTimers>,
            mut parts: GuardParts<u32>,
        ) -> (Client, GuardedStream<u32>) {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            parts.expiry = Expiry::at(deadline);
            parts.clock = Arc::clone(clock) as Arc<dyn Clock>;
            let stream = match mode {
                Mode::Stream => {
                    let inner = Streaming::new_request(U32s, Frames(rx), None, None);
                    GuardedStream::new(inner, parts)
                }
                Mode::Decoded => {
                    let (mut codec, body, finish) = split(parts, U32Codec, Frames(rx));
                    let decoder = tonic::codec::Codec::decoder(&mut codec);
                    finish.stream(Streaming::new_request(decoder, body, None, None))
                }
            };
            (Client(tx), stream)
        }

        /// The messages that pass before the stream has none ready, and how it stopped:
        /// `None` while it waits for more, or the code of the error that ended it.
        async fn drain(stream: &mut GuardedStream<u32>) -> (usize, Option<tonic::Code>) {
            let mut passed = 0;
            loop {
                let polled =
                    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *stream).poll_next(cx)))
                        .await;
                match polled {
                    Poll::Ready(Some(Ok(_))) => passed += 1,
                    Poll::Ready(Some(Err(status))) => return (passed, Some(status.code())),
                    Poll::Ready(None) => panic!("the stream ended"),
                    Poll::Pending => return (passed, None),
                }
            }
        }

        /// Batches of 64 from one budget that does not refill.
        const BATCHED: RateLimit = RateLimit::new(6_400, 1_024);

        /// Messages on the fast path spend the caller's budget one by one, and what it took
        /// ahead goes back when the stream waits and when it is dropped: two streams together
        /// pass exactly the budget.
        #[tokio::test(start_paused = true)]
        async fn messages_counted_ahead_spend_the_budget_exactly() {
            for mode in MODES {
                let clock = LateTimers::new();
                let budgets = frozen_budgets(1_000, BATCHED);
                let (client, mut first) = guarded(mode, 600, &clock, budgets());
                client.send(10);
                assert_eq!(drain(&mut first).await, (10, None), "{mode:?}");
                let (client, mut second) = guarded(mode, 600, &clock, budgets());
                client.send(2_000);
                let (passed, refused) = drain(&mut second).await;
                assert_eq!(
                    passed, 990,
                    "{mode:?}: beside 10 messages of a stream that waits"
                );
                assert_eq!(refused, Some(tonic::Code::ResourceExhausted), "{mode:?}");

                let budgets = frozen_budgets(100, BATCHED);
                let (client, mut third) = guarded(mode, 600, &clock, budgets());
                client.send(5);
                for _ in 0..5 {
                    assert!(matches!(third.message().await, Ok(Some(_))), "{mode:?}");
                }
                assert!(
                    counted_ahead(&third) > 0,
                    "{mode:?}: the fast path was not taken"
                );
                drop(third);
                let (client, mut fourth) = guarded(mode, 600, &clock, budgets());
                client.send(200);
                let (passed, refused) = drain(&mut fourth).await;
                assert_eq!(
                    passed, 95,
                    "{mode:?}: beside 5 messages of a dropped stream"
                );
                assert_eq!(refused, Some(tonic::Code::ResourceExhausted), "{mode:?}");
            }
        }

        /// A request that ended gives back what its stream took ahead, though the handler
        /// keeps the stream (a bidirectional handler answering on).
        #[tokio::test(start_paused = true)]
        async fn an_ended_request_gives_its_budget_back() {
            for mode in MODES {
                let clock = LateTimers::new();
                let budgets = frozen_budgets(100, BATCHED);
                let (client, mut first) = guarded(mode, 600, &clock, budgets());
                client.send(5);
                drop(client);
                for _ in 0..5 {
                    assert!(matches!(first.message().await, Ok(Some(_))), "{mode:?}");
                }
                assert!(matches!(first.message().await, Ok(None)), "{mode:?}");
                let (client, mut second) = guarded(mode, 600, &clock, budgets());
                client.send(200);
                let (passed, refused) = drain(&mut second).await;
                assert_eq!(
                    passed, 95,
                    "{mode:?}: beside 5 messages of an ended request"
                );
                assert_eq!(refused, Some(tonic::Code::ResourceExhausted), "{mode:?}");
                drop(first);
            }
        }

        /// A stream whose deadline is 100 s away, with a large budget, that let a message
        /// through on the fast path (the first after a wait goes the slow way).
        async fn on_the_fast_path(
            mode: Mode,
            clock: &Arc<LateTimers>,
        ) -> (Client, GuardedStream<u32>) {
            let budget = frozen_budgets(1_000_000, BATCHED)();
            let (client, mut stream) = guarded(mode, 100, clock, budget);
            client.send(2);
            assert!(matches!(stream.message().await, Ok(Some(0))));
            assert!(matches!(stream.message().await, Ok(Some(1))));
            assert!(
                counted_ahead(&stream) > 0,
                "{mode:?}: the fast path was not taken"
            );
            (client, stream)
        }

        /// The deadline's timer ringing while messages pass on the fast path: the next message
        /// reads the clock and is refused once the deadline has passed; nothing passes after.
        #[tokio::test(start_paused = true)]
        async fn the_alarm_takes_a_flood_off_the_fast_path() {
            for mode in MODES {
                let clock = LateTimers::new();
                let (client, mut stream) = on_the_fast_path(mode, &clock).await;
                client.send(10);
                clock.now.store(START + 100, Ordering::SeqCst);
                tokio::time::advance(std::time::Duration::from_secs(100)).await;
                let refused = stream.message().await.unwrap_err();
                assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{mode:?}");
                assert!(matches!(stream.message().await, Ok(None)), "{mode:?}");
            }
        }

        /// A stream waiting for its next message ends when the deadline passes, woken by the
        /// timer (the generated server's: by the request body).
        #[tokio::test(start_paused = true)]
        async fn a_waiting_stream_ends_at_the_deadline() {
            for mode in MODES {
                let clock = LateTimers::new();
                let (client, mut stream) = on_the_fast_path(mode, &clock).await;
                let next = tokio::spawn(async move { stream.message().await });
                // The clock and the timers agree: the first timer rings 2 s early.
                clock.now.store(START + 99, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_secs(99)).await;
                assert!(!next.is_finished(), "{mode:?}: ended before the deadline");
                clock.now.store(START + 100, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let refused = next.await.unwrap().unwrap_err();
                assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{mode:?}");
                drop(client);
            }
        }

        /// A timer that does not ring (a starved runtime): a flood that never waits still
        /// reads the clock every `READ_CLOCK_EVERY` messages and ends at the deadline.
        #[tokio::test(start_paused = true)]
        async fn a_flood_without_its_timer_still_ends_at_the_deadline() {
            for mode in MODES {
                let clock = LateTimers::new();
                let (client, mut stream) = on_the_fast_path(mode, &clock).await;
                clock.now.store(START + 100, Ordering::SeqCst);
                client.send(3 * READ_CLOCK_EVERY);
                let (passed, refused) = drain(&mut stream).await;
                assert!(
                    passed <= READ_CLOCK_EVERY as usize,
                    "{mode:?}: {passed} passed"
                );
                assert_eq!(refused, Some(tonic::Code::Unauthenticated), "{mode:?}");
            }
        }

        /// A stream with a tool hook checks every message's tool, however many arrive at
        /// once, and passes nothing after the one refused.
        #[tokio::test(start_paused = true)]
        async fn every_message_s_tool_is_checked() {
            for mode in MODES {
                let clock = LateTimers::new();
                let limiter = Arc::new(crate::rate_limit::InMemoryRateLimiter::new());
                let budget = frozen_budgets(1_000_000, BATCHED)();
                let hooks = StreamHooks {
                    tool_name: Some(tool_of),
                    reauth_token: None,
                };
                let parts = parts(&CHAT_TOOLS, limiter, Some(budget), hooks);
                let (client, mut stream) = guarded_with(mode, Some(START + 600), &clock, parts);
                client.send(5);
                assert_eq!(
                    drain(&mut stream).await,
                    (2, Some(tonic::Code::PermissionDenied)),
                    "{mode:?}"
                );
                assert!(matches!(stream.message().await, Ok(None)), "{mode:?}");
            }
        }

        /// An error of tonic's ends the stream in both modes: after a message it could not
        /// frame, what follows is not read as messages (tonic would go on reading the bytes
        /// after the bad header as the next one's).
        #[tokio::test(start_paused = true)]
        async fn an_error_of_tonic_s_ends_the_stream() {
            for mode in MODES {
                let clock = LateTimers::new();
                let budget = frozen_budgets(1_000, BATCHED)();
                let (client, mut stream) = guarded(mode, 600, &clock, budget);
                client.send(2);
                // Compressed, though the call named no encoding: tonic's `INTERNAL`.
                let bad = Bytes::from_static(&[1, 0, 0, 0, 4, 0, 0, 0, 9]);
                client.0.send(bad).unwrap();
                client.send(3);
                assert_eq!(
                    drain(&mut stream).await,
                    (2, Some(tonic::Code::Internal)),
                    "{mode:?}"
                );
                // Bounded: a stream that read on would wait for the rest of a message.
                let soon = std::time::Duration::from_secs(1);
                let after = tokio::time::timeout(soon, stream.message()).await;
                assert!(matches!(after, Ok(Ok(None))), "{mode:?}: {after:?}");
                client.send(3);
                let after = tokio::time::timeout(soon, stream.message()).await;
                assert!(matches!(after, Ok(Ok(None))), "{mode:?}: {after:?}");
            }
        }

        /// A limiter that keeps no budget here is asked for every message (on the handler's
        /// stream, in both modes: its answer may have to be awaited).
        #[tokio::test(start_paused = true)]
        async fn a_remote_limiter_is_asked_for_every_message() {
            for mode in MODES {
                let clock = LateTimers::new();
                let remote = Arc::new(Remote::default());
                let parts = parts(&CHAT, Arc::clone(&remote) as _, None, StreamHooks::NONE);
                let (client, mut stream) = guarded_with(mode, Some(START + 600), &clock, parts);
                client.send(50);
                assert_eq!(drain(&mut stream).await, (50, None), "{mode:?}");
                assert_eq!(remote.0.load(Ordering::SeqCst), 50, "{mode:?}");
            }
        }

        /// Without a deadline or a limit (a public stream, `unchecked_expiry` and
        /// `unlimited_messages`), messages pass and the stream still ends.
        #[tokio::test(start_paused = true)]
        async fn a_stream_with_nothing_to_check_passes_and_ends() {
            for mode in MODES {
                let clock = LateTimers::new();
                let limiter = Arc::new(crate::rate_limit::InMemoryRateLimiter::new());
                let mut parts = parts(&CHAT, limiter, None, StreamHooks::NONE);
                parts.limit = None;
                let (client, mut stream) = guarded_with(mode, None, &clock, parts);
                client.send(3_000);
                assert!(matches!(stream.message().await, Ok(Some(0))), "{mode:?}");
                if mode == Mode::Stream {
                    assert!(stream.fast > 0, "the fast path was not taken");
                } else {
                    assert!(stream.through, "a guard with nothing to check");
                }
                assert_eq!(drain(&mut stream).await, (2_999, None), "{mode:?}");
                drop(client);
                assert!(matches!(stream.message().await, Ok(None)), "{mode:?}");
                assert!(matches!(stream.message().await, Ok(None)), "{mode:?}");
            }
        }
    }
}
