//! Compile-time tests of `mcp_auth::service!` and `#[mcp_auth::handlers]`: what compiles, and
//! the message a mistake gets. Run with `TRYBUILD=overwrite` to refresh the `.stderr` files,
//! then review them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/*/pass/*.rs");
    t.compile_fail("ui/*/fail/*.rs");
}
