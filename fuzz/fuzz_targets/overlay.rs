//! Arbitrary text as a policy overlay: parsed on its own, and applied to the MCP-shaped
//! fixture of the end-to-end tests (`mcp_auth_fuzz::mcp_request`) with both reports on.
//! Diagnostics or generated files, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_gen::CodeGeneratorResponse;
use prost_types::compiler as prost_gen;
use protoc_gen_mcp_auth::__fuzz;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = __fuzz::parse_overlay(text);
    let response = __fuzz::execute_with_overlay(mcp_auth_fuzz::mcp_request(), text)
        .expect("the fixture's request decodes");
    let response = CodeGeneratorResponse::decode(response.as_slice()).expect("a response");
    if let Err(diagnostics) = parsed {
        assert_eq!(
            response.error.as_deref(),
            Some(diagnostics.as_str()),
            "an overlay that does not parse generated code"
        );
    }
    if response.error.is_none() {
        assert!(!response.file.is_empty(), "no error and no file");
    }
});
