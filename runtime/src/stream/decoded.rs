//! The stream guard of the generated server: the per-message checks run inside tonic's decode,
//! the deadline's timer on the request body, the response's expiry on the response body.
//!
//! Why not a stream around tonic's `Streaming`: a flood of small messages costs a server
//! about 85-95 ns each, and a layer between tonic's decoder and the handler, and another
//! between the handler's stream and tonic's encoder, cost 7-8 ns of that on their own (the
//! message moved through extra stack copies at each layer, whatever the checks; BENCHMARKS.md,
//! Fixed 23). Here a message is counted before prost decodes it, in the decoder tonic already
//! calls through a pointer, and [`GuardedStream`](super::GuardedStream) passes tonic's answer
//! straight through. What a message needs without waiting (the deadline's counter, the
//! in-process budget, the tool) fits in the decode; what waits does not, and goes where waits
//! show: the request body (the deadline's timer while no message comes) and the response body
//! (per frame of messages instead of per message). A stream whose checks must wait per message
//! (a limiter that keeps no budget here) or skip messages (in-band re-authentication) keeps
//! the guard on the stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, Encoder};
use tonic::codegen::Bytes;
use tonic::codegen::http;

use super::{
    Alarm, Deadline, Expiry, GuardParts, MessageLimit, StreamHooks, put_back, refusal_event,
    take_ahead,
};
use crate::audit::Auditor;
use crate::clock::Clock;
use crate::error::AuthError;
use crate::policy::MethodPolicy;
use crate::rate_limit::{Budget, RateKey, RateKind, RateOutcome};
use crate::tools::{GrantedScopes, Routed, TOOL_HEADER};

/// What the decoder, the request body and the handler's stream of one call share. The
/// messages counted ahead and whether the stream was refused live in the deadline's
/// [`Alarm`], beside the flag its timer sets: the decoder's fast path reads one cache line.
pub(crate) struct Core {
    alarm: Arc<Alarm>,
    checks: Mutex<Checks>,
}

/// The checks of [`Core`] that the fast path does not cover.
struct Checks {
    policy: &'static MethodPolicy,
    subject: Option<Arc<str>>,
    auditor: Auditor,
    deadline: Option<Deadline>,
    limit: Option<MessageLimit>,
    budget: Option<Budget>,
    /// Why the stream was refused, once it was.
    refused: Option<AuthError>,
}

impl Core {
    fn checks(&self) -> MutexGuard<'_, Checks> {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A message the fast path does not cover: the first, the first of each of the budget's
    /// batches and of each run of [`READ_CLOCK_EVERY`](super::READ_CLOCK_EVERY), and every
    /// message once the alarm rang.
    #[cold]
    #[inline(never)]
    fn admit_slowly(&self) -> Result<(), Status> {
        let mut checks = self.checks();
        if let Some(refused) = &checks.refused {
            return Err(refused.to_status());
        }
        checks.settle(&self.alarm.fast);
        if checks.deadline.as_mut().is_some_and(Deadline::passed) {
            return Err(self.refuse(&mut checks, AuthError::Expired));
        }
        if let Some(budget) = &mut checks.budget {
            let outcome = budget.check();
            if !matches!(outcome, RateOutcome::Allowed) {
                let decided = checks.limit.as_ref().map_or(Ok(()), |limit| {
                    limit.limits.decide(
                        outcome,
                        &RateKey {
                            method: checks.policy.path,
                            kind: RateKind::Message,
                            identity: &limit.identity,
                        },
                    )
                });
                if let Err(error) = decided {
                    return Err(self.refuse(&mut checks, error));
                }
            }
        }
        checks.grant(&self.alarm.fast);
        Ok(())
    }

    /// Ends the stream with `error`, auditing the refusal.
    #[cold]
    #[inline(never)]
    fn refuse(&self, checks: &mut Checks, error: AuthError) -> Status {
        // Ended before anything else runs: an audit sink that panics leaves a refused stream.
        self.alarm.done.store(true, Ordering::Release);
        checks.refused = Some(error.clone());
        self.release(checks);
        let detail = error.to_string();
        checks.auditor.record(&refusal_event(
            checks.policy,
            checks.subject.as_deref(),
            &error,
            &detail,
        ));
        error.to_status()
    }

    /// Gives back what was counted ahead and the budget's stock, for the caller's other
    /// streams: at a wait, at a refusal, and at the end of the request.
    fn release(&self, checks: &mut Checks) {
        checks.settle(&self.alarm.fast);
        if let Some(budget) = &mut checks.budget {
            budget.release();
        }
    }

