//! The plain model the renderer sees: packages, services, methods and their checked rules,
//! read from the descriptors and their custom options. Every problem in the user's proto
//! becomes a [`Diagnostic`] that says where it is and how to fix it.

use std::collections::BTreeMap;
use std::fmt;

use heck::{ToSnakeCase, ToUpperCamelCase};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor,
    FileDescriptor, MessageDescriptor, MethodDescriptor, ReflectMessage, ServiceDescriptor, Value,
};

use crate::overlay::Overlay;
use crate::params::Parameters;
use crate::request::{Request, Sources};
use crate::schema;
use crate::source::SourceIndex;

/// The extension names of the options, as in `proto/mcp_auth/v1/auth.proto`.
const METHOD_EXTENSION: &str = "mcp_auth.v1.method";
const SERVICE_EXTENSION: &str = "mcp_auth.v1.service";
const TOOL_EXTENSION: &str = "mcp_auth.v1.tool";
const TOOLS_EXTENSION: &str = "mcp_auth.v1.tools";
const RESOURCES_EXTENSION: &str = "mcp_auth.v1.resources";
const PROMPTS_EXTENSION: &str = "mcp_auth.v1.prompts";
const ARGUMENT_EXTENSION: &str = "mcp_auth.v1.argument";
/// The package of the extensions above.
const OPTIONS_PACKAGE: &str = "mcp_auth.v1";
/// Every extension of [`OPTIONS_PACKAGE`] this version reads; any other is refused.
const KNOWN_EXTENSIONS: [&str; 7] = [
    METHOD_EXTENSION,
    SERVICE_EXTENSION,
    TOOL_EXTENSION,
    TOOLS_EXTENSION,
    RESOURCES_EXTENSION,
    PROMPTS_EXTENSION,
    ARGUMENT_EXTENSION,
];
/// The field number the method, service, tool and tools extensions share.
const EXTENSION_NUMBER: i32 = 51871;

/// A problem in the user's proto, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The proto file, as protoc names it.
    pub file: String,
    /// 1-based line and column, when the request carries source info.
    pub position: Option<(usize, usize)>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Where a rule was written: a position in a proto file or in a policy overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) file: String,
    /// 1-based line and column, when known.
    pub(crate) position: Option<(usize, usize)>,
    /// Whether `file` is a policy overlay rather than a proto.
    pub(crate) overlay: bool,
}

impl Place {
    pub(crate) fn diagnostic(&self, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            position: self.position,
            message,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// Who may call a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    Public,
    Authenticated,
    Scopes(Vec<String>),
}

/// A method's checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) access: Access,
    /// `jwt`, `mtls`, `either`, `both`; `None` for any configured credential.
    pub(crate) identity: Option<&'static str>,
    /// Relaxed per-message checks, by flag name.
    pub(crate) relaxed: Vec<&'static str>,
    /// Calls per second and burst, when the proto sets them.
    pub(crate) rate_limit: Option<(u32, u32)>,
    /// Stream messages per second and burst, when the proto sets them.
    pub(crate) message_rate_limit: Option<(u32, u32)>,
    /// The request field naming the tool, as `a?.b` segments (`?`: an `Option` in Rust).
    pub(crate) tool_field: Option<String>,
    /// When `tool_field` is a oneof of tool argument messages: the Rust path of its enum, and
    /// each case's variant with the tool it calls.
    pub(crate) tool_oneof: Option<(String, Vec<(String, String)>)>,
    /// Whether tools no rule declares pass with the method's scopes.
    pub(crate) allow_undeclared_tools: bool,
    /// The request field holding the URI of the resource read, as `a?.b` segments.
    pub(crate) resource_field: Option<String>,
    /// Whether URIs under no declared prefix pass with the method's scopes.
    pub(crate) allow_undeclared_resources: bool,
    /// The request field naming the prompt, as `a?.b` segments.
    pub(crate) prompt_field: Option<String>,
    /// Whether prompts no rule declares pass with the method's scopes.
    pub(crate) allow_undeclared_prompts: bool,
    /// The request field that may carry a fresh token on a stream.
    pub(crate) reauth_field: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Method {
    pub(crate) name: String,
    pub(crate) comments: Vec<String>,
    pub(crate) request: String,
    pub(crate) response: String,
    pub(crate) client_streaming: bool,
    pub(crate) server_streaming: bool,
    pub(crate) rule: Rule,
    /// Where its rule was written (its own, or its service's default): a proto option or an
    /// overlay line.
    pub(crate) rule_place: Place,
    /// Whether the rule is its service's default.
    pub(crate) inherited: bool,
}

#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) name: String,
    pub(crate) comments: Vec<String>,
    pub(crate) methods: Vec<Method>,
}

/// Everything generated into one output file: one proto package.
#[derive(Debug)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) sources: Vec<String>,
    pub(crate) services: Vec<Service>,
    /// The package's tools, with where each was declared.
    pub(crate) tools: Vec<(Target, Place)>,
    /// The package's resource prefixes (`name` is the URI prefix).
    pub(crate) resources: Vec<(Target, Place)>,
    /// The package's prompts.
    pub(crate) prompts: Vec<(Target, Place)>,
    /// The argument messages of its tools and every message and enum they reach.
    pub(crate) argument_types: Vec<crate::arguments::ArgumentType>,
    /// The Rust type of each tool's argument message, by its proto name.
    pub(crate) argument_rust_types: BTreeMap<String, String>,
}

impl Package {
    pub(crate) fn targets(&self, kind: Kind) -> &[(Target, Place)] {
        match kind {
            Kind::Tool => &self.tools,
            Kind::Resource => &self.resources,
            Kind::Prompt => &self.prompts,
        }
    }

    fn targets_mut(&mut self, kind: Kind) -> &mut Vec<(Target, Place)> {
        match kind {
            Kind::Tool => &mut self.tools,
            Kind::Resource => &mut self.resources,
            Kind::Prompt => &mut self.prompts,
        }
    }
}

/// What an MCP call can name, each with its own table of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Tool, Kind::Resource, Kind::Prompt];

    /// The noun for one, in messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource prefix",
            Kind::Prompt => "prompt",
        }
    }

    /// The table's name: the overlay key, the `service!` table.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Kind::Tool => "tools",
            Kind::Resource => "resources",
            Kind::Prompt => "prompts",
        }
    }

    fn max_len(self) -> usize {
        match self {
            Kind::Resource => 1024,
            Kind::Tool | Kind::Prompt => 128,
        }
    }

    /// The rule's field for the request field that names one, when a method has it.
    pub(crate) fn field(self, rule: &Rule) -> Option<&str> {
        match self {
            Kind::Tool => rule.tool_field.as_deref(),
            Kind::Resource => rule.resource_field.as_deref(),
            Kind::Prompt => rule.prompt_field.as_deref(),
        }
    }
}

/// An MCP tool, resource prefix (`name` is the prefix) or prompt declared in the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) description: Vec<String>,
    /// For a tool with an argument message, the JSON Schema of its arguments.
    pub(crate) input_schema: Option<String>,
    /// For a tool with an argument message, its fully qualified name.
    pub(crate) arguments: Option<String>,
}

// The options, decoded from their dynamic form. Field numbers match auth.proto.

