//! The argument messages of a package's tools, field by field, for the `arguments { .. }` block
//! of `service!`: what the runtime needs to turn a tool's `Struct` arguments into its message.

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value};

use crate::model::argument_rule;

/// One message or enum of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgumentType {
    Message {
        full_name: String,
        fields: Vec<ArgumentField>,
    },
    Enum {
        full_name: String,
        values: Vec<(String, i32)>,
    },
}

/// One field, as the block writes it: `name: TYPE = NUMBER [required] [oneof o] [json "x"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgumentField {
    pub(crate) name: String,
    /// `string`, `repeated int64`, `map<string, enum a.E>`, `message a.M`.
    pub(crate) ty: String,
    pub(crate) number: u32,
    pub(crate) required: bool,
    /// The real (not proto3-`optional`) oneof it belongs to.
    pub(crate) oneof: Option<String>,
    /// Its JSON name when it is not protoc's default for its name.
    pub(crate) json_name: Option<String>,
}

/// `google.api.field_behavior`, honoured when the request carries it.
const FIELD_BEHAVIOR_EXTENSION: &str = "google.api.field_behavior";
/// `google.api.FieldBehavior.REQUIRED`.
const FIELD_BEHAVIOR_REQUIRED: i32 = 2;

/// The roots and every message they reach, but the well-known types, each once.
pub(crate) fn reachable(roots: &[MessageDescriptor]) -> Vec<MessageDescriptor> {
    let mut messages: Vec<MessageDescriptor> = Vec::new();
    let mut todo: Vec<MessageDescriptor> = roots.to_vec();
    while let Some(message) = todo.pop() {
        if is_well_known(message.full_name())
            || messages
                .iter()
                .any(|m| m.full_name() == message.full_name())
        {
            continue;
        }
        for kind in field_kinds(&message) {
            if let Kind::Message(m) = kind {
                todo.push(m);
            }
        }
        messages.push(message);
    }
    messages
}

/// The kinds of the fields of `message`, a map's value kind for a map.
fn field_kinds(message: &MessageDescriptor) -> impl Iterator<Item = Kind> + '_ {
    message.fields().filter_map(|field| {
        if !field.is_map() {
            return Some(field.kind());
        }
        let Kind::Message(entry) = field.kind() else {
            return None;
        };
        Some(entry.map_entry_value_field().kind())
    })
}

/// `messages` (as [`reachable`] gives them) and the enums their fields name, sorted by name.
pub(crate) fn closure(messages: &[MessageDescriptor]) -> Vec<ArgumentType> {
    let mut enums: Vec<EnumDescriptor> = Vec::new();
    for message in messages {
        for kind in field_kinds(message) {
            if let Kind::Enum(e) = kind
                && !enums.iter().any(|x| x.full_name() == e.full_name())
            {
                enums.push(e);
            }
        }
    }
    let mut out: Vec<ArgumentType> = messages
        .iter()
        .map(|message| ArgumentType::Message {
            full_name: message.full_name().to_owned(),
            fields: message
                .fields()
                .map(|field| ArgumentField {
                    name: field.name().to_owned(),
                    ty: field_type(&field),
                    number: field.number(),
                    required: is_required(&field),
                    oneof: field
                        .containing_oneof()
                        .filter(|o| !o.is_synthetic())
                        .map(|o| o.name().to_owned()),
                    json_name: (field.json_name() != mcp_auth_names::json_name(field.name()))
                        .then(|| field.json_name().to_owned()),
                })
                .collect(),
        })
        .chain(enums.iter().map(|e| {
            ArgumentType::Enum {
                full_name: e.full_name().to_owned(),
                values: e
                    .values()
                    .map(|v| (v.name().to_owned(), v.number()))
                    .collect(),
            }
        }))
        .collect();
    out.sort_by(|a, b| name(a).cmp(name(b)));
    out
}

fn name(item: &ArgumentType) -> &str {
    match item {
        ArgumentType::Message { full_name, .. } | ArgumentType::Enum { full_name, .. } => full_name,
    }
}

fn is_well_known(full_name: &str) -> bool {
    full_name.starts_with("google.protobuf.")
}

fn kind_text(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".to_owned(),
        Kind::Float => "float".to_owned(),
        Kind::Int32 => "int32".to_owned(),
        Kind::Int64 => "int64".to_owned(),
        Kind::Uint32 => "uint32".to_owned(),
        Kind::Uint64 => "uint64".to_owned(),
        Kind::Sint32 => "sint32".to_owned(),
        Kind::Sint64 => "sint64".to_owned(),
        Kind::Fixed32 => "fixed32".to_owned(),
        Kind::Fixed64 => "fixed64".to_owned(),
        Kind::Sfixed32 => "sfixed32".to_owned(),
        Kind::Sfixed64 => "sfixed64".to_owned(),
        Kind::Bool => "bool".to_owned(),
        Kind::String => "string".to_owned(),
        Kind::Bytes => "bytes".to_owned(),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
        Kind::Message(m) => format!("message {}", m.full_name()),
    }
}

fn field_type(field: &FieldDescriptor) -> String {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        return format!(
            "map<{}, {}>",
            kind_text(&entry.map_entry_key_field().kind()),
            kind_text(&entry.map_entry_value_field().kind())
        );
    }
    if field.is_list() {
        format!("repeated {}", kind_text(&field.kind()))
    } else {
        kind_text(&field.kind())
    }
}

/// Whether the arguments must set `field`: `(mcp_auth.v1.argument).required`, a proto2
/// `required` label, or `(google.api.field_behavior) = REQUIRED`.
pub(crate) fn is_required(field: &FieldDescriptor) -> bool {
    if field.cardinality() == Cardinality::Required {
        return true;
    }
    // A rule that sets what this version does not enforce is an error of the run
    // (`model::check_argument_rules`), so no code is generated from the answer given for it.
    if let Ok(Some(rule)) = argument_rule(field)
        && rule.required
    {
        return true;
    }
    let behavior = field
        .parent_pool()
        .get_extension_by_name(FIELD_BEHAVIOR_EXTENSION);
    let options = field.options();
    if let Some(behavior) = &behavior
        && options.has_extension(behavior)
        && let Value::List(values) = &*options.get_extension(behavior)
    {
        return values
            .iter()
            .any(|v| v.as_enum_number() == Some(FIELD_BEHAVIOR_REQUIRED));
    }
    false
}
