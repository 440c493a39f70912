//! The check that runs before every handler.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::{Request, Status, Streaming};

use crate::audit::{AuditEvent, AuditSink, Auditor, Decision};
use crate::authenticate::{Authentication, Authenticator, CallContext};
use crate::authorized::Grants;
use crate::authorized::{Authorized, Public};
use crate::claims::{Claims, StandardClaims};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError};
use crate::jwt::JwtAuthenticator;
use crate::mtls::{PeerIdentities, PeerIdentity};
use crate::policy::{Access, IdentityRequirement, MethodPolicy, Policy};
use crate::rate_limit::{
    Budget, DEFAULT_CALL_LIMIT, DEFAULT_MESSAGE_LIMIT, InMemoryRateLimiter, RateCheck, RateKey,
    RateKind, RateLimit, RateLimiter, RateOutcome,
};
use crate::stream::{
    ExpiringBody, ExpiringStream, Expiry, GuardParts, GuardedStream, MessageLimit, Reauthenticate,
    Renewed, StreamGuard, StreamHooks,
};
use crate::tools::{PROMPT_HEADER, RESOURCE_HEADER, Routed, TOOL_HEADER};

/// Authenticates callers and checks them against a method's policy; the only source of
/// [`Authorized`] proofs. Cheap to clone.
///
/// A caller proves who it is with a bearer token (checked by the token
/// [`Authenticator`], e.g. [`JwtAuthenticator`](crate::jwt::JwtAuthenticator)), with a client
/// certificate verified by TLS (named by [`PeerIdentities`]), or both; the RPC's `identity`
/// option says which it needs. A token that is present but invalid is refused even when a
/// valid certificate is present too.
pub struct Authorizer<C: Send + Sync = StandardClaims> {
    inner: Arc<Inner<C>>,
}

struct Inner<C: Send + Sync> {
    token: Option<TokenAuthenticator<C>>,
    peers: Option<PeerIdentities>,
    clock: Arc<dyn Clock>,
    /// `clock` is [`SystemClock`]: read it without the virtual call.
    system_clock: bool,
    auditor: Auditor,
    limits: Limits,
}

/// The token authenticator. The built-in [`JwtAuthenticator`] is held as itself, so its
/// cached path is compiled into the check (no virtual call, no vtable to load: in a busy server
/// each costs a cache miss); any other authenticator through its trait object.
// One per authorizer, inside its `Arc`: boxing the large variant would put back the pointer
// chase this enum takes out.
#[allow(clippy::large_enum_variant)]
enum TokenAuthenticator<C: Send + Sync> {
    Jwt(JwtAuthenticator<C>),
    Other(Box<dyn Authenticator<C>>),
}

impl<C: Claims> TokenAuthenticator<C> {
    fn new<A: Authenticator<C>>(authenticator: A) -> Self {
        let mut held = Some(authenticator);
        let any: &mut dyn Any = &mut held;
        if let Some(jwt) = any
            .downcast_mut::<Option<JwtAuthenticator<C>>>()
            .and_then(Option::take)
        {
            return Self::Jwt(jwt);
        }
        match held {
            Some(other) => Self::Other(Box::new(other)),
            None => unreachable!("only a JwtAuthenticator is taken"),
        }
    }
}

impl<C: Claims> Authenticator<C> for TokenAuthenticator<C> {
    #[inline(always)]
    fn authenticate(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError> {
        match self {
            Self::Jwt(jwt) => jwt.authenticate(call),
            Self::Other(other) => other.authenticate(call),
        }
    }
}

impl<C: Send + Sync> fmt::Debug for TokenAuthenticator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jwt(jwt) => jwt.fmt(f),
            Self::Other(other) => other.fmt(f),
        }
    }
}

