#![doc = include_str!("../README.md")]

mod arguments;
mod builder;
mod model;
mod overlay;
mod params;
mod render;
mod report;
mod request;
mod schema;
mod source;

use prost::Message;
use prost_types::compiler::{CodeGeneratorResponse, code_generator_response};

pub use builder::{BuildError, Builder, GeneratedFile};
pub use model::Diagnostic;
pub use params::{InvalidParameter, Parameters, ReportFormat};
pub use request::{RequestError, request_from_descriptor_set};

/// The options proto, `mcp_auth/v1/auth.proto`, as shipped with this plugin.
pub const AUTH_PROTO: &str = include_str!("../proto/mcp_auth/v1/auth.proto");

/// The name under which [`AUTH_PROTO`] is imported.
pub const AUTH_PROTO_NAME: &str = "mcp_auth/v1/auth.proto";

/// `CodeGeneratorResponse.Feature.FEATURE_PROTO3_OPTIONAL`.
const FEATURE_PROTO3_OPTIONAL: u64 = 1;

/// Runs the plugin on an encoded `CodeGeneratorRequest` and returns the encoded
/// `CodeGeneratorResponse`.
///
/// Problems in the user's protos (an RPC without a rule, a bad scope, an unknown parameter) are
/// reported in the response's `error` field, one line each, as
/// `file.proto:LINE:COLUMN: message`, and no file is generated. Only a request that cannot be
/// decoded at all is an `Err`.
pub fn execute(request: &[u8]) -> Result<Vec<u8>, RequestError> {
    let request = request::decode(request)?;
    Ok(respond(&request))
}

/// [`execute`] for a process that exits right after (the plugin binary): the decoded request
/// is not freed, since the operating system takes the memory back at once, and freeing the
/// descriptors of a large request one allocation at a time is a tenth of the plugin's time.
#[doc(hidden)]
pub fn execute_before_exit(request: &[u8]) -> Result<Vec<u8>, RequestError> {
    let request = request::decode(request)?;
    let response = respond(&request);
    std::mem::forget(request);
    Ok(response)
}

fn respond(request: &request::Request) -> Vec<u8> {
    let response = match generate(request) {
        Ok(file) => CodeGeneratorResponse {
            file,
            supported_features: Some(FEATURE_PROTO3_OPTIONAL),
            ..Default::default()
        },
        Err(error) => CodeGeneratorResponse {
            error: Some(error),
            supported_features: Some(FEATURE_PROTO3_OPTIONAL),
            ..Default::default()
        },
    };
    response.encode_to_vec()
}

fn generate(request: &request::Request) -> Result<Vec<code_generator_response::File>, String> {
    let params: Parameters = request.parameter.parse().map_err(|e| format!("{e}"))?;
    generate_with(request, &params)
}

/// Generates the files of `request` under `params` (the builder's way in, with typed
/// parameters); `Err` is the text of the response's `error` field.
pub(crate) fn generate_with(
    request: &request::Request,
    params: &Parameters,
) -> Result<Vec<code_generator_response::File>, String> {
    let overlay = match &params.overlay {
        Some(path) => Some(overlay::Overlay::load(path).map_err(lines)?),
        None => None,
    };
    generate_from(request, params, overlay.as_ref())
}

/// Diagnostics as the lines of the response's `error` field.
fn lines(diagnostics: Vec<Diagnostic>) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Generates the files of `request` under `params` with `overlay` already parsed.
fn generate_from(
    request: &request::Request,
    params: &Parameters,
    overlay: Option<&overlay::Overlay>,
) -> Result<Vec<code_generator_response::File>, String> {
    let packages = model::build(request, params, overlay).map_err(lines)?;
    let mut files = Vec::new();
    for package in &packages {
        files.push(code_generator_response::File {
            name: Some(render::file_name(&package.name)),
            content: Some(render::package(package)),
            ..Default::default()
        });
        for &format in &params.reports {
            files.push(code_generator_response::File {
                name: Some(report::file_name(&package.name, format)),
                content: Some(report::render(
                    package,
                    overlay.map(|o| o.file.as_str()),
                    format,
                )),
                ..Default::default()
            });
        }
    }
    Ok(files)
}

/// Entry points for the fuzz targets in `fuzz/` and the property tests; not part of the API
/// (no semver promise), hidden from the docs.
#[doc(hidden)]
pub mod __fuzz {
    use prost::Message;
    use prost_types::compiler::CodeGeneratorResponse;

    use crate::{Parameters, RequestError, generate_from, lines, overlay, request};

    /// The name overlay diagnostics carry in [`execute_with_overlay`] and [`parse_overlay`].
    pub const OVERLAY_FILE: &str = "fuzz.overlay.toml";

    /// Parses `text` as a policy overlay; `Err` is the diagnostics, one per line.
    pub fn parse_overlay(text: &str) -> Result<(), String> {
        overlay::Overlay::parse(OVERLAY_FILE, text)
            .map(drop)
            .map_err(lines)
    }

    /// [`crate::execute`] with the policy overlay given as text instead of as a file named by
    /// the request's `overlay=` parameter (any `overlay=` there is ignored): the encoded
    /// `CodeGeneratorResponse`, which carries the overlay's diagnostics in `error`.
    pub fn execute_with_overlay(
        request: &[u8],
        overlay_text: &str,
    ) -> Result<Vec<u8>, RequestError> {
        let request = request::decode(request)?;
        let result = request
            .parameter
            .parse::<Parameters>()
            .map_err(|e| format!("{e}"))
            .and_then(|mut params| {
                params.overlay = None;
                let overlay = overlay::Overlay::parse(OVERLAY_FILE, overlay_text).map_err(lines)?;
                generate_from(&request, &params, Some(&overlay))
            });
        let response = match result {
            Ok(file) => CodeGeneratorResponse {
                file,
                supported_features: Some(crate::FEATURE_PROTO3_OPTIONAL),
                ..Default::default()
            },
            Err(error) => CodeGeneratorResponse {
                error: Some(error),
                supported_features: Some(crate::FEATURE_PROTO3_OPTIONAL),
                ..Default::default()
            },
        };
        Ok(response.encode_to_vec())
    }
}
