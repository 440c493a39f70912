// Stated scope formats on `Option`s, types through aliases and full paths, raw field names.

use mcp_auth::Claims;
use serde::Deserialize;

type Seconds = u64;
type Scopes = Vec<String>;

#[derive(Deserialize, mcp_auth::Claims)]
struct ProviderClaims {
    #[claims(subject)]
    #[serde(rename = "sub")]
    r#type: std::string::String,
    #[claims(expires_at)]
    exp: Seconds,
    #[claims(issued_at)]
    iat: Option<Seconds>,
    #[claims(scopes = "space_delimited")]
    scope: Option<String>,
    #[claims(scopes = "list")]
    scp: Option<::std::vec::Vec<String>>,
    #[claims(scopes)]
    roles: Option<Scopes>,
}

fn main() {
    let claims: ProviderClaims =
        serde_json::from_str(r#"{"sub":"bob","exp":5,"scope":null,"scp":["a"],"roles":["b"]}"#)
            .unwrap();
    assert_eq!(claims.subject(), "bob");
    assert_eq!(claims.issued_at(), None);
    assert!(claims.has_scope("a") && claims.has_scope("b") && !claims.has_scope("c"));
}
