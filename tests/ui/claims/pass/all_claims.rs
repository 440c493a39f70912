// Every field attribute, scopes from a space-delimited string and a list at once, optional times.

use mcp_auth::Claims;
use serde::Deserialize;

#[derive(Debug, Deserialize, Claims)]
struct AccessClaims {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(not_before)]
    nbf: Option<u64>,
    #[claims(issued_at)]
    iat: u64,
    #[claims(scopes)]
    #[serde(default)]
    scope: String,
    #[claims(scopes)]
    #[serde(default)]
    scp: Vec<String>,
    tenant: String,
}

fn requires_claims<C: mcp_auth::Claims>() {}

fn main() {
    requires_claims::<AccessClaims>();
    let claims: AccessClaims = serde_json::from_str(
        r#"{"sub":"alice","exp":20,"iat":10,"scope":"files:read","scp":["files:write"],"tenant":"t1"}"#,
    )
    .unwrap();
    assert_eq!(claims.subject(), "alice");
    assert_eq!(claims.expires_at(), 20);
    assert_eq!(claims.not_before(), None);
    assert_eq!(claims.issued_at(), Some(10));
    assert!(claims.has_scope("files:read") && claims.has_scope("files:write"));
    assert_eq!(claims.tenant, "t1");
}
