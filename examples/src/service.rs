//! The handlers: [`McpServer`] for `mcp.McpService` and [`HealthServer`] for
//! `grpc.health.v1.Health`.
//!
//! Each handler's first argument is the proof of authorization for its own RPC, which only the
//! generated adapter can make after checking the caller; the health handlers take `Public`
//! proofs, so their signatures say that they run without credentials.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use mcp_auth::{Authorized, GuardedStream, Public, StandardClaims};
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status};

use crate::json;
use crate::proto::health::health_auth::{self, policy as health_policy};
use crate::proto::health::health_check_response::ServingStatus;
use crate::proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use crate::proto::mcp::mcp_service_auth::{self, policy};
use crate::proto::mcp::{
    CallToolRequest, CallToolResponse, GetResourcesRequest, GetResourcesResponse, ListToolsRequest,
    ListToolsResponse, Resource, Tool, ToolError, ToolStreamRequest, ToolStreamResponse,
    tool_stream_response,
};
use crate::root::{self, Root};
use crate::tools;

type C = StandardClaims;

/// The response stream of `ToolStream`.
pub type ToolReplies = Pin<Box<dyn Stream<Item = Result<ToolStreamResponse, Status>> + Send>>;

/// The response stream of `Health.Watch`.
pub type HealthUpdates = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

/// The MCP tool server: its tools work on files under one root directory.
#[derive(Debug, Clone)]
pub struct McpServer {
    root: Arc<Root>,
}

impl McpServer {
    /// A server whose tools work under `root`.
    pub fn new(root: Root) -> Self {
        Self {
            root: Arc::new(root),
        }
    }

    /// Decodes a tool's arguments into its argument message and runs it on a blocking thread
    /// (the tools do file I/O).
    async fn run_tool(
        &self,
        name: String,
        arguments: Option<prost_types::Struct>,
    ) -> Result<CallToolResponse, root::ToolError> {
        let call = mcp_service_auth::ToolCall::decode(&name, arguments).map_err(|status| {
            root::ToolError {
                code: status.code(),
                message: status.message().to_owned(),
            }
        })?;
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || tools::call(&root, call))
            .await
            .unwrap_or_else(|_| {
                Err(root::ToolError {
                    code: Code::Internal,
                    message: "the tool failed".to_owned(),
                })
            })
    }
}

#[mcp_auth::handlers]
impl mcp_service_auth::McpService for McpServer {
    type ToolStreamStream = ToolReplies;

    async fn list_tools(
        &self,
        auth: Authorized<C, policy::ListTools>,
        _request: Request<ListToolsRequest>,
    ) -> Result<Response<ListToolsResponse>, Status> {
        // Only the tools the caller holds the scopes of: a read-only token does not even see
        // that `write_file` exists.
        let tools = auth
            .callable_tools(&mcp_service_auth::POLICY)
            .into_iter()
            .map(|tool| Tool {
                name: tool.name.to_owned(),
                description: tool.description.to_owned(),
                // Generated from the tool's argument message.
                input_schema: serde_json::from_str(tool.input_schema)
                    .ok()
                    .and_then(|schema| json::to_struct(schema).ok()),
            })
            .collect();
        Ok(Response::new(ListToolsResponse { tools }))
    }

    async fn call_tool(
        &self,
        _auth: Authorized<C, policy::CallTool>,
        request: Request<CallToolRequest>,
    ) -> Result<Response<CallToolResponse>, Status> {
        // The adapter has checked the tool named in `name` against the caller's scopes.
        let CallToolRequest { name, arguments } = request.into_inner();
        let result = self.run_tool(name, arguments).await?;
        Ok(Response::new(result))
    }

    async fn get_resources(
        &self,
        _auth: Authorized<C, policy::GetResources>,
        _request: Request<GetResourcesRequest>,
    ) -> Result<Response<GetResourcesResponse>, Status> {
        let root = Arc::clone(&self.root);
        let files = tokio::task::spawn_blocking(move || root.files())
            .await
            .map_err(|_| Status::internal("listing the root failed"))??;
        let resources = files
            .into_iter()
            .map(|file| Resource {
                uri: format!("root:///{}", file.path),
                name: file.path.rsplit('/').next().unwrap_or_default().to_owned(),
                mime_type: mime_type(&file.path).to_owned(),
                size: file.size,
            })
            .collect();
        Ok(Response::new(GetResourcesResponse { resources }))
    }

    async fn tool_stream(
        &self,
        _auth: Authorized<C, policy::ToolStream>,
        request: Request<GuardedStream<ToolStreamRequest>>,
    ) -> Result<Response<Self::ToolStreamStream>, Status> {
        // Every message that arrives here has passed the guard: the token has not expired and
        // holds the scopes of the tool the message names. A message that fails ends the
        // stream (with UNAUTHENTICATED or PERMISSION_DENIED) before it reaches this loop. A
        // tool that fails answers with an error and the stream goes on.
        let server = self.clone();
        let replies = request.into_inner().then(move |message| {
            let server = server.clone();
            async move {
                let message = message?;
                let outcome = match server.run_tool(message.tool_name, message.arguments).await {
                    Ok(result) => tool_stream_response::Outcome::Result(result),
                    Err(error) => tool_stream_response::Outcome::Error(ToolError {
                        code: error.code as i32,
                        message: error.message,
                    }),
                };
                Ok(ToolStreamResponse {
                    request_id: message.request_id,
                    outcome: Some(outcome),
                })
            }
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

fn mime_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        Some("json") => "application/json",
        Some("toml") => "application/toml",
        Some("rs") => "text/x-rust",
        Some("proto") => "text/x-protobuf",
        _ => "application/octet-stream",
    }
}

/// The standard health service. Every service this server runs is `SERVING` for as long as
/// the process runs; there is no state that makes one unhealthy.
#[derive(Debug, Clone, Default)]
pub struct HealthServer;

impl HealthServer {
    /// The services whose health is reported: the server as a whole (`""`) and each service.
    const SERVICES: [&'static str; 3] = ["", "mcp.McpService", "grpc.health.v1.Health"];

    fn status(service: &str) -> Option<ServingStatus> {
        Self::SERVICES
            .contains(&service)
            .then_some(ServingStatus::Serving)
    }
}

#[mcp_auth::handlers]
impl health_auth::Health for HealthServer {
    type WatchStream = HealthUpdates;

    async fn check(
        &self,
        _public: Public<health_policy::Check>,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        match Self::status(&request.get_ref().service) {
            Some(status) => Ok(Response::new(HealthCheckResponse {
                status: status as i32,
            })),
            None => Err(Status::not_found("unknown service")),
        }
    }

    async fn list(
        &self,
        _public: Public<health_policy::List>,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let statuses: HashMap<String, HealthCheckResponse> = Self::SERVICES
            .iter()
            .map(|service| {
                let status = HealthCheckResponse {
                    status: ServingStatus::Serving as i32,
                };
                ((*service).to_owned(), status)
            })
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    async fn watch(
        &self,
        _public: Public<health_policy::Watch>,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // The status never changes, so the first message is the only one; the stream stays
        // open as the protocol asks, until the client leaves.
        let status =
            Self::status(&request.get_ref().service).unwrap_or(ServingStatus::ServiceUnknown);
        let first = tokio_stream::once(Ok(HealthCheckResponse {
            status: status as i32,
        }));
        Ok(Response::new(Box::pin(
            first.chain(tokio_stream::pending()),
        )))
    }
}
