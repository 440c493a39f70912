//! `google.protobuf.Struct` to and from JSON, the form MCP tool arguments and results take.

use prost_types::value::Kind;
use prost_types::{Struct, Value};
use serde_json::{Number, Value as Json};

/// A JSON object as a `Struct`. Anything but an object is an error.
pub fn to_struct(json: Json) -> Result<Struct, String> {
    if !json.is_object() {
        return Err(format!("expected a JSON object, got {json}"));
    }
    Ok(mcp_auth::arguments::struct_from_json(json).unwrap_or_default())
}

/// A JSON value as a protobuf `Value` (numbers become doubles, as in protobuf's JSON mapping).
pub fn to_value(json: Json) -> Value {
    mcp_auth::arguments::value_from_json(json)
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
