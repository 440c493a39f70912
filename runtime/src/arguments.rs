//! Typed tool arguments: MCP sends a tool's arguments as a `google.protobuf.Struct` (a JSON
//! object); this module turns one into the tool's argument message, following the proto3 JSON
//! mapping, or says which argument is wrong.
//!
//! The generated code describes each argument message as a [`MessageSpec`] (field names,
//! numbers, types, which fields are required) and each service gets a `ToolCall` enum whose
//! `decode` calls [`decode`]; handlers match on it and receive typed arguments. The conversion
//! writes the protobuf wire form of the message from the `Struct` and decodes it with prost,
//! so the result is exactly what a protobuf client sending the same message would produce.
//!
//! What is accepted, as in the proto3 JSON mapping:
//!
//! - fields by their proto name (`file_path`) or their JSON name (`filePath`), once;
//! - integers as JSON numbers without a fraction, or as decimal strings (64-bit values beyond
//!   2^53 only as strings: a `Struct` holds numbers as `f64`), within the field type's range;
//! - `float`/`double` as numbers or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
//! - `bytes` as base64 (standard or URL-safe, padding optional);
//! - enums by value name, or by number when the number is a declared value;
//! - `null` as "not set" (for `google.protobuf.Value`, a JSON null);
//! - repeated fields as lists, maps as objects (keys as strings, `"true"`/`"false"` for bool
//!   keys, decimal for integer keys);
//! - the well-known types by their JSON forms: `Timestamp` (RFC 3339), `Duration` (`"1.5s"`),
//!   `FieldMask` (`"a.b,cD"`), the wrappers as their value, `Struct`, `Value`, `ListValue`,
//!   `Empty` (`{}`). `Any` is refused: it cannot be checked against a declared type.
//!
//! Refused, each with the path of the argument (`options.tags[2]`): a field the message does not
//! have, a value of the wrong JSON type or out of range, an unknown enum name, a required field
//! (marked `(mcp_auth.v1.argument).required` or `(google.api.field_behavior) = REQUIRED`)
//! missing, two fields of one `oneof` set, a field given by both of its names. Values are never
//! echoed back in messages, only their JSON type.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::value::Kind as ValueKind;
use prost_types::{Struct, Value};

/// How deep argument messages may nest inside each other (prost decodes to depth 100).
const MAX_DEPTH: usize = 64;

/// An argument message: its fields, for the conversion from a `Struct`.
#[derive(Debug)]
pub struct MessageSpec {
    /// The fully qualified proto name, e.g. `files.v1.ReadFileArgs`.
    pub name: &'static str,
    /// Its fields, in declaration order.
    pub fields: &'static [FieldSpec],
}

/// One field of an argument message.
#[derive(Debug)]
pub struct FieldSpec {
    /// The proto field name, e.g. `file_path`.
    pub name: &'static str,
    /// The proto3 JSON name, e.g. `filePath`.
    pub json_name: &'static str,
    /// The field number.
    pub number: u32,
    /// Singular, repeated, or a map.
    pub label: Label,
    /// The type of the field (of its values, for a map).
    pub kind: FieldKind,
    /// Whether the arguments must set it.
    pub required: bool,
    /// The `oneof` it belongs to: at most one field of a `oneof` may be set.
    pub oneof: Option<&'static str>,
}

/// Whether a field holds one value, a list, or a map.
#[derive(Debug, Clone, Copy)]
pub enum Label {
    /// One value (proto3 `optional` included: the conversion sets what the arguments give).
    Singular,
    /// `repeated`: a JSON list.
    Repeated,
    /// `map<K, V>`: a JSON object; the key type is given here, the value type is the field's kind.
    Map(FieldKind),
}

