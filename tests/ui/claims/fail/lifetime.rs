use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct Borrowed<'a> {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scope: String,
    tenant: &'a str,
}

fn main() {}
