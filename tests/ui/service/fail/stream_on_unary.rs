mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) {
            scopes: ["echo:say"],
            stream: [unchecked_expiry],
        }
    }
}

fn main() {}
