use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct TwoSubjects {
    #[claims(subject)]
    sub: String,
    #[claims(subject)]
    email: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
