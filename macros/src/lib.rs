//! Procedural macros of [mcp-auth](https://docs.rs/mcp-auth). Use them through the `mcp-auth`
//! crate, which re-exports them: `mcp_auth::service!`, `#[mcp_auth::handlers]` and
//! `#[derive(mcp_auth::Claims)]`.

mod arguments;
mod claims;
mod handlers;
mod ident;
mod service;

use proc_macro::TokenStream;

/// Declares the authorization layer of one gRPC service: the policy of every RPC, and from it a
/// typed server trait, an adapter for the tonic-generated server trait, and the policy table.
///
/// `protoc-gen-mcp-auth` writes these invocations from the proto options; they can also be
/// written by hand next to code from `tonic-prost-build`. Message types are resolved from the
/// invocation's module.
///
/// ```text
/// mcp_auth::service! {
///     /// Tools over gRPC.
///     service mcp.McpService {
///         /// Lists the tools the caller may call.
///         rpc ListTools(ListToolsRequest) returns (ListToolsResponse) { scopes: ["tools:list"] }
///         rpc ToolStream(stream ToolRequest) returns (stream ToolResponse) {
///             scopes: ["tools:call"],
///             stream: [unchecked_expiry],
///         }
///         rpc Ping(PingRequest) returns (PingResponse) { public }
///     }
/// }
/// ```
///
/// A rule is `public`, `authenticated`, or `scopes: [..]`, optionally followed by
/// `identity: any | jwt | mtls | either | both` and, on client- and bidirectional-streaming
/// RPCs, `stream: [unchecked_expiry, unchecked_message_scopes, unlimited_messages]` to relax
/// per-message checks. The tonic server module defaults to `self::<service>_server`; write
/// `server: path::to::module;` as the service's first line to name another.
///
/// MCP tools, resources and prompts: tables after the `server` line, in this order, each
/// optional, map a tool name (a resource URI prefix, a prompt name) to the scopes it needs on
/// top of the RPC's, with `///` comments as descriptions. An RPC names the request field that
/// carries the tool (URI, prompt) with `tool: request?.name` (`resource: uri`,
/// `prompt: name`; `?` after a segment that is an `Option` in Rust), and may add
/// `allow_undeclared_tools` (`_resources`, `_prompts`) to let undeclared ones through. A tool
/// may end with `schema r#"{..}"#`, the JSON Schema of its arguments for MCP's `inputSchema`
/// (the plugin writes it for tools with an argument message; `{"type":"object"}` otherwise):
///
/// ```text
/// tools { "read_file": ["files:read"], "write_file": ["files:write"] }
/// resources { "file:///docs/": ["docs:read"] }
/// prompts { "summarize": ["prompts:summarize"] }
/// rpc CallTool(CallToolRequest) returns (CallToolResponse) { scopes: ["tools:call"], tool: request?.name }
/// rpc ReadResource(ReadResourceRequest) returns (ReadResourceResponse) { scopes: ["resources:read"], resource: uri }
/// ```
///
/// Typed arguments: a tool may name its argument message, `args pkg.ReadFileArgs as
/// ReadFileArgs` (the proto name, then the Rust type as seen from the invocation's module),
/// before its `schema`; an `arguments { .. }` block after the tables then describes every such
/// message (and the messages and enums it uses) field by field, which the plugin writes from
/// the descriptors:
///
/// ```text
/// tools { "read_file": ["files:read"] args files.ReadFileArgs as ReadFileArgs }
/// arguments {
///     message files.ReadFileArgs {
///         path: string = 1 required,
///         max_bytes: uint32 = 2,
///         mode: enum files.Mode = 3,
///         globs: repeated string = 4,
///         labels: map<string, int64> = 5,
///         since: message google.protobuf.Timestamp = 6 oneof when,
///         file_name: string = 7 json "name",
///     }
///     enum files.Mode { MODE_UNSPECIFIED = 0, MODE_TEXT = 1 }
/// }
/// ```
///
/// For a service `Foo` this expands to a module `foo_auth` holding `trait Foo<C>`, one marker
/// type per RPC in `policy`, the table `POLICY`, the adapter `AuthorizedFoo<T, C>` (which
/// implements tonic's `foo_server::Foo`), the server `AuthorizedFooServer<T, C>` (tonic's
/// generated `FooServer`, calling the adapter's methods directly; its messages must be prost
/// messages) and `fn server(service, authorizer)`, which returns it; with tools, also `TOOLS` and `enum ToolCall`, whose
/// `decode(name, arguments)` gives a handler each tool's arguments as its message (the
/// `Struct` as sent for a tool without one), or INVALID_ARGUMENT naming the bad argument.
#[proc_macro]
pub fn service(input: TokenStream) -> TokenStream {
    service::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Checks an implementation of a generated service trait: every handler must take the proof
/// of authorization for its own RPC as its first argument after `&self`.
///
/// ```text
/// #[mcp_auth::handlers]
/// impl mcp_service_auth::McpService for Tools {
///     async fn list_tools(
///         &self,
///         auth: mcp_auth::Authorized<mcp_auth::StandardClaims, mcp_service_auth::policy::ListTools>,
///         request: tonic::Request<ListToolsRequest>,
///     ) -> Result<tonic::Response<ListToolsResponse>, tonic::Status> {
///         # todo!()
///     }
/// }
/// ```
///
/// The compiler rejects a wrong implementation without this attribute too; with it, each
/// mistake is reported on the handler's own argument, in words about authorization.
#[proc_macro_attribute]
pub fn handlers(attr: TokenStream, item: TokenStream) -> TokenStream {
    handlers::expand(attr.into(), item.into()).into()
}

/// Implements `mcp_auth::Claims` for your own claims struct, from `#[claims(...)]` attributes on
/// the fields that hold the subject, the expiry and the scopes. The struct also derives (or
/// implements) `serde::Deserialize`, which reads the token's JSON; this derive does not.
///
/// ```text
/// #[derive(serde::Deserialize, mcp_auth::Claims)]
/// struct MyClaims {
///     #[claims(subject)]
///     sub: String,
///     #[claims(expires_at)]
///     exp: u64,
///     #[claims(not_before)]
///     nbf: Option<u64>,
///     #[claims(scopes)]
///     #[serde(default)]
///     scope: Option<String>,        // "files:read files:write"
///     #[claims(scopes)]
///     #[serde(default)]
///     scp: Vec<String>,             // ["files:read", "files:write"]
///     tenant: String,               // anything else is yours
/// }
/// ```
///
/// On a field:
///
/// | attribute | field type | required |
/// | --- | --- | --- |
/// | `#[claims(subject)]` | `String` | exactly one |
/// | `#[claims(expires_at)]` | `u64` | exactly one |
/// | `#[claims(not_before)]`, `#[claims(issued_at)]` | `u64` or `Option<u64>` | at most one each |
/// | `#[claims(scopes)]` | `String`, `Vec<String>`, or an `Option` of either | one or more, or `no_scopes` |
/// | `#[claims(scopes = "space_delimited")]` | `String` or `Option<String>` | |
/// | `#[claims(scopes = "list")]` | `Vec<String>` or `Option<Vec<String>>` | |
///
/// On the struct: `#[claims(no_scopes)]`, for tokens that never carry scopes.
///
/// - **Scopes are read from the field's type**: a string is space-delimited like OAuth's
///   `scope` (RFC 8693), a `Vec<String>` is a list like `scp`, `None` grants nothing. The type
///   decides, so an alias of one of these works too. `scopes = "space_delimited"` and
///   `scopes = "list"` state the format in the source, and the compiler then holds the field to
///   it. With several scopes fields, the token grants the scopes of all of them.
/// - **Scopes match exactly**, token by token: `files:read` does not grant `files:read:all`, and
///   an empty scope, or one holding a space, is never granted.
/// - **A struct without a scopes field is an error**, not a struct that grants nothing: a
///   forgotten `#[claims(scopes)]` would otherwise deny every scoped call with no hint why, and
///   a reader could not tell an oversight from a decision. Tokens that really carry no scopes
///   say so with `#[claims(no_scopes)]`.
/// - Generic structs work; the impl then requires the struct to be `DeserializeOwned`, `Send`,
///   `Sync` and `'static` through `::serde`, which must be a dependency of your crate. Lifetime
///   parameters are an error: claims are deserialized into owned data.
///
/// Every mistake is reported on your own tokens: a missing or doubled subject or expiry, an
/// unknown key, a field marked twice, and a field whose type does not fit its claim (on the
/// field's type, by the macro when the type is visibly wrong and by the compiler otherwise).
#[proc_macro_derive(Claims, attributes(claims))]
pub fn derive_claims(input: TokenStream) -> TokenStream {
    claims::expand(input.into()).into()
}
