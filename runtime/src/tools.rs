//! MCP tools, resources and prompts as part of the policy: which scopes each tool (resource URI
//! prefix, prompt) needs, checked per call (and per stream message for tools), and the
//! registries a `ListTools` (`ListResources`, `ListPrompts`) handler filters by the caller's
//! scopes.

use tonic::metadata::MetadataMap;

use crate::error::AuthError;

/// The metadata key in which MCP clients repeat the name of the tool a call names, so that
/// proxies can route and authorize on it.
pub const TOOL_HEADER: &str = "mcp_tool";

/// One MCP tool: its name, the scopes it needs on top of its RPC's, and its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ToolPolicy {
    /// The name MCP clients call it by.
    pub name: &'static str,
    /// Every scope a caller needs to call it (on top of the RPC's scopes).
    pub scopes: &'static [&'static str],
    /// What it does, for `ListTools`.
    pub description: &'static str,
    /// The JSON Schema of its arguments, for MCP's `inputSchema` in `ListTools`: generated from
    /// the tool's argument message (one property per field, by proto field name, typed as the
    /// proto3 JSON mapping encodes it, no other property allowed), or
    /// [`ToolPolicy::ANY_ARGUMENTS`] for a tool without one.
    pub input_schema: &'static str,
}

impl ToolPolicy {
    /// The input schema of a tool without an argument message: any JSON object.
    pub const ANY_ARGUMENTS: &'static str = r#"{"type":"object"}"#;
}

/// How an RPC that carries tool calls checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ToolRules {
    /// The tools its calls may name.
    pub tools: &'static [ToolPolicy],
    /// Whether a tool no rule declares is let through with only the RPC's scopes
    /// (`allow_undeclared_tools` in the proto); refused by default.
    pub allow_undeclared: bool,
}

/// The metadata key in which MCP clients repeat the URI of the resource a call reads.
pub const RESOURCE_HEADER: &str = "mcp_resource";

/// The metadata key in which MCP clients repeat the name of the prompt a call gets.
pub const PROMPT_HEADER: &str = "mcp_prompt";

/// The resources under one URI prefix: the scopes reading them needs on top of the RPC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourcePolicy {
    /// The URI prefix, e.g. `file:///docs/`; the longest declared prefix of a URI decides.
    pub uri_prefix: &'static str,
    /// Every scope a caller needs to read a resource under it (on top of the RPC's scopes).
    pub scopes: &'static [&'static str],
    /// What lives there.
    pub description: &'static str,
}

/// How an RPC that reads resources checks the URI it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceRules {
    /// The declared prefixes.
    pub resources: &'static [ResourcePolicy],
    /// Whether a URI under no declared prefix is let through with only the RPC's scopes
    /// (`allow_undeclared_resources` in the proto); refused by default.
    pub allow_undeclared: bool,
}

/// One MCP prompt: its name, the scopes getting it needs on top of its RPC's, its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromptPolicy {
    /// The name MCP clients get it by.
    pub name: &'static str,
    /// Every scope a caller needs to get it (on top of the RPC's scopes).
    pub scopes: &'static [&'static str],
    /// What it is for, for `ListPrompts`.
    pub description: &'static str,
}

/// How an RPC that gets prompts checks the name it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromptRules {
    /// The declared prompts.
    pub prompts: &'static [PromptPolicy],
    /// Whether a prompt no rule declares is let through with only the RPC's scopes
    /// (`allow_undeclared_prompts` in the proto); refused by default.
    pub allow_undeclared: bool,
}

/// Why prefix matching cannot judge `uri` safely, if it cannot: a `.` or `..` path segment
/// (`file:///public/../secret`), an encoded dot, slash or backslash, a backslash, whitespace or a
/// control character. Such URIs are refused rather than normalised: the server that resolves
/// the URI may not normalise it the way a guess here would.
fn ambiguous_uri(uri: &str) -> Option<&'static str> {
    if uri
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Some("it contains whitespace, a control character or a backslash");
    }
    let lower = uri.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e)) {
        return Some("it contains an encoded dot, slash or backslash");
    }
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some("it contains a `.` or `..` path segment");
    }
    None
}

