//! Policy overlays: the rules of protos you do not own (the official MCP proto, say), kept in a
//! TOML file beside your build instead of in the `.proto`.
//!
//! ```toml
//! # The default of every RPC of `mcp.v1.Mcp` without a rule of its own, as
//! # `option (mcp_auth.v1.service) = { default: { ... } }` would be.
//! [method."mcp.v1.Mcp.*"]
//! scopes = ["mcp:list"]
//!
//! # One RPC, as `option (mcp_auth.v1.method) = { ... }` on it would be.
//! [method."mcp.v1.Mcp.CallTool"]
//! scopes = ["tools:call"]
//! tool_name_field = "request.name"
//! rate_limit = { per_second = 10, burst = 20 }
//!
//! # Tools of a package, as `option (mcp_auth.v1.tools)` in one of its files would be.
//! [tools."mcp.v1"]
//! read_file = { scopes = ["files:read"], description = "Read a file under the root." }
//! write_file = { scopes = ["files:write"] }
//!
//! # A tool argument message, as `option (mcp_auth.v1.tool) = { ... }` on it would be.
//! [message."mcp.v1.EchoArgs"]
//! tool = { name = "echo", scopes = ["echo:say"] }
//!
//! # Resource URI prefixes and prompts of a package, as `(mcp_auth.v1.resources)` and
//! # `(mcp_auth.v1.prompts)` would be.
//! [resources."mcp.v1"]
//! "file:///docs/" = { scopes = ["docs:read"] }
//!
//! [prompts."mcp.v1"]
//! summarize = { scopes = ["prompts:summarize"] }
//! ```
//!
//! Every key of a rule is the field of the same name in `mcp_auth/v1/auth.proto`, with the same
//! meaning and the same checks; `identity` takes the enum's value names (`"IDENTITY_JWT"`).
//! An overlay rule is turned into the very option message the proto would carry, so the
//! generated code does not depend on where a rule was written.
//!
//! Why TOML and not a textproto of an options message: every error here must name the overlay
//! file and line, for the rule given twice as much as for a typo. The `toml` crate keeps the
//! span of every key and value (`toml::Spanned`), while prost-reflect's text-format parser keeps
//! no positions for the fields it parses (the span of a syntax error is only exposed through
//! miette). TOML also rejects a table given twice, and `deny_unknown_fields` turns a misspelt
//! key into an error instead of a silently weaker policy.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::model::{Diagnostic, Kind, MethodRule, Place, RateLimitRule, StreamRule, ToolRule};

/// A parsed overlay file: rules by selector, each with the place it was written.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    /// The file as the user named it, for messages.
    pub(crate) file: String,
    /// `pkg.Service.Method` rules.
    pub(crate) methods: Vec<Entry<MethodRule>>,
    /// `pkg.Service.*` rules: service defaults.
    pub(crate) services: Vec<Entry<MethodRule>>,
    /// Tool tables by package.
    pub(crate) tools: Vec<Entry<Vec<(ToolRule, Place)>>>,
    /// Resource tables by package (the rules' `name` is the URI prefix).
    pub(crate) resources: Vec<Entry<Vec<(ToolRule, Place)>>>,
    /// Prompt tables by package.
    pub(crate) prompts: Vec<Entry<Vec<(ToolRule, Place)>>>,
    /// Tool rules of argument messages, by fully qualified message name.
    pub(crate) messages: Vec<Entry<ToolRule>>,
}

/// One rule of the overlay, for the proto element its selector names.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    /// The fully qualified name the selector names (`pkg.Service.Method`, `pkg.Service` for a
    /// wildcard, `pkg` for a tool table, `pkg.Message`).
    pub(crate) name: String,
    /// The selector as written.
    pub(crate) selector: String,
    pub(crate) rule: T,
    pub(crate) place: Place,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayFile {
    #[serde(default)]
    method: BTreeMap<Spanned<String>, Spanned<RuleToml>>,
    #[serde(default)]
    tools: Table,
    #[serde(default)]
    resources: Table,
    #[serde(default)]
    prompts: Table,
    #[serde(default)]
    message: BTreeMap<Spanned<String>, Spanned<MessageToml>>,
}

