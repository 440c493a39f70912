#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, into project-local folders
# where it can:
#   protoc                             Debian's protobuf-compiler (system package; needs root)
#   redis-server                       Debian's redis-server, for tests/tests/redis.rs (system
#                                      package; needs root; the tests start their own servers)
#   buf                                npm's @bufbuild/buf, into .tools/node_modules
#   protoc-gen-prost, protoc-gen-tonic crates.io, into .tools/cargo/bin
# Safe to run again: each step is skipped when its tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.tools"
mkdir -p "$tools"

if ! command -v protoc >/dev/null 2>&1; then
  echo "setup: installing protoc (Debian protobuf-compiler)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: protoc is missing and this is not root; install protobuf-compiler" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  echo "setup: installing redis-server (Debian redis-server)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: redis-server is missing and this is not root; install redis-server" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

if [ ! -x "$tools/node_modules/.bin/buf" ]; then
  echo "setup: installing buf from the npm registry into .tools"
  [ -f "$tools/package.json" ] || echo '{"private":true}' > "$tools/package.json"
  (cd "$tools" && npm install --no-audit --no-fund --silent @bufbuild/buf@1.75.0)
fi

for plugin in protoc-gen-prost protoc-gen-tonic; do
  if [ ! -x "$tools/cargo/bin/$plugin" ]; then
    echo "setup: installing $plugin 0.5.0 from crates.io into .tools/cargo"
    cargo install --quiet --locked --root "$tools/cargo" "$plugin@0.5.0"
  fi
done

protoc --version
"$(command -v redis-server || echo /usr/bin/redis-server)" --version
"$tools/node_modules/.bin/buf" --version
