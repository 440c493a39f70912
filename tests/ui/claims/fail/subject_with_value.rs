use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct Renamed {
    #[claims(subject = "sub")]
    user: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
