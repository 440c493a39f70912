//! `service!`: parse the declarative service description, validate it, expand it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Token, Type, braced, bracketed, parenthesized};

use crate::arguments::{Arguments, ToolArgs};
use crate::ident;

mod kw {
    syn::custom_keyword!(service);
    syn::custom_keyword!(server);
    syn::custom_keyword!(rpc);
    syn::custom_keyword!(returns);
    syn::custom_keyword!(stream);
    syn::custom_keyword!(public);
    syn::custom_keyword!(authenticated);
    syn::custom_keyword!(scopes);
    syn::custom_keyword!(identity);
    syn::custom_keyword!(rate_limit);
    syn::custom_keyword!(tools);
    syn::custom_keyword!(tool);
    syn::custom_keyword!(allow_undeclared_tools);
    syn::custom_keyword!(reauth);
    syn::custom_keyword!(resources);
    syn::custom_keyword!(resource);
    syn::custom_keyword!(allow_undeclared_resources);
    syn::custom_keyword!(prompts);
    syn::custom_keyword!(prompt);
    syn::custom_keyword!(allow_undeclared_prompts);
    syn::custom_keyword!(schema);
    syn::custom_keyword!(args);
    syn::custom_keyword!(arguments);
    syn::custom_keyword!(oneof);
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let service: ServiceDef = syn::parse2(input)?;
    validate(&service)?;
    Ok(render(&service))
}

// ---------------------------------------------------------------------------------------------
// Model and parsing

struct ServiceDef {
    attrs: Vec<Attribute>,
    /// Proto package, e.g. `mcp.v1`; empty when the proto has none.
    package: String,
    /// Proto service name, e.g. `McpService`.
    name: Ident,
    server: Option<syn::Path>,
    tools: Vec<ToolDef>,
    /// The `resources { "uri-prefix": [..] }` table, in the shape of `tools`.
    resources: Vec<ToolDef>,
    /// The `prompts { "name": [..] }` table, in the shape of `tools`.
    prompts: Vec<ToolDef>,
    /// The `arguments { .. }` block: the argument messages of the tools, field by field.
    arguments: Option<Arguments>,
    rpcs: Vec<RpcDef>,
}

/// One entry of the service's `tools { .. }` table (and of `resources`, keyed by URI prefix,
/// and `prompts`).
struct ToolDef {
    attrs: Vec<Attribute>,
    name: LitStr,
    scopes: Vec<LitStr>,
    /// `args pkg.Msg as Type`: the tool's argument message (tools only).
    args: Option<ToolArgs>,
    /// `schema r#"{..}"#`: the JSON Schema of a tool's arguments (tools only).
    schema: Option<LitStr>,
}

/// A path to a field of a request message: `request?.name`, where `?` marks a field that is an
/// `Option` in Rust (a message field, or a proto3 `optional` scalar). For tools, also a `oneof`
/// whose cases are tool argument messages:
/// `oneof request?.call as run_request::Call { Echo => "echo", ReadFile => "read_file" }`.
struct FieldPath {
    segments: Vec<(Ident, bool)>,
    span: Span,
    /// The oneof's Rust enum and the tool each case calls.
    oneof: Option<(syn::Path, Vec<(Ident, LitStr)>)>,
}

impl Parse for FieldPath {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let span = input.span();
        if input.peek(kw::oneof) {
            input.parse::<kw::oneof>()?;
            let mut path = Self::parse_segments(input, span)?;
            input.parse::<Token![as]>()?;
            let enumeration = input.parse()?;
            let body;
            braced!(body in input);
            let cases =
                Punctuated::<(Ident, LitStr), Token![,]>::parse_terminated_with(&body, |case| {
                    let variant = Ident::parse_any(case)?;
                    case.parse::<Token![=>]>()?;
                    Ok((variant, case.parse()?))
                })?;
            path.oneof = Some((enumeration, cases.into_iter().collect()));
            return Ok(path);
        }
        Self::parse_segments(input, span)
    }
}

impl FieldPath {
    fn parse_segments(input: ParseStream<'_>, span: Span) -> syn::Result<Self> {
        let mut segments = Vec::new();
        loop {
            let ident = Ident::parse_any(input)?;
            let optional = input.peek(Token![?]);
            if optional {
                input.parse::<Token![?]>()?;
            }
            segments.push((ident, optional));
            if !input.peek(Token![.]) {
                break;
            }
            input.parse::<Token![.]>()?;
        }
        Ok(Self {
            segments,
            span,
            oneof: None,
        })
    }
}

impl Parse for ToolDef {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        let list;
        bracketed!(list in input);
        let scopes = Punctuated::<LitStr, Token![,]>::parse_terminated(&list)?
            .into_iter()
            .collect();
        let args = if input.peek(kw::args) {
            input.parse::<kw::args>()?;
            Some(input.parse()?)
        } else {
            None
        };
        let schema = if input.peek(kw::schema) {
            input.parse::<kw::schema>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Self {
            attrs,
            name,
            scopes,
            args,
            schema,
        })
    }
}

struct RpcDef {
    attrs: Vec<Attribute>,
    name: Ident,
    client_streaming: bool,
    request: Type,
    server_streaming: bool,
    response: Type,
    rule: Rule,
    rule_span: Span,
}

#[derive(Default)]
struct Rule {
    public: Option<Span>,
    authenticated: Option<Span>,
    scopes: Option<(Span, Vec<LitStr>)>,
    identity: Option<Ident>,
    stream: Option<(Span, Vec<Ident>)>,
    rate_limit: Option<(Span, Vec<(Ident, syn::LitInt)>)>,
    tool: Option<FieldPath>,
    allow_undeclared_tools: Option<Span>,
    reauth: Option<FieldPath>,
    resource: Option<FieldPath>,
    allow_undeclared_resources: Option<Span>,
    prompt: Option<FieldPath>,
    allow_undeclared_prompts: Option<Span>,
}

impl Parse for ServiceDef {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        input.parse::<kw::service>()?;
        let mut segments = vec![Ident::parse_any(input)?];
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            segments.push(Ident::parse_any(input)?);
        }
        let name = segments.pop().expect("one segment was parsed");
        let package = segments
            .iter()
            .map(|s| s.unraw().to_string())
            .collect::<Vec<_>>()
            .join(".");
        let body;
        braced!(body in input);
        let server = if body.peek(kw::server) {
            body.parse::<kw::server>()?;
            body.parse::<Token![:]>()?;
            let path = body.parse()?;
            body.parse::<Token![;]>()?;
            Some(path)
        } else {
            None
        };
        let tools = parse_table::<kw::tools>(&body)?;
        let resources = parse_table::<kw::resources>(&body)?;
        let prompts = parse_table::<kw::prompts>(&body)?;
        let arguments = if body.peek(kw::arguments) {
            body.parse::<kw::arguments>()?;
            Some(body.parse()?)
        } else {
            None
        };
        let mut rpcs = Vec::new();
        while !body.is_empty() {
            rpcs.push(body.parse()?);
        }
        if !input.is_empty() {
            return Err(input.error("expected one `service` per `service!` invocation"));
        }
        Ok(Self {
            attrs,
            package,
            name,
            server,
            tools,
            resources,
            prompts,
            arguments,
            rpcs,
        })
    }
}

/// `K { "name": [..], .. }` (`tools`, `resources`, `prompts`) when the next token is `K`; no
/// entries otherwise.
fn parse_table<K: Parse + syn::token::Token>(body: ParseStream<'_>) -> syn::Result<Vec<ToolDef>> {
    if body.parse::<Option<K>>()?.is_none() {
        return Ok(Vec::new());
    }
    let table;
    braced!(table in body);
    Ok(Punctuated::<ToolDef, Token![,]>::parse_terminated(&table)?
        .into_iter()
        .collect())
}

