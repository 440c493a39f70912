//! `mcp-server`: the MCP tool server. Every flag is checked, every file read and every key
//! fetched before it listens; then it prints `listening on ADDR` and serves until Ctrl-C or
//! SIGTERM.
//!
//! ```text
//! mcp-token keygen --out dev-key.pem && mcp-token jwks --key dev-key.pem > jwks.json
//! mcp-server --root ./files --issuer https://dev-issuer.mcp-auth.invalid --audience mcp-tools \
//!     --jwks-file jwks.json --listen 127.0.0.1:50051
//! ```

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use mcp_auth_example::config::ServerArgs;

#[tokio::main]
async fn main() -> ExitCode {
    let args = ServerArgs::parse();
    let prepared = match args.prepare().await {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("mcp-server: error: {error}");
            return ExitCode::from(2);
        }
    };
    let served = prepared
        .serve(
            |addr| {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "listening on {addr}");
                let _ = stdout.flush();
            },
            shutdown_signal(),
        )
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-server: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
