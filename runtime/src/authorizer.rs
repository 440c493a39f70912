//! The check that runs before every handler.

use std::fmt;
use std::sync::Arc;

use tonic::{Request, Status, Streaming};

use crate::authenticate::{Authenticator, CallContext, Credential};
use crate::authorized::{Authorized, Public};
use crate::claims::{Claims, StandardClaims};
use crate::clock::{Clock, SystemClock};
use crate::error::AuthError;
use crate::policy::{Access, IdentityRequirement, MethodPolicy, Policy};
use crate::stream::GuardedStream;

/// The target of the structured `tracing` events for every authorization decision.
pub const AUDIT_TARGET: &str = "mcp_auth::audit";

/// Authenticates callers and checks them against a method's policy; the only source of
/// [`Authorized`] proofs. Cheap to clone.
pub struct Authorizer<C = StandardClaims> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    authenticator: Box<dyn Authenticator<C>>,
    clock: Arc<dyn Clock>,
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
            .field("authenticator", &self.inner.authenticator)
            .field("clock", &self.inner.clock)
            .finish()
    }
}

impl<C: Claims> Authorizer<C> {
    /// An authorizer that verifies callers with `authenticator` and reads the system clock.
    pub fn new(authenticator: impl Authenticator<C>) -> Self {
        Self::with_clock(authenticator, SystemClock)
    }

    /// An authorizer with an injected clock (tests move a
    /// [`ManualClock`](crate::clock::ManualClock) instead of sleeping).
    pub fn with_clock(authenticator: impl Authenticator<C>, clock: impl Clock) -> Self {
        Self {
            inner: Arc::new(Inner {
                authenticator: Box::new(authenticator),
                clock: Arc::new(clock),
            }),
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
        let call = CallContext {
            metadata: request.metadata(),
            extensions: request.extensions(),
            now: self.inner.clock.now(),
        };
        let authentication = match self.inner.authenticator.authenticate(&call) {
            Ok(authentication) => authentication,
            Err(error) => return Err(deny(policy, None, &error)),
        };
        let subject = authentication.claims.subject();
        let checked = check_credential(policy.identity, authentication.credential)
            .and_then(|()| check_scopes(policy, &*authentication.claims));
        if let Err(error) = checked {
            return Err(deny(policy, Some(subject), &error));
        }
        tracing::info!(
            target: AUDIT_TARGET,
            method = policy.path,
            subject,
            decision = "allow",
            "authorized"
        );
        Ok(Authorized::new(authentication.claims))
    }

    /// Admits a call to a public RPC (`public: true`), recording it as an audit event.
    pub fn admit_public<P: Policy, T>(&self, _request: &Request<T>) -> Public<P> {
        tracing::info!(
            target: AUDIT_TARGET,
            method = P::POLICY.path,
            decision = "allow",
            reason = "public",
            "public method"
        );
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
        request
            .map(|stream| GuardedStream::new(stream, &P::POLICY, Some(subject), expires_at, clock))
    }

    /// Wraps the inbound stream of a public streaming call. There are no credentials to
    /// re-check; the handler gets the same stream type as on authorized RPCs.
    pub fn guard_public_stream<P: Policy, T>(
        &self,
        _public: &Public<P>,
        request: Request<Streaming<T>>,
    ) -> Request<GuardedStream<T>> {
        let clock = Arc::clone(&self.inner.clock);
        request.map(|stream| GuardedStream::new(stream, &P::POLICY, None, None, clock))
    }
}

fn check_credential(required: IdentityRequirement, presented: Credential) -> Result<(), AuthError> {
    let accepted = match required {
        IdentityRequirement::Any | IdentityRequirement::Either => true,
        IdentityRequirement::Jwt => presented == Credential::Jwt,
        IdentityRequirement::Mtls => presented == Credential::Mtls,
        // One authenticator yields one credential; requiring both needs a combined
        // authenticator that reports both, which this version does not ship.
        IdentityRequirement::Both => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(AuthError::CredentialNotAccepted(match required {
            IdentityRequirement::Jwt => "a bearer token is required",
            IdentityRequirement::Mtls => "a client certificate is required",
            _ => "a bearer token and a client certificate are required",
        }))
    }
}

fn check_scopes<C: Claims>(policy: &MethodPolicy, claims: &C) -> Result<(), AuthError> {
    match policy.access {
        Access::Authenticated => Ok(()),
        Access::Scopes(required) if required.iter().all(|s| claims.has_scope(s)) => Ok(()),
        Access::Scopes(required) => Err(AuthError::InsufficientScope { required }),
        // A public policy reaching `authorize` has authenticated the caller anyway; there is
        // nothing more to require.
        Access::Public => Ok(()),
    }
}

fn deny(policy: &MethodPolicy, subject: Option<&str>, error: &AuthError) -> Status {
    tracing::info!(
        target: AUDIT_TARGET,
        method = policy.path,
        subject,
        decision = "deny",
        reason = error.reason(),
        detail = %error,
        "denied"
    );
    error.to_status()
}
