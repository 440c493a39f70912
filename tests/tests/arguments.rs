//! Typed tool arguments: the generated `ToolCall::decode` turns a tool's `Struct` arguments into
//! its argument message by the proto3 JSON mapping, for every scalar type, enums, nested,
//! recursive and repeated fields, maps, oneofs and the well-known types, and refuses each kind of
//! bad argument with INVALID_ARGUMENT naming it (`fixtures/arguments.proto`).

use std::collections::{BTreeMap, HashMap};

use mcp_auth_tests::fixtures::arguments::{self as args, arguments_auth::ToolCall};
use mcp_auth_tests::support::to_struct;
use serde_json::{Value, json};
use tonic::Code;

fn kitchen(arguments: Value) -> Result<args::Kitchen, tonic::Status> {
    match ToolCall::decode("kitchen", Some(to_struct(arguments)))? {
        ToolCall::Kitchen(kitchen) => Ok(kitchen),
        other => panic!("decoded as {}", other.name()),
    }
}

/// The message `kitchen` refuses `arguments` with.
fn refused(arguments: Value) -> String {
    let status = kitchen(arguments).expect_err("the arguments were accepted");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .message()
        .strip_prefix("invalid arguments for tool `kitchen`: ")
        .unwrap_or_else(|| panic!("message names no tool: {}", status.message()))
        .to_owned()
}

fn text(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue(s.into())),
    }
}

#[test]
fn every_scalar_type_decodes() {
    let decoded = kitchen(json!({
        "f_double": 1.5,
        "f_float": -2.25,
        "f_int32": -2147483648i64,
        "f_int64": "-9223372036854775808",
        "f_uint32": 4294967295u32,
        "f_uint64": "18446744073709551615",
        "f_sint32": -7,
        "f_sint64": "-70000000000",
        "f_fixed32": 7,
        "f_fixed64": "9007199254740993",
        "f_sfixed32": -8,
        "f_sfixed64": -9,
        "f_bool": true,
        "f_string": "héllo",
        "f_bytes": "AP8=",
        "maybe": 0,
    }))
    .unwrap();
    let expected = args::Kitchen {
        f_double: 1.5,
        f_float: -2.25,
        f_int32: i32::MIN,
        f_int64: i64::MIN,
        f_uint32: u32::MAX,
        f_uint64: u64::MAX,
        f_sint32: -7,
        f_sint64: -70_000_000_000,
        f_fixed32: 7,
        f_fixed64: 9_007_199_254_740_993,
        f_sfixed32: -8,
        f_sfixed64: -9,
        f_bool: true,
        f_string: "héllo".into(),
        f_bytes: vec![0, 255],
        // proto3 `optional`: given as 0, so present.
        maybe: Some(0),
        ..Default::default()
    };
    assert_eq!(decoded, expected);
}

#[test]
fn numbers_come_as_json_numbers_or_strings() {
    let decoded = kitchen(json!({
        "f_int32": "12",
        "f_uint64": 42,
        "f_double": "NaN",
        "f_float": "-Infinity",
        "ratios": [1, "2.5", "Infinity", 1e300],
        "f_bytes": "-_8",
    }))
    .unwrap();
    assert_eq!(decoded.f_int32, 12);
    assert_eq!(decoded.f_uint64, 42);
    assert!(decoded.f_double.is_nan());
    assert_eq!(decoded.f_float, f32::NEG_INFINITY);
    assert_eq!(decoded.ratios, [1.0, 2.5, f64::INFINITY, 1e300]);
    assert_eq!(
        decoded.f_bytes,
        [0xfb, 0xff],
        "URL-safe base64 without padding"
    );
    // Absent and null both leave the default.
    let decoded = kitchen(json!({ "f_string": null, "maybe": null })).unwrap();
    assert_eq!(decoded, args::Kitchen::default());
}

