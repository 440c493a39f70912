mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) { authenticated, rate_limit: { per_minute: 5 } }
        rpc Shout(SayRequest) returns (SayResponse) {
            authenticated,
            rate_limit: { per_second: 0, messages_per_second: 10 },
        }
    }
}

fn main() {}
