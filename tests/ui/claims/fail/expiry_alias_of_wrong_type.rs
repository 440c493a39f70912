// The macro cannot see through the alias; the compiler reports the type, on the field's type.
use serde::Deserialize;

type Expiry = i64;

#[derive(Deserialize, mcp_auth::Claims)]
struct SignedExpiry {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: Expiry,
    #[claims(scopes)]
    scope: String,
}

fn main() {}
