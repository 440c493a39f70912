// Tokens that carry no scopes say so on the struct; they grant none.

use mcp_auth::Claims;
use serde::Deserialize;

#[derive(Deserialize, Claims)]
#[claims(no_scopes)]
struct ServiceClaims {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
}

fn main() {
    let claims: ServiceClaims = serde_json::from_str(r#"{"sub":"svc","exp":20}"#).unwrap();
    assert_eq!(claims.subject(), "svc");
    assert!(!claims.has_scope("anything"));
}
