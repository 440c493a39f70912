//! A server of the MCP gRPC transport's shape whose proto carries no mcp_auth option: every rule
//! comes from the overlay `tests/fixtures/overlay/mcp/mcp.overlay.toml`, generated through the
//! build.rs `Builder`, served end to end.

use std::sync::{Arc, Mutex};

use mcp_auth::clock::ManualClock;
use mcp_auth::policy::Access;
use mcp_auth::{Authorized, Authorizer, StandardClaims};
use mcp_auth_tests::fixtures::mcp::{self, mcp_auth as auth};
use mcp_auth_tests::support::{NOW, serve, test_authenticator, token, with_token};
use serde_json::json;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

type C = StandardClaims;

/// Records which handlers ran, in order.
#[derive(Clone, Default)]
struct Mcp(Arc<Mutex<Vec<String>>>);

impl Mcp {
    fn ran(&self, what: String) {
        self.0.lock().unwrap().push(what);
    }
}

#[mcp_auth::handlers]
impl auth::Mcp for Mcp {
    async fn list_resources(
        &self,
        auth: Authorized<C, auth::policy::ListResources>,
        _request: Request<mcp::ListResourcesRequest>,
    ) -> Result<Response<mcp::ListResourcesResponse>, Status> {
        self.ran("list_resources".into());
        // Only what the caller may read.
        let resources = CATALOG
            .iter()
            .filter(|uri| auth.may_read_resource(&auth::POLICY, uri))
            .map(|uri| mcp::Resource {
                uri: (*uri).into(),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(mcp::ListResourcesResponse {
            common: None,
            resources,
            ttl: None,
        }))
    }

    async fn read_resource(
        &self,
        _auth: Authorized<C, auth::policy::ReadResource>,
        request: Request<mcp::ReadResourceRequest>,
    ) -> Result<Response<mcp::ReadResourceResponse>, Status> {
        let uri = request.into_inner().uri;
        self.ran(format!("read_resource {uri}"));
        Ok(Response::new(mcp::ReadResourceResponse {
            common: None,
            resource: vec![mcp::ResourceContents {
                uri,
                text: "contents".into(),
                ..Default::default()
            }],
        }))
    }

    async fn list_resource_templates(
        &self,
        _auth: Authorized<C, auth::policy::ListResourceTemplates>,
        _request: Request<mcp::ListResourceTemplatesRequest>,
    ) -> Result<Response<mcp::ListResourceTemplatesResponse>, Status> {
        self.ran("list_resource_templates".into());
        Ok(Response::new(mcp::ListResourceTemplatesResponse::default()))
    }

    async fn list_prompts(
        &self,
        auth: Authorized<C, auth::policy::ListPrompts>,
        _request: Request<mcp::ListPromptsRequest>,
    ) -> Result<Response<mcp::ListPromptsResponse>, Status> {
        self.ran("list_prompts".into());
        let prompts = auth
            .usable_prompts(&auth::POLICY)
            .into_iter()
            .map(|prompt| mcp::Prompt {
                name: prompt.name.into(),
                description: prompt.description.into(),
            })
            .collect();
        Ok(Response::new(mcp::ListPromptsResponse {
            common: None,
            prompts,
        }))
    }

    async fn get_prompt(
        &self,
        _auth: Authorized<C, auth::policy::GetPrompt>,
        request: Request<mcp::GetPromptRequest>,
    ) -> Result<Response<mcp::GetPromptResponse>, Status> {
        self.ran(format!("get_prompt {}", request.into_inner().name));
        Ok(Response::new(mcp::GetPromptResponse::default()))
    }

    async fn list_tools(
        &self,
        auth: Authorized<C, auth::policy::ListTools>,
        _request: Request<mcp::ListToolsRequest>,
    ) -> Result<Response<mcp::ListToolsResponse>, Status> {
        self.ran("list_tools".into());
        let tools = auth
            .callable_tools(&auth::POLICY)
            .into_iter()
            .map(|tool| mcp::Tool {
                name: tool.name.into(),
                description: tool.description.into(),
                input_schema: None,
            })
            .collect();
        Ok(Response::new(mcp::ListToolsResponse {
            common: None,
            tools,
            ttl: None,
        }))
    }

    async fn call_tool(
        &self,
        _auth: Authorized<C, auth::policy::CallTool>,
        request: Request<mcp::CallToolRequest>,
    ) -> Result<Response<mcp::CallToolResponse>, Status> {
        let call = request.into_inner().request.unwrap_or_default();
        // Typed arguments: the overlay names each tool's argument message.
        let text = match auth::ToolCall::decode(&call.name, call.arguments)? {
            auth::ToolCall::ReadFile(args) => format!("read_file {args:?}"),
            auth::ToolCall::Search(args) => format!("search {args:?}"),
            auth::ToolCall::WriteFile(args) => format!("write_file {args:?}"),
            auth::ToolCall::DeleteFile(arguments) => format!("delete_file {arguments:?}"),
        };
        self.ran(format!("call_tool {}", call.name));
        Ok(Response::new(mcp::CallToolResponse {
            content: vec![mcp::TextContent { text }],
            ..Default::default()
        }))
    }

    async fn complete(
        &self,
        _auth: Authorized<C, auth::policy::Complete>,
        _request: Request<mcp::CompletionRequest>,
    ) -> Result<Response<mcp::CompletionResponse>, Status> {
        self.ran("complete".into());
        Ok(Response::new(mcp::CompletionResponse::default()))
    }
}

/// The resources the server has.
const CATALOG: &[&str] = &[
    "file:///docs/guide.md",
    "file:///docs/internal/roadmap.md",
    "file:///home/alice/notes.md",
    "https://status.example/today",
];

struct Harness {
    client: mcp::mcp_client::McpClient<Channel>,
    ran: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    fn ran(&self) -> Vec<String> {
        self.ran.lock().unwrap().clone()
    }
}

async fn start() -> Harness {
    let authorizer = Authorizer::with_clock(test_authenticator(), ManualClock::new(NOW));
    let handlers = Mcp::default();
    let ran = Arc::clone(&handlers.0);
    let channel = serve(Server::builder().add_service(auth::server(handlers, authorizer))).await;
    Harness {
        client: mcp::mcp_client::McpClient::new(channel),
        ran,
    }
}

fn call(name: &str) -> mcp::CallToolRequest {
    let arguments = match name {
        "read_file" => json!({ "path": "notes.md" }),
        "search" => json!({ "query": "todo" }),
        "write_file" => json!({ "path": "notes.md", "content": "hello" }),
        _ => json!({}),
    };
    call_with(name, arguments)
}

fn call_with(name: &str, arguments: serde_json::Value) -> mcp::CallToolRequest {
    mcp::CallToolRequest {
        common: None,
        request: Some(mcp::call_tool_request::Request {
            name: name.into(),
            arguments: Some(mcp_auth_tests::support::to_struct(arguments)),
        }),
    }
}

/// May list, and call the read tools.
const READ_ONLY: &str = "mcp:list tools:call files:read";

#[tokio::test]
async fn a_read_only_token_lists_only_read_tools_and_cannot_call_a_write_tool() {
    let mut h = start().await;
    let reader = token(READ_ONLY, 600);

    let listed: Vec<String> = h
        .client
        .list_tools(with_token(mcp::ListToolsRequest::default(), &reader))
        .await
        .unwrap()
        .into_inner()
        .tools
        .into_iter()
        .map(|tool| tool.name)
        .collect();
    assert_eq!(listed, ["read_file", "search"]);

    let writer = token("mcp:list files:read files:write files:delete", 600);
    let listed: Vec<String> = h
        .client
        .list_tools(with_token(mcp::ListToolsRequest::default(), &writer))
        .await
        .unwrap()
        .into_inner()
        .tools
        .into_iter()
        .map(|tool| tool.name)
        .collect();
    assert_eq!(listed, ["read_file", "search", "write_file", "delete_file"]);

    let answer = h
        .client
        .call_tool(with_token(call("read_file"), &reader))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.content[0].text,
        r#"read_file ReadFileArgs { path: "notes.md", max_bytes: None }"#
    );