/// The type of a field.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// `double`
    Double,
    /// `float`
    Float,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `uint32`
    Uint32,
    /// `uint64`
    Uint64,
    /// `sint32`
    Sint32,
    /// `sint64`
    Sint64,
    /// `fixed32`
    Fixed32,
    /// `fixed64`
    Fixed64,
    /// `sfixed32`
    Sfixed32,
    /// `sfixed64`
    Sfixed64,
    /// `bool`
    Bool,
    /// `string`
    String,
    /// `bytes`
    Bytes,
    /// An enum.
    Enum(&'static EnumSpec),
    /// A message of the user's.
    Message(&'static MessageSpec),
    /// A well-known type with a JSON form of its own.
    WellKnown(WellKnown),
}

/// An enum: its values by name.
#[derive(Debug)]
pub struct EnumSpec {
    /// The fully qualified proto name.
    pub name: &'static str,
    /// Its values: name and number.
    pub values: &'static [(&'static str, i32)],
}

/// The `google.protobuf` types whose JSON form is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnown {
    /// `google.protobuf.Timestamp`: an RFC 3339 string.
    Timestamp,
    /// `google.protobuf.Duration`: seconds with an `s` suffix, e.g. `"1.5s"`.
    Duration,
    /// `google.protobuf.FieldMask`: comma-separated lowerCamel paths.
    FieldMask,
    /// `google.protobuf.Struct`: any JSON object.
    Struct,
    /// `google.protobuf.Value`: any JSON value.
    Value,
    /// `google.protobuf.ListValue`: any JSON list.
    ListValue,
    /// `google.protobuf.Empty`: `{}`.
    Empty,
    /// `google.protobuf.Any`: refused (its type cannot be checked against a declaration).
    Any,
    /// `google.protobuf.DoubleValue`
    DoubleValue,
    /// `google.protobuf.FloatValue`
    FloatValue,
    /// `google.protobuf.Int64Value`
    Int64Value,
    /// `google.protobuf.UInt64Value`
    UInt64Value,
    /// `google.protobuf.Int32Value`
    Int32Value,
    /// `google.protobuf.UInt32Value`
    UInt32Value,
    /// `google.protobuf.BoolValue`
    BoolValue,
    /// `google.protobuf.StringValue`
    StringValue,
    /// `google.protobuf.BytesValue`
    BytesValue,
}

impl WellKnown {
    /// The well-known type of a fully qualified proto name, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.strip_prefix("google.protobuf.")? {
            "Timestamp" => Self::Timestamp,
            "Duration" => Self::Duration,
            "FieldMask" => Self::FieldMask,
            "Struct" => Self::Struct,
            "Value" => Self::Value,
            "ListValue" => Self::ListValue,
            "Empty" => Self::Empty,
            "Any" => Self::Any,
            "DoubleValue" => Self::DoubleValue,
            "FloatValue" => Self::FloatValue,
            "Int64Value" => Self::Int64Value,
            "UInt64Value" => Self::UInt64Value,
            "Int32Value" => Self::Int32Value,
            "UInt32Value" => Self::UInt32Value,
            "BoolValue" => Self::BoolValue,
            "StringValue" => Self::StringValue,
            "BytesValue" => Self::BytesValue,
            _ => return None,
        })
    }

    /// The scalar a wrapper type wraps.
    fn wrapped(self) -> Option<FieldKind> {
        Some(match self {
            Self::DoubleValue => FieldKind::Double,
            Self::FloatValue => FieldKind::Float,
            Self::Int64Value => FieldKind::Int64,
            Self::UInt64Value => FieldKind::Uint64,
            Self::Int32Value => FieldKind::Int32,
            Self::UInt32Value => FieldKind::Uint32,
            Self::BoolValue => FieldKind::Bool,
            Self::StringValue => FieldKind::String,
            Self::BytesValue => FieldKind::Bytes,
            _ => return None,
        })
    }
}

/// Why a tool's arguments do not convert to its argument message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    /// The argument at fault, as a path from the top (`options.tags[2]`, `labels["k"]`); empty
    /// for the arguments as a whole.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "argument `{}`: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for ArgumentError {}

impl ArgumentError {
    /// The status a handler returns for it: INVALID_ARGUMENT naming `tool` and the argument.
    pub fn into_status(self, tool: &str) -> tonic::Status {
        tonic::Status::invalid_argument(format!("invalid arguments for tool `{tool}`: {self}"))
    }
}

