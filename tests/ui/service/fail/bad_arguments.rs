mcp_auth::service! {
    service demo.Tools {
        tools {
            "echo": ["echo:say"] args demo.EchoArgs as EchoArgs,
            "lost": ["x:y"] args demo.Missing as Missing,
        }

        arguments {
            message demo.EchoArgs {
                text: string = 1,
                again: string = 1,
                mode: enum demo.Mode = 2,
                inner: message demo.Inner = 3,
                keys: map<double, string> = 4,
                zero: bool = 0,
            }
            message google.protobuf.Timestamp {}
        }

        rpc Call(CallRequest) returns (CallResponse) { scopes: ["tools:call"], tool: name }
        rpc Pick(PickRequest) returns (CallResponse) {
            scopes: ["tools:call"],
            tool: oneof pick as pick_request::Pick { Echo => "echo", Gone => "gone" },
        }
    }
}

fn main() {}
