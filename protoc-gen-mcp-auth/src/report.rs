//! The policy report: every RPC, tool, resource prefix and prompt of a package with what it
//! requires and where its rule was written, as Markdown (for code review) or JSON (for audit
//! tooling). Rendered from the same model as the code, so it cannot drift from what is enforced.

use std::fmt::Write;

use serde::Serialize;

use crate::model::{Access, Kind, Method, Package, Place, Rule, Target};
use crate::params::ReportFormat;

/// The name of the report of `package` in `format`, beside its `.mcp_auth.rs`.
pub(crate) fn file_name(package: &str, format: ReportFormat) -> String {
    let stem = if package.is_empty() { "_" } else { package };
    format!("{stem}.mcp_auth.{}", format.extension())
}

/// The report of one package; `overlay` is the policy overlay of the run, if any.
pub(crate) fn render(package: &Package, overlay: Option<&str>, format: ReportFormat) -> String {
    let report = Report::new(package, overlay);
    match format {
        ReportFormat::Markdown => markdown(&report),
        ReportFormat::Json => {
            let mut json = serde_json::to_string_pretty(&report)
                .expect("the report is plain data and always serializes");
            json.push('\n');
            json
        }
    }
}

#[derive(Serialize)]
struct Report {
    generator: String,
    package: String,
    sources: Vec<String>,
    /// The policy overlay, by file name, when the run had one.
    overlay: Option<String>,
    services: Vec<ServiceReport>,
    tools: Vec<TargetReport>,
    resources: Vec<TargetReport>,
    prompts: Vec<TargetReport>,
}

#[derive(Serialize)]
struct ServiceReport {
    name: String,
    rpcs: Vec<RpcReport>,
}

#[derive(Serialize)]
struct RpcReport {
    name: String,
    path: String,
    /// `unary`, `server_streaming`, `client_streaming`, `bidirectional`.
    kind: &'static str,
    /// `public`, `authenticated` or `scopes`.
    access: &'static str,
    scopes: Vec<String>,
    /// `any`, `jwt`, `mtls`, `either`, `both`.
    identity: &'static str,
    /// The per-message checks this RPC relaxes (client streams only).
    relaxed_stream_checks: Vec<&'static str>,
    rate_limit: Option<Rate>,
    message_rate_limit: Option<Rate>,
    /// The request field naming the tool, as a dotted proto path.
    tool_field: Option<String>,
    allow_undeclared_tools: bool,
    resource_field: Option<String>,
    allow_undeclared_resources: bool,
    prompt_field: Option<String>,
    allow_undeclared_prompts: bool,
    reauth_field: Option<String>,
    rule_from: Origin,
}

#[derive(Serialize)]
struct Rate {
    per_second: u32,
    burst: u32,
}

#[derive(Serialize)]
struct TargetReport {
    /// The tool or prompt name, or the resource URI prefix.
    name: String,
    scopes: Vec<String>,
    description: String,
    /// A tool's argument message, fully qualified, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<String>,
    declared_in: Origin,
}

/// A file name without the directories of the path it was given by, which depend on where the
/// build runs.
fn base_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Where a rule was written.
#[derive(Serialize)]
struct Origin {
    /// The proto file as protoc names it, or the overlay by its file name (the path it was
    /// given by depends on where the build runs).
    file: String,
    line: Option<usize>,
    overlay: bool,
    /// For an RPC: whether the rule is its service's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    service_default: Option<bool>,
}

impl Origin {
    fn new(place: &Place, service_default: Option<bool>) -> Self {
        let file = if place.overlay {
            base_name(&place.file)
        } else {
            place.file.clone()
        };
        Self {
            file,
            line: place.position.map(|(line, _)| line),
            overlay: place.overlay,
            service_default,
        }
    }

    fn markdown(&self) -> String {
        let at = match self.line {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        };
        let mut out = code(&at);
        if self.overlay {
            out.push_str(" (overlay)");
        }
        if self.service_default == Some(true) {
            out.push_str(", service default");
        }
        out
    }
}

/// A dotted proto path from the `a?.b` form the model keeps for the generated code.
fn proto_path(field: Option<&String>) -> Option<String> {
    field.map(|f| f.replace('?', ""))
}

fn rate(limit: Option<(u32, u32)>) -> Option<Rate> {
    limit.map(|(per_second, burst)| Rate { per_second, burst })
}

impl Report {
    fn new(package: &Package, overlay: Option<&str>) -> Self {
        let targets = |kind: Kind| {
            package
                .targets(kind)
                .iter()
                .map(|(target, place)| target_report(target, place))
                .collect()
        };
        Self {
            generator: format!("protoc-gen-mcp-auth {}", env!("CARGO_PKG_VERSION")),
            package: package.name.clone(),
            sources: package.sources.clone(),
            overlay: overlay.map(base_name),
            services: package
                .services
                .iter()
                .map(|service| {
                    let full = if package.name.is_empty() {
                        service.name.clone()
                    } else {
                        format!("{}.{}", package.name, service.name)
                    };
                    ServiceReport {
                        rpcs: service
                            .methods
                            .iter()
                            .map(|method| rpc_report(&full, method))
                            .collect(),
                        name: full,
                    }
                })
                .collect(),
            tools: targets(Kind::Tool),
            resources: targets(Kind::Resource),
            prompts: targets(Kind::Prompt),
        }
    }
}

fn target_report(target: &Target, place: &Place) -> TargetReport {
    TargetReport {
        name: target.name.clone(),
        scopes: target.scopes.clone(),
        description: target
            .description
            .iter()
            .map(|line| line.trim())
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        arguments: target.arguments.clone(),
        declared_in: Origin::new(place, None),
    }
}

