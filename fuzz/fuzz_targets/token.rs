//! Arbitrary bytes as a bearer token, through the JWT authenticator (metadata, verified-token
//! cache and `verify`) of an HS256 issuer: always an error, unless the token really is one the
//! issuer signed and the policy accepts (`mcp_auth_fuzz::assert_acceptable`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth::{Authenticator, CallContext};
use mcp_auth_fuzz::{NOW, assert_acceptable, authenticator};
use tonic::metadata::{MetadataMap, MetadataValue};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    if let Ok(claims) = authenticator().verify(&token, NOW) {
        assert_acceptable(&token, &claims);
    }
    let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) else {
        return;
    };
    let mut metadata = MetadataMap::new();
    metadata.insert("authorization", value);
    let extensions = tonic::Extensions::new();
    let call = CallContext {
        metadata: &metadata,
        extensions: &extensions,
        now: NOW,
    };
    if let Ok(authentication) = authenticator().authenticate(&call) {
        assert_acceptable(&token, &authentication.claims);
    }
});