#[test]
fn enums_nested_recursive_and_repeated_fields_decode() {
    let decoded = kitchen(json!({
        "color": "COLOR_BLUE",
        "inner": { "text": "in", "ids": [1, "2"], "color": 2 },
        "tree": { "label": "root", "children": [
            { "label": "a", "children": [{ "label": "a1" }] },
            { "label": "b" },
        ] },
        "numbers": [1, "-2", 3],
        "words": ["x", "y"],
        "colors": ["COLOR_RED", 2, -3],
        "inners": [{ "text": "first" }, {}],
    }))
    .unwrap();
    assert_eq!(decoded.color, args::Color::Blue as i32);
    assert_eq!(
        decoded.inner,
        Some(args::Inner {
            text: "in".into(),
            ids: vec![1, 2],
            color: args::Color::Green as i32,
        })
    );
    let tree = decoded.tree.unwrap();
    assert_eq!(tree.label, "root");
    assert_eq!(tree.children[0].children[0].label, "a1");
    assert_eq!(tree.children[1].label, "b");
    assert_eq!(decoded.numbers, [1, -2, 3]);
    assert_eq!(decoded.words, ["x", "y"]);
    assert_eq!(decoded.colors, [1, 2, -3]);
    assert_eq!(decoded.inners[0].text, "first");
    assert_eq!(decoded.inners[1], args::Inner::default());
}

#[test]
fn maps_decode_with_typed_keys() {
    let decoded = kitchen(json!({
        "counts": { "a": 1, "b": "-2" },
        "names_by_id": { "-5": "minus five", "9007199254740993": "big" },
        "by_flag": { "true": { "text": "yes" }, "false": {} },
        "colors_by_code": { "7": "COLOR_GREEN" },
    }))
    .unwrap();
    assert_eq!(
        decoded.counts,
        HashMap::from([("a".to_owned(), 1), ("b".to_owned(), -2)])
    );
    assert_eq!(
        decoded.names_by_id,
        HashMap::from([
            (-5, "minus five".to_owned()),
            (9_007_199_254_740_993, "big".to_owned())
        ])
    );
    assert_eq!(decoded.by_flag[&true].text, "yes");
    assert_eq!(decoded.by_flag[&false], args::Inner::default());
    assert_eq!(decoded.colors_by_code[&7], args::Color::Green as i32);
}

#[test]
fn oneofs_and_json_names_decode() {
    let decoded = kitchen(json!({ "choiceInner": { "text": "in" }, "otherName": "r" })).unwrap();
    assert_eq!(
        decoded.choice,
        Some(args::kitchen::Choice::ChoiceInner(args::Inner {
            text: "in".into(),
            ..Default::default()
        }))
    );
    assert_eq!(decoded.renamed, "r");
    let decoded = kitchen(json!({ "choice_text": "t", "choice_inner": null })).unwrap();
    assert_eq!(
        decoded.choice,
        Some(args::kitchen::Choice::ChoiceText("t".into()))
    );
}

#[test]
fn well_known_types_decode_from_their_json_forms() {
    let decoded = kitchen(json!({
        "at": "2026-11-26T08:30:00.250+01:00",
        "timeout": "-1.5s",
        "mask": "fBytes,inner.text",
        "extra": { "k": [1, "two", null] },
        "anything": null,
        "list": [true, {}],
        "nothing": {},
        "big": "9007199254740993",
        "label": "name",
        "flag": false,
        "blob": "aGk=",
    }))
    .unwrap();
    assert_eq!(
        decoded.at,
        Some(prost_types::Timestamp {
            seconds: 1_795_678_200,
            nanos: 250_000_000,
        })
    );
    assert_eq!(
        decoded.timeout,
        Some(prost_types::Duration {
            seconds: -1,
            nanos: -500_000_000,
        })
    );
    assert_eq!(
        decoded.mask.unwrap().paths,
        ["f_bytes".to_owned(), "inner.text".to_owned()]
    );
    let extra = decoded.extra.unwrap();
    let Some(prost_types::value::Kind::ListValue(list)) = &extra.fields["k"].kind else {
        panic!("{extra:?}");
    };
    assert_eq!(list.values[1], text("two"));
    assert_eq!(
        decoded.anything,
        Some(prost_types::Value {
            kind: Some(prost_types::value::Kind::NullValue(0))
        }),
        "null is a value for google.protobuf.Value"
    );
    assert_eq!(decoded.list.unwrap().values.len(), 2);
    assert_eq!(decoded.nothing, Some(()));
    assert_eq!(decoded.big, Some(9_007_199_254_740_993));
    assert_eq!(decoded.label.as_deref(), Some("name"));
    assert_eq!(decoded.flag, Some(false));
    assert_eq!(decoded.blob.as_deref(), Some(&b"hi"[..]));
}

