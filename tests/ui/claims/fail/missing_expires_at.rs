use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct NoExpiry {
    #[claims(subject)]
    sub: String,
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
