//! Bearer tokens (JWT) verified with keys pinned to one algorithm each.
//!
//! The algorithm comes from the key, never from the token header: a token whose `alg` differs
//! from its key's is rejected, `none` is never accepted, and the header's `jku`, `x5u`, `jwk`
//! and `x5c` are never used to find a key. `kid` is an opaque lookup key.
//!
//! A token is a compact JWS of exactly three segments. Its signature is checked with aws-lc-rs,
//! with the key parsed once when it was loaded (not for every token, as `jsonwebtoken::decode`
//! does), before any claim is read; then `iss` (one string), `aud` (a string or an array naming
//! this server), the time claims and the claims' types. jsonwebtoken reads the keys (PEM, JWK).
//!
//! Keys come from the configuration ([`JwtKey`]: HMAC secrets, RSA, EC and Ed25519 public keys
//! in PEM, single JWKs), from JWK set files, and from JWKS URLs that are fetched before the
//! server starts, cached and refreshed in the background (see [`JwksOptions`]):
//!
//! ```no_run
//! # async fn run() -> Result<(), mcp_auth::ConfigError> {
//! use mcp_auth::jwt::JwtAuthenticator;
//! let authenticator = JwtAuthenticator::<mcp_auth::StandardClaims>::builder()
//!     .issuer("https://issuer.example")
//!     .audience("mcp-tools")
//!     .jwks_url("https://issuer.example/.well-known/jwks.json")
//!     .build_async()
//!     .await?;
//! # let _ = authenticator;
//! # Ok(()) }
//! ```

mod authenticator;
mod fetch;
mod jwk;
mod jwks;
mod key;
mod store;

pub use authenticator::{DEFAULT_LEEWAY_SECS, JwtAuthenticator, JwtAuthenticatorBuilder};
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksOptions, JwksStatus};
pub use key::JwtKey;
