use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct WrongFormat {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes = "list")]
    scope: String,
}

fn main() {}
