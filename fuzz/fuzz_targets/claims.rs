//! Claims JSON of any shape into `StandardClaims` and into a `#[derive(Claims)]` struct: an
//! error or claims, never a panic; `StandardClaims` never holds an empty subject or a scope
//! that is empty or has a space, and survives a round trip through its JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::{Claims, StandardClaims};
use serde::Deserialize;

/// An identity provider's claims with both forms of scopes and times of its own.
#[derive(Debug, Deserialize, Claims)]
#[allow(dead_code)]
struct ProviderClaims {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(not_before)]
    nbf: Option<u64>,
    #[claims(issued_at)]
    iat: Option<u64>,
    #[claims(scopes)]
    scope: Option<String>,
    #[claims(scopes)]
    #[serde(default)]
    scp: Vec<String>,
    #[serde(default)]
    tenant: String,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(claims) = serde_json::from_slice::<StandardClaims>(data) {
        assert!(!claims.subject().is_empty(), "an empty subject");
        for scope in claims.scopes() {
            assert!(!scope.is_empty() && !scope.contains(' '), "scope {scope:?}");
            assert!(claims.has_scope(scope));
        }
        assert!(!claims.has_scope(""), "the empty scope is granted");
        let json = serde_json::to_vec(&claims).expect("claims serialize");
        let again: StandardClaims = serde_json::from_slice(&json).expect("claims round-trip");
        assert_eq!(again, claims, "the round trip changed the claims");
    }
    if let Ok(claims) = serde_json::from_slice::<ProviderClaims>(data) {
        assert_eq!(claims.subject(), claims.sub);
        assert_eq!(claims.expires_at(), claims.exp);
        assert!(!claims.has_scope(""), "the empty scope is granted");
        for scope in claims.scope.as_deref().unwrap_or("").split(' ') {
            if !scope.is_empty() {
                assert!(
                    claims.has_scope(scope),
                    "{scope:?} from `scope` is not granted"
                );
            }
        }
    }
});
