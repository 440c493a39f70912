//! Callers identified by a client certificate (mutual TLS).
//!
//! The TLS handshake (tonic's rustls server with a client CA) has already verified the chain;
//! this module names the caller from the verified leaf certificate and maps that name to scopes:
//!
//! 1. the SPIFFE ID in the URI SAN: a leaf with URI SANs must have exactly one, and it must be a
//!    `spiffe://` URI;
//! 2. else the first DNS SAN (`dns:` + name);
//! 3. else the subject common name (`cn:` + name).
//!
//! A leaf that is a CA certificate (`basicConstraints CA:TRUE`) identifies nobody. Identities
//! are only ever read from the TLS connection, never from request metadata.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::AuthError;

/// The identity of a caller that presented a verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    name: String,
    kind: PeerIdentityKind,
    not_after: u64,
    scopes: Arc<[String]>,
}

/// Where a [`PeerIdentity`]'s name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerIdentityKind {
    /// The SPIFFE ID of the URI SAN (`spiffe://trust-domain/path`).
    Spiffe,
    /// The first DNS SAN, written `dns:<name>`.
    Dns,
    /// The subject common name, written `cn:<name>`.
    CommonName,
}

impl PeerIdentity {
    /// The identity: a SPIFFE ID, `dns:<name>` or `cn:<name>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the name comes from.
    pub fn kind(&self) -> PeerIdentityKind {
        self.kind
    }

    /// When the certificate expires, in seconds since the Unix epoch.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// The scopes configured for this identity.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the identity was granted `scope`; matched exactly.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Names client certificates and grants their identities scopes.
///
/// ```
/// let identities = mcp_auth::mtls::PeerIdentities::new()
///     .grant("spiffe://example.org/agent", ["tools:list", "tools:call"])
///     .grant("dns:indexer.internal", ["tools:list"]);
/// # let _ = identities;
/// ```
///
/// An identity without a grant is authenticated but holds no scope: it can call RPCs marked
/// `authenticated: true` and nothing that needs a scope.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentities {
    grants: HashMap<String, Arc<[String]>>,
}

impl PeerIdentities {
    /// No grants yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `scopes` to the certificate identity `identity` (a SPIFFE ID, `dns:<name>` or
    /// `cn:<name>`). Granting the same identity again replaces its scopes.
    pub fn grant<S: Into<String>>(
        mut self,
        identity: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.grants.insert(identity.into(), scopes.into());
        self
    }

    /// Names the caller of a call from the verified certificate chain of its TLS connection
    /// (leaf first). `Ok(None)` when the connection carries no client certificate.
    pub fn identify(
        &self,
        extensions: &tonic::Extensions,
    ) -> Result<Option<Arc<PeerIdentity>>, AuthError> {
        let Some(info) = extensions.get::<tonic::transport::server::TlsConnectInfo<
            tonic::transport::server::TcpConnectInfo,
        >>() else {
            return Ok(None);
        };
        let Some(chain) = info.peer_certs() else {
            return Ok(None);
        };
        let Some(leaf) = chain.first() else {
            return Ok(None);
        };
        self.identify_der(leaf.as_ref())
            .map(|identity| Some(Arc::new(identity)))
    }

