//! JSON Schema of a tool's argument message, for MCP's `inputSchema`.
//!
//! The schema describes the JSON object an MCP client sends as the tool's `arguments`: one
//! property per field, named by its proto field name, typed as the proto3 JSON mapping encodes
//! it (64-bit integers as numbers or decimal strings, bytes as base64, enums by value name,
//! well-known types by their JSON forms), with the field's comment as its description. A field is
//! `required` when the proto says so (`(mcp_auth.v1.argument).required`, proto2 `required`,
//! `(google.api.field_behavior) = REQUIRED`): proto3 fields otherwise have defaults. No other
//! property is allowed.

use std::collections::HashMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use crate::request::Sources;
use crate::source::SourceIndex;
use serde_json::{Map, Value, json};

/// The comments of fields, read through one locator per file.
pub(crate) trait Comments {
    /// The leading comment of `field`, one line per entry.
    fn field(&mut self, field: &FieldDescriptor) -> Vec<String>;
}

/// The schema of `message`, as compact JSON text.
pub(crate) fn input_schema(message: &MessageDescriptor, comments: &mut dyn Comments) -> String {
    let mut stack = Vec::new();
    let schema = message_schema(message, comments, &mut stack);
    serde_json::to_string(&schema).expect("a JSON value always serializes")
}

fn message_schema(
    message: &MessageDescriptor,
    comments: &mut dyn Comments,
    stack: &mut Vec<String>,
) -> Value {
    if let Some(schema) = well_known(message.full_name()) {
        return schema;
    }
    if stack.iter().any(|m| m == message.full_name()) {
        // A recursive message: the inner occurrence is described as any object.
        return json!({ "type": "object" });
    }
    stack.push(message.full_name().to_owned());
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in message.fields() {
        if crate::arguments::is_required(&field) {
            required.push(Value::String(field.name().to_owned()));
        }
        let mut schema = field_schema(&field, comments, stack);
        let description = comments
            .field(&field)
            .iter()
            .map(|line| line.trim())
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !description.is_empty()
            && let Value::Object(object) = &mut schema
        {
            object.insert("description".to_owned(), Value::String(description));
        }
        properties.insert(field.name().to_owned(), schema);
    }
    stack.pop();
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

fn field_schema(
    field: &FieldDescriptor,
    comments: &mut dyn Comments,
    stack: &mut Vec<String>,
) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({ "type": "object" });
        };
        let value = entry.map_entry_value_field();
        return json!({
            "type": "object",
            "additionalProperties": kind_schema(&value.kind(), comments, stack),
        });
    }
    let single = kind_schema(&field.kind(), comments, stack);
    if field.is_list() {
        json!({ "type": "array", "items": single })
    } else {
        single
    }
}

fn kind_schema(kind: &Kind, comments: &mut dyn Comments, stack: &mut Vec<String>) -> Value {
    match kind {
        Kind::Double | Kind::Float => json!({ "type": "number" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({
            "type": "integer",
            "minimum": i32::MIN,
            "maximum": i32::MAX,
        }),
        Kind::Uint32 | Kind::Fixed32 => json!({
            "type": "integer",
            "minimum": 0,
            "maximum": u32::MAX,
        }),
        // proto3 JSON writes 64-bit integers as strings and reads numbers too.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({
            "type": ["integer", "string"],
            "pattern": "^-?[0-9]+$",
        }),
        Kind::Uint64 | Kind::Fixed64 => json!({
            "type": ["integer", "string"],
            "minimum": 0,
            "pattern": "^[0-9]+$",
        }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::String => json!({ "type": "string" }),
        Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Kind::Enum(enumeration) => {
            let names: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
            json!({ "type": "string", "enum": names })
        }
        Kind::Message(message) => message_schema(message, comments, stack),
    }
}

/// The JSON forms of the well-known types.
fn well_known(full_name: &str) -> Option<Value> {
    let schema = match full_name {
        "google.protobuf.Struct" | "google.protobuf.Empty" | "google.protobuf.Any" => {
            json!({ "type": "object" })
        }
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array" }),
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => {
            json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$" })
        }
        "google.protobuf.FieldMask" => json!({ "type": "string" }),
        "google.protobuf.StringValue" => json!({ "type": "string" }),
        "google.protobuf.BytesValue" => json!({ "type": "string", "contentEncoding": "base64" }),
        "google.protobuf.BoolValue" => json!({ "type": "boolean" }),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            json!({ "type": "number" })
        }
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({ "type": "integer" })
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({ "type": ["integer", "string"] })
        }
        _ => return None,
    };
    Some(schema)
}

/// Field comments from the request's source info, one index per file read.
pub(crate) struct SourceComments<'a> {
    sources: &'a Sources,
    indexes: HashMap<String, SourceIndex<'a>>,
}