    /// The request ended (or failed): nothing more is decoded, so nothing is kept for it
    /// while the handler's stream lives on.
    #[cold]
    #[inline(never)]
    fn finish(&self) {
        let mut checks = self.checks();
        self.release(&mut checks);
    }

    /// The request body has nothing: gives back what was taken ahead, and refuses once the
    /// deadline passes while no message comes (the timer wakes the task).
    #[cold]
    #[inline(never)]
    fn wait(&self, cx: &mut Context<'_>) -> Option<Status> {
        let mut checks = self.checks();
        if checks.refused.is_some() {
            return None;
        }
        checks.settle(&self.alarm.fast);
        if let Some(deadline) = &mut checks.deadline
            && deadline.poll(cx).is_ready()
        {
            return Some(self.refuse(&mut checks, AuthError::Expired));
        }
        // Nothing to spend events on: none is kept across a wait in which the shared budget
        // refills.
        self.release(&mut checks);
        None
    }
}

impl Checks {
    /// Puts back what the fast path took ahead and did not spend.
    fn settle(&mut self, fast: &AtomicU32) {
        let unspent = fast.swap(0, Ordering::Relaxed);
        put_back(unspent, self.deadline.as_mut(), self.budget.as_mut());
    }

    /// After a message passed: takes ahead what the fast path may pass.
    fn grant(&mut self, fast: &AtomicU32) {
        let granted = take_ahead(self.deadline.as_mut(), self.budget.as_mut());
        fast.store(granted, Ordering::Relaxed);
    }
}

impl Drop for Core {
    /// Puts back the events taken ahead, for the budget to give back.
    fn drop(&mut self) {
        let checks = self
            .checks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        checks.settle(&self.alarm.fast);
    }
}

/// The tool check of a stream whose messages call tools.
struct ToolCheck<T> {
    name: fn(&T) -> Option<&str>,
    policy: &'static MethodPolicy,
    granted: Arc<dyn GrantedScopes>,
    routed_tool: Routed,
}

// By hand: the derive would ask `T: Clone` of the message.
impl<T> Clone for ToolCheck<T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            policy: self.policy,
            granted: Arc::clone(&self.granted),
            routed_tool: self.routed_tool.clone(),
        }
    }
}

impl<T> Clone for DecodeGuard<T> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
            alarm: Arc::clone(&self.alarm),
            tool: self.tool.clone(),
        }
    }
}

impl<T> ToolCheck<T> {
    fn check(&self, message: &T) -> Result<(), AuthError> {
        let Some(rules) = self.policy.tools else {
            return Ok(());
        };
        let name = (self.name)(message);
        // Not relaxed by `unchecked_message_scopes`: a proxy decided on the header.
        self.routed_tool.check(TOOL_HEADER, name)?;
        if !self.policy.stream.message_scopes {
            return Ok(());
        }
        rules.check(name, &*self.granted)
    }
}

/// The guard's part in the decoder.
struct DecodeGuard<T> {
    core: Arc<Core>,
    /// `core`'s alarm (the deadline's, or one nothing rings without a deadline): the fast
    /// path reads it without going through `core`.
    alarm: Arc<Alarm>,
    tool: Option<ToolCheck<T>>,
}

/// A decoder that checks each message of a guarded stream as tonic decodes it: counts it
/// before prost decodes it, or, when it calls a tool, checks the tool after the decode and
/// then counts it. A refused message is not returned (tonic has read it by then, and
/// decompressed it when it came compressed, within the largest message size); the error goes
/// to the handler's stream, which ends after it.
pub struct GuardDecoder<D: Decoder> {
    inner: D,
    guard: Option<DecodeGuard<D::Item>>,
}

impl<D> Decoder for GuardDecoder<D>
where
    D: Decoder<Error = Status>,
{
    type Item = D::Item;
    type Error = Status;

    /// The fast path, a message counted ahead on a stream without tools: two loads, a
    /// compare and a store before the inner decoder (which the compiler inlines here, as it
    /// would into tonic's call).
    #[inline]
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D::Item>, Status> {
        match &self.guard {
            Some(guard) if guard.tool.is_some() || !guard.alarm.take_fast() => {
                self.decode_slowly(src)
            }
            _ => self.inner.decode(src),
        }
    }

    #[inline]
    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        self.inner.buffer_settings()
    }
}

