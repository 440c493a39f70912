//! `quickstart`: starts `mcp-server` on 127.0.0.1 with the embedded development key, drives a
//! scripted client through the cases that matter, and prints what was asked, the decision
//! expected and the decision made. Exits 0 only if every row matched.
//!
//! Run it with `bash examples/quickstart.sh`, which builds the binaries first. It needs nothing
//! but them: the server's root, the JWK set and the tokens are made in a scratch directory that
//! is removed at the end.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use mcp_auth_example::client::{code_name, with_token};
use mcp_auth_example::json;
use mcp_auth_example::proto::health::HealthCheckRequest;
use mcp_auth_example::proto::health::health_client::HealthClient;
use mcp_auth_example::proto::mcp::mcp_service_client::McpServiceClient;
use mcp_auth_example::proto::mcp::{
    CallToolRequest, GetResourcesRequest, ListToolsRequest, ToolStreamRequest, ToolStreamResponse,
    tool_stream_response,
};
use mcp_auth_example::token::{self, DEV_AUDIENCE, DEV_ISSUER, DEV_KEY_PEM, SigningKey, TokenSpec};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

/// Every scope the server knows.
const FULL: &[&str] = &[
    "tools:list",
    "tools:call",
    "resources:read",
    "files:read",
    "files:write",
];
/// Everything but `files:write`.
const READ_ONLY: &[&str] = &["tools:list", "tools:call", "resources:read", "files:read"];
/// How long the tokens of the expiring streams live.
const SHORT_LIFETIME: i64 = 4;
/// The longest any one step may take before its row reports `TIMEOUT`.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// One line of the table.
struct Row {
    case: String,
    expected: String,
    actual: String,
}

/// Exits 0 if every row matched, 1 if one did not, 2 if the quickstart could not run.
#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("quickstart: error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Prepares the scratch directory, starts the server, runs the cases and prints the table;
/// whether every row matched.
async fn run() -> Result<bool, String> {
    let scratch = tempfile::Builder::new()
        .prefix("mcp-auth-quickstart-")
        .tempdir()
        .map_err(|e| format!("scratch directory: {e}"))?;
    let root = prepare_files(scratch.path())?;
    let key = SigningKey::es256_pem(DEV_KEY_PEM)?;
    let jwks = scratch.path().join("jwks.json");
    std::fs::write(&jwks, key.jwks()?.to_string()).map_err(|e| e.to_string())?;
    let log = scratch.path().join("server.log");

    let server = Server::start(&root, &jwks, &log).await?;
    println!(
        "mcp-auth quickstart: mcp-server listening on {}, tools confined to {}",
        server.addr,
        root.display()
    );
    println!(
        "tokens: ES256, signed with the embedded development key (kid {}), iss {DEV_ISSUER}, aud {DEV_AUDIENCE}\n",
        key.kid().unwrap_or_default()
    );
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .map_err(|e| e.to_string())?
        .connect_timeout(STEP_TIMEOUT)
        .connect()
        .await
        .map_err(|e| format!("cannot connect to mcp-server: {e}"))?;

    let rows = cases(&channel, &key).await?;
    let matched = print_table(&rows);
    server.stop().await;
    if !matched {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        eprintln!("\nthe server's last log lines:");
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("  {line}");
        }
    } else {
        println!("\nTry it yourself (the server's flags: mcp-server --help):");
        println!("  cargo run -q -p mcp-auth-example --bin mcp-token -- keygen --out dev-key.pem");
        println!(
            "  cargo run -q -p mcp-auth-example --bin mcp-token -- jwks --key dev-key.pem > jwks.json"
        );
        println!(
            "  cargo run -q -p mcp-auth-example --bin mcp-server -- --root . --issuer {DEV_ISSUER} --audience {DEV_AUDIENCE} --jwks-file jwks.json &"
        );
        println!(
            "  cargo run -q -p mcp-auth-example --bin mcp-client -- --token \"$(cargo run -q -p mcp-auth-example --bin mcp-token -- mint --key dev-key.pem --scope 'tools:list tools:call files:read')\" list-tools"
        );
    }
    Ok(matched)
}

