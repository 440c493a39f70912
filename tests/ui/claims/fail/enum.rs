use serde::Deserialize;

#[derive(Deserialize, mcp_auth::Claims)]
enum Either {
    User { sub: String, exp: u64 },
    Service { client_id: String, exp: u64 },
}

fn main() {}
