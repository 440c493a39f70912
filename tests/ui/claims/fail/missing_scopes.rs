use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct NoScopes {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    scope: String,
}

fn main() {}
