//! MCP tools as part of the policy: which scopes each tool needs, checked per call and per
//! stream message, and the registry a `ListTools` handler filters by the caller's scopes.

use crate::error::AuthError;

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
