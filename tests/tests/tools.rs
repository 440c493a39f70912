//! MCP tools in the policy, end to end: per-tool scopes on CallTool, a tool list filtered by the
//! caller's scopes, every message of a tool stream checked against its tool, and in-band
//! re-authentication on the stream.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use mcp_auth::clock::ManualClock;
use mcp_auth::{Authorized, Authorizer, GuardedStream, StandardClaims};
use mcp_auth_tests::fixtures::tools::{self, tools_auth};
use mcp_auth_tests::support::{
    AUDIENCE, ISSUER, NOW, serve, test_authenticator, token_for, with_token,
};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

type C = StandardClaims;
type Replies = Pin<Box<dyn Stream<Item = Result<tools::ToolStreamResponse, Status>> + Send>>;

/// Records what reached the handlers, in order.
#[derive(Clone, Default)]
struct Tools(Arc<Mutex<Vec<String>>>);

#[mcp_auth::handlers]
impl tools_auth::Tools for Tools {
    type ToolStreamStream = Replies;

    async fn list_tools(
        &self,
        auth: Authorized<C, tools_auth::policy::ListTools>,
        _request: Request<tools::ListToolsRequest>,
    ) -> Result<Response<tools::ListToolsResponse>, Status> {
        let names = auth
            .callable_tools(&tools_auth::POLICY)
            .into_iter()
            .map(|tool| tool.name.to_owned())
            .collect();
        Ok(Response::new(tools::ListToolsResponse { names }))
    }

    async fn call_tool(
        &self,
        _auth: Authorized<C, tools_auth::policy::CallTool>,
        request: Request<tools::CallToolRequest>,
    ) -> Result<Response<tools::CallToolResponse>, Status> {
        let name = request.into_inner().request.unwrap_or_default().name;
        self.0.lock().unwrap().push(format!("call {name}"));
        Ok(Response::new(tools::CallToolResponse { result: name }))
    }

