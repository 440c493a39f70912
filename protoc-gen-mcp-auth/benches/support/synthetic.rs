//! A large synthetic descriptor set, built in memory: 20 files (one package each) of 10
//! services with 10 RPCs, so 200 services and 2,000 RPCs, and 25 tool-argument messages per
//! file, 500 in all.
//!
//! The tools are plain messages used as request types: `(mcp_auth.v1.tool)` options are not
//! enforced yet, so the generator refuses them. Every kind of rule and RPC shape is in the mix:
//! service defaults (half the services), scopes, `authenticated`, `public`, identity
//! requirements, all four streaming kinds and stream relaxations, and doc comments.
//!
//! The `.proto` text is compiled with protox, with source info as protoc and buf send it, and
//! framed as the `CodeGeneratorRequest` a plugin receives.

use std::fmt::Write;

use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// Files (packages) in the set.
pub(crate) const FILES: usize = 20;
/// Services per file.
pub(crate) const SERVICES_PER_FILE: usize = 10;
/// RPCs per service.
pub(crate) const RPCS_PER_SERVICE: usize = 10;
/// Tool-argument messages per file.
pub(crate) const TOOLS_PER_FILE: usize = 25;

/// The name of file `index`.
fn file_name(index: usize) -> String {
    format!("bench/p{index:02}/tools.proto")
}

/// The `.proto` source of file `index`.
pub(crate) fn source(index: usize) -> String {
    let package = format!("bench.p{index:02}");
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "syntax = \"proto3\";\n").unwrap();
    writeln!(w, "// Tools of synthetic package {index}.").unwrap();
    writeln!(w, "package {package};\n").unwrap();
    writeln!(w, "import \"mcp_auth/v1/auth.proto\";\n").unwrap();
    for tool in 0..TOOLS_PER_FILE {
        writeln!(w, "// Arguments of tool {tool} of package {index}.").unwrap();
        writeln!(w, "message Tool{tool:02}Args {{").unwrap();
        writeln!(w, "  // The file or resource the tool works on.").unwrap();
        writeln!(w, "  string path = 1;").unwrap();
        writeln!(w, "  int64 limit = 2;").unwrap();
        writeln!(w, "  repeated string tags = 3;").unwrap();
        writeln!(w, "  optional bool recursive = 4;").unwrap();
        writeln!(w, "  map<string, string> labels = 5;").unwrap();
        writeln!(w, "}}\n").unwrap();
    }
    writeln!(
        w,
        "message ToolResult {{\n  string text = 1;\n  int32 code = 2;\n}}\n"
    )
    .unwrap();
    for service in 0..SERVICES_PER_FILE {
        let with_default = service % 2 == 0;
        writeln!(
            w,
            "// Service {service} of package {index}: tools over RPC."
        )
        .unwrap();
        writeln!(w, "service Service{service:02} {{").unwrap();
        if with_default {
            writeln!(
                w,
                "  option (mcp_auth.v1.service) = {{ default: {{ scopes: \"p{index:02}.s{service:02}:read\" }} }};\n"
            )
            .unwrap();
        }
        for rpc in 0..RPCS_PER_SERVICE {
            let tool = (service * RPCS_PER_SERVICE + rpc) % TOOLS_PER_FILE;
            let args = format!("Tool{tool:02}Args");
            let (request, response) = match rpc % 5 {
                0 | 1 => (args, "ToolResult".to_owned()),
                2 => (args, "stream ToolResult".to_owned()),
                3 => (format!("stream {args}"), "ToolResult".to_owned()),
                _ => (format!("stream {args}"), "stream ToolResult".to_owned()),
            };
            let client_streams = rpc % 5 >= 3;
            let rule = match rpc {
                // Inherits the service default where there is one.
                0 | 2 if with_default => None,
                0 => Some(format!("scopes: \"p{index:02}:call\"")),
                1 => Some(format!(
                    "scopes: [\"p{index:02}:write\", \"p{index:02}.s{service:02}:call\"]"
                )),
                2 => Some("authenticated: true".to_owned()),
                3 => Some(format!(
                    "scopes: \"p{index:02}:upload\" identity: IDENTITY_JWT"
                )),
                4 => Some(format!(
                    "scopes: \"p{index:02}:chat\" stream: {{ unchecked_expiry: true }}"
                )),
                5 => Some("public: true".to_owned()),
                6 => Some("authenticated: true identity: IDENTITY_EITHER".to_owned()),
                7 => Some(format!(
                    "scopes: [\"p{index:02}:admin\"] identity: IDENTITY_BOTH"
                )),
                8 => Some(format!(
                    "scopes: \"p{index:02}:upload\" stream: {{ unlimited_messages: true }}"
                )),
                _ => Some(format!("scopes: \"p{index:02}.s{service:02}:sync\"")),
            };
            debug_assert!(
                !rule.as_deref().unwrap_or("").contains("stream:") || client_streams,
                "stream rules only on client streams"
            );
            writeln!(w, "  // Call{rpc:02} runs tool {tool}.").unwrap();
            match rule {
                None => writeln!(w, "  rpc Call{rpc:02}({request}) returns ({response});\n")
                    .unwrap(),
                Some(rule) => writeln!(
                    w,
                    "  rpc Call{rpc:02}({request}) returns ({response}) {{\n    option (mcp_auth.v1.method) = {{ {rule} }};\n  }}\n"
                )
                .unwrap(),
            }
        }
        writeln!(w, "}}\n").unwrap();
    }
    out
}

/// Serves the synthetic files and `mcp_auth/v1/auth.proto` from memory.
struct Sources;

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == protoc_gen_mcp_auth::AUTH_PROTO_NAME {
            return File::from_source(name, protoc_gen_mcp_auth::AUTH_PROTO);
        }
        match (0..FILES).find(|&i| file_name(i) == name) {
            Some(index) => File::from_source(name, &source(index)),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The encoded `CodeGeneratorRequest` for the whole set, with no parameter.
pub(crate) fn request() -> Vec<u8> {
    let mut resolver = ChainFileResolver::new();
    resolver.add(Sources);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    let names: Vec<String> = (0..FILES).map(file_name).collect();
    compiler
        .open_files(&names)
        .expect("the synthetic protos compile");
    let set = compiler.encode_file_descriptor_set();
    protoc_gen_mcp_auth::request_from_descriptor_set(&set, &names, "")
        .expect("a valid descriptor set")
}
