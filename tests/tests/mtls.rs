//! Callers identified by client certificates over real TLS on loopback, with certificates made
//! in the test (rcgen), beside bearer tokens; and the audit trail of every decision.

use std::sync::{Arc, Mutex};

use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::clock::ManualClock;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use mcp_auth::mtls::PeerIdentities;
use mcp_auth::{AuditEvent, Authorized, Authorizer, StandardClaims};
use mcp_auth_tests::fixtures::identity::{self, agents_auth};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};

const SECRET: &[u8] = b"mtls test secret, at least 32 bytes";
const NOW: u64 = 1_900_000_000;

type C = StandardClaims;

#[derive(Default)]
struct Agents {
    handled: std::sync::atomic::AtomicUsize,
}

type CallerStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<identity::Caller, Status>> + Send>>;

fn caller<P: mcp_auth::Policy>(auth: &Authorized<C, P>) -> identity::Caller {
    identity::Caller {
        subject: auth.subject().to_owned(),
        certificate: auth
            .certificate()
            .map(|c| c.name().to_owned())
            .unwrap_or_default(),
    }
}

#[mcp_auth::handlers]
impl agents_auth::Agents for Agents {
    type WatchStream = CallerStream;
    type ExchangeStream = CallerStream;

    async fn watch(
        &self,
        auth: Authorized<C, agents_auth::policy::Watch>,
        _request: Request<identity::Empty>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let caller = caller(&auth);
        Ok(Response::new(Box::pin(tokio_stream::iter([Ok(caller)]))))
    }

    async fn upload(
        &self,
        auth: Authorized<C, agents_auth::policy::Upload>,
        request: Request<mcp_auth::GuardedStream<identity::Empty>>,
    ) -> Result<Response<identity::Caller>, Status> {
        self.handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut stream = request.into_inner();
        while stream.message().await?.is_some() {}
        Ok(Response::new(caller(&auth)))
    }

    async fn exchange(
        &self,
        auth: Authorized<C, agents_auth::policy::Exchange>,
        request: Request<mcp_auth::GuardedStream<identity::Empty>>,
    ) -> Result<Response<Self::ExchangeStream>, Status> {
        self.handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let caller = caller(&auth);
        let replies = tokio_stream::StreamExt::map(request.into_inner(), move |message| {
            message.map(|_| caller.clone())
        });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn status(
        &self,
        auth: Authorized<C, agents_auth::policy::Status>,
        _request: Request<identity::Empty>,
    ) -> Result<Response<identity::Caller>, Status> {
        Ok(Response::new(caller(&auth)))
    }

    async fn deploy(
        &self,
        auth: Authorized<C, agents_auth::policy::Deploy>,
        _request: Request<identity::Empty>,
    ) -> Result<Response<identity::Caller>, Status> {
        Ok(Response::new(caller(&auth)))
    }

    async fn admin(
        &self,
        auth: Authorized<C, agents_auth::policy::Admin>,
        _request: Request<identity::Empty>,
    ) -> Result<Response<identity::Caller>, Status> {
        Ok(Response::new(caller(&auth)))
    }

    async fn report(
        &self,
        auth: Authorized<C, agents_auth::policy::Report>,
        _request: Request<identity::Empty>,
    ) -> Result<Response<identity::Caller>, Status> {
        Ok(Response::new(caller(&auth)))
    }
}

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    other_ca: CertifiedIssuer<'static, KeyPair>,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    fn new() -> Self {
        Self {
            ca: ca("mcp-auth test CA"),
            other_ca: ca("some other CA"),
        }
    }

    fn issue(
        issuer: &CertifiedIssuer<'static, KeyPair>,
        configure: impl FnOnce(&mut CertificateParams),
    ) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        configure(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        Identity::from_pem(cert.pem(), key.serialize_pem())
    }

    fn server(&self) -> Identity {
        Self::issue(&self.ca, |p| {
            p.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
        })
    }

    fn client(&self, sans: Vec<SanType>) -> Identity {
        Self::issue(&self.ca, |p| {
            p.subject_alt_names = sans;
            p.distinguished_name.push(DnType::CommonName, "client");
        })
    }
}