    async fn tool_stream(
        &self,
        _auth: Authorized<C, tools_auth::policy::ToolStream>,
        request: Request<GuardedStream<tools::ToolStreamRequest>>,
    ) -> Result<Response<Self::ToolStreamStream>, Status> {
        let seen = Arc::clone(&self.0);
        let replies = request.into_inner().map(move |message| {
            let message = message?;
            assert!(message.auth_token.is_empty(), "the handler saw a token");
            seen.lock()
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

struct Harness {
    channel: Channel,
    seen: Arc<Mutex<Vec<String>>>,
    clock: ManualClock,
}

async fn start() -> Harness {
    let clock = ManualClock::new(NOW);
    let authenticator = test_authenticator();
    let authorizer = Authorizer::with_clock(authenticator, clock.clone());
    let handlers = Tools::default();
    let seen = Arc::clone(&handlers.0);
    let channel =
        serve(Server::builder().add_service(tools_auth::server(handlers, authorizer))).await;
    Harness {
        channel,
        seen,
        clock,
    }
}

fn call(name: &str) -> tools::CallToolRequest {
    tools::CallToolRequest {
        request: Some(tools::call_tool_request::Params {
            name: name.into(),
            arguments: None,
        }),
    }
}

const READER: &str = "tools:list tools:call files:read";

#[tokio::test]
async fn a_read_only_token_lists_and_calls_only_read_tools() {
    let h = start().await;
    let mut client = tools::tools_client::ToolsClient::new(h.channel.clone());
    let reader = token_for("alice", READER, 600);

    let listed = client
        .list_tools(with_token(tools::ListToolsRequest {}, &reader))
        .await
        .unwrap()
        .into_inner()
        .names;
    assert_eq!(listed, ["read_file", "list_dir"]);
    let everything = token_for("root", "tools:list files:read files:write echo:say", 600);
    let listed = client
        .list_tools(with_token(tools::ListToolsRequest {}, &everything))
        .await
        .unwrap()
        .into_inner()
        .names;
    assert_eq!(listed, ["read_file", "list_dir", "write_file", "echo"]);

    client
        .call_tool(with_token(call("read_file"), &reader))
        .await
        .unwrap();
    let status = client
        .call_tool(with_token(call("write_file"), &reader))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer error="insufficient_scope", scope="files:write""#
    );
    for unknown in ["delete_everything", ""] {
        let status = client
            .call_tool(with_token(call(unknown), &reader))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{unknown:?}");
    }
    let status = client
        .call_tool(with_token(
            tools::CallToolRequest { request: None },
            &reader,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(*h.seen.lock().unwrap(), ["call read_file"]);
}

fn message(id: &str, tool: &str, auth_token: &str) -> tools::ToolStreamRequest {
    tools::ToolStreamRequest {
        request_id: id.into(),
        tool_name: tool.into(),
        arguments: None,
        auth_token: auth_token.into(),
    }
}

#[tokio::test]
async fn a_forbidden_message_ends_the_stream_before_the_handler_sees_it() {
    let h = start().await;
    let mut client = tools::tools_client::ToolsClient::new(h.channel.clone());
    let messages = vec![
        message("1", "read_file", ""),
        message("2", "write_file", ""),
        message("3", "list_dir", ""),
    ];
    let mut replies = client
        .tool_stream(with_token(
            tokio_stream::iter(messages),
            &token_for("alice", READER, 600),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replies.message().await.unwrap().unwrap().request_id, "1");
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(*h.seen.lock().unwrap(), ["stream read_file"]);
}

#[tokio::test]
async fn a_fresh_token_on_the_stream_extends_it_and_grants_its_scopes() {
    let h = start().await;
    let mut client = tools::tools_client::ToolsClient::new(h.channel.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = client
        .tool_stream(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &token_for("alice", READER, 30),
        ))
        .await
        .unwrap()
        .into_inner();
    tx.send(message("1", "read_file", "")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().request_id, "1");

    // A token-only message is consumed by the guard; the next message uses its scopes.
    let fresh = token_for("alice", "tools:call files:read files:write", 3_600);
    tx.send(message("", "", &fresh)).await.unwrap();
    tx.send(message("2", "write_file", "")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().request_id, "2");

    // The first token's expiry no longer ends the stream.
    h.clock.advance(60);
    tx.send(message("3", "list_dir", "")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().request_id, "3");
    assert_eq!(
        *h.seen.lock().unwrap(),
        ["stream read_file", "stream write_file", "stream list_dir"]
    );
}

#[tokio::test]
async fn a_bad_fresh_token_ends_the_stream() {
    let other_key = b"another secret that is 32 bytes!";
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "files:write",
            "exp": NOW + 600,
        }),
        &jsonwebtoken::EncodingKey::from_secret(other_key),
    )
    .unwrap();
    let cases = [
        (
            "another subject",
            token_for("mallory", "tools:call files:write", 600),
        ),
        ("expired", token_for("alice", "tools:call files:write", 0)),
        ("bad signature", forged),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (case, fresh) in cases {
        let h = start().await;
        let mut client = tools::tools_client::ToolsClient::new(h.channel.clone());
        let messages = vec![
            message("1", "read_file", ""),
            message("2", "write_file", &fresh),
        ];
        let mut replies = client
            .tool_stream(with_token(
                tokio_stream::iter(messages),
                &token_for("alice", READER, 600),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replies.message().await.unwrap().unwrap().request_id, "1");
        let status = replies.message().await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{case}");
        assert!(!status.message().contains(&fresh), "{case}: token leaked");
        assert_eq!(*h.seen.lock().unwrap(), ["stream read_file"], "{case}");
    }
}

#[tokio::test]
async fn a_bidirectional_stream_ends_when_its_token_expires_between_two_messages() {
    let h = start().await;
    let mut client = tools::tools_client::ToolsClient::new(h.channel.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = client
        .tool_stream(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &token_for("alice", READER, 30),
        ))
        .await
        .unwrap()
        .into_inner();
    tx.send(message("1", "read_file", "")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().request_id, "1");
    h.clock.advance(30);
    // Whether the next message or the expiry timer comes first, the stream ends here.
    let _ = tx.send(message("2", "list_dir", "")).await;
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(*h.seen.lock().unwrap(), ["stream read_file"]);
}
