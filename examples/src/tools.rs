//! The tools: `read_file`, `list_dir` and `write_file`, run against the [`Root`].
//!
//! Which caller may call which tool is not decided here: the proto's tool table says it, and
//! the generated adapter has checked the caller's scopes for the named tool before a handler
//! calls [`call`]. Nor are the arguments checked here: `ToolCall::decode` has turned them into
//! the tool's argument message (or refused them with INVALID_ARGUMENT naming the argument).
//! This module only runs the tool; a new tool in the proto is a new `ToolCall` variant, which
//! this `match` must handle before the server compiles.

use serde_json::json;

use crate::json;
use crate::proto::mcp::mcp_service_auth::ToolCall;
use crate::proto::mcp::{CallToolResponse, Content, ListDirArgs, ReadFileArgs, WriteFileArgs};
use crate::root::{Root, ToolError};

/// Runs one tool call against `root`; its arguments were decoded into the tool's argument
/// message by [`ToolCall::decode`]. Blocking (file I/O): call it from
/// `tokio::task::spawn_blocking`.
pub fn call(root: &Root, call: ToolCall) -> Result<CallToolResponse, ToolError> {
    match call {
        ToolCall::ReadFile(ReadFileArgs { path }) => {
            let text = root.read_file(&path)?;
            Ok(text_result(text, None))
        }
        ToolCall::ListDir(ListDirArgs { path }) => {
            let entries = root.list_dir(&path)?;
            let text = entries
                .iter()
                .map(|e| match e.kind {
                    crate::root::EntryKind::Directory => format!("{}/", e.name),
                    _ => e.name.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let structured = json!({
                "entries": entries.iter().map(|e| json!({
                    "name": e.name, "kind": e.kind.as_str(), "size": e.size,
                })).collect::<Vec<_>>(),
            });
            Ok(text_result(text, Some(structured)))
        }
        ToolCall::WriteFile(WriteFileArgs { path, content }) => {
            let written = root.write_file(&path, &content)?;
            Ok(text_result(
                format!("wrote {written} bytes to {path}"),
                Some(json!({"path": path, "bytes": written})),
            ))
        }
    }
}

fn text_result(text: String, structured: Option<serde_json::Value>) -> CallToolResponse {
    CallToolResponse {
        content: vec![Content {
            r#type: "text".to_owned(),
            text,
        }],
        structured_content: structured.and_then(|s| json::to_struct(s).ok()),
    }
}
