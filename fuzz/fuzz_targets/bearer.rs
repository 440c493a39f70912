//! The `authorization` metadata: the input's lines (up to three) as its values, each kept when
//! it is bytes an HTTP header value may hold, into `mcp_auth::authenticate::bearer_token`. It
//! never panics, and what it accepts is exactly one `Bearer <b64token>` value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::authenticate::bearer_token;
use tonic::codegen::http::{HeaderMap, HeaderValue};
use tonic::metadata::MetadataMap;

const MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for value in data.split(|&b| b == b'\n').take(3) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append("authorization", value);
        }
    }
    let count = headers.get_all("authorization").iter().count();
    let metadata = MetadataMap::from_headers(headers);
    if let Ok(token) = bearer_token(&metadata, MAX) {
        assert_eq!(count, 1, "accepted {count} authorization values");
        let value = metadata.get("authorization").unwrap().to_str().unwrap();
        let (scheme, rest) = value.split_at(6);
        assert!(scheme.eq_ignore_ascii_case("bearer"), "scheme {scheme:?}");
        assert_eq!(rest, format!(" {token}"), "the token is not the rest");
        assert!(!token.is_empty() && token.len() <= MAX);
        let body = token.trim_end_matches('=');
        assert!(!body.is_empty(), "a token of padding only");
        assert!(
            body.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)),
            "accepted {token:?}"
        );
    }
});