fn rpc_report(service: &str, method: &Method) -> RpcReport {
    let rule: &Rule = &method.rule;
    let (access, scopes) = match &rule.access {
        Access::Public => ("public", Vec::new()),
        Access::Authenticated => ("authenticated", Vec::new()),
        Access::Scopes(scopes) => ("scopes", scopes.clone()),
    };
    RpcReport {
        name: method.name.clone(),
        path: format!("/{service}/{}", method.name),
        kind: match (method.client_streaming, method.server_streaming) {
            (false, false) => "unary",
            (false, true) => "server_streaming",
            (true, false) => "client_streaming",
            (true, true) => "bidirectional",
        },
        access,
        scopes,
        identity: rule.identity.unwrap_or("any"),
        relaxed_stream_checks: rule.relaxed.clone(),
        rate_limit: rate(rule.rate_limit),
        message_rate_limit: rate(rule.message_rate_limit),
        tool_field: proto_path(rule.tool_field.as_ref()),
        allow_undeclared_tools: rule.allow_undeclared_tools,
        resource_field: proto_path(rule.resource_field.as_ref()),
        allow_undeclared_resources: rule.allow_undeclared_resources,
        prompt_field: proto_path(rule.prompt_field.as_ref()),
        allow_undeclared_prompts: rule.allow_undeclared_prompts,
        reauth_field: proto_path(rule.reauth_field.as_ref()),
        rule_from: Origin::new(&method.rule_place, Some(method.inherited)),
    }
}

/// `text` as an inline code span that survives any backticks in it, with `|` escaped for a
/// table cell.
fn code(text: &str) -> String {
    let ticks = if text.contains('`') { "``" } else { "`" };
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", text.replace('|', "\\|"))
}

/// Prose for a table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn scopes(scopes: &[String]) -> String {
    scopes
        .iter()
        .map(|s| code(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn needs(rpc: &RpcReport) -> String {
    let mut out = match rpc.access {
        "public" => "**public**: no credentials".to_owned(),
        "authenticated" => "any authenticated caller".to_owned(),
        _ => format!("scopes {}", scopes(&rpc.scopes)),
    };
    for (field, allow, what) in [
        (&rpc.tool_field, rpc.allow_undeclared_tools, "tool"),
        (
            &rpc.resource_field,
            rpc.allow_undeclared_resources,
            "resource",
        ),
        (&rpc.prompt_field, rpc.allow_undeclared_prompts, "prompt"),
    ] {
        if let Some(field) = field {
            let _ = write!(out, " + the {what}'s scopes (by {})", code(field));
            if allow {
                let _ = write!(out, "; undeclared {what}s allowed");
            }
        }
    }
    out
}

fn checks(rpc: &RpcReport) -> String {
    let mut out = Vec::new();
    if rpc.identity != "any" {
        out.push(format!("identity: {}", rpc.identity));
    }
    if let Some(limit) = &rpc.rate_limit {
        out.push(format!(
            "{}/s per caller, burst {}",
            limit.per_second, limit.burst
        ));
    }
    if let Some(limit) = &rpc.message_rate_limit {
        out.push(format!(
            "{} messages/s per caller, burst {}",
            limit.per_second, limit.burst
        ));
    }
    for relaxed in &rpc.relaxed_stream_checks {
        out.push(format!("relaxed: {}", code(relaxed)));
    }
    if let Some(field) = &rpc.reauth_field {
        out.push(format!("fresh tokens in {}", code(field)));
    }
    out.join("; ")
}

fn markdown(report: &Report) -> String {
    let mut out = format!(
        "<!-- @generated by {}. DO NOT EDIT. -->\n\n# Authorization policy of {}\n\n",
        report.generator,
        code(if report.package.is_empty() {
            "(no package)"
        } else {
            &report.package
        })
    );
    let sources: Vec<String> = report.sources.iter().map(|s| code(s)).collect();
    match &report.overlay {
        Some(overlay) => {
            let _ = writeln!(
                out,
                "Sources: {}, with the policy overlay {}.",
                sources.join(", "),
                code(overlay)
            );
        }
        None => {
            let _ = writeln!(out, "Sources: {}.", sources.join(", "));
        }
    }
    out.push_str(
        "\nEvery RPC needs what its row says; rate limits and stream checks not listed take the \
         server's defaults, and every per-message check of a client stream is on unless relaxed \
         here.\n",
    );
    for service in &report.services {
        let _ = writeln!(out, "\n## Service {}\n", code(&service.name));
        out.push_str("| RPC | Kind | Caller needs | Checks | Rule from |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for rpc in &service.rpcs {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&rpc.name),
                rpc.kind.replace('_', " "),
                needs(rpc),
                checks(rpc),
                rpc.rule_from.markdown()
            );
        }
    }
    for (title, column, targets) in [
        ("Tools", "Tool", &report.tools),
        ("Resources", "URI prefix", &report.resources),
        ("Prompts", "Prompt", &report.prompts),
    ] {
        if targets.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {title}\n");
        let _ = writeln!(
            out,
            "| {column} | Needs (on top of the RPC's) | Description | Declared in |"
        );
        out.push_str("| --- | --- | --- | --- |\n");
        for target in targets {
            let needs = if target.scopes.is_empty() {
                "nothing more".to_owned()
            } else {
                scopes(&target.scopes)
            };
            let mut description = cell(&target.description);
            if let Some(arguments) = &target.arguments {
                if !description.is_empty() {
                    description.push(' ');
                }
                let _ = write!(description, "Arguments: {}.", code(arguments));
            }
            let _ = writeln!(
                out,
                "| {} | {needs} | {description} | {} |",
                code(&target.name),
                target.declared_in.markdown()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(cell("x | y"), "x \\| y");
    }
}
