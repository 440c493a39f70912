//! Valid descriptor sets with mcp_auth options, built from structured input: `arbitrary`
//! picks files, messages, fields, services, RPCs of every streaming kind, method and service
//! rules (any scopes, identities, stream relaxations, rate limits, tool / resource / prompt
//! fields), tool, resource and prompt tables and plugin parameters; the model is written as
//! `.proto` text, compiled with protox as protoc would, framed as a `CodeGeneratorRequest` and
//! run through `protoc_gen_mcp_auth::execute`. Generated files or an error response, never a
//! panic, and never both an error and files.
#![no_main]

use std::fmt::Write;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_types::compiler::CodeGeneratorResponse;

/// Identifiers the model names things with: a few real ones, keywords of Rust and of proto.
const NAMES: &[&str] = &[
    "Echo",
    "Tools",
    "Mcp",
    "CallTool",
    "ListTools",
    "name",
    "tool_name",
    "uri",
    "request",
    "arguments",
    "auth_token",
    "Params",
    "type",
    "self",
    "Self",
    "crate",
    "async",
    "r#fn",
    "Option",
    "Result",
    "message",
    "service",
    "stream",
    "super",
    "_x",
    "A1",
    "policy",
];

/// A string literal: one of a few meaningful values or anything at all.
#[derive(Debug, Arbitrary)]
enum Text {
    Name(u8),
    Scope(u8),
    Path(u8),
    Any(String),
}

const SCOPES: &[&str] = &[
    "files:read",
    "files:write",
    "tools:call",
    "a",
    "",
    " ",
    "a b",
    "x\"y",
    "é",
    "files:*",
];
const PATHS: &[&str] = &[
    "name",
    "request.name",
    "tool_name",
    "uri",
    "request",
    "arguments",
    "missing",
    "a..b",
    ".",
    "request.arguments",
    "auth_token",
    "file:///docs/",
    "https://x/",
    "file:///a/../b/",
];

impl Text {
    fn render(&self) -> String {
        let raw = match self {
            Text::Name(i) => NAMES[*i as usize % NAMES.len()].to_owned(),
            Text::Scope(i) => SCOPES[*i as usize % SCOPES.len()].to_owned(),
            Text::Path(i) => PATHS[*i as usize % PATHS.len()].to_owned(),
            Text::Any(s) => s.clone(),
        };
        let mut out = String::from("\"");
        for byte in raw.bytes() {
            if byte.is_ascii_alphanumeric() || b":/._-+*@ ".contains(&byte) {
                out.push(byte as char);
            } else {
                write!(out, "\\x{byte:02x}").unwrap();
            }
        }
        out.push('"');
        out
    }
}

#[derive(Debug, Arbitrary)]
enum FieldType {
    String,
    Int64,
    Bool,
    Bytes,
    Struct,
    Value,
    Message(u8),
    Map,
}

#[derive(Debug, Arbitrary)]
struct Field {
    name: u8,
    ty: FieldType,
    repeated: bool,
    optional: bool,
}

#[derive(Debug, Arbitrary)]
struct Tool {
    name: Text,
    scopes: Vec<Text>,
    description: Option<Text>,
}

#[derive(Debug, Arbitrary)]
struct MessageModel {
    fields: Vec<Field>,
    nested: bool,
    tool: Option<Tool>,
}

#[derive(Debug, Arbitrary)]
struct Rule {
    public: bool,
    scopes: Vec<Text>,
    authenticated: bool,
    identity: Option<u8>,
    unchecked_expiry: bool,
    unchecked_message_scopes: bool,
    unlimited_messages: bool,
    reauth_token_field: Option<Text>,
    rate_limit: Option<(u8, u8, u8, u8)>,
    tool_name_field: Option<Text>,
    allow_undeclared_tools: bool,
    resource_uri_field: Option<Text>,
    allow_undeclared_resources: bool,
    prompt_name_field: Option<Text>,
    allow_undeclared_prompts: bool,
}

