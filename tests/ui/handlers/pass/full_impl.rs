include!("../../support/tonic_echo.rs");

mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) { scopes: ["echo:say"] }
        rpc Ping(SayRequest) returns (SayResponse) { public }
    }
}

use mcp_auth::{Authorized, Public, StandardClaims};
use tonic::{Request, Response, Status};

struct Impl;

#[mcp_auth::handlers]
impl echo_auth::Echo for Impl {
    async fn say(
        &self,
        auth: Authorized<StandardClaims, echo_auth::policy::Say>,
        request: Request<SayRequest>,
    ) -> Result<Response<SayResponse>, Status> {
        let message = format!("{}: {}", auth.subject(), request.into_inner().message);
        Ok(Response::new(SayResponse { message }))
    }

    async fn ping(
        &self,
        _public: Public<echo_auth::policy::Ping>,
        _request: Request<SayRequest>,
    ) -> Result<Response<SayResponse>, Status> {
        Ok(Response::new(SayResponse::default()))
    }
}

fn _build(authorizer: mcp_auth::Authorizer) {
    let _ = echo_auth::server(Impl, authorizer);
}

fn main() {}