#[derive(Clone, PartialEq, Message)]
pub(crate) struct MethodRule {
    #[prost(bool, tag = "1")]
    pub(crate) public: bool,
    #[prost(string, repeated, tag = "2")]
    pub(crate) scopes: Vec<String>,
    #[prost(bool, tag = "3")]
    pub(crate) authenticated: bool,
    #[prost(int32, tag = "4")]
    pub(crate) identity: i32,
    #[prost(message, optional, tag = "5")]
    pub(crate) stream: Option<StreamRule>,
    #[prost(message, optional, tag = "6")]
    pub(crate) rate_limit: Option<RateLimitRule>,
    #[prost(string, tag = "7")]
    pub(crate) tool_name_field: String,
    #[prost(bool, tag = "8")]
    pub(crate) allow_undeclared_tools: bool,
    #[prost(string, tag = "9")]
    pub(crate) resource_uri_field: String,
    #[prost(bool, tag = "10")]
    pub(crate) allow_undeclared_resources: bool,
    #[prost(string, tag = "11")]
    pub(crate) prompt_name_field: String,
    #[prost(bool, tag = "12")]
    pub(crate) allow_undeclared_prompts: bool,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ToolRule {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, repeated, tag = "2")]
    pub(crate) scopes: Vec<String>,
    #[prost(string, tag = "3")]
    pub(crate) description: String,
    /// The argument message of a tool declared in a table, fully qualified.
    #[prost(string, tag = "4")]
    pub(crate) arguments: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ArgumentRule {
    #[prost(bool, tag = "1")]
    pub(crate) required: bool,
}

/// `ToolTable`; also decodes `ResourceTable` and `PromptTable`, which have the same fields
/// (`uri_prefix` is field 1 of `ResourceRule` as `name` is of `ToolRule`).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ToolTable {
    #[prost(message, repeated, tag = "1")]
    pub(crate) tool: Vec<ToolRule>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct RateLimitRule {
    #[prost(uint32, tag = "1")]
    pub(crate) per_second: u32,
    #[prost(uint32, tag = "2")]
    pub(crate) burst: u32,
    #[prost(uint32, tag = "3")]
    pub(crate) messages_per_second: u32,
    #[prost(uint32, tag = "4")]
    pub(crate) message_burst: u32,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ServiceRule {
    #[prost(message, optional, tag = "1")]
    pub(crate) default: Option<MethodRule>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct StreamRule {
    #[prost(bool, tag = "1")]
    pub(crate) unchecked_expiry: bool,
    #[prost(bool, tag = "2")]
    pub(crate) unchecked_message_scopes: bool,
    #[prost(bool, tag = "3")]
    pub(crate) unlimited_messages: bool,
    #[prost(string, tag = "4")]
    pub(crate) reauth_token_field: String,
}

/// The option fields this version enforces, by message. A field outside this list (set in a
/// newer auth.proto, or one whose enforcement has not landed) is an error, never ignored:
/// ignoring it would silently weaken the policy the proto asks for.
fn supported_fields(message: &str) -> &'static [u32] {
    match message {
        "mcp_auth.v1.MethodRule" => &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        "mcp_auth.v1.RateLimit" => &[1, 2, 3, 4],
        "mcp_auth.v1.ToolRule" => &[1, 2, 3, 4],
        "mcp_auth.v1.ArgumentRule" => &[1],
        "mcp_auth.v1.ToolTable" => &[1],
        "mcp_auth.v1.ResourceRule" | "mcp_auth.v1.PromptRule" => &[1, 2, 3],
        "mcp_auth.v1.ResourceTable" | "mcp_auth.v1.PromptTable" => &[1],
        "mcp_auth.v1.ServiceRule" => &[1],
        "mcp_auth.v1.StreamRule" => &[1, 2, 3, 4],
        _ => &[],
    }
}

struct Locator<'a> {
    file: &'a FileDescriptor,
    source: SourceIndex<'a>,
}

impl<'a> Locator<'a> {
    fn new(file: &'a FileDescriptor, source: SourceIndex<'a>) -> Self {
        Self { file, source }
    }

    /// The position of the first of `paths` that has one.
    fn diagnostic(&self, paths: &[&[i32]], message: String) -> Diagnostic {
        self.place(paths).diagnostic(message)
    }

    /// The place of the first of `paths` that has a position.
    fn place(&self, paths: &[&[i32]]) -> Place {
        Place {
            file: self.file.name().to_owned(),
            position: paths.iter().find_map(|p| self.source.position(p)),
            overlay: false,
        }
    }

    fn comments(&self, path: &[i32]) -> Vec<String> {
        self.source
            .comment(path)
            .map(comment_lines)
            .unwrap_or_default()
    }
}

