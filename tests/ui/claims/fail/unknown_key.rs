use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct Typo {
    #[claims(subject)]
    sub: String,
    #[claims(expires)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
