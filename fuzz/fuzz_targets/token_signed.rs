//! Tokens the issuer really signed, with an arbitrary header and arbitrary claims: the input is
//! `<header JSON> NUL <claims JSON>`, both base64url-encoded and signed with HS256 under the
//! issuer's secret. Whatever the JSON says, `verify` accepts only a token whose header and
//! claims meet the policy, and the claims it returns are the token's
//! (`mcp_auth_fuzz::assert_acceptable`).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use mcp_auth_fuzz::{NOW, SECRET, assert_acceptable, authenticator};

fuzz_target!(|data: &[u8]| {
    let (header, claims) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let signature = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    let token = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    );
    if let Ok(verified) = authenticator().verify(&token, NOW) {
        assert_acceptable(&token, &verified);
    }
});
