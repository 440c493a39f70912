//! The binaries end to end: `mcp-server` refuses every incomplete or broken configuration
//! before it listens, serves callers identified by client certificates and by tokens over TLS,
//! and works with `mcp-token` and `mcp-client`; the quickstart prints an all-matched table.

mod common;

use common::{Running, bin, run_bounded, write};
use mcp_auth_example::proto::mcp::mcp_service_client::McpServiceClient;
use mcp_auth_example::proto::mcp::{CallToolRequest, ListToolsRequest};
use mcp_auth_example::token::{DEV_AUDIENCE, DEV_ISSUER, SigningKey, TokenSpec};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const SECRET: &str = "an HS256 secret of more than 32 bytes, for the tests";

/// Runs `mcp-server` with `args`, which must make it refuse to start, and returns its stderr.
fn refused(args: &[&str]) -> String {
    let mut command = bin("mcp-server");
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command.args(args);
    let output = run_bounded(command, "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{args:?} started: {stdout}");
    assert!(!stdout.contains("listening on"), "{args:?} listened");
    assert!(
        stderr.starts_with("mcp-server: error: "),
        "{args:?}: {stderr}"
    );
    stderr
}

#[test]
fn every_incomplete_or_broken_configuration_is_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    std::fs::create_dir(&root).unwrap();
    let root = root.to_str().unwrap();
    let secret = write(d, "secret.txt", format!("{SECRET}\n"));
    let short = write(d, "short.txt", "too short\n");
    let key =
        SigningKey::es256_pem(&mcp_auth_example::token::generate_es256_pem().unwrap()).unwrap();
    let jwks = write(d, "jwks.json", key.jwks().unwrap().to_string());
    let garbage = write(d, "garbage.json", "{\"keys\": 7}");
    let not_pem = write(d, "not-pem.txt", "hello");
    let bad_cert = write(
        d,
        "bad-cert.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let bad_key = write(
        d,
        "bad-key.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let pki = Pki::new();
    let ca = write(d, "ca.pem", pki.ca.pem());
    let (server_cert, server_key) = pki.server();
    let cert = write(d, "server.pem", server_cert);
    let cert_key = write(d, "server.key", server_key);
    let missing = d.join("missing").to_str().unwrap().to_owned();
    let file_as_root = secret.clone();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();

    let tokens = [
        "--root",
        root,
        "--issuer",
        DEV_ISSUER,
        "--audience",
        DEV_AUDIENCE,
        "--hs256-secret-file",
        &secret,
    ];
    let with_tokens = |more: &[&str]| -> Vec<String> {
        tokens.iter().chain(more).map(|s| (*s).to_owned()).collect()
    };
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec![], "--root is required".into()),
        (
            vec!["--root".into(), root.into()],
            "no authentication configured".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
            ],
            "--issuer is set but nothing verifies tokens".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--audience".into(),
                "x".into(),
            ],
            "--audience is set but nothing verifies tokens".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--jwks-file".into(),
                jwks.clone(),
            ],
            "--jwks-file needs --issuer".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
                "--jwks-url".into(),
                "https://127.0.0.1:1/jwks.json".into(),
            ],
            "--jwks-url needs --audience".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
                "--audience".into(),
                DEV_AUDIENCE.into(),
                "--jwks-file".into(),
                missing.clone(),
            ],
            format!("--jwks-file {missing}: cannot read it"),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
                "--audience".into(),
                DEV_AUDIENCE.into(),
                "--jwks-file".into(),
                garbage.clone(),
            ],
            "--jwks-file: JWK set".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
                "--audience".into(),
                DEV_AUDIENCE.into(),
                "--jwks-url".into(),
                "http://127.0.0.1:1/jwks.json".into(),
            ],
            "--jwks-url http://127.0.0.1:1/jwks.json".into(),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
                "--audience".into(),
                DEV_AUDIENCE.into(),
                "--hs256-secret-file".into(),
                missing.clone(),
            ],
            format!("--hs256-secret-file {missing}: cannot read it"),
        ),
        (
            vec![
                "--root".into(),
                root.into(),
                "--issuer".into(),
                DEV_ISSUER.into(),
                "--audience".into(),
                DEV_AUDIENCE.into(),
                "--hs256-secret-file".into(),
                short.clone(),
            ],
            "HS256 needs at least 32".into(),
        ),
        (
            {
                let mut args = with_tokens(&[]);
                args[1] = missing.clone();
                args
            },
            format!("--root {missing}"),
        ),
        (
            {
                let mut args = with_tokens(&[]);
                args[1] = file_as_root.clone();
                args
            },
            format!("--root {file_as_root}"),
        ),
        (
            with_tokens(&["--client-ca", &ca]),
            "--client-ca needs --tls-cert and --tls-key".into(),
        ),
        (
            with_tokens(&["--tls-cert", &cert]),
            "--tls-cert needs --tls-key".into(),
        ),
        (
            with_tokens(&["--tls-key", &cert_key]),
            "--tls-key needs --tls-cert".into(),
        ),
        (
            with_tokens(&[
                "--tls-cert",
                &cert,
                "--tls-key",
                &cert_key,
                "--client-ca",
                &missing,
            ]),
            format!("--client-ca {missing}: cannot read it"),
        ),
        (
            with_tokens(&[
                "--tls-cert",
                &cert,
                "--tls-key",
                &cert_key,
                "--client-ca",
                &not_pem,
            ]),
            format!("--client-ca {not_pem}: no PEM `CERTIFICATE`"),
        ),
        (
            with_tokens(&["--tls-cert", &bad_cert, "--tls-key", &bad_key]),
            "--tls-cert/--tls-key/--client-ca:".into(),
        ),
        (
            with_tokens(&["--mtls-identity", "spiffe://example.org/a=tools:list"]),
            "--mtls-identity needs --client-ca".into(),
        ),
        (
            with_tokens(&[
                "--tls-cert",
                &cert,
                "--tls-key",
                &cert_key,
                "--client-ca",
                &ca,
                "--mtls-identity",
                "indexer=tools:list",
            ]),
            "must be a SPIFFE ID".into(),
        ),
        (
            with_tokens(&[
                "--tls-cert",
                &cert,
                "--tls-key",
                &cert_key,
                "--client-ca",
                &ca,
                "--mtls-identity",
                "spiffe://example.org/a=tools:list",
                "--mtls-identity",
                "spiffe://example.org/a=files:read",
            ]),
            "granted twice".into(),
        ),
        (
            with_tokens(&["--rate-limit-per-second", "0"]),
            "--rate-limit-per-second must be at least 1".into(),
        ),
        (
            with_tokens(&["--redis-url", "redis://127.0.0.1:1/"]),
            "--redis-url:".into(),
        ),
        (
            with_tokens(&["--redis-url", "not a url"]),
            "--redis-url:".into(),
        ),
        (
            {
                let mut args = with_tokens(&[]);
                args.extend(["--listen".to_owned(), busy.clone()]);
                args
            },
            format!("--listen {busy}"),
        ),
    ];
    for (args, expected) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = refused(&args);
        assert!(
            stderr.contains(expected.as_str()),
            "{args:?}: expected {expected:?} in {stderr:?}"
        );
    }
}

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mcp-auth example test CA");
        Self {
            ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A certificate and key (PEM) with `sans`.
    fn issue(&self, sans: Vec<SanType>) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.distinguished_name.push(DnType::CommonName, "test");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server(&self) -> (String, String) {
        self.issue(vec![SanType::DnsName("localhost".try_into().unwrap())])
    }

    fn client(&self, spiffe: &str) -> Identity {
        let (cert, key) = self.issue(vec![SanType::URI(spiffe.try_into().unwrap())]);
        Identity::from_pem(cert, key)
    }
}