impl ResourceRules {
    /// The declared resources `uri` falls under: the longest matching prefix.
    pub fn find(&self, uri: &str) -> Option<&'static ResourcePolicy> {
        self.resources
            .iter()
            .filter(|r| uri.starts_with(r.uri_prefix))
            .max_by_key(|r| r.uri_prefix.len())
    }

    /// Checks that a caller holding `granted` scopes may read `uri`.
    pub(crate) fn check(
        &self,
        uri: Option<&str>,
        granted: &dyn GrantedScopes,
    ) -> Result<(), AuthError> {
        let Some(uri) = uri.filter(|u| !u.is_empty()) else {
            return Err(AuthError::ResourceNotAllowed(
                "the call names no resource".to_owned(),
            ));
        };
        if let Some(why) = ambiguous_uri(uri) {
            return Err(AuthError::ResourceNotAllowed(format!(
                "the URI {uri:?} is refused: {why}"
            )));
        }
        match self.find(uri) {
            Some(resource) if resource.scopes.iter().all(|s| granted.has_scope(s)) => Ok(()),
            Some(resource) => Err(AuthError::InsufficientScope {
                required: resource.scopes,
            }),
            None if self.allow_undeclared => Ok(()),
            None => Err(AuthError::ResourceNotAllowed(format!(
                "no rule declares a prefix of {uri:?}"
            ))),
        }
    }
}

impl PromptRules {
    /// The prompt a call names, if it is declared.
    pub fn find(&self, name: &str) -> Option<&'static PromptPolicy> {
        self.prompts.iter().find(|prompt| prompt.name == name)
    }

    /// Checks that a caller holding `granted` scopes may get the prompt `name`.
    pub(crate) fn check(
        &self,
        name: Option<&str>,
        granted: &dyn GrantedScopes,
    ) -> Result<(), AuthError> {
        check_named(
            name,
            "prompt",
            |name| self.find(name).map(|prompt| prompt.scopes),
            self.allow_undeclared,
            granted,
            AuthError::PromptNotAllowed,
        )
    }
}

/// What a caller was granted, type-erased so stream guards can re-check it per message.
pub(crate) trait GrantedScopes: Send + Sync {
    fn has_scope(&self, scope: &str) -> bool;
}

impl ToolRules {
    /// The tool a call names, if it is declared.
    pub fn find(&self, name: &str) -> Option<&'static ToolPolicy> {
        self.tools.iter().find(|tool| tool.name == name)
    }

    /// Checks that a caller holding `granted` scopes may call the tool `name`.
    pub(crate) fn check(
        &self,
        name: Option<&str>,
        granted: &dyn GrantedScopes,
    ) -> Result<(), AuthError> {
        check_named(
            name,
            "tool",
            |name| self.find(name).map(|tool| tool.scopes),
            self.allow_undeclared,
            granted,
            AuthError::ToolNotAllowed,
        )
    }
}

/// The decision for a call that names a tool or a prompt: refused when it names none; when the
/// name is declared, allowed if the caller holds every scope it needs; when it is not, allowed
/// only if undeclared names are allowed.
fn check_named(
    name: Option<&str>,
    what: &str,
    scopes_of: impl FnOnce(&str) -> Option<&'static [&'static str]>,
    allow_undeclared: bool,
    granted: &dyn GrantedScopes,
    not_allowed: fn(String) -> AuthError,
) -> Result<(), AuthError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(not_allowed(format!("the call names no {what}")));
    };
    match scopes_of(name) {
        Some(scopes) if scopes.iter().all(|s| granted.has_scope(s)) => Ok(()),
        Some(required) => Err(AuthError::InsufficientScope { required }),
        None if allow_undeclared => Ok(()),
        None => Err(not_allowed(format!("no rule declares the {what} {name:?}"))),
    }
}

/// What a routing header (`mcp_tool`, ...) says, read once when a call arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Routed {
    /// The client sent none: there is nothing to compare.
    Absent,
    /// Exactly one text value.
    Named(String),
    /// Given more than once, or not visible ASCII: never matches.
    Invalid(&'static str),
}

impl Routed {
    /// Reads `header` from `metadata`.
    pub(crate) fn read(metadata: &MetadataMap, header: &'static str) -> Self {
        let mut values = metadata.get_all(header).iter();
        let Some(first) = values.next() else {
            return Self::Absent;
        };
        if values.next().is_some() {
            return Self::Invalid("it is given more than once");
        }
        match first.to_str() {
            Ok(value) => Self::Named(value.to_owned()),
            Err(_) => Self::Invalid("it is not visible ASCII"),
        }
    }

    /// Checks that the body, which names `named` (`None`: names nothing), agrees with the
    /// header. The comparison is exact: no case folding, no normalisation.
    pub(crate) fn check(&self, header: &'static str, named: Option<&str>) -> Result<(), AuthError> {
        let detail = match self {
            Self::Absent => return Ok(()),
            Self::Named(value) if Some(value.as_str()) == named => return Ok(()),
            Self::Named(value) => format!(
                "it names {value:?}, the body names {}",
                named.map_or_else(|| "nothing".to_owned(), |n| format!("{n:?}"))
            ),
            Self::Invalid(why) => (*why).to_owned(),
        };
        Err(AuthError::RoutingMismatch { header, detail })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The scopes a caller was granted (also the stream guard's tests').
    pub(crate) struct Holds(pub(crate) &'static [&'static str]);

