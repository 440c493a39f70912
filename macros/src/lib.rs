//! Procedural macros of [mcp-auth](https://docs.rs/mcp-auth). Use them through the `mcp-auth`
//! crate, which re-exports them: `mcp_auth::service!` and `#[mcp_auth::handlers]`.

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
/// For a service `Foo` this expands to a module `foo_auth` holding `trait Foo<C>`, one marker
/// type per RPC in `policy`, the table `POLICY`, the adapter `AuthorizedFoo<T, C>` and
/// `fn server(service, authorizer)`.
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
