use std::collections::HashSet;

use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct SetOfScopes {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scp: HashSet<String>,
}

fn main() {}