    impl GrantedScopes for Holds {
        fn has_scope(&self, scope: &str) -> bool {
            self.0.contains(&scope)
        }
    }

    const RESOURCES: ResourceRules = ResourceRules {
        resources: &[
            ResourcePolicy {
                uri_prefix: "file:///docs/",
                scopes: &["docs:read"],
                description: "",
            },
            ResourcePolicy {
                uri_prefix: "file:///docs/secret/",
                scopes: &["docs:read", "secrets:read"],
                description: "",
            },
        ],
        allow_undeclared: false,
    };

    #[test]
    fn the_longest_prefix_decides_and_ambiguous_uris_are_refused() {
        let reader = Holds(&["docs:read"]);
        let both = Holds(&["docs:read", "secrets:read"]);
        assert!(RESOURCES.check(Some("file:///docs/a.md"), &reader).is_ok());
        assert!(matches!(
            RESOURCES.check(Some("file:///docs/secret/key"), &reader),
            Err(AuthError::InsufficientScope { required }) if required.len() == 2
        ));
        assert!(
            RESOURCES
                .check(Some("file:///docs/secret/key"), &both)
                .is_ok()
        );
        for refused in [
            "",
            "file:///etc/passwd",
            "file:///doc",
            "file:///docs/../etc/passwd",
            "file:///docs/./secret/key",
            "file:///docs/..",
            "file:///docs/%2e%2e/etc/passwd",
            "file:///docs/%2Fetc",
            "file:///docs/a\\..\\b",
            "file:///docs/a b",
            "file:///docs/a\nb",
        ] {
            assert!(
                matches!(
                    RESOURCES.check(Some(refused), &both),
                    Err(AuthError::ResourceNotAllowed(_))
                ),
                "{refused:?}"
            );
        }
        assert!(RESOURCES.check(None, &both).is_err());
        // A dot inside a segment, or `..` in the query, is not a path segment.
        assert!(
            RESOURCES
                .check(Some("file:///docs/a..b.md"), &reader)
                .is_ok()
        );
        assert!(
            RESOURCES
                .check(Some("file:///docs/a?x=..&y=."), &reader)
                .is_ok()
        );
        let open = ResourceRules {
            allow_undeclared: true,
            ..RESOURCES
        };
        assert!(open.check(Some("file:///etc/hosts"), &reader).is_ok());
        assert!(open.check(Some("file:///etc/../hosts"), &reader).is_err());
    }

    #[test]
    fn prompts_are_matched_by_exact_name() {
        let rules = PromptRules {
            prompts: &[PromptPolicy {
                name: "summarize",
                scopes: &["prompts:summarize"],
                description: "",
            }],
            allow_undeclared: false,
        };
        assert!(
            rules
                .check(Some("summarize"), &Holds(&["prompts:summarize"]))
                .is_ok()
        );
        assert!(matches!(
            rules.check(Some("summarize"), &Holds(&[])),
            Err(AuthError::InsufficientScope { .. })
        ));
        for refused in [Some("Summarize"), Some("other"), Some(""), None] {
            assert!(matches!(
                rules.check(refused, &Holds(&["prompts:summarize"])),
                Err(AuthError::PromptNotAllowed(_))
            ));
        }
    }

    #[test]
    fn routing_headers_must_agree_with_the_body() {
        let mut metadata = MetadataMap::new();
        assert_eq!(Routed::read(&metadata, TOOL_HEADER), Routed::Absent);
        assert!(Routed::Absent.check(TOOL_HEADER, Some("x")).is_ok());
        assert!(Routed::Absent.check(TOOL_HEADER, None).is_ok());

        metadata.insert(TOOL_HEADER, "read_file".parse().unwrap());
        let routed = Routed::read(&metadata, TOOL_HEADER);
        assert!(routed.check(TOOL_HEADER, Some("read_file")).is_ok());
        for other in [
            Some("write_file"),
            Some("Read_file"),
            Some("read_file "),
            None,
        ] {
            assert!(matches!(
                routed.check(TOOL_HEADER, other),
                Err(AuthError::RoutingMismatch {
                    header: "mcp_tool",
                    ..
                })
            ));
        }

        metadata.append(TOOL_HEADER, "read_file".parse().unwrap());
        let twice = Routed::read(&metadata, TOOL_HEADER);
        assert_eq!(twice, Routed::Invalid("it is given more than once"));
        assert!(twice.check(TOOL_HEADER, Some("read_file")).is_err());

        let mut metadata = MetadataMap::new();
        metadata.insert(
            TOOL_HEADER,
            tonic::metadata::MetadataValue::try_from(&b"caf\xc3\xa9"[..]).unwrap(),
        );
        assert!(
            Routed::read(&metadata, TOOL_HEADER)
                .check(TOOL_HEADER, Some("café"))
                .is_err()
        );
    }
}
