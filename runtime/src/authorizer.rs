//! The check that runs before every handler.

use std::fmt;
use std::sync::Arc;

use tonic::{Request, Status, Streaming};

use crate::audit::{AuditEvent, AuditSink, Auditor, Decision};
use crate::authenticate::{Authenticator, CallContext};
use crate::authorized::{Authorized, Public};
use crate::claims::{Claims, StandardClaims};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError};
use crate::mtls::{PeerIdentities, PeerIdentity};
use crate::policy::{Access, IdentityRequirement, MethodPolicy, Policy};
use crate::stream::GuardedStream;

/// Authenticates callers and checks them against a method's policy; the only source of
/// [`Authorized`] proofs. Cheap to clone.
///
/// A caller proves who it is with a bearer token (checked by the token
/// [`Authenticator`], e.g. [`JwtAuthenticator`](crate::jwt::JwtAuthenticator)), with a client
/// certificate verified by TLS (named by [`PeerIdentities`]), or both; the RPC's `identity`
/// option says which it needs. A token that is present but invalid is refused even when a
/// valid certificate is present too.
pub struct Authorizer<C = StandardClaims> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    token: Option<Box<dyn Authenticator<C>>>,
    peers: Option<PeerIdentities>,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
}

impl<C> Clone for Authorizer<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for Authorizer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("token", &self.inner.token)
            .field("client_certificates", &self.inner.peers)
            .field("clock", &self.inner.clock)
            .field("auditor", &self.inner.auditor)
            .finish()
    }
}

/// Configures an [`Authorizer`].
pub struct AuthorizerBuilder<C = StandardClaims> {
    token: Option<Box<dyn Authenticator<C>>>,
    peers: Option<PeerIdentities>,
    clock: Arc<dyn Clock>,
    sink: Option<Arc<dyn AuditSink>>,
}

impl<C> fmt::Debug for AuthorizerBuilder<C> {
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
        self.token = Some(Box::new(authenticator));
        self
    }

    /// Identifies callers by their TLS client certificate (serve with tonic's TLS and a client
    /// CA), granting scopes as `identities` says.
    pub fn client_certificates(mut self, identities: PeerIdentities) -> Self {
        self.peers = Some(identities);
        self
    }

    /// Reads time from `clock` (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sends every decision to `sink` too (they always go to `tracing`).
    pub fn audit_sink(mut self, sink: impl AuditSink) -> Self {
        self.sink = Some(Arc::new(sink));
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
        Ok(Authorizer {
            inner: Arc::new(Inner {
                token: self.token,
                peers: self.peers,
                clock: self.clock,
                auditor: Auditor::new(self.sink),
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
            sink: None,
        }
    }

    /// The authorizer's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Checks `request` against the policy `P`: authenticates the caller, checks the kind of
    /// credential and the scopes, and records the decision as an audit event.
    ///
    /// The generated adapters call this before every handler. On failure the status is ready
    /// to return to the caller: generic message, `www-authenticate` challenge.
    pub fn authorize<P: Policy, T>(
        &self,
        request: &Request<T>,
    ) -> Result<Authorized<C, P>, Status> {
        let policy = &P::POLICY;
        let now = self.inner.clock.now();
        let certificate = match &self.inner.peers {
            Some(peers) => match peers.identify(request.extensions()) {
                Ok(Some(certificate)) if now >= certificate.not_after() => {
                    let error = AuthError::InvalidCertificate("the certificate has expired");
                    return Err(self.deny(policy, None, Some(&certificate), &error));
                }
                Ok(certificate) => certificate,
                Err(error) => return Err(self.deny(policy, None, None, &error)),
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
                        return Err(self.deny(policy, None, certificate.as_deref(), &error));
                    }
                }
            }
            None => None,
        };
        let subject = claims.as_ref().map(|c| c.subject());
        let checked = check_credentials(policy.identity, claims.is_some(), certificate.is_some())
            .and_then(|()| check_scopes(policy, claims.as_deref(), certificate.as_deref()));
        if let Err(error) = checked {
            return Err(self.deny(policy, subject, certificate.as_deref(), &error));
        }
        self.inner.auditor.record(&AuditEvent {
            method: policy.path,
            subject,
            certificate: certificate.as_deref().map(PeerIdentity::name),
            decision: Decision::Allow,
            reason: "authorized",
            detail: None,
        });
        Ok(Authorized::new(claims, certificate))
    }

    /// Admits a call to a public RPC (`public: true`), recording it as an audit event.
    pub fn admit_public<P: Policy, T>(&self, _request: &Request<T>) -> Public<P> {
        self.inner.auditor.record(&AuditEvent {
            method: P::POLICY.path,
            subject: None,
            certificate: None,
            decision: Decision::Allow,
            reason: "public",
            detail: None,
        });
        Public::new()
    }

    /// Wraps the inbound stream of a client- or bidirectional-streaming call in the
    /// [`GuardedStream`] that re-checks the caller on every message, as the policy says.
    pub fn guard_stream<P: Policy, T>(
        &self,
        auth: &Authorized<C, P>,
        request: Request<Streaming<T>>,
    ) -> Request<GuardedStream<T>> {
        let expires_at = P::POLICY.stream.expiry.then(|| auth.expires_at());
        let clock = Arc::clone(&self.inner.clock);
        let subject: Arc<str> = auth.subject().into();
        let auditor = self.inner.auditor.clone();
        request.map(|stream| {
            GuardedStream::new(
                stream,
                &P::POLICY,
                Some(subject),
                expires_at,
                clock,
                auditor,
            )
        })
    }

    /// Wraps the inbound stream of a public streaming call. There are no credentials to
    /// re-check; the handler gets the same stream type as on authorized RPCs.
    pub fn guard_public_stream<P: Policy, T>(
        &self,
        _public: &Public<P>,
        request: Request<Streaming<T>>,
    ) -> Request<GuardedStream<T>> {
        let clock = Arc::clone(&self.inner.clock);
        let auditor = self.inner.auditor.clone();
        request.map(|stream| GuardedStream::new(stream, &P::POLICY, None, None, clock, auditor))
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
