//! `google.protobuf.Struct` to and from JSON, the form MCP tool arguments and results take.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// A JSON object as a `Struct`. Anything but an object is an error.
pub fn to_struct(json: Json) -> Result<Struct, String> {
    match json {
        Json::Object(map) => Ok(object_to_struct(map)),
        other => Err(format!("expected a JSON object, got {other}")),
    }
}

fn object_to_struct(map: Map<String, Json>) -> Struct {
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

/// A JSON value as a protobuf `Value` (numbers become doubles, as in protobuf's JSON mapping).
pub fn to_value(json: Json) -> Value {
    let kind = match json {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(object_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// A `Struct` as a JSON object.
pub fn from_struct(value: &Struct) -> Json {
    Json::Object(
        value
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), from_value(v)))
            .collect(),
    )
}

/// A protobuf `Value` as JSON; whole numbers print without a fraction.
pub fn from_value(value: &Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Json::Number(Number::from(*n as i64))
            } else {
                Number::from_f64(*n).map_or(Json::Null, Json::Number)
            }
        }
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let json = serde_json::json!({
            "path": "a/b.txt", "n": 3, "x": 1.5, "ok": true, "none": null,
            "list": [1, "two", {"three": 3}],
        });
        assert_eq!(from_struct(&to_struct(json.clone()).unwrap()), json);
        assert!(to_struct(serde_json::json!([1])).is_err());
    }
}
