// Every kind of rule, and a tonic server module named with `server:`.

mod transport {
    include!("../../support/tonic_echo.rs");
}

mcp_auth::service! {
    service demo.Echo {
        server: self::transport::echo_server;
        rpc Say(transport::SayRequest) returns (transport::SayResponse) {
            scopes: ["echo:say", "echo:loud"],
            identity: jwt,
        }
        rpc Ping(self::transport::SayRequest) returns (self::transport::SayResponse) {
            authenticated,
            identity: either,
        }
    }
}

fn main() {
    let policy = echo_auth::POLICY;
    assert_eq!(policy.name, "demo.Echo");
    assert_eq!(policy.methods[0].path, "/demo.Echo/Say");
}
