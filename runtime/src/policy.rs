//! Authorization policies as data: what each RPC requires.
//!
//! The generated code describes every RPC with a `const` [`MethodPolicy`] and a marker type
//! implementing [`Policy`]; handlers name the marker in their [`Authorized`](crate::Authorized)
//! argument. The table of a whole service is a [`ServicePolicy`], for docs, audits and the
//! startup check that every mounted service is covered.

/// The gRPC shape of an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    Bidirectional,
}

impl MethodKind {
    /// Whether the client sends a stream of messages (client-streaming or bidirectional), the
    /// RPCs whose messages the stream guard checks one by one.
    pub const fn client_streams(self) -> bool {
        matches!(self, Self::ClientStreaming | Self::Bidirectional)
    }
}

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone, without credentials (`public: true` in the proto).
    Public,
    /// Any authenticated caller (`authenticated: true` in the proto).
    Authenticated,
    /// Authenticated callers holding every one of these scopes.
    Scopes(&'static [&'static str]),
}

/// Which credentials the caller must present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdentityRequirement {
    /// Any credential the server accepts.
    #[default]
    Any,
    /// A bearer token.
    Jwt,
    /// A verified client certificate.
    Mtls,
    /// A bearer token or a client certificate.
    Either,
    /// A bearer token and a client certificate.
    Both,
}

/// The per-message checks on a client stream. Every check is on unless the proto relaxes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamChecks {
    /// Re-check the token's expiry on every message (off: `unchecked_expiry`).
    pub expiry: bool,
    /// Check each message's own scopes (off: `unchecked_message_scopes`).
    pub message_scopes: bool,
    /// Count each message against the caller's rate limit (off: `unlimited_messages`).
    pub message_rate_limit: bool,
}

impl StreamChecks {
    /// Every check on: the default.
    pub const STRICT: Self = Self {
        expiry: true,
        message_scopes: true,
        message_rate_limit: true,
    };
}

impl Default for StreamChecks {
    fn default() -> Self {
        Self::STRICT
    }
}

/// A GCRA rate: a sustained rate per second and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Sustained events per second.
    pub per_second: u32,
    /// Events that may arrive at once.
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` events per second with a burst of `burst` (both at least 1; zeros are
    /// raised to 1, so a limit never becomes "nothing passes" or "unlimited" by accident).
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: if per_second == 0 { 1 } else { per_second },
            burst: if burst == 0 { 1 } else { burst },
        }
    }
}

/// What one RPC requires, as written in (or inherited through) its proto options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MethodPolicy {
    /// The fully qualified service name, e.g. `mcp.McpService`.
    pub service: &'static str,
    /// The method name as in the proto, e.g. `ListTools`.
    pub method: &'static str,
    /// The HTTP/2 path, e.g. `/mcp.McpService/ListTools`.
    pub path: &'static str,
    /// Unary or which way it streams.
    pub kind: MethodKind,
    /// Who may call.
    pub access: Access,
    /// Which credentials are needed.
    pub identity: IdentityRequirement,
    /// The per-message checks of a client stream.
    pub stream: StreamChecks,
    /// The call rate limit the proto sets; `None` takes the server's default.
    pub rate_limit: Option<RateLimit>,
    /// The stream-message rate limit the proto sets; `None` takes the server's default.
    pub message_rate_limit: Option<RateLimit>,
    /// The tool checks of an RPC whose calls (or stream messages) name an MCP tool.
    pub tools: Option<crate::tools::ToolRules>,
    /// The resource checks of an RPC whose calls name an MCP resource by URI.
    pub resources: Option<crate::tools::ResourceRules>,
    /// The prompt checks of an RPC whose calls name an MCP prompt.
    pub prompts: Option<crate::tools::PromptRules>,
}

impl MethodPolicy {
    /// The scopes a caller must hold; empty for public and authenticated-only RPCs.
    pub const fn required_scopes(&self) -> &'static [&'static str] {
        match self.access {
            Access::Scopes(scopes) => scopes,
            Access::Public | Access::Authenticated => &[],
        }
    }

    /// Whether the RPC is callable without credentials.
    pub const fn is_public(&self) -> bool {
        matches!(self.access, Access::Public)
    }
}

/// A marker type naming one RPC's policy. Implemented by the generated code, one marker per RPC,
/// in a `policy` module beside the service trait.
pub trait Policy: Send + Sync + 'static {
    /// The policy of the RPC.
    const POLICY: MethodPolicy;
}

/// The policy table of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServicePolicy {
    /// The fully qualified service name.
    pub name: &'static str,
    /// Every RPC of the service, in proto order.
    pub methods: &'static [MethodPolicy],
    /// The MCP tools its RPCs carry, in declaration order.
    pub tools: &'static [crate::tools::ToolPolicy],
    /// The MCP resource prefixes its RPCs read, in declaration order.
    pub resources: &'static [crate::tools::ResourcePolicy],
    /// The MCP prompts its RPCs get, in declaration order.
    pub prompts: &'static [crate::tools::PromptPolicy],
}

impl ServicePolicy {
    /// The policy of the RPC served at `path` (`/package.Service/Method`).
    pub fn method(&self, path: &str) -> Option<&'static MethodPolicy> {
        self.methods.iter().find(|m| m.path == path)
    }
}
