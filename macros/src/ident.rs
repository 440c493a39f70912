//! Rust names for proto names, following prost-build and tonic-build exactly, so the generated
//! code meets theirs.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// prost-build's `sanitize_identifier`: raw identifiers for keywords, `_` suffix for the
/// keywords that cannot be raw.
pub(crate) fn sanitize(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident.to_owned(),
    }
}

/// prost-build's `to_snake`: the Rust name of a method.
pub(crate) fn to_snake(s: &str) -> String {
    sanitize(&s.to_snake_case())
}

/// prost-build's `to_upper_camel`: the Rust name of a service or type.
pub(crate) fn to_upper_camel(s: &str) -> String {
    sanitize(&s.to_upper_camel_case())
}

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
    fn names_follow_prost_and_tonic() {
        assert_eq!(to_snake("ListTools"), "list_tools");
        assert_eq!(to_snake("Type"), "r#type");
        assert_eq!(to_snake("Self"), "self_");
        assert_eq!(to_snake("async"), "r#async");
        assert_eq!(to_upper_camel("mcp_service"), "McpService");
        assert_eq!(to_upper_camel("self"), "Self_");
        assert_eq!(naive_snake("McpService"), "mcp_service");
        assert_eq!(naive_snake("HTTPThing"), "h_t_t_p_thing");
    }
}
