//! The server's command line, checked as a whole before anything is served.
//!
//! [`ServerArgs`] are the flags of `mcp-server`; [`ServerArgs::prepare`] reads every file they
//! name, builds the authorizer, the TLS acceptor and the root, fetches the JWKS URL and
//! connects to Redis, and fails with one message naming the flag at the first problem. Only
//! a [`Prepared`] server can be served, so the server never starts half-configured, and never
//! without a way to authenticate callers.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mcp_auth::coverage::CoverageLayer;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::mtls::PeerIdentities;
use mcp_auth::rate_limit::RateLimit;
use mcp_auth::server::{HardenedLayers, HardenedServer};
use mcp_auth::{AuditEvent, Authorizer, StandardClaims};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::proto::health::health_auth;
use crate::proto::mcp::mcp_service_auth;
use crate::root::Root;
use crate::service::{HealthServer, McpServer};

/// The flags of `mcp-server`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mcp-server",
    version,
    about = "An MCP tool server over gRPC: file tools confined to --root, every RPC authorized by mcp-auth",
    after_help = "At least one way to authenticate callers is required: bearer tokens (--issuer, \
                  --audience and a key source) or client certificates (--tls-cert, --tls-key, \
                  --client-ca and --mtls-identity), or both."
)]
pub struct ServerArgs {
    /// The address to listen on; prints `listening on ADDR` once it accepts calls (port 0
    /// picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// The directory the tools read and write; nothing outside it is touched.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// The `iss` every token must carry.
    #[arg(long, value_name = "ISSUER")]
    pub issuer: Option<String>,

    /// The `aud` every token must carry (this server's name).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,

    /// A JWK set file with the keys that verify tokens.
    #[arg(long, value_name = "PATH")]
    pub jwks_file: Option<PathBuf>,

    /// The issuer's JWKS URL, fetched before serving and refreshed in the background (https,
    /// or http to a loopback address).
    #[arg(long, value_name = "URL")]
    pub jwks_url: Option<String>,

    /// A file holding an HS256 secret (at least 32 bytes; one trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    pub hs256_secret_file: Option<PathBuf>,

    /// The server's certificate chain (PEM); serves TLS with --tls-key.
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,

    /// The server's private key (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,

    /// The CA (PEM) that signs client certificates. Without a token key source every client
    /// must present one; with one, a certificate is optional and callers may use either.
    #[arg(long, value_name = "PATH")]
    pub client_ca: Option<PathBuf>,

    /// Grants scopes to a client certificate identity (`spiffe://...`, `dns:NAME` or
    /// `cn:NAME`), e.g. `spiffe://example.org/indexer=tools:list,tools:call`. Repeatable.
    #[arg(long = "mtls-identity", value_name = "ID=SCOPE,SCOPE")]
    pub mtls_identities: Vec<String>,

    /// Calls and stream messages per second per caller and RPC (bursts of twice as many),
    /// where the proto sets no limit. Default: 100 calls and 1,000 messages per second.
    #[arg(long, value_name = "N")]
    pub rate_limit_per_second: Option<u32>,

    /// Counts rate limits in this Redis (`redis://host:port/db`), one budget shared by every
    /// replica, instead of in memory. Checked at start-up; a call is refused while Redis is
    /// unreachable.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
}

/// Why the server did not start: one message that names the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn fail<T>(message: impl Into<String>) -> Result<T, StartError> {
    Err(StartError(message.into()))
}