#[test]
fn a_field_the_message_does_not_have_is_refused() {
    assert_eq!(
        refused(json!({ "f_strin": "typo" })),
        "argument `f_strin`: `Kitchen` has no field `f_strin`"
    );
    assert_eq!(
        refused(json!({ "inner": { "txt": "typo" } })),
        "argument `inner.txt`: `Inner` has no field `txt`"
    );
    assert_eq!(
        refused(json!({ "tree": { "children": [{}, { "children": [{ "lable": "x" }] }] } })),
        "argument `tree.children[1].children[0].lable`: `Tree` has no field `lable`"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    for (arguments, message) in [
        (
            json!({ "f_string": 5 }),
            "argument `f_string`: expected a string, got a number",
        ),
        (
            json!({ "f_bool": "true" }),
            "argument `f_bool`: expected a boolean, got a string",
        ),
        (
            json!({ "f_int32": 1.5 }),
            "argument `f_int32`: expected an `int32`, got a number with a fraction",
        ),
        (
            json!({ "f_int32": 2147483648i64 }),
            "argument `f_int32`: out of range for an `int32`",
        ),
        (
            json!({ "f_uint32": -1 }),
            "argument `f_uint32`: out of range for a `uint32`",
        ),
        (
            json!({ "f_uint64": "-1" }),
            "argument `f_uint64`: out of range for a `uint64`",
        ),
        (
            json!({ "f_int64": "9223372036854775808" }),
            "argument `f_int64`: out of range for an `int64`",
        ),
        (
            json!({ "f_int64": "12abc" }),
            "argument `f_int64`: expected an `int64` as a decimal string",
        ),
        (
            json!({ "f_int64": " 12" }),
            "argument `f_int64`: expected an `int64` as a decimal string",
        ),
        (
            json!({ "f_sfixed32": true }),
            "argument `f_sfixed32`: expected an `sfixed32`, got a boolean",
        ),
        (
            json!({ "f_float": 1e39 }),
            "argument `f_float`: out of range for a `float`",
        ),
        (
            json!({ "f_double": "fast" }),
            "argument `f_double`: expected a number, or a string holding one, `NaN` or `Infinity`",
        ),
        (
            json!({ "f_double": [] }),
            "argument `f_double`: expected a number, got a list",
        ),
        (
            json!({ "f_bytes": "not base64!" }),
            "argument `f_bytes`: not valid base64",
        ),
        (
            json!({ "color": "PURPLE" }),
            "argument `color`: not a value of enum `Color`; expected one of `COLOR_BLUE`, `COLOR_UNSPECIFIED`, `COLOR_RED`, `COLOR_GREEN`",
        ),
        (
            json!({ "color": 7 }),
            "argument `color`: 7 is not a value of enum `Color`",
        ),
        (
            json!({ "color": true }),
            "argument `color`: expected a value name of enum `Color`, got a boolean",
        ),
        (
            json!({ "inner": "text" }),
            "argument `inner`: expected an object, got a string",
        ),
        (
            json!({ "numbers": 1 }),
            "argument `numbers`: expected a list, got a number",
        ),
        (
            json!({ "numbers": [1, "x"] }),
            "argument `numbers[1]`: expected an `int64` as a decimal string",
        ),
        (
            json!({ "words": ["a", null] }),
            "argument `words[1]`: null is not allowed in a list",
        ),
        (
            json!({ "inners": [{ "ids": [1, -1] }] }),
            "argument `inners[0].ids[1]`: out of range for a `uint64`",
        ),
        (
            json!({ "counts": [] }),
            "argument `counts`: expected an object, got a list",
        ),
        (
            json!({ "counts": { "a": "b" } }),
            "argument `counts[\"a\"]`: expected an `int32` as a decimal string",
        ),
        (
            json!({ "names_by_id": { "one": "1" } }),
            "argument `names_by_id[\"one\"]`: map key: expected an `int64` as a decimal string",
        ),
        (
            json!({ "by_flag": { "yes": {} } }),
            "argument `by_flag[\"yes\"]`: a bool map key must be \"true\" or \"false\"",
        ),
        (
            json!({ "colors_by_code": { "-1": "COLOR_RED" } }),
            "argument `colors_by_code[\"-1\"]`: map key: out of range for a `uint32`",
        ),
        (
            json!({ "at": "yesterday" }),
            "argument `at`: expected an RFC 3339 timestamp such as \"2026-01-02T03:04:05Z\"",
        ),
        (
            json!({ "timeout": 5 }),
            "argument `timeout`: expected a string, got a number",
        ),
        (
            json!({ "timeout": "5m" }),
            "argument `timeout`: expected a duration in seconds with an `s` suffix, such as \"1.5s\"",
        ),
        (
            json!({ "mask": "f_bytes" }),
            "argument `mask`: expected comma-separated lowerCamel field paths",
        ),
        (
            json!({ "extra": [] }),
            "argument `extra`: expected an object, got a list",
        ),
        (
            json!({ "nothing": { "a": 1 } }),
            "argument `nothing`: expected `{}`, got an object",
        ),
        (
            json!({ "big": 1.5 }),
            "argument `big`: expected an `int64`, got a number with a fraction",
        ),
    ] {
        assert_eq!(refused(arguments.clone()), message, "{arguments}");
    }
}

#[test]
fn two_fields_of_a_oneof_or_one_field_by_both_names_are_refused() {
    assert_eq!(
        refused(json!({ "choice_text": "a", "choice_inner": {} })),
        "argument `choice_text`: `choice_inner` is set too, and both are in oneof `choice`; set one"
    );
    assert_eq!(
        refused(json!({ "f_string": "a", "fString": "b" })),
        "argument `f_string`: given twice, as `fString` and as `f_string`"
    );
}

#[test]
fn a_missing_required_field_is_refused() {
    let decode = |arguments: Value| ToolCall::decode("move_file", Some(to_struct(arguments)));
    let Ok(ToolCall::MoveFile(moved)) = decode(json!({ "from": "a", "to": "b" })) else {
        panic!("not decoded");
    };
    assert_eq!(
        moved,
        args::MoveFileArgs {
            from: "a".into(),
            to: "b".into(),
            overwrite: false
        }
    );
    for (arguments, missing) in [
        (json!({ "from": "a" }), "to"),
        (json!({ "to": "b", "overwrite": true }), "from"),
        (json!({ "from": null, "to": "b" }), "from"),
    ] {
        let status = decode(arguments).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            format!(
                "invalid arguments for tool `move_file`: argument `{missing}`: required, but not \
                 given"
            )
        );
    }
    // No arguments at all: every required field is missing; the first is named.
    let status = ToolCall::decode("move_file", None).unwrap_err();
    assert_eq!(
        status.message(),
        "invalid arguments for tool `move_file`: argument `from`: required, but not given"
    );
}

