//! Finding out who is calling.

use std::fmt;
use std::sync::Arc;

use tonic::metadata::MetadataMap;

use crate::error::AuthError;

/// What an authenticator may look at: the call's metadata and extensions (where tonic puts
/// the peer's TLS certificates), and the time of the check.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The request metadata (HTTP/2 headers).
    pub metadata: &'a MetadataMap,
    /// The request extensions.
    pub extensions: &'a tonic::Extensions,
    /// The time of the check, in seconds since the Unix epoch, from the authorizer's clock.
    pub now: u64,
}

/// The kind of credential an authenticator verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credential {
    /// A bearer token.
    Jwt,
    /// A verified client certificate.
    Mtls,
}

/// A verified caller.
#[derive(Debug)]
pub struct Authentication<C> {
    /// The caller's claims.
    pub claims: Arc<C>,
    /// How the caller proved who it is.
    pub credential: Credential,
}

/// Verifies the credentials of a call.
///
/// Implementations must fail closed: anything they cannot verify is an error, never an
/// anonymous or default identity.
pub trait Authenticator<C>: Send + Sync + fmt::Debug + 'static {
    /// Verifies the call's credentials and returns the caller's claims.
    fn authenticate(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError>;
}

impl<C, A: Authenticator<C> + ?Sized> Authenticator<C> for Arc<A> {
    fn authenticate(&self, call: &CallContext<'_>) -> Result<Authentication<C>, AuthError> {
        (**self).authenticate(call)
    }
}

/// The default cap on the length of a bearer token, 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Reads the bearer token of a call: exactly one `authorization` value of the form
/// `Bearer <token>` (the scheme is case-insensitive, RFC 7235), the token at most `max_len`
/// bytes and an RFC 6750 `b64token`: at least one character of `A-Z a-z 0-9 - . _ ~ + /`,
/// then only `=` padding.
///
/// Returns [`AuthError::MissingCredentials`] when there is no `authorization` entry at all.
pub fn bearer_token(metadata: &MetadataMap, max_len: usize) -> Result<&str, AuthError> {
    let value = authorization(metadata)?;
    // One pass over the bytes for the well-formed case; anything else is named below.
    if let Some(token) = after_bearer(value, max_len)
        && let body = padded(token)
        && !body.is_empty()
        && is_b64token(body)
        && let Ok(token) = std::str::from_utf8(token)
    {
        return Ok(token);
    }
    Err(malformed(value, max_len))
}

/// What follows `Bearer ` in the call's one `authorization` value, at most `max_len` bytes,
/// **not checked against the token grammar**: for looking up a cache of tokens that passed
/// [`bearer_token`] (an equal token passed it too). `None` wherever [`bearer_token`] fails
/// on the header's shape.
#[inline]
pub(crate) fn bearer_candidate(metadata: &MetadataMap, max_len: usize) -> Option<&[u8]> {
    authorization(metadata)
        .ok()
        .and_then(|value| after_bearer(value, max_len))
}

/// The call's one `authorization` value.
#[inline]
fn authorization(metadata: &MetadataMap) -> Result<&[u8], AuthError> {
    // By the standard header name: no parse of the name per call.
    let headers: &tonic::codegen::http::HeaderMap = metadata.as_ref();
    let mut values = headers
        .get_all(tonic::codegen::http::header::AUTHORIZATION)
        .iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingCredentials);
    };
    if values.next().is_some() {
        return Err(AuthError::MalformedAuthorization(
            "more than one authorization value",
        ));
    }
    Ok(value.as_bytes())
}

/// The token after a case-insensitive `Bearer ` scheme, if at most `max_len` bytes.
#[inline]
fn after_bearer(value: &[u8], max_len: usize) -> Option<&[u8]> {
    value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|_| &value[7..])
        .filter(|token| token.len() <= max_len)
}