    /// Names the holder of a DER-encoded leaf certificate, which the caller has verified.
    pub fn identify_der(&self, der: &[u8]) -> Result<PeerIdentity, AuthError> {
        let bad = |what: &'static str| AuthError::InvalidCertificate(what);
        let (rest, certificate) =
            X509Certificate::from_der(der).map_err(|_| bad("unparsable certificate"))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the certificate"));
        }
        let constraints = certificate
            .basic_constraints()
            .map_err(|_| bad("duplicate basicConstraints"))?;
        if constraints.is_some_and(|c| c.value.ca) {
            return Err(bad("a CA certificate is not a client identity"));
        }
        let names = certificate
            .subject_alternative_name()
            .map_err(|_| bad("malformed subjectAltName"))?
            .map(|san| san.value.general_names.clone())
            .unwrap_or_default();
        let uris: Vec<&str> = names
            .iter()
            .filter_map(|n| match n {
                GeneralName::URI(uri) => Some(*uri),
                _ => None,
            })
            .collect();
        let (kind, name) = match uris.as_slice() {
            [uri] if uri.starts_with("spiffe://") && uri.len() > "spiffe://".len() => {
                (PeerIdentityKind::Spiffe, (*uri).to_owned())
            }
            [_] => return Err(bad("the URI SAN is not a SPIFFE ID")),
            [_, _, ..] => return Err(bad("more than one URI SAN")),
            [] => {
                let dns = names.iter().find_map(|n| match n {
                    GeneralName::DNSName(name) if !name.is_empty() => Some(*name),
                    _ => None,
                });
                match dns {
                    Some(dns) => (PeerIdentityKind::Dns, format!("dns:{dns}")),
                    None => {
                        let cn = certificate
                            .subject()
                            .iter_common_name()
                            .next()
                            .and_then(|cn| cn.as_str().ok())
                            .filter(|cn| !cn.is_empty())
                            .ok_or(bad("no SPIFFE ID, DNS SAN or common name"))?;
                        (PeerIdentityKind::CommonName, format!("cn:{cn}"))
                    }
                }
            }
        };
        let not_after = u64::try_from(certificate.validity().not_after.timestamp()).unwrap_or(0);
        let scopes = self
            .grants
            .get(&name)
            .cloned()
            .unwrap_or_else(|| Arc::from([]));
        Ok(PeerIdentity {
            name,
            kind,
            not_after,
            scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

    fn leaf(configure: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        configure(&mut params);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn uri(s: &str) -> SanType {
        SanType::URI(s.try_into().unwrap())
    }

    #[test]
    fn names_come_from_spiffe_then_dns_then_cn() {
        let ids = PeerIdentities::new().grant("spiffe://example.org/agent", ["tools:call"]);
        let spiffe = ids
            .identify_der(&leaf(|p| {
                p.subject_alt_names = vec![
                    uri("spiffe://example.org/agent"),
                    SanType::DnsName("agent.internal".try_into().unwrap()),
                ];
            }))
            .unwrap();
        assert_eq!(spiffe.name(), "spiffe://example.org/agent");
        assert_eq!(spiffe.kind(), PeerIdentityKind::Spiffe);
        assert!(spiffe.has_scope("tools:call"));
        assert!(!spiffe.has_scope("tools:list"));

        let dns = ids
            .identify_der(&leaf(|p| {
                p.subject_alt_names = vec![SanType::DnsName("a.internal".try_into().unwrap())];
                p.distinguished_name.push(DnType::CommonName, "ignored");
            }))
            .unwrap();
        assert_eq!(dns.name(), "dns:a.internal");
        assert!(dns.scopes().is_empty());

        let cn = ids
            .identify_der(&leaf(|p| {
                p.distinguished_name.push(DnType::CommonName, "batch")
            }))
            .unwrap();
        assert_eq!(cn.name(), "cn:batch");
    }

    #[test]
    fn ambiguous_or_ca_certificates_identify_nobody() {
        let ids = PeerIdentities::new();
        let two = leaf(|p| {
            p.subject_alt_names = vec![uri("spiffe://a/x"), uri("spiffe://a/y")];
        });
        assert_eq!(
            ids.identify_der(&two),
            Err(AuthError::InvalidCertificate("more than one URI SAN"))
        );
        let not_spiffe = leaf(|p| p.subject_alt_names = vec![uri("https://a/x")]);
        assert!(ids.identify_der(&not_spiffe).is_err());
        let ca = leaf(|p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, "root");
        });
        assert_eq!(
            ids.identify_der(&ca),
            Err(AuthError::InvalidCertificate(
                "a CA certificate is not a client identity"
            ))
        );
        let anonymous = leaf(|_| {});
        assert!(ids.identify_der(&anonymous).is_err());
        assert!(ids.identify_der(b"garbage").is_err());
    }
}
