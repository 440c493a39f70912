//! Clients in other languages against the Rust server, with tokens they mint themselves: a
//! Node.js client (`@grpc/grpc-js`, `@grpc/proto-loader`, `jose`) and a Python client
//! (`grpcio`, `grpcio-tools`, `PyJWT` with `cryptography`), in `examples/interop/`.
//!
//! Each gets the server's address, the private key of a key pair made for the run (the server
//! has only the public half, as a JWK set file), its `kid`, issuer and audience, and reports
//! the status of every call as a JSON line: an allowed call, a missing token, an insufficient
//! scope, an expired token, and two bidirectional streams (one that only reads, one that tries
//! a write with a read-only token).
//!
//! The packages are installed by `tests/setup.sh` (npm into `examples/interop/node`, pip into
//! `.tools/venv`). Without them these tests fail and say so; they never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Running, run_bounded};
use mcp_auth_example::token::{self, SigningKey};
use serde_json::{Value, json};

const ISSUER: &str = "https://interop-issuer.mcp-auth.invalid";
const AUDIENCE: &str = "interop-tools";
const HELLO: &str = "hello from the Rust server\n";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is missing: run `bash tests/setup.sh` (it installs the interop clients' packages \
         from the npm registry into examples/interop/node and from PyPI into .tools/venv)"
    )
}

/// A server on 127.0.0.1:0 verifying a fresh key pair, with the client's configuration.
struct Setup {
    _scratch: tempfile::TempDir,
    root: PathBuf,
    server: Running,
    config: String,
}

fn setup() -> Setup {
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let root = d.join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), HELLO).unwrap();
    let pem = token::generate_es256_pem().unwrap();
    let key = SigningKey::es256_pem(&pem).unwrap();
    let key_file = common::write(d, "key.pem", &pem);
    let jwks = common::write(d, "jwks.json", key.jwks().unwrap().to_string());
    let server = Running::start(&[
        "--root",
        root.to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--jwks-file",
        &jwks,
    ]);
    let ws = workspace();
    let config = json!({
        "addr": server.addr,
        "key_file": key_file,
        "kid": key.kid().unwrap(),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "include": [ws.join("examples/proto"), ws.join("proto")],
    })
    .to_string();
    Setup {
        _scratch: scratch,
        root,
        server,
        config,
    }
}

/// Runs a client and returns its reports by case.
fn reports(command: Command, what: &str) -> serde_json::Map<String, Value> {
    let output = run_bounded(command, "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the {what} client failed:\n{stdout}\n{stderr}"
    );
    stdout
        .lines()
        .map(|line| {
            let report: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{what}: not a JSON report: {line:?}: {e}"));
            (report["case"].as_str().unwrap().to_owned(), report)
        })
        .collect()
}

/// The outcomes both clients must report; `p` is the prefix of their stream request ids.
fn check(reports: &serde_json::Map<String, Value>, p: &str, setup: &Setup) {
    let report = |case: &str| {
        reports
            .get(case)
            .unwrap_or_else(|| panic!("no report for {case:?}: {reports:?}"))
    };
    let allowed = report("allowed");
    assert_eq!(allowed["code"], "OK", "{allowed}");
    assert_eq!(
        allowed["tools"],
        json!(["read_file", "list_dir", "write_file"])
    );
    let call = report("call");
    assert_eq!(call["code"], "OK", "{call}");
    assert_eq!(call["text"], HELLO);
    assert_eq!(report("missing_token")["code"], "UNAUTHENTICATED");
    let denied = report("insufficient_scope");
    assert_eq!(denied["code"], "PERMISSION_DENIED", "{denied}");
    assert_eq!(
        denied["challenge"],
        r#"Bearer error="insufficient_scope", scope="files:write""#
    );
    assert_eq!(report("expired")["code"], "UNAUTHENTICATED");
    let stream = report("stream");
    assert_eq!(stream["code"], "OK", "{stream}");
    assert_eq!(
        stream["replies"],
        json!([
            {"request_id": format!("{p}1"), "outcome": "result"},
            {"request_id": format!("{p}2"), "outcome": "result"},
        ])
    );
    assert_eq!(stream["text"], HELLO);
    let write = report("stream_write_denied");
    assert_eq!(write["code"], "PERMISSION_DENIED", "{write}");
    assert_eq!(write["replies"], json!([format!("{p}3")]));
    // Neither denied write reached the file system.
    assert!(!setup.root.join("x.txt").exists());
    assert_eq!(
        std::fs::read_to_string(setup.root.join("hello.txt")).unwrap(),
        HELLO
    );
}

#[test]
fn a_node_client_with_grpc_js_and_jose() {
    let node_dir = workspace().join("examples/interop/node");
    for package in ["@grpc/grpc-js", "@grpc/proto-loader", "jose"] {
        if !node_dir.join("node_modules").join(package).is_dir() {
            missing(&format!("the npm package {package}"));
        }
    }
    let node_works = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_works {
        missing("Node.js (`node`)");
    }
    let setup = setup();
    let mut command = Command::new("node");
    command
        .current_dir(&node_dir)
        .arg("client.mjs")
        .arg(&setup.config);
    let reports = reports(command, "Node.js");
    check(&reports, "n", &setup);
    let log = setup.server.log().join("\n");
    assert!(log.contains(r#"subject="node-client""#), "{log}");
}

#[test]
fn a_python_client_with_grpcio_and_pyjwt() {
    let python = workspace().join(".tools/venv/bin/python");
    if !python.exists() {
        missing(&format!(
            "the Python virtual environment {}",
            python.display()
        ));
    }
    let imports = Command::new(&python)
        .args(["-c", "import grpc, grpc_tools, jwt, cryptography"])
        .output();
    if !imports.is_ok_and(|o| o.status.success()) {
        missing("the Python packages grpcio, grpcio-tools, PyJWT or cryptography");
    }
    let setup = setup();
    let mut command = Command::new(&python);
    command
        .arg(workspace().join("examples/interop/python/client.py"))
        .arg(&setup.config);
    let reports = reports(command, "Python");
    check(&reports, "p", &setup);
    let log = setup.server.log().join("\n");
    assert!(log.contains(r#"subject="python-client""#), "{log}");
}