/// The rate limiter and the limits that apply where the proto sets none.
#[derive(Clone)]
pub(crate) struct Limits {
    limiter: Arc<dyn RateLimiter>,
    calls: Option<RateLimit>,
    messages: Option<RateLimit>,
    allow_when_unavailable: bool,
    /// Records the calls let through while the limiter could not decide.
    auditor: Auditor,
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("limiter", &self.limiter)
            .field("calls", &self.calls)
            .field("messages", &self.messages)
            .field("allow_when_unavailable", &self.allow_when_unavailable)
            .finish()
    }
}

#[cfg(test)]
impl Limits {
    /// `limiter` and no default limits, refusing (not allowing) when it cannot decide: for the
    /// stream guard's tests.
    pub(crate) fn for_tests(limiter: Arc<dyn RateLimiter>) -> Self {
        Self {
            limiter,
            calls: None,
            messages: None,
            allow_when_unavailable: false,
            auditor: Auditor::default(),
        }
    }
}

impl Limits {
    /// Counts one event with the limiter, for callers that poll the check themselves.
    pub(crate) fn start(&self, limit: RateLimit, key: RateKey<'_>) -> crate::rate_limit::RateCheck {
        self.limiter.check(&key, limit)
    }

    /// Turns an outcome into a decision, applying the unavailable-store policy. A call let
    /// through while the limiter could not decide is audited as such, so an outage shows.
    #[inline]
    pub(crate) fn decide(&self, outcome: RateOutcome, key: &RateKey<'_>) -> Result<(), AuthError> {
        match outcome {
            RateOutcome::Allowed => Ok(()),
            RateOutcome::Limited { retry_after } => Err(AuthError::RateLimited { retry_after }),
            RateOutcome::Unavailable(why) if self.allow_when_unavailable => {
                self.auditor.record(&AuditEvent {
                    method: key.method,
                    subject: Some(key.identity),
                    certificate: None,
                    decision: Decision::Allow,
                    reason: "rate_limiter_unavailable_allowed",
                    detail: Some(&why),
                });
                Ok(())
            }
            RateOutcome::Unavailable(why) => Err(AuthError::RateLimiterUnavailable(why)),
        }
    }

    fn message_limit(&self, policy: &MethodPolicy) -> Option<RateLimit> {
        if policy.stream.message_rate_limit {
            policy.message_rate_limit.or(self.messages)
        } else {
            None
        }
    }
}

/// How far a check went before it had to wait: what [`Authorizer::authorize_or_wait`] and
/// [`Authorizer::admit_public_or_wait`] return to the generated adapters, which box only the
/// handler's future when the check is decided at once (every call, unless a remote rate limiter
/// must answer). Not a public API: it changes with the code generator.
#[doc(hidden)]
pub enum Admission<'a, A> {
    /// Decided without waiting.
    Decided(Result<A, Status>),
    /// Decided once the rate limiter answers.
    Waiting(Pin<Box<dyn Future<Output = Result<A, Status>> + Send + 'a>>),
}

impl<A> Admission<'_, A> {
    /// The decision, waiting for the rate limiter if it must.
    pub async fn decision(self) -> Result<A, Status> {
        match self {
            Self::Decided(result) => result,
            Self::Waiting(decision) => decision.await,
        }
    }
}

/// The admission of a call whose rate-limit check is `check`: `admit` applies the limiter's
/// outcome, at once unless the limiter must be waited for.
fn admit_after<'a, A: Send + 'a>(
    check: RateCheck,
    admit: impl FnOnce(RateOutcome) -> Result<A, Status> + Send + 'a,
) -> Admission<'a, A> {
    match check {
        RateCheck::Ready(outcome) => Admission::Decided(admit(outcome)),
        RateCheck::Pending(check) => {
            Admission::Waiting(Box::pin(async move { admit(check.await) }))
        }
    }
}

impl<A> fmt::Debug for Admission<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decided(Ok(_)) => f.write_str("Decided(Ok(..))"),
            Self::Decided(Err(status)) => f
                .debug_tuple("Decided")
                .field(&Err::<(), _>(status))
                .finish(),
            Self::Waiting(_) => f.write_str("Waiting"),
        }
    }
}

