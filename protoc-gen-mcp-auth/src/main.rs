//! `protoc-gen-mcp-auth`: reads a `CodeGeneratorRequest` on stdin, writes a
//! `CodeGeneratorResponse` on stdout.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("protoc-gen-mcp-auth {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let mut request = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut request) {
        eprintln!("protoc-gen-mcp-auth: cannot read the request from stdin: {e}");
        return ExitCode::FAILURE;
    }
    match protoc_gen_mcp_auth::execute_before_exit(&request) {
        Ok(response) => match std::io::stdout().write_all(&response) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("protoc-gen-mcp-auth: cannot write the response: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("protoc-gen-mcp-auth: {e}");
            ExitCode::FAILURE
        }
    }
}
