//! The proof of authorization that handlers take as an argument.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::claims::Claims;
use crate::policy::{MethodPolicy, Policy};

/// Proof that the caller passed the checks of the RPC named by `P`.
///
/// A generated handler cannot be called without one, and there is no public way to make one:
/// the only constructor is the [`Authorizer`](crate::Authorizer)'s check, which the generated
/// adapter runs before it calls the handler. `P` is the marker of one RPC (`policy::ListTools`),
/// so a proof for one RPC cannot be handed to another.
pub struct Authorized<C, P> {
    claims: Arc<C>,
    _policy: PhantomData<fn() -> P>,
}

impl<C: Claims, P: Policy> Authorized<C, P> {
    pub(crate) fn new(claims: Arc<C>) -> Self {
        Self {
            claims,
            _policy: PhantomData,
        }
    }

    /// The verified claims of the caller's token.
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// The verified claims, shared.
    pub fn claims_arc(&self) -> &Arc<C> {
        &self.claims
    }

    /// The caller's subject.
    pub fn subject(&self) -> &str {
        self.claims.subject()
    }

    /// Whether the caller's token grants `scope` (beyond those the RPC required).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.has_scope(scope)
    }

    /// When the caller's token expires, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.claims.expires_at()
    }

    /// The policy the caller was checked against.
    pub fn policy(&self) -> &'static MethodPolicy {
        &P::POLICY
    }
}

impl<C, P> Clone for Authorized<C, P> {
    fn clone(&self) -> Self {
        Self {
            claims: Arc::clone(&self.claims),
            _policy: PhantomData,
        }
    }
}

impl<C: Claims, P: Policy> fmt::Debug for Authorized<C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorized")
            .field("method", &P::POLICY.path)
            .field("subject", &self.subject())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// The marker a public RPC's handler takes instead of [`Authorized`], so the signature shows
/// that the method runs without authentication (`public: true` in the proto).
pub struct Public<P> {
    _policy: PhantomData<fn() -> P>,
}

impl<P: Policy> Public<P> {
    pub(crate) fn new() -> Self {
        const {
            assert!(
                P::POLICY.is_public(),
                "`Public` is only for RPCs marked `public: true`"
            )
        };
        Self {
            _policy: PhantomData,
        }
    }

    /// The policy of the RPC.
    pub fn policy(&self) -> &'static MethodPolicy {
        &P::POLICY
    }
}

impl<P: Policy> fmt::Debug for Public<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Public")
            .field("method", &P::POLICY.path)
            .finish()
    }
}

/// Implemented by the two kinds of proof a handler can take, [`Authorized`] and [`Public`], for
/// the RPC `P`. The `#[mcp_auth::handlers]` attribute uses it to check each handler's first
/// argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the proof of authorization for the RPC `{P}`",
    label = "this handler serves `{P}`",
    note = "a handler takes `mcp_auth::Authorized<C, {P}>` (or `mcp_auth::Public<{P}>` for a public RPC) as its first argument after `&self`; only the mcp-auth `Authorizer` creates them"
)]
pub trait ProofFor<P> {}

impl<C, P: ProtectedRpc> ProofFor<P> for Authorized<C, P> {}
impl<P: PublicRpc> ProofFor<P> for Public<P> {}

/// Marks the policy marker of an RPC that needs credentials. Implemented by the generated code.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the RPC `{Self}` is public: its handler takes `mcp_auth::Public<{Self}>`, not `Authorized`",
    label = "a public RPC has no caller to authorize"
)]
pub trait ProtectedRpc: Policy {}

/// Marks the policy marker of a public RPC (`public: true`). Implemented by the generated code.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the RPC `{Self}` is not public: its handler takes `mcp_auth::Authorized<C, {Self}>`, not `Public`",
    label = "this RPC requires credentials"
)]
pub trait PublicRpc: Policy {}

/// The proof type of the RPC `Self` for claims `C`: `Authorized<C, Self>` or `Public<Self>`.
/// Implemented by the generated code; `#[mcp_auth::handlers]` writes handler signatures with it.
#[doc(hidden)]
pub trait ProofOf<C> {
    /// The proof the RPC's handler takes.
    type Proof;
}