/// `[tools."pkg"]` (`resources`, `prompts`): entries by name (URI prefix) within packages.
type Table = BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<ToolToml>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    #[serde(default)]
    public: bool,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    authenticated: bool,
    #[serde(default)]
    identity: Option<Spanned<String>>,
    #[serde(default)]
    stream: Option<StreamToml>,
    #[serde(default)]
    rate_limit: Option<RateLimitToml>,
    #[serde(default)]
    tool_name_field: String,
    #[serde(default)]
    allow_undeclared_tools: bool,
    #[serde(default)]
    resource_uri_field: String,
    #[serde(default)]
    allow_undeclared_resources: bool,
    #[serde(default)]
    prompt_name_field: String,
    #[serde(default)]
    allow_undeclared_prompts: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamToml {
    #[serde(default)]
    unchecked_expiry: bool,
    #[serde(default)]
    unchecked_message_scopes: bool,
    #[serde(default)]
    unlimited_messages: bool,
    #[serde(default)]
    reauth_token_field: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitToml {
    #[serde(default)]
    per_second: u32,
    #[serde(default)]
    burst: u32,
    #[serde(default)]
    messages_per_second: u32,
    #[serde(default)]
    message_burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolToml {
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    description: String,
    /// Tools only: the fully qualified name of the argument message.
    #[serde(default)]
    arguments: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageToml {
    tool: Spanned<NamedToolToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedToolToml {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    description: String,
}

/// Line starts of a text, to turn byte offsets into 1-based lines and columns.
struct Lines<'a> {
    file: &'a str,
    text: &'a str,
}

impl Lines<'_> {
    fn place(&self, offset: usize) -> Place {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Place {
            file: self.file.to_owned(),
            position: Some((line, column)),
            overlay: true,
        }
    }
}

/// The identity enum of auth.proto, by value name.
fn identity_value(name: &str) -> Option<i32> {
    match name {
        "IDENTITY_UNSPECIFIED" => Some(0),
        "IDENTITY_JWT" => Some(1),
        "IDENTITY_MTLS" => Some(2),
        "IDENTITY_EITHER" => Some(3),
        "IDENTITY_BOTH" => Some(4),
        _ => None,
    }
}

/// Whether `name` is a proto identifier.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a dotted proto name (`a.b.C`), without a leading dot.
fn is_dotted_name(name: &str) -> bool {
    name.split('.').all(is_identifier)
}

impl Overlay {
    /// Reads and parses the overlay at `path`; `Err` holds every problem, each at its line.
    pub(crate) fn load(path: &Path) -> Result<Self, Vec<Diagnostic>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            vec![Diagnostic {
                file: file.clone(),
                position: None,
                message: format!("cannot read the policy overlay: {error}"),
            }]
        })?;
        Self::parse(&file, &text)
    }

    /// Parses the overlay `text`, read from `file`.
    pub(crate) fn parse(file: &str, text: &str) -> Result<Self, Vec<Diagnostic>> {
        let lines = Lines { file, text };
        let parsed: OverlayFile = toml::from_str(text).map_err(|error| {
            let place = match error.span() {
                Some(span) => lines.place(span.start),
                None => Place {
                    file: file.to_owned(),
                    position: None,
                    overlay: true,
                },
            };
            vec![place.diagnostic(format!(
                "the policy overlay is not valid: {}",
                error.message()
            ))]
        })?;
        let mut overlay = Overlay {
            file: file.to_owned(),
            ..Overlay::default()
        };
        let mut diagnostics = Vec::new();
        let mut methods: Vec<_> = parsed.method.into_iter().collect();
        methods.sort_by_key(|(selector, _)| selector.span().start);
        for (selector, rule) in methods {
            let place = lines.place(selector.span().start);
            let selector = selector.into_inner();
            let Some((service, method)) = selector.rsplit_once('.').filter(|(service, method)| {
                is_dotted_name(service) && (*method == "*" || is_identifier(method))
            }) else {
                diagnostics.push(place.diagnostic(format!(
                    "`{selector}` is not a method selector; write `package.Service.Method`, or \
                     `package.Service.*` for the default of every RPC of the service"
                )));
                continue;
            };
            let Some(rule) = method_rule(rule.into_inner(), &lines, &mut diagnostics) else {
                continue;
            };
            let entry = Entry {
                name: if method == "*" {
                    service.to_owned()
                } else {
                    selector.clone()
                },
                selector: selector.clone(),
                rule,
                place,
            };
            if method == "*" {
                overlay.services.push(entry);
            } else {
                overlay.methods.push(entry);
            }
        }
        for (kind, table) in [
            (Kind::Tool, parsed.tools),
            (Kind::Resource, parsed.resources),
            (Kind::Prompt, parsed.prompts),
        ] {
            let entries = table_entries(kind, table, &lines, &mut diagnostics);
            match kind {
                Kind::Tool => overlay.tools = entries,
                Kind::Resource => overlay.resources = entries,
                Kind::Prompt => overlay.prompts = entries,
            }
        }
        let mut messages: Vec<_> = parsed.message.into_iter().collect();
        messages.sort_by_key(|(name, _)| name.span().start);
        for (name, message) in messages {
            let place = lines.place(name.span().start);
            let name = name.into_inner();
            if !is_dotted_name(&name) {
                diagnostics.push(place.diagnostic(format!(
                    "`{name}` is not a message name; write its fully qualified name, e.g. \
                     `[message.\"mcp.v1.EchoArgs\"]`"
                )));
                continue;
            }
            let tool = message.into_inner().tool;
            let tool_place = lines.place(tool.span().start);
            let tool = tool.into_inner();
            overlay.messages.push(Entry {
                name: name.clone(),
                selector: name,
                rule: ToolRule {
                    name: tool.name,
                    scopes: tool.scopes,
                    description: tool.description,
                    arguments: String::new(),
                },
                place: tool_place,
            });
        }
        if diagnostics.is_empty() {
            Ok(overlay)
        } else {
            Err(diagnostics)
        }
    }

    /// The tables of `kind`, by package.
    pub(crate) fn table(&self, kind: Kind) -> &[Entry<Vec<(ToolRule, Place)>>] {
        match kind {
            Kind::Tool => &self.tools,
            Kind::Resource => &self.resources,
            Kind::Prompt => &self.prompts,
        }
    }

    /// The overlay rule of the RPC `service.method` (fully qualified service name).
    pub(crate) fn method(&self, service: &str, method: &str) -> Option<&Entry<MethodRule>> {
        let name = format!("{service}.{method}");
        self.methods.iter().find(|entry| entry.name == name)
    }

    /// The overlay default (`pkg.Service.*`) of a service.
    pub(crate) fn service(&self, service: &str) -> Option<&Entry<MethodRule>> {
        self.services.iter().find(|entry| entry.name == service)
    }

    /// The overlay tool rule of the message `full_name`.
    pub(crate) fn message(&self, full_name: &str) -> Option<&Entry<ToolRule>> {
        self.messages.iter().find(|entry| entry.name == full_name)
    }
}

