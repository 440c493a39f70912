//! `mcp-client`: calls the MCP tool server from the command line and prints the answers as
//! JSON.
//!
//! ```text
//! TOKEN=$(mcp-token mint --key dev-key.pem --scope "tools:list tools:call files:read")
//! mcp-client --token "$TOKEN" list-tools
//! mcp-client --token "$TOKEN" call read_file --args '{"path": "hello.txt"}'
//! mcp-client --token-file token.txt stream --call 'list_dir={"path": "."}' --call 'read_file={"path": "hello.txt"}'
//! echo '{"request_id": "1", "tool_name": "list_dir", "arguments": {}}' | mcp-client --token "$TOKEN" stream
//! mcp-client health
//! ```
//!
//! A refused call prints the gRPC status (and the server's `www-authenticate` challenge) on
//! stderr and exits with 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_auth_example::client::{Connection, code_name, with_token};
use mcp_auth_example::json;
use mcp_auth_example::proto::health::HealthCheckRequest;
use mcp_auth_example::proto::health::health_client::HealthClient;
use mcp_auth_example::proto::mcp::mcp_service_client::McpServiceClient;
use mcp_auth_example::proto::mcp::{
    CallToolRequest, CallToolResponse, GetResourcesRequest, ListToolsRequest, ToolStreamRequest,
    tool_stream_response,
};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tonic::Status;

/// Calls the MCP tool server.
#[derive(Debug, Parser)]
#[command(name = "mcp-client", version)]
struct Cli {
    /// The server: `http://HOST:PORT`, or `https://HOST:PORT` for TLS.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The bearer token.
    #[arg(long, conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the bearer token (surrounding whitespace is ignored).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// The CA certificate (PEM) that signed the server's certificate.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// This client's certificate chain (PEM), for mTLS; needs --key.
    #[arg(long, value_name = "PATH", requires = "key")]
    cert: Option<PathBuf>,
    /// This client's private key (PEM).
    #[arg(long, value_name = "PATH", requires = "cert")]
    key: Option<PathBuf>,
    /// The name the server's certificate must carry, if not the host in --server.
    #[arg(long)]
    domain: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the tools this token may call.
    ListTools,
    /// Calls one tool.
    Call {
        /// The tool: read_file, list_dir, write_file.
        name: String,
        /// The arguments, a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
    },
    /// Lists the files under the server's root.
    Resources,
    /// Opens a tool stream and sends each --call (or each JSON line of stdin:
    /// `{"request_id": "1", "tool_name": "read_file", "arguments": {...}, "auth_token": "..."}`),
    /// printing each answer as a JSON line.
    Stream {
        /// `TOOL=JSON-ARGUMENTS`; repeatable.
        #[arg(long = "call", value_name = "TOOL=JSON")]
        calls: Vec<String>,
    },
    /// Asks the public health service (no token needed).
    Health {
        /// The service to ask about; the whole server when empty.
        #[arg(long, default_value = "")]
        service: String,
    },
}

/// Runs the command; a refused or failed call exits with 1.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Connects, puts the token on every call, runs the subcommand and prints its answer.
async fn run(cli: Cli) -> Result<(), String> {
    let token = match (&cli.token, &cli.token_file) {
        (Some(token), _) => Some(token.trim().to_owned()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let token = token.as_deref();
    let channel = Connection {
        server: cli.server.clone(),
        ca_cert: cli.ca_cert.clone(),
        identity: cli.cert.clone().zip(cli.key.clone()),
        domain: cli.domain.clone(),
    }
    .connect()
    .await?;
    let mut client = McpServiceClient::new(channel.clone());
    match cli.command {
        Command::ListTools => {
            let tools = client
                .list_tools(with_token(ListToolsRequest {}, token))
                .await
                .map_err(describe)?
                .into_inner()
                .tools;
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "description": t.description,
                        "input_schema": t.input_schema.as_ref().map(json::from_struct),
                    })
                })
                .collect();
            print(&json!({ "tools": tools }));
        }
        Command::Call { name, args } => {
            let arguments = parse_arguments(&args)?;
            let result = client
                .call_tool(with_token(CallToolRequest { name, arguments }, token))
                .await
                .map_err(describe)?
                .into_inner();
            print(&result_json(&result));
        }
        Command::Resources => {
            let resources = client
                .get_resources(with_token(GetResourcesRequest {}, token))
                .await
                .map_err(describe)?
                .into_inner()
                .resources;
            let resources: Vec<Value> = resources
                .iter()
                .map(|r| json!({"uri": r.uri, "name": r.name, "mime_type": r.mime_type, "size": r.size}))
                .collect();
            print(&json!({ "resources": resources }));
        }
        Command::Stream { calls } => stream(&mut client, token, calls).await?,
        Command::Health { service } => {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest { service })
                .await
                .map_err(describe)?
                .into_inner()
                .status();
            print(&json!({ "status": status.as_str_name() }));
        }
    }
    Ok(())
}