/// The server's root with two files, a secret beside it, and a link that points at the
/// secret from inside the root.
fn prepare_files(scratch: &Path) -> Result<PathBuf, String> {
    let root = scratch.join("root");
    let io = |e: std::io::Error| format!("preparing the root: {e}");
    std::fs::create_dir_all(root.join("notes")).map_err(io)?;
    std::fs::write(root.join("hello.txt"), "Hello from the MCP tool server.\n").map_err(io)?;
    std::fs::write(root.join("notes/todo.md"), "- try the quickstart\n").map_err(io)?;
    std::fs::write(scratch.join("secret.txt"), "outside the root\n").map_err(io)?;
    #[cfg(unix)]
    std::os::unix::fs::symlink("../secret.txt", root.join("escape")).map_err(io)?;
    Ok(root)
}

/// The `mcp-server` child process.
struct Server {
    child: tokio::process::Child,
    addr: String,
}

impl Server {
    /// Starts `mcp-server` on `127.0.0.1:0` verifying tokens with `jwks`, its stderr in `log`,
    /// and waits (bounded) for its `listening on` line.
    async fn start(root: &Path, jwks: &Path, log: &Path) -> Result<Self, String> {
        let binary = sibling("mcp-server")?;
        let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(&binary)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--root")
            .arg(root)
            .args(["--issuer", DEV_ISSUER, "--audience", DEV_AUDIENCE])
            .arg("--jwks-file")
            .arg(jwks)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(STEP_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return Some(addr.to_owned());
                }
            }
            None
        })
        .await;
        match addr {
            Ok(Some(addr)) => Ok(Self { child, addr }),
            _ => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let log = std::fs::read_to_string(log).unwrap_or_default();
                Err(format!("mcp-server did not start:\n{log}"))
            }
        }
    }

    /// Ends the server and waits for it.
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The path of another binary of this package, beside this one.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = me.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it first with `cargo build -p mcp-auth-example --bins` \
             (bash examples/quickstart.sh does)",
            path.display()
        ))
    }
}

/// What a call decided: `allowed`, or the status code.
fn decision<T>(outcome: &Result<T, Status>) -> String {
    match outcome {
        Ok(_) => "allowed".to_owned(),
        Err(status) => code_name(status.code()).to_owned(),
    }
}

/// Bounds one step, so a hung server shows as a row instead of a hung quickstart.
async fn bounded<T>(step: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .unwrap_or_else(|_| Err(Status::deadline_exceeded("TIMEOUT")))
}

/// A `CallTool` request for `name` with JSON `arguments`.
fn call(name: &str, arguments: serde_json::Value) -> CallToolRequest {
    CallToolRequest {
        name: name.to_owned(),
        arguments: json::to_struct(arguments).ok(),
    }
}

