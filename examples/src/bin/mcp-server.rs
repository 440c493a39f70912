//! `mcp-server`: the MCP tool server. Every flag is checked, every file read and every key
//! fetched before it listens; then it prints `listening on ADDR` and serves until Ctrl-C or
//! SIGTERM, after which calls in flight have 10 seconds to finish.
//!
//! ```text
//! mcp-token keygen --out dev-key.pem && mcp-token jwks --key dev-key.pem > jwks.json
//! mcp-server --root ./files --issuer https://dev-issuer.mcp-auth.invalid --audience mcp-tools \
//!     --jwks-file jwks.json --listen 127.0.0.1:50051
//! ```

use std::io::Write;
use std::process::ExitCode;

use std::time::Duration;

use clap::Parser;
use mcp_auth_example::config::ServerArgs;

/// How long calls in flight may take to finish after Ctrl-C or SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Checks every flag (exit 2 and a message naming the flag if one is wrong), then serves.
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
    let (stopping, stopped) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stopping.send(());
    };
    let serve = prepared.serve(
        |addr| {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "listening on {addr}");
            let _ = stdout.flush();
        },
        shutdown,
    );
    // Calls in flight get SHUTDOWN_GRACE to finish; streams that never end on their own (a
    // health Watch) do not keep the process alive past it.
    let grace = async {
        if stopped.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        served = serve => served,
        () = grace => Ok(()),
    };
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
