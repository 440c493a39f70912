// Every mistake of one struct is reported in one run.
use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
#[claims(subject)]
struct Misplaced {
    sub: String,
    #[claims(no_scopes)]
    exp: u64,
    #[claims()]
    scope: String,
}

fn main() {}
