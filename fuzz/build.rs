//! Generates the typed-arguments fixture of the end-to-end tests (`fixtures/arguments.proto`:
//! every field type, enums, nested and recursive messages, maps, oneofs, well-known types)
//! for the `arguments` target, through the same build.rs builder users run.

fn main() {
    let root = "../tests/fixtures/pass";
    let proto = format!("{root}/fixtures/arguments.proto");
    println!("cargo:rerun-if-changed={proto}");
    if let Err(error) = protoc_gen_mcp_auth::Builder::new().compile(&[proto], &[root]) {
        panic!("code generation failed:\n{error}");
    }
}