/// Runs every case against the server and returns the rows of the table.
async fn cases(channel: &Channel, key: &SigningKey) -> Result<Vec<Row>, String> {
    let mint =
        |scopes: &[&str], lifetime: i64| key.mint(&TokenSpec::dev("alice", scopes, lifetime));
    let full = mint(FULL, 600)?;
    let read = mint(READ_ONLY, 600)?;
    let expired = mint(FULL, -600)?;
    let forged = SigningKey::es256_pem(&token::generate_es256_pem()?)?
        .with_kid(key.kid().unwrap_or_default())
        .mint(&TokenSpec::dev("alice", FULL, 600))?;
    let mut client = McpServiceClient::new(channel.clone());
    let mut rows = Vec::new();
    let mut row = |case: &str, expected: &str, actual: String| {
        rows.push(Row {
            case: case.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    };

    // The tool list is filtered by the caller's scopes.
    for (case, token, expected) in [
        (
            "full token: ListTools",
            &full,
            "allowed: read_file list_dir write_file",
        ),
        (
            "read-only token: ListTools",
            &read,
            "allowed: read_file list_dir",
        ),
    ] {
        let outcome =
            bounded(client.list_tools(with_token(ListToolsRequest {}, Some(token)))).await;
        let actual = match outcome {
            Ok(response) => {
                let names: Vec<String> = response
                    .into_inner()
                    .tools
                    .into_iter()
                    .map(|t| t.name)
                    .collect();
                format!("allowed: {}", names.join(" "))
            }
            Err(status) => code_name(status.code()).to_owned(),
        };
        row(case, expected, actual);
    }

    let calls: [(&str, Option<&str>, CallToolRequest, &str); 8] = [
        (
            "full token: write_file notes/new.txt",
            Some(&full),
            call(
                "write_file",
                serde_json::json!({"path": "notes/new.txt", "content": "written by the quickstart\n"}),
            ),
            "allowed",
        ),
        (
            "read-only token: read_file hello.txt",
            Some(&read),
            call("read_file", serde_json::json!({"path": "hello.txt"})),
            "allowed",
        ),
        (
            "read-only token: write_file hello.txt",
            Some(&read),
            call(
                "write_file",
                serde_json::json!({"path": "hello.txt", "content": "overwritten"}),
            ),
            "PERMISSION_DENIED",
        ),
        (
            "no token: read_file hello.txt",
            None,
            call("read_file", serde_json::json!({"path": "hello.txt"})),
            "UNAUTHENTICATED",
        ),
        (
            "expired token: read_file hello.txt",
            Some(&expired),
            call("read_file", serde_json::json!({"path": "hello.txt"})),
            "UNAUTHENTICATED",
        ),
        (
            "token signed by another key, same kid",
            Some(&forged),
            call("read_file", serde_json::json!({"path": "hello.txt"})),
            "UNAUTHENTICATED",
        ),
        (
            "full token: read_file ../secret.txt",
            Some(&full),
            call("read_file", serde_json::json!({"path": "../secret.txt"})),
            "INVALID_ARGUMENT",
        ),
        (
            "full token: read_file escape (link out of root)",
            Some(&full),
            call("read_file", serde_json::json!({"path": "escape"})),
            "INVALID_ARGUMENT",
        ),
    ];
    for (case, token, request, expected) in calls {
        let outcome = bounded(client.call_tool(with_token(request, token))).await;
        row(case, expected, decision(&outcome));
    }

    let outcome = bounded(client.list_tools(with_token(ListToolsRequest {}, None))).await;
    row("no token: ListTools", "UNAUTHENTICATED", decision(&outcome));
    let outcome =
        bounded(client.get_resources(with_token(GetResourcesRequest {}, Some(&read)))).await;
    row(
        "read-only token: GetResources",
        "allowed",
        decision(&outcome),
    );
    let outcome = bounded(
        HealthClient::new(channel.clone()).check(HealthCheckRequest {
            service: "mcp.McpService".to_owned(),
        }),
    )
    .await;
    row(
        "no token: Health/Check (public)",
        "allowed",
        decision(&outcome),
    );

    // Streams: every message is checked.
    let (write_row, expiring_row, renewed_row) = tokio::join!(
        write_with_read_token(client.clone(), &read),
        expiring_stream(client.clone(), key),
        renewed_stream(client.clone(), key),
    );
    row(
        "stream, read-only token: read_file, write_file",
        "allowed, then PERMISSION_DENIED",
        write_row,
    );
    row(
        "stream, 4 s token: read_file, expiry, list_dir",
        "allowed, then UNAUTHENTICATED",
        expiring_row?,
    );
    row(
        "stream, 4 s token renewed in-band: the same",
        "allowed, then allowed",
        renewed_row?,
    );
    Ok(rows)
}

/// A stream's messages go through a channel, so the script can wait between them.
struct ToolStream {
    tx: mpsc::Sender<ToolStreamRequest>,
    replies: Result<Streaming<ToolStreamResponse>, Status>,
}

impl ToolStream {
    /// Opens a `ToolStream` with `token`.
    async fn open(mut client: McpServiceClient<Channel>, token: &str) -> Self {
        let (tx, rx) = mpsc::channel(8);
        let replies = bounded(client.tool_stream(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            Some(token),
        )))
        .await
        .map(tonic::Response::into_inner);
        Self { tx, replies }
    }

    /// Sends one message (`auth_token`: a fresh token for in-band renewal, or empty).
    async fn send(&self, id: &str, tool: &str, arguments: serde_json::Value, auth_token: &str) {
        // The server may have ended the stream already; the reply says how.
        let _ = self
            .tx
            .send(ToolStreamRequest {
                request_id: id.to_owned(),
                tool_name: tool.to_owned(),
                arguments: json::to_struct(arguments).ok(),
                auth_token: auth_token.to_owned(),
            })
            .await;
    }

    /// The decision on the next message: `allowed` for a tool result, the status code that
    /// ended the stream otherwise.
    async fn next(&mut self) -> String {
        let replies = match &mut self.replies {
            Ok(replies) => replies,
            Err(status) => return code_name(status.code()).to_owned(),
        };
        match bounded(replies.message()).await {
            Ok(Some(reply)) => match reply.outcome {
                Some(tool_stream_response::Outcome::Result(_)) => "allowed".to_owned(),
                Some(tool_stream_response::Outcome::Error(error)) => {
                    format!(
                        "tool error {}",
                        code_name(tonic::Code::from_i32(error.code))
                    )
                }
                None => "empty reply".to_owned(),
            },
            Ok(None) => "stream closed".to_owned(),
            Err(status) => code_name(status.code()).to_owned(),
        }
    }
}

/// A stream with a read-only token that reads, then tries to write.
async fn write_with_read_token(client: McpServiceClient<Channel>, read: &str) -> String {
    let mut stream = ToolStream::open(client, read).await;
    stream
        .send(
            "1",
            "read_file",
            serde_json::json!({"path": "hello.txt"}),
            "",
        )
        .await;
    let first = stream.next().await;
    stream
        .send(
            "2",
            "write_file",
            serde_json::json!({"path": "hello.txt", "content": "x"}),
            "",
        )
        .await;
    let second = stream.next().await;
    format!("{first}, then {second}")
}

/// Waits until the clock has passed `exp` (seconds since the epoch).
async fn wait_past(exp: u64) {
    let now = token::unix_now();
    tokio::time::sleep(Duration::from_millis((exp + 1).saturating_sub(now) * 1000)).await;
}

/// A stream whose token expires between its first and second message.
async fn expiring_stream(
    client: McpServiceClient<Channel>,
    key: &SigningKey,
) -> Result<String, String> {
    let exp = token::unix_now() + SHORT_LIFETIME as u64;
    let token = key.mint(&TokenSpec::dev("alice", READ_ONLY, SHORT_LIFETIME))?;
    let mut stream = ToolStream::open(client, &token).await;
    stream
        .send(
            "1",
            "read_file",
            serde_json::json!({"path": "hello.txt"}),
            "",
        )
        .await;
    let first = stream.next().await;
    wait_past(exp).await;
    stream
        .send("2", "list_dir", serde_json::json!({"path": "."}), "")
        .await;
    let second = stream.next().await;
    Ok(format!("{first}, then {second}"))
}

/// The same, with a fresh token sent in-band before the first one expires.
async fn renewed_stream(
    client: McpServiceClient<Channel>,
    key: &SigningKey,
) -> Result<String, String> {
    let exp = token::unix_now() + SHORT_LIFETIME as u64;
    let token = key.mint(&TokenSpec::dev("alice", READ_ONLY, SHORT_LIFETIME))?;
    let fresh = key.mint(&TokenSpec::dev("alice", READ_ONLY, 600))?;
    let mut stream = ToolStream::open(client, &token).await;
    stream
        .send(
            "1",
            "read_file",
            serde_json::json!({"path": "hello.txt"}),
            "",
        )
        .await;
    let first = stream.next().await;
    // A message that only carries a fresh token: the guard verifies it (same subject) and the
    // stream's expiry moves to the fresh token's.
    stream.send("", "", serde_json::Value::Null, &fresh).await;
    wait_past(exp).await;
    stream
        .send("2", "list_dir", serde_json::json!({"path": "."}), "")
        .await;
    let second = stream.next().await;
    Ok(format!("{first}, then {second}"))
}

/// Prints the table; whether every row matched.
fn print_table(rows: &[Row]) -> bool {
    let width = |f: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).len())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let case_w = width(|r| &r.case, "case");
    let expected_w = width(|r| &r.expected, "expected");
    let actual_w = width(|r| &r.actual, "actual");
    println!(
        "{:>2}  {:case_w$}  {:expected_w$}  {:actual_w$}  match",
        "#", "case", "expected", "actual"
    );
    println!(
        "{}",
        "-".repeat(2 + 2 + case_w + 2 + expected_w + 2 + actual_w + 2 + 5)
    );
    let mut matched = 0;
    for (i, r) in rows.iter().enumerate() {
        let ok = r.expected == r.actual;
        matched += usize::from(ok);
        println!(
            "{:>2}  {:case_w$}  {:expected_w$}  {:actual_w$}  {}",
            i + 1,
            r.case,
            r.expected,
            r.actual,
            if ok { "yes" } else { "NO" }
        );
    }
    println!("\n{matched} of {} rows matched.", rows.len());
    matched == rows.len()
}
