//! Generates the fixtures through the build.rs path (protox, no system protoc).

fn main() {
    let root = "fixtures/pass";
    let protos = [
        "fixtures/echo.proto",
        "fixtures/streaming.proto",
        "fixtures/defaults.proto",
        "fixtures/public.proto",
        "fixtures/nested/v1/nested.proto",
        "fixtures/keywords.proto",
        "fixtures/identity.proto",
        "fixtures/limits.proto",
        "fixtures/tools.proto",
        "fixtures/resources.proto",
        "fixtures/arguments.proto",
        "fixtures/attack.proto",
    ]
    .map(|p| format!("{root}/{p}"));
    if let Err(error) = protoc_gen_mcp_auth::Builder::new()
        .build_client(true)
        .compile(&protos, &[root])
    {
        panic!("code generation failed:\n{error}");
    }
    // A proto of the MCP gRPC transport's shape with no options at all, covered by an overlay.
    let mcp = "fixtures/overlay/mcp";
    if let Err(error) = protoc_gen_mcp_auth::Builder::new()
        .build_client(true)
        .overlay(format!("{mcp}/mcp.overlay.toml"))
        .compile(
            &[
                format!("{mcp}/fixtures/mcp/mcp.proto"),
                format!("{mcp}/fixtures/mcptools/args.proto"),
            ],
            &[mcp],
        )
    {
        panic!("code generation failed:\n{error}");
    }
}