/// A server whose every flag has been checked and every file read: ready to serve.
pub struct Prepared {
    listen: SocketAddr,
    server: Server<HardenedLayers>,
    mcp: McpServer,
    authorizer: Authorizer<StandardClaims>,
    tls: bool,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("listen", &self.listen)
            .field("mcp", &self.mcp)
            .field("authorizer", &self.authorizer)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl ServerArgs {
    /// Checks every flag, reads every file, and builds what the server needs. Fetches the
    /// JWKS URL and connects to Redis, so it runs on the runtime that will serve.
    pub async fn prepare(&self) -> Result<Prepared, StartError> {
        let root = self.root()?;
        let tokens = self.token_authenticator().await?;
        let certificates = self.certificate_identities()?;
        let tls = self.tls(tokens.is_some())?;

        let mut authorizer = Authorizer::<StandardClaims>::builder().audit_sink(print_audit);
        match (tokens, certificates) {
            (None, None) => {
                return fail(
                    "no authentication configured: give --issuer and --audience with a key source \
                     (--jwks-file, --jwks-url or --hs256-secret-file), or client certificates \
                     (--tls-cert, --tls-key, --client-ca and --mtls-identity)",
                );
            }
            (tokens, certificates) => {
                if let Some(tokens) = tokens {
                    authorizer = authorizer.token(tokens);
                }
                if let Some(certificates) = certificates {
                    authorizer = authorizer.client_certificates(certificates);
                }
            }
        }
        if let Some(per_second) = self.rate_limit_per_second {
            if per_second == 0 {
                return fail("--rate-limit-per-second must be at least 1");
            }
            let limit = RateLimit::new(per_second, per_second.saturating_mul(2));
            authorizer = authorizer
                .default_rate_limit(limit)
                .default_message_rate_limit(limit);
        }
        if let Some(url) = &self.redis_url {
            let limiter = mcp_auth::rate_limit::RedisRateLimiter::connect(url)
                .await
                .map_err(|e| StartError(format!("--redis-url: {e}")))?;
            authorizer = authorizer.rate_limiter(limiter);
        }
        let authorizer = authorizer.build().map_err(|e| StartError(e.to_string()))?;

        let mut server = HardenedServer::new().build();
        let tls_on = tls.is_some();
        if let Some(tls) = tls {
            server = server
                .tls_config(tls)
                .map_err(|e| StartError(format!("--tls-cert/--tls-key/--client-ca: {e}")))?;
        }
        if !tls_on && !self.listen.ip().is_loopback() {
            eprintln!(
                "mcp-server: warning: {} is not a loopback address and TLS is off: bearer \
                 tokens will cross the network in clear text (add --tls-cert and --tls-key)",
                self.listen
            );
        }
        Ok(Prepared {
            listen: self.listen,
            server,
            mcp: McpServer::new(root),
            authorizer,
            tls: tls_on,
        })
    }

    fn root(&self) -> Result<Root, StartError> {
        let Some(path) = &self.root else {
            return fail("--root is required: the directory the tools may read and write");
        };
        Root::open(path).map_err(|e| StartError(format!("--root {}: {e}", path.display())))
    }

    /// The bearer-token authenticator, if the flags configure one.
    async fn token_authenticator(
        &self,
    ) -> Result<Option<JwtAuthenticator<StandardClaims>>, StartError> {
        let sources: Vec<&str> = [
            self.jwks_file.as_ref().map(|_| "--jwks-file"),
            self.jwks_url.as_ref().map(|_| "--jwks-url"),
            self.hs256_secret_file
                .as_ref()
                .map(|_| "--hs256-secret-file"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let Some(first_source) = sources.first() else {
            for (flag, value) in [("--issuer", &self.issuer), ("--audience", &self.audience)] {
                if value.is_some() {
                    return fail(format!(
                        "{flag} is set but nothing verifies tokens: add a key source \
                         (--jwks-file, --jwks-url or --hs256-secret-file)"
                    ));
                }
            }
            return Ok(None);
        };
        let issuer = match self.issuer.as_deref() {
            Some(issuer) if !issuer.is_empty() => issuer,
            _ => {
                return fail(format!(
                    "{first_source} needs --issuer (the `iss` your tokens carry)"
                ));
            }
        };
        let audience = match self.audience.as_deref() {
            Some(audience) if !audience.is_empty() => audience,
            _ => {
                return fail(format!(
                    "{first_source} needs --audience (this server's `aud`)"
                ));
            }
        };
        let mut builder = JwtAuthenticator::<StandardClaims>::builder()
            .issuer(issuer)
            .audience(audience);
        if let Some(path) = &self.jwks_file {
            read_file("--jwks-file", path)?;
            builder = builder.jwk_set_file(path);
        }
        if let Some(path) = &self.hs256_secret_file {
            let mut secret = read_file("--hs256-secret-file", path)?;
            if secret.ends_with(b"\n") {
                secret.pop();
                if secret.ends_with(b"\r") {
                    secret.pop();
                }
            }
            if secret.len() < 32 {
                return fail(format!(
                    "--hs256-secret-file {}: the secret has {} bytes; HS256 needs at least 32",
                    path.display(),
                    secret.len()
                ));
            }
            builder = builder.key(JwtKey::hs256(&secret));
        }
        let authenticator = match &self.jwks_url {
            Some(url) => builder
                .jwks_url(url)
                .build_async()
                .await
                .map_err(|e| StartError(format!("--jwks-url {url}: {e}")))?,
            None => builder.build().map_err(|e| {
                let flag = if self.jwks_file.is_some() {
                    "--jwks-file"
                } else {
                    "--hs256-secret-file"
                };
                StartError(format!("{flag}: {e}"))
            })?,
        };
        Ok(Some(authenticator))
    }

    /// The scopes granted to client certificate identities, if the flags grant any.
    fn certificate_identities(&self) -> Result<Option<PeerIdentities>, StartError> {
        if self.mtls_identities.is_empty() {
            return Ok(None);
        }
        if self.client_ca.is_none() {
            return fail(
                "--mtls-identity needs --client-ca (the CA that signs the client certificates)",
            );
        }
        let mut identities = PeerIdentities::new();
        let mut seen = std::collections::HashSet::new();
        for grant in &self.mtls_identities {
            let (identity, scopes) = parse_identity_grant(grant)?;
            if !seen.insert(identity.clone()) {
                return fail(format!("--mtls-identity: {identity} is granted twice"));
            }
            identities = identities.grant(identity, scopes);
        }
        Ok(Some(identities))
    }

    /// The TLS configuration, if the flags ask for TLS. `tokens`: whether bearer tokens are
    /// accepted too, which makes a client certificate optional.
    fn tls(&self, tokens: bool) -> Result<Option<ServerTlsConfig>, StartError> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => {
                if self.client_ca.is_some() {
                    return fail(
                        "--client-ca needs --tls-cert and --tls-key: client certificates are \
                         checked in the TLS handshake",
                    );
                }
                return Ok(None);
            }
            (Some(_), None) => {
                return fail("--tls-cert needs --tls-key (the certificate's private key)");
            }
            (None, Some(_)) => return fail("--tls-key needs --tls-cert (the certificate chain)"),
            (Some(cert), Some(key)) => (cert, key),
        };
        let cert_pem = read_pem("--tls-cert", cert, "CERTIFICATE")?;
        let key_pem = read_pem("--tls-key", key, "PRIVATE KEY")?;
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
        if let Some(ca) = &self.client_ca {
            let ca_pem = read_pem("--client-ca", ca, "CERTIFICATE")?;
            tls = tls
                .client_ca_root(Certificate::from_pem(ca_pem))
                .client_auth_optional(tokens);
        }
        Ok(Some(tls))
    }
}

impl Prepared {
    /// Binds the listen address, calls `on_ready` with the bound address, and serves until
    /// `shutdown` completes (calls in flight finish first).
    pub async fn serve(
        self,
        on_ready: impl FnOnce(SocketAddr),
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StartError> {
        let hardened = HardenedServer::new();
        let incoming = hardened
            .bind(self.listen)
            .map_err(|e| StartError(format!("--listen {}: {e}", self.listen)))?;
        let addr = incoming
            .local_addr()
            .map_err(|e| StartError(format!("--listen {}: {e}", self.listen)))?;
        let router = self
            .server
            // Any path without an mcp-auth policy answers UNIMPLEMENTED, so a service mounted
            // without its generated `server()` could never be served unchecked.
            .layer(CoverageLayer::new([
                &mcp_service_auth::POLICY,
                &health_auth::POLICY,
            ]))
            .add_service(mcp_service_auth::server(self.mcp, self.authorizer.clone()))
            .add_service(health_auth::server(HealthServer, self.authorizer));
        on_ready(addr);
        router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| StartError(format!("serving failed: {e}")))
    }