impl<C: Send + Sync> Clone for Authorizer<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Send + Sync> fmt::Debug for Authorizer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("token", &self.inner.token)
            .field("client_certificates", &self.inner.peers)
            .field("clock", &self.inner.clock)
            .field("auditor", &self.inner.auditor)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// Configures an [`Authorizer`].
pub struct AuthorizerBuilder<C: Send + Sync = StandardClaims> {
    token: Option<TokenAuthenticator<C>>,
    peers: Option<PeerIdentities>,
    clock: Arc<dyn Clock>,
    system_clock: bool,
    sink: Option<Arc<dyn AuditSink>>,
    limits: Limits,
}

impl<C: Send + Sync> fmt::Debug for AuthorizerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizerBuilder")
            .field("token", &self.token)
            .field("client_certificates", &self.peers)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<C: Claims> AuthorizerBuilder<C> {
    /// Verifies bearer tokens with `authenticator`.
    pub fn token(mut self, authenticator: impl Authenticator<C>) -> Self {
        self.token = Some(TokenAuthenticator::new(authenticator));
        self
    }

    /// Identifies callers by their TLS client certificate (serve with tonic's TLS and a client
    /// CA), granting scopes as `identities` says.
    pub fn client_certificates(mut self, identities: PeerIdentities) -> Self {
        self.peers = Some(identities);
        self
    }

    /// Reads time from `clock` (default: the system clock).
    pub fn clock<K: Clock>(mut self, clock: K) -> Self {
        self.system_clock = TypeId::of::<K>() == TypeId::of::<SystemClock>();
        self.clock = Arc::new(clock);
        self
    }

    /// Sends every decision to `sink` too (they always go to `tracing`).
    pub fn audit_sink(mut self, sink: impl AuditSink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Counts calls and stream messages with `limiter` (default: an
    /// [`InMemoryRateLimiter`]); give every replica the same shared limiter to enforce one
    /// budget across them.
    pub fn rate_limiter(mut self, limiter: impl RateLimiter) -> Self {
        self.limits.limiter = Arc::new(limiter);
        self
    }

    /// The call limit per caller and RPC where the proto sets none (default
    /// [`DEFAULT_CALL_LIMIT`]).
    pub fn default_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limits.calls = Some(limit);
        self
    }

    /// The stream-message limit per caller and RPC where the proto sets none (default
    /// [`DEFAULT_MESSAGE_LIMIT`]).
    pub fn default_message_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limits.messages = Some(limit);
        self
    }

    /// Leaves calls and messages unlimited where the proto sets no `rate_limit`. Limits the
    /// proto sets still apply.
    pub fn no_default_rate_limits(mut self) -> Self {
        self.limits.calls = None;
        self.limits.messages = None;
        self
    }

    /// Lets calls through when the rate limiter cannot decide (a shared store is down). By
    /// default they are refused with `UNAVAILABLE`; either way the event is audited.
    pub fn allow_when_rate_limiter_unavailable(mut self) -> Self {
        self.limits.allow_when_unavailable = true;
        self
    }

    /// Builds the authorizer; at least one kind of credential must be configured.
    pub fn build(self) -> Result<Authorizer<C>, ConfigError> {
        if self.token.is_none() && self.peers.is_none() {
            return Err(ConfigError::new(
                "no credential configured: give the authorizer a token authenticator \
                 (`.token(..)`) or client certificate identities (`.client_certificates(..)`)",
            ));
        }
        let auditor = Auditor::new(self.sink);
        Ok(Authorizer {
            inner: Arc::new(Inner {
                token: self.token,
                peers: self.peers,
                clock: self.clock,
                system_clock: self.system_clock,
                auditor: auditor.clone(),
                limits: Limits {
                    auditor,
                    ..self.limits
                },
            }),
        })
    }
}

