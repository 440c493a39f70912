#!/usr/bin/env bash
# Writes the seed corpora under fuzz/corpus/<target>/ (committed; run again after changing a
# fixture): real tokens of the fuzzed issuer, real claims, the CodeGeneratorRequest protoc sends
# for the end-to-end tests' fixtures (captured by a stand-in plugin), and the repository's
# overlay files. Needs protoc and python3.
set -euo pipefail
cd "$(dirname "$0")"
corpus="$PWD/corpus"
repo="$(cd .. && pwd)"
mkdir -p "$corpus"/{bearer,token,token_signed,claims,plugin_request,plugin_descriptors,overlay}

python3 - "$corpus" <<'PY'
import base64, hashlib, hmac, json, sys
corpus = sys.argv[1]
secret = b"fuzz secret of the mcp-auth issuer, 32+ bytes"  # fuzz/src/lib.rs SECRET
iss, aud, now = "https://issuer.fuzz", "mcp-fuzz", 1_900_000_000
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
def sign(header, claims):
    h, c = json.dumps(header, separators=(",", ":")).encode(), json.dumps(claims, separators=(",", ":")).encode()
    signing = b64(h) + b"." + b64(c)
    return h, c, signing + b"." + b64(hmac.new(secret, signing, hashlib.sha256).digest())
valid = {"iss": iss, "aud": aud, "sub": "alice", "scope": "tools:call files:read", "iat": now, "exp": now + 600}
cases = {
    "valid": ({"alg": "HS256", "typ": "JWT"}, valid),
    "at_jwt_kid": ({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, dict(valid, aud=[aud, "other"], scp=["a", "b"])),
    "expired": ({"alg": "HS256"}, dict(valid, exp=now)),
    "nbf_future": ({"alg": "HS256"}, dict(valid, nbf=now + 10)),
    "wrong_issuer": ({"alg": "HS256"}, dict(valid, iss="https://other")),
    "alg_none": ({"alg": "none"}, valid),
    "crit": ({"alg": "HS256", "crit": ["exp"]}, valid),
    "rs256": ({"alg": "RS256"}, valid),
    "jku": ({"alg": "HS256", "jku": "https://evil/jwks"}, valid),
}
for name, (header, claims) in cases.items():
    h, c, token = sign(header, claims)
    open(f"{corpus}/token/{name}", "wb").write(token)
    open(f"{corpus}/token_signed/{name}", "wb").write(h + b"\0" + c)
    open(f"{corpus}/claims/{name}", "wb").write(c)
    open(f"{corpus}/bearer/{name}", "wb").write(b"Bearer " + token)
open(f"{corpus}/claims/provider", "wb").write(json.dumps(
    {"sub": "svc", "exp": 30, "nbf": 10, "iat": 9, "scope": "a  b", "scp": ["c"], "tenant": "t"}).encode())
for name, value in {"two": b"Bearer a.b.c\nBearer a.b.c", "basic": b"Basic dXNlcjpwYXNz",
                    "padding": b"bearer ab==", "spaces": b"Bearer  a b"}.items():
    open(f"{corpus}/bearer/{name}", "wb").write(value)
PY

# The CodeGeneratorRequest protoc sends, captured by a plugin that only saves its stdin.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '#!/bin/sh\ncat > "%s/request"\nprintf "\\020\\001"\n' "$work" > "$work/protoc-gen-capture"
chmod +x "$work/protoc-gen-capture"
capture() { # name, include root, files..., with report parameters
  local name="$1" root="$2"
  shift 2
  mkdir -p "$work/out"
  protoc --plugin=protoc-gen-capture="$work/protoc-gen-capture" \
    --capture_out=report=markdown,report=json:"$work/out" \
    -I "$root" -I "$repo/protoc-gen-mcp-auth/proto" "$@"
  cp "$work/request" "$corpus/plugin_request/$name"
}
pass="$repo/tests/fixtures/pass"
(cd "$pass" && capture tools "$pass" fixtures/tools.proto)
(cd "$pass" && capture streaming "$pass" fixtures/streaming.proto fixtures/echo.proto)
(cd "$pass" && capture resources "$pass" fixtures/resources.proto)
mcp="$repo/tests/fixtures/overlay/mcp"
(cd "$mcp" && capture mcp "$mcp" fixtures/mcp/mcp.proto fixtures/mcptools/args.proto)
fail="$repo/tests/fixtures/fail"
(cd "$fail" && capture fail_bad_tools "$fail" bad_tools.proto)

for overlay in "$repo"/tests/fixtures/overlay/*/*.toml "$repo"/examples/proto/*.toml; do
  cp "$overlay" "$corpus/overlay/$(basename "$(dirname "$overlay")")_$(basename "$overlay")"
done

for dir in "$corpus"/*; do echo "seeds: $(basename "$dir"): $(ls "$dir" | wc -l) files"; done
