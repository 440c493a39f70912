//! The tools: `read_file`, `list_dir` and `write_file`, run against the [`Root`].
//!
//! Which caller may call which tool is not decided here: the proto's tool table says it, and
//! the generated adapter has checked the caller's scopes for the named tool before a handler
//! calls [`call`]. This module only runs the tool.

use prost_types::Struct;
use prost_types::value::Kind;
use serde_json::json;

use crate::json;
use crate::proto::mcp::{CallToolResponse, Content};
use crate::root::{Root, ToolError};

/// The JSON Schema of a tool's arguments, for `ListTools`; `None` for a tool this server does
/// not implement.
pub fn input_schema(tool: &str) -> Option<serde_json::Value> {
    let path = json!({
        "type": "string",
        "description": "A path relative to the server's root; `..` and absolute paths are refused",
    });
    let schema = match tool {
        "read_file" => json!({
            "type": "object", "properties": {"path": path}, "required": ["path"],
        }),
        "list_dir" => json!({"type": "object", "properties": {"path": path}}),
        "write_file" => json!({
            "type": "object",
            "properties": {"path": path, "content": {"type": "string"}},
            "required": ["path", "content"],
        }),
        _ => return None,
    };
    Some(schema)
}

/// Runs the tool `name` with `arguments` against `root`. Blocking (file I/O): call it from
/// `tokio::task::spawn_blocking`.
pub fn call(
    root: &Root,
    name: &str,
    arguments: Option<&Struct>,
) -> Result<CallToolResponse, ToolError> {
    match name {
        "read_file" => {
            let path = string_argument(arguments, "path")?.unwrap_or_default();
            let text = root.read_file(path)?;
            Ok(text_result(text, None))
        }
        "list_dir" => {
            let path = string_argument(arguments, "path")?.unwrap_or("");
            let entries = root.list_dir(path)?;
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
        "write_file" => {
            let path = string_argument(arguments, "path")?.unwrap_or_default();
            let Some(content) = string_argument(arguments, "content")? else {
                return Err(ToolError::invalid("`content` is required (a string)"));
            };
            let written = root.write_file(path, content)?;
            Ok(text_result(
                format!("wrote {written} bytes to {path}"),
                Some(json!({"path": path, "bytes": written})),
            ))
        }
        // Declared in the proto but not implemented here: the adapter let it through because
        // the caller holds its scopes, so say plainly that it does not exist.
        _ => Err(ToolError {
            code: tonic::Code::Unimplemented,
            message: format!("this server does not implement the tool {name:?}"),
        }),
    }
}

/// The string argument `key`: `None` when absent, an error when it is not a string.
fn string_argument<'a>(
    arguments: Option<&'a Struct>,
    key: &str,
) -> Result<Option<&'a str>, ToolError> {
    match arguments
        .and_then(|a| a.fields.get(key))
        .and_then(|v| v.kind.as_ref())
    {
        None | Some(Kind::NullValue(_)) => Ok(None),
        Some(Kind::StringValue(s)) => Ok(Some(s)),
        Some(_) => Err(ToolError::invalid(format!("`{key}` must be a string"))),
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
