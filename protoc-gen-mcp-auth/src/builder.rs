//! The `build.rs` path: compile protos without a system `protoc` (protox), then generate the
//! prost messages, the tonic service and the authorization layer in one call.

use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use crate::{AUTH_PROTO, AUTH_PROTO_NAME};

/// Generates everything a tonic server with mcp-auth needs from annotated `.proto` files.
///
/// ```text
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     protoc_gen_mcp_auth::Builder::new().compile(&["proto/tools/v1/tools.proto"], &["proto"])?;
///     Ok(())
/// }
/// ```
///
/// and in the crate, `mcp_auth::include_proto!("tools.v1");` inside the module of that package.
/// `mcp_auth/v1/auth.proto` is importable without copying it anywhere.
#[derive(Debug, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    extern_paths: Vec<(String, String)>,
    overlay: Option<PathBuf>,
    reports: Vec<crate::ReportFormat>,
    build_client: bool,
    build_messages_and_services: bool,
    emit_rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// Why code generation failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A proto file could not be read or parsed.
    #[error("{0}")]
    Compile(#[from] Box<protox::Error>),
    /// The protos parsed but break a rule of mcp-auth (an RPC without a rule, a bad scope...).
    #[error("{}", .0.join("\n"))]
    Policy(Vec<String>),
    /// Writing the generated files failed, or tonic-prost-build did.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// `OUT_DIR` is not set and no output directory was given.
    #[error("OUT_DIR is not set: run from build.rs or call `Builder::out_dir`")]
    NoOutDir,
}

/// Serves `mcp_auth/v1/auth.proto` from this crate.
struct EmbeddedOptions;

impl FileResolver for EmbeddedOptions {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == AUTH_PROTO_NAME {
            File::from_source(name, AUTH_PROTO)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

impl fmt::Debug for EmbeddedOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmbeddedOptions")
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The file name, e.g. `tools.v1.mcp_auth.rs`.
    pub name: String,
    /// The Rust source.
    pub content: String,
}

impl Builder {
    /// A builder with the defaults: output to `OUT_DIR`, servers only (no clients), messages
    /// and tonic services generated too.
    pub fn new() -> Self {
        Self {
            out_dir: None,
            extern_paths: Vec::new(),
            overlay: None,
            reports: Vec::new(),
            build_client: false,
            build_messages_and_services: true,
            emit_rerun_if_changed: true,
        }
    }

    /// Writes the generated files to `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Maps a proto package (or type) to an existing Rust path, for both prost and mcp-auth.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Reads the rules of protos you do not own from a policy overlay: a TOML file whose rules
    /// attach to RPCs, services, packages and messages by fully qualified name. The same file
    /// works with the plugin (`overlay=path`).
    ///
    /// ```toml
    /// # The default of every RPC of `mcp.v1.Mcp` without a rule of its own, as
    /// # `option (mcp_auth.v1.service) = { default: { ... } }` would be.
    /// [method."mcp.v1.Mcp.*"]
    /// scopes = ["mcp:list"]
    ///
    /// # One RPC, as `option (mcp_auth.v1.method) = { ... }` on it would be.
    /// [method."mcp.v1.Mcp.CallTool"]
    /// scopes = ["tools:call"]
    /// tool_name_field = "request.name"
    ///
    /// # The tools of a package, as `option (mcp_auth.v1.tools)` in one of its files would be.
    /// [tools."mcp.v1"]
    /// read_file = { scopes = ["files:read"], description = "Read a file under the root." }
    /// write_file = { scopes = ["files:write"] }
    ///
    /// # A tool argument message, as `option (mcp_auth.v1.tool) = { ... }` on it would be.
    /// [message."mcp.v1.EchoArgs"]
    /// tool = { name = "echo", scopes = ["echo:say"] }
    ///
    /// # Resource URI prefixes and prompts, as `(mcp_auth.v1.resources)` and
    /// # `(mcp_auth.v1.prompts)` would be.
    /// [resources."mcp.v1"]
    /// "file:///docs/" = { scopes = ["docs:read"], description = "Product documentation." }
    ///
    /// [prompts."mcp.v1"]
    /// summarize = { scopes = ["prompts:summarize"] }
    /// ```
    ///
    /// A rule's keys are the fields of the option messages in `mcp_auth/v1/auth.proto`, with
    /// the same meaning and checks (`identity = "IDENTITY_JWT"`; scopes are always a list). The
    /// generated code is the same whether a rule is written in the proto or here. It is an error,
    /// reported at the overlay's line, to give a rule both in the proto and in the overlay, to
    /// write a selector that matches nothing in the files being generated, or to misspell a key.
    /// A relative path is relative to the working directory (the package root in `build.rs`).
    pub fn overlay(mut self, path: impl Into<PathBuf>) -> Self {
        self.overlay = Some(path.into());
        self
    }

