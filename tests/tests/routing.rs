//! Routing metadata: MCP clients repeat the tool's name in `mcp_tool` metadata (the resource's
//! URI in `mcp_resource`, the prompt's name in `mcp_prompt`) so proxies can route and authorize
//! on it. When it is present and names something else than the body, a
//! proxy decided on another call than the one the server would run: the call is refused with
//! `INVALID_ARGUMENT` before any handler, on unary calls and on every message of a stream.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use mcp_auth::clock::ManualClock;
use mcp_auth::{AuditEvent, Authorized, Authorizer, GuardedStream, StandardClaims};
use mcp_auth_tests::fixtures::mcp::{self, mcp_auth as auth};
use mcp_auth_tests::fixtures::tools::{self, tools_auth};
use mcp_auth_tests::support::{NOW, serve, test_authenticator, token, with_token};
use tokio_stream::{Stream, StreamExt};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

type C = StandardClaims;

/// Everything that reached a handler, and every audit event's reason.
#[derive(Clone, Default)]
struct Seen {
    handled: Arc<Mutex<Vec<String>>>,
    audit: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }

    fn denials(&self) -> Vec<String> {
        self.audit
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.starts_with("authorized"))
            .cloned()
            .collect()
    }
}

#[mcp_auth::handlers]
impl auth::Mcp for Seen {
    async fn list_resources(
        &self,
        _auth: Authorized<C, auth::policy::ListResources>,
        _request: Request<mcp::ListResourcesRequest>,
    ) -> Result<Response<mcp::ListResourcesResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn read_resource(
        &self,
        _auth: Authorized<C, auth::policy::ReadResource>,
        request: Request<mcp::ReadResourceRequest>,
    ) -> Result<Response<mcp::ReadResourceResponse>, Status> {
        let uri = request.into_inner().uri;
        self.handled.lock().unwrap().push(format!("read {uri}"));
        Ok(Response::new(mcp::ReadResourceResponse::default()))
    }

    async fn list_resource_templates(
        &self,
        _auth: Authorized<C, auth::policy::ListResourceTemplates>,
        _request: Request<mcp::ListResourceTemplatesRequest>,
    ) -> Result<Response<mcp::ListResourceTemplatesResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn list_prompts(
        &self,
        _auth: Authorized<C, auth::policy::ListPrompts>,
        _request: Request<mcp::ListPromptsRequest>,
    ) -> Result<Response<mcp::ListPromptsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn get_prompt(
        &self,
        _auth: Authorized<C, auth::policy::GetPrompt>,
        request: Request<mcp::GetPromptRequest>,
    ) -> Result<Response<mcp::GetPromptResponse>, Status> {
        let name = request.into_inner().name;
        self.handled.lock().unwrap().push(format!("prompt {name}"));
        Ok(Response::new(mcp::GetPromptResponse::default()))
    }

    async fn list_tools(
        &self,
        _auth: Authorized<C, auth::policy::ListTools>,
        _request: Request<mcp::ListToolsRequest>,
    ) -> Result<Response<mcp::ListToolsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn call_tool(
        &self,
        _auth: Authorized<C, auth::policy::CallTool>,
        request: Request<mcp::CallToolRequest>,
    ) -> Result<Response<mcp::CallToolResponse>, Status> {
        let name = request.into_inner().request.unwrap_or_default().name;
        self.handled.lock().unwrap().push(format!("call {name}"));
        Ok(Response::new(mcp::CallToolResponse::default()))
    }

    async fn complete(
        &self,
        _auth: Authorized<C, auth::policy::Complete>,
        _request: Request<mcp::CompletionRequest>,
    ) -> Result<Response<mcp::CompletionResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

type Replies = Pin<Box<dyn Stream<Item = Result<tools::ToolStreamResponse, Status>> + Send>>;

#[mcp_auth::handlers]
impl tools_auth::Tools for Seen {
    type ToolStreamStream = Replies;

