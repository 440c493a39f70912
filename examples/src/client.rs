//! What the clients share: connecting, and putting a token on a request.

use std::path::Path;

use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `http://HOST:PORT`, or `https://HOST:PORT` for TLS.
    pub server: String,
    /// The CA that signed the server's certificate (PEM file), for TLS.
    pub ca_cert: Option<std::path::PathBuf>,
    /// The client's certificate chain and key (PEM files), for mTLS.
    pub identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The name to check the server's certificate against, if not the host of `server`.
    pub domain: Option<String>,
}

impl Connection {
    /// Connects (plain HTTP/2, or TLS when any TLS option is set or the URL is `https`).
    pub async fn connect(&self) -> Result<Channel, String> {
        let mut endpoint = Channel::from_shared(self.server.clone())
            .map_err(|e| format!("{}: {e}", self.server))?
            .connect_timeout(std::time::Duration::from_secs(10));
        let tls = self.server.starts_with("https://")
            || self.ca_cert.is_some()
            || self.identity.is_some();
        if tls {
            let mut config = ClientTlsConfig::new();
            if let Some(ca) = &self.ca_cert {
                config = config.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let Some((cert, key)) = &self.identity {
                config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            if let Some(domain) = &self.domain {
                config = config.domain_name(domain.clone());
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| format!("TLS: {e}"))?;
        }
        endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.server))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `message` with `authorization: Bearer <token>` when there is a token.
pub fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token
        && let Ok(value) = MetadataValue::try_from(format!("Bearer {token}"))
    {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// The name of a gRPC status code as the gRPC spec writes it (`PERMISSION_DENIED`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
