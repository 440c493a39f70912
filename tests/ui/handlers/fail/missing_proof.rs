include!("../../support/tonic_echo.rs");

mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) { scopes: ["echo:say"] }
        rpc Ping(SayRequest) returns (SayResponse) { public }
    }
}

use mcp_auth::Public;
use tonic::{Request, Response, Status};

struct Impl;

#[mcp_auth::handlers]
impl echo_auth::Echo for Impl {
    async fn say(&self, request: Request<SayRequest>) -> Result<Response<SayResponse>, Status> {
        Ok(Response::new(SayResponse { message: request.into_inner().message }))
    }

    async fn ping(
        &self,
        _public: Public<echo_auth::policy::Ping>,
        _request: Request<SayRequest>,
    ) -> Result<Response<SayResponse>, Status> {
        Ok(Response::new(SayResponse::default()))
    }
}

fn main() {}
