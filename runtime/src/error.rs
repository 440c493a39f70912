//! Authorization failures and the one place they become gRPC statuses.

use tonic::Status;
use tonic::metadata::MetadataValue;

/// Why a call was refused.
///
/// The `Display` text is the detail for the audit log; it never contains the token. Callers
/// only ever see the generic message of [`AuthError::to_status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were presented.
    #[error("no credentials were presented")]
    MissingCredentials,
    /// The `authorization` metadata is not exactly one `Bearer <token>` value.
    #[error("malformed authorization metadata: {0}")]
    MalformedAuthorization(&'static str),
    /// The token failed verification (signature, algorithm, issuer, audience, claims...).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The client certificate, verified by TLS, does not name a caller (two URI SANs, a CA
    /// certificate, no name at all) or has expired since the connection was made.
    #[error("invalid client certificate: {0}")]
    InvalidCertificate(&'static str),
    /// The caller presented a kind of credential the RPC does not accept.
    #[error("credential not accepted by this method: {0}")]
    CredentialNotAccepted(&'static str),
    /// The caller is over its rate limit.
    #[error("rate limit exceeded; retry after {retry_after:?}")]
    RateLimited {
        /// When the next call (or message) would be allowed.
        retry_after: std::time::Duration,
    },
    /// The rate limiter could not decide (its store is unreachable) and the server denies in
    /// that case.
    #[error("rate limiter unavailable: {0}")]
    RateLimiterUnavailable(String),
    /// The call names a tool that no rule declares (or no tool at all).
    #[error("tool not allowed: {0}")]
    ToolNotAllowed(String),
    /// The call reads a resource no rule covers (or names none, or names it ambiguously).
    #[error("resource not allowed: {0}")]
    ResourceNotAllowed(String),
    /// The call gets a prompt no rule declares (or names none).
    #[error("prompt not allowed: {0}")]
    PromptNotAllowed(String),
    /// A routing header MCP clients send for proxies (`mcp_tool`, `mcp_resource`, `mcp_prompt`)
    /// is present but does not name what the request body names (or is given twice, or is not
    /// text): whatever a proxy routed and authorized on, it was not this call.
    #[error("the `{header}` metadata does not match the request: {detail}")]
    RoutingMismatch {
        /// The metadata key.
        header: &'static str,
        /// What differs.
        detail: String,
    },
    /// The caller lacks scopes the RPC requires.
    #[error("missing scopes; the method requires `{}`", .required.join(" "))]
    InsufficientScope {
        /// Every scope the RPC requires (not only the missing ones: RFC 6750 §3).
        required: &'static [&'static str],
    },
}

impl AuthError {
    /// The gRPC status sent to the caller: `UNAUTHENTICATED` for missing or bad credentials,
    /// `PERMISSION_DENIED` for missing scopes, with a generic message and an RFC 6750
    /// `www-authenticate` challenge in the metadata.
    pub fn to_status(&self) -> Status {
        let (mut status, challenge) = match self {
            Self::InvalidCertificate(_) => {
                return Status::unauthenticated("invalid credentials");
            }
            Self::RateLimited { retry_after } => {
                use tonic_types::{ErrorDetails, StatusExt};
                return Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    "rate limit exceeded",
                    ErrorDetails::with_retry_info(Some(*retry_after)),
                );
            }
            Self::RateLimiterUnavailable(_) => {
                return Status::unavailable("rate limiter unavailable");
            }
            Self::ToolNotAllowed(_) => {
                return Status::permission_denied("tool not allowed");
            }
            Self::ResourceNotAllowed(_) => {
                return Status::permission_denied("resource not allowed");
            }
            Self::PromptNotAllowed(_) => {
                return Status::permission_denied("prompt not allowed");
            }
            // INVALID_ARGUMENT, not PERMISSION_DENIED: the request contradicts itself whoever
            // sends it, and no other credential would make it acceptable.
            Self::RoutingMismatch { header, .. } => {
                return Status::invalid_argument(format!(
                    "the `{header}` metadata does not match the request"
                ));
            }
            Self::MissingCredentials | Self::CredentialNotAccepted(_) => (
                Status::unauthenticated("missing credentials"),
                "Bearer".to_owned(),
            ),
            Self::MalformedAuthorization(_) => (
                Status::unauthenticated("invalid credentials"),
                r#"Bearer error="invalid_request""#.to_owned(),
            ),
            Self::InvalidToken(_) => (
                Status::unauthenticated("invalid credentials"),
                r#"Bearer error="invalid_token""#.to_owned(),
            ),
            Self::Expired => (
                Status::unauthenticated("token expired; reconnect with fresh credentials"),
                r#"Bearer error="invalid_token", error_description="token expired""#.to_owned(),
            ),
            Self::InsufficientScope { required } => (
                Status::permission_denied("insufficient scope"),
                // Scopes are validated at code generation to be RFC 6749 scope-tokens, which
                // contain no quote or backslash, so they need no escaping here.
                format!(
                    r#"Bearer error="insufficient_scope", scope="{}""#,
                    required.join(" ")
                ),
            ),
        };
        if let Ok(value) = MetadataValue::try_from(challenge) {
            status.metadata_mut().insert("www-authenticate", value);
        }
        status
    }

    /// A short machine-readable reason for audit events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::MalformedAuthorization(_) => "malformed_authorization",
            Self::InvalidToken(_) => "invalid_token",
            Self::Expired => "token_expired",
            Self::CredentialNotAccepted(_) => "credential_not_accepted",
            Self::InvalidCertificate(_) => "invalid_certificate",
            Self::RateLimited { .. } => "rate_limited",
            Self::RateLimiterUnavailable(_) => "rate_limiter_unavailable",
            Self::ToolNotAllowed(_) => "tool_not_allowed",
            Self::ResourceNotAllowed(_) => "resource_not_allowed",
            Self::PromptNotAllowed(_) => "prompt_not_allowed",
            Self::RoutingMismatch { .. } => "routing_mismatch",
            Self::InsufficientScope { .. } => "insufficient_scope",
        }
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        error.to_status()
    }
}

/// A configuration mistake found while building an authenticator or authorizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub(crate) String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn challenge(status: &Status) -> &str {
        status
            .metadata()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
    }

    #[test]
    fn statuses_are_generic_and_carry_rfc6750_challenges() {
        let missing = AuthError::MissingCredentials.to_status();
        assert_eq!(missing.code(), Code::Unauthenticated);
        assert_eq!(challenge(&missing), "Bearer");

        let invalid = AuthError::InvalidToken("bad signature for kid k1".into()).to_status();
        assert_eq!(invalid.code(), Code::Unauthenticated);
        assert_eq!(invalid.message(), "invalid credentials");
        assert_eq!(challenge(&invalid), r#"Bearer error="invalid_token""#);

        let denied = AuthError::InsufficientScope {
            required: &["tools:call", "files:write"],
        }
        .to_status();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(denied.message(), "insufficient scope");
        assert_eq!(
            challenge(&denied),
            r#"Bearer error="insufficient_scope", scope="tools:call files:write""#
        );
    }
}
