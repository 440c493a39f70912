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
    ]
    .map(|p| format!("{root}/{p}"));
    if let Err(error) = protoc_gen_mcp_auth::Builder::new()
        .build_client(true)
        .compile(&protos, &[root])
    {
        panic!("code generation failed:\n{error}");
    }
}
