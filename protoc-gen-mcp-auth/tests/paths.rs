//! The three build paths (build.rs builder, protoc, buf) on the same fixtures: the builder's
//! output is checked against golden files, and protoc and buf must produce the same bytes.
//! Fixtures that must fail are checked against their exact messages.
//!
//! Golden files follow prost-build's fixtures: on a mismatch the expected file is rewritten and
//! the test fails, so the change is reviewed in `git diff`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use protoc_gen_mcp_auth::{BuildError, Builder, ReportFormat};

const PASS: &[&str] = &[
    "fixtures/echo.proto",
    "fixtures/streaming.proto",
    "fixtures/defaults.proto",
    "fixtures/public.proto",
    "fixtures/nested/v1/nested.proto",
    "fixtures/keywords.proto",
    "fixtures/identity.proto",
    "fixtures/limits.proto",
    "fixtures/tools.proto",
    "fixtures/resources.proto",
    "fixtures/arguments.proto",
    "fixtures/attack.proto",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn pass_root() -> PathBuf {
    repo().join("tests/fixtures/pass")
}

fn golden_dir() -> PathBuf {
    repo().join("tests/golden")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compares `actual` with the file at `path`; on a mismatch rewrites it and returns false.
fn check_or_rewrite(path: &Path, actual: &str) -> bool {
    if std::fs::read_to_string(path).ok().as_deref() == Some(actual) {
        return true;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, actual).unwrap();
    false
}

fn read_dir_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".mcp_auth.rs"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn builder_output() -> BTreeMap<String, String> {
    let protos: Vec<PathBuf> = PASS.iter().map(|p| pass_root().join(p)).collect();
    Builder::new()
        .generate(&protos, &[pass_root()])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|f| (f.name, f.content))
        .collect()
}

#[test]
fn builder_output_matches_the_golden_files() {
    let files = builder_output();
    assert_eq!(files.len(), 13, "one file per package: {:?}", files.keys());
    let mut rewritten = Vec::new();
    for (name, content) in &files {
        if !check_or_rewrite(&golden_dir().join(name), content) {
            rewritten.push(name.clone());
        }
    }
    let stale: Vec<String> = read_dir_files(&golden_dir())
        .into_keys()
        .filter(|name| !files.contains_key(name))
        .collect();
    assert!(
        rewritten.is_empty() && stale.is_empty(),
        "golden files rewritten: {rewritten:?}; stale golden files: {stale:?}; review with `git diff tests/golden`"
    );
}

#[test]
fn output_is_deterministic() {
    assert_eq!(builder_output(), builder_output());
}

#[test]
fn protoc_produces_the_same_files() {
    let out = scratch("protoc-out");
    let mut command = protoc_with_plugin();
    command
        .arg(format!("--mcp-auth_out={}", out.display()))
        .arg(format!("-I{}", pass_root().display()))
        .arg(format!("-I{}", repo().join("proto").display()));
    // Generate for imported files too, as the builder does.
    command.arg("fixtures/common/v1/common.proto");
    command.args(PASS);
    let output = command
        .output()
        .expect("protoc is installed (the test command installs it)");
    assert!(
        output.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(read_dir_files(&out), builder_output());
}

/// `protoc` (or `$PROTOC`) with this crate's plugin binary as `protoc-gen-mcp-auth`.
fn protoc_with_plugin() -> Command {
    let mut command = Command::new(std::env::var("PROTOC").unwrap_or_else(|_| "protoc".into()));
    command.arg(format!(
        "--plugin=protoc-gen-mcp-auth={}",
        env!("CARGO_BIN_EXE_protoc-gen-mcp-auth")
    ));
    command
}

fn buf() -> PathBuf {
    let local = repo().join(".tools/node_modules/.bin/buf");
    if local.exists() {
        local
    } else {
        PathBuf::from("buf")
    }
}

/// The options proto is a buf module that passes `buf lint` (its buf.yaml: STANDARD), so users
/// can depend on it from the BSR or a copy without lint exceptions.
#[test]
fn the_options_proto_passes_buf_lint() {
    let output = Command::new(buf())
        .arg("lint")
        .current_dir(repo().join("proto"))
        .output()
        .expect("buf is installed (bash tests/setup.sh)");
    assert!(
        output.status.success(),
        "buf lint: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn buf_generate_produces_the_same_files() {
    let work = scratch("buf-work");
    copy_dir(&repo().join("proto"), &work.join("options"));
    copy_dir(&pass_root(), &work.join("fixtures"));
    std::fs::write(
        work.join("buf.yaml"),
        "version: v2\nmodules:\n  - path: options\n  - path: fixtures\n",
    )
    .unwrap();
    std::fs::write(
        work.join("buf.gen.yaml"),
        format!(
            "version: v2\nplugins:\n  - local: {}\n    out: gen\n    strategy: all\n",
            env!("CARGO_BIN_EXE_protoc-gen-mcp-auth")
        ),
    )
    .unwrap();
    let output = Command::new(buf())
        .args(["generate", "--path", "fixtures/fixtures"])
        .current_dir(&work)
        .output()
        .expect("buf is installed (the test command installs it into .tools)");
    assert!(
        output.status.success(),
        "buf generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(read_dir_files(&work.join("gen")), builder_output());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn failing_fixtures_report_where_and_how_to_fix() {
    let root = repo().join("tests/fixtures/fail");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "fixtures missing: {cases:?}");
    let mut rewritten = Vec::new();
    for proto in &cases {
        let message = match Builder::new().generate(&[proto], &[&root]) {
            Err(BuildError::Policy(lines)) => lines.join("\n") + "\n",
            Err(other) => panic!("{}: not a policy error: {other}", proto.display()),
            Ok(files) => panic!("{}: generated {} files", proto.display(), files.len()),
        };
        if !check_or_rewrite(&proto.with_extension("err"), &message) {
            rewritten.push(proto.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        rewritten.is_empty(),
        "expected errors rewritten: {rewritten:?}; review with `git diff tests/fixtures/fail`"
    );
}

/// tests/fixtures/fail/newer/newer_options.proto, compiled against an auth.proto newer than this
/// plugin (one more field in each rule message, one more option), is checked against `newer_options.err` as the
/// failing fixtures are: an option this version does not know, or that sets a field it does not
/// enforce, is an error, never read as if it were absent.
#[test]
fn option_fields_of_a_newer_auth_proto_are_refused() {
    let root = repo().join("tests/fixtures/fail/newer");
    let mut newer = protoc_gen_mcp_auth::AUTH_PROTO.to_owned();
    for (at, with) in [
        (
            "  bool allow_undeclared_prompts = 12;\n",
            "  bool allow_undeclared_prompts = 12;\n  bool audit = 13;\n",
        ),
        (
            "  string arguments = 4;\n",
            "  string arguments = 4;\n  string title = 5;\n",
        ),
        (
            "  bool required = 1;\n",
            "  bool required = 1;\n  bool sensitive = 2;\n",
        ),
        (
            "  string description = 3;\n}\n\n// ResourceTable",
            "  string description = 3;\n  string mime_type = 4;\n}\n\n// ResourceTable",
        ),
        (
            "  string description = 3;\n}\n\n// PromptTable",
            "  string description = 3;\n  string title = 4;\n}\n\n// PromptTable",
        ),
    ] {
        assert_eq!(newer.matches(at).count(), 1, "auth.proto changed: {at:?}");
        newer = newer.replace(at, with);
    }
    // And one more option.
    newer.push_str(
        "\nextend google.protobuf.EnumValueOptions {\n  ToolRule tool_value = 51871;\n}\n",
    );
    let include = scratch("newer-auth-proto");
    std::fs::create_dir_all(include.join("mcp_auth/v1")).unwrap();
    std::fs::write(include.join("mcp_auth/v1/auth.proto"), newer).unwrap();
    let proto = root.join("newer_options.proto");
    let message = match Builder::new().generate(&[&proto], &[&include, &root]) {
        Err(BuildError::Policy(lines)) => lines.join("\n") + "\n",
        Err(other) => panic!("not a policy error: {other}"),
        Ok(files) => panic!("generated {} files", files.len()),
    };
    assert!(
        check_or_rewrite(&proto.with_extension("err"), &message),
        "expected errors rewritten; review with `git diff tests/fixtures/fail/newer`"
    );
}

fn overlay_root() -> PathBuf {
    repo().join("tests/fixtures/overlay")
}

/// The options of two pass fixtures, moved out of copies of their protos into a policy overlay:
/// the generated code must be the same, byte for byte.
#[test]
fn overlay_rules_generate_the_same_code_as_proto_options() {
    let root = overlay_root().join("same");
    let protos = [
        "fixtures/tools.proto",
        "fixtures/defaults.proto",
        "fixtures/resources.proto",
    ]
    .map(|p| root.join(p));
    let files = Builder::new()
        .overlay(root.join("same.overlay.toml"))
        .generate(&protos, &[&root])
        .unwrap_or_else(|e| panic!("{e}"));
    let annotated = builder_output();
    assert_eq!(files.len(), 3);
    for file in files {
        assert_eq!(
            file.content, annotated[&file.name],
            "{} differs from the annotated proto's",
            file.name
        );
    }
}

/// The proto of the MCP gRPC transport's shape has no option: without its overlay every RPC is
/// uncovered, with it the output and its policy reports (Markdown and JSON) are checked against
/// the golden files in tests/golden/overlay.
#[test]
fn the_mcp_shaped_proto_is_covered_by_its_overlay_alone() {
    let root = overlay_root().join("mcp");
    let proto = [
        root.join("fixtures/mcp/mcp.proto"),
        root.join("fixtures/mcptools/args.proto"),
    ];
    match Builder::new().generate(&proto, &[&root]) {
        Err(BuildError::Policy(lines)) => {
            assert_eq!(lines.len(), 8, "{lines:#?}");
            assert!(
                lines
                    .iter()
                    .all(|l| l.contains("has no authorization rule"))
            );
        }
        other => panic!("generated without a policy: {other:?}"),
    }
    let files = Builder::new()
        .overlay(root.join("mcp.overlay.toml"))
        .report(ReportFormat::Markdown)
        .report(ReportFormat::Json)
        .generate(&proto, &[&root])
        .unwrap_or_else(|e| panic!("{e}"));
    let golden = golden_dir().join("overlay");
    let mut rewritten = Vec::new();
    for file in &files {
        if !check_or_rewrite(&golden.join(&file.name), &file.content) {
            rewritten.push(file.name.clone());
        }
    }
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fixtures.mcp.mcp_auth.rs",
            "fixtures.mcp.mcp_auth.md",
            "fixtures.mcp.mcp_auth.json",
            "fixtures.mcptools.mcp_auth.rs",
            "fixtures.mcptools.mcp_auth.md",
            "fixtures.mcptools.mcp_auth.json"
        ]
    );
    assert!(
        rewritten.is_empty(),
        "golden files rewritten: {rewritten:?}; review with `git diff tests/golden/overlay`"
    );
}

/// The report parameters of the plugin give the same reports as the builder.
#[test]
fn protoc_writes_the_same_reports() {
    let root = overlay_root().join("mcp");
    let out = scratch("protoc-report");
    let output = protoc_with_plugin()
        .arg(format!(
            "--mcp-auth_opt=report=json,report=markdown,overlay={}",
            root.join("mcp.overlay.toml").display()
        ))
        .arg(format!("--mcp-auth_out={}", out.display()))
        .arg(format!("-I{}", root.display()))
        .arg(format!("-I{}", repo().join("proto").display()))
        .args(["fixtures/mcp/mcp.proto", "fixtures/mcptools/args.proto"])
        .output()
        .expect("protoc is installed");
    assert!(
        output.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in ["fixtures.mcp.mcp_auth.md", "fixtures.mcp.mcp_auth.json"] {
        assert_eq!(
            std::fs::read_to_string(out.join(name)).unwrap(),
            std::fs::read_to_string(golden_dir().join("overlay").join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn protoc_takes_the_overlay_as_a_parameter() {
    let root = overlay_root().join("same");
    let out = scratch("protoc-overlay");
    let output = protoc_with_plugin()
        .arg(format!(
            "--mcp-auth_opt=overlay={}",
            root.join("same.overlay.toml").display()
        ))
        .arg(format!("--mcp-auth_out={}", out.display()))
        .arg(format!("-I{}", root.display()))
        .args([
            "fixtures/tools.proto",
            "fixtures/defaults.proto",
            "fixtures/resources.proto",
        ])
        .output()
        .expect("protoc is installed");
    assert!(
        output.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let annotated = builder_output();
    let files = read_dir_files(&out);
    assert_eq!(files.len(), 3);
    for (name, content) in files {
        assert_eq!(content, annotated[&name], "{name}");
    }

    let output = protoc_with_plugin()
        .arg("--mcp-auth_opt=overlay=../tests/fixtures/overlay/fail/unmatched.toml")
        .arg(format!(
            "--mcp-auth_out={}",
            scratch("protoc-overlay-fail").display()
        ))
        .arg(format!("-I{}", overlay_root().join("fail").display()))
        .arg("unmatched.proto")
        .output()
        .expect("protoc is installed");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("../tests/fixtures/overlay/fail/unmatched.toml:6:9: the overlay selector"),
        "{stderr}"
    );
}

/// Each `<case>.proto` of tests/fixtures/overlay/fail with the overlay `<case>.toml`; the errors
/// are checked against `<case>.err`. The overlay is named by a relative path (tests run in the
/// package directory), so the messages are the same on every machine.
#[test]
fn overlay_failures_name_the_overlay_file_and_line() {
    let root = overlay_root().join("fail");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "fixtures missing: {cases:?}");
    let mut rewritten = Vec::new();
    for proto in &cases {
        let case = proto.file_stem().unwrap().to_string_lossy().into_owned();
        let overlay = format!("../tests/fixtures/overlay/fail/{case}.toml");
        let message = match Builder::new()
            .overlay(&overlay)
            .generate(&[proto], &[&root])
        {
            Err(BuildError::Policy(lines)) => lines.join("\n") + "\n",
            Err(other) => panic!("{case}: not a policy error: {other}"),
            Ok(files) => panic!("{case}: generated {} files", files.len()),
        };
        if !check_or_rewrite(&proto.with_extension("err"), &message) {
            rewritten.push(case);
        }
    }
    assert!(
        rewritten.is_empty(),
        "expected errors rewritten: {rewritten:?}; review with `git diff tests/fixtures/overlay`"
    );
}

#[test]
fn protoc_reports_policy_errors_and_generates_nothing() {
    let out = scratch("protoc-fail");
    let output = protoc_with_plugin()
        .arg(format!("--mcp-auth_out={}", out.display()))
        .arg(format!(
            "-I{}",
            repo().join("tests/fixtures/fail").display()
        ))
        .arg(format!("-I{}", repo().join("proto").display()))
        .arg("unannotated.proto")
        .output()
        .expect("protoc is installed");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unannotated.proto:13:3: rpc `Tools.ListTools` has no authorization rule"),
        "{stderr}"
    );
    assert!(read_dir_files(&out).is_empty(), "files were generated");
}

#[test]
fn the_plugin_binary_answers_version_and_rejects_garbage() {
    let bin = env!("CARGO_BIN_EXE_protoc-gen-mcp-auth");
    let version = Command::new(bin).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("protoc-gen-mcp-auth {}", env!("CARGO_PKG_VERSION"))
    );

    let mut child = Command::new(bin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\xff\xff\xff not a request")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "garbage was accepted");
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a CodeGeneratorRequest"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn unknown_parameters_are_errors() {
    let protos = [pass_root().join("fixtures/echo.proto")];
    let out = scratch("param");
    let output = protoc_with_plugin()
        .arg(format!("--mcp-auth_out=no_such_option=1:{}", out.display()))
        .arg(format!("-I{}", pass_root().display()))
        .arg(format!("-I{}", repo().join("proto").display()))
        .arg(&protos[0])
        .output()
        .expect("protoc is installed");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("invalid parameter: no_such_option=1"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `buf generate` set-up of the README, with protoc-gen-prost and protoc-gen-tonic beside
/// this plugin: the generated files compile into a crate, with an implementation of the typed
/// trait, without hand edits.
#[test]
fn buf_generate_with_prost_and_tonic_builds_a_crate() {
    let tools = repo().join(".tools/cargo/bin");
    for plugin in ["protoc-gen-prost", "protoc-gen-tonic"] {
        assert!(
            tools.join(plugin).exists(),
            "{plugin} is missing from .tools/cargo/bin: run `bash tests/setup.sh`"
        );
    }
    let work = scratch("buf-crate");
    copy_dir(&repo().join("proto"), &work.join("options"));
    copy_dir(&pass_root(), &work.join("protos"));
    std::fs::write(
        work.join("buf.yaml"),
        "version: v2\nmodules:\n  - path: options\n  - path: protos\n",
    )
    .unwrap();
    let plugin = |name: &str| tools.join(name).display().to_string();
    std::fs::write(
        work.join("buf.gen.yaml"),
        format!(
            "version: v2\n\
             plugins:\n\
             \x20 - local: {prost}\n\
             \x20   out: src/gen\n\
             \x20   opt: [flat_output_dir=true]\n\
             \x20 - local: {tonic}\n\
             \x20   out: src/gen\n\
             \x20   opt: [flat_output_dir=true, no_client=true]\n\
             \x20 - local: {auth}\n\
             \x20   out: src/gen\n",
            prost = plugin("protoc-gen-prost"),
            tonic = plugin("protoc-gen-tonic"),
            auth = env!("CARGO_BIN_EXE_protoc-gen-mcp-auth"),
        ),
    )
    .unwrap();
    let output = Command::new(buf())
        .args(["generate", "--path", "protos/fixtures"])
        .current_dir(&work)
        .output()
        .expect("buf is installed");
    assert!(
        output.status.success(),
        "buf generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runtime = repo().join("runtime");
    std::fs::write(
        work.join("Cargo.toml"),
        format!(
            "[package]\nname = \"buf-generated\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
             [workspace]\n\
             [dependencies]\n\
             mcp-auth = {{ path = {runtime:?} }}\n\
             prost = \"0.14\"\nprost-types = \"0.14\"\ntonic = \"0.14\"\ntonic-prost = \"0.14\"\n"
        ),
    )
    .unwrap();
    std::fs::copy(repo().join("Cargo.lock"), work.join("Cargo.lock")).unwrap();
    std::fs::write(work.join("src/lib.rs"), GENERATED_CRATE_LIB).unwrap();
    let output = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", repo().join("target/buf-crate"))
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the buf-generated crate does not compile:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const GENERATED_CRATE_LIB: &str = r#"
// protoc-gen-prost's `<package>.rs` includes protoc-gen-tonic's `<package>.tonic.rs` itself.
#![allow(dead_code)]
pub mod fixtures {
    pub mod echo {
        include!("gen/fixtures.echo.rs");
        include!("gen/fixtures.echo.mcp_auth.rs");
    }
    pub mod streaming {
        include!("gen/fixtures.streaming.rs");
        include!("gen/fixtures.streaming.mcp_auth.rs");
    }
    pub mod public {
        include!("gen/fixtures.public.rs");
        include!("gen/fixtures.public.mcp_auth.rs");
    }
    pub mod defaults {
        include!("gen/fixtures.defaults.rs");
        include!("gen/fixtures.defaults.mcp_auth.rs");
    }
    pub mod common {
        pub mod v1 {
            include!("gen/fixtures.common.v1.rs");
        }
    }
    pub mod r#type {
        include!("gen/fixtures.type.rs");
        include!("gen/fixtures.type.mcp_auth.rs");
    }
    pub mod resources {
        include!("gen/fixtures.resources.rs");
        include!("gen/fixtures.resources.mcp_auth.rs");
    }
    pub mod nested {
        pub mod v1 {
            include!("gen/fixtures.nested.v1.rs");
            include!("gen/fixtures.nested.v1.mcp_auth.rs");
        }
    }
}

use fixtures::echo::{self, echo_auth};
use mcp_auth::{Authorized, StandardClaims};
use tonic::{Request, Response, Status};

pub struct Echo;

#[mcp_auth::handlers]
impl echo_auth::Echo for Echo {
    async fn say(
        &self,
        _auth: Authorized<StandardClaims, echo_auth::policy::Say>,
        request: Request<echo::SayRequest>,
    ) -> Result<Response<echo::SayResponse>, Status> {
        Ok(Response::new(echo::SayResponse { message: request.into_inner().message }))
    }

    async fn shout(
        &self,
        _auth: Authorized<StandardClaims, echo_auth::policy::Shout>,
        request: Request<echo::SayRequest>,
    ) -> Result<Response<echo::SayResponse>, Status> {
        Ok(Response::new(echo::SayResponse { message: request.into_inner().message }))
    }

    async fn who_am_i(
        &self,
        auth: Authorized<StandardClaims, echo_auth::policy::WhoAmI>,
        _request: Request<echo::WhoAmIRequest>,
    ) -> Result<Response<echo::WhoAmIResponse>, Status> {
        Ok(Response::new(echo::WhoAmIResponse { subject: auth.subject().to_owned() }))
    }
}

pub fn router(authorizer: mcp_auth::Authorizer) -> tonic::service::Routes {
    tonic::service::Routes::new(echo_auth::server(Echo, authorizer))
}
"#;