/// A leading comment as lines, without trailing blank lines.
pub(crate) fn comment_lines(comments: &str) -> Vec<String> {
    let mut lines: Vec<String> = comments
        .trim_end_matches('\n')
        .split('\n')
        .map(|line| line.trim_end().to_owned())
        .collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

fn with_option(path: &[i32]) -> Vec<i32> {
    let mut path = path.to_vec();
    // `options` is field 3 of ServiceDescriptorProto and 4 of MethodDescriptorProto.
    let options_field = if path.len() == 2 { 3 } else { 4 };
    path.extend([options_field, EXTENSION_NUMBER]);
    path
}

/// Walks a set option and reports every field this version does not enforce.
fn unsupported_fields(message: &DynamicMessage, out: &mut Vec<String>) {
    let descriptor = message.descriptor();
    let supported = supported_fields(descriptor.full_name());
    for (field, value) in message.fields() {
        if !supported.contains(&field.number()) {
            push_once(out, format!("{}.{}", descriptor.name(), field.name()));
            continue;
        }
        match value {
            Value::Message(nested) => unsupported_fields(nested, out),
            // The entries of a table (`ToolTable.tool`): each is a rule message of its own.
            Value::List(values) => {
                for value in values {
                    if let Value::Message(nested) = value {
                        unsupported_fields(nested, out);
                    }
                }
            }
            _ => {}
        }
    }
    if message.unknown_fields().next().is_some() {
        push_once(
            out,
            format!("{} (unknown field numbers)", descriptor.name()),
        );
    }
}

/// Adds `entry` unless it is there: a table repeats its rule message, and each field it sets
/// is named once.
fn push_once(out: &mut Vec<String>, entry: String) {
    if !out.contains(&entry) {
        out.push(entry);
    }
}

fn read_option<T: Message + Default>(
    options: &DynamicMessage,
    extension: Option<&ExtensionDescriptor>,
) -> Result<Option<T>, Vec<String>> {
    let Some(extension) = extension else {
        return Ok(None);
    };
    if !options.has_extension(extension) {
        return Ok(None);
    }
    let Value::Message(message) = &*options.get_extension(extension) else {
        return Ok(None);
    };
    let mut unsupported = Vec::new();
    unsupported_fields(message, &mut unsupported);
    if !unsupported.is_empty() {
        return Err(unsupported);
    }
    Ok(Some(
        T::decode(message.encode_to_vec().as_slice()).expect("re-encoded option decodes"),
    ))
}

/// The `(mcp_auth.v1.argument)` rule of `field`, or the fields of it this version does not
/// enforce.
pub(crate) fn argument_rule(field: &FieldDescriptor) -> Result<Option<ArgumentRule>, Vec<String>> {
    let extension = field
        .parent_pool()
        .get_extension_by_name(ARGUMENT_EXTENSION);
    read_option(&field.options(), extension.as_ref())
}

/// Whether `scope` is an RFC 6749 scope-token: `%x21 / %x23-5B / %x5D-7E`, at least one.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

struct Extensions {
    method: Option<ExtensionDescriptor>,
    service: Option<ExtensionDescriptor>,
    tool: Option<ExtensionDescriptor>,
    tools: Option<ExtensionDescriptor>,
    resources: Option<ExtensionDescriptor>,
    prompts: Option<ExtensionDescriptor>,
}

impl Extensions {
    /// The file-level table extension of `kind`, and its number.
    fn table(&self, kind: Kind) -> (Option<&ExtensionDescriptor>, i32) {
        match kind {
            Kind::Tool => (self.tools.as_ref(), EXTENSION_NUMBER),
            Kind::Resource => (self.resources.as_ref(), EXTENSION_NUMBER + 1),
            Kind::Prompt => (self.prompts.as_ref(), EXTENSION_NUMBER + 2),
        }
    }
}

/// A service default and where it was written (the proto's service option, or an overlay's
/// `pkg.Service.*` rule).
struct ServiceDefault {
    rule: MethodRule,
    place: Place,
}

/// Builds the model of every package in `files_to_generate`, with the rules of `overlay` on top
/// of the protos' own, or every problem found.
pub(crate) fn build(
    request: &Request,
    params: &Parameters,
    overlay: Option<&Overlay>,
) -> Result<Vec<Package>, Vec<Diagnostic>> {
    let pool = &request.pool;
    let files_to_generate = &request.files_to_generate;
    let sources = &request.sources;
    let extensions = Extensions {
        method: pool.get_extension_by_name(METHOD_EXTENSION),
        service: pool.get_extension_by_name(SERVICE_EXTENSION),
        tool: pool.get_extension_by_name(TOOL_EXTENSION),
        tools: pool.get_extension_by_name(TOOLS_EXTENSION),
        resources: pool.get_extension_by_name(RESOURCES_EXTENSION),
        prompts: pool.get_extension_by_name(PROMPTS_EXTENSION),
    };
    // The options of a newer auth.proto than this version's.
    let unknown_extensions: Vec<ExtensionDescriptor> = pool
        .all_extensions()
        .filter(|e| {
            e.package_name() == OPTIONS_PACKAGE && !KNOWN_EXTENSIONS.contains(&e.full_name())
        })
        .collect();
    let mut diagnostics = Vec::new();
    let mut packages: Vec<Package> = Vec::new();
    let mut generated = Generated::default();
    for name in files_to_generate {
        let Some(file) = pool.get_file_by_name(name) else {
            diagnostics.push(Diagnostic {
                file: name.clone(),
                position: None,
                message: "the request names this file but does not contain it".to_owned(),
            });
            continue;
        };
        let locator = Locator::new(&file, sources.index(file.name()));
        unknown_options(&file, &unknown_extensions, &locator, &mut diagnostics);
        let file_tools = collect_tools(
            &file,
            &locator,
            &extensions,
            overlay,
            sources,
            &mut generated,
            &mut diagnostics,
        );
        let file_tables = [Kind::Resource, Kind::Prompt].map(|kind| {
            (
                kind,
                collect_table(&file, &locator, &extensions, kind, &mut diagnostics),
            )
        });
        let services: Vec<Service> = file
            .services()
            .filter_map(|service| {
                generated.services.push(service.full_name().to_owned());
                generated.methods.extend(
                    service
                        .methods()
                        .map(|m| format!("{}.{}", service.full_name(), m.name())),
                );
                build_service(
                    &service,
                    &locator,
                    &extensions,
                    params,
                    overlay,
                    &mut diagnostics,
                )
            })
            .collect();
        let package = file.package_name().to_owned();
        let existing = package_entry(&mut packages, &package);
        if existing.sources.is_empty() {
            // The overlay's tables of a package come first, where a file's own
            // `(mcp_auth.v1.tools)` table would be: before the tools of argument messages.
            for kind in Kind::ALL {
                let table = overlay.and_then(|o| o.table(kind).iter().find(|t| t.name == package));
                if let Some(table) = table {
                    let targets = table
                        .rule
                        .iter()
                        .map(|(rule, place)| (target(rule.clone(), Vec::new()), place.clone()))
                        .collect::<Vec<_>>();
                    check_targets(kind, &targets, &mut diagnostics);
                    add_targets(existing, kind, targets, &mut diagnostics);
                }
            }
        }
        existing.sources.push(name.clone());
        existing.services.extend(services);
        add_targets(existing, Kind::Tool, file_tools, &mut diagnostics);
        for (kind, targets) in file_tables {
            add_targets(existing, kind, targets, &mut diagnostics);
        }
    }
    if let Some(overlay) = overlay {
        for kind in Kind::ALL {
            for table in overlay.table(kind) {
                if !packages.iter().any(|p| p.name == table.name) {
                    diagnostics.push(table.place.diagnostic(format!(
                        "the overlay declares {} of package `{}`, but no file generated in this \
                         run belongs to it; check the package name, or remove `[{}.\"{}\"]`",
                        kind.table(),
                        table.name,
                        kind.table(),
                        table.selector
                    )));
                }
            }
        }
        unmatched_selectors(overlay, &generated, &mut diagnostics);
    }
    for package in &mut packages {
        resolve_arguments(pool, sources, params, package, &mut diagnostics);
    }
    for package in &packages {
        undeclared_targets(package, overlay.is_some(), &mut diagnostics);
    }
    if diagnostics.is_empty() {
        Ok(packages)
    } else {
        Err(diagnostics)
    }
}

/// Refuses every option of `unknown` (extensions of a newer auth.proto than this version's) set
/// on an element of `file`: a new option is a new rule, and ignoring it would silently weaken
/// the policy the proto asks for.
fn unknown_options(
    file: &FileDescriptor,
    unknown: &[ExtensionDescriptor],
    locator: &Locator<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if unknown.is_empty() {
        return;
    }
    // Each element: what to call it, its path, the field number of its `options`, its options.
    let mut elements: Vec<(String, Vec<i32>, i32, DynamicMessage)> =
        vec![("the file".to_owned(), Vec::new(), 8, file.options())];
    let mut extensions: Vec<ExtensionDescriptor> = file.extensions().collect();
    let mut enums: Vec<EnumDescriptor> = file.enums().collect();
    let mut messages: Vec<MessageDescriptor> = file.messages().collect();
    while let Some(message) = messages.pop() {
        let name = message.full_name().to_owned();
        for field in message.fields() {
            let what = format!("field `{name}.{}`", field.name());
            elements.push((what, field.path().to_vec(), 8, field.options()));
        }
        for oneof in message.oneofs() {
            let what = format!("oneof `{name}.{}`", oneof.name());
            elements.push((what, oneof.path().to_vec(), 2, oneof.options()));
        }
        extensions.extend(message.child_extensions());
        enums.extend(message.child_enums());
        messages.extend(message.child_messages());
        let what = format!("message `{name}`");
        elements.push((what, message.path().to_vec(), 7, message.options()));
    }
    for extension in extensions {
        let what = format!("extension `{}`", extension.full_name());
        elements.push((what, extension.path().to_vec(), 8, extension.options()));
    }
    for enumeration in enums {
        for value in enumeration.values() {
            let what = format!("enum value `{}`", value.full_name());
            elements.push((what, value.path().to_vec(), 3, value.options()));
        }
        let what = format!("enum `{}`", enumeration.full_name());
        elements.push((what, enumeration.path().to_vec(), 3, enumeration.options()));
    }
    for service in file.services() {
        for method in service.methods() {
            let what = format!("rpc `{}.{}`", service.name(), method.name());
            elements.push((what, method.path().to_vec(), 4, method.options()));
        }
        let what = format!("service `{}`", service.name());
        elements.push((what, service.path().to_vec(), 3, service.options()));
    }
    // In the order of the file's elements, by kind.
    elements.sort_by(|a, b| a.1.cmp(&b.1));
    for (what, path, options_field, options) in &elements {
        for extension in unknown {
            // `has_extension` goes by number, and the options share theirs.
            if extension.containing_message() != options.descriptor()
                || !options.has_extension(extension)
            {
                continue;
            }
            let mut option_path = path.clone();
            option_path.extend([*options_field, extension.number() as i32]);
            diagnostics.push(locator.diagnostic(
                &[&option_path, path],
                format!(
                    "{what} sets `({})`, an option this version of protoc-gen-mcp-auth does not \
                     know; remove it or upgrade the plugin",
                    extension.full_name()
                ),
            ));
        }
    }
}

/// Finds the argument message of every tool that names one, and describes them all for
/// `ToolCall::decode`.
fn resolve_arguments(
    pool: &DescriptorPool,
    sources: &Sources,
    params: &Parameters,
    package: &mut Package,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut comments = schema::SourceComments::new(sources);
    let mut roots = Vec::new();
    for (tool, place) in &mut package.tools {
        let Some(name) = &tool.arguments else {
            continue;
        };
        let Some(message) = pool.get_message_by_name(name) else {
            diagnostics.push(place.diagnostic(format!(
                "tool `{}` names `{name}` as its argument message, but no file of this run \
                 declares it (nor any file they import); check the name, or add the file that \
                 declares it to the run",
                tool.name
            )));
            continue;
        };
        if tool.input_schema.is_none() {
            tool.input_schema = Some(schema::input_schema(&message, &mut comments));
        }
        package
            .argument_rust_types
            .insert(name.clone(), resolve_type(name, &package.name, params));
        roots.push(message);
    }
    let messages = crate::arguments::reachable(&roots);
    check_argument_rules(&messages, sources, diagnostics);
    package.argument_types = crate::arguments::closure(&messages);
}

/// Refuses an `(mcp_auth.v1.argument)` on a field of `messages` that sets what this version does
/// not enforce, as every other option is refused: ignoring it would describe the arguments more
/// loosely than the proto asks.
fn check_argument_rules(
    messages: &[MessageDescriptor],
    sources: &Sources,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for message in messages {
        for field in message.fields() {
            let Err(fields) = argument_rule(&field) else {
                continue;
            };
            let file = field.parent_file();
            let locator = Locator::new(&file, sources.index(file.name()));
            let mut option_path = field.path().to_vec();
            // `options` is field 8 of FieldDescriptorProto.
            option_path.extend([8, EXTENSION_NUMBER]);
            let diagnostic = locator.diagnostic(
                &[&option_path, field.path()],
                format!(
                    "field `{}.{}` sets {} in `(mcp_auth.v1.argument)`, which this version of \
                     protoc-gen-mcp-auth does not enforce; remove it or upgrade the plugin",
                    message.name(),
                    field.name(),
                    fields.join(", ")
                ),
            );
            // A message reached from the tools of two packages is reported once.
            if !diagnostics.contains(&diagnostic) {
                diagnostics.push(diagnostic);
            }
        }
    }
}

/// RPCs that name tools (resources, prompts) in a package that declares none and do not allow
/// undeclared ones: every call would be refused, which is never what the proto meant.
fn undeclared_targets(package: &Package, overlay: bool, diagnostics: &mut Vec<Diagnostic>) {
    for service in &package.services {
        for method in &service.methods {
            for kind in Kind::ALL {
                let rule = &method.rule;
                let allowed = match kind {
                    Kind::Tool => rule.allow_undeclared_tools,
                    Kind::Resource => rule.allow_undeclared_resources,
                    Kind::Prompt => rule.allow_undeclared_prompts,
                };
                if kind.field(rule).is_none() || allowed || !package.targets(kind).is_empty() {
                    continue;
                }
                let (option, allow) = match kind {
                    Kind::Tool => ("tools", "allow_undeclared_tools"),
                    Kind::Resource => ("resources", "allow_undeclared_resources"),
                    Kind::Prompt => ("prompts", "allow_undeclared_prompts"),
                };
                let in_overlay = if overlay {
                    format!(" (or `[{option}.\"{}\"]` in the overlay)", package.name)
                } else {
                    String::new()
                };
                diagnostics.push(method.rule_place.diagnostic(format!(
                    "rpc `{}.{}` names {option}, but package `{}` declares none, so every call \
                     would be refused; declare them with `option (mcp_auth.v1.{option})`\
                     {in_overlay}, or set `{allow}`",
                    service.name, method.name, package.name
                )));
            }
        }
    }
}

/// What the files of this run declare, to find overlay selectors that match none of it.
#[derive(Default)]
struct Generated {
    services: Vec<String>,
    methods: Vec<String>,
    messages: Vec<String>,
}

fn package_entry<'a>(packages: &'a mut Vec<Package>, name: &str) -> &'a mut Package {
    let index = match packages.iter().position(|p| p.name == name) {
        Some(index) => index,
        None => {
            packages.push(Package {
                name: name.to_owned(),
                sources: Vec::new(),
                services: Vec::new(),
                tools: Vec::new(),
                resources: Vec::new(),
                prompts: Vec::new(),
                argument_types: Vec::new(),
                argument_rust_types: BTreeMap::new(),
            });
            packages.len() - 1
        }
    };
    &mut packages[index]
}