/// `token` without its trailing `=` padding (RFC 6750 2.1:
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`).
fn padded(token: &[u8]) -> &[u8] {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    &token[..token.len() - padding]
}

/// Whether every byte is one of RFC 6750's `b64token` characters before the padding: ASCII
/// letters, digits and `-._~+/`.
///
/// Branch-free per byte and folded 32 bytes at a time, so the compiler checks a chunk with
/// vector compares instead of a byte at a time (a 300-byte token in a few nanoseconds).
fn is_b64token(token: &[u8]) -> bool {
    fn byte(b: u8) -> bool {
        // `| 0x20` folds upper case onto lower case and maps nothing else into `a..=z`.
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        // `-`, `.`, `/` and the digits are one run of ASCII: 0x2D..=0x39.
        let digit_or_punct = b.wrapping_sub(b'-') <= b'9' - b'-';
        let other = (b == b'_') | (b == b'~') | (b == b'+');
        letter | digit_or_punct | other
    }
    let chunks = token.chunks_exact(32);
    let rest = chunks.remainder();
    chunks
        .into_iter()
        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & byte(b)))
        && rest.iter().all(|&b| byte(b))
}

/// What is wrong with an `authorization` value that is not a well-formed bearer token.
#[cold]
fn malformed(value: &[u8], max_len: usize) -> AuthError {
    let Ok(value) = std::str::from_utf8(value) else {
        return AuthError::MalformedAuthorization("authorization is not visible ASCII");
    };
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return AuthError::MalformedAuthorization("authorization is not visible ASCII");
    }
    let Some((scheme, token)) = value.split_once(' ') else {
        return AuthError::MalformedAuthorization("not `Bearer <token>`");
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return AuthError::MalformedAuthorization("scheme is not Bearer");
    }
    if token.is_empty() {
        return AuthError::MalformedAuthorization("empty token");
    }
    if token.len() > max_len {
        return AuthError::MalformedAuthorization("token too long");
    }
    let body = token.trim_end_matches('=');
    if body.is_empty() {
        return AuthError::MalformedAuthorization("token is only `=` padding");
    }
    if body.contains('=') {
        return AuthError::MalformedAuthorization("`=` inside the token, not at its end");
    }
    AuthError::MalformedAuthorization("token has characters outside b64token")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn metadata(values: &[&str]) -> MetadataMap {
        let mut map = MetadataMap::new();
        for v in values {
            map.append("authorization", MetadataValue::try_from(*v).unwrap());
        }
        map
    }

    #[test]
    fn reads_exactly_one_bearer_token() {
        assert_eq!(bearer_token(&metadata(&["Bearer a.b.c"]), 64), Ok("a.b.c"));
        assert_eq!(bearer_token(&metadata(&["bearer a.b.c"]), 64), Ok("a.b.c"));
        assert_eq!(
            bearer_token(&metadata(&[]), 64),
            Err(AuthError::MissingCredentials)
        );
        for bad in [
            &["Bearer a.b.c", "Bearer a.b.c"][..],
            &["Basic dXNlcjpwYXNz"],
            &["Bearer"],
            &["Bearer "],
            &["Bearer  a.b.c"],
            &["Bearer a.b.c extra"],
            &["Bearer a\"b"],
            &["a.b.c"],
            &[""],
            // `=` is padding: only at the end, and never the whole token.
            &["Bearer a=b"],
            &["Bearer ="],
            &["Bearer ===="],
        ] {
            assert!(
                matches!(
                    bearer_token(&metadata(bad), 64),
                    Err(AuthError::MalformedAuthorization(_))
                ),
                "{bad:?} was accepted"
            );
        }
        assert!(bearer_token(&metadata(&["Bearer aaaaa"]), 4).is_err());
        assert_eq!(bearer_token(&metadata(&["Bearer ab=="]), 64), Ok("ab=="));
        assert_eq!(bearer_token(&metadata(&["Bearer aaaa"]), 4), Ok("aaaa"));
        let all = "Bearer azAZ09-._~+/=";
        assert_eq!(bearer_token(&metadata(&[all]), 64), Ok(&all[7..]));
        // Every byte, alone and inside a 32-byte chunk, against the RFC's alphabet.
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token(&[b]), expected, "{b:#x}");
            let mut chunk = [b'a'; 40];
            chunk[17] = b;
            assert_eq!(is_b64token(&chunk), expected, "{b:#x} in a chunk");
        }
    }

    #[test]
    fn each_malformed_value_is_named() {
        let reason = |value: &str, max| match bearer_token(&metadata(&[value]), max) {
            Err(AuthError::MalformedAuthorization(reason)) => reason,
            other => panic!("{value:?}: {other:?}"),
        };
        assert_eq!(reason("Bearer a.b.c", 3), "token too long");
        assert_eq!(reason("Bearer ", 64), "empty token");
        assert_eq!(reason("Bearer", 64), "not `Bearer <token>`");
        assert_eq!(reason("Basic abc", 64), "scheme is not Bearer");
        assert_eq!(
            reason("Bearer a\"b", 64),
            "token has characters outside b64token"
        );
        assert_eq!(
            reason("Bearer a\tb", 64),
            "token has characters outside b64token"
        );
        assert_eq!(reason("Bearer ==", 64), "token is only `=` padding");
        assert_eq!(
            reason("Bearer a=b", 64),
            "`=` inside the token, not at its end"
        );
        let mut map = MetadataMap::new();
        map.insert(
            "authorization",
            MetadataValue::try_from(&b"Bearer a\xffb"[..]).unwrap(),
        );
        assert_eq!(
            bearer_token(&map, 64),
            Err(AuthError::MalformedAuthorization(
                "authorization is not visible ASCII"
            ))
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The RFC 6750 grammar, written independently of the parser: one value,
        /// `Bearer` in any case, one space, a b64token of at most `max` bytes.
        fn is_bearer(value: &[u8], max: usize) -> bool {
            let Some(token) = value
                .get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
                .map(|_| &value[7..])
            else {
                return false;
            };
            let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
            let body = &token[..token.len() - padding];
            !body.is_empty()
                && token.len() <= max
                && body
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
        }

        /// Header values: mostly near the grammar (a scheme, a space, token characters and
        /// the characters around them), sometimes any bytes a header value may hold.
        fn value() -> impl Strategy<Value = Vec<u8>> {
            let near = (
                prop::sample::select(vec![
                    "Bearer ", "bearer ", "BEARER ", "Bearer", "Basic ", "Bearer  ", "",
                ]),
                r#"[A-Za-z0-9._~+/=\\ "\t,:-]{0,12}"#,
            )
                .prop_map(|(scheme, token)| format!("{scheme}{token}").into_bytes());
            let any = prop::collection::vec(
                prop::num::u8::ANY.prop_filter("a header value byte", |b| {
                    *b == b'\t' || (*b >= 0x20 && *b != 0x7f)
                }),
                0..16,
            );
            prop_oneof![4 => near, 1 => any]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Never a panic; a token is returned exactly when the only value is
            /// `Bearer <b64token>`, and it is the rest of that value.
            #[test]
            fn accepts_exactly_one_bearer_b64token(values in prop::collection::vec(value(), 0..3), max in 1usize..12) {
                let mut map = MetadataMap::new();
                for value in &values {
                    map.append("authorization", tonic::metadata::MetadataValue::try_from(value.as_slice()).unwrap());
                }
                let result = bearer_token(&map, max);
                let expected = values.len() == 1 && is_bearer(&values[0], max);
                prop_assert_eq!(result.is_ok(), expected, "{:?} -> {:?}", values, result);
                if let Ok(token) = result {
                    prop_assert_eq!(token.as_bytes(), &values[0][7..]);
                }
                if values.is_empty() {
                    prop_assert_eq!(result, Err(AuthError::MissingCredentials));
                }
            }
        }
    }
}
