//! What a verified token says about its caller.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The claims of a verified token, as the authorization checks need them.
///
/// Implemented by [`StandardClaims`]; implement it for your own struct when your identity
/// provider puts subject or scopes elsewhere. Times are seconds since the Unix epoch.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as the claims of a token",
    note = "implement `mcp_auth::Claims` for `{Self}`, or use `mcp_auth::StandardClaims`"
)]
pub trait Claims: DeserializeOwned + Send + Sync + 'static {
    /// The subject (`sub`): who the token speaks for. Rate limits and audit events key on it.
    fn subject(&self) -> &str;

    /// Whether the token grants `scope`. Scopes match exactly, token by token: `files:read`
    /// does not grant `files:read:all`, and `files` does not grant `files:read`.
    fn has_scope(&self, scope: &str) -> bool;

    /// The expiry (`exp`). Tokens without one are rejected before claims are built.
    fn expires_at(&self) -> u64;

    /// The earliest time the token may be used (`nbf`), if it says.
    fn not_before(&self) -> Option<u64> {
        None
    }

    /// When the token was issued (`iat`), if it says.
    fn issued_at(&self) -> Option<u64> {
        None
    }
}

/// Claims of an OAuth 2.0 access token (RFC 9068): `sub`, `exp`, and scopes from either a
/// space-delimited `scope` string (RFC 8693) or an `scp` array (common in Microsoft Entra and
/// Okta tokens). When both are present, the token grants the scopes of both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawStandardClaims", into = "RawStandardClaims")]
pub struct StandardClaims {
    // Sized exactly (`Box`, not `String` or `Vec`): a verified-token cache keeps one of these
    // per token for as long as the token lives.
    subject: Box<str>,
    issuer: Option<Box<str>>,
    expires_at: u64,
    not_before: Option<u64>,
    issued_at: Option<u64>,
    scopes: Box<[String]>,
    client_id: Option<Box<str>>,
    jwt_id: Option<Box<str>>,
}

impl StandardClaims {
    /// The scopes the token grants, in the order the token lists them.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The OAuth client the token was issued to (`client_id`, RFC 9068).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The token's unique id (`jti`).
    pub fn jwt_id(&self) -> Option<&str> {
        self.jwt_id.as_deref()
    }
}

impl Claims for StandardClaims {
    fn subject(&self) -> &str {
        &self.subject
    }

    #[inline]
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    fn expires_at(&self) -> u64 {
        self.expires_at
    }

    fn not_before(&self) -> Option<u64> {
        self.not_before
    }

    fn issued_at(&self) -> Option<u64> {
        self.issued_at
    }
}

/// The wire form of [`StandardClaims`]: every type is strict (a string `exp` is an error, not
/// a zero), so a token whose claims have the wrong types is rejected.
#[derive(Serialize, Deserialize)]
struct RawStandardClaims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scp: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

impl TryFrom<RawStandardClaims> for StandardClaims {
    type Error = String;

    fn try_from(raw: RawStandardClaims) -> Result<Self, Self::Error> {
        if raw.sub.is_empty() {
            return Err("`sub` is empty".to_owned());
        }
        let mut scopes: Vec<String> = raw
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for scope in raw.scp.unwrap_or_default() {
            if scope.is_empty() || scope.contains(' ') {
                return Err("`scp` holds an empty scope or one with a space".to_owned());
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Self {
            subject: raw.sub.into_boxed_str(),
            issuer: raw.iss.map(String::into_boxed_str),
            expires_at: raw.exp,
            not_before: raw.nbf,
            issued_at: raw.iat,
            scopes: scopes.into_boxed_slice(),
            client_id: raw.client_id.map(String::into_boxed_str),
            jwt_id: raw.jti.map(String::into_boxed_str),
        })
    }
}

impl From<StandardClaims> for RawStandardClaims {
    fn from(claims: StandardClaims) -> Self {
        Self {
            sub: claims.subject.into_string(),
            iss: claims.issuer.map(str::into_string),
            exp: claims.expires_at,
            nbf: claims.not_before,
            iat: claims.issued_at,
            scope: (!claims.scopes.is_empty()).then(|| claims.scopes.join(" ")),
            scp: None,
            client_id: claims.client_id.map(str::into_string),
            jti: claims.jwt_id.map(str::into_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<StandardClaims, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let claims = parse(r#"{"sub":"alice","exp":10,"scope":"a  b","scp":["b","c"]}"#).unwrap();
        assert_eq!(claims.scopes(), ["a", "b", "c"]);
        assert!(claims.has_scope("c"));
    }

    #[test]
    fn scopes_match_exactly() {
        let claims = parse(r#"{"sub":"alice","exp":10,"scope":"files:read files"}"#).unwrap();
        assert!(claims.has_scope("files:read"));
        assert!(!claims.has_scope("files:read:all"));
        assert!(!claims.has_scope("files:write"));
        assert!(!claims.has_scope("file"));
        assert!(!claims.has_scope(""));
    }

    #[test]
    fn wrong_types_and_missing_claims_are_rejected() {
        assert!(parse(r#"{"sub":"alice"}"#).is_err(), "exp is required");
        assert!(parse(r#"{"exp":10}"#).is_err(), "sub is required");
        assert!(
            parse(r#"{"sub":"","exp":10}"#).is_err(),
            "sub must not be empty"
        );
        assert!(parse(r#"{"sub":"alice","exp":"10"}"#).is_err());
        assert!(parse(r#"{"sub":"alice","exp":10,"scope":["a"]}"#).is_err());
        assert!(parse(r#"{"sub":"alice","exp":10,"scp":"a"}"#).is_err());
        assert!(parse(r#"{"sub":"alice","exp":10,"scp":["a b"]}"#).is_err());
        assert!(parse(r#"{"sub":7,"exp":10}"#).is_err());
    }
}
