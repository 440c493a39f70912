mcp_auth::service! {
    service demo.Echo {
        rpc Say(SayRequest) returns (SayResponse) { public, scopes: ["echo:say"] }
    }
}

fn main() {}
