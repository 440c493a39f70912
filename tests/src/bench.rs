//! The service the benchmarks measure, in the ways they compare: the streaming fixture's
//! `Unary` echo and `Chat` bidirectional echo as plain tonic handlers, and as the handlers of an
//! mcp-auth server with every per-message check on. Shared by the `load` binary (end to end)
//! and the `service` benchmark (one call through the tower service, no network).

use std::pin::Pin;

use mcp_auth::{Authorized, GuardedStream, StandardClaims};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::fixtures::streaming::streams_server::Streams;
use crate::fixtures::streaming::{Item, Summary};
pub use strict::streams_auth::{self, policy};

/// The streaming fixture's service with every per-message check on. (The fixture itself relaxes
/// `Chat` with `unchecked_expiry`; this invocation over the same tonic server module does not.)
pub mod strict {
    pub use crate::fixtures::streaming::{Item, Summary, streams_server};

    mcp_auth::service! {
        service fixtures.streaming.Streams {
            rpc Unary(Item) returns (Item) { scopes: ["items:read"] }
            rpc Watch(Item) returns (stream Item) { scopes: ["items:read"] }
            rpc Upload(stream Item) returns (Summary) { scopes: ["items:write"] }
            rpc Chat(stream Item) returns (stream Item) { scopes: ["items:write"] }
        }
    }
}

/// The response stream of `Chat` (and `Watch`) in both ways.
pub type ItemStream = Pin<Box<dyn Stream<Item = Result<Item, Status>> + Send>>;

/// The handlers of plain tonic: echo the item, echo the stream.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

#[tonic::async_trait]
impl Streams for Plain {
    async fn unary(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    type WatchStream = ItemStream;

    async fn watch(&self, _: Request<Item>) -> Result<Response<ItemStream>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }

    async fn upload(&self, _: Request<Streaming<Item>>) -> Result<Response<Summary>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }

    type ChatStream = ItemStream;

    async fn chat(
        &self,
        request: Request<Streaming<Item>>,
    ) -> Result<Response<ItemStream>, Status> {
        Ok(Response::new(Box::pin(request.into_inner())))
    }
}

/// The same handlers behind mcp-auth: they take the proof, and the stream is guarded.
#[derive(Debug, Clone, Copy)]
pub struct Guarded;

impl streams_auth::Streams for Guarded {
    async fn unary(
        &self,
        _auth: Authorized<StandardClaims, policy::Unary>,
        request: Request<Item>,
    ) -> Result<Response<Item>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    type WatchStream = ItemStream;

    async fn watch(
        &self,
        _auth: Authorized<StandardClaims, policy::Watch>,
        _: Request<Item>,
    ) -> Result<Response<ItemStream>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }

    async fn upload(
        &self,
        _auth: Authorized<StandardClaims, policy::Upload>,
        _: Request<GuardedStream<Item>>,
    ) -> Result<Response<Summary>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }

    type ChatStream = ItemStream;

    async fn chat(
        &self,
        _auth: Authorized<StandardClaims, policy::Chat>,
        request: Request<GuardedStream<Item>>,
    ) -> Result<Response<ItemStream>, Status> {
        Ok(Response::new(Box::pin(request.into_inner())))
    }
}

/// An interceptor that does nothing: what tonic's interceptor machinery costs by itself.
pub fn empty_interceptor(request: Request<()>) -> Result<Request<()>, Status> {
    Ok(request)
}