impl<D> GuardDecoder<D>
where
    D: Decoder<Error = Status>,
{
    /// A message the fast path does not cover: one not counted ahead, or one that calls a
    /// tool. A tool is checked first (a message refused for its tool is not counted against
    /// the budget, as on the handler's stream), then the expiry and the budget: an expired
    /// stream's message calling a forbidden tool is refused for the tool.
    #[inline(never)]
    fn decode_slowly(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D::Item>, Status> {
        let Some(guard) = &self.guard else {
            return self.inner.decode(src);
        };
        let Some(tool) = &guard.tool else {
            guard.core.admit_slowly()?;
            return self.inner.decode(src);
        };
        if guard.alarm.done() {
            // Refused: the refusal again, nothing decoded.
            guard.core.admit_slowly()?;
        }
        let message = self.inner.decode(src)?;
        if let Some(decoded) = &message
            && let Err(error) = tool.check(decoded)
        {
            let mut checks = guard.core.checks();
            return Err(guard.core.refuse(&mut checks, error));
        }
        if !guard.alarm.take_fast() {
            guard.core.admit_slowly()?;
        }
        Ok(message)
    }
}

impl<D: Decoder> std::fmt::Debug for GuardDecoder<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardDecoder")
            .field("guarded", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

/// tonic's codec for a guarded stream's call: `C`'s encoder, `C`'s decoder inside a
/// [`GuardDecoder`].
pub struct GuardCodec<C: Codec> {
    inner: C,
    guard: Option<DecodeGuard<C::Decode>>,
}

impl<C> Codec for GuardCodec<C>
where
    C: Codec,
    C::Decoder: Decoder<Item = C::Decode, Error = Status>,
    C::Encoder: Encoder<Item = C::Encode, Error = Status>,
{
    type Encode = C::Encode;
    type Decode = C::Decode;
    type Encoder = C::Encoder;
    type Decoder = GuardDecoder<C::Decoder>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    /// The guarded decoder. tonic asks once per call; were it to ask again, every decoder
    /// would share the one guard (the count, the budget, the refusal).
    fn decoder(&mut self) -> Self::Decoder {
        GuardDecoder {
            inner: self.inner.decoder(),
            guard: self.guard.clone(),
        }
    }
}

impl<C: Codec> std::fmt::Debug for GuardCodec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardCodec")
            .field("guarded", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The request body of a guarded stream's call: while no message comes, gives back what
    /// the guard took ahead and ends the call with `UNAUTHENTICATED` when the caller's
    /// credentials expire (the deadline's timer wakes the task).
    pub struct GuardedBody<B> {
        #[pin]
        inner: B,
        core: Option<Arc<Core>>,
    }
}

impl<B> http_body::Body for GuardedBody<B>
where
    B: http_body::Body,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = B::Data;
    type Error = tonic::codegen::StdError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(end) => {
                if let Some(core) = this.core.as_ref() {
                    core.finish();
                }
                Poll::Ready(end.map(|failed| failed.map_err(Into::into)))
            }
            Poll::Pending => match this.core.as_ref().and_then(|core| core.wait(cx)) {
                Some(refused) => Poll::Ready(Some(Err(refused.into()))),
                None => Poll::Pending,
            },
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for GuardedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedBody")
            .field("guarded", &self.core.is_some())
            .finish_non_exhaustive()
    }
}

/// What remains of a [`StreamGuard`](super::StreamGuard) split for the generated server: the
/// handler's stream, once tonic made it ([`StreamFinish::stream`](super::StreamFinish::stream)).
pub struct StreamFinish<T>(pub(super) Finish<T>);

pub(super) enum Finish<T> {
    /// The decoder and the body check: the handler's stream passes tonic's straight through,
    /// and ends after its first error (a refusal among them).
    Decoded {
        /// The decoder's alarm (one nothing rings when there is nothing to check), shared
        /// rather than a new one made for the handler's stream, where it is inert.
        alarm: Arc<Alarm>,
        /// The expiry, for [`GuardedStream::expiry`](super::GuardedStream::expiry).
        expiry: Expiry,
        /// The RPC's policy, for the stream's `Debug`.
        policy: &'static MethodPolicy,
        /// The caller, for the stream's `Debug`.
        subject: Option<Arc<str>>,
    },
    /// Every check on the handler's stream (re-authentication, a remote limiter).
    Stream(Box<GuardParts<T>>),
}

