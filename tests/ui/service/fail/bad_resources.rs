mcp_auth::service! {
    service demo.Library {
        resources {
            "file:///docs/": ["docs:read"],
            "file:///my docs/": ["docs read"],
            "file:///docs/": ["docs:read"],
        }

        rpc Public(ReadRequest) returns (ReadResponse) { public, resource: uri }
        rpc Streamed(stream ReadRequest) returns (ReadResponse) { scopes: ["a"], resource: uri }
        rpc NoPrompts(ReadRequest) returns (ReadResponse) { scopes: ["a"], prompt: name }
        rpc Nothing(ReadRequest) returns (ReadResponse) { scopes: ["a"], allow_undeclared_prompts }
    }
}

fn main() {}
