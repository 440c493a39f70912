//! `#[derive(mcp_auth::Claims)]` at run time: structs deserialized from token JSON, scopes from a
//! string and from a list, exact matching, optional times, and a derived struct verified from a
//! signed token by the JWT authenticator.

use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::Claims;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use serde::Deserialize;

/// An identity provider that sends both forms of scopes and a tenant of its own.
#[derive(Debug, Deserialize, Claims)]
struct ProviderClaims {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(not_before)]
    nbf: Option<u64>,
    #[claims(issued_at)]
    iat: Option<u64>,
    #[claims(scopes)]
    scope: Option<String>,
    #[claims(scopes)]
    #[serde(default)]
    scp: Vec<String>,
    tenant: String,
}

fn provider(json: &str) -> ProviderClaims {
    serde_json::from_str(json).unwrap()
}

#[test]
fn scopes_come_from_the_string_and_the_list() {
    let claims = provider(
        r#"{"sub":"alice","exp":20,"scope":"files:read tools:list","scp":["tools:call"],"tenant":"t1"}"#,
    );
    assert_eq!(claims.subject(), "alice");
    assert_eq!(claims.expires_at(), 20);
    assert_eq!(claims.tenant, "t1");
    for granted in ["files:read", "tools:list", "tools:call"] {
        assert!(claims.has_scope(granted), "{granted}");
    }
    assert!(!claims.has_scope("files:write"));
}