fn parse_message(input: ParseStream<'_>) -> syn::Result<(bool, Type)> {
    let content;
    parenthesized!(content in input);
    let streaming = content.peek(kw::stream) && !content.peek2(Token![::]);
    if streaming {
        content.parse::<kw::stream>()?;
    }
    let ty = content.parse()?;
    if !content.is_empty() {
        return Err(content.error("expected one message type"));
    }
    Ok((streaming, ty))
}

impl Parse for RpcDef {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        input.parse::<kw::rpc>()?;
        let name = Ident::parse_any(input)?;
        let (client_streaming, request) = parse_message(input)?;
        input.parse::<kw::returns>()?;
        let (server_streaming, response) = parse_message(input)?;
        let rule_span = input.span();
        let content;
        braced!(content in input);
        let rule = content.parse()?;
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
        }
        Ok(Self {
            attrs,
            name,
            client_streaming,
            request,
            server_streaming,
            response,
            rule,
            rule_span,
        })
    }
}

/// The rule's fields, one keyword each: `$keyword => $value` parses the keyword, then `$value`
/// (one of the field parsers below) what follows it, into the field of [`Rule`] of the same
/// name. The keywords are peeked in the order written, which is the order `lookahead.error()`
/// lists them in.
macro_rules! rule_fields {
    ($input:ident, $lookahead:ident, $rule:ident, { $($keyword:ident => $value:expr),* $(,)? }) => {
        $(if $lookahead.peek(kw::$keyword) {
            rule_field::<kw::$keyword, _>($input, &mut $rule.$keyword, $value)?;
        } else)* {
            return Err($lookahead.error());
        }
    };
}

impl Parse for Rule {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut rule = Rule::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            rule_fields!(input, lookahead, rule, {
                public => parse_flag,
                authenticated => parse_flag,
                scopes => parse_list,
                identity => parse_value,
                tool => parse_value,
                allow_undeclared_tools => parse_flag,
                resource => parse_value,
                allow_undeclared_resources => parse_flag,
                prompt => parse_value,
                allow_undeclared_prompts => parse_flag,
                reauth => parse_value,
                rate_limit => parse_rate_limits,
                stream => parse_list,
            });
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(rule)
    }
}

