//! Plugin parameters (`--mcp-auth_opt=...`, `opt:` in buf.gen.yaml).

use std::path::PathBuf;
use std::str::FromStr;

/// The parameters of one run, parsed from the comma-separated `key=value` list protoc passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    /// `extern_path=.proto.path=::rust::path`: where types of a proto package live in Rust,
    /// as with protoc-gen-prost's option of the same name. Give the same list to both plugins.
    pub extern_paths: Vec<(String, String)>,
    /// `overlay=path`: a policy overlay, the rules of protos you do not own (see
    /// [`Builder::overlay`](crate::Builder::overlay) for the format). A relative path is
    /// relative to the working directory of protoc or buf. At most one.
    pub overlay: Option<PathBuf>,
    /// `report=markdown`, `report=json`: also write a policy report per package,
    /// `<package>.mcp_auth.md` or `<package>.mcp_auth.json` (give both for both).
    pub reports: Vec<ReportFormat>,
}

/// The format of the policy report: every RPC, tool, resource prefix and prompt with what it
/// requires and where its rule was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    /// A Markdown page of tables, for code review (`<package>.mcp_auth.md`).
    Markdown,
    /// JSON, for audit tooling (`<package>.mcp_auth.json`).
    Json,
}

impl ReportFormat {
    /// The file extension of the format, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Json => "json",
        }
    }
}

/// A parameter this plugin does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter: {0}")]
pub struct InvalidParameter(pub String);

impl FromStr for Parameters {
    type Err = InvalidParameter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parameters = Parameters::default();
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            match item.split_once('=') {
                Some(("extern_path", value)) => {
                    let (proto, rust) = value
                        .split_once('=')
                        .filter(|(proto, rust)| proto.starts_with('.') && !rust.is_empty())
                        .ok_or_else(|| InvalidParameter(item.to_owned()))?;
                    parameters
                        .extern_paths
                        .push((proto.to_owned(), rust.to_owned()));
                }
                Some(("overlay", path)) if !path.is_empty() && parameters.overlay.is_none() => {
                    parameters.overlay = Some(PathBuf::from(path));
                }
                Some(("report", format)) => {
                    let format = match format {
                        "markdown" => ReportFormat::Markdown,
                        "json" => ReportFormat::Json,
                        _ => return Err(InvalidParameter(item.to_owned())),
                    };
                    if parameters.reports.contains(&format) {
                        return Err(InvalidParameter(item.to_owned()));
                    }
                    parameters.reports.push(format);
                }
                _ => return Err(InvalidParameter(item.to_owned())),
            }
        }
        Ok(parameters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_extern_paths_and_rejects_the_rest() {
        let p: Parameters =
            " extern_path=.google.protobuf=::pbjson_types ,,extern_path=.a.b=crate::x::y=z"
                .parse()
                .unwrap();
        assert_eq!(
            p.extern_paths,
            [
                (".google.protobuf".into(), "::pbjson_types".into()),
                (".a.b".into(), "crate::x::y=z".into())
            ]
        );
        assert_eq!(Parameters::from_str(""), Ok(Parameters::default()));
        assert_eq!(
            Parameters::from_str("report=json,report=markdown")
                .unwrap()
                .reports,
            [ReportFormat::Json, ReportFormat::Markdown]
        );
        assert_eq!(
            Parameters::from_str("overlay=policy/mcp overlay.toml")
                .unwrap()
                .overlay,
            Some(PathBuf::from("policy/mcp overlay.toml"))
        );
        for bad in [
            "x=y",
            "extern_path",
            "extern_path=a=::b",
            "extern_path=.a=",
            "extern_path=.a",
            "compile_well_known_types",
            "extern_path=.a=::b,\"quoted=\\\\back\"",
            "overlay=",
            "overlay=a.toml,overlay=b.toml",
            "report=md",
            "report=",
            "report=json,report=json",
        ] {
            assert!(Parameters::from_str(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(
            Parameters::from_str("a\\,b=c\"d").unwrap_err().to_string(),
            "invalid parameter: a\\"
        );
    }
}
