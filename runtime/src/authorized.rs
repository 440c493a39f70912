//! The proof of authorization that handlers take as an argument.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::claims::Claims;
use crate::mtls::PeerIdentity;
use crate::policy::{MethodPolicy, Policy, ServicePolicy};
use crate::tools::{GrantedScopes, PromptPolicy, ResourcePolicy, ToolPolicy};

/// Proof that the caller passed the checks of the RPC named by `P`.
///
/// A generated handler cannot be called without one, and there is no public way to make one:
/// the only constructor is the [`Authorizer`](crate::Authorizer)'s check, which the generated
/// adapter runs before it calls the handler. `P` is the marker of one RPC (`policy::ListTools`),
/// so a proof for one RPC cannot be handed to another.
///
/// The caller presented a verified token, a verified client certificate, or both, as the RPC's
/// `identity` requires.
pub struct Authorized<C, P> {
    claims: Option<Arc<C>>,
    certificate: Option<Arc<PeerIdentity>>,
    _policy: PhantomData<fn() -> P>,
}

impl<C: Claims, P: Policy> Authorized<C, P> {
    pub(crate) fn new(claims: Option<Arc<C>>, certificate: Option<Arc<PeerIdentity>>) -> Self {
        debug_assert!(claims.is_some() || certificate.is_some());
        Self {
            claims,
            certificate,
            _policy: PhantomData,
        }
    }

    /// The verified claims of the caller's token, when it presented one.
    pub fn claims(&self) -> Option<&C> {
        self.claims.as_deref()
    }

    /// The verified claims, shared.
    pub fn claims_arc(&self) -> Option<&Arc<C>> {
        self.claims.as_ref()
    }

    /// The identity of the caller's client certificate, when it presented one.
    pub fn certificate(&self) -> Option<&PeerIdentity> {
        self.certificate.as_deref()
    }

    /// Who is calling: the token's subject, else the certificate's identity.
    pub fn subject(&self) -> &str {
        match (&self.claims, &self.certificate) {
            (Some(claims), _) => claims.subject(),
            (None, Some(certificate)) => certificate.name(),
            (None, None) => "",
        }
    }

    /// Whether the caller holds `scope`, through its token or its certificate's grant.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.as_ref().is_some_and(|c| c.has_scope(scope))
            || self
                .certificate
                .as_ref()
                .is_some_and(|c| c.has_scope(scope))
    }

    /// When the caller's credentials stop being valid, in seconds since the Unix epoch: the
    /// token's `exp` or the certificate's `notAfter`, whichever comes first.
    pub fn expires_at(&self) -> u64 {
        let token = self.claims.as_ref().map(|c| c.expires_at());
        let certificate = self.certificate.as_ref().map(|c| c.not_after());
        match (token, certificate) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0,
        }
    }

    /// The policy the caller was checked against.
    pub fn policy(&self) -> &'static MethodPolicy {
        &P::POLICY
    }

    /// Whether the caller may call `tool` (holds every scope it needs).
    pub fn may_call(&self, tool: &ToolPolicy) -> bool {
        tool.scopes.iter().all(|scope| self.has_scope(scope))
    }

    /// The tools of `service` the caller may call: what `ListTools` should show it.
    pub fn callable_tools(&self, service: &ServicePolicy) -> Vec<&'static ToolPolicy> {
        service
            .tools
            .iter()
            .filter(|tool| self.may_call(tool))
            .collect()
    }

    /// Whether the caller may read the resource at `uri` of `service`: its longest declared
    /// prefix exists and the caller holds every scope it needs. A URI under no declared prefix
    /// is `false` here, whatever `allow_undeclared_resources` says: filter `ListResources` with
    /// it so a caller only sees what it may read.
    pub fn may_read_resource(&self, service: &ServicePolicy, uri: &str) -> bool {
        service
            .resources
            .iter()
            .filter(|r| uri.starts_with(r.uri_prefix))
            .max_by_key(|r| r.uri_prefix.len())
            .is_some_and(|r| r.scopes.iter().all(|scope| self.has_scope(scope)))
    }

    /// The resource prefixes of `service` the caller may read.
    pub fn readable_resources(&self, service: &ServicePolicy) -> Vec<&'static ResourcePolicy> {
        service
            .resources
            .iter()
            .filter(|r| r.scopes.iter().all(|scope| self.has_scope(scope)))
            .collect()
    }

    /// The prompts of `service` the caller may get: what `ListPrompts` should show it.
    pub fn usable_prompts(&self, service: &ServicePolicy) -> Vec<&'static PromptPolicy> {
        service
            .prompts
            .iter()
            .filter(|p| p.scopes.iter().all(|scope| self.has_scope(scope)))
            .collect()
    }

    /// The caller's grants, for checks made later (stream messages).
    pub(crate) fn granted(&self) -> Arc<dyn GrantedScopes> {
        Arc::new(Grants {
            claims: self.claims.clone(),
            certificate: self.certificate.clone(),
        })
    }
}

impl<C: Claims, P: Policy> GrantedScopes for Authorized<C, P> {
    fn has_scope(&self, scope: &str) -> bool {
        Authorized::has_scope(self, scope)
    }
}

/// A caller's credentials, as far as scopes go.
pub(crate) struct Grants<C> {
    pub(crate) claims: Option<Arc<C>>,
    pub(crate) certificate: Option<Arc<PeerIdentity>>,
}

impl<C: Claims> GrantedScopes for Grants<C> {
    fn has_scope(&self, scope: &str) -> bool {
        self.claims.as_ref().is_some_and(|c| c.has_scope(scope))
            || self
                .certificate
                .as_ref()
                .is_some_and(|c| c.has_scope(scope))
    }
}

impl<C, P> Clone for Authorized<C, P> {
    fn clone(&self) -> Self {
        Self {
            claims: self.claims.clone(),
            certificate: self.certificate.clone(),
            _policy: PhantomData,
        }
    }
}

impl<C: Claims, P: Policy> fmt::Debug for Authorized<C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorized")
            .field("method", &P::POLICY.path)
            .field("subject", &self.subject())
            .field("certificate", &self.certificate().map(PeerIdentity::name))
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