/// Opens a tool stream, sends the `--call`s (or stdin's JSON lines) and prints each reply as
/// a JSON line until the server ends the stream.
async fn stream(
    client: &mut McpServiceClient<tonic::transport::Channel>,
    token: Option<&str>,
    calls: Vec<String>,
) -> Result<(), String> {
    let (tx, rx) = tokio::sync::mpsc::channel::<ToolStreamRequest>(16);
    let sender = if calls.is_empty() {
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            let mut n = 0;
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                n += 1;
                match parse_stream_line(&line, n) {
                    Ok(message) => {
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        eprintln!("mcp-client: line {n}: {error}");
                        break;
                    }
                }
            }
        })
    } else {
        let messages = calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let (tool, args) = call.split_once('=').unwrap_or((call, "{}"));
                Ok(ToolStreamRequest {
                    request_id: (i + 1).to_string(),
                    tool_name: tool.to_owned(),
                    arguments: parse_arguments(args)?,
                    auth_token: String::new(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        tokio::spawn(async move {
            for message in messages {
                if tx.send(message).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut replies = client
        .tool_stream(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            token,
        ))
        .await
        .map_err(describe)?
        .into_inner();
    let outcome = loop {
        match replies.message().await {
            Ok(Some(reply)) => {
                let line = match &reply.outcome {
                    Some(tool_stream_response::Outcome::Result(result)) => {
                        json!({"request_id": reply.request_id, "result": result_json(result)})
                    }
                    Some(tool_stream_response::Outcome::Error(error)) => json!({
                        "request_id": reply.request_id,
                        "error": {
                            "code": code_name(tonic::Code::from_i32(error.code)),
                            "message": error.message,
                        },
                    }),
                    None => json!({"request_id": reply.request_id}),
                };
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
            Ok(None) => break Ok(()),
            Err(status) => break Err(describe(status)),
        }
    };
    sender.abort();
    outcome
}

/// One stdin line as a stream message; `n` numbers messages without a `request_id`.
fn parse_stream_line(line: &str, n: usize) -> Result<ToolStreamRequest, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let arguments = match value.get("arguments") {
        None | Some(Value::Null) => None,
        Some(args) => Some(json::to_struct(args.clone())?),
    };
    let request_id = match text("request_id") {
        id if id.is_empty() => n.to_string(),
        id => id,
    };
    Ok(ToolStreamRequest {
        request_id,
        tool_name: text("tool_name"),
        arguments,
        auth_token: text("auth_token"),
    })
}

/// `--args` (a JSON object) as the tool's `Struct` arguments.
fn parse_arguments(args: &str) -> Result<Option<prost_types::Struct>, String> {
    let value: Value =
        serde_json::from_str(args).map_err(|e| format!("arguments {args:?}: {e}"))?;
    json::to_struct(value)
        .map(Some)
        .map_err(|e| format!("arguments {args:?}: {e}"))
}

/// A tool's result as JSON: its content and its structured content.
fn result_json(result: &CallToolResponse) -> Value {
    json!({
        "content": result.content.iter().map(|c| json!({"type": c.r#type, "text": c.text})).collect::<Vec<_>>(),
        "structured_content": result.structured_content.as_ref().map(json::from_struct),
    })
}

/// Prints `value` as pretty JSON on stdout.
fn print(value: &Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// A refused call in one line: the code, the message, and the challenge if there is one.
fn describe(status: Status) -> String {
    let mut text = format!("{}: {}", code_name(status.code()), status.message());
    if let Some(challenge) = status
        .metadata()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
    {
        text.push_str(&format!(" (www-authenticate: {challenge})"));
    }
    text
}