impl<T> std::fmt::Debug for StreamFinish<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Finish::Decoded { .. } => "StreamFinish(checked in the decoder)",
            Finish::Stream(_) => "StreamFinish(checked on the stream)",
        })
    }
}

/// Splits a stream's guard into the codec's, the body's and the handler's stream's parts.
pub(crate) fn split<C, B>(
    parts: GuardParts<C::Decode>,
    codec: C,
    body: B,
) -> (GuardCodec<C>, GuardedBody<B>, StreamFinish<C::Decode>)
where
    C: Codec,
{
    let (guard, finish) = decode_guard(parts);
    let core = guard.as_ref().map(|guard| Arc::clone(&guard.core));
    let codec = GuardCodec {
        inner: codec,
        guard,
    };
    (codec, GuardedBody { inner: body, core }, finish)
}

/// The decoder's guard (none when the decoder has nothing to check) and what makes the
/// handler's stream.
fn decode_guard<T>(parts: GuardParts<T>) -> (Option<DecodeGuard<T>>, StreamFinish<T>) {
    // Re-authentication skips the messages that carry only a token, and a limiter that keeps
    // no budget here answers each message asynchronously: neither fits in a decode.
    let on_stream =
        parts.hooks.reauth_token.is_some() || (parts.limit.is_some() && parts.budget.is_none());
    if on_stream {
        return (None, StreamFinish(Finish::Stream(Box::new(parts))));
    }
    let GuardParts {
        policy,
        subject,
        expiry,
        clock,
        auditor,
        limit,
        budget,
        granted,
        hooks: StreamHooks { tool_name, .. },
        reauthenticate: _,
        routed_tool,
    } = parts;
    let tool = match (tool_name, granted) {
        (Some(name), Some(granted)) if policy.tools.is_some() => Some(ToolCheck {
            name,
            policy,
            granted,
            routed_tool,
        }),
        _ => None,
    };
    let deadline = Deadline::new(expiry.clone(), &clock);
    let alarm = deadline
        .as_ref()
        .map_or_else(Arc::default, |d| Arc::clone(&d.alarm));
    let finish = StreamFinish(Finish::Decoded {
        alarm: Arc::clone(&alarm),
        expiry,
        policy,
        subject: subject.clone(),
    });
    if deadline.is_none() && limit.is_none() && tool.is_none() {
        return (None, finish);
    }
    let core = Arc::new(Core {
        alarm: Arc::clone(&alarm),
        checks: Mutex::new(Checks {
            policy,
            subject,
            auditor,
            deadline,
            limit,
            budget,
            refused: None,
        }),
    });
    (Some(DecodeGuard { core, alarm, tool }), finish)
}

pin_project_lite::pin_project! {
    /// The response body of a server-streaming call served by the generated server: ends the
    /// response with `UNAUTHENTICATED` in its trailers when the caller's credentials expire.
    /// The deadline is looked at per frame (tonic's encoder fills a frame with as many
    /// messages as the handler has ready, up to 32 KiB) and, while the handler has nothing to
    /// send, by its timer: no message leaves after the deadline.
    pub struct ExpiringBody<B> {
        #[pin]
        inner: B,
        deadline: Option<Deadline>,
        ended: bool,
    }
}

impl<B> ExpiringBody<B> {
    pub(crate) fn new(inner: B, expiry: Expiry, clock: &Arc<dyn Clock>) -> Self {
        Self {
            inner,
            deadline: Deadline::new(expiry, clock),
            ended: false,
        }
    }
}

impl<B> http_body::Body for ExpiringBody<B>
where
    B: http_body::Body<Data = Bytes, Error = Status>,
{
    type Data = Bytes;
    type Error = Status;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let Some(deadline) = this.deadline else {
            return this.inner.poll_frame(cx);
        };
        let expired = match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) if frame.is_data() => {
                if !deadline.passed() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                true
            }
            Poll::Ready(other) => {
                // Trailers or the end: the handler's stream ended.
                *this.ended = other.is_none();
                return Poll::Ready(other);
            }
            Poll::Pending => deadline.poll(cx).is_ready(),
        };
        if !expired {
            return Poll::Pending;
        }
        *this.ended = true;
        let mut trailers = http::HeaderMap::new();
        match AuthError::Expired.to_status().add_header(&mut trailers) {
            Ok(()) => Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers)))),
            Err(status) => Poll::Ready(Some(Err(status))),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for ExpiringBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpiringBody")
            .field("expires_at", &self.deadline.as_ref().map(Deadline::at))
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
