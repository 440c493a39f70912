use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct UserId {
    #[claims(subject)]
    sub: u64,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