    async fn list_tools(
        &self,
        _auth: Authorized<C, tools_auth::policy::ListTools>,
        _request: Request<tools::ListToolsRequest>,
    ) -> Result<Response<tools::ListToolsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn call_tool(
        &self,
        _auth: Authorized<C, tools_auth::policy::CallTool>,
        _request: Request<tools::CallToolRequest>,
    ) -> Result<Response<tools::CallToolResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn tool_stream(
        &self,
        _auth: Authorized<C, tools_auth::policy::ToolStream>,
        request: Request<GuardedStream<tools::ToolStreamRequest>>,
    ) -> Result<Response<Self::ToolStreamStream>, Status> {
        let handled = Arc::clone(&self.handled);
        let replies = request.into_inner().map(move |message| {
            let message = message?;
            handled
                .lock()
                .unwrap()
                .push(format!("stream {}", message.tool_name));
            Ok(tools::ToolStreamResponse {
                request_id: message.request_id,
                result: message.tool_name,
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

async fn start() -> (Channel, Seen) {
    let seen = Seen::default();
    let audit = Arc::clone(&seen.audit);
    let authorizer = Authorizer::builder()
        .token(test_authenticator())
        .clock(ManualClock::new(NOW))
        .audit_sink(move |event: &AuditEvent<'_>| {
            audit.lock().unwrap().push(event.reason.to_owned());
        })
        .build()
        .unwrap();
    let channel = serve(
        Server::builder()
            .add_service(auth::server(seen.clone(), authorizer.clone()))
            .add_service(tools_auth::server(seen.clone(), authorizer)),
    )
    .await;
    (channel, seen)
}

/// `request` with the routing metadata `key: value` added (once per value).
fn routed<T>(mut request: Request<T>, key: &'static str, values: &[&[u8]]) -> Request<T> {
    for value in values {
        request
            .metadata_mut()
            .append(key, MetadataValue::try_from(*value).unwrap());
    }
    request
}

fn call(name: &str) -> mcp::CallToolRequest {
    mcp::CallToolRequest {
        common: None,
        request: Some(mcp::call_tool_request::Request {
            name: name.into(),
            arguments: None,
        }),
    }
}

const EVERYTHING: &str = "tools:call files:read files:write files:delete";

#[tokio::test]
async fn a_tool_header_that_disagrees_with_the_body_is_refused_before_the_handler() {
    let (channel, seen) = start().await;
    let mut client = mcp::mcp_client::McpClient::new(channel);
    let caller = token(EVERYTHING, 600);

    // Agreeing metadata, or none: the call goes through.
    client
        .call_tool(routed(
            with_token(call("read_file"), &caller),
            "mcp_tool",
            &[b"read_file"],
        ))
        .await
        .unwrap();
    client
        .call_tool(with_token(call("read_file"), &caller))
        .await
        .unwrap();

    let refused: [(&str, &[&[u8]]); 5] = [
        // A proxy allowed `read_file`; the body asks for `delete_file`.
        ("delete_file", &[b"read_file"]),
        // Exact comparison: no case folding, no trimming.
        ("read_file", &[b"READ_FILE"]),
        ("read_file", &[b"read_file "]),
        // Twice, even when both agree: which one did the proxy read?
        ("read_file", &[b"read_file", b"read_file"]),
        // Not text.
        ("read_file", &[b"read_\xfffile"]),
    ];
    for (body, header) in refused {
        let status = client
            .call_tool(routed(with_token(call(body), &caller), "mcp_tool", header))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{body} / {header:?}");
        assert_eq!(
            status.message(),
            "the `mcp_tool` metadata does not match the request"
        );
    }
    // A body that names no tool, with a header that does.
    let status = client
        .call_tool(routed(
            with_token(
                mcp::CallToolRequest {
                    common: None,
                    request: None,
                },
                &caller,
            ),
            "mcp_tool",
            &[b"read_file"],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    assert_eq!(seen.handled(), ["call read_file", "call read_file"]);
    assert_eq!(seen.denials(), ["routing_mismatch"; 6]);
}

#[tokio::test]
async fn an_unauthenticated_caller_learns_nothing_from_the_routing_check() {
    let (channel, seen) = start().await;
    let mut client = mcp::mcp_client::McpClient::new(channel);
    let status = client
        .call_tool(routed(
            Request::new(call("delete_file")),
            "mcp_tool",
            &[b"read_file"],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(seen.handled().is_empty());
}

fn message(id: &str, tool: &str) -> tools::ToolStreamRequest {
    tools::ToolStreamRequest {
        request_id: id.into(),
        tool_name: tool.into(),
        arguments: None,
        auth_token: String::new(),
    }
}

#[tokio::test]
async fn a_stream_opened_for_one_tool_ends_at_a_message_for_another() {
    let (channel, seen) = start().await;
    let mut client = tools::tools_client::ToolsClient::new(channel);
    let messages = vec![
        message("1", "read_file"),
        message("2", "list_dir"),
        message("3", "read_file"),
    ];
    let request = routed(
        with_token(
            tokio_stream::iter(messages),
            &token("tools:call files:read", 600),
        ),
        "mcp_tool",
        &[b"read_file"],
    );
    let mut replies = client.tool_stream(request).await.unwrap().into_inner();
    assert_eq!(replies.message().await.unwrap().unwrap().request_id, "1");
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(seen.handled(), ["stream read_file"]);
    assert_eq!(seen.denials(), ["routing_mismatch"]);
}

#[tokio::test]
async fn resource_and_prompt_headers_must_agree_with_the_body_too() {
    let (channel, seen) = start().await;
    let mut client = mcp::mcp_client::McpClient::new(channel);
    let caller = token(
        "resources:read docs:read prompts:get prompts:summarize",
        600,
    );
    let read = |uri: &str| mcp::ReadResourceRequest {
        common: None,
        uri: uri.into(),
    };
    let prompt = |name: &str| mcp::GetPromptRequest {
        common: None,
        name: name.into(),
        arguments: Default::default(),
    };

    client
        .read_resource(routed(
            with_token(read("file:///docs/a.md"), &caller),
            "mcp_resource",
            &[b"file:///docs/a.md"],
        ))
        .await
        .unwrap();
    let status = client
        .read_resource(routed(
            with_token(read("file:///docs/internal/b.md"), &caller),
            "mcp_resource",
            &[b"file:///docs/a.md"],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "the `mcp_resource` metadata does not match the request"
    );

    client
        .get_prompt(routed(
            with_token(prompt("summarize"), &caller),
            "mcp_prompt",
            &[b"summarize"],
        ))
        .await
        .unwrap();
    let status = client
        .get_prompt(routed(
            with_token(prompt("summarize"), &caller),
            "mcp_prompt",
            &[b"review_code"],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // A header of another kind is not compared: `mcp_tool` on GetPrompt names no prompt.
    client
        .get_prompt(routed(
            with_token(prompt("summarize"), &caller),
            "mcp_tool",
            &[b"anything"],
        ))
        .await
        .unwrap();

    assert_eq!(
        seen.handled(),
        [
            "read file:///docs/a.md",
            "prompt summarize",
            "prompt summarize"
        ]
    );
    assert_eq!(seen.denials(), ["routing_mismatch"; 2]);
}