impl Rule {
    fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        if self.public {
            w.push_str(" public: true");
        }
        for scope in self.scopes.iter().take(3) {
            write!(w, " scopes: {}", scope.render()).unwrap();
        }
        if self.authenticated {
            w.push_str(" authenticated: true");
        }
        if let Some(identity) = self.identity {
            let names = [
                "IDENTITY_UNSPECIFIED",
                "IDENTITY_JWT",
                "IDENTITY_MTLS",
                "IDENTITY_EITHER",
                "IDENTITY_BOTH",
            ];
            write!(w, " identity: {}", names[identity as usize % names.len()]).unwrap();
        }
        if self.unchecked_expiry
            || self.unchecked_message_scopes
            || self.unlimited_messages
            || self.reauth_token_field.is_some()
        {
            w.push_str(" stream: {");
            if self.unchecked_expiry {
                w.push_str(" unchecked_expiry: true");
            }
            if self.unchecked_message_scopes {
                w.push_str(" unchecked_message_scopes: true");
            }
            if self.unlimited_messages {
                w.push_str(" unlimited_messages: true");
            }
            if let Some(field) = &self.reauth_token_field {
                write!(w, " reauth_token_field: {}", field.render()).unwrap();
            }
            w.push_str(" }");
        }
        if let Some((a, b, c, d)) = self.rate_limit {
            write!(
                w,
                " rate_limit: {{ per_second: {a} burst: {b} messages_per_second: {c} message_burst: {d} }}"
            )
            .unwrap();
        }
        let fields = [
            (
                "tool_name_field",
                &self.tool_name_field,
                self.allow_undeclared_tools,
                "allow_undeclared_tools",
            ),
            (
                "resource_uri_field",
                &self.resource_uri_field,
                self.allow_undeclared_resources,
                "allow_undeclared_resources",
            ),
            (
                "prompt_name_field",
                &self.prompt_name_field,
                self.allow_undeclared_prompts,
                "allow_undeclared_prompts",
            ),
        ];
        for (name, field, allow, allow_name) in fields {
            if let Some(field) = field {
                write!(w, " {name}: {}", field.render()).unwrap();
            }
            if allow {
                write!(w, " {allow_name}: true").unwrap();
            }
        }
        out
    }
}

#[derive(Debug, Arbitrary)]
struct Method {
    name: u8,
    input: u8,
    output: u8,
    client_streaming: bool,
    server_streaming: bool,
    rule: Option<Rule>,
    comment: Option<Text>,
}

#[derive(Debug, Arbitrary)]
struct Service {
    name: u8,
    default: Option<Rule>,
    methods: Vec<Method>,
}

#[derive(Debug, Arbitrary)]
struct Table {
    tools: Vec<Tool>,
    resources: Vec<Tool>,
    prompts: Vec<Tool>,
}

#[derive(Debug, Arbitrary)]
struct Model {
    package: Option<(u8, u8)>,
    messages: Vec<MessageModel>,
    services: Vec<Service>,
    table: Option<Table>,
    parameter: u8,
}

const PARAMETERS: &[&str] = &[
    "",
    "report=markdown",
    "report=json",
    "report=markdown,report=json",
    "extern_path=.google.protobuf=::prost_types",
    "report=yaml",
    "unknown=1",
];

fn tool_entries(w: &mut String, field: &str, key: &str, entries: &[Tool]) {
    for entry in entries.iter().take(4) {
        write!(w, "  {field}: {{ {key}: {}", entry.name.render()).unwrap();
        for scope in entry.scopes.iter().take(3) {
            write!(w, " scopes: {}", scope.render()).unwrap();
        }
        if let Some(description) = &entry.description {
            write!(w, " description: {}", description.render()).unwrap();
        }
        w.push_str(" }\n");
    }
}

