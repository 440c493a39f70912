// RPCs named like the methods the generated server and adapter have or reach through `Arc`
// (`Clone`, `AsRef`, `GetRef`, `FromArc`): the server calls each RPC's check by its path. And
// `Get` beside `AdmitGet` and `AdmittedGet`: the adapter's methods for one RPC's head check and
// for what follows it are named apart from another RPC's.

mod transport {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Item {
        #[prost(string, tag = "1")]
        pub name: String,
    }

    pub mod names_server {
        use super::Item;
        use tonic::{Request, Response, Status};

        #[tonic::async_trait]
        pub trait Names: Send + Sync + 'static {
            async fn clone(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn as_ref(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn get_ref(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn from_arc(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn get(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn admit_get(&self, request: Request<Item>) -> Result<Response<Item>, Status>;
            async fn admitted_get(&self, request: Request<Item>)
            -> Result<Response<Item>, Status>;
        }
    }
}

mcp_auth::service! {
    service demo.Names {
        server: self::transport::names_server;
        rpc Clone(transport::Item) returns (transport::Item) { authenticated }
        rpc AsRef(transport::Item) returns (transport::Item) { authenticated }
        rpc GetRef(transport::Item) returns (transport::Item) { authenticated }
        rpc FromArc(transport::Item) returns (transport::Item) { authenticated }
        rpc Get(transport::Item) returns (transport::Item) { authenticated }
        rpc AdmitGet(transport::Item) returns (transport::Item) { authenticated }
        rpc AdmittedGet(transport::Item) returns (transport::Item) { authenticated }
    }
}

use mcp_auth::{Authorized, StandardClaims};
use names_auth::policy;
use tonic::{Request, Response, Status};
use transport::Item;

struct Handlers;

impl names_auth::Names for Handlers {
    async fn clone(
        &self,
        _: Authorized<StandardClaims, policy::Clone>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn as_ref(
        &self,
        _: Authorized<StandardClaims, policy::AsRef>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn get_ref(
        &self,
        _: Authorized<StandardClaims, policy::GetRef>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn from_arc(
        &self,
        _: Authorized<StandardClaims, policy::FromArc>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn get(
        &self,
        _: Authorized<StandardClaims, policy::Get>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn admit_get(
        &self,
        _: Authorized<StandardClaims, policy::AdmitGet>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn admitted_get(
        &self,
        _: Authorized<StandardClaims, policy::AdmittedGet>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

fn served<S>()
where
    S: tonic::codegen::Service<
            tonic::codegen::http::Request<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone,
{
}

fn main() {
    served::<names_auth::AuthorizedNamesServer<Handlers>>();
    assert_eq!(
        <names_auth::AuthorizedNamesServer<Handlers> as tonic::server::NamedService>::NAME,
        "demo.Names"
    );
}