async fn tls_client(
    addr: &str,
    pki: &Pki,
    identity: Option<Identity>,
) -> Result<McpServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca.pem()))
        .domain_name("localhost");
    if let Some(identity) = identity {
        tls = tls.identity(identity);
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect_timeout(common::BOUND)
        .connect()
        .await?;
    Ok(McpServiceClient::new(channel))
}

fn call(name: &str, arguments: serde_json::Value) -> CallToolRequest {
    CallToolRequest {
        name: name.to_owned(),
        arguments: mcp_auth_example::json::to_struct(arguments).ok(),
    }
}

fn tool_names(
    response: tonic::Response<mcp_auth_example::proto::mcp::ListToolsResponse>,
) -> Vec<String> {
    response
        .into_inner()
        .tools
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_tokens_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello").unwrap();
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let cert = write(d, "server.pem", cert);
    let key = write(d, "server.key", key);
    let ca = write(d, "ca.pem", pki.ca.pem());
    let secret = write(d, "secret.txt", SECRET);
    let reader = "spiffe://example.org/reader";
    let grant = format!("{reader}=tools:list,tools:call,files:read");
    let tls_args = [
        "--root",
        root.to_str().unwrap(),
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--client-ca",
        &ca,
        "--mtls-identity",
        &grant,
    ];

    // Certificates only: a client without one does not get through the handshake.
    let server = Running::start(&tls_args);
    let mut client = tls_client(&server.addr, &pki, Some(pki.client(reader)))
        .await
        .unwrap();
    let listed = client.list_tools(ListToolsRequest {}).await.unwrap();
    assert_eq!(tool_names(listed), ["read_file", "list_dir"]);
    let read = client
        .call_tool(call("read_file", serde_json::json!({"path": "hello.txt"})))
        .await
        .unwrap();
    assert_eq!(read.into_inner().content[0].text, "hello");
    // Arguments that do not fit the tool's argument message (proto/mcp/mcp.proto) are refused
    // before the tool runs, naming the argument.
    for (arguments, message) in [
        (
            serde_json::json!({}),
            "invalid arguments for tool `read_file`: argument `path`: required, but not given",
        ),
        (
            serde_json::json!({"path": 7}),
            "invalid arguments for tool `read_file`: argument `path`: expected a string, got a \
             number",
        ),
        (
            serde_json::json!({"path": "hello.txt", "follow": true}),
            "invalid arguments for tool `read_file`: argument `follow`: `ReadFileArgs` has no \
             field `follow`",
        ),
    ] {
        let status = client
            .call_tool(call("read_file", arguments))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), message);
    }
    let status = client
        .call_tool(call(
            "write_file",
            serde_json::json!({"path": "x", "content": "x"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(!root.join("x").exists());
    let mut stranger = tls_client(
        &server.addr,
        &pki,
        Some(pki.client("spiffe://example.org/other")),
    )
    .await
    .unwrap();
    let status = stranger.list_tools(ListToolsRequest {}).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            Code::PermissionDenied | Code::Unauthenticated
        ),
        "{status:?}"
    );
    let anonymous = match tls_client(&server.addr, &pki, None).await {
        Err(_) => None,
        Ok(mut client) => Some(client.list_tools(ListToolsRequest {}).await),
    };
    assert!(
        !matches!(anonymous, Some(Ok(_))),
        "a client without a certificate was served"
    );
    drop(server);

    // Certificates and tokens: the certificate becomes optional, either identifies.
    let mut both_args: Vec<&str> = tls_args.to_vec();
    both_args.extend([
        "--issuer",
        DEV_ISSUER,
        "--audience",
        DEV_AUDIENCE,
        "--hs256-secret-file",
        &secret,
    ]);
    let server = Running::start(&both_args);
    let mut by_certificate = tls_client(&server.addr, &pki, Some(pki.client(reader)))
        .await
        .unwrap();
    assert!(by_certificate.list_tools(ListToolsRequest {}).await.is_ok());
    let mut by_token = tls_client(&server.addr, &pki, None).await.unwrap();
    let token = SigningKey::hs256(SECRET.as_bytes())
        .unwrap()
        .mint(&TokenSpec::dev(
            "alice",
            &["tools:list", "files:read", "files:write"],
            600,
        ))
        .unwrap();
    let listed = by_token
        .list_tools(mcp_auth_example::client::with_token(
            ListToolsRequest {},
            Some(&token),
        ))
        .await
        .unwrap();
    assert_eq!(tool_names(listed), ["read_file", "list_dir", "write_file"]);
    let status = by_token.list_tools(ListToolsRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Every decision is on the server's stderr, without the token.
    let log = server.log().join("\n");
    assert!(
        log.contains("audit: allow /mcp.McpService/ListTools"),
        "{log}"
    );
    assert!(!log.contains(&token));
}

#[test]
fn mcp_token_and_mcp_client_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from the root").unwrap();
    let key = d.join("key.pem");
    let key = key.to_str().unwrap();

    let run = |name: &str, args: &[&str], stdin: &str| {
        let mut command = bin(name);
        command.args(args);
        let output = run_bounded(command, stdin);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run("mcp-token", &["keygen", "--out", key], "");
    assert!(ok, "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwrites a key.
    let (ok, _, err) = run("mcp-token", &["keygen", "--out", key], "");
    assert!(!ok && err.contains("--out"), "{err}");
    let (ok, jwks, err) = run("mcp-token", &["jwks", "--key", key], "");
    assert!(ok, "{err}");
    let jwks_file = write(d, "jwks.json", &jwks);
    let server = Running::start(&[
        "--root",
        root.to_str().unwrap(),
        "--issuer",
        DEV_ISSUER,
        "--audience",
        DEV_AUDIENCE,
        "--jwks-file",
        &jwks_file,
    ]);
    let url = server.url();
    let mint = |scope: &str, lifetime: &str| {
        let (ok, token, err) = run(
            "mcp-token",
            &[
                "mint",
                "--key",
                key,
                "--subject",
                "carol",
                "--scope",
                scope,
                "--lifetime",
                lifetime,
            ],
            "",
        );
        assert!(ok, "{err}");
        token.trim().to_owned()
    };
    let reader = mint("tools:list tools:call files:read", "10m");
    let token_file = write(d, "token.txt", format!("{reader}\n"));

    let (ok, out, err) = run(
        "mcp-client",
        &["--server", &url, "--token", &reader, "list-tools"],
        "",
    );
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_file", "list_dir"]);

    let (ok, out, err) = run(
        "mcp-client",
        &[
            "--server",
            &url,
            "--token-file",
            &token_file,
            "call",
            "read_file",
            "--args",
            r#"{"path": "hello.txt"}"#,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("hello from the root"), "{out}");

    let (ok, _, err) = run(
        "mcp-client",
        &[
            "--server",
            &url,
            "--token",
            &reader,
            "call",
            "write_file",
            "--args",
            r#"{"path": "x", "content": "x"}"#,
        ],
        "",
    );
    assert!(!ok);
    assert!(err.contains("PERMISSION_DENIED"), "{err}");
    assert!(err.contains(r#"scope="files:write""#), "{err}");

    let (ok, _, err) = run("mcp-client", &["--server", &url, "list-tools"], "");
    assert!(!ok && err.contains("UNAUTHENTICATED"), "{err}");
    let expired = mint("tools:list", "-10m");
    let (ok, _, err) = run(
        "mcp-client",
        &["--server", &url, "--token", &expired, "list-tools"],
        "",
    );
    assert!(!ok && err.contains("UNAUTHENTICATED"), "{err}");

    // A stream from --call flags, one JSON line per answer; a tool error does not end it.
    let (ok, out, err) = run(
        "mcp-client",
        &[
            "--server",
            &url,
            "--token",
            &reader,
            "stream",
            "--call",
            r#"list_dir={"path": "."}"#,
            "--call",
            r#"read_file={"path": "../etc/passwd"}"#,
            "--call",
            r#"read_file={"path": "hello.txt"}"#,
        ],
        "",
    );
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["request_id"], "1");
    assert_eq!(lines[1]["error"]["code"], "INVALID_ARGUMENT");
    assert!(
        lines[2]["result"]
            .to_string()
            .contains("hello from the root")
    );

    // A stream from stdin that tries a write with a read token: ended before the write.
    let (ok, out, err) = run(
        "mcp-client",
        &["--server", &url, "--token", &reader, "stream"],
        concat!(
            r#"{"request_id": "a", "tool_name": "read_file", "arguments": {"path": "hello.txt"}}"#,
            "\n",
            r#"{"request_id": "b", "tool_name": "write_file", "arguments": {"path": "x", "content": "x"}}"#,
            "\n",
        ),
    );
    assert!(!ok);
    assert!(out.contains(r#""request_id":"a""#), "{out}");
    assert!(err.contains("PERMISSION_DENIED"), "{err}");
    assert!(!root.join("x").exists());

    let (ok, out, err) = run("mcp-client", &["--server", &url, "health"], "");
    assert!(ok, "{err}");
    assert!(out.contains("SERVING"), "{out}");
}

#[test]
fn the_quickstart_prints_an_all_matched_table() {
    let output = run_bounded(bin("quickstart"), "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("16 of 16 rows matched."), "{stdout}");
}

/// A `redis-server` on a free loopback port, without persistence; killed when dropped.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .unwrap_or_else(|| {
                panic!("redis-server is missing: run `bash tests/setup.sh` (it installs Debian's redis-server)")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let redis = Self { child, port };
        let started = std::time::Instant::now();
        while redis.command(&["PING"]).as_deref() != Some("+PONG\r\n") {
            assert!(
                started.elapsed() < common::BOUND,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Sends one command and returns the raw reply (one read; enough for short replies).
    fn command(&self, args: &[&str]) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(common::BOUND)).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut buffer = vec![0; 64 * 1024];
        let n = stream.read(&mut buffer).ok()?;
        Some(String::from_utf8_lossy(&buffer[..n]).into_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `n` ListTools calls with `token` through `clients` in turn; the status codes.
async fn list_calls(clients: &mut [McpServiceClient<Channel>], token: &str, n: usize) -> Vec<Code> {
    let mut codes = Vec::new();
    for i in 0..n {
        let client = &mut clients[i % clients.len()];
        let request = mcp_auth_example::client::with_token(ListToolsRequest {}, Some(token));
        codes.push(match client.list_tools(request).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        });
    }
    codes
}

async fn plain_client(server: &Running) -> McpServiceClient<Channel> {
    let channel = Channel::from_shared(server.url())
        .unwrap()
        .connect_timeout(common::BOUND)
        .connect()
        .await
        .unwrap();
    McpServiceClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_in_memory_and_shared_through_redis() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    std::fs::create_dir(&root).unwrap();
    let secret = write(d, "secret.txt", SECRET);
    let token = SigningKey::hs256(SECRET.as_bytes())
        .unwrap()
        .mint(&TokenSpec::dev("alice", &["tools:list"], 600))
        .unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "--root",
            root.to_str().unwrap(),
            "--issuer",
            DEV_ISSUER,
            "--audience",
            DEV_AUDIENCE,
            "--hs256-secret-file",
            &secret,
            "--rate-limit-per-second",
            "1",
        ]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect()
    };

    // One call a second, bursts of 2: twenty calls in a row cannot all pass.
    let server = Running::start(&args(&[]));
    let codes = list_calls(&mut [plain_client(&server).await], &token, 20).await;
    assert_eq!(codes[0], Code::Ok);
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::ResourceExhausted)),
        "{codes:?}"
    );
    drop(server);

    // Two replicas counting in one Redis: the budget lives there.
    let redis = Redis::start();
    let url = redis.url();
    let one = Running::start(&args(&["--redis-url", &url]));
    let two = Running::start(&args(&["--redis-url", &url]));
    let mut clients = [plain_client(&one).await, plain_client(&two).await];
    let codes = list_calls(&mut clients, &token, 20).await;
    assert_eq!(codes[0], Code::Ok);
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    let keys = redis.command(&["KEYS", "mcp-auth:rate:*"]).unwrap();
    assert!(keys.contains("/mcp.McpService/ListTools"), "{keys}");
    assert!(keys.contains("alice"), "{keys}");

    // Redis gone: the servers cannot count, so they refuse (fail closed).
    drop(redis);
    let codes = list_calls(&mut clients, &token, 2).await;
    assert_eq!(codes, [Code::Unavailable, Code::Unavailable]);
}