#[test]
fn tools_without_an_argument_message_and_unknown_tools() {
    let arguments = to_struct(json!({ "anything": [1, 2] }));
    let Ok(ToolCall::Plain(sent)) = ToolCall::decode("plain", Some(arguments.clone())) else {
        panic!("not decoded");
    };
    assert_eq!(sent, arguments, "a Struct tool gets its arguments as sent");
    let Ok(ToolCall::Plain(sent)) = ToolCall::decode("plain", None) else {
        panic!("not decoded");
    };
    assert_eq!(sent.fields, BTreeMap::new());
    let status = ToolCall::decode("format_disk", None).unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

/// Values are described by their JSON type, never echoed: a secret pasted into the wrong field
/// does not come back in the status message.
#[test]
fn refusals_do_not_echo_values() {
    let secret = "sk live 0123456789abcdef!";
    for arguments in [
        json!({ "f_int64": secret }),
        json!({ "f_bool": secret }),
        json!({ "color": secret }),
        json!({ "f_bytes": secret }),
        json!({ "at": secret }),
    ] {
        assert!(!refused(arguments).contains("0123456789"));
    }
}

mod served {
    //! The `Arguments` service on 127.0.0.1: `CallTool` decodes in the handler, `Run` selects
    //! its tool by the oneof case set in the request.

    use std::sync::{Arc, Mutex};

    use mcp_auth::clock::ManualClock;
    use mcp_auth::{Authorized, Authorizer, StandardClaims};
    use mcp_auth_tests::fixtures::arguments::{self as args, arguments_auth as auth};
    use mcp_auth_tests::support::{NOW, serve, test_authenticator, to_struct, token, with_token};
    use serde_json::json;
    use tonic::{Code, Request, Response, Status};

    type C = StandardClaims;

    #[derive(Clone, Default)]
    struct Handlers(Arc<Mutex<Vec<String>>>);

    #[mcp_auth::handlers]
    impl auth::Arguments for Handlers {
        async fn call_tool(
            &self,
            _auth: Authorized<C, auth::policy::CallTool>,
            request: Request<args::CallToolRequest>,
        ) -> Result<Response<args::CallToolResponse>, Status> {
            let request = request.into_inner();
            let result = match auth::ToolCall::decode(&request.name, request.arguments)? {
                auth::ToolCall::MoveFile(m) => format!("move {} -> {}", m.from, m.to),
                other => format!("{} called", other.name()),
            };
            self.0.lock().unwrap().push(result.clone());
            Ok(Response::new(args::CallToolResponse { result }))
        }

        async fn run(
            &self,
            _auth: Authorized<C, auth::policy::Run>,
            request: Request<args::RunRequest>,
        ) -> Result<Response<args::CallToolResponse>, Status> {
            let result = match request.into_inner().call {
                Some(args::run_request::Call::Kitchen(k)) => format!("kitchen {}", k.f_string),
                Some(args::run_request::Call::Shout(s)) => s.text.to_uppercase(),
                None => unreachable!("the adapter refuses a call that names no tool"),
            };
            self.0.lock().unwrap().push(result.clone());
            Ok(Response::new(args::CallToolResponse { result }))
        }
    }

    #[tokio::test]
    async fn the_oneof_case_selects_the_tool_and_its_scopes() {
        let handlers = Handlers::default();
        let ran = Arc::clone(&handlers.0);
        let authorizer = Authorizer::with_clock(test_authenticator(), ManualClock::new(NOW));
        let channel = serve(
            tonic::transport::Server::builder().add_service(auth::server(handlers, authorizer)),
        )
        .await;
        let mut client = args::arguments_client::ArgumentsClient::new(channel);
        let cook = token("tools:call kitchen:use files:write", 600);
        let run = |call| args::RunRequest {
            request_id: "r1".into(),
            call,
        };

        let kitchen = args::run_request::Call::Kitchen(args::Kitchen {
            f_string: "soup".into(),
            ..Default::default()
        });
        let answer = client
            .run(with_token(run(Some(kitchen)), &cook))
            .await
            .unwrap();
        assert_eq!(answer.into_inner().result, "kitchen soup");

        let shout = args::run_request::Call::Shout(args::Shout { text: "hi".into() });
        let status = client
            .run(with_token(run(Some(shout.clone())), &cook))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "shout needs shout:use"
        );
        let status = client.run(with_token(run(None), &cook)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "no case set: no tool"
        );

        let loud = token("tools:call shout:use", 600);
        let answer = client
            .run(with_token(run(Some(shout)), &loud))
            .await
            .unwrap();
        assert_eq!(answer.into_inner().result, "HI");

        // CallTool: the table tool `move_file` decoded in the handler.
        let call = args::CallToolRequest {
            name: "move_file".into(),
            arguments: Some(to_struct(json!({ "from": "a", "to": "b" }))),
        };
        let answer = client.call_tool(with_token(call, &cook)).await.unwrap();
        assert_eq!(answer.into_inner().result, "move a -> b");

        assert_eq!(
            *ran.lock().unwrap(),
            ["kitchen soup", "HI", "move a -> b"],
            "a refused call reached its handler"
        );
    }
}

