use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
struct Pair(#[claims(subject)] String, #[claims(expires_at)] u64);

fn main() {}
