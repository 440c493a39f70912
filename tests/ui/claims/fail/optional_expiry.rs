use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct MaybeExpires {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: Option<u64>,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