mod properties {
    //! Property tests: any value of a field's type, written as the proto3 JSON mapping writes
    //! it, decodes to itself; arbitrary JSON never panics the decoder, and what it accepts has
    //! only the message's fields.

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::{args, kitchen};

    /// Any JSON value, nested a few levels.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e12f64..1e12).prop_map(|n| json!(n)),
            "[a-zA-Z0-9_ =+/-]{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "COLOR_RED",
                "NaN",
                "1.5s",
                "2026-01-01T00:00:00Z",
                "AP8="
            ])
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Mostly the names `Kitchen` and its messages have, some it does not.
    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "f_int32", "fInt64", "f_uint64", "f_double", "f_float", "f_bool", "f_string",
                "f_bytes", "color", "maybe", "inner", "tree", "children", "label", "text", "ids",
                "numbers", "colors", "inners", "counts", "names_by_id", "by_flag", "choice_text",
                "choice_inner", "at", "timeout", "mask", "extra", "anything", "list", "nothing",
                "big", "otherName",
            ])
            .prop_map(str::to_owned),
            1 => "[a-z_]{1,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_arguments_decode_or_are_refused_never_panic(
            fields in prop::collection::btree_map(field_name(), any_json(), 0..8)
        ) {
            let arguments = Value::Object(fields.clone().into_iter().collect());
            match kitchen(arguments) {
                Ok(_) => {
                    let known = [
                        "f_int32", "fInt64", "f_uint64", "f_double", "f_float", "f_bool",
                        "f_string", "f_bytes", "color", "maybe", "inner", "tree", "numbers",
                        "colors", "inners", "counts", "names_by_id", "by_flag", "choice_text",
                        "choice_inner", "at", "timeout", "mask", "extra", "anything", "list",
                        "nothing", "big", "otherName",
                    ];
                    for key in fields.keys() {
                        prop_assert!(known.contains(&key.as_str()), "accepted `{}`", key);
                    }
                }
                Err(status) => {
                    prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
                    prop_assert!(
                        status.message().starts_with("invalid arguments for tool `kitchen`: "),
                        "{}",
                        status.message()
                    );
                }
            }
        }

        #[test]
        fn every_integer_type_round_trips_as_a_number_or_a_string(
            i32v in any::<i32>(),
            i64v in any::<i64>(),
            u32v in any::<u32>(),
            u64v in any::<u64>(),
            as_text in any::<bool>(),
        ) {
            let write = |text: String, exact_as_number: bool| {
                if as_text || !exact_as_number {
                    Value::String(text)
                } else {
                    serde_json::from_str::<Value>(&text).unwrap()
                }
            };
            // A Struct holds numbers as f64: 64-bit values beyond 2^53 only travel as text.
            let exact = |n: i128| n.unsigned_abs() <= 1 << 53;
            let decoded = kitchen(json!({
                "f_int32": write(i32v.to_string(), true),
                "f_sint32": write(i32v.to_string(), true),
                "f_sfixed32": write(i32v.to_string(), true),
                "f_int64": write(i64v.to_string(), exact(i64v.into())),
                "f_sint64": write(i64v.to_string(), exact(i64v.into())),
                "f_sfixed64": write(i64v.to_string(), exact(i64v.into())),
                "f_uint32": write(u32v.to_string(), true),
                "f_fixed32": write(u32v.to_string(), true),
                "f_uint64": write(u64v.to_string(), exact(u64v.into())),
                "f_fixed64": write(u64v.to_string(), exact(u64v.into())),
            }))
            .unwrap();
            let expected = args::Kitchen {
                f_int32: i32v,
                f_sint32: i32v,
                f_sfixed32: i32v,
                f_int64: i64v,
                f_sint64: i64v,
                f_sfixed64: i64v,
                f_uint32: u32v,
                f_fixed32: u32v,
                f_uint64: u64v,
                f_fixed64: u64v,
                ..Default::default()
            };
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn strings_bytes_and_doubles_round_trip(
            text in any::<String>(),
            bytes in prop::collection::vec(any::<u8>(), 0..40),
            double in any::<f64>().prop_filter("finite", |d| d.is_finite()),
            words in prop::collection::vec(any::<String>(), 0..4),
        ) {
            use base64::Engine;
            let decoded = kitchen(json!({
                "f_string": text,
                "f_bytes": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "f_double": double,
                "words": words,
            }))
            .unwrap();
            prop_assert_eq!(decoded.f_string, text);
            prop_assert_eq!(decoded.f_bytes, bytes);
            prop_assert_eq!(decoded.f_double.to_bits(), double.to_bits());
            prop_assert_eq!(decoded.words, words);
        }
    }
}
