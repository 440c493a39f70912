//! An MCP tool server over gRPC built with mcp-auth, and the programs around it.
//!
//! - [`proto`]: the code generated from `proto/mcp/mcp.proto` (service `mcp.McpService`, its
//!   tool table and every RPC's rule) and `proto/grpc/health/v1/health.proto` (the standard
//!   health service, declared public);
//! - [`service`]: the handlers, each taking the proof of authorization of its own RPC;
//! - [`root`]: the file tools' confinement to one directory;
//! - [`config`]: the `mcp-server` command line, checked as a whole before serving;
//! - [`token`]: development keys, tokens and JWK sets (`mcp-token`, the quickstart, the
//!   tests);
//! - [`client`]: what `mcp-client` and the quickstart share.
//!
//! The binaries: `mcp-server`, `mcp-client`, `mcp-token` and `quickstart` (which drives the
//! other two through the interesting cases and prints what was decided).

pub mod client;
pub mod config;
pub mod json;
pub mod root;
pub mod service;
pub mod token;
pub mod tools;

/// The generated code.
pub mod proto {
    /// Package `mcp`: the messages, the tonic client and server, and `mcp_service_auth` (the
    /// typed trait, the policy table with the tool table, and `server()`).
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod mcp {
        mcp_auth::include_proto!("mcp");
    }

    /// Package `grpc.health.v1`: the standard health service, every RPC public.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod health {
        mcp_auth::include_proto!("grpc.health.v1");
    }
}