/// Converts a tool's `Struct` arguments (absent: no arguments) into its argument message `M`,
/// described by `spec`.
///
/// `spec` must describe `M` (the generated code pairs them); a spec that does not would produce
/// a message prost refuses, reported as an error here rather than a wrong value.
pub fn decode<M: Message + Default>(
    spec: &'static MessageSpec,
    arguments: Option<&Struct>,
) -> Result<M, ArgumentError> {
    let empty = BTreeMap::new();
    let fields = arguments.map_or(&empty, |s| &s.fields);
    let mut out = Vec::new();
    let mut path = Path::default();
    encode_message(spec, fields, &mut path, &mut out, 0)?;
    M::decode(out.as_slice()).map_err(|error| ArgumentError {
        path: String::new(),
        problem: format!(
            "the arguments do not form a valid `{}` ({error}); the generated description does \
             not match the Rust type",
            spec.name
        ),
    })
}

/// A JSON object as the `google.protobuf.Struct` MCP clients send tool arguments in (numbers
/// become doubles, as `Struct` holds them); `None` for any other JSON value. For clients that
/// build a call's arguments, and for tests.
pub fn struct_from_json(json: serde_json::Value) -> Option<Struct> {
    match json {
        serde_json::Value::Object(map) => Some(Struct {
            fields: map
                .into_iter()
                .map(|(key, value)| (key, value_from_json(value)))
                .collect(),
        }),
        _ => None,
    }
}

/// A JSON value as a `google.protobuf.Value`.
pub fn value_from_json(json: serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => ValueKind::NullValue(0),
        serde_json::Value::Bool(b) => ValueKind::BoolValue(b),
        serde_json::Value::Number(n) => ValueKind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => ValueKind::StringValue(s),
        serde_json::Value::Array(items) => ValueKind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(value_from_json).collect(),
        }),
        object @ serde_json::Value::Object(_) => {
            ValueKind::StructValue(struct_from_json(object).unwrap_or_default())
        }
    };
    Value { kind: Some(kind) }
}

/// The path to the argument being converted, built as the walk descends.
#[derive(Default)]
struct Path {
    parts: Vec<String>,
}

impl Path {
    fn error(&self, problem: impl Into<String>) -> ArgumentError {
        ArgumentError {
            path: self.parts.concat(),
            problem: problem.into(),
        }
    }

    fn with<T>(&mut self, part: String, f: impl FnOnce(&mut Self) -> T) -> T {
        self.parts.push(part);
        let result = f(self);
        self.parts.pop();
        result
    }

    fn field(&self, name: &str) -> String {
        if self.parts.is_empty() {
            name.to_owned()
        } else {
            format!(".{name}")
        }
    }
}

/// The JSON type of a value, for messages (never the value itself).
fn json_type(value: &Value) -> &'static str {
    match &value.kind {
        None | Some(ValueKind::NullValue(_)) => "null",
        Some(ValueKind::NumberValue(_)) => "a number",
        Some(ValueKind::StringValue(_)) => "a string",
        Some(ValueKind::BoolValue(_)) => "a boolean",
        Some(ValueKind::StructValue(_)) => "an object",
        Some(ValueKind::ListValue(_)) => "a list",
    }
}

fn is_null(value: &Value) -> bool {
    matches!(value.kind, None | Some(ValueKind::NullValue(_)))
}

