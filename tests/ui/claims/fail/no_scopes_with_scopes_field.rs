use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
#[claims(no_scopes)]
struct Contradiction {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