    /// Whether the server serves TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }
}

/// Parses `ID=SCOPE,SCOPE`: the identity as `PeerIdentities` names callers, and at least one
/// scope.
fn parse_identity_grant(grant: &str) -> Result<(String, Vec<String>), StartError> {
    let usage = || {
        StartError(format!(
            "--mtls-identity {grant:?}: expected ID=SCOPE[,SCOPE...], e.g. \
             spiffe://example.org/indexer=tools:list,tools:call"
        ))
    };
    let (identity, scopes) = grant.split_once('=').ok_or_else(usage)?;
    let known = ["spiffe://", "dns:", "cn:"];
    if !known
        .iter()
        .any(|p| identity.len() > p.len() && identity.starts_with(p))
    {
        return fail(format!(
            "--mtls-identity {grant:?}: the identity must be a SPIFFE ID (spiffe://...), \
             dns:NAME or cn:NAME, as certificate callers are named"
        ));
    }
    let scopes: Vec<String> = scopes.split(',').map(str::to_owned).collect();
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return fail(format!(
            "--mtls-identity {grant:?}: {bad:?} is not a scope (printable ASCII without \
             spaces, quotes or backslashes)"
        ));
    }
    Ok((identity.to_owned(), scopes))
}

/// RFC 6749 `scope-token`: `%x21 / %x23-5B / %x5D-7E`, at least one.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path)
        .map_err(|e| StartError(format!("{flag} {}: cannot read it: {e}", path.display())))
}

