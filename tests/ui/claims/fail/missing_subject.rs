use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct NoSubject {
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
