//! Generates the MCP service and the health service, with their authorization layers, through
//! the build.rs path (protox: no system protoc needed on a fresh machine). The health proto is
//! gRPC's own, unmodified; its rules come from an overlay.

fn main() {
    let protos = ["proto/mcp/mcp.proto", "proto/grpc/health/v1/health.proto"];
    println!("cargo:rerun-if-changed=proto/health.overlay.toml");
    if let Err(error) = protoc_gen_mcp_auth::Builder::new()
        .build_client(true)
        .overlay("proto/health.overlay.toml")
        // The policy as a Markdown table per package, for review: committed in policy/ and
        // checked against this build's by tests/policy.rs.
        .report(protoc_gen_mcp_auth::ReportFormat::Markdown)
        .compile(&protos, &["proto"])
    {
        panic!("code generation failed:\n{error}");
    }
}