impl Model {
    fn source(&self) -> String {
        let mut out = String::from("syntax = \"proto3\";\n\n");
        let w = &mut out;
        match self.package {
            Some((a, b)) => writeln!(w, "package fz.p{}.v{};\n", a % 3, b % 2).unwrap(),
            None => w.push('\n'),
        }
        w.push_str("import \"mcp_auth/v1/auth.proto\";\n");
        w.push_str("import \"google/protobuf/struct.proto\";\n\n");
        if let Some(table) = &self.table {
            if !table.tools.is_empty() {
                w.push_str("option (mcp_auth.v1.tools) = {\n");
                tool_entries(w, "tool", "name", &table.tools);
                w.push_str("};\n");
            }
            if !table.resources.is_empty() {
                w.push_str("option (mcp_auth.v1.resources) = {\n");
                tool_entries(w, "resource", "uri_prefix", &table.resources);
                w.push_str("};\n");
            }
            if !table.prompts.is_empty() {
                w.push_str("option (mcp_auth.v1.prompts) = {\n");
                tool_entries(w, "prompt", "name", &table.prompts);
                w.push_str("};\n");
            }
        }
        let messages = self.messages.len().clamp(1, 6);
        for (index, message) in self.messages.iter().take(6).enumerate() {
            writeln!(w, "message M{index} {{").unwrap();
            if let Some(tool) = &message.tool {
                write!(
                    w,
                    "  option (mcp_auth.v1.tool) = {{ name: {}",
                    tool.name.render()
                )
                .unwrap();
                for scope in tool.scopes.iter().take(3) {
                    write!(w, " scopes: {}", scope.render()).unwrap();
                }
                w.push_str(" };\n");
            }
            if message.nested {
                w.push_str(
                    "  message Params { string name = 1; google.protobuf.Struct arguments = 2; }\n",
                );
                w.push_str("  Params request = 100;\n");
            }
            let mut used = Vec::new();
            for (number, field) in message.fields.iter().take(8).enumerate() {
                let name = NAMES[field.name as usize % NAMES.len()]
                    .trim_start_matches("r#")
                    .to_lowercase();
                if used.contains(&name) {
                    continue;
                }
                used.push(name.clone());
                let ty = match &field.ty {
                    FieldType::String => "string".to_owned(),
                    FieldType::Int64 => "int64".to_owned(),
                    FieldType::Bool => "bool".to_owned(),
                    FieldType::Bytes => "bytes".to_owned(),
                    FieldType::Struct => "google.protobuf.Struct".to_owned(),
                    FieldType::Value => "google.protobuf.Value".to_owned(),
                    FieldType::Message(i) => format!("M{}", *i as usize % messages),
                    FieldType::Map => "map<string, string>".to_owned(),
                };
                let label = if matches!(field.ty, FieldType::Map) {
                    ""
                } else if field.repeated {
                    "repeated "
                } else if field.optional {
                    "optional "
                } else {
                    ""
                };
                writeln!(w, "  {label}{ty} {name} = {};", number + 1).unwrap();
            }
            w.push_str("}\n\n");
        }
        if self.messages.is_empty() {
            w.push_str("message M0 {}\n\n");
        }
        for (index, service) in self.services.iter().take(3).enumerate() {
            let name = NAMES[service.name as usize % NAMES.len()].trim_start_matches("r#");
            writeln!(w, "service {}{index} {{", capitalize(name)).unwrap();
            if let Some(rule) = &service.default {
                writeln!(
                    w,
                    "  option (mcp_auth.v1.service) = {{ default: {{{} }} }};",
                    rule.render()
                )
                .unwrap();
            }
            let mut used = Vec::new();
            for method in service.methods.iter().take(6) {
                let name =
                    capitalize(NAMES[method.name as usize % NAMES.len()].trim_start_matches("r#"));
                if used.contains(&name) {
                    continue;
                }
                used.push(name.clone());
                if let Some(comment) = &method.comment {
                    writeln!(w, "  // {}", comment.render().replace('\n', " ")).unwrap();
                }
                let input = method.input as usize % messages;
                let output = method.output as usize % messages;
                let cs = if method.client_streaming {
                    "stream "
                } else {
                    ""
                };
                let ss = if method.server_streaming {
                    "stream "
                } else {
                    ""
                };
                write!(w, "  rpc {name}({cs}M{input}) returns ({ss}M{output})").unwrap();
                match &method.rule {
                    Some(rule) => writeln!(
                        w,
                        " {{\n    option (mcp_auth.v1.method) = {{{} }};\n  }}",
                        rule.render()
                    )
                    .unwrap(),
                    None => w.push_str(";\n"),
                }
            }
            w.push_str("}\n\n");
        }
        out
    }
}

fn capitalize(name: &str) -> String {
    let name = name.trim_start_matches('_');
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => "X".to_owned(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let source = model.source();
    let parameter = PARAMETERS[model.parameter as usize % PARAMETERS.len()];
    let Some(request) = mcp_auth_fuzz::request_for("fz/model.proto", &source, parameter) else {
        return;
    };
    let response = protoc_gen_mcp_auth::execute(&request).expect("a request protox wrote decodes");
    let response = CodeGeneratorResponse::decode(response.as_slice()).expect("a response");
    assert!(
        response.error.is_none() || response.file.is_empty(),
        "an error and files in one response"
    );
});
