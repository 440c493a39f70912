use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct CommaSeparated {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes = "comma_separated")]
    scope: String,
}

fn main() {}