#[test]
fn either_form_alone_is_enough() {
    let string_only = provider(r#"{"sub":"a","exp":1,"scope":"x y","tenant":"t"}"#);
    assert!(string_only.has_scope("x") && string_only.has_scope("y"));
    let list_only = provider(r#"{"sub":"a","exp":1,"scp":["x","y"],"tenant":"t"}"#);
    assert!(list_only.has_scope("x") && list_only.has_scope("y"));
    let neither = provider(r#"{"sub":"a","exp":1,"scope":null,"tenant":"t"}"#);
    assert!(!neither.has_scope("x"));
}

#[test]
fn scopes_match_exactly_token_by_token() {
    let claims = provider(
        r#"{"sub":"a","exp":1,"scope":"files:read  files","scp":["tools:call","a b"],"tenant":"t"}"#,
    );
    assert!(claims.has_scope("files:read"));
    assert!(claims.has_scope("files"));
    assert!(claims.has_scope("tools:call"));
    assert!(!claims.has_scope("files:read:all"), "no prefix grants");
    assert!(!claims.has_scope("file"), "no substring grants");
    assert!(!claims.has_scope("Files:Read"), "case matters");
    assert!(!claims.has_scope("tools"));
    assert!(!claims.has_scope(""), "the empty scope is never granted");
    assert!(
        !claims.has_scope("files:read files"),
        "one scope, not a list"
    );
    assert!(
        !claims.has_scope("a b"),
        "a list entry with a space is not a scope"
    );
    assert!(!claims.has_scope(" "));
}

#[test]
fn optional_times_are_none_when_absent_or_null() {
    let absent = provider(r#"{"sub":"a","exp":1,"tenant":"t"}"#);
    assert_eq!((absent.not_before(), absent.issued_at()), (None, None));
    let null = provider(r#"{"sub":"a","exp":1,"nbf":null,"iat":null,"tenant":"t"}"#);
    assert_eq!((null.not_before(), null.issued_at()), (None, None));
    let given = provider(r#"{"sub":"a","exp":9,"nbf":3,"iat":2,"tenant":"t"}"#);
    assert_eq!((given.not_before(), given.issued_at()), (Some(3), Some(2)));
}

#[test]
fn required_claims_and_strict_types_come_from_serde() {
    let parse = serde_json::from_str::<ProviderClaims>;
    assert!(
        parse(r#"{"exp":1,"tenant":"t"}"#).is_err(),
        "sub is required"
    );
    assert!(
        parse(r#"{"sub":"a","tenant":"t"}"#).is_err(),
        "exp is required"
    );
    assert!(parse(r#"{"sub":"a","exp":"1","tenant":"t"}"#).is_err());
    assert!(parse(r#"{"sub":"a","exp":1,"scope":["x"],"tenant":"t"}"#).is_err());
    assert!(parse(r#"{"sub":"a","exp":1,"scp":"x","tenant":"t"}"#).is_err());
}

/// Time claims as plain `u64`s, scopes in an optional list, stated formats.
#[derive(Deserialize, Claims)]
struct ListClaims {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(not_before)]
    nbf: u64,
    #[claims(issued_at)]
    iat: u64,
    #[claims(scopes = "list")]
    roles: Option<Vec<String>>,
    #[claims(scopes = "space_delimited")]
    #[serde(default)]
    scope: String,
}

#[test]
fn stated_formats_and_plain_times() {
    let claims: ListClaims = serde_json::from_str(
        r#"{"sub":"svc","exp":30,"nbf":10,"iat":9,"roles":["admin"],"scope":"read"}"#,
    )
    .unwrap();
    assert_eq!(claims.not_before(), Some(10));
    assert_eq!(claims.issued_at(), Some(9));
    assert!(claims.has_scope("admin") && claims.has_scope("read"));
    assert!(!claims.has_scope("admin read"));

    let claims: ListClaims =
        serde_json::from_str(r#"{"sub":"svc","exp":30,"nbf":10,"iat":9}"#).unwrap();
    assert!(!claims.has_scope("admin"));
    assert!(!claims.has_scope(""));
}

#[derive(Deserialize, Claims)]
#[claims(no_scopes)]
struct NoScopes {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    scope: Option<String>,
}

#[test]
fn no_scopes_grants_nothing_even_when_the_token_has_some() {
    let claims: NoScopes =
        serde_json::from_str(r#"{"sub":"svc","exp":1,"scope":"admin"}"#).unwrap();
    assert_eq!(claims.scope.as_deref(), Some("admin"));
    assert!(!claims.has_scope("admin"));
}

#[derive(Deserialize, Claims)]
struct WithExtra<Extra> {
    #[claims(subject)]
    sub: String,
    #[claims(expires_at)]
    exp: u64,
    #[claims(scopes)]
    scp: Vec<String>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize)]
struct Tenant {
    tenant: String,
}

#[test]
fn generic_claims() {
    let claims: WithExtra<Tenant> =
        serde_json::from_str(r#"{"sub":"a","exp":1,"scp":["x"],"tenant":"t9"}"#).unwrap();
    assert!(claims.has_scope("x"));
    assert_eq!(claims.extra.tenant, "t9");
}

const SECRET: &[u8] = b"claims test secret, at least 32 bytes";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "mcp-tests";
const NOW: u64 = 1_900_000_000;

fn sign(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

#[test]
fn the_authenticator_verifies_into_derived_claims_and_checks_their_times() {
    let authenticator = JwtAuthenticator::<ProviderClaims>::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(JwtKey::hs256(SECRET))
        .leeway_secs(0)
        .build()
        .unwrap();
    let token = |exp: u64, nbf: u64, iat: u64| {
        sign(serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "tenant": "t1",
            "exp": exp, "nbf": nbf, "iat": iat, "scp": ["tools:call"],
        }))
    };

    let claims = authenticator
        .verify(&token(NOW + 60, NOW - 1, NOW - 1), NOW)
        .unwrap();
    assert_eq!(claims.subject(), "alice");
    assert_eq!(claims.tenant, "t1");
    assert!(claims.has_scope("tools:call"));

    let expired = authenticator.verify(&token(NOW - 1, NOW - 60, NOW - 60), NOW);
    assert!(expired.is_err(), "expires_at is checked");
    let early = authenticator.verify(&token(NOW + 60, NOW + 30, NOW - 1), NOW);
    assert!(early.is_err(), "not_before is checked");
    let future = authenticator.verify(&token(NOW + 60, NOW - 1, NOW + 30), NOW);
    assert!(future.is_err(), "issued_at is checked");
}