    /// Also writes a policy report per package in `format` (the plugin's `report=markdown`,
    /// `report=json`): every RPC, tool, resource prefix and prompt with what it requires and
    /// where its rule was written, as `<package>.mcp_auth.md` or `.mcp_auth.json`. Call it
    /// once per format. [`Builder::generate`] returns the reports with the code; commit them and
    /// compare in a test to review policy changes in pull requests.
    pub fn report(mut self, format: crate::ReportFormat) -> Self {
        if !self.reports.contains(&format) {
            self.reports.push(format);
        }
        self
    }

    /// Also generates tonic clients (off by default).
    pub fn build_client(mut self, enable: bool) -> Self {
        self.build_client = enable;
        self
    }

    /// Whether to run tonic-prost-build for the messages and services (on by default). Turn it
    /// off when another step generates them.
    pub fn build_messages_and_services(mut self, enable: bool) -> Self {
        self.build_messages_and_services = enable;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every proto read (on by default).
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Compiles `protos` (paths under one of `includes`) and writes the generated code.
    pub fn compile(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let compiled = self.compile_descriptors(protos, includes)?;
        if self.emit_rerun_if_changed {
            for path in compiled.paths.iter().chain(&self.overlay) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        if self.build_messages_and_services {
            let mut set = prost_types::FileDescriptorSet::decode(compiled.set.as_slice())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            // The options proto has no messages users need; Google's stay, since prost reads
            // their message definitions (for derives) and maps them to `prost_types` itself.
            set.file.retain(|file| file.name() != AUTH_PROTO_NAME);
            let mut tonic = tonic_prost_build::configure()
                .build_client(self.build_client)
                .build_server(true)
                .emit_rerun_if_changed(false)
                .out_dir(&out_dir);
            for (proto, rust) in &self.extern_paths {
                tonic = tonic.extern_path(proto, rust);
            }
            tonic.compile_fds(set)?;
        }
        for file in self.generate_from(&compiled)? {
            // Beside tonic-prost-build's `<module>.rs`, under the same module naming.
            let (package, suffix) = [".mcp_auth.rs", ".mcp_auth.md", ".mcp_auth.json"]
                .into_iter()
                .find_map(|suffix| Some((file.name.strip_suffix(suffix)?, suffix)))
                .unwrap_or((file.name.as_str(), ""));
            let package = if package == "_" { "" } else { package };
            let name = crate::render::prost_build_file_name(package, suffix);
            std::fs::write(out_dir.join(name), file.content)?;
        }
        Ok(())
    }

    /// Compiles `protos` and returns the authorization files (and the reports asked for)
    /// without writing anything (what `compile` writes beside tonic-prost-build's output).
    pub fn generate(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Vec<GeneratedFile>, BuildError> {
        let compiled = self.compile_descriptors(protos, includes)?;
        self.generate_from(&compiled)
    }

    fn generate_from(&self, compiled: &Compiled) -> Result<Vec<GeneratedFile>, BuildError> {
        let params = crate::Parameters {
            extern_paths: self.extern_paths.clone(),
            overlay: self.overlay.clone(),
            reports: self.reports.clone(),
        };
        // The plugin's own decoding, so both paths read the same descriptors.
        let request = crate::request_from_descriptor_set(&compiled.set, &compiled.names, "")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let request =
            crate::request::decode(&request).map_err(|e| std::io::Error::other(e.to_string()))?;
        let files = crate::generate_with(&request, &params)
            .map_err(|error| BuildError::Policy(error.lines().map(str::to_owned).collect()))?;
        Ok(files
            .into_iter()
            .map(|f| GeneratedFile {
                name: f.name.unwrap_or_default(),
                content: f.content.unwrap_or_default(),
            })
            .collect())
    }

    fn compile_descriptors(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Compiled, BuildError> {
        let mut resolver = ChainFileResolver::new();
        for include in includes {
            resolver.add(IncludeFileResolver::new(include.as_ref().to_owned()));
        }
        resolver.add(EmbeddedOptions);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(true);
        compiler.open_files(protos).map_err(Box::new)?;
        // Like tonic-prost-build, generate for imported files too (their services get tonic
        // servers, so they need rules), except the options proto and Google's.
        let names = compiler
            .files()
            .map(|f| f.name().to_owned())
            .filter(|name| name != AUTH_PROTO_NAME && !name.starts_with("google/protobuf/"))
            .collect();
        let paths = compiler
            .files()
            .filter_map(|f| f.path().map(Path::to_path_buf))
            .collect();
        Ok(Compiled {
            set: compiler.encode_file_descriptor_set(),
            names,
            paths,
        })
    }
}

struct Compiled {
    set: Vec<u8>,
    names: Vec<String>,
    paths: Vec<PathBuf>,
}