fn read_pem(flag: &str, path: &Path, label: &str) -> Result<Vec<u8>, StartError> {
    let pem = read_file(flag, path)?;
    let text = String::from_utf8_lossy(&pem);
    if !text.contains("-----BEGIN ") || !text.contains(&format!("{label}-----")) {
        return fail(format!("{flag} {}: no PEM `{label}` in it", path.display()));
    }
    Ok(pem)
}

/// Writes every authorization decision to stderr, one line each (the token never appears).
fn print_audit(event: &AuditEvent<'_>) {
    let mut line = format!(
        "audit: {} {} reason={}",
        event.decision.as_str(),
        event.method,
        event.reason
    );
    if let Some(subject) = event.subject {
        line.push_str(&format!(" subject={subject:?}"));
    }
    if let Some(certificate) = event.certificate {
        line.push_str(&format!(" certificate={certificate:?}"));
    }
    if let Some(detail) = event.detail {
        line.push_str(&format!(" detail={detail:?}"));
    }
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_grants() {
        assert_eq!(
            parse_identity_grant("spiffe://example.org/a=tools:list,tools:call").unwrap(),
            (
                "spiffe://example.org/a".to_owned(),
                vec!["tools:list".to_owned(), "tools:call".to_owned()]
            )
        );
        assert!(parse_identity_grant("dns:indexer.internal=files:read").is_ok());
        for bad in [
            "spiffe://example.org/a",
            "spiffe://example.org/a=",
            "spiffe://example.org/a=tools:list,",
            "indexer=tools:list",
            "cn:=tools:list",
            "dns:x=has space",
        ] {
            assert!(parse_identity_grant(bad).is_err(), "{bad}");
        }
    }
}
