//! Rust names for proto names, following prost-build and tonic-build exactly, so the generated
//! code meets theirs.

pub(crate) use mcp_auth_names::{json_name, to_snake, to_upper_camel};

/// tonic-build's `naive_snake_case`: the module of a service's server (`FooBar` ->
/// `foo_bar_server`).
pub(crate) fn naive_snake(name: &str) -> String {
    let mut s = String::new();
    let mut it = name.chars().peekable();
    while let Some(x) = it.next() {
        s.push(x.to_ascii_lowercase());
        if it.peek().is_some_and(|y| y.is_uppercase()) {
            s.push('_');
        }
    }
    s
}

/// Parses a name produced by the functions above into an identifier, raw or not.
pub(crate) fn ident(name: &str, span: proc_macro2::Span) -> syn::Ident {
    match name.strip_prefix("r#") {
        Some(raw) => syn::Ident::new_raw(raw, span),
        None => syn::Ident::new(name, span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_modules_follow_tonic() {
        assert_eq!(naive_snake("McpService"), "mcp_service");
        assert_eq!(naive_snake("HTTPThing"), "h_t_t_p_thing");
    }
}
