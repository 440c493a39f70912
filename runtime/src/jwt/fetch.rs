//! One GET of a JWKS URL: the HTTP client, its limits, and the response's cache lifetime.
//!
//! The client is hyper-util's legacy client over HTTP/1.1 (hyper and hyper-util are in the
//! tree through tonic already), with rustls on aws-lc-rs and the Mozilla roots of
//! `webpki-roots` for `https://`. The Mozilla roots rather than the system store: the same
//! trust on every machine, including `scratch` and distroless images without a CA bundle. A
//! JWKS endpoint behind a private CA is reached through a loopback proxy, or served from a
//! file with [`jwk_set_file`](crate::jwt::JwtAuthenticatorBuilder::jwk_set_file).

use std::net::IpAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CACHE_CONTROL, HeaderMap, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::jwt::jwk::{self, JwkRules};
use crate::jwt::jwks::JwksOptions;
use crate::jwt::key::JwtKey;

/// Fetches one JWKS URL.
pub(crate) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    uri: Uri,
    options: JwksOptions,
    rules: JwkRules,
}

/// A fetched and parsed JWK set.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) keys: Vec<JwtKey>,
    /// How long the set may be used before the next refresh.
    pub(crate) ttl: Duration,
}

impl Fetcher {
    /// Checks the URL (https, or http to a loopback address or with
    /// [`JwksOptions::allow_plain_http`]) and makes the client.
    pub(crate) fn new(url: &str, options: JwksOptions, rules: JwkRules) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let host = uri.host().ok_or("the URL has no host")?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if options.allow_plain_http || is_loopback(host) => {}
            Some("http") => {
                return Err(
                    "plain http would let anyone on the path swap the keys: use https \
                     (http is accepted for loopback addresses, or with \
                     `JwksOptions::allow_plain_http`)"
                        .to_owned(),
                );
            }
            _ => return Err("the URL must be https".to_owned()),
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.timeout));
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| format!("TLS configuration: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // One fetch every few minutes: no pooled connection to go stale in between.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self {
            client,
            uri,
            options,
            rules,
        })
    }

    /// GETs the set, within the timeout and the size cap, and parses it.
    pub(crate) async fn fetch(&self) -> Result<Fetched, String> {
        let request = Request::get(self.uri.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .header(USER_AGENT, concat!("mcp-auth/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| format!("request: {e}"))?;
        let get = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
            if response.status() != StatusCode::OK {
                return Err(format!("status {}", response.status()));
            }
            let ttl = ttl(response.headers(), &self.options);
            let body = Limited::new(response.into_body(), self.options.max_body_bytes)
                .collect()
                .await
                .map_err(|e| format!("reading the body: {e}"))?
                .to_bytes();
            Ok((ttl, body))
        };
        let (ttl, body) = tokio::time::timeout(self.options.timeout, get)
            .await
            .map_err(|_| format!("no complete response within {:?}", self.options.timeout))??;
        let parsed = jwk::parse_set(&body, &self.rules)?;
        for skipped in &parsed.skipped {
            tracing::warn!(target: "mcp_auth::jwks", url = %self.uri, "skipped {skipped}");
        }
        Ok(Fetched {
            keys: parsed.keys,
            ttl,
        })
    }

    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The lifetime the response asks for (`Cache-Control: max-age`), within the configured
/// bounds; `no-store` and `no-cache` mean the shortest one, no directive the default.
pub(crate) fn ttl(headers: &HeaderMap, options: &JwksOptions) -> Duration {
    let mut max_age = None;
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for directive in directives {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return options.min_ttl;
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Some(seconds) = argument.and_then(|a| a.parse::<u64>().ok())
        {
            max_age = Some(max_age.map_or(seconds, |m: u64| m.min(seconds)));
        }
    }
    max_age
        .map_or(options.default_ttl, Duration::from_secs)
        .clamp(options.min_ttl, options.max_ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn ttl_of(values: &[&str]) -> Duration {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        ttl(&headers, &JwksOptions::default())
    }

    #[test]
    fn cache_control_max_age_is_honoured_within_bounds() {
        let secs = Duration::from_secs;
        assert_eq!(ttl_of(&[]), secs(300));
        assert_eq!(ttl_of(&["public, max-age=600"]), secs(600));
        assert_eq!(ttl_of(&["Max-Age=\"900\", must-revalidate"]), secs(900));
        assert_eq!(ttl_of(&["max-age=5"]), secs(60), "below the floor");
        assert_eq!(
            ttl_of(&["max-age=9999999"]),
            secs(86_400),
            "above the ceiling"
        );
        assert_eq!(ttl_of(&["max-age=700", "max-age=650"]), secs(650));
        assert_eq!(ttl_of(&["no-store"]), secs(60));
        assert_eq!(ttl_of(&["max-age=600, no-cache"]), secs(60));
        assert_eq!(ttl_of(&["max-age=soon"]), secs(300));
    }

    #[test]
    fn urls_must_be_https_unless_loopback() {
        let rules = JwkRules {
            pinned: None,
            rsa_default: None,
            allow_symmetric: false,
        };
        let new = |url: &str, options| Fetcher::new(url, options, rules).map(drop);
        let options = JwksOptions::default();
        assert!(new("https://idp.example/jwks", options.clone()).is_ok());
        for loopback in [
            "http://127.0.0.1:1/jwks",
            "http://[::1]:1/jwks",
            "http://localhost/jwks",
        ] {
            assert!(new(loopback, options.clone()).is_ok(), "{loopback}");
        }
        let refused = new("http://idp.example/jwks", options.clone()).unwrap_err();
        assert!(refused.contains("use https"), "{refused}");
        assert!(
            new(
                "http://idp.example/jwks",
                options.clone().allow_plain_http(true)
            )
            .is_ok()
        );
        assert!(new("ftp://idp.example/jwks", options.clone()).is_err());
        assert!(new("/jwks", options).is_err());
    }
}
