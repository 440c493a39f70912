//! Arbitrary bytes as the plugin's stdin, into `protoc_gen_mcp_auth::execute`: a response or
//! an error, never a panic; a response always decodes as a `CodeGeneratorResponse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_types::compiler::CodeGeneratorResponse;

fuzz_target!(|data: &[u8]| {
    // `overlay=<path>` makes the plugin read a file; the fuzzer must not pick /dev/zero.
    if data.windows(7).any(|w| w == b"overlay") {
        return;
    }
    if let Ok(response) = protoc_gen_mcp_auth::execute(data) {
        CodeGeneratorResponse::decode(response.as_slice()).expect("the response decodes");
    }
});