/// Parses the keyword `K`, then its value with `value` (given the keyword's span), into `slot`;
/// an error on the keyword when `slot` is already set.
fn rule_field<K: Parse, T>(
    input: ParseStream<'_>,
    slot: &mut Option<T>,
    value: impl FnOnce(ParseStream<'_>, Span) -> syn::Result<T>,
) -> syn::Result<()> {
    let span = input.span();
    input.parse::<K>()?;
    if slot.replace(value(input, span)?).is_some() {
        return Err(syn::Error::new(span, "this field is given twice"));
    }
    Ok(())
}

/// A flag (`public`): the keyword alone.
fn parse_flag(_: ParseStream<'_>, span: Span) -> syn::Result<Span> {
    Ok(span)
}

/// `: VALUE`.
fn parse_value<T: Parse>(input: ParseStream<'_>, _: Span) -> syn::Result<T> {
    input.parse::<Token![:]>()?;
    input.parse()
}

/// `: [A, B]`, with the keyword's span.
fn parse_list<T: Parse>(input: ParseStream<'_>, span: Span) -> syn::Result<(Span, Vec<T>)> {
    input.parse::<Token![:]>()?;
    let list;
    bracketed!(list in input);
    let items = Punctuated::<T, Token![,]>::parse_terminated(&list)?;
    Ok((span, items.into_iter().collect()))
}

/// `: { name: 10, .. }`, with the keyword's span.
fn parse_rate_limits(
    input: ParseStream<'_>,
    span: Span,
) -> syn::Result<(Span, Vec<(Ident, syn::LitInt)>)> {
    input.parse::<Token![:]>()?;
    let body;
    braced!(body in input);
    let mut limits = Vec::new();
    while !body.is_empty() {
        let name: Ident = body.parse()?;
        body.parse::<Token![:]>()?;
        limits.push((name, body.parse::<syn::LitInt>()?));
        if !body.is_empty() {
            body.parse::<Token![,]>()?;
        }
    }
    Ok((span, limits))
}

// ---------------------------------------------------------------------------------------------
// Validation: every problem at once, each on its own tokens.

const STREAM_FLAGS: [&str; 3] = [
    "unchecked_expiry",
    "unchecked_message_scopes",
    "unlimited_messages",
];
const RATE_FIELDS: [&str; 4] = [
    "per_second",
    "burst",
    "messages_per_second",
    "message_burst",
];
const IDENTITIES: [&str; 5] = ["any", "jwt", "mtls", "either", "both"];

/// Whether `scope` is an RFC 6749 scope-token (`%x21 / %x23-5B / %x5D-7E`).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

fn validate(service: &ServiceDef) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |span: Span, message: String| {
        let error = syn::Error::new(span, message);
        match &mut errors {
            Some(all) => all.combine(error),
            None => errors = Some(error),
        }
    };
    for (kind, table) in [
        ("tool", &service.tools),
        ("resource prefix", &service.resources),
        ("prompt", &service.prompts),
    ] {
        let mut names = std::collections::HashSet::new();
        for entry in table {
            let name = entry.name.value();
            let long = if kind == "resource prefix" { 1024 } else { 128 };
            if name.is_empty()
                || name.len() > long
                || name.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                push(
                    entry.name.span(),
                    format!(
                        "`{}` is not a valid {}",
                        name.escape_debug(),
                        if kind == "resource prefix" {
                            "resource prefix".to_owned()
                        } else {
                            format!("{kind} name")
                        }
                    ),
                );
            }
            if !names.insert(name.clone()) {
                push(
                    entry.name.span(),
                    format!("{kind} `{name}` is declared twice"),
                );
            }
            if let Some(args) = &entry.args
                && kind != "tool"
            {
                push(
                    args.proto.span,
                    format!("only tools have an argument message; remove it from {kind} `{name}`"),
                );
            }
            if let Some(schema) = &entry.schema {
                let text = schema.value();
                if kind != "tool" {
                    push(
                        schema.span(),
                        format!("only tools have an input schema; remove it from {kind} `{name}`"),
                    );
                } else if !text.trim_start().starts_with('{') {
                    push(
                        schema.span(),
                        format!("the input schema of tool `{name}` must be a JSON object"),
                    );
                }
            }
            for scope in &entry.scopes {
                if !is_scope_token(&scope.value()) {
                    push(
                        scope.span(),
                        format!(
                            "`{}` is not a valid scope: scopes are non-empty printable ASCII \
                             without spaces, `\"` or `\\`",
                            scope.value().escape_debug()
                        ),
                    );
                }
            }
        }
    }
    let tool_args = service.tools.iter().filter_map(|t| t.args.as_ref());
    match &service.arguments {
        Some(arguments) => arguments.validate(tool_args, &mut push),
        None => {
            for args in tool_args {
                push(
                    args.proto.span,
                    format!(
                        "argument message `{}` is not described: add an `arguments {{ message {} \
                         {{ .. }} }}` block after the tables",
                        args.proto.text, args.proto.text
                    ),
                );
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for rpc in &service.rpcs {
        let name = rpc.name.unraw().to_string();
        if !seen.insert(name.clone()) {
            push(rpc.name.span(), format!("rpc `{name}` is declared twice"));
        }
        let rule = &rpc.rule;
        let who = [
            rule.public.is_some(),
            rule.authenticated.is_some(),
            rule.scopes.is_some(),
        ];
        match who.iter().filter(|x| **x).count() {
            0 => push(
                rpc.rule_span,
                format!(
                    "rpc `{name}` has no authorization rule; write `scopes: [\"...\"]`, \
                     `authenticated`, or `public`"
                ),
            ),
            1 => {}
            _ => {
                let given: Vec<&str> = ["`public`", "`authenticated`", "`scopes`"]
                    .into_iter()
                    .zip(who)
                    .filter_map(|(field, set)| set.then_some(field))
                    .collect();
                push(
                    rpc.rule_span,
                    format!(
                        "rpc `{name}` combines {}; a rule is exactly one of `public`, \
                         `authenticated` or `scopes`",
                        given.join(" and ")
                    ),
                );
            }
        }
        if let Some((span, scopes)) = &rule.scopes {
            if scopes.is_empty() {
                push(
                    *span,
                    format!(
                        "rpc `{name}` lists no scopes; name at least one, or write \
                         `authenticated` to admit any authenticated caller"
                    ),
                );
            }
            for scope in scopes {
                if !is_scope_token(&scope.value()) {
                    push(
                        scope.span(),
                        format!(
                            "`{}` is not a valid scope: scopes are non-empty printable ASCII \
                             without spaces, `\"` or `\\`",
                            scope.value().escape_debug()
                        ),
                    );
                }
            }
        }
        if let Some(public) = rule.public
            && rule.identity.is_some()
        {
            push(
                public,
                format!("rpc `{name}` is public and cannot also require an `identity`"),
            );
        }
        if let Some(identity) = &rule.identity
            && !IDENTITIES.contains(&identity.to_string().as_str())
        {
            push(
                identity.span(),
                format!(
                    "unknown identity `{identity}`; expected one of `any`, `jwt`, `mtls`, \
                     `either`, `both`"
                ),
            );
        }
        if let Some((span, limits)) = &rule.rate_limit {
            let mut seen = Vec::new();
            let mut unknown = false;
            for (name, value) in limits {
                let key = name.to_string();
                if !RATE_FIELDS.contains(&key.as_str()) {
                    unknown = true;
                    push(
                        name.span(),
                        format!(
                            "unknown rate limit field `{key}`; expected `per_second`, `burst`, \
                             `messages_per_second` or `message_burst`"
                        ),
                    );
                } else if seen.contains(&key) {
                    push(name.span(), format!("`{key}` is given twice"));
                }
                match value.base10_parse::<u32>() {
                    Ok(0) => push(value.span(), format!("`{key}` must be at least 1")),
                    Ok(_) => {}
                    Err(_) => push(value.span(), format!("`{key}` must fit in a `u32`")),
                }
                seen.push(key);
            }
            let has = |k: &str| seen.iter().any(|s| s == k);
            if has("burst") && !has("per_second") {
                push(*span, "`burst` needs `per_second`".to_owned());
            }
            if has("message_burst") && !has("messages_per_second") {
                push(
                    *span,
                    "`message_burst` needs `messages_per_second`".to_owned(),
                );
            }
            if !has("per_second") && !has("messages_per_second") && !unknown {
                push(
                    *span,
                    format!("rpc `{name}` has an empty `rate_limit`; set `per_second`"),
                );
            }
            if has("messages_per_second") && !rpc.client_streaming {
                push(
                    *span,
                    format!(
                        "rpc `{name}` does not stream from the client, so \
                         `messages_per_second` has no messages to limit"
                    ),
                );
            }
        }
        if let Some(span) = rule.allow_undeclared_tools
            && rule.tool.is_none()
        {
            push(
                span,
                format!("rpc `{name}` names no tool field, so there are no tools to allow"),
            );
        }
        for path in [&rule.resource, &rule.prompt, &rule.reauth]
            .into_iter()
            .flatten()
        {
            if path.oneof.is_some() {
                push(
                    path.span,
                    format!("rpc `{name}`: only `tool` can name a oneof; name a string field"),
                );
            }
        }
        if let Some((_, cases)) = rule.tool.as_ref().and_then(|t| t.oneof.as_ref()) {
            for (variant, tool) in cases {
                if !service.tools.iter().any(|t| t.name.value() == tool.value()) {
                    push(
                        tool.span(),
                        format!(
                            "rpc `{name}`: oneof case `{variant}` calls tool `{}`, which the \
                             `tools` table does not declare",
                            tool.value()
                        ),
                    );
                }
            }
            if rule.allow_undeclared_tools.is_some() {
                push(
                    rule.tool.as_ref().map_or(rpc.rule_span, |t| t.span),
                    format!(
                        "rpc `{name}` selects its tool by a oneof, whose every case is a declared \
                         tool; remove `allow_undeclared_tools`"
                    ),
                );
            }
        }
        if let Some(tool) = &rule.tool {
            if rule.public.is_some() {
                push(
                    tool.span,
                    format!(
                        "rpc `{name}` is public, so there are no scopes to check its tools \
                         against; remove `public` or `tool`"
                    ),
                );
            }
            if service.tools.is_empty() && rule.allow_undeclared_tools.is_none() {
                push(
                    tool.span,
                    format!(
                        "rpc `{name}` calls tools but the service declares none; add a \
                         `tools {{ \"name\": [\"scope\"] }}` table or `allow_undeclared_tools`"
                    ),
                );
            }
        }
        for (field, allow, table, what, key, allow_key) in [
            (
                &rule.resource,
                rule.allow_undeclared_resources,
                &service.resources,
                "resources",
                "resource",
                "allow_undeclared_resources",
            ),
            (
                &rule.prompt,
                rule.allow_undeclared_prompts,
                &service.prompts,
                "prompts",
                "prompt",
                "allow_undeclared_prompts",
            ),
        ] {
            if let Some(span) = allow
                && field.is_none()
            {
                push(
                    span,
                    format!(
                        "rpc `{name}` names no {key} field, so `{allow_key}` has nothing to allow"
                    ),
                );
            }
            let Some(field) = field else { continue };
            if rule.public.is_some() {
                push(
                    field.span,
                    format!(
                        "rpc `{name}` is public, so there are no scopes to check its {what} \
                         against; remove `public` or `{key}`"
                    ),
                );
            }
            if rpc.client_streaming {
                push(
                    field.span,
                    format!(
                        "rpc `{name}` streams from the client; `{key}` is checked on unary and \
                         server-streaming RPCs only"
                    ),
                );
            }
            if table.is_empty() && allow.is_none() {
                push(
                    field.span,
                    format!(
                        "rpc `{name}` names {what} but the service declares none; add a \
                         `{what} {{ \"...\": [\"scope\"] }}` table or `{allow_key}`"
                    ),
                );
            }
        }
        if let Some(reauth) = &rule.reauth {
            if !rpc.client_streaming {
                push(
                    reauth.span,
                    format!(
                        "rpc `{name}` does not stream from the client, so no message can \
                         carry a fresh token; remove `reauth`"
                    ),
                );
            }
            if reauth.segments.len() != 1 {
                push(
                    reauth.span,
                    "`reauth` names a string field of the request message itself".to_owned(),
                );
            }
            if rule.public.is_some() {
                push(
                    reauth.span,
                    format!("rpc `{name}` is public and has no token to renew"),
                );
            }
        }
        if let Some((span, flags)) = &rule.stream {
            if !rpc.client_streaming {
                push(
                    *span,
                    format!(
                        "rpc `{name}` does not stream from the client, so it has no \
                         per-message checks to relax; remove `stream`"
                    ),
                );
            }
            for flag in flags {
                if !STREAM_FLAGS.contains(&flag.to_string().as_str()) {
                    push(
                        flag.span(),
                        format!(
                            "unknown stream flag `{flag}`; expected `unchecked_expiry`, \
                             `unchecked_message_scopes` or `unlimited_messages`"
                        ),
                    );
                }
            }
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Makes a path written at the invocation site valid one module deeper.
fn deepen_path(path: &syn::Path) -> syn::Path {
    let mut path = path.clone();
    if path.leading_colon.is_none()
        && let Some(first) = path.segments.first_mut()
    {
        if first.ident == "self" {
            first.ident = Ident::new("super", first.ident.span());
        } else if first.ident == "super" {
            path.segments.insert(0, syn::parse_quote!(super));
        }
    }
    path
}

fn deepen_type(ty: &Type) -> Type {
    match ty {
        Type::Path(type_path) if type_path.qself.is_none() => Type::Path(syn::TypePath {
            qself: None,
            path: deepen_path(&type_path.path),
        }),
        other => other.clone(),
    }
}

fn describe_access(rule: &Rule) -> String {
    if rule.public.is_some() {
        "public: callable without credentials.".to_owned()
    } else if let Some((_, scopes)) = &rule.scopes {
        let scopes: Vec<String> = scopes.iter().map(|s| format!("`{}`", s.value())).collect();
        format!("requires the scopes {}.", scopes.join(", "))
    } else {
        "requires an authenticated caller (no scope).".to_owned()
    }
}

/// The text of `#[doc = ".."]` attributes, one line each, trimmed and joined with spaces.
fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) => Some(text.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .filter(|line| !line.is_empty())
        .collect();
    lines.join(" ")
}

/// `fn #name(m: &#request) -> Option<&str>` reading the string field at `path`, or the tool
/// name of the case set in the oneof at `path`.
fn field_reader(name: &Ident, request: &Type, path: &FieldPath) -> TokenStream {
    let mut expr = quote!(m);
    let last = path.segments.len() - 1;
    if let Some((enumeration, cases)) = &path.oneof {
        for (field, optional) in &path.segments[..last] {
            let field = ident::ident(&ident::to_snake(&field.unraw().to_string()), field.span());
            expr = if *optional {
                quote!(#expr.#field.as_ref()?)
            } else {
                quote!(#expr.#field)
            };
        }
        let (field, _) = &path.segments[last];
        let field = ident::ident(&ident::to_snake(&field.unraw().to_string()), field.span());
        let enumeration = deepen_path(enumeration);
        let arms = cases.iter().map(|(variant, tool)| {
            quote!(::core::option::Option::Some(#enumeration::#variant(_)) => ::core::option::Option::Some(#tool))
        });
        return quote! {
            fn #name(m: &#request) -> ::core::option::Option<&str> {
                match &#expr.#field {
                    #(#arms,)*
                    ::core::option::Option::None => ::core::option::Option::None,
                }
            }
        };
    }
    for (i, (field, optional)) in path.segments.iter().enumerate() {
        let field = ident::ident(&ident::to_snake(&field.unraw().to_string()), field.span());
        if i < last {
            expr = if *optional {
                quote!(#expr.#field.as_ref()?)
            } else {
                quote!(#expr.#field)
            };
        } else {
            expr = if *optional {
                quote!(#expr.#field.as_deref())
            } else {
                quote!(::core::option::Option::Some(#expr.#field.as_str()))
            };
        }
    }
    quote! {
        fn #name(m: &#request) -> ::core::option::Option<&str> {
            #expr
        }
    }
}

/// `fn #name(m: &mut #request) -> String` taking the string field at `path` out of a message.
fn field_taker(name: &Ident, request: &Type, path: &FieldPath) -> TokenStream {
    let (field, optional) = &path.segments[0];
    let field = ident::ident(&ident::to_snake(&field.unraw().to_string()), field.span());
    let take = if *optional {
        quote!(m.#field.take().unwrap_or_default())
    } else {
        quote!(::core::mem::take(&mut m.#field))
    };
    quote! {
        fn #name(m: &mut #request) -> ::std::string::String {
            #take
        }
    }
}

/// The `ToolCall` enum: one variant per declared tool, holding its decoded argument message (or
/// the arguments as sent, for a tool without one), and the statics describing the messages.
fn render_tool_call(service: &ServiceDef, rt: &TokenStream) -> TokenStream {
    if service.tools.is_empty() {
        return TokenStream::new();
    }
    let names: Vec<String> = service.tools.iter().map(|t| t.name.value()).collect();
    let variants = crate::arguments::variant_names(&names, service.name.span());
    let any_undeclared = service
        .rpcs
        .iter()
        .any(|rpc| rpc.rule.allow_undeclared_tools.is_some());
    let mut defs = Vec::new();
    let mut arms = Vec::new();
    let mut name_arms = Vec::new();
    for ((tool, variant), name) in service.tools.iter().zip(&variants).zip(&names) {
        let description = doc_text(&tool.attrs);
        match &tool.args {
            Some(args) => {
                let ty = deepen_type(&args.rust);
                let spec = service
                    .arguments
                    .as_ref()
                    .map(|a| a.message_static(&args.proto))
                    .unwrap_or_default();
                let doc = format!(
                    " The tool `{name}`, with its arguments as `{}`. {description}",
                    args.proto.text
                );
                defs.push(quote!(#[doc = #doc] #variant(#ty)));
                arms.push(quote! {
                    #name => #rt::arguments::decode::<#ty>(&#spec, arguments.as_ref())
                        .map(Self::#variant)
                        .map_err(|error| error.into_status(name))
                });
            }
            None => {
                let doc = format!(" The tool `{name}`, with its arguments as sent. {description}");
                defs.push(quote!(#[doc = #doc] #variant(#rt::prost_types::Struct)));
                arms.push(quote! {
                    #name => ::core::result::Result::Ok(Self::#variant(arguments.unwrap_or_default()))
                });
            }
        }
        name_arms.push(quote!(Self::#variant(_) => #name));
    }
    let fallback = if any_undeclared {
        defs.push(quote! {
            /// A tool no rule declares, let through by an RPC's `allow_undeclared_tools`.
            Undeclared {
                /// The name the call gives.
                name: ::std::string::String,
                /// Its arguments as sent.
                arguments: #rt::prost_types::Struct,
            }
        });
        name_arms.push(quote!(Self::Undeclared { name, .. } => name));
        quote! {
            _ => ::core::result::Result::Ok(Self::Undeclared {
                name: ::std::string::String::from(name),
                arguments: arguments.unwrap_or_default(),
            })
        }
    } else {
        quote! {
            _ => ::core::result::Result::Err(#rt::tonic::Status::permission_denied(
                ::std::format!("tool `{name}` is not declared"),
            ))
        }
    };
    let statics = service
        .arguments
        .as_ref()
        .map(|a| a.render_statics(rt))
        .unwrap_or_default();
    quote! {
        #statics

        /// A call of one of this service's tools with its arguments decoded: the argument
        /// message for a tool that has one (from the `Struct` by the proto3 JSON mapping), the
        /// `Struct` as sent for one that has none. Build it in a handler with
        /// [`ToolCall::decode`] and match on it: a new tool is a new variant, so the compiler
        /// points at every `match` that must handle it.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ToolCall {
            #(#defs),*
        }

        impl ToolCall {
            /// Decodes the arguments of tool `name`: INVALID_ARGUMENT naming the argument at fault
            /// when they do not fit its argument message (a field it does not have, a value of
            /// the wrong type, a required field missing), PERMISSION_DENIED for a tool no rule
            /// declares.
            pub fn decode(
                name: &str,
                arguments: ::core::option::Option<#rt::prost_types::Struct>,
            ) -> ::core::result::Result<Self, #rt::tonic::Status> {
                match name {
                    #(#arms,)*
                    #fallback
                }
            }

            /// The tool's name.
            pub fn name(&self) -> &str {
                match self {
                    #(#name_arms),*
                }
            }
        }
    }
}

fn render(service: &ServiceDef) -> TokenStream {
    let proto_name = service.name.unraw().to_string();
    let full_name = if service.package.is_empty() {
        proto_name.clone()
    } else {
        format!("{}.{}", service.package, proto_name)
    };
    let rust_name = ident::to_upper_camel(&proto_name);
    let snake = ident::naive_snake(&rust_name);
    let span = service.name.span();
    let trait_ident = ident::ident(&rust_name, span);
    let module = format_ident!("{}_auth", snake, span = span);
    let adapter = format_ident!("Authorized{}", rust_name, span = span);
    let server_mod = match &service.server {
        Some(path) => deepen_path(path),
        None => {
            let m = format_ident!("{}_server", snake, span = span);
            syn::parse_quote!(super::#m)
        }
    };
    let tonic_server = format_ident!("{}Server", rust_name, span = span);
    let docs = &service.attrs;
    let rt = quote!(::mcp_auth::codegen);

    let entries = |table: &[ToolDef], ty: TokenStream, key: TokenStream| -> Vec<TokenStream> {
        table
            .iter()
            .map(|entry| {
                let name = &entry.name;
                let scopes = &entry.scopes;
                let description = doc_text(&entry.attrs);
                quote! {
                    #ty {
                        #key: #name,
                        scopes: &[#(#scopes),*],
                        description: #description,
                    }
                }
            })
            .collect()
    };
    let tool_entries: Vec<TokenStream> = service
        .tools
        .iter()
        .map(|tool| {
            let name = &tool.name;
            let scopes = &tool.scopes;
            let description = doc_text(&tool.attrs);
            let schema = match &tool.schema {
                Some(schema) => quote!(#schema),
                None => quote!(#rt::ToolPolicy::ANY_ARGUMENTS),
            };
            quote! {
                #rt::ToolPolicy {
                    name: #name,
                    scopes: &[#(#scopes),*],
                    description: #description,
                    input_schema: #schema,
                }
            }
        })
        .collect();
    let tool_call = render_tool_call(service, &rt);
    let resource_entries = entries(
        &service.resources,
        quote!(#rt::ResourcePolicy),
        quote!(uri_prefix),
    );
    let prompt_entries = entries(&service.prompts, quote!(#rt::PromptPolicy), quote!(name));
    let mut markers = Vec::new();
    let mut marker_paths = Vec::new();
    let mut trait_items = Vec::new();
    let mut adapter_items = Vec::new();
    let mut dispatch_arms = Vec::new();
    let mut inherent_items = Vec::new();
    let server_ty = format_ident!("{}Server", adapter);

    for rpc in &service.rpcs {
        let proto_method = rpc.name.unraw().to_string();
        let path = format!("/{full_name}/{proto_method}");
        let marker = ident::ident(&ident::to_upper_camel(&proto_method), rpc.name.span());
        let method = ident::ident(&ident::to_snake(&proto_method), rpc.name.span());
        let request = deepen_type(&rpc.request);
        let response = deepen_type(&rpc.response);
        let rule = &rpc.rule;
        let public = rule.public.is_some();
        let access_doc = describe_access(rule);

        let kind = match (rpc.client_streaming, rpc.server_streaming) {
            (false, false) => quote!(Unary),
            (false, true) => quote!(ServerStreaming),
            (true, false) => quote!(ClientStreaming),
            (true, true) => quote!(Bidirectional),
        };
        let access = if public {
            quote!(#rt::Access::Public)
        } else if let Some((_, scopes)) = &rule.scopes {
            quote!(#rt::Access::Scopes(&[#(#scopes),*]))
        } else {
            quote!(#rt::Access::Authenticated)
        };
        let identity = match rule.identity.as_ref().map(Ident::to_string).as_deref() {
            Some("jwt") => quote!(Jwt),
            Some("mtls") => quote!(Mtls),
            Some("either") => quote!(Either),
            Some("both") => quote!(Both),
            _ => quote!(Any),
        };
        let relaxed = |flag: &str| {
            rule.stream
                .as_ref()
                .is_some_and(|(_, flags)| flags.iter().any(|f| f == flag))
        };
        let expiry = !relaxed("unchecked_expiry");
        let message_scopes = !relaxed("unchecked_message_scopes");
        let message_rate_limit = !relaxed("unlimited_messages");
        let limit_value = |field: &str| -> Option<u32> {
            rule.rate_limit.as_ref().and_then(|(_, limits)| {
                limits
                    .iter()
                    .find(|(name, _)| name == field)
                    .and_then(|(_, value)| value.base10_parse().ok())
            })
        };
        let limit = |rate: &str, burst: &str| match limit_value(rate) {
            Some(per_second) => {
                let burst = limit_value(burst).unwrap_or(per_second);
                quote!(::core::option::Option::Some(#rt::RateLimit::new(#per_second, #burst)))
            }
            None => quote!(::core::option::Option::None),
        };
        let call_limit = limit("per_second", "burst");
        let message_limit = limit("messages_per_second", "message_burst");
        // `Some(ToolRules { tools: super::TOOLS, allow_undeclared })` when the RPC names a
        // tool (and the same for resources and prompts), `None` otherwise.
        let rules = |named: bool, allow: Option<Span>, ty: &str, field: &str, table: &str| {
            if !named {
                return quote!(::core::option::Option::None);
            }
            let ty = Ident::new(ty, Span::call_site());
            let field = Ident::new(field, Span::call_site());
            let table = Ident::new(table, Span::call_site());
            let allow = allow.is_some();
            quote! {
                ::core::option::Option::Some(#rt::#ty {
                    #field: super::#table,
                    allow_undeclared: #allow,
                })
            }
        };
        let tool_rules = rules(
            rule.tool.is_some(),
            rule.allow_undeclared_tools,
            "ToolRules",
            "tools",
            "TOOLS",
        );
        let resource_rules = rules(
            rule.resource.is_some(),
            rule.allow_undeclared_resources,
            "ResourceRules",
            "resources",
            "RESOURCES",
        );
        let prompt_rules = rules(
            rule.prompt.is_some(),
            rule.allow_undeclared_prompts,
            "PromptRules",
            "prompts",
            "PROMPTS",
        );
        let marker_doc = format!(" The policy of `{path}`: {access_doc}");
        markers.push(quote! {
            #[doc = #marker_doc]
            #[derive(Debug)]
            pub enum #marker {}

            impl #rt::Policy for #marker {
                const POLICY: #rt::MethodPolicy = #rt::MethodPolicy {
                    service: #full_name,
                    method: #proto_method,
                    path: #path,
                    kind: #rt::MethodKind::#kind,
                    access: #access,
                    identity: #rt::IdentityRequirement::#identity,
                    stream: #rt::StreamChecks {
                        expiry: #expiry,
                        message_scopes: #message_scopes,
                        message_rate_limit: #message_rate_limit,
                    },
                    rate_limit: #call_limit,
                    message_rate_limit: #message_limit,
                    tools: #tool_rules,
                    resources: #resource_rules,
                    prompts: #prompt_rules,
                };
            }
        });
        let (kind_trait, proof_type) = if public {
            (quote!(PublicRpc), quote!(#rt::Public<#marker>))
        } else {
            (quote!(ProtectedRpc), quote!(#rt::Authorized<C, #marker>))
        };
        markers.push(quote! {
            impl #rt::#kind_trait for #marker {}

            impl<C> #rt::ProofOf<C> for #marker {
                type Proof = #proof_type;
            }
        });
        marker_paths.push(quote!(<policy::#marker as #rt::Policy>::POLICY));

        let proof = if public {
            quote!(#rt::Public<policy::#marker>)
        } else {
            quote!(#rt::Authorized<C, policy::#marker>)
        };
        let typed_request = if rpc.client_streaming {
            quote!(#rt::tonic::Request<#rt::GuardedStream<#request>>)
        } else {
            quote!(#rt::tonic::Request<#request>)
        };
        let raw_request = if rpc.client_streaming {
            quote!(#rt::tonic::Request<#rt::tonic::Streaming<#request>>)
        } else {
            quote!(#rt::tonic::Request<#request>)
        };
        // The trait's associated type of a server stream's response.
        let assoc = format_ident!("{}Stream", proto_method, span = rpc.name.span());
        let response_body = if rpc.server_streaming {
            let assoc_doc = format!(" The response stream of `{path}`.");
            trait_items.push(quote! {
                #[doc = #assoc_doc]
                type #assoc: #rt::tonic::codegen::tokio_stream::Stream<
                        Item = ::core::result::Result<#response, #rt::tonic::Status>,
                    > + ::core::marker::Send
                    + 'static;
            });
            adapter_items.push(quote! {
                type #assoc = #rt::ExpiringStream<T::#assoc>;
            });
            quote!(Self::#assoc)
        } else {
            quote!(#response)
        };
        let method_docs = &rpc.attrs;
        let sep = if method_docs.is_empty() {
            quote!()
        } else {
            quote!(#[doc = ""])
        };
        let auth_doc = format!(" **Authorization** (`{path}`): {access_doc}");
        trait_items.push(quote! {
            #(#method_docs)*
            #sep
            #[doc = #auth_doc]
            fn #method(
                &self,
                auth: #proof,
                request: #typed_request,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<
                    #rt::tonic::Response<#response_body>,
                    #rt::tonic::Status,
                >,
            > + ::core::marker::Send;
        });

        // What runs once the caller is admitted, before the handler: synchronous, and it may
        // refuse with `?` (the per-tool checks of a unary or server-streaming call). A client
        // stream's guard is made by the caller of `#admitted`: the adapter wraps tonic's
        // stream, the generated server splits the guard into tonic's decoder and the body.
        let prelude = if public || rpc.client_streaming {
            quote!()
        } else {
            let checks = [
                (&rule.tool, "__mcp_auth_tool_name", quote!(check_tool)),
                (
                    &rule.resource,
                    "__mcp_auth_resource_uri",
                    quote!(check_resource),
                ),
                (&rule.prompt, "__mcp_auth_prompt_name", quote!(check_prompt)),
            ]
            .into_iter()
            .filter_map(|(field, reader, check)| {
                let path = field.as_ref()?;
                let reader = format_ident!("{}", reader);
                let read = field_reader(&reader, &request, path);
                Some(quote! {
                    #read
                    self.authorizer
                        .#check(&auth, request.metadata(), #reader(request.get_ref()))?;
                })
            });
            quote! {
                #(#checks)*
            }
        };
        let admission_of = |request: TokenStream| {
            if public {
                quote!(self.authorizer.admit_public_or_wait::<policy::#marker, _>(#request))
            } else {
                quote!(self.authorizer.authorize_or_wait::<policy::#marker, _>(#request))
            }
        };
        let admission = admission_of(quote!(&request));
        let head_admission = admission_of(quote!(head));
        // Named apart from every RPC's method and the adapter's own `new`, `from_arc` and
        // `get_ref` (a proto name starts with a letter), and called by path: method-call syntax
        // on the `Arc` would find `Clone::clone` for an RPC named `Clone`.
        let inherent = format_ident!("__mcp_auth_{}", method);
        // Prefixes that differ before the method's name from each other and from `__mcp_auth_`:
        // `__mcp_auth_admit_get` would be both `Get`'s admission and RPC `AdmitGet`'s method.
        let admit = format_ident!("__mcp_admit_{}", method);
        let admitted = format_ident!("__mcp_admitted_{}", method);
        let guard = format_ident!("__mcp_guard_{}", method);
        // A client stream's guard, made on the call's head (`head: &tonic::Request<_>`).
        if rpc.client_streaming {
            let make_guard = if public {
                quote!(self.authorizer.public_stream_guard(auth, head))
            } else {
                let reader = format_ident!("__mcp_auth_tool_name");
                let taker = format_ident!("__mcp_auth_reauth_token");
                let read = rule
                    .tool
                    .as_ref()
                    .map(|p| field_reader(&reader, &request, p));
                let take = rule
                    .reauth
                    .as_ref()
                    .map(|p| field_taker(&taker, &request, p));
                let some = |present: bool, name: &Ident| {
                    if present {
                        quote!(::core::option::Option::Some(#name))
                    } else {
                        quote!(::core::option::Option::None)
                    }
                };
                let tool_name = some(read.is_some(), &reader);
                let reauth_token = some(take.is_some(), &taker);
                quote! {{
                    #read
                    #take
                    let hooks = #rt::StreamHooks {
                        tool_name: #tool_name,
                        reauth_token: #reauth_token,
                    };
                    self.authorizer.stream_guard(auth, head, hooks)
                }}
            };
            inherent_items.push(quote! {
                /// The guard of the call's inbound stream, made on the call's head.
                fn #guard<X>(
                    &self,
                    auth: &#proof,
                    head: &#rt::tonic::Request<X>,
                ) -> #rt::StreamGuard<#request> {
                    #make_guard
                }
            });
        }
        // When the caller's credentials stop being valid, for a server stream's response; a
        // client stream's guard knows it (a re-authentication moves it).
        let response_expiry = |guard: TokenStream, this: TokenStream| {
            if public {
                quote!(#rt::Expiry::never())
            } else if rpc.client_streaming {
                quote!(#guard.expiry())
            } else {
                quote!(#this.authorizer.expiry(&auth))
            }
        };
        // The adapter (tonic's server): the guard wraps tonic's stream, and a server stream's
        // response ends at the expiry as a stream.
        let adapter_guard = if rpc.client_streaming {
            quote! {
                let guard = Self::#guard(self, &auth, &request);
                let request = request.map(|stream| guard.guard(stream));
            }
        } else {
            quote!()
        };
        let adapter_handler = if rpc.server_streaming {
            let expiry = response_expiry(quote!(request.get_ref()), quote!(self));
            quote! {{
                let expiry = #expiry;
                let handler = Self::#admitted(self, auth, request)?;
                ::core::result::Result::Ok(async move {
                    let response = handler.await?;
                    ::core::result::Result::Ok(
                        response.map(|stream| self.authorizer.expiring_stream(expiry, stream)),
                    )
                })
            }}
        } else {
            quote!(Self::#admitted(self, auth, request))
        };
        let tonic_response = if rpc.server_streaming {
            quote!(Self::#assoc)
        } else {
            quote!(#response)
        };
        // The same, named in the adapter's inherent impl.
        let inherent_response = if rpc.server_streaming {
            quote!(#rt::ExpiringStream<T::#assoc>)
        } else {
            quote!(#response)
        };
        // What the handler answers, as `#admitted` returns it (unwrapped: each server wraps
        // a server stream's response its own way).
        let handler_response = if rpc.server_streaming {
            quote!(T::#assoc)
        } else {
            quote!(#response)
        };
        inherent_items.push(quote! {
            /// Checks the call against its RPC's policy, then calls the handler: what tonic's
            /// trait method does, without boxing the future. The message is decoded by then.
            fn #inherent(
                &self,
                request: #raw_request,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<
                    #rt::tonic::Response<#inherent_response>,
                    #rt::tonic::Status,
                >,
            > + ::core::marker::Send + '_ {
                let admission = #admission;
                #rt::handle_after(admission, move |auth| {
                    #adapter_guard
                    #adapter_handler
                })
            }

            /// The same check on the call's head, before its message is decoded: what the
            /// generated server runs.
            fn #admit<B>(
                &self,
                request: &mut #rt::tonic::codegen::http::Request<B>,
            ) -> #rt::Admission<'_, #proof> {
                #rt::with_head(request, |head| #head_admission)
            }

            /// What follows the check, with the caller's proof: the per-tool checks, then the
            /// handler's future.
            fn #admitted(
                &self,
                auth: #proof,
                request: #typed_request,
            ) -> ::core::result::Result<
                impl ::core::future::Future<
                    Output = ::core::result::Result<
                        #rt::tonic::Response<#handler_response>,
                        #rt::tonic::Status,
                    >,
                > + ::core::marker::Send + '_,
                #rt::tonic::Status,
            > {
                #prelude
                ::core::result::Result::Ok(#trait_ident::#method(&*self.inner, auth, request))
            }
        });
        // The signature `#[async_trait]` gives tonic's trait, written out: the check runs when
        // tonic calls the method, and its future is boxed once.
        adapter_items.push(quote! {
            fn #method<'life0, 'async_trait>(
                &'life0 self,
                request: #raw_request,
            ) -> #rt::BoxedCall<'async_trait, #rt::tonic::Response<#tonic_response>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                ::std::boxed::Box::pin(#adapter::#inherent(self, request))
            }
        });

        // The server's arm for this path: tonic's generated arm, with the check on the head
        // first and then the adapter's method for what follows it as the service, its future
        // awaited where it is (tonic clones its `Arc` again and boxes the trait method's
        // future in a second box).
        let grpc_method = match (rpc.client_streaming, rpc.server_streaming) {
            (false, false) => quote!(unary),
            (false, true) => quote!(server_streaming),
            (true, false) => quote!(client_streaming),
            (true, true) => quote!(streaming),
        };
        // A client stream's guard goes into tonic's decoder and the request body; the
        // handler's stream passes tonic's through (`StreamGuard::split`).
        let (server_grpc, server_request) = if rpc.client_streaming {
            let expiry = if rpc.server_streaming {
                quote!(let expiry = guard.expiry();)
            } else {
                quote!()
            };
            (
                quote! {
                    let guard = #rt::with_head(&mut request, |head| {
                        #adapter::#guard(&adapter, &auth, head)
                    });
                    #expiry
                    let (mut grpc, request, finish) = config.guarded_grpc(guard, request);
                    let mut admitted = ::core::option::Option::Some((auth, finish));
                },
                quote! {
                    #rt::handle_admitted(admitted.take(), |(auth, finish)| {
                        #adapter::#admitted(&adapter, auth, request.map(|stream| finish.stream(stream)))
                    })
                },
            )
        } else {
            let expiry = if rpc.server_streaming {
                let expiry = response_expiry(quote!(guard), quote!(adapter));
                quote!(let expiry = #expiry;)
            } else {
                quote!()
            };
            (
                quote! {
                    #expiry
                    let mut grpc = config.grpc();
                    let mut admitted = ::core::option::Option::Some(auth);
                },
                quote! {
                    #rt::handle_admitted(admitted.take(), |auth| {
                        #adapter::#admitted(&adapter, auth, request)
                    })
                },
            )
        };
        // A server stream's response ends at the expiry as a body: per frame, not per message.
        let server_response = if rpc.server_streaming {
            quote!(#rt::expiring_response(&adapter.authorizer, expiry, response))
        } else {
            quote!(response)
        };
        // The caller is checked on the call's head, as an interceptor would be: a refused
        // call's message is never decoded. The body refuses trailers, which tonic would merge
        // into the metadata after the decode, over the checked headers.
        dispatch_arms.push(quote! {
            #path => {
                let adapter = ::std::sync::Arc::clone(&self.adapter);
                let config = self.config;
                let mut request = request.map(#rt::NoTrailers::new);
                ::std::boxed::Box::pin(async move {
                    let admission = #adapter::#admit(&adapter, &mut request);
                    let auth = match admission.decision().await {
                        ::core::result::Result::Ok(auth) => auth,
                        ::core::result::Result::Err(status) => {
                            return ::core::result::Result::Ok(status.into_http());
                        }
                    };
                    #server_grpc
                    let method = #rt::CallWith(|request: #raw_request| #server_request);
                    let response = grpc.#grpc_method(method, request).await;
                    ::core::result::Result::Ok(#server_response)
                })
            }
        });
    }

    let module_doc = format!(
        " Authorization layer of `{full_name}`, generated by mcp-auth: implement [`{rust_name}`] \
         and serve it with [`server`]."
    );
    let trait_doc = format!(
        " The handlers of `{full_name}`. Each takes the proof of authorization for its own RPC \
         as its first argument; the adapter [`{adapter}`] checks the caller before it calls one."
    );
    let adapter_doc = format!(
        " Serves a [`{rust_name}`] implementation as the tonic service `{full_name}`, checking \
         every call against its policy first."
    );
    let table_doc = format!(" The policy of every RPC of `{full_name}`, in proto order.");
    let service_name_lit = LitStr::new(&full_name, span);
    let server_ty_doc = format!(
        " The tonic service `{full_name}`: checks each call against its RPC's policy, then \
         routes it to its method of [`{adapter}`]. What [`server`] returns; add it to a tonic \
         `Server` or `Routes` like a tonic-generated server, whose four settings it has.\n\n \
         It is tonic's generated server, with the adapter's methods called directly and \
         their futures awaited unboxed: per call one boxed future where \
         `{tonic_server}::new({adapter}::new(..))` makes three (two where it makes four, when \
         a remote rate limiter must answer first), and one `Arc` count where it takes two. \
         That also works (the adapter implements tonic's trait) where tonic's own server type \
         is wanted; an interceptor wraps either (`InterceptedService::new(server(..), f)`).\n\n \
         The caller is checked on the call's head, before tonic decodes the message (tonic's \
         server decodes first): a refused caller's message is never decoded. The checks that \
         read the message (tool, resource, prompt) follow the decode. Request trailers, which \
         gRPC clients never send, are refused (`INVALID_ARGUMENT`).\n\n \
         Calls are routed by the names in the `service!` invocation (`/package.Service/Method`), \
         which the plugin writes from the proto; a hand-written invocation must spell them as \
         the proto does."
    );
    let server_doc = format!(
        " Builds the tonic server for `{full_name}` from an implementation and an authorizer."
    );

    quote! {
        #[doc = #module_doc]
        #(#docs)*
        pub mod #module {
            #![allow(unused_imports, clippy::all, clippy::pedantic)]
            use super::*;

            /// One marker type per RPC, naming its policy in `Authorized<C, policy::Rpc>`.
            pub mod policy {
                #(#markers)*
            }

            #[doc = #table_doc]
            pub const POLICY: #rt::ServicePolicy = #rt::ServicePolicy {
                name: #service_name_lit,
                methods: &[#(#marker_paths),*],
                tools: TOOLS,
                resources: RESOURCES,
                prompts: PROMPTS,
            };

            /// The MCP tools of this service: name, scopes, description. Filter them for a
            /// caller with `Authorized::callable_tools(&POLICY)`.
            pub const TOOLS: &[#rt::ToolPolicy] = &[#(#tool_entries),*];

            #tool_call

            /// The MCP resource prefixes of this service: URI prefix, scopes, description.
            /// Check a URI for a caller with `Authorized::may_read_resource(&POLICY, uri)`.
            pub const RESOURCES: &[#rt::ResourcePolicy] = &[#(#resource_entries),*];

            /// The MCP prompts of this service: name, scopes, description. Filter them for a
            /// caller with `Authorized::usable_prompts(&POLICY)`.
            pub const PROMPTS: &[#rt::PromptPolicy] = &[#(#prompt_entries),*];

            #[doc = #trait_doc]
            #(#docs)*
            pub trait #trait_ident<C: #rt::Claims = #rt::StandardClaims>:
                ::core::marker::Send + ::core::marker::Sync + 'static
            {
                #(#trait_items)*
            }

            #[doc = #adapter_doc]
            pub struct #adapter<T, C: #rt::Claims = #rt::StandardClaims> {
                inner: ::std::sync::Arc<T>,
                authorizer: #rt::Authorizer<C>,
            }

            impl<T, C: #rt::Claims> #adapter<T, C> {
                /// Wraps `inner`; every call is checked by `authorizer` before it reaches it.
                pub fn new(inner: T, authorizer: #rt::Authorizer<C>) -> Self {
                    Self::from_arc(::std::sync::Arc::new(inner), authorizer)
                }

                /// Like [`Self::new`], for an implementation that is already shared.
                pub fn from_arc(inner: ::std::sync::Arc<T>, authorizer: #rt::Authorizer<C>) -> Self {
                    Self { inner, authorizer }
                }

                /// The wrapped implementation.
                pub fn get_ref(&self) -> &T {
                    &self.inner
                }
            }

            impl<T, C: #rt::Claims> ::core::fmt::Debug for #adapter<T, C> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(::core::stringify!(#adapter))
                        .field("service", &#service_name_lit)
                        .field("authorizer", &self.authorizer)
                        .finish_non_exhaustive()
                }
            }

            impl<T, C> #adapter<T, C>
            where
                T: #trait_ident<C>,
                C: #rt::Claims,
            {
                #(#inherent_items)*
            }

            impl<T, C> #server_mod::#trait_ident for #adapter<T, C>
            where
                T: #trait_ident<C>,
                C: #rt::Claims,
            {
                #(#adapter_items)*
            }

            #[doc = #server_ty_doc]
            pub struct #server_ty<T, C: #rt::Claims = #rt::StandardClaims> {
                adapter: ::std::sync::Arc<#adapter<T, C>>,
                config: #rt::ServerConfig,
            }

            impl<T, C: #rt::Claims> #server_ty<T, C> {
                /// Serves `adapter`.
                pub fn new(adapter: #adapter<T, C>) -> Self {
                    Self {
                        adapter: ::std::sync::Arc::new(adapter),
                        config: ::core::default::Default::default(),
                    }
                }

                /// The adapter served.
                pub fn get_ref(&self) -> &#adapter<T, C> {
                    &self.adapter
                }

                /// Accepts requests compressed with `encoding` (tonic's servers' setting).
                #[must_use]
                pub fn accept_compressed(
                    mut self,
                    encoding: #rt::tonic::codec::CompressionEncoding,
                ) -> Self {
                    self.config.accept_compressed(encoding);
                    self
                }

                /// Compresses responses with `encoding` when the client accepts it (tonic's
                /// servers' setting).
                #[must_use]
                pub fn send_compressed(
                    mut self,
                    encoding: #rt::tonic::codec::CompressionEncoding,
                ) -> Self {
                    self.config.send_compressed(encoding);
                    self
                }

                /// Limits the size of a decoded message; tonic's default is 4 MiB.
                #[must_use]
                pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
                    self.config.max_decoding_message_size(limit);
                    self
                }

                /// Limits the size of an encoded message; tonic's default is no limit.
                #[must_use]
                pub fn max_encoding_message_size(mut self, limit: usize) -> Self {
                    self.config.max_encoding_message_size(limit);
                    self
                }
            }

            impl<T, C: #rt::Claims> ::core::clone::Clone for #server_ty<T, C> {
                fn clone(&self) -> Self {
                    Self {
                        adapter: ::std::sync::Arc::clone(&self.adapter),
                        config: self.config,
                    }
                }
            }

            impl<T, C: #rt::Claims> ::core::fmt::Debug for #server_ty<T, C> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(::core::stringify!(#server_ty))
                        .field("adapter", &self.adapter)
                        .field("config", &self.config)
                        .finish()
                }
            }

            impl<T, C: #rt::Claims> #rt::tonic::server::NamedService for #server_ty<T, C> {
                const NAME: &'static str = #service_name_lit;
            }

            impl<T, C, B> #rt::tonic::codegen::Service<#rt::tonic::codegen::http::Request<B>>
                for #server_ty<T, C>
            where
                T: #trait_ident<C>,
                C: #rt::Claims,
                B: #rt::tonic::codegen::Body + ::core::marker::Send + 'static,
                B::Error: ::core::convert::Into<#rt::tonic::codegen::StdError>
                    + ::core::marker::Send
                    + 'static,
            {
                type Response = #rt::tonic::codegen::http::Response<#rt::tonic::body::Body>;
                type Error = ::core::convert::Infallible;
                type Future = #rt::HttpCall;

                fn poll_ready(
                    &mut self,
                    _: &mut #rt::tonic::codegen::Context<'_>,
                ) -> #rt::tonic::codegen::Poll<::core::result::Result<(), Self::Error>> {
                    #rt::tonic::codegen::Poll::Ready(::core::result::Result::Ok(()))
                }

                fn call(
                    &mut self,
                    request: #rt::tonic::codegen::http::Request<B>,
                ) -> Self::Future {
                    match request.uri().path() {
                        #(#dispatch_arms)*
                        _ => #rt::unimplemented(),
                    }
                }
            }

            #[doc = #server_doc]
            pub fn server<T, C>(service: T, authorizer: #rt::Authorizer<C>) -> #server_ty<T, C>
            where
                T: #trait_ident<C>,
                C: #rt::Claims,
            {
                #server_ty::new(#adapter::new(service, authorizer))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_error(text: &str) -> String {
        match syn::parse_str::<Rule>(text) {
            Ok(_) => panic!("`{text}` parsed"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn every_rule_field_parses() {
        let rule: Rule = syn::parse_str(
            r#"public, authenticated, scopes: ["a", "b"], identity: jwt, tool: request?.name,
               allow_undeclared_tools, resource: uri, allow_undeclared_resources, prompt: name,
               allow_undeclared_prompts, reauth: token, rate_limit: { per_second: 5, burst: 10 },
               stream: [unchecked_expiry, unlimited_messages]"#,
        )
        .unwrap();
        assert!(rule.public.is_some() && rule.authenticated.is_some());
        let scopes = rule.scopes.unwrap().1;
        assert_eq!(
            scopes.iter().map(LitStr::value).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(rule.identity.unwrap(), "jwt");
        assert_eq!(rule.tool.unwrap().segments.len(), 2);
        assert!(rule.allow_undeclared_tools.is_some());
        assert!(rule.resource.is_some() && rule.allow_undeclared_resources.is_some());
        assert!(rule.prompt.is_some() && rule.allow_undeclared_prompts.is_some());
        assert!(rule.reauth.is_some());
        let limits = rule.rate_limit.unwrap().1;
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[1].0, "burst");
        assert_eq!(rule.stream.unwrap().1.len(), 2);
    }

    #[test]
    fn rule_mistakes_keep_their_messages() {
        for twice in [
            "public, public",
            r#"scopes: ["a"], authenticated, scopes: ["b"]"#,
            "tool: name, tool: other",
            "allow_undeclared_prompts, allow_undeclared_prompts",
            "rate_limit: { per_second: 1 }, rate_limit: {}",
            "stream: [unchecked_expiry], stream: []",
        ] {
            assert_eq!(rule_error(twice), "this field is given twice", "{twice}");
        }
        assert_eq!(
            rule_error(r#"scope: ["a"]"#),
            "expected one of: `public`, `authenticated`, `scopes`, `identity`, `tool`, \
             `allow_undeclared_tools`, `resource`, `allow_undeclared_resources`, `prompt`, \
             `allow_undeclared_prompts`, `reauth`, `rate_limit`, `stream`"
        );
        assert_eq!(rule_error("public authenticated"), "expected `,`");
        assert_eq!(rule_error("identity jwt"), "expected `:`");
    }

    #[test]
    fn the_tables_come_in_order_and_are_optional() {
        let service: ServiceDef = syn::parse_str(
            r#"service a.S {
                tools { "echo": ["x"] }
                prompts { "p": [], "q": ["y"] }
                rpc Call(Req) returns (Resp) { public }
            }"#,
        )
        .unwrap();
        assert_eq!(service.tools.len(), 1);
        assert!(service.resources.is_empty());
        assert_eq!(service.prompts.len(), 2);
        let error = syn::parse_str::<ServiceDef>(
            r#"service a.S { prompts { "p": [] } tools { "echo": [] } }"#,
        )
        .err()
        .unwrap();
        assert_eq!(error.to_string(), "expected `rpc`");
    }
}
