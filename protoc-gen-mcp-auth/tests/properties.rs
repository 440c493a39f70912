//! Property tests (proptest) of the plugin's inputs: arbitrary and damaged
//! `CodeGeneratorRequest`s, generated annotated protos, and policy overlay text. Each is
//! answered with a response or an error, never a panic. The coverage-guided fuzz targets in
//! `fuzz/` (`plugin_request`, `plugin_descriptors`, `overlay`; run by `fuzz/run.sh`) search the
//! same inputs for longer.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use prost::Message;
use prost_types::compiler::CodeGeneratorResponse;
use protoc_gen_mcp_auth::__fuzz;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The request protoc would send for the end-to-end tests' tool fixture.
fn fixture_request() -> Vec<u8> {
    let mut compiler = protox::Compiler::new([
        repo().join("tests/fixtures/pass"),
        repo().join("protoc-gen-mcp-auth/proto"),
    ])
    .unwrap();
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(["fixtures/tools.proto"]).unwrap();
    let set = compiler.encode_file_descriptor_set();
    protoc_gen_mcp_auth::request_from_descriptor_set(
        &set,
        &["fixtures/tools.proto".to_owned()],
        "report=markdown,report=json",
    )
    .unwrap()
}

/// The request for the MCP-shaped fixture, whose policy is all in its overlay.
fn mcp_request() -> Vec<u8> {
    let root = repo().join("tests/fixtures/overlay/mcp");
    let mut compiler =
        protox::Compiler::new([root, repo().join("protoc-gen-mcp-auth/proto")]).unwrap();
    compiler.include_imports(true);
    let files = ["fixtures/mcp/mcp.proto", "fixtures/mcptools/args.proto"];
    compiler.open_files(files).unwrap();
    let set = compiler.encode_file_descriptor_set();
    protoc_gen_mcp_auth::request_from_descriptor_set(&set, &files.map(str::to_owned), "report=json")
        .unwrap()
}

fn mcp_overlay() -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/overlay/mcp/mcp.overlay.toml")).unwrap()
}

/// Checks a response from `execute`: it decodes, and it holds an error or files, not both.
fn check_response(response: &[u8]) -> Result<CodeGeneratorResponse, TestCaseError> {
    let response = CodeGeneratorResponse::decode(response)
        .map_err(|e| TestCaseError::fail(format!("the response does not decode: {e}")))?;
    prop_assert!(
        response.error.is_none() || response.file.is_empty(),
        "an error and files: {:?}",
        response.error
    );
    Ok(response)
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Remove),
        any::<prop::sample::Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for edit in edits {
        if bytes.is_empty() {
            return;
        }
        match edit {
            Edit::Set(i, b) => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Edit::Insert(i, b) => bytes.insert(i.index(bytes.len()), *b),
            Edit::Remove(i) => {
                bytes.remove(i.index(bytes.len()));
            }
            Edit::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        }
    }
}

/// Pieces of a method rule, valid and not.
const RULE_PARTS: &[&str] = &[
    "public: true",
    "authenticated: true",
    "scopes: \"files:read\"",
    "scopes: [\"a\", \"b\"]",
    "scopes: \"\"",
    "scopes: \"a b\"",
    "scopes: \"x\\\"y\"",
    "identity: IDENTITY_JWT",
    "identity: IDENTITY_MTLS",
    "identity: IDENTITY_BOTH",
    "stream: { unchecked_expiry: true }",
    "stream: { unchecked_message_scopes: true unlimited_messages: true }",
    "stream: { reauth_token_field: \"token\" }",
    "stream: { reauth_token_field: \"count\" }",
    "rate_limit: { per_second: 1 burst: 0 }",
    "rate_limit: { per_second: 10 burst: 20 messages_per_second: 5 }",
    "rate_limit: { message_burst: 4294967295 }",
    "tool_name_field: \"name\"",
    "tool_name_field: \"inner.name\"",
    "tool_name_field: \"count\"",
    "tool_name_field: \"missing.field\"",
    "allow_undeclared_tools: true",
    "resource_uri_field: \"name\"",
    "resource_uri_field: \"names\"",
    "allow_undeclared_resources: true",
    "prompt_name_field: \"inner.name\"",
    "allow_undeclared_prompts: true",
];

/// File-level tables, tool options on a message, and nothing.
const FILE_OPTIONS: &[&str] = &[
    "",
    "option (mcp_auth.v1.tools) = { tool: { name: \"read\" scopes: \"files:read\" } };",
    "option (mcp_auth.v1.tools) = { tool: { name: \"read\" } tool: { name: \"read\" } };",
    "option (mcp_auth.v1.tools) = { tool: { name: \"\" scopes: \"a b\" } };",
    "option (mcp_auth.v1.resources) = { resource: { uri_prefix: \"file:///docs/\" scopes: \"d\" } };",
    "option (mcp_auth.v1.resources) = { resource: { uri_prefix: \"file:///a/../b/\" } };",
    "option (mcp_auth.v1.prompts) = { prompt: { name: \"summarize\" scopes: \"p\" } };",
];