fn add_targets(
    package: &mut Package,
    kind: Kind,
    targets: Vec<(Target, Place)>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let noun = kind.noun();
    for (target, place) in targets {
        let existing = package.targets_mut(kind);
        let Some((_, first)) = existing.iter().find(|(t, _)| t.name == target.name) else {
            existing.push((target, place));
            continue;
        };
        // One in both the proto and the overlay is reported at the overlay's line.
        let diagnostic = match (first.overlay, place.overlay) {
            (true, false) => first.diagnostic(format!(
                "{noun} `{}` is also declared in the proto ({place}); give it in one place only",
                target.name
            )),
            (false, true) => place.diagnostic(format!(
                "{noun} `{}` is also declared in the proto ({first}); give it in one place only",
                target.name
            )),
            _ => place.diagnostic(format!(
                "{noun} `{}` is declared twice in package `{}`; {} are unique",
                target.name,
                package.name,
                match kind {
                    Kind::Tool => "tool names",
                    Kind::Resource => "resource prefixes",
                    Kind::Prompt => "prompt names",
                }
            )),
        };
        diagnostics.push(diagnostic);
    }
}

/// Overlay rules whose selector names nothing this run generates: a typo or a stale rule, which
/// would otherwise leave the RPC it meant to cover under another rule (or none) silently.
fn unmatched_selectors(
    overlay: &Overlay,
    generated: &Generated,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for entry in &overlay.methods {
        if generated.methods.contains(&entry.name) {
            continue;
        }
        let (service, method) = entry
            .name
            .rsplit_once('.')
            .unwrap_or(("", entry.name.as_str()));
        let why = if generated.services.iter().any(|s| s == service) {
            format!("service `{service}` has no rpc `{method}`")
        } else {
            format!("no file generated in this run declares service `{service}`")
        };
        diagnostics.push(entry.place.diagnostic(format!(
            "the overlay selector `{}` matches no rpc: {why}; fix the name, or remove the rule",
            entry.selector
        )));
    }
    for entry in &overlay.services {
        if !generated.services.contains(&entry.name) {
            diagnostics.push(entry.place.diagnostic(format!(
                "the overlay selector `{}` matches no service: no file generated in this run \
                 declares service `{}`; fix the name, or remove the rule",
                entry.selector, entry.name
            )));
        }
    }
    for entry in &overlay.messages {
        if !generated.messages.contains(&entry.name) {
            diagnostics.push(entry.place.diagnostic(format!(
                "the overlay gives a tool rule to message `{}`, but no file generated in this \
                 run declares it; fix the name, or remove the rule",
                entry.name
            )));
        }
    }
}

