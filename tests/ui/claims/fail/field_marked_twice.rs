use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct TwoRoles {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at, issued_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
