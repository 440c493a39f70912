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
    let mut values = metadata.get_all("authorization").iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingCredentials);
    };
    if values.next().is_some() {
        return Err(AuthError::MalformedAuthorization(
            "more than one authorization value",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::MalformedAuthorization("authorization is not visible ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AuthError::MalformedAuthorization("not `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MalformedAuthorization("scheme is not Bearer"));
    }
    if token.is_empty() {
        return Err(AuthError::MalformedAuthorization("empty token"));
    }
    if token.len() > max_len {
        return Err(AuthError::MalformedAuthorization("token too long"));
    }
    // RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let b64char = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
    if body.is_empty() || !body.bytes().all(b64char) {
        return Err(AuthError::MalformedAuthorization("token is not a b64token"));
    }
    Ok(token)
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