impl<C: Claims> Authorizer<C> {
    /// An authorizer that verifies bearer tokens with `authenticator` and reads the system
    /// clock.
    pub fn new(authenticator: impl Authenticator<C>) -> Self {
        Self::with_clock(authenticator, SystemClock)
    }

    /// Like [`Authorizer::new`], with an injected clock (tests move a
    /// [`ManualClock`](crate::clock::ManualClock) instead of sleeping).
    pub fn with_clock(authenticator: impl Authenticator<C>, clock: impl Clock) -> Self {
        Self::builder()
            .token(authenticator)
            .clock(clock)
            .build()
            .expect("a token authenticator is configured")
    }

    /// Starts a configuration with tokens, client certificates or both.
    pub fn builder() -> AuthorizerBuilder<C> {
        AuthorizerBuilder {
            token: None,
            peers: None,
            clock: Arc::new(SystemClock),
            system_clock: true,
            sink: None,
            limits: Limits {
                limiter: Arc::new(InMemoryRateLimiter::new()),
                calls: Some(DEFAULT_CALL_LIMIT),
                messages: Some(DEFAULT_MESSAGE_LIMIT),
                allow_when_unavailable: false,
                auditor: Auditor::default(),
            },
        }
    }

    /// The authorizer's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The clock's time; [`SystemClock`]'s read inline, the time of every check.
    #[inline]
    fn now(&self) -> u64 {
        if self.inner.system_clock {
            SystemClock.now()
        } else {
            self.inner.clock.now()
        }
    }

    /// Checks `request` against the policy `P`: authenticates the caller, checks the kind of
    /// credential and the scopes, counts the call against the caller's rate limit, and records
    /// the decision as an audit event.
    ///
    /// The generated adapters run this check before every handler. On failure the status is
    /// ready to return to the caller: generic message, `www-authenticate` challenge, or
    /// `RESOURCE_EXHAUSTED` with the retry delay in a `google.rpc.RetryInfo` detail.
    pub async fn authorize<P: Policy, T>(
        &self,
        request: &Request<T>,
    ) -> Result<Authorized<C, P>, Status> {
        self.authorize_or_wait::<P, T>(request).decision().await
    }