fn encode_message(
    spec: &'static MessageSpec,
    fields: &BTreeMap<String, Value>,
    path: &mut Path,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ArgumentError> {
    if depth > MAX_DEPTH {
        return Err(path.error(format!(
            "the arguments nest deeper than {MAX_DEPTH} messages"
        )));
    }
    // Field index -> the key it was given under, to refuse both names and two oneof members.
    let mut given: Vec<Option<&str>> = vec![None; spec.fields.len()];
    for (key, value) in fields {
        let Some(index) = spec
            .fields
            .iter()
            .position(|f| f.name == key || f.json_name == key)
        else {
            let part = path.field(key);
            return Err(path.with(part, |p| {
                p.error(format!("`{}` has no field `{key}`", short(spec.name)))
            }));
        };
        let field = &spec.fields[index];
        let part = path.field(field.name);
        if let Some(first) = given[index] {
            return Err(path.with(part, |p| {
                p.error(format!("given twice, as `{first}` and as `{key}`"))
            }));
        }
        if is_null(value) && !matches!(field.kind, FieldKind::WellKnown(WellKnown::Value)) {
            continue;
        }
        if let Some(oneof) = field.oneof
            && let Some(other) = spec
                .fields
                .iter()
                .zip(&given)
                .find(|(f, g)| f.oneof == Some(oneof) && g.is_some())
        {
            return Err(path.with(part, |p| {
                p.error(format!(
                    "`{}` is set too, and both are in oneof `{oneof}`; set one",
                    other.0.name
                ))
            }));
        }
        given[index] = Some(key);
        path.with(part, |p| encode_field(field, value, p, out, depth))?;
    }
    for (field, given) in spec.fields.iter().zip(&given) {
        if field.required && given.is_none() {
            let part = path.field(field.name);
            return Err(path.with(part, |p| p.error("required, but not given")));
        }
    }
    Ok(())
}

/// The last component of a fully qualified name.
fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn encode_field(
    field: &FieldSpec,
    value: &Value,
    path: &mut Path,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ArgumentError> {
    match field.label {
        Label::Singular => encode_value(field.number, field.kind, value, path, out, depth),
        Label::Repeated => {
            let Some(ValueKind::ListValue(list)) = &value.kind else {
                return Err(path.error(format!("expected a list, got {}", json_type(value))));
            };
            for (i, item) in list.values.iter().enumerate() {
                path.with(format!("[{i}]"), |p| {
                    if is_null(item)
                        && !matches!(field.kind, FieldKind::WellKnown(WellKnown::Value))
                    {
                        return Err(p.error("null is not allowed in a list"));
                    }
                    encode_value(field.number, field.kind, item, p, out, depth)
                })?;
            }
            Ok(())
        }
        Label::Map(key_kind) => {
            let Some(ValueKind::StructValue(map)) = &value.kind else {
                return Err(path.error(format!("expected an object, got {}", json_type(value))));
            };
            for (key, item) in &map.fields {
                path.with(format!("[{key:?}]"), |p| {
                    if is_null(item)
                        && !matches!(field.kind, FieldKind::WellKnown(WellKnown::Value))
                    {
                        return Err(p.error("null is not allowed as a map value"));
                    }
                    let mut entry = Vec::new();
                    encode_map_key(key_kind, key, p, &mut entry)?;
                    encode_value(2, field.kind, item, p, &mut entry, depth)?;
                    length_delimited(field.number, &entry, out);
                    Ok(())
                })?;
            }
            Ok(())
        }
    }
}

fn encode_map_key(
    kind: FieldKind,
    key: &str,
    path: &mut Path,
    out: &mut Vec<u8>,
) -> Result<(), ArgumentError> {
    let value = match kind {
        FieldKind::String => Value {
            kind: Some(ValueKind::StringValue(key.to_owned())),
        },
        FieldKind::Bool => match key {
            "true" => Value {
                kind: Some(ValueKind::BoolValue(true)),
            },
            "false" => Value {
                kind: Some(ValueKind::BoolValue(false)),
            },
            _ => return Err(path.error("a bool map key must be \"true\" or \"false\"")),
        },
        _ => Value {
            kind: Some(ValueKind::StringValue(key.to_owned())),
        },
    };
    encode_value(1, kind, &value, path, out, 0).map_err(|e| ArgumentError {
        problem: format!("map key: {}", e.problem),
        ..e
    })
}

fn length_delimited(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn varint(number: u32, value: u64, out: &mut Vec<u8>) {
    encode_key(number, WireType::Varint, out);
    encode_varint(value, out);
}

fn encode_value(
    number: u32,
    kind: FieldKind,
    value: &Value,
    path: &mut Path,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ArgumentError> {
    match kind {
        FieldKind::Double => {
            let v = float(value, path)?;
            encode_key(number, WireType::SixtyFourBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldKind::Float => {
            let v = float(value, path)?;
            if v.is_finite() && (v as f32).is_infinite() {
                return Err(path.error("out of range for a `float`"));
            }
            encode_key(number, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&(v as f32).to_le_bytes());
        }
        FieldKind::Int32 => {
            let v = integer(value, path, i32::MIN.into(), i32::MAX.into(), "an `int32`")?;
            varint(number, v as i64 as u64, out);
        }
        FieldKind::Int64 => {
            let v = integer(value, path, i64::MIN.into(), i64::MAX.into(), "an `int64`")?;
            varint(number, v as i64 as u64, out);
        }
        FieldKind::Uint32 => {
            let v = integer(value, path, 0, u32::MAX.into(), "a `uint32`")?;
            varint(number, v as u64, out);
        }
        FieldKind::Uint64 => {
            let v = integer(value, path, 0, u64::MAX.into(), "a `uint64`")?;
            varint(number, v as u64, out);
        }
        FieldKind::Sint32 => {
            let v = integer(value, path, i32::MIN.into(), i32::MAX.into(), "an `sint32`")? as i32;
            varint(number, ((v << 1) ^ (v >> 31)) as u32 as u64, out);
        }
        FieldKind::Sint64 => {
            let v = integer(value, path, i64::MIN.into(), i64::MAX.into(), "an `sint64`")? as i64;
            varint(number, ((v << 1) ^ (v >> 63)) as u64, out);
        }
        FieldKind::Fixed32 => {
            let v = integer(value, path, 0, u32::MAX.into(), "a `fixed32`")? as u32;
            encode_key(number, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldKind::Sfixed32 => {
            let v = integer(
                value,
                path,
                i32::MIN.into(),
                i32::MAX.into(),
                "an `sfixed32`",
            )? as i32;
            encode_key(number, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldKind::Fixed64 => {
            let v = integer(value, path, 0, u64::MAX.into(), "a `fixed64`")? as u64;
            encode_key(number, WireType::SixtyFourBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldKind::Sfixed64 => {
            let v = integer(
                value,
                path,
                i64::MIN.into(),
                i64::MAX.into(),
                "an `sfixed64`",
            )? as i64;
            encode_key(number, WireType::SixtyFourBit, out);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldKind::Bool => {
            let Some(ValueKind::BoolValue(v)) = value.kind else {
                return Err(path.error(format!("expected a boolean, got {}", json_type(value))));
            };
            varint(number, u64::from(v), out);
        }
        FieldKind::String => {
            let s = string(value, path)?;
            length_delimited(number, s.as_bytes(), out);
        }
        FieldKind::Bytes => {
            let s = string(value, path)?;
            let bytes = decode_base64(s).ok_or_else(|| path.error("not valid base64"))?;
            length_delimited(number, &bytes, out);
        }
        FieldKind::Enum(spec) => {
            let v = enum_value(spec, value, path)?;
            varint(number, v as i64 as u64, out);
        }
        FieldKind::Message(spec) => {
            let Some(ValueKind::StructValue(object)) = &value.kind else {
                return Err(path.error(format!("expected an object, got {}", json_type(value))));
            };
            let mut inner = Vec::new();
            encode_message(spec, &object.fields, path, &mut inner, depth + 1)?;
            length_delimited(number, &inner, out);
        }
        FieldKind::WellKnown(wkt) => {
            let inner = well_known(wkt, value, path)?;
            length_delimited(number, &inner, out);
        }
    }
    Ok(())
}

fn string<'v>(value: &'v Value, path: &Path) -> Result<&'v str, ArgumentError> {
    match &value.kind {
        Some(ValueKind::StringValue(s)) => Ok(s),
        _ => Err(path.error(format!("expected a string, got {}", json_type(value)))),
    }
}

fn float(value: &Value, path: &Path) -> Result<f64, ArgumentError> {
    match &value.kind {
        Some(ValueKind::NumberValue(n)) => Ok(*n),
        Some(ValueKind::StringValue(s)) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && !s.starts_with('+') && !s.trim().is_empty())
                .filter(|_| s.trim() == s)
                .ok_or_else(|| {
                    path.error("expected a number, or a string holding one, `NaN` or `Infinity`")
                }),
        },
        _ => Err(path.error(format!("expected a number, got {}", json_type(value)))),
    }
}

/// An integer within `min..=max`, from a JSON number without a fraction or a decimal string.
fn integer(
    value: &Value,
    path: &Path,
    min: i128,
    max: i128,
    what: &str,
) -> Result<i128, ArgumentError> {
    let v = match &value.kind {
        Some(ValueKind::NumberValue(n)) => {
            if !n.is_finite() || n.fract() != 0.0 {
                return Err(path.error(format!("expected {what}, got a number with a fraction")));
            }
            // Exact for every integral f64 up to 2^127; larger ones are out of range anyway.
            if n.abs() >= 1.7e38 {
                return Err(path.error(format!("out of range for {what}")));
            }
            *n as i128
        }
        Some(ValueKind::StringValue(s)) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(path.error(format!("expected {what} as a decimal string")));
            }
            s.parse::<i128>()
                .map_err(|_| path.error(format!("expected {what} as a decimal string")))?
        }
        _ => {
            return Err(path.error(format!("expected {what}, got {}", json_type(value))));
        }
    };
    if v < min || v > max {
        return Err(path.error(format!("out of range for {what}")));
    }
    Ok(v)
}

fn enum_value(spec: &EnumSpec, value: &Value, path: &Path) -> Result<i32, ArgumentError> {
    match &value.kind {
        Some(ValueKind::StringValue(s)) => spec
            .values
            .iter()
            .find(|(name, _)| name == s)
            .map(|(_, number)| *number)
            .ok_or_else(|| {
                path.error(format!(
                    "not a value of enum `{}`; expected one of {}",
                    short(spec.name),
                    spec.values
                        .iter()
                        .map(|(name, _)| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        Some(ValueKind::NumberValue(_)) => {
            let n = integer(
                value,
                path,
                i32::MIN.into(),
                i32::MAX.into(),
                "an enum number",
            )? as i32;
            if spec.values.iter().any(|(_, number)| *number == n) {
                Ok(n)
            } else {
                Err(path.error(format!("{n} is not a value of enum `{}`", short(spec.name))))
            }
        }
        _ => Err(path.error(format!(
            "expected a value name of enum `{}`, got {}",
            short(spec.name),
            json_type(value)
        ))),
    }
}

/// Base64 as the proto3 JSON mapping accepts it: standard or URL-safe, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const INDIFFERENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, INDIFFERENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, INDIFFERENT);
    if text.contains(['-', '_']) {
        URL_SAFE.decode(text).ok()
    } else {
        STANDARD.decode(text).ok()
    }
}

/// The encoded message of a well-known type from its JSON form.
fn well_known(wkt: WellKnown, value: &Value, path: &mut Path) -> Result<Vec<u8>, ArgumentError> {
    let mut out = Vec::new();
    if let Some(scalar) = wkt.wrapped() {
        encode_value(1, scalar, value, path, &mut out, 0)?;
        return Ok(out);
    }
    match wkt {
        WellKnown::Timestamp => {
            let text = string(value, path)?;
            let (seconds, nanos) = timestamp(text).ok_or_else(|| {
                path.error("expected an RFC 3339 timestamp such as \"2026-01-02T03:04:05Z\"")
            })?;
            varint(1, seconds as u64, &mut out);
            varint(2, nanos as i64 as u64, &mut out);
        }
        WellKnown::Duration => {
            let text = string(value, path)?;
            let (seconds, nanos) = duration(text).ok_or_else(|| {
                path.error("expected a duration in seconds with an `s` suffix, such as \"1.5s\"")
            })?;
            varint(1, seconds as u64, &mut out);
            varint(2, nanos as i64 as u64, &mut out);
        }
        WellKnown::FieldMask => {
            let text = string(value, path)?;
            for part in text.split(',').filter(|p| !p.is_empty()) {
                let snake = field_mask_path(part)
                    .ok_or_else(|| path.error("expected comma-separated lowerCamel field paths"))?;
                length_delimited(1, snake.as_bytes(), &mut out);
            }
        }
        WellKnown::Struct => match &value.kind {
            Some(ValueKind::StructValue(s)) => s.encode(&mut out).expect("a Vec grows"),
            _ => return Err(path.error(format!("expected an object, got {}", json_type(value)))),
        },
        WellKnown::ListValue => match &value.kind {
            Some(ValueKind::ListValue(l)) => l.encode(&mut out).expect("a Vec grows"),
            _ => return Err(path.error(format!("expected a list, got {}", json_type(value)))),
        },
        WellKnown::Value => {
            let value = match &value.kind {
                None => Value {
                    kind: Some(ValueKind::NullValue(0)),
                },
                Some(_) => value.clone(),
            };
            value.encode(&mut out).expect("a Vec grows");
        }
        WellKnown::Empty => match &value.kind {
            Some(ValueKind::StructValue(s)) if s.fields.is_empty() => {}
            _ => return Err(path.error(format!("expected `{{}}`, got {}", json_type(value)))),
        },
        WellKnown::Any => {
            return Err(path.error(
                "`google.protobuf.Any` arguments are not accepted: their type cannot be checked",
            ));
        }
        _ => unreachable!("wrappers are handled above"),
    }
    Ok(out)
}

/// `Timestamp` seconds and nanos of an RFC 3339 text, years 0001 to 9999.
fn timestamp(text: &str) -> Option<(i64, i32)> {
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    if !(1..=9999).contains(&utc.year()) {
        return None;
    }
    Some((utc.unix_timestamp(), utc.nanosecond() as i32))
}

/// `Duration` seconds and nanos of `"-1.000340012s"`, within ±315,576,000,000 s.
fn duration(text: &str) -> Option<(i64, i32)> {
    let body = text.strip_suffix('s')?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    if seconds > 315_576_000_000 {
        return None;
    }
    let nanos: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(if negative {
        (-seconds, -nanos)
    } else {
        (seconds, nanos)
    })
}

/// `fooBar.baz` -> `foo_bar.baz`; `None` for a path with an underscore or nothing between dots.
fn field_mask_path(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len() + 4);
    for segment in path.split('.') {
        if segment.is_empty()
            || segment.contains('_')
            || !segment.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return None;
        }
        if !out.is_empty() {
            out.push('.');
        }
        for c in segment.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1.5s"), Some((1, 500_000_000)));
        assert_eq!(duration("-0.000000001s"), Some((0, -1)));
        assert_eq!(duration("3s"), Some((3, 0)));
        for bad in [
            "1.5",
            "s",
            ".5s",
            "1.s",
            "1.0000000001s",
            "+1s",
            "1e3s",
            "315576000001s",
        ] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("1970-01-01T00:00:01.5Z"), Some((1, 500_000_000)));
        assert_eq!(timestamp("1970-01-01T01:00:00+01:00"), Some((0, 0)));
        assert_eq!(
            timestamp("1969-12-31T23:59:59.25Z"),
            Some((-1, 250_000_000))
        );
        assert_eq!(timestamp("1970-01-01"), None);
        assert_eq!(timestamp("1970-01-01T00:00:00"), None);
    }

    #[test]
    fn field_masks() {
        assert_eq!(
            field_mask_path("fooBar.baz").as_deref(),
            Some("foo_bar.baz")
        );
        assert_eq!(field_mask_path("foo_bar"), None);
        assert_eq!(field_mask_path("a..b"), None);
    }

    #[test]
    fn base64_both_alphabets_with_or_without_padding() {
        assert_eq!(decode_base64("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(decode_base64("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(decode_base64("*"), None);
    }
}