/// A tool (resource prefix, prompt) from its rule; `comments` is the description when the rule
/// has none.
fn target(rule: ToolRule, comments: Vec<String>) -> Target {
    let description = if rule.description.is_empty() {
        comments
    } else {
        rule.description.lines().map(str::to_owned).collect()
    };
    let arguments = rule.arguments.trim_start_matches('.');
    Target {
        name: rule.name,
        scopes: rule.scopes,
        description,
        input_schema: None,
        arguments: (!arguments.is_empty()).then(|| arguments.to_owned()),
    }
}

/// The tools a file declares: its `(mcp_auth.v1.tools)` table and every message marked
/// `(mcp_auth.v1.tool)` (or given a tool rule by the overlay), in declaration order.
fn collect_tools(
    file: &FileDescriptor,
    locator: &Locator<'_>,
    extensions: &Extensions,
    overlay: Option<&Overlay>,
    sources: &Sources,
    generated: &mut Generated,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(Target, Place)> {
    let mut tools = Vec::new();
    let file_option_path = vec![8, EXTENSION_NUMBER];
    match read_option::<ToolTable>(&file.options(), extensions.tools.as_ref()) {
        Ok(Some(table)) => {
            let place = locator.place(&[&file_option_path]);
            for rule in table.tool {
                tools.push((target(rule, Vec::new()), place.clone()));
            }
        }
        Ok(None) => {}
        Err(fields) => diagnostics.push(locator.diagnostic(
            &[&file_option_path, &[2]],
            format!(
                "`(mcp_auth.v1.tools)` sets {}, which this version of protoc-gen-mcp-auth does \
                 not enforce; remove it or upgrade the plugin",
                fields.join(", ")
            ),
        )),
    }
    let mut comments = schema::SourceComments::new(sources);
    let mut messages: Vec<MessageDescriptor> = file.messages().collect();
    messages.reverse();
    while let Some(message) = messages.pop() {
        let mut children: Vec<MessageDescriptor> = message.child_messages().collect();
        children.reverse();
        messages.extend(children);
        generated.messages.push(message.full_name().to_owned());
        let from_overlay = overlay.and_then(|o| o.message(message.full_name()));
        match read_option::<ToolRule>(&message.options(), extensions.tool.as_ref()) {
            Ok(Some(_)) if from_overlay.is_some() => {
                let entry = from_overlay.expect("checked by the guard");
                diagnostics.push(entry.place.diagnostic(format!(
                    "message `{}` already has a tool rule in the proto ({}); give it in one \
                     place only: remove `[message.\"{}\"]` from the overlay or the option from \
                     the proto",
                    message.full_name(),
                    locator.place(&[message.path()]),
                    entry.selector
                )));
            }
            Ok(Some(rule)) => {
                if !rule.arguments.is_empty() {
                    diagnostics.push(locator.diagnostic(
                        &[message.path()],
                        format!(
                            "`(mcp_auth.v1.tool)` on message `{}` sets `arguments`, but the \
                             arguments of a tool declared on a message are that message; \
                             remove `arguments`",
                            message.name()
                        ),
                    ));
                }
                let mut tool = target(rule, locator.comments(message.path()));
                tool.input_schema = Some(schema::input_schema(&message, &mut comments));
                tool.arguments = Some(message.full_name().to_owned());
                tools.push((tool, locator.place(&[message.path()])));
            }
            Ok(None) => {
                if let Some(entry) = from_overlay {
                    let mut tool = target(entry.rule.clone(), locator.comments(message.path()));
                    tool.input_schema = Some(schema::input_schema(&message, &mut comments));
                    tool.arguments = Some(message.full_name().to_owned());
                    tools.push((tool, entry.place.clone()));
                }
            }
            Err(fields) => diagnostics.push(locator.diagnostic(
                &[message.path()],
                format!(
                    "`(mcp_auth.v1.tool)` on message `{}` sets {}, which this version of \
                     protoc-gen-mcp-auth does not enforce; remove it or upgrade the plugin",
                    message.name(),
                    fields.join(", ")
                ),
            )),
        }
    }
    check_targets(Kind::Tool, &tools, diagnostics);
    tools
}

/// The resources or prompts a file declares in its `(mcp_auth.v1.resources)` or
/// `(mcp_auth.v1.prompts)` table.
fn collect_table(
    file: &FileDescriptor,
    locator: &Locator<'_>,
    extensions: &Extensions,
    kind: Kind,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(Target, Place)> {
    let (extension, number) = extensions.table(kind);
    let option_path = vec![8, number];
    let targets = match read_option::<ToolTable>(&file.options(), extension) {
        Ok(Some(table)) => {
            let place = locator.place(&[&option_path]);
            table
                .tool
                .into_iter()
                .map(|rule| (target(rule, Vec::new()), place.clone()))
                .collect()
        }
        Ok(None) => Vec::new(),
        Err(fields) => {
            diagnostics.push(locator.diagnostic(
                &[&option_path, &[2]],
                format!(
                    "`(mcp_auth.v1.{})` sets {}, which this version of protoc-gen-mcp-auth does \
                     not enforce; remove it or upgrade the plugin",
                    kind.table(),
                    fields.join(", ")
                ),
            ));
            Vec::new()
        }
    };
    check_targets(kind, &targets, diagnostics);
    targets
}

/// Checks the names and scopes of tools (resource prefixes, prompts).
fn check_targets(kind: Kind, targets: &[(Target, Place)], diagnostics: &mut Vec<Diagnostic>) {
    let noun = kind.noun();
    for (target, place) in targets {
        let bad_name = target.name.is_empty()
            || target.name.len() > kind.max_len()
            || target
                .name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if bad_name {
            let (label, each, what) = match kind {
                Kind::Tool => ("tool name", "tool", "name"),
                Kind::Resource => ("resource prefix", "resource", "URI prefix"),
                Kind::Prompt => ("prompt name", "prompt", "name"),
            };
            diagnostics.push(place.diagnostic(format!(
                "{label} {:?} is not valid: give each {each} a non-empty {what} without spaces, \
                 at most {} characters",
                target.name,
                kind.max_len()
            )));
        }
        for scope in &target.scopes {
            if !is_scope_token(scope) {
                diagnostics.push(place.diagnostic(format!(
                    "{noun} `{}` requires the scope {scope:?}, which is not a valid scope: a \
                     scope is non-empty printable ASCII without spaces, `\"` or `\\`",
                    target.name
                )));
            }
        }
    }
}

fn build_service(
    service: &ServiceDescriptor,
    locator: &Locator<'_>,
    extensions: &Extensions,
    params: &Parameters,
    overlay: Option<&Overlay>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Service> {
    let service_path = service.path().to_vec();
    let proto_default =
        match read_option::<ServiceRule>(&service.options(), extensions.service.as_ref()) {
            Ok(rule) => rule.and_then(|r| r.default),
            Err(fields) => {
                diagnostics.push(locator.diagnostic(
                    &[&with_option(&service_path), &service_path],
                    format!(
                        "service `{}` sets {} in `(mcp_auth.v1.service)`, which this version of \
                         protoc-gen-mcp-auth does not enforce; remove it or upgrade the plugin",
                        service.name(),
                        fields.join(", ")
                    ),
                ));
                return None;
            }
        };
    let overlay_default = overlay.and_then(|o| o.service(service.full_name()));
    let default = match (proto_default, overlay_default) {
        (Some(rule), Some(entry)) => {
            diagnostics.push(entry.place.diagnostic(format!(
                "service `{}` already has a default rule in the proto ({}); give it in one place \
                 only: remove `[method.\"{}\"]` from the overlay or the option from the proto",
                service.name(),
                locator.place(&[&with_option(&service_path), &service_path]),
                entry.selector
            )));
            // Go on with the proto's, to report the RPCs' own conflicts too.
            Some(ServiceDefault {
                rule,
                place: locator.place(&[&with_option(&service_path), &service_path]),
            })
        }
        (Some(rule), None) => Some(ServiceDefault {
            rule,
            place: locator.place(&[&with_option(&service_path), &service_path]),
        }),
        (None, Some(entry)) => Some(ServiceDefault {
            rule: entry.rule.clone(),
            place: entry.place.clone(),
        }),
        (None, None) => None,
    };
    let before = diagnostics.len();
    let mut methods = Vec::new();
    for method in service.methods() {
        if let Some(method) = build_method(
            service,
            &method,
            default.as_ref(),
            locator,
            extensions,
            params,
            overlay,
            diagnostics,
        ) {
            methods.push(method);
        }
    }
    (diagnostics.len() == before).then(|| Service {
        name: service.name().to_owned(),
        comments: locator.comments(&service_path),
        methods,
    })
}

#[allow(clippy::too_many_arguments)]
fn build_method(
    service: &ServiceDescriptor,
    method: &MethodDescriptor,
    default: Option<&ServiceDefault>,
    locator: &Locator<'_>,
    extensions: &Extensions,
    params: &Parameters,
    overlay: Option<&Overlay>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Method> {
    let path = method.path().to_vec();
    let option_path = with_option(&path);
    let rpc = format!("rpc `{}.{}`", service.name(), method.name());
    let proto_own = match read_option::<MethodRule>(&method.options(), extensions.method.as_ref()) {
        Ok(rule) => rule,
        Err(fields) => {
            diagnostics.push(locator.diagnostic(
                &[&option_path, &path],
                format!(
                    "{rpc} sets {} in `(mcp_auth.v1.method)`, which this version of \
                     protoc-gen-mcp-auth does not enforce; remove it or upgrade the plugin",
                    fields.join(", ")
                ),
            ));
            return None;
        }
    };
    let overlay_own = overlay.and_then(|o| o.method(service.full_name(), method.name()));
    let own = match (proto_own, overlay_own) {
        (Some(_), Some(entry)) => {
            diagnostics.push(entry.place.diagnostic(format!(
                "{rpc} already has a rule in the proto ({}); give it in one place only: remove \
                 `[method.\"{}\"]` from the overlay or the option from the proto",
                locator.place(&[&option_path, &path]),
                entry.selector
            )));
            return None;
        }
        (Some(rule), None) => Some((rule, locator.place(&[&option_path, &path]))),
        (None, Some(entry)) => Some((entry.rule.clone(), entry.place.clone())),
        (None, None) => None,
    };
    let inherited = own.is_none();
    let Some((rule, rule_place)) =
        own.or_else(|| default.map(|d| (d.rule.clone(), d.place.clone())))
    else {
        let import = if extensions.method.is_none() && overlay.is_none() {
            "import \"mcp_auth/v1/auth.proto\" and "
        } else {
            ""
        };
        let in_overlay = match overlay {
            Some(overlay) => format!(
                ", or give it a rule in the policy overlay `{}` (`[method.\"{}.{}\"]`)",
                overlay.file,
                service.full_name(),
                method.name()
            ),
            None => String::new(),
        };
        diagnostics.push(locator.diagnostic(
            &[&option_path, &path],
            format!(
                "{rpc} has no authorization rule; {import}add \
                 `option (mcp_auth.v1.method) = {{ scopes: \"...\" }};` to it (or \
                 `{{ authenticated: true }}`, or `{{ public: true }}` to make it callable without \
                 credentials), or give service `{}` a default with \
                 `option (mcp_auth.v1.service) = {{ default: {{ scopes: \"...\" }} }};`{in_overlay}",
                service.name()
            ),
        ));
        return None;
    };
    let mut error = |message: String| {
        // A proto rule's problems are reported at the RPC (the fix may be to give it its own
        // rule); an overlay rule's at its line in the overlay.
        diagnostics.push(if rule_place.overlay {
            rule_place.diagnostic(message)
        } else {
            locator.diagnostic(&[&option_path, &path], message)
        });
    };
    let whose = if inherited {
        format!(
            "{rpc} (through the default of service `{}`)",
            service.name()
        )
    } else {
        rpc.clone()
    };
    let mut ok = true;
    let mut fail = |message: String| {
        ok = false;
        error(message);
    };
    let chosen = [rule.public, rule.authenticated, !rule.scopes.is_empty()];
    let access = match chosen {
        [true, false, false] => Some(Access::Public),
        [false, true, false] => Some(Access::Authenticated),
        [false, false, true] => Some(Access::Scopes(rule.scopes.clone())),
        [false, false, false] => {
            fail(format!(
                "{whose} has an empty rule; name the scopes it needs (`scopes: \"...\"`), or \
                 write `authenticated: true` or `public: true`"
            ));
            None
        }
        _ => {
            let mut given = Vec::new();
            if rule.public {
                given.push("`public`");
            }
            if rule.authenticated {
                given.push("`authenticated`");
            }
            if !rule.scopes.is_empty() {
                given.push("`scopes`");
            }
            fail(format!(
                "{whose} combines {}; a rule is exactly one of `public: true`, \
                 `authenticated: true` or `scopes`",
                given.join(" and ")
            ));
            None
        }
    };
    for scope in &rule.scopes {
        if !is_scope_token(scope) {
            fail(format!(
                "{whose} requires the scope {scope:?}, which is not a valid scope: a scope is \
                 non-empty printable ASCII without spaces, `\"` or `\\` (RFC 6749); split \
                 space-separated scopes into separate entries"
            ));
        }
    }
    let identity = match rule.identity {
        0 => None,
        1 => Some("jwt"),
        2 => Some("mtls"),
        3 => Some("either"),
        4 => Some("both"),
        other => {
            fail(format!("{whose} has an unknown identity value {other}"));
            None
        }
    };
    if rule.public && identity.is_some() {
        fail(format!(
            "{whose} is public and cannot also require an `identity`; remove one of them"
        ));
    }
    let client_streaming = method.is_client_streaming();
    let mut relaxed = Vec::new();
    if let Some(stream) = &rule.stream {
        if client_streaming {
            for (set, flag) in [
                (stream.unchecked_expiry, "unchecked_expiry"),
                (stream.unchecked_message_scopes, "unchecked_message_scopes"),
                (stream.unlimited_messages, "unlimited_messages"),
            ] {
                if set {
                    relaxed.push(flag);
                }
            }
        } else if !inherited {
            // A service default may relax its streaming RPCs; a unary RPC's own rule cannot
            // relax checks it does not have.
            fail(format!(
                "{rpc} does not stream from the client, so `stream` has no per-message checks \
                 to relax; remove `stream` from its rule"
            ));
        }
    }
    let mut tool_oneof = None;
    let tool_field = if rule.tool_name_field.is_empty() {
        if rule.allow_undeclared_tools {
            fail(format!(
                "{whose} sets `allow_undeclared_tools` without `tool_name_field`; name the \
                 request field that carries the tool name, or remove it"
            ));
        }
        None
    } else if rule.public {
        fail(format!(
            "{whose} is public, so there are no scopes to check its tools against; remove \
             `public` or `tool_name_field`"
        ));
        None
    } else {
        let oneof = oneof_tools(
            &method.input(),
            &rule.tool_name_field,
            extensions,
            overlay,
            params,
            service.parent_file().package_name(),
        );
        match oneof.map(|o| o.map(|(path, enumeration, cases)| (path, Some((enumeration, cases)))))
        {
            Some(Ok((path, oneof))) => {
                tool_oneof = oneof;
                if rule.allow_undeclared_tools {
                    fail(format!(
                        "{whose} selects its tool by the oneof `{}`, whose every case is a \
                         declared tool; remove `allow_undeclared_tools`",
                        rule.tool_name_field
                    ));
                }
                Some(path)
            }
            Some(Err(problem)) => {
                fail(format!(
                    "{whose} names the oneof {:?} as its tool selector, but {problem}",
                    rule.tool_name_field
                ));
                None
            }
            None => match field_path(&method.input(), &rule.tool_name_field) {
                Ok(path) => Some(path),
                Err(problem) => {
                    fail(format!(
                        "{whose} names the tool field {:?}, but {problem}",
                        rule.tool_name_field
                    ));
                    None
                }
            },
        }
    };
    let mut named_field = |field: &str, allow: bool, key: &str, allow_key: &str, what: &str| {
        if field.is_empty() {
            if allow {
                fail(format!(
                    "{whose} sets `{allow_key}` without `{key}`; name the request field that \
                     carries the {what}, or remove it"
                ));
            }
            return None;
        }
        if rule.public {
            fail(format!(
                "{whose} is public, so there are no scopes to check its {what} against; remove \
                 `public` or `{key}`"
            ));
            return None;
        }
        if client_streaming {
            // The stream guard checks tools per message; resources and prompts it does not,
            // so a rule that asks for it is refused rather than half enforced.
            fail(format!(
                "{whose} streams from the client; `{key}` is checked on unary and \
                 server-streaming RPCs only"
            ));
            return None;
        }
        match field_path(&method.input(), field) {
            Ok(path) => Some(path),
            Err(problem) => {
                fail(format!(
                    "{whose} names the {what} field {field:?}, but {problem}"
                ));
                None
            }
        }
    };
    let resource_field = named_field(
        &rule.resource_uri_field,
        rule.allow_undeclared_resources,
        "resource_uri_field",
        "allow_undeclared_resources",
        "resource URI",
    );
    let prompt_field = named_field(
        &rule.prompt_name_field,
        rule.allow_undeclared_prompts,
        "prompt_name_field",
        "allow_undeclared_prompts",
        "prompt name",
    );
    let reauth_field = match rule.stream.as_ref().map(|s| s.reauth_token_field.as_str()) {
        Some(field) if !field.is_empty() && client_streaming => {
            if field.contains('.') {
                fail(format!(
                    "{whose} names the re-authentication field {field:?}; it must be a string \
                     field of `{}` itself",
                    method.input().name()
                ));
                None
            } else {
                match field_path(&method.input(), field) {
                    Ok(path) => Some(path),
                    Err(problem) => {
                        fail(format!(
                            "{whose} names the re-authentication field {field:?}, but {problem}"
                        ));
                        None
                    }
                }
            }
        }
        _ => None,
    };
    let (rate_limit, message_rate_limit) = match &rule.rate_limit {
        None => (None, None),
        Some(limit) => {
            let calls = rate(limit.per_second, limit.burst, "per_second", "burst", &whose);
            let messages = rate(
                limit.messages_per_second,
                limit.message_burst,
                "messages_per_second",
                "message_burst",
                &whose,
            );
            let mut invalid = false;
            for problem in [&calls, &messages]
                .into_iter()
                .filter_map(|r| r.as_ref().err())
            {
                invalid = true;
                fail(problem.clone());
            }
            let (calls, messages) = (calls.ok().flatten(), messages.ok().flatten());
            if calls.is_none() && messages.is_none() && !invalid {
                fail(format!(
                    "{whose} has an empty `rate_limit`; set `per_second` (and for streams \
                     `messages_per_second`), or remove it to use the server's defaults"
                ));
            }
            if messages.is_some() && !client_streaming && !inherited {
                fail(format!(
                    "{rpc} does not stream from the client, so `messages_per_second` has no \
                     messages to limit; remove it"
                ));
            }
            if messages.is_some() && relaxed.contains(&"unlimited_messages") {
                fail(format!(
                    "{whose} both limits stream messages (`messages_per_second`) and exempts \
                     them (`unlimited_messages`); keep one"
                ));
            }
            (calls, messages.filter(|_| client_streaming))
        }
    };
    if !ok {
        return None;
    }
    Some(Method {
        rule_place,
        inherited,
        name: method.name().to_owned(),
        comments: locator.comments(&path),
        request: resolve_type(method.input().full_name(), service.package_name(), params),
        response: resolve_type(method.output().full_name(), service.package_name(), params),
        client_streaming,
        server_streaming: method.is_server_streaming(),
        rule: Rule {
            access: access?,
            identity,
            relaxed,
            rate_limit,
            message_rate_limit,
            tool_field,
            tool_oneof,
            allow_undeclared_tools: rule.allow_undeclared_tools,
            resource_field,
            allow_undeclared_resources: rule.allow_undeclared_resources,
            prompt_field,
            allow_undeclared_prompts: rule.allow_undeclared_prompts,
            reauth_field,
        },
    })
}

/// A oneof that selects a tool: the path for the generated code, the Rust path of its enum, and
/// each case's variant with the tool it calls.
type OneofTools = (String, String, Vec<(String, String)>);

/// When the last segment of the dotted `path` in `message` names a oneof (not a field): the path
/// for the generated code (`a?.choice`), the Rust path of the oneof's enum, and each case's
/// variant with the tool its message declares; or what is wrong. `None` when `path` does not end
/// in a oneof.
fn oneof_tools(
    message: &MessageDescriptor,
    path: &str,
    extensions: &Extensions,
    overlay: Option<&Overlay>,
    params: &Parameters,
    package: &str,
) -> Option<Result<OneofTools, String>> {
    let (parents, last) = match path.rsplit_once('.') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, path),
    };
    let mut current = message.clone();
    let mut out = Vec::new();
    for segment in parents.into_iter().flat_map(|p| p.split('.')) {
        let field = current.get_field_by_name(segment)?;
        let prost_reflect::Kind::Message(next) = field.kind() else {
            return None;
        };
        if field.is_list() || field.is_map() {
            return None;
        }
        out.push(format!("{segment}?"));
        current = next;
    }
    let oneof = current
        .oneofs()
        .find(|o| o.name() == last && !o.is_synthetic())?;
    out.push(last.to_owned());
    let mut cases = Vec::new();
    for field in oneof.fields() {
        let prost_reflect::Kind::Message(case) = field.kind() else {
            return Some(Err(format!(
                "its case `{}` is not a message; every case must be a tool's argument message",
                field.name()
            )));
        };
        let rule = match read_option::<ToolRule>(&case.options(), extensions.tool.as_ref()) {
            Ok(Some(rule)) => Some(rule.name),
            _ => overlay
                .and_then(|o| o.message(case.full_name()))
                .map(|entry| entry.rule.name.clone()),
        };
        let Some(tool) = rule else {
            return Some(Err(format!(
                "its case `{}` is `{}`, which is not a tool: give that message \
                 `option (mcp_auth.v1.tool)`",
                field.name(),
                case.full_name()
            )));
        };
        cases.push((sanitize(&field.name().to_upper_camel_case()), tool));
    }
    let owner = resolve_type(current.full_name(), package, params);
    let (module, _) = owner.rsplit_once("::").unwrap_or(("", &owner));
    let owner_module = sanitize(&current.name().to_snake_case());
    let enumeration = sanitize(&last.to_upper_camel_case());
    let enumeration = if module.is_empty() {
        format!("{owner_module}::{enumeration}")
    } else {
        format!("{module}::{owner_module}::{enumeration}")
    };
    Some(Ok((out.join("."), enumeration, cases)))
}

/// The string field at the dotted `path` in `message`, written for the generated code as
/// `a?.b` (`?` after a segment that is an `Option` in prost's Rust), or what is wrong with it.
fn field_path(message: &MessageDescriptor, path: &str) -> Result<String, String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut current = message.clone();
    let mut out = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let Some(field) = current.get_field_by_name(segment) else {
            return Err(format!(
                "`{}` has no field `{segment}`",
                current.full_name()
            ));
        };
        if field.is_list() || field.is_map() {
            return Err(format!("`{segment}` is repeated"));
        }
        if field
            .containing_oneof()
            .is_some_and(|oneof| !oneof.is_synthetic())
        {
            return Err(format!(
                "`{segment}` is in a oneof; name a field outside any oneof"
            ));
        }
        let last = i + 1 == segments.len();
        match field.kind() {
            prost_reflect::Kind::Message(next) if !last => {
                out.push(format!("{segment}?"));
                current = next;
            }
            prost_reflect::Kind::String if last => {
                let optional = if field.supports_presence() { "?" } else { "" };
                out.push(format!("{segment}{optional}"));
            }
            _ if last => return Err(format!("`{segment}` is not a string field")),
            _ => return Err(format!("`{segment}` is not a message field")),
        }
    }
    Ok(out.join("."))
}

