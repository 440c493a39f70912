include!("../../support/tonic_echo.rs");

mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) { scopes: ["echo:say"] }
        rpc Ping(SayRequest) returns (SayResponse) { public }
    }
}

use std::sync::Arc;

use mcp_auth::{Authorized, StandardClaims};

fn forge(claims: StandardClaims) -> Authorized<StandardClaims, echo_auth::policy::Say> {
    Authorized::new(Some(Arc::new(claims)), None)
}

fn main() {}