const INNER_OPTIONS: &[&str] = &[
    "",
    "option (mcp_auth.v1.tool) = { name: \"echo\" scopes: \"echo:say\" };",
    "option (mcp_auth.v1.tool) = { name: \"read\" };",
    "option (mcp_auth.v1.tool) = { scopes: \"x\" };",
];

fn rule() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.8,
        prop::collection::vec(prop::sample::select(RULE_PARTS), 0..4).prop_map(|parts| {
            // A field given twice does not compile, except the repeated `scopes`.
            let mut kept: Vec<&str> = Vec::new();
            for part in parts {
                let key = |p: &str| p.split(':').next().unwrap_or_default().to_owned();
                if key(part) == "scopes" || !kept.iter().any(|k| key(k) == key(part)) {
                    kept.push(part);
                }
            }
            kept.join(" ")
        }),
    )
}

/// A method: name, client streaming, server streaming, rule.
type MethodModel = (String, bool, bool, Option<String>);

fn method() -> impl Strategy<Value = MethodModel> {
    (
        prop::sample::select(vec!["Call", "List", "Stream", "Type", "Self_", "Async"]),
        any::<bool>(),
        any::<bool>(),
        rule(),
    )
        .prop_map(|(name, cs, ss, rule)| (name.to_owned(), cs, ss, rule))
}

/// An annotated proto: file options, the argument message's options, and services with a
/// default rule and methods.
fn proto_source() -> impl Strategy<Value = String> {
    (
        prop::sample::select(FILE_OPTIONS),
        prop::sample::select(INNER_OPTIONS),
        prop::collection::vec((rule(), prop::collection::vec(method(), 1..5)), 1..3),
    )
        .prop_map(|(file_options, inner_options, services)| {
            let mut out = String::from(
                "syntax = \"proto3\";\npackage prop.v1;\nimport \"mcp_auth/v1/auth.proto\";\n\
                 import \"google/protobuf/struct.proto\";\n",
            );
            out.push_str(file_options);
            out.push_str(&format!(
                "\nmessage Inner {{ {inner_options} string name = 1; }}\n\
                 message Req {{ string name = 1; int64 count = 2; Inner inner = 3; \
                 string token = 4; google.protobuf.Struct arguments = 5; \
                 repeated string names = 6; }}\n"
            ));
            for (index, (default, methods)) in services.iter().enumerate() {
                out.push_str(&format!("service S{index} {{\n"));
                if let Some(default) = default {
                    out.push_str(&format!(
                        "  option (mcp_auth.v1.service) = {{ default: {{ {default} }} }};\n"
                    ));
                }
                let mut seen = Vec::new();
                for (name, cs, ss, rule) in methods {
                    if seen.contains(name) {
                        continue;
                    }
                    seen.push(name.clone());
                    let cs = if *cs { "stream " } else { "" };
                    let ss = if *ss { "stream " } else { "" };
                    out.push_str(&format!("  rpc {name}({cs}Req) returns ({ss}Req)"));
                    match rule {
                        Some(rule) => out.push_str(&format!(
                            " {{ option (mcp_auth.v1.method) = {{ {rule} }}; }}\n"
                        )),
                        None => out.push_str(";\n"),
                    }
                }
                out.push_str("}\n");
            }
            out
        })
}