fn spiffe(id: &str) -> SanType {
    SanType::URI(id.try_into().unwrap())
}

struct Harness {
    addr: std::net::SocketAddr,
    pki: Pki,
    events: Arc<Mutex<Vec<String>>>,
    agents: Arc<Agents>,
}

async fn start() -> Harness {
    let pki = Pki::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = Arc::clone(&events);
    let authorizer = Authorizer::<C>::builder()
        .token(
            JwtAuthenticator::builder()
                .issuer("https://issuer.test")
                .audience("agents")
                .key(JwtKey::hs256(SECRET))
                .build()
                .unwrap(),
        )
        .client_certificates(
            PeerIdentities::new()
                .grant("spiffe://example.org/deployer", ["deploy:run", "admin"])
                .grant("dns:reporter.internal", ["report:write"]),
        )
        .clock(ManualClock::new(NOW))
        .audit_sink(move |event: &AuditEvent<'_>| {
            sink_events.lock().unwrap().push(format!(
                "{} {} {} {} {}",
                event.method,
                event.decision.as_str(),
                event.reason,
                event.subject.unwrap_or("-"),
                event.certificate.unwrap_or("-"),
            ));
        })
        .build()
        .unwrap();
    let tls = ServerTlsConfig::new()
        .identity(pki.server())
        .client_ca_root(Certificate::from_pem(pki.ca.pem()))
        // Token-only callers connect without a certificate.
        .client_auth_optional(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let agents = Arc::new(Agents::default());
    // The generated server, as `server()` returns it: the caller's certificate is read on the
    // call's head, before the message is decoded.
    let router = Server::builder().tls_config(tls).unwrap().add_service(
        agents_auth::AuthorizedAgentsServer::new(agents_auth::AuthorizedAgents::from_arc(
            Arc::clone(&agents),
            authorizer,
        )),
    );
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Harness {
        addr,
        pki,
        events,
        agents,
    }
}

impl Harness {
    async fn connect(
        &self,
        identity: Option<Identity>,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.pki.ca.pem()))
            .domain_name("localhost");
        if let Some(identity) = identity {
            tls = tls.identity(identity);
        }
        Channel::from_shared(format!("https://{}", self.addr))
            .unwrap()
            .tls_config(tls)?
            .connect()
            .await
    }

    async fn client(
        &self,
        identity: Option<Identity>,
    ) -> identity::agents_client::AgentsClient<Channel> {
        identity::agents_client::AgentsClient::new(self.connect(identity).await.unwrap())
    }
}

