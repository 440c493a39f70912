// A generic claims struct: the provider-specific rest of the token is a type parameter.

use mcp_auth::Claims;
use serde::Deserialize;

#[derive(Deserialize, Claims)]
struct WithExtra<Extra> {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize)]
struct Tenant {
    tenant: String,
}

fn requires_claims<C: mcp_auth::Claims>() {}

fn main() {
    requires_claims::<WithExtra<Tenant>>();
    let claims: WithExtra<Tenant> =
        serde_json::from_str(r#"{"sub":"carol","exp":5,"scope":"x","tenant":"t"}"#).unwrap();
    assert!(claims.has_scope("x"));
    assert_eq!(claims.extra.tenant, "t");
}