    /// [`authorize`](Self::authorize), decided here unless a remote rate limiter must answer:
    /// then the rest of the check is a future that holds only what that wait needs. For the
    /// generated adapters, not a public API.
    #[doc(hidden)]
    pub fn authorize_or_wait<P: Policy, T>(
        &self,
        request: &Request<T>,
    ) -> Admission<'_, Authorized<C, P>> {
        let policy = &P::POLICY;
        let now = self.now();
        let certificate = match &self.inner.peers {
            Some(peers) => match peers.identify(request.extensions()) {
                Ok(Some(certificate)) if now >= certificate.not_after() => {
                    let error = AuthError::InvalidCertificate("the certificate has expired");
                    return Admission::Decided(Err(self.deny(
                        policy,
                        None,
                        Some(&certificate),
                        &error,
                    )));
                }
                Ok(certificate) => certificate,
                Err(error) => {
                    return Admission::Decided(Err(self.deny(policy, None, None, &error)));
                }
            },
            None => None,
        };
        let claims = match &self.inner.token {
            Some(authenticator) => {
                let call = CallContext {
                    metadata: request.metadata(),
                    extensions: request.extensions(),
                    now,
                };
                match authenticator.authenticate(&call) {
                    Ok(authentication) => Some(authentication.claims),
                    // No token at all: the caller may still have a certificate.
                    Err(AuthError::MissingCredentials) => None,
                    Err(error) => {
                        let certificate = certificate.as_deref();
                        return Admission::Decided(Err(self.deny(
                            policy,
                            None,
                            certificate,
                            &error,
                        )));
                    }
                }
            }
            None => None,
        };
        let subject = claims.as_ref().map(|c| c.subject());
        let checked = check_credentials(policy.identity, claims.is_some(), certificate.is_some())
            .and_then(|()| check_scopes(policy, claims.as_deref(), certificate.as_deref()));
        if let Err(error) = checked {
            let certificate = certificate.as_deref();
            return Admission::Decided(Err(self.deny(policy, subject, certificate, &error)));
        }
        let authorized = Authorized::new(claims, certificate);
        let Some(limit) = policy.rate_limit.or(self.inner.limits.calls) else {
            return Admission::Decided(self.count_and_admit(authorized, RateOutcome::Allowed));
        };
        let key = RateKey {
            method: policy.path,
            kind: RateKind::Call,
            identity: authorized.subject(),
        };
        let check = self.inner.limits.start(limit, key);
        admit_after(check, move |outcome| {
            self.count_and_admit(authorized, outcome)
        })
    }

    /// Applies the rate limiter's answer and records the decision.
    #[inline(always)]
    fn count_and_admit<P: Policy>(
        &self,
        authorized: Authorized<C, P>,
        outcome: RateOutcome,
    ) -> Result<Authorized<C, P>, Status> {
        let policy = &P::POLICY;
        let subject = authorized.claims().map(Claims::subject);
        let key = RateKey {
            method: policy.path,
            kind: RateKind::Call,
            identity: authorized.subject(),
        };
        if let Err(error) = self.inner.limits.decide(outcome, &key) {
            return Err(self.deny(policy, subject, authorized.certificate(), &error));
        }
        self.inner.auditor.record(&AuditEvent {
            method: policy.path,
            subject,
            certificate: authorized.certificate().map(PeerIdentity::name),
            decision: Decision::Allow,
            reason: "authorized",
            detail: None,
        });
        Ok(authorized)
    }

    /// Admits a call to a public RPC (`public: true`): counts it against the rate limit of the
    /// peer's IP address and records it as an audit event.
    pub async fn admit_public<P: Policy, T>(
        &self,
        request: &Request<T>,
    ) -> Result<Public<P>, Status> {
        self.admit_public_or_wait::<P, T>(request).decision().await
    }

    /// [`admit_public`](Self::admit_public), decided here unless a remote rate limiter must
    /// answer. For the generated adapters, not a public API.
    #[doc(hidden)]
    pub fn admit_public_or_wait<P: Policy, T>(
        &self,
        request: &Request<T>,
    ) -> Admission<'_, Public<P>> {
        let peer = peer_identity(request);
        let Some(limit) = P::POLICY.rate_limit.or(self.inner.limits.calls) else {
            return Admission::Decided(self.admit_public_counted(&peer, RateOutcome::Allowed));
        };
        let key = RateKey {
            method: P::POLICY.path,
            kind: RateKind::Call,
            identity: &peer,
        };
        let check = self.inner.limits.start(limit, key);
        admit_after(check, move |outcome| {
            self.admit_public_counted(&peer, outcome)
        })
    }

    /// Applies the rate limiter's answer to a call to a public RPC and records the decision.
    fn admit_public_counted<P: Policy>(
        &self,
        peer: &str,
        outcome: RateOutcome,
    ) -> Result<Public<P>, Status> {
        let key = RateKey {
            method: P::POLICY.path,
            kind: RateKind::Call,
            identity: peer,
        };
        if let Err(error) = self.inner.limits.decide(outcome, &key) {
            return Err(self.deny(&P::POLICY, Some(peer), None, &error));
        }
        self.inner.auditor.record(&AuditEvent {
            method: P::POLICY.path,
            subject: None,
            certificate: None,
            decision: Decision::Allow,
            reason: "public",
            detail: None,
        });
        Ok(Public::new())
    }

    /// Wraps the inbound stream of a client- or bidirectional-streaming call in the
    /// [`GuardedStream`] that re-checks the caller on every message, as the policy says;
    /// `hooks` read the tool name and the fresh token out of messages.
    pub fn guard_stream<P: Policy, T>(
        &self,
        auth: &Authorized<C, P>,
        request: Request<Streaming<T>>,
        hooks: StreamHooks<T>,
    ) -> Request<GuardedStream<T>> {
        let guard = self.stream_guard(auth, &request, hooks);
        request.map(|stream| guard.guard(stream))
    }

    /// The guard of a client- or bidirectional-streaming call's inbound stream, made from the
    /// call's head (its metadata and connection) before the stream is read: what
    /// [`guard_stream`](Self::guard_stream) wraps the stream in, and what the generated server
    /// splits between tonic's decoder and the request body.
    pub fn stream_guard<P: Policy, T, X>(
        &self,
        auth: &Authorized<C, P>,
        head: &Request<X>,
        hooks: StreamHooks<T>,
    ) -> StreamGuard<T> {
        let subject: Arc<str> = auth.subject().into();
        let reauthenticate = hooks.reauth_token.and_then(|_| self.reauthenticator(auth));
        // `mcp_tool` on a stream: every message must call that tool.
        let routed_tool = match hooks.tool_name {
            Some(_) => Routed::read(head.metadata(), TOOL_HEADER),
            None => Routed::Absent,
        };
        let (limit, budget) = self.message_limit::<P>(&subject);
        StreamGuard::new(GuardParts {
            routed_tool,
            policy: &P::POLICY,
            expiry: self.expiry(auth),
            clock: Arc::clone(&self.inner.clock),
            auditor: self.inner.auditor.clone(),
            limit,
            budget,
            subject: Some(subject),
            granted: Some(auth.granted()),
            hooks,
            reauthenticate,
        })
    }

    /// Wraps the inbound stream of a public streaming call. There are no credentials to
    /// re-check; the handler gets the same stream type as on authorized RPCs.
    pub fn guard_public_stream<P: Policy, T>(
        &self,
        public: &Public<P>,
        request: Request<Streaming<T>>,
    ) -> Request<GuardedStream<T>> {
        let guard = self.public_stream_guard(public, &request);
        request.map(|stream| guard.guard(stream))
    }

    /// [`stream_guard`](Self::stream_guard) for a public streaming call: its message limit
    /// only, counted per peer address.
    pub fn public_stream_guard<P: Policy, T, X>(
        &self,
        _public: &Public<P>,
        head: &Request<X>,
    ) -> StreamGuard<T> {
        let peer: Arc<str> = peer_identity(head).into();
        let (limit, budget) = self.message_limit::<P>(&peer);
        StreamGuard::new(GuardParts {
            policy: &P::POLICY,
            subject: None,
            expiry: Expiry::never(),
            clock: Arc::clone(&self.inner.clock),
            auditor: self.inner.auditor.clone(),
            limit,
            budget,
            granted: None,
            hooks: StreamHooks::NONE,
            reauthenticate: None,
            routed_tool: Routed::Absent,
        })
    }

    /// Checks the tool a unary call names against the RPC's tool rules (its declared tools and
    /// their scopes); `Ok` for RPCs that carry no tool calls.
    ///
    /// First, when the client sent `mcp_tool` metadata (which MCP clients send so proxies can
    /// route and authorize on it), it must name exactly the tool the body names: otherwise
    /// whatever a proxy decided on was not this call, and the call is refused with
    /// `INVALID_ARGUMENT` before any handler runs.
    pub fn check_tool<P: Policy>(
        &self,
        auth: &Authorized<C, P>,
        metadata: &MetadataMap,
        tool: Option<&str>,
    ) -> Result<(), Status> {
        let Some(rules) = P::POLICY.tools else {
            return Ok(());
        };
        Routed::read(metadata, TOOL_HEADER)
            .check(TOOL_HEADER, tool)
            .and_then(|()| rules.check(tool, auth))
            .map_err(|error| {
                self.deny(
                    &P::POLICY,
                    auth.claims().map(Claims::subject),
                    auth.certificate(),
                    &error,
                )
            })
    }

    /// Checks the resource URI a call reads against the RPC's resource rules (the longest
    /// declared prefix and its scopes); `Ok` for RPCs that read no resource. An `mcp_resource`
    /// header must name exactly that URI, as [`Authorizer::check_tool`] does for tools.
    pub fn check_resource<P: Policy>(
        &self,
        auth: &Authorized<C, P>,
        metadata: &MetadataMap,
        uri: Option<&str>,
    ) -> Result<(), Status> {
        let Some(rules) = P::POLICY.resources else {
            return Ok(());
        };
        Routed::read(metadata, RESOURCE_HEADER)
            .check(RESOURCE_HEADER, uri)
            .and_then(|()| rules.check(uri, auth))
            .map_err(|error| self.deny_authorized(auth, &error))
    }

    /// Checks the prompt a call gets against the RPC's prompt rules; `Ok` for RPCs that get no
    /// prompt. An `mcp_prompt` header must name exactly that prompt.
    pub fn check_prompt<P: Policy>(
        &self,
        auth: &Authorized<C, P>,
        metadata: &MetadataMap,
        name: Option<&str>,
    ) -> Result<(), Status> {
        let Some(rules) = P::POLICY.prompts else {
            return Ok(());
        };
        Routed::read(metadata, PROMPT_HEADER)
            .check(PROMPT_HEADER, name)
            .and_then(|()| rules.check(name, auth))
            .map_err(|error| self.deny_authorized(auth, &error))
    }

    fn deny_authorized<P: Policy>(&self, auth: &Authorized<C, P>, error: &AuthError) -> Status {
        self.deny(
            &P::POLICY,
            auth.claims().map(Claims::subject),
            auth.certificate(),
            error,
        )
    }

    /// Verifies fresh tokens presented on a stream: same subject, and the stream's certificate
    /// (if any) is kept.
    fn reauthenticator<P: Policy>(&self, auth: &Authorized<C, P>) -> Option<Reauthenticate> {
        let authorizer = self.clone();
        let subject = auth.claims().map(|c| c.subject().to_owned())?;
        let certificate = auth.certificate().cloned().map(Arc::new);
        Some(Arc::new(move |token: &str| {
            let authenticator = authorizer
                .inner
                .token
                .as_ref()
                .ok_or(AuthError::MissingCredentials)?;
            let mut metadata = tonic::metadata::MetadataMap::new();
            let value = tonic::metadata::MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| AuthError::MalformedAuthorization("token is not visible ASCII"))?;
            metadata.insert("authorization", value);
            let extensions = tonic::Extensions::new();
            let authentication = authenticator.authenticate(&CallContext {
                metadata: &metadata,
                extensions: &extensions,
                now: authorizer.inner.clock.now(),
            })?;
            if authentication.claims.subject() != subject {
                return Err(AuthError::InvalidToken(
                    "the fresh token names another subject".to_owned(),
                ));
            }
            let token_expiry = authentication.claims.expires_at();
            let expires_at = match &certificate {
                Some(certificate) => token_expiry.min(certificate.not_after()),
                None => token_expiry,
            };
            Ok(Renewed {
                granted: Arc::new(Grants {
                    claims: Some(authentication.claims),
                    certificate: certificate.clone(),
                }),
                expires_at,
            })
        }))
    }

    /// When the caller's credentials expire, as far as the policy `P` checks it on streams.
    pub fn expiry<P: Policy>(&self, auth: &Authorized<C, P>) -> Expiry {
        Expiry::at(P::POLICY.stream.expiry.then(|| auth.expires_at()))
    }

    /// Wraps the response stream of a server-streaming call so that it ends with
    /// `UNAUTHENTICATED` at `expiry` (from [`Authorizer::expiry`], from the inbound
    /// [`GuardedStream`] of a bidirectional call, or [`Expiry::never`] for public RPCs).
    pub fn expiring_stream<S>(&self, expiry: Expiry, stream: S) -> ExpiringStream<S> {
        ExpiringStream::new(stream, expiry, &self.inner.clock)
    }

    /// Wraps the response body of a server-streaming call served by the generated server so
    /// that it ends with `UNAUTHENTICATED` at `expiry`: [`expiring_stream`](Self::expiring_stream)
    /// per frame of the encoded stream instead of per message.
    #[doc(hidden)]
    pub fn expiring_body<B>(&self, expiry: Expiry, body: B) -> ExpiringBody<B> {
        ExpiringBody::new(body, expiry, &self.inner.clock)
    }

    /// The stream's message limit and, when the limiter keeps budgets in this process, the
    /// caller's budget; `(None, None)` when messages are not limited.
    fn message_limit<P: Policy>(
        &self,
        identity: &Arc<str>,
    ) -> (Option<MessageLimit>, Option<Budget>) {
        let Some(limit) = self.inner.limits.message_limit(&P::POLICY) else {
            return (None, None);
        };
        let key = RateKey {
            method: P::POLICY.path,
            kind: RateKind::Message,
            identity,
        };
        let budget = self.inner.limits.limiter.budget(&key, limit);
        let limit = MessageLimit {
            limits: self.inner.limits.clone(),
            limit,
            identity: Arc::clone(identity),
        };
        (Some(limit), budget)
    }

    fn deny(
        &self,
        policy: &MethodPolicy,
        subject: Option<&str>,
        certificate: Option<&PeerIdentity>,
        error: &AuthError,
    ) -> Status {
        let detail = error.to_string();
        self.inner.auditor.record(&AuditEvent {
            method: policy.path,
            subject,
            certificate: certificate.map(PeerIdentity::name),
            decision: Decision::Deny,
            reason: error.reason(),
            detail: Some(&detail),
        });
        error.to_status()
    }
}

