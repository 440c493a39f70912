//! `mcp-token`: development keys and tokens, a stand-in for an identity provider.
//!
//! ```text
//! mcp-token keygen --out dev-key.pem                   # a new P-256 key (mode 0600)
//! mcp-token jwks --key dev-key.pem > jwks.json         # what mcp-server --jwks-file reads
//! mcp-token mint --key dev-key.pem --subject alice \
//!     --scope tools:list --scope tools:call --scope files:read --lifetime 15m
//! mcp-token mint --hs256-secret-file secret.txt --scope tools:list
//! ```
//!
//! Tokens are ES256 by default, with the key's RFC 7638 thumbprint as `kid`, so the JWK set
//! printed for the same key file always matches.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mcp_auth_example::token::{self, DEV_AUDIENCE, DEV_ISSUER, SigningKey, TokenSpec};

/// Mints development tokens for mcp-server and prints the JWK set that verifies them.
#[derive(Debug, Parser)]
#[command(name = "mcp-token", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a new ES256 (P-256) private key, PKCS#8 PEM, readable by its owner only.
    Keygen {
        /// Where to write it; an existing file is never overwritten.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Prints the JWK set with the public key of --key (for `mcp-server --jwks-file`).
    Jwks {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Prints the public key of --key as PEM.
    PublicKey {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Prints a signed token.
    Mint(MintArgs),
}

/// The key of `jwks` and `public-key`.
#[derive(Debug, Args)]
struct KeyArgs {
    /// The ES256 private key (PKCS#8 PEM).
    #[arg(long, value_name = "PATH")]
    key: PathBuf,
    /// The key id (default: the key's RFC 7638 thumbprint).
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
}

/// What `mint` signs with and what the token says.
#[derive(Debug, Args)]
struct MintArgs {
    /// The ES256 private key (PKCS#8 PEM) to sign with.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "hs256_secret_file",
        conflicts_with = "hs256_secret_file"
    )]
    key: Option<PathBuf>,
    /// Sign with HS256 and the secret in this file instead (one trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    hs256_secret_file: Option<PathBuf>,
    /// The key id of an ES256 key (default: the key's thumbprint).
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// `sub`: who the caller is.
    #[arg(long, default_value = "dev")]
    subject: String,
    /// A scope to grant; repeat it, or give several separated by spaces.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// How long the token is valid: `90s`, `15m`, `1h`, `2d` or seconds; negative (`-5m`) for
    /// a token that has already expired.
    #[arg(long, default_value = "1h", allow_hyphen_values = true, value_parser = parse_lifetime)]
    lifetime: i64,
    /// `iss`.
    #[arg(long, default_value = DEV_ISSUER)]
    issuer: String,
    /// `aud`.
    #[arg(long, default_value = DEV_AUDIENCE)]
    audience: String,
}

/// Runs the subcommand; prints its output, or the error and exits with 2.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("mcp-token: error: {error}");
            ExitCode::from(2)
        }
    }
}

/// What the subcommand prints.
fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Keygen { out } => {
            let pem = token::generate_es256_pem()?;
            write_new_private(&out, &pem)?;
            Ok(format!("wrote a new ES256 key to {}", out.display()))
        }
        Command::Jwks { key } => {
            let jwks = load_key(&key.key, key.kid)?.jwks()?;
            serde_json::to_string_pretty(&jwks).map_err(|e| e.to_string())
        }
        Command::PublicKey { key } => {
            let pem = read(&key.key)?;
            Ok(token::public_key_pem(&pem)?.trim_end().to_owned())
        }
        Command::Mint(args) => {
            let key = match (&args.key, &args.hs256_secret_file) {
                (Some(path), _) => load_key(path, args.kid.clone())?,
                (None, Some(path)) => {
                    let mut secret = std::fs::read(path)
                        .map_err(|e| format!("--hs256-secret-file {}: {e}", path.display()))?;
                    if secret.ends_with(b"\n") {
                        secret.pop();
                        if secret.ends_with(b"\r") {
                            secret.pop();
                        }
                    }
                    SigningKey::hs256(&secret)?
                }
                (None, None) => return Err("give --key or --hs256-secret-file".to_owned()),
            };
            let scopes = args
                .scopes
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_owned)
                .collect();
            key.mint(&TokenSpec {
                issuer: args.issuer,
                audience: args.audience,
                subject: args.subject,
                scopes,
                lifetime_secs: args.lifetime,
            })
        }
    }
}

/// Reads the key file named by `--key`.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("--key {}: {e}", path.display()))
}

/// The ES256 key in `path`, with `kid` instead of its thumbprint if given.
fn load_key(path: &Path, kid: Option<String>) -> Result<SigningKey, String> {
    let key = SigningKey::es256_pem(&read(path)?)
        .map_err(|e| format!("--key {}: {e}", path.display()))?;
    Ok(match kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

/// Creates `path` (never replacing a file) readable and writable by its owner only.
fn write_new_private(path: &Path, contents: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("--out {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| format!("--out {}: {e}", path.display()))
}

/// `90s`, `15m`, `1h`, `2d`, or plain seconds; a leading `-` for the past.
fn parse_lifetime(text: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (number, unit) = match digits.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => digits.split_at(at),
        None => (digits, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: use a number with s, m, h or d (e.g. 15m)"
            ));
        }
    };
    let value: i64 = number
        .parse()
        .map_err(|_| format!("{text:?}: use a number with s, m, h or d (e.g. 15m)"))?;
    let seconds = value
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too long"))?;
    Ok(if negative { -seconds } else { seconds })
}