/// Serves one generated file and the options proto from memory.
struct Sources(String);

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match name {
            protoc_gen_mcp_auth::AUTH_PROTO_NAME => {
                File::from_source(name, protoc_gen_mcp_auth::AUTH_PROTO)
            }
            "prop/v1/prop.proto" => File::from_source(name, &self.0),
            _ => Err(protox::Error::file_not_found(name)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes: an `Err` or a response, never a panic.
    #[test]
    fn arbitrary_requests_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(response) = protoc_gen_mcp_auth::execute(&bytes) {
            check_response(&response)?;
        }
    }

    /// A real request (the tool fixture, with both reports) with a few bytes changed,
    /// inserted, removed or cut off: an `Err` or a response, never a panic.
    #[test]
    fn damaged_requests_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        thread_local!(static REQUEST: Vec<u8> = fixture_request());
        let mut bytes = REQUEST.with(Clone::clone);
        apply(&mut bytes, &edits);
        if let Ok(response) = protoc_gen_mcp_auth::execute(&bytes) {
            check_response(&response)?;
        }
    }

    /// Annotated protos with every kind of rule, valid and not, on every streaming kind,
    /// compiled as protoc would: generated files or an error response, never a panic.
    #[test]
    fn generated_protos_never_panic(source in proto_source()) {
        let mut resolver = ChainFileResolver::new();
        resolver.add(Sources(source.clone()));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(true);
        let compiled = compiler.open_files(["prop/v1/prop.proto"]);
        prop_assert!(compiled.is_ok(), "the generated proto does not compile: {:?}\n{}", compiled.err(), source);
        let request = protoc_gen_mcp_auth::request_from_descriptor_set(
            &compiler.encode_file_descriptor_set(),
            &["prop/v1/prop.proto".to_owned()],
            "report=markdown",
        )
        .unwrap();
        let response = protoc_gen_mcp_auth::execute(&request).expect("protox's request decodes");
        let response = check_response(&response)?;
        if response.error.is_none() {
            prop_assert_eq!(response.file.len(), 2, "code and report");
        }
    }

    /// Arbitrary text as an overlay: diagnostics or a parse, never a panic; applied to the
    /// MCP-shaped fixture, the same diagnostics or generated files.
    #[test]
    fn arbitrary_overlay_text_never_panics(text in "(\\PC|\n|\\[|\\]|=|\"|\\.){0,64}") {
        thread_local!(static REQUEST: Vec<u8> = mcp_request());
        let parsed = __fuzz::parse_overlay(&text);
        let response = REQUEST.with(|r| __fuzz::execute_with_overlay(r, &text)).unwrap();
        let response = check_response(&response)?;
        if let Err(diagnostics) = parsed {
            prop_assert_eq!(response.error, Some(diagnostics));
        }
    }

    /// The fixture's real overlay with a few bytes changed: never a panic, and every
    /// diagnostic names a place, in the overlay or in the proto.
    #[test]
    fn damaged_overlays_never_panic(edits in prop::collection::vec(edit(), 1..4)) {
        thread_local!(static REQUEST: Vec<u8> = mcp_request());
        let mut bytes = mcp_overlay().into_bytes();
        apply(&mut bytes, &edits);
        let text = String::from_utf8_lossy(&bytes);
        let response = REQUEST.with(|r| __fuzz::execute_with_overlay(r, &text)).unwrap();
        let response = check_response(&response)?;
        if let Some(error) = &response.error {
            for line in error.lines() {
                prop_assert!(
                    line.starts_with(__fuzz::OVERLAY_FILE)
                        || line.starts_with("fixtures/mcp/mcp.proto:")
                        || line.starts_with("fixtures/mcptools/args.proto:"),
                    "{}",
                    line
                );
            }
        }
    }
}

/// Regression (fuzz target `plugin_request`): a file whose `syntax` the descriptor library does
/// not know made it panic with an index out of bounds; it is an error now.
#[test]
fn an_unknown_syntax_is_an_error_not_a_panic() {
    use prost_types::FileDescriptorProto;
    use prost_types::compiler::CodeGeneratorRequest;
    for syntax in ["editions", "proto4", ""] {
        let request = CodeGeneratorRequest {
            file_to_generate: vec!["a.proto".to_owned()],
            proto_file: vec![FileDescriptorProto {
                name: Some("a.proto".to_owned()),
                syntax: Some(syntax.to_owned()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let error = protoc_gen_mcp_auth::execute(&request.encode_to_vec()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("a.proto: syntax `{syntax}` is not supported; use proto2 or proto3")
        );
    }
    // The fuzzer's own input: protoc's request for a fixture with three bytes changed.
    let crash =
        std::fs::read(repo().join("fuzz/corpus/plugin_request/regression-unknown-syntax")).unwrap();
    assert!(matches!(
        protoc_gen_mcp_auth::execute(&crash),
        Err(protoc_gen_mcp_auth::RequestError::UnsupportedSyntax { .. })
    ));
}

#[test]
fn the_unchanged_inputs_generate_code() {
    // The properties above start from these inputs; they must be valid for the damaged ones
    // to mean anything.
    let response = protoc_gen_mcp_auth::execute(&fixture_request()).unwrap();
    let response = CodeGeneratorResponse::decode(response.as_slice()).unwrap();
    assert_eq!(response.error, None);
    assert_eq!(response.file.len(), 3);
    let response = __fuzz::execute_with_overlay(&mcp_request(), &mcp_overlay()).unwrap();
    let response = CodeGeneratorResponse::decode(response.as_slice()).unwrap();
    assert_eq!(response.error, None);
    // The code and JSON report of fixtures.mcp and of fixtures.mcptools (its argument messages).
    assert_eq!(response.file.len(), 4);
    assert_eq!(__fuzz::parse_overlay(&mcp_overlay()), Ok(()));
}