/// The rate-limit identity of an unauthenticated caller: its IP address, never its port or
/// connection, so reconnecting does not reset the budget.
fn peer_identity<T>(request: &Request<T>) -> String {
    match request.remote_addr() {
        Some(addr) => format!("peer:{}", addr.ip()),
        None => "peer:unknown".to_owned(),
    }
}

#[inline]
fn check_credentials(
    required: IdentityRequirement,
    token: bool,
    certificate: bool,
) -> Result<(), AuthError> {
    let missing = match required {
        _ if !token && !certificate => return Err(AuthError::MissingCredentials),
        IdentityRequirement::Any | IdentityRequirement::Either => None,
        IdentityRequirement::Jwt => (!token).then_some("a bearer token is required"),
        IdentityRequirement::Mtls => (!certificate).then_some("a client certificate is required"),
        IdentityRequirement::Both => (!token || !certificate)
            .then_some("a bearer token and a client certificate are required"),
    };
    match missing {
        Some(what) => Err(AuthError::CredentialNotAccepted(what)),
        None => Ok(()),
    }
}

#[inline(always)]
fn check_scopes<C: Claims>(
    policy: &MethodPolicy,
    claims: Option<&C>,
    certificate: Option<&PeerIdentity>,
) -> Result<(), AuthError> {
    let granted = |scope: &str| {
        claims.is_some_and(|c| c.has_scope(scope))
            || certificate.is_some_and(|c| c.has_scope(scope))
    };
    match policy.access {
        Access::Scopes(required) if !required.iter().all(|s| granted(s)) => {
            Err(AuthError::InsufficientScope { required })
        }
        // A public policy reaching `authorize` has authenticated the caller anyway; there is
        // nothing more to require.
        Access::Scopes(_) | Access::Authenticated | Access::Public => Ok(()),
    }
}
