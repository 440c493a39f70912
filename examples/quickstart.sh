#!/usr/bin/env bash
# The quickstart: builds the example, starts mcp-server on 127.0.0.1 with the embedded
# development key, runs a scripted client through the cases that matter (full, read-only,
# missing, expired and forged tokens, path escapes, expiring and renewed streams, a write on a
# read-only stream) and prints the decision expected and the decision made for each.
# Exits 0 only if every row matched. Needs only the Rust toolchain (no protoc).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "quickstart: building the example (the first build takes a few minutes)" >&2
cargo build --locked --quiet -p mcp-auth-example --bins
exec cargo run --locked --quiet -p mcp-auth-example --bin quickstart
