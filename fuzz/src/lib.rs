//! What the fuzz targets share: the issuer they verify tokens for, the invariants a verified
//! token must meet, and the MCP-shaped fixture the overlay target applies overlays to.

use std::sync::OnceLock;

use mcp_auth::StandardClaims;
use mcp_auth::jwt::{JwtAuthenticator, JwtKey};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// The typed-arguments fixture of the end-to-end tests (`fixtures/arguments.proto`), generated
/// by build.rs: its `arguments_auth::ToolCall` is what the `arguments` target decodes with.
#[allow(missing_docs, clippy::all)]
pub mod arguments {
    mcp_auth::include_proto!("fixtures.arguments");
}

/// A JSON object as the `google.protobuf.Struct` MCP clients send tool arguments in; any other
/// JSON value as an empty one.
pub fn to_struct(json: serde_json::Value) -> prost_types::Struct {
    mcp_auth::arguments::struct_from_json(json).unwrap_or_default()
}

/// The HS256 secret of the fuzzed issuer (also in `fuzz/seeds.sh`).
pub const SECRET: &[u8] = b"fuzz secret of the mcp-auth issuer, 32+ bytes";
/// The issuer.
pub const ISSUER: &str = "https://issuer.fuzz";
/// The audience.
pub const AUDIENCE: &str = "mcp-fuzz";
/// The time tokens are verified at.
pub const NOW: u64 = 1_900_000_000;

/// The authenticator every token target verifies with: HS256 under [`SECRET`], no leeway.
pub fn authenticator() -> &'static JwtAuthenticator<StandardClaims> {
    static AUTHENTICATOR: OnceLock<JwtAuthenticator<StandardClaims>> = OnceLock::new();
    AUTHENTICATOR.get_or_init(|| {
        JwtAuthenticator::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .key(JwtKey::hs256(SECRET))
            .leeway_secs(0)
            .build()
            .expect("the fuzz authenticator is valid")
    })
}

/// Panics unless `token` is one [`authenticator`] may accept at [`NOW`]: three segments, an
/// HS256 header without `crit` or a foreign `typ`, a signature by [`SECRET`], and claims whose
/// issuer, audience, subject and times are all in order and agree with `claims`.
pub fn assert_acceptable(token: &str, claims: &StandardClaims) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use mcp_auth::Claims;
    use serde_json::Value;

    /// The header members the policy reads.
    #[derive(serde::Deserialize)]
    struct Header {
        alg: Value,
        #[serde(default)]
        crit: Value,
        #[serde(default)]
        typ: Value,
    }
    /// The claims the policy reads.
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        iss: Value,
        #[serde(default)]
        aud: Value,
        #[serde(default)]
        sub: Value,
        #[serde(default)]
        exp: Value,
    }

    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted a token without three segments");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("accepted a signature that is not base64url");
    aws_lc_rs::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &signature,
    )
    .expect("accepted a token not signed by the key");
    // Header and claims are UTF-8 JSON (RFC 7519 7.2). Only the members the policy reads are
    // parsed as values, as jsonwebtoken does: the rest need only be JSON text, which may hold
    // unpaired `\u` surrogates (RFC 8259 8.2).
    let utf8 = |part: &str| -> Vec<u8> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .expect("accepted a segment that is not base64url");
        std::str::from_utf8(&bytes).expect("accepted a segment that is not UTF-8");
        bytes
    };
    let header: Header =
        serde_json::from_slice(&utf8(parts[0])).expect("accepted a header that is not JSON");
    assert_eq!(header.alg, "HS256", "accepted another algorithm");
    assert!(header.crit.is_null(), "accepted a crit header");
    if !header.typ.is_null() {
        let typ = header
            .typ
            .as_str()
            .expect("accepted a typ that is not a string");
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        assert!(typ == "jwt" || typ == "at+jwt", "accepted typ {typ}");
    }
    let body: Body =
        serde_json::from_slice(&utf8(parts[1])).expect("accepted claims that are not JSON");
    assert_eq!(body.iss, ISSUER, "accepted another issuer");
    let audience_ok = match &body.aud {
        Value::String(aud) => aud == AUDIENCE,
        Value::Array(auds) => auds.iter().any(|a| a == AUDIENCE),
        _ => false,
    };
    assert!(audience_ok, "accepted another audience: {}", body.aud);
    assert_eq!(body.sub, claims.subject(), "the subject is not the token's");
    assert!(!claims.subject().is_empty(), "accepted an empty subject");
    assert_eq!(body.exp, claims.expires_at(), "exp is not the token's");
    assert!(claims.expires_at() > NOW, "accepted an expired token");
    if let Some(nbf) = claims.not_before() {
        assert!(nbf <= NOW, "accepted a token before its nbf");
    }
    if let Some(iat) = claims.issued_at() {
        assert!(iat <= NOW, "accepted a token issued in the future");
    }
    for scope in claims.scopes() {
        assert!(
            !scope.is_empty() && !scope.contains(' '),
            "a scope is empty or holds a space"
        );
    }
}

/// Serves `mcp_auth/v1/auth.proto` and more files from memory.
struct Sources {
    files: Vec<(String, String)>,
}

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == protoc_gen_mcp_auth::AUTH_PROTO_NAME {
            return File::from_source(name, protoc_gen_mcp_auth::AUTH_PROTO);
        }
        if let Some((_, source)) = self.files.iter().find(|(n, _)| n == name) {
            return File::from_source(name, source);
        }
        Err(protox::Error::file_not_found(name))
    }
}

/// Compiles `source` as file `name` (it may import `mcp_auth/v1/auth.proto` and Google's
/// well-known types) into the `CodeGeneratorRequest` protoc would send with `parameter`;
/// `None` when it does not compile.
pub fn request_for(name: &str, source: &str, parameter: &str) -> Option<Vec<u8>> {
    request_for_files(&[(name, source)], parameter)
}

/// Like [`request_for`], for several files, all of them to generate.
pub fn request_for_files(files: &[(&str, &str)], parameter: &str) -> Option<Vec<u8>> {
    let mut resolver = ChainFileResolver::new();
    resolver.add(Sources {
        files: files
            .iter()
            .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
            .collect(),
    });
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    let names: Vec<String> = files.iter().map(|(name, _)| (*name).to_owned()).collect();
    compiler.open_files(&names).ok()?;
    let set = compiler.encode_file_descriptor_set();
    protoc_gen_mcp_auth::request_from_descriptor_set(&set, &names, parameter).ok()
}

/// The MCP-shaped fixture of the end-to-end tests (`tests/fixtures/overlay/mcp`), which has no
/// option of its own: its whole policy comes from an overlay; with the server's own file of tool
/// argument messages.
pub fn mcp_request() -> &'static [u8] {
    static REQUEST: OnceLock<Vec<u8>> = OnceLock::new();
    REQUEST.get_or_init(|| {
        request_for_files(
            &[
                (
                    "fixtures/mcp/mcp.proto",
                    include_str!("../../tests/fixtures/overlay/mcp/fixtures/mcp/mcp.proto"),
                ),
                (
                    "fixtures/mcptools/args.proto",
                    include_str!("../../tests/fixtures/overlay/mcp/fixtures/mcptools/args.proto"),
                ),
            ],
            "report=markdown,report=json",
        )
        .expect("the MCP fixture compiles")
    })
}