fn token(scope: &str) -> String {
    let claims = serde_json::json!({
        "iss": "https://issuer.test", "aud": "agents", "sub": "alice",
        "scope": scope, "exp": NOW + 600,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn with_token(token: &str) -> Request<identity::Empty> {
    let mut request = Request::new(identity::Empty {});
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

#[tokio::test]
async fn a_spiffe_client_is_identified_and_granted_its_scopes() {
    let h = start().await;
    let mut agent = h
        .client(Some(
            h.pki.client(vec![spiffe("spiffe://example.org/deployer")]),
        ))
        .await;

    let me = agent.status(identity::Empty {}).await.unwrap().into_inner();
    assert_eq!(me.subject, "spiffe://example.org/deployer");
    assert_eq!(me.certificate, "spiffe://example.org/deployer");

    let deployed = agent.deploy(identity::Empty {}).await.unwrap().into_inner();
    assert_eq!(deployed.certificate, "spiffe://example.org/deployer");

    // Every streaming kind sees the same caller.
    let mut watched = agent.watch(identity::Empty {}).await.unwrap().into_inner();
    assert_eq!(
        watched.message().await.unwrap().unwrap().certificate,
        "spiffe://example.org/deployer"
    );
    let uploaded = agent
        .upload(tokio_stream::iter([identity::Empty {}, identity::Empty {}]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(uploaded.subject, "spiffe://example.org/deployer");
    let mut exchanged = agent
        .exchange(tokio_stream::iter([identity::Empty {}]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        exchanged.message().await.unwrap().unwrap().subject,
        "spiffe://example.org/deployer"
    );

    // `identity: IDENTITY_BOTH` needs a token too; `IDENTITY_JWT` refuses a certificate alone.
    let status = agent.admin(identity::Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let both = agent
        .admin(with_token(&token("")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(both.subject, "alice");
    assert_eq!(both.certificate, "spiffe://example.org/deployer");
    let status = agent.report(identity::Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A bad token is refused even beside a good certificate.
    let status = agent.status(with_token("not.a.token")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn certificates_without_a_grant_or_without_a_token_get_no_scoped_access() {
    let h = start().await;
    let mut unknown = h
        .client(Some(
            h.pki.client(vec![spiffe("spiffe://example.org/stranger")]),
        ))
        .await;
    let me = unknown
        .status(identity::Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.subject, "spiffe://example.org/stranger");
    let status = unknown.deploy(identity::Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // No certificate: a token holding the scope still cannot call an mTLS-only method, and
    // nothing in the metadata can stand in for a certificate.
    let mut user = h.client(None).await;
    let status = user
        .deploy(with_token(&token("deploy:run")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut request = Request::new(identity::Empty {});
    request.metadata_mut().insert(
        "x-client-cert",
        MetadataValue::from_static("spiffe://example.org/deployer"),
    );
    let status = user.status(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let report = user
        .report(with_token(&token("")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.subject, "alice");
    assert_eq!(report.certificate, "");
}

#[tokio::test]
async fn ambiguous_foreign_and_ca_certificates_are_refused() {
    let h = start().await;

    let mut two_uris = h
        .client(Some(h.pki.client(vec![
            spiffe("spiffe://example.org/deployer"),
            spiffe("spiffe://example.org/admin"),
        ])))
        .await;
    let status = two_uris.status(identity::Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = two_uris.watch(identity::Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = two_uris
        .upload(tokio_stream::iter([identity::Empty {}]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = two_uris
        .exchange(tokio_stream::iter([identity::Empty {}]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        h.agents.handled.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a handler ran for an ambiguous certificate"
    );

    // Signed by a CA the server does not trust: the handshake itself fails.
    let foreign = Pki::issue(&h.pki.other_ca, |p| {
        p.subject_alt_names = vec![spiffe("spiffe://example.org/deployer")];
    });
    let refused = match h.connect(Some(foreign)).await {
        Err(_) => true,
        Ok(channel) => identity::agents_client::AgentsClient::new(channel)
            .status(identity::Empty {})
            .await
            .is_err(),
    };
    assert!(refused, "a certificate from another CA was accepted");

    // A CA certificate presented as a client certificate.
    let ca_as_client = Pki::issue(&h.pki.ca, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.subject_alt_names = vec![spiffe("spiffe://example.org/deployer")];
    });
    let refused = match h.connect(Some(ca_as_client)).await {
        Err(_) => true,
        Ok(channel) => identity::agents_client::AgentsClient::new(channel)
            .deploy(identity::Empty {})
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a CA certificate was accepted as a client identity"
    );
}

#[tokio::test]
async fn every_decision_reaches_the_audit_sink_without_the_token() {
    let h = start().await;
    let mut agent = h
        .client(Some(h.pki.client(vec![SanType::DnsName(
            "reporter.internal".try_into().unwrap(),
        )])))
        .await;
    let secret_token = token("");
    agent.status(identity::Empty {}).await.unwrap();
    agent.deploy(identity::Empty {}).await.unwrap_err();
    agent
        .status(with_token("bad.token.here"))
        .await
        .unwrap_err();
    agent.report(with_token(&secret_token)).await.unwrap();

    let events = h.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "/fixtures.identity.Agents/Status allow authorized - dns:reporter.internal",
            "/fixtures.identity.Agents/Deploy deny insufficient_scope - dns:reporter.internal",
            "/fixtures.identity.Agents/Status deny invalid_token - dns:reporter.internal",
            "/fixtures.identity.Agents/Report allow authorized alice dns:reporter.internal",
        ]
    );
    assert!(events.iter().all(|e| !e.contains(&secret_token)));
}
