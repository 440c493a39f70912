//! Rust names for proto names, following prost-build and tonic-build exactly, so that the code
//! `protoc-gen-mcp-auth` writes and the code `mcp-auth-macros` expands from it meet theirs.
//!
//! One crate for both because a proc-macro crate cannot export functions: the plugin and the
//! macros must agree on every name, and two copies of these rules would drift.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// prost-build's `sanitize_identifier`: raw identifiers for keywords, a `_` suffix for the
/// keywords that cannot be raw, a `_` prefix for a leading digit.
pub fn sanitize(ident: &str) -> String {
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

/// prost-build's `to_snake`: the Rust name of a method, a field or a message's module.
pub fn to_snake(s: &str) -> String {
    sanitize(&s.to_snake_case())
}

/// prost-build's `to_upper_camel`: the Rust name of a service, a type or an enum variant.
pub fn to_upper_camel(s: &str) -> String {
    sanitize(&s.to_upper_camel_case())
}

/// protoc's default JSON name of a field: `foo_bar` -> `fooBar`.
pub fn json_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prost_and_protoc() {
        assert_eq!(to_snake("ListTools"), "list_tools");
        assert_eq!(to_snake("Type"), "r#type");
        assert_eq!(to_snake("Self"), "self_");
        assert_eq!(to_snake("async"), "r#async");
        assert_eq!(to_upper_camel("mcp_service"), "McpService");
        assert_eq!(to_upper_camel("self"), "Self_");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(json_name("file_path"), "filePath");
        assert_eq!(json_name("a_b_c"), "aBC");
        assert_eq!(json_name("plain"), "plain");
    }
}