    for tool in ["write_file", "delete_file"] {
        let status = h
            .client
            .call_tool(with_token(call(tool), &reader))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{tool}");
    }
    let status = h
        .client
        .call_tool(with_token(call("write_file"), &reader))
        .await
        .unwrap_err();
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer error="insufficient_scope", scope="files:write""#
    );
    // A tool the overlay does not declare is refused too.
    let status = h
        .client
        .call_tool(with_token(call("format_disk"), &reader))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    assert_eq!(
        h.ran(),
        ["list_tools", "list_tools", "call_tool read_file"],
        "a refused call reached its handler"
    );
}

/// Every RPC of the service has the rule the overlay gives it, and the adapter enforces it.
#[tokio::test]
async fn every_rpc_is_covered_by_the_overlay() {
    let rules: Vec<(&str, Access)> = auth::POLICY
        .methods
        .iter()
        .map(|m| (m.method, m.access))
        .collect();
    assert_eq!(
        rules,
        [
            ("ListResources", Access::Scopes(&["mcp:list"])),
            ("ReadResource", Access::Scopes(&["resources:read"])),
            ("ListResourceTemplates", Access::Scopes(&["mcp:list"])),
            ("ListPrompts", Access::Scopes(&["mcp:list"])),
            ("GetPrompt", Access::Scopes(&["prompts:get"])),
            ("ListTools", Access::Scopes(&["mcp:list"])),
            ("CallTool", Access::Scopes(&["tools:call"])),
            ("Complete", Access::Authenticated),
        ]
    );
    let call_tool = auth::POLICY.method("/fixtures.mcp.Mcp/CallTool").unwrap();
    assert_eq!(
        call_tool.rate_limit,
        Some(mcp_auth::rate_limit::RateLimit::new(20, 40))
    );
    assert!(call_tool.tools.is_some_and(|t| !t.allow_undeclared));

    let mut h = start().await;
    // No credentials: refused everywhere, before any handler.
    let status = h
        .client
        .list_resources(mcp::ListResourcesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = h
        .client
        .complete(mcp::CompletionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // Authenticated without scopes: only `Complete` (`authenticated = true`).
    let nobody = token("", 600);
    h.client
        .complete(with_token(mcp::CompletionRequest::default(), &nobody))
        .await
        .unwrap();
    let status = h
        .client
        .list_prompts(with_token(mcp::ListPromptsRequest::default(), &nobody))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = h
        .client
        .read_resource(with_token(
            mcp::ReadResourceRequest {
                common: None,
                uri: "file:///docs/a".into(),
            },
            &token("mcp:list", 600),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    let lister = token("mcp:list", 600);
    h.client
        .list_resources(with_token(mcp::ListResourcesRequest::default(), &lister))
        .await
        .unwrap();
    h.client
        .list_resource_templates(with_token(
            mcp::ListResourceTemplatesRequest::default(),
            &lister,
        ))
        .await
        .unwrap();
    assert_eq!(
        h.ran(),
        ["complete", "list_resources", "list_resource_templates"]
    );
}

fn read(uri: &str) -> mcp::ReadResourceRequest {
    mcp::ReadResourceRequest {
        common: None,
        uri: uri.into(),
    }
}

#[tokio::test]
async fn a_resource_needs_the_scopes_of_its_longest_declared_prefix() {
    let mut h = start().await;
    let reader = token("mcp:list resources:read docs:read", 600);

    let listed: Vec<String> = h
        .client
        .list_resources(with_token(mcp::ListResourcesRequest::default(), &reader))
        .await
        .unwrap()
        .into_inner()
        .resources
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(
        listed,
        ["file:///docs/guide.md", "https://status.example/today"]
    );

    for uri in ["file:///docs/guide.md", "https://status.example/today"] {
        h.client
            .read_resource(with_token(read(uri), &reader))
            .await
            .unwrap_or_else(|status| panic!("{uri}: {status:?}"));
    }
    // The longer prefix `file:///docs/internal/` needs `docs:internal` too.
    let status = h
        .client
        .read_resource(with_token(
            read("file:///docs/internal/roadmap.md"),
            &reader,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer error="insufficient_scope", scope="docs:read docs:internal""#
    );
    // Under no declared prefix, or written so that a prefix would match what it is not.
    for uri in [
        "file:///home/alice/notes.md",
        "file:///docs/../home/alice/notes.md",
        "file:///docs/%2e%2e/home/alice/notes.md",
        "file:///docs/internal/../guide.md",
        "",
    ] {
        let status = h
            .client
            .read_resource(with_token(read(uri), &reader))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{uri}");
        assert_eq!(status.message(), "resource not allowed", "{uri}");
    }
    let insider = token("resources:read docs:read docs:internal", 600);
    h.client
        .read_resource(with_token(
            read("file:///docs/internal/roadmap.md"),
            &insider,
        ))
        .await
        .unwrap();
    assert_eq!(
        h.ran(),
        [
            "list_resources",
            "read_resource file:///docs/guide.md",
            "read_resource https://status.example/today",
            "read_resource file:///docs/internal/roadmap.md",
        ]
    );
}

fn prompt(name: &str) -> mcp::GetPromptRequest {
    mcp::GetPromptRequest {
        common: None,
        name: name.into(),
        arguments: Default::default(),
    }
}

#[tokio::test]
async fn a_prompt_needs_its_own_scopes_and_unknown_prompts_are_refused() {
    let mut h = start().await;
    let summarizer = token("mcp:list prompts:get prompts:summarize", 600);
    let listed: Vec<String> = h
        .client
        .list_prompts(with_token(mcp::ListPromptsRequest::default(), &summarizer))
        .await
        .unwrap()
        .into_inner()
        .prompts
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(listed, ["summarize"]);

    h.client
        .get_prompt(with_token(prompt("summarize"), &summarizer))
        .await
        .unwrap();
    let status = h
        .client
        .get_prompt(with_token(prompt("review_code"), &summarizer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer error="insufficient_scope", scope="prompts:review""#
    );
    for name in ["Summarize", "exfiltrate", ""] {
        let status = h
            .client
            .get_prompt(with_token(prompt(name), &summarizer))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{name}");
        assert_eq!(status.message(), "prompt not allowed", "{name}");
    }
    assert_eq!(h.ran(), ["list_prompts", "get_prompt summarize"]);
}

/// Handlers get typed arguments from the overlay's `arguments`: the `Struct` a client sends is
/// decoded into the tool's message in the server's own proto, and arguments that do not fit are
/// refused with INVALID_ARGUMENT naming the argument, before the handler does anything.
#[tokio::test]
async fn tools_get_typed_arguments_from_the_overlay() {
    let mut h = start().await;
    let writer = token("tools:call files:read files:write files:delete", 600);
    let text =
        |response: Response<mcp::CallToolResponse>| response.into_inner().content.remove(0).text;

    let answer = h
        .client
        .call_tool(with_token(
            call_with(
                "write_file",
                json!({ "path": "a.txt", "content": "hi", "mode": "WRITE_MODE_APPEND" }),
            ),
            &writer,
        ))
        .await
        .unwrap();
    assert_eq!(
        text(answer),
        r#"write_file WriteFileArgs { path: "a.txt", content: "hi", mode: Append }"#
    );
    let answer = h
        .client
        .call_tool(with_token(
            call_with(
                "search",
                json!({ "query": "x", "limit": "25", "globs": ["*.md", "*.txt"] }),
            ),
            &writer,
        ))
        .await
        .unwrap();
    assert_eq!(
        text(answer),
        r#"search SearchArgs { query: "x", limit: 25, globs: ["*.md", "*.txt"] }"#
    );
    // The JSON name works as well as the proto name.
    let answer = h
        .client
        .call_tool(with_token(
            call_with("read_file", json!({ "path": "b", "maxBytes": 7 })),
            &writer,
        ))
        .await
        .unwrap();
    assert_eq!(
        text(answer),
        r#"read_file ReadFileArgs { path: "b", max_bytes: Some(7) }"#
    );
    // A tool without an argument message gets its Struct as sent.
    let answer = h
        .client
        .call_tool(with_token(
            call_with("delete_file", json!({ "path": "c" })),
            &writer,
        ))
        .await
        .unwrap();
    assert!(text(answer).starts_with("delete_file Struct"));

    for (tool, arguments, message) in [
        (
            "read_file",
            json!({ "path": "a", "max_bytes": -1 }),
            "invalid arguments for tool `read_file`: argument `max_bytes`: out of range for a \
             `uint32`",
        ),
        (
            "read_file",
            json!({ "path": "a", "recursive": true }),
            "invalid arguments for tool `read_file`: argument `recursive`: `ReadFileArgs` has \
             no field `recursive`",
        ),
        (
            "read_file",
            json!({}),
            "invalid arguments for tool `read_file`: argument `path`: required, but not given",
        ),
        (
            "write_file",
            json!({ "path": "a", "content": "b", "mode": "WRITE_MODE_TRUNCATE" }),
            "invalid arguments for tool `write_file`: argument `mode`: not a value of enum \
             `WriteMode`; expected one of `WRITE_MODE_UNSPECIFIED`, `WRITE_MODE_CREATE`, \
             `WRITE_MODE_REPLACE`, `WRITE_MODE_APPEND`",
        ),
        (
            "search",
            json!({ "query": "q", "globs": ["a", 3] }),
            "invalid arguments for tool `search`: argument `globs[1]`: expected a string, got a \
             number",
        ),
    ] {
        let status = h
            .client
            .call_tool(with_token(call_with(tool, arguments), &writer))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{tool}");
        assert_eq!(status.message(), message);
    }
    assert_eq!(
        h.ran(),
        [
            "call_tool write_file",
            "call_tool search",
            "call_tool read_file",
            "call_tool delete_file"
        ],
        "a handler acted on arguments it could not decode"
    );
}

/// The tool registry carries each tool's `inputSchema`: generated from the argument message of a
/// tool that has one, any object for tools whose arguments are a `Struct`.
#[test]
fn the_tool_registry_carries_input_schemas() {
    let schemas: Vec<(&str, serde_json::Value)> = auth::TOOLS
        .iter()
        .map(|tool| (tool.name, serde_json::from_str(tool.input_schema).unwrap()))
        .collect();
    assert_eq!(schemas[3], ("delete_file", json!({ "type": "object" })));
    assert_eq!(
        schemas[0],
        (
            "read_file",
            json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "The file, relative to the root." },
                    "max_bytes": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 4294967295u32,
                        "description": "Read at most this many bytes.",
                    },
                },
                "required": ["path"],
                "additionalProperties": false,
            })
        )
    );
    let echo = mcp_auth_tests::fixtures::tools::tools_auth::TOOLS
        .iter()
        .find(|tool| tool.name == "echo")
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(echo.input_schema).unwrap();
    assert_eq!(
        schema,
        serde_json::json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "additionalProperties": false,
        })
    );
}
