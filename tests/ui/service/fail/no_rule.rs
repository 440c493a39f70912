mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) {}
    }
}

fn main() {}