/// A rate and its burst from the proto: `Ok(None)` when neither is set, the rate as the burst
/// when only the rate is set, an error when only the burst is set.
fn rate(
    per_second: u32,
    burst: u32,
    rate_name: &str,
    burst_name: &str,
    whose: &str,
) -> Result<Option<(u32, u32)>, String> {
    match (per_second, burst) {
        (0, 0) => Ok(None),
        (0, _) => Err(format!(
            "{whose} sets `{burst_name}` without `{rate_name}`; a burst needs a rate"
        )),
        (rate, 0) => Ok(Some((rate, rate))),
        (rate, burst) => Ok(Some((rate, burst))),
    }
}

/// The Rust path of a message, relative to the module of `package`, as prost-build and
/// tonic-prost-build write it for a service's request and response types.
pub(crate) fn resolve_type(full_name: &str, package: &str, params: &Parameters) -> String {
    let dotted = format!(".{full_name}");
    // The longest matching extern path wins, as in prost-build.
    if let Some((proto, rust)) = params
        .extern_paths
        .iter()
        .filter(|(proto, _)| {
            dotted == *proto
                || (dotted.starts_with(proto.as_str())
                    && dotted.as_bytes().get(proto.len()) == Some(&b'.'))
        })
        .max_by_key(|(proto, _)| proto.len())
    {
        if dotted == *proto {
            return rust.clone();
        }
        let rest = &dotted[proto.len() + 1..];
        let mut parts: Vec<&str> = rest.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut path = rust.clone();
        for part in parts {
            path.push_str("::");
            path.push_str(&sanitize(&part.to_snake_case()));
        }
        path.push_str("::");
        path.push_str(&sanitize(&last.to_upper_camel_case()));
        return path;
    }
    if let Some(wkt) = full_name.strip_prefix("google.protobuf.") {
        // tonic-prost-build's mapping for request and response types.
        return match wkt {
            "Empty" => "()".to_owned(),
            "StringValue" => "::prost::alloc::string::String".to_owned(),
            other => format!("::prost_types::{other}"),
        };
    }
    let mut local = package.split('.').filter(|s| !s.is_empty()).peekable();
    let mut ident = full_name.split('.').collect::<Vec<_>>();
    let ty = ident.pop().unwrap_or_default();
    let mut ident = ident.into_iter().peekable();
    while local.peek().is_some() && local.peek() == ident.peek() {
        local.next();
        ident.next();
    }
    local
        .map(|_| "super".to_owned())
        .chain(ident.map(|part| sanitize(&part.to_snake_case())))
        .chain(std::iter::once(sanitize(&ty.to_upper_camel_case())))
        .collect::<Vec<_>>()
        .join("::")
}

pub(crate) use mcp_auth_names::sanitize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_resolve_like_prost() {
        let p = Parameters::default();
        assert_eq!(resolve_type("a.b.Msg", "a.b", &p), "Msg");
        assert_eq!(resolve_type("a.b.Outer.Inner", "a.b", &p), "outer::Inner");
        assert_eq!(resolve_type("a.c.Msg", "a.b", &p), "super::c::Msg");
        assert_eq!(resolve_type("x.type.Msg", "a", &p), "super::x::r#type::Msg");
        assert_eq!(resolve_type("Msg", "", &p), "Msg");
        assert_eq!(resolve_type("google.protobuf.Empty", "a", &p), "()");
        assert_eq!(
            resolve_type("google.protobuf.Struct", "a", &p),
            "::prost_types::Struct"
        );
        let p: Parameters = "extern_path=.ext=::ext_crate::proto".parse().unwrap();
        assert_eq!(
            resolve_type("ext.v1.Outer.Inner", "a", &p),
            "::ext_crate::proto::v1::outer::Inner"
        );
        assert_eq!(resolve_type("extra.Msg", "a", &p), "super::extra::Msg");
    }

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("tools:call"));
        assert!(is_scope_token("https://api.example/read!"));
        for bad in ["", " ", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