/// The tables of one kind, in file order, with their entries in file order.
fn table_entries(
    kind: Kind,
    table: Table,
    lines: &Lines<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Entry<Vec<(ToolRule, Place)>>> {
    let mut tables: Vec<_> = table.into_iter().collect();
    tables.sort_by_key(|(package, _)| package.span().start);
    let mut out = Vec::new();
    for (package, entries) in tables {
        let place = lines.place(package.span().start);
        let package = package.into_inner();
        if !package.is_empty() && !is_dotted_name(&package) {
            diagnostics.push(place.diagnostic(format!(
                "`{package}` is not a proto package; name the package whose {} these are, e.g. \
                 `[{}.\"mcp.v1\"]`",
                kind.table(),
                kind.table()
            )));
            continue;
        }
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        let rules = entries
            .into_iter()
            .map(|(name, entry)| {
                let place = lines.place(name.span().start);
                let entry = entry.into_inner();
                let arguments = match entry.arguments {
                    Some(arguments) if kind != Kind::Tool => {
                        diagnostics.push(lines.place(arguments.span().start).diagnostic(format!(
                            "`arguments` names a tool's argument message; {} have none, remove it",
                            kind.table()
                        )));
                        String::new()
                    }
                    Some(arguments) => {
                        let arguments_place = lines.place(arguments.span().start);
                        let arguments = arguments.into_inner();
                        let bare = arguments.strip_prefix('.').unwrap_or(&arguments);
                        if !is_dotted_name(bare) {
                            diagnostics.push(arguments_place.diagnostic(format!(
                                "`{arguments}` is not a message name; write its fully qualified \
                                 name, e.g. `arguments = \"mcp.v1.ReadFileArgs\"`"
                            )));
                        }
                        arguments
                    }
                    None => String::new(),
                };
                let rule = ToolRule {
                    name: name.into_inner(),
                    scopes: entry.scopes,
                    description: entry.description,
                    arguments,
                };
                (rule, place)
            })
            .collect();
        out.push(Entry {
            name: package.clone(),
            selector: package,
            rule: rules,
            place,
        });
    }
    out
}

/// The option message an overlay rule stands for; `None` (with a diagnostic) when a value has no
/// proto equivalent.
fn method_rule(
    rule: RuleToml,
    lines: &Lines<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<MethodRule> {
    let identity = match &rule.identity {
        None => 0,
        Some(name) => match identity_value(name.get_ref()) {
            Some(value) => value,
            None => {
                diagnostics.push(lines.place(name.span().start).diagnostic(format!(
                    "unknown identity {:?}; expected one of \"IDENTITY_JWT\", \"IDENTITY_MTLS\", \
                     \"IDENTITY_EITHER\", \"IDENTITY_BOTH\"",
                    name.get_ref()
                )));
                return None;
            }
        },
    };
    Some(MethodRule {
        public: rule.public,
        scopes: rule.scopes,
        authenticated: rule.authenticated,
        identity,
        stream: rule.stream.map(|s| StreamRule {
            unchecked_expiry: s.unchecked_expiry,
            unchecked_message_scopes: s.unchecked_message_scopes,
            unlimited_messages: s.unlimited_messages,
            reauth_token_field: s.reauth_token_field,
        }),
        rate_limit: rule.rate_limit.map(|r| RateLimitRule {
            per_second: r.per_second,
            burst: r.burst,
            messages_per_second: r.messages_per_second,
            message_burst: r.message_burst,
        }),
        tool_name_field: rule.tool_name_field,
        allow_undeclared_tools: rule.allow_undeclared_tools,
        resource_uri_field: rule.resource_uri_field,
        allow_undeclared_resources: rule.allow_undeclared_resources,
        prompt_name_field: rule.prompt_name_field,
        allow_undeclared_prompts: rule.allow_undeclared_prompts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        Overlay::parse("p.toml", text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn rules_keep_their_places_and_order() {
        let text = "\n[method.\"a.b.S.*\"]\nscopes = [\"x\"]\n\n[method.\"a.b.S.M\"]\n\
                    public = true\nidentity = \"IDENTITY_JWT\"\n\n[tools.\"a.b\"]\n\
                    zeta = { scopes = [\"z\"] }\nalpha = { scopes = [\"a\"], description = \"A\" }\n\
                    [message.\"a.b.Args\"]\ntool = { name = \"t\" }\n";
        let overlay = Overlay::parse("p.toml", text).unwrap();
        let default = overlay.service("a.b.S").unwrap();
        assert_eq!(default.rule.scopes, ["x"]);
        assert_eq!(default.place.to_string(), "p.toml:2:9");
        let method = overlay.method("a.b.S", "M").unwrap();
        assert!(method.rule.public);
        assert_eq!(method.rule.identity, 1);
        assert_eq!(method.place.to_string(), "p.toml:5:9");
        let names: Vec<_> = overlay.tools[0]
            .rule
            .iter()
            .map(|(t, p)| format!("{} {p}", t.name))
            .collect();
        assert_eq!(names, ["zeta p.toml:10:1", "alpha p.toml:11:1"]);
        assert_eq!(overlay.message("a.b.Args").unwrap().rule.name, "t");
        assert_eq!(
            overlay.message("a.b.Args").unwrap().place.to_string(),
            "p.toml:13:8"
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        assert_eq!(
            errors("[method.\"a.S.M\"]\nscope = [\"x\"]\n"),
            [
                "p.toml:2:1: the policy overlay is not valid: unknown field `scope`, expected one of \
              `public`, `scopes`, `authenticated`, `identity`, `stream`, `rate_limit`, \
              `tool_name_field`, `allow_undeclared_tools`, `resource_uri_field`, \
              `allow_undeclared_resources`, `prompt_name_field`, `allow_undeclared_prompts`"
            ]
        );
        assert_eq!(
            errors("[method.\"a.S.M\"]\n[method.\"a.S.M\"]\n"),
            ["p.toml:2:9: the policy overlay is not valid: duplicate key"]
        );
        assert_eq!(
            errors("[method.\"S\"]\nscopes = [\"x\"]\n[method.\"a.S.M-1\"]\npublic = true\n"),
            [
                "p.toml:1:9: `S` is not a method selector; write `package.Service.Method`, or \
                 `package.Service.*` for the default of every RPC of the service",
                "p.toml:3:9: `a.S.M-1` is not a method selector; write \
                 `package.Service.Method`, or `package.Service.*` for the default of every RPC \
                 of the service"
            ]
        );
        assert_eq!(
            errors("[method.\"a.S.M\"]\nidentity = \"jwt\"\n"),
            [
                "p.toml:2:12: unknown identity \"jwt\"; expected one of \"IDENTITY_JWT\", \
              \"IDENTITY_MTLS\", \"IDENTITY_EITHER\", \"IDENTITY_BOTH\""
            ]
        );
        assert_eq!(
            errors("[method.\"a.S.M\"]\nrate_limit = { per_second = -1 }\n"),
            [
                "p.toml:2:29: the policy overlay is not valid: invalid value: integer `-1`, \
              expected u32"
            ]
        );
        assert_eq!(
            errors("[tools.\"a b\"]\n"),
            [
                "p.toml:1:8: `a b` is not a proto package; name the package whose tools these \
              are, e.g. `[tools.\"mcp.v1\"]`"
            ]
        );
        assert!(Overlay::load(Path::new("/nonexistent/overlay.toml")).is_err());
    }
}
