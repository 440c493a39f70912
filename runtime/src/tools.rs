//! MCP tools as part of the policy: which scopes each tool needs, checked per call and per
//! stream message, and the registry a `ListTools` handler filters by the caller's scopes.

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
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(AuthError::ToolNotAllowed(
                "the call names no tool".to_owned(),
            ));
        };
        match self.find(name) {
            Some(tool) if tool.scopes.iter().all(|s| granted.has_scope(s)) => Ok(()),
            Some(tool) => Err(AuthError::InsufficientScope {
                required: tool.scopes,
            }),
            None if self.allow_undeclared => Ok(()),
            None => Err(AuthError::ToolNotAllowed(format!(
                "no rule declares the tool {name:?}"
            ))),
        }
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
mod tests {
    use super::*;

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
