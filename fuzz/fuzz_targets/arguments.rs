//! Arbitrary tool arguments through `ToolCall::decode`: the input is a JSON object (or, when it
//! is not one, a protobuf-encoded `google.protobuf.Struct`), decoded for every tool of the
//! typed-arguments fixture. A typed tool call or INVALID_ARGUMENT (PERMISSION_DENIED for the
//! undeclared tool), never a panic; a call is always of the tool it was decoded for, and a
//! refusal names that tool.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_fuzz::arguments::arguments_auth::ToolCall;
use prost::Message;
use tonic::Code;

fuzz_target!(|data: &[u8]| {
    let arguments = match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(json @ serde_json::Value::Object(_)) => mcp_auth_fuzz::to_struct(json),
        _ => match prost_types::Struct::decode(data) {
            Ok(arguments) => arguments,
            Err(_) => return,
        },
    };
    for tool in ["kitchen", "move_file", "shout", "plain", "format_disk"] {
        match ToolCall::decode(tool, Some(arguments.clone())) {
            Ok(call) => assert_eq!(call.name(), tool),
            Err(status) if tool == "format_disk" => {
                assert_eq!(status.code(), Code::PermissionDenied)
            }
            Err(status) => {
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
                assert!(
                    status
                        .message()
                        .starts_with(&format!("invalid arguments for tool `{tool}`: ")),
                    "{}",
                    status.message()
                );
            }
        }
    }
});