impl<'a> SourceComments<'a> {
    pub(crate) fn new(sources: &'a Sources) -> Self {
        Self {
            sources,
            indexes: HashMap::new(),
        }
    }
}

impl Comments for SourceComments<'_> {
    fn field(&mut self, field: &FieldDescriptor) -> Vec<String> {
        let file = field.parent_file();
        let index = self
            .indexes
            .entry(file.name().to_owned())
            .or_insert_with(|| self.sources.index(file.name()));
        index
            .comment(field.path())
            .map(crate::model::comment_lines)
            .unwrap_or_default()
    }
}

/// `text` as a Rust raw string literal: `r#"..."#` with as many `#` as it needs.
pub(crate) fn raw_string(text: &str) -> String {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let fence = "#".repeat(hashes);
    format!("r{fence}\"{text}\"{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: &str = r#"
syntax = "proto3";
package t;
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";

enum Mode {
  MODE_UNSPECIFIED = 0;
  MODE_FAST = 1;
}

message Args {
  message Inner {
    float weight = 1;
  }
  // The path to read,
  // relative to the root.
  string path = 1;
  int32 count = 2;
  uint64 size = 3;
  sint64 offset = 4;
  double ratio = 5;
  bool recursive = 6;
  bytes data = 7;
  Mode mode = 8;
  Inner inner = 9;
  repeated string tags = 10;
  map<string, Inner> limits = 11;
  google.protobuf.Timestamp after = 12;
  google.protobuf.Struct extra = 13;
  Args next = 14;
  optional string note = 15;
  oneof target {
    string by_name = 16;
    uint32 by_id = 17;
  }
}
"#;

    struct Source;

    impl protox::file::FileResolver for Source {
        fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
            if name == "t.proto" {
                protox::file::File::from_source(name, PROTO)
            } else {
                protox::file::GoogleFileResolver::new().open_file(name)
            }
        }
    }

    fn schema() -> Value {
        let mut compiler = protox::Compiler::with_file_resolver(Source);
        compiler.include_source_info(true);
        compiler.open_file("t.proto").unwrap();
        let pool = compiler.descriptor_pool();
        let message = pool.get_message_by_name("t.Args").unwrap();
        let file = message.parent_file();
        let mut sources = Sources::default();
        let info = file
            .file_descriptor_proto()
            .source_code_info
            .as_ref()
            .unwrap();
        sources.insert(file.name(), prost::Message::encode_to_vec(info));
        let mut comments = SourceComments::new(&sources);
        serde_json::from_str(&input_schema(&message, &mut comments)).unwrap()
    }

    #[test]
    fn every_kind_of_field_has_its_json_form() {
        let schema = schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let p = &schema["properties"];
        assert_eq!(
            p["path"],
            json!({ "type": "string", "description": "The path to read, relative to the root." })
        );
        assert_eq!(
            p["count"],
            json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX })
        );
        assert_eq!(p["size"]["type"], json!(["integer", "string"]));
        assert_eq!(p["size"]["minimum"], 0);
        assert_eq!(p["offset"]["pattern"], "^-?[0-9]+$");
        assert_eq!(p["ratio"], json!({ "type": "number" }));
        assert_eq!(p["recursive"], json!({ "type": "boolean" }));
        assert_eq!(p["data"]["contentEncoding"], "base64");
        assert_eq!(
            p["mode"],
            json!({ "type": "string", "enum": ["MODE_UNSPECIFIED", "MODE_FAST"] })
        );
        assert_eq!(
            p["inner"],
            json!({
                "type": "object",
                "properties": { "weight": { "type": "number" } },
                "additionalProperties": false,
            })
        );
        assert_eq!(
            p["tags"],
            json!({ "type": "array", "items": { "type": "string" } })
        );
        assert_eq!(p["limits"]["type"], "object");
        assert_eq!(
            p["limits"]["additionalProperties"]["properties"]["weight"]["type"],
            "number"
        );
        assert_eq!(
            p["after"],
            json!({ "type": "string", "format": "date-time" })
        );
        assert_eq!(p["extra"], json!({ "type": "object" }));
        // Recursion stops at the second occurrence.
        assert_eq!(p["next"], json!({ "type": "object" }));
        assert_eq!(p["note"], json!({ "type": "string" }));
        assert_eq!(p["by_name"], json!({ "type": "string" }));
        assert_eq!(p["by_id"]["maximum"], u32::MAX);
        assert_eq!(p.as_object().unwrap().len(), 17);
    }

    #[test]
    fn raw_strings_fence_themselves() {
        assert_eq!(raw_string("{}"), "r#\"{}\"#");
        assert_eq!(raw_string("say \"#1\""), "r##\"say \"#1\"\"##");
        assert_eq!(raw_string("\"##\""), "r###\"\"##\"\"###");
    }
}
