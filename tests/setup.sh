#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, into project-local folders
# where it can:
#   protoc                             Debian's protobuf-compiler (system package; needs root)
#   redis-server                       Debian's redis-server, for tests/tests/redis.rs (system
#                                      package; needs root; the tests start their own servers)
#   buf                                npm's @bufbuild/buf, into .tools/node_modules
#   protoc-gen-prost, protoc-gen-tonic crates.io, into .tools/cargo/bin
#   @grpc/grpc-js, @grpc/proto-loader, npm, into examples/interop/node/node_modules (its
#   jose                               package-lock.json), for examples/tests/interop.rs
#   grpcio, grpcio-tools, PyJWT,       PyPI, into .tools/venv (pinned in
#   cryptography                       examples/interop/python/requirements.txt), likewise
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

interop_node="$PWD/examples/interop/node"
if [ ! -d "$interop_node/node_modules/@grpc/grpc-js" ] || [ ! -d "$interop_node/node_modules/@grpc/proto-loader" ] \
  || [ ! -d "$interop_node/node_modules/jose" ]; then
  echo "setup: installing the Node.js interop client's packages from the npm registry"
  npm ci --prefix "$interop_node" --no-audit --no-fund --silent
fi

venv="$tools/venv"
if ! "$venv/bin/python" -c "import grpc, grpc_tools, jwt, cryptography" >/dev/null 2>&1; then
  echo "setup: installing the Python interop client's packages from PyPI into .tools/venv"
  if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 keeps venv (ensurepip) in a package of its own.
    if [ "$(id -u)" -ne 0 ]; then
      echo "setup: python3 cannot make a virtual environment and this is not root; install python3-venv" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r examples/interop/python/requirements.txt
fi

protoc --version
"$(command -v redis-server || echo /usr/bin/redis-server)" --version
"$tools/node_modules/.bin/buf" --version
