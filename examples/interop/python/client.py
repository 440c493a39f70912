"""A Python client of the example MCP tool server, independent of the Rust code: the service is
compiled from mcp.proto with grpc_tools at run time, calls go through grpcio, and tokens are
minted with PyJWT (ES256 through cryptography) from the private key the test hands over.

    python3 client.py '{"addr": "127.0.0.1:PORT", "key_file": "key.pem", "kid": "...",
                        "issuer": "...", "audience": "...", "include": ["examples/proto", "proto"]}'

Prints one JSON line per case: {"case": "...", "code": "OK" | "PERMISSION_DENIED" | ..., ...}.
"""

import importlib
import importlib.resources
import json
import sys
import tempfile
import time

import grpc
import jwt
from google.protobuf import struct_pb2
from grpc_tools import protoc

FULL = "tools:list tools:call resources:read files:read files:write"
READ_ONLY = "tools:list tools:call files:read"
TIMEOUT = 30


def compile_protos(include, out):
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    args = ["grpc_tools.protoc", f"-I{well_known}"]
    args += [f"-I{path}" for path in include]
    args += [f"--python_out={out}", f"--grpc_python_out={out}"]
    args += ["mcp/mcp.proto", "mcp_auth/v1/auth.proto"]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out)
    return importlib.import_module("mcp.mcp_pb2"), importlib.import_module("mcp.mcp_pb2_grpc")


def main():
    config = json.loads(sys.argv[1])
    with open(config["key_file"], encoding="utf-8") as f:
        key = f.read()

    def mint(scope, lifetime):
        now = int(time.time())
        claims = {
            "iss": config["issuer"],
            "aud": config["audience"],
            "sub": "python-client",
            "scope": scope,
            "iat": now,
            "exp": now + lifetime,
        }
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": config["kid"]})

    def metadata(token):
        return [("authorization", f"Bearer {token}")] if token else []

    def struct(**fields):
        value = struct_pb2.Struct()
        value.update(fields)
        return value

    def report(case, code, **extra):
        print(json.dumps({"case": case, "code": code, **extra}), flush=True)

    with tempfile.TemporaryDirectory() as out:
        pb, pb_grpc = compile_protos(config["include"], out)
        with grpc.insecure_channel(config["addr"]) as channel:
            stub = pb_grpc.McpServiceStub(channel)

            def unary(method, request, token):
                try:
                    response = getattr(stub, method)(request, metadata=metadata(token), timeout=TIMEOUT)
                    return "OK", response, None
                except grpc.RpcError as error:
                    challenge = dict(error.trailing_metadata() or ()).get("www-authenticate")
                    return error.code().name, None, challenge

            def stream(messages, token):
                replies = []
                try:
                    for reply in stub.ToolStream(iter(messages), metadata=metadata(token), timeout=TIMEOUT):
                        replies.append(reply)
                    return "OK", replies
                except grpc.RpcError as error:
                    return error.code().name, replies

            full = mint(FULL, 600)
            read_only = mint(READ_ONLY, 600)
            expired = mint(FULL, -600)

            code, response, _ = unary("ListTools", pb.ListToolsRequest(), full)
            report("allowed", code, tools=[t.name for t in response.tools] if response else None)

            request = pb.CallToolRequest(name="read_file", arguments=struct(path="hello.txt"))
            code, response, _ = unary("CallTool", request, read_only)
            report("call", code, text=response.content[0].text if response else None)

            code, _, _ = unary("ListTools", pb.ListToolsRequest(), None)
            report("missing_token", code)

            request = pb.CallToolRequest(name="write_file", arguments=struct(path="x.txt", content="x"))
            code, _, challenge = unary("CallTool", request, read_only)
            report("insufficient_scope", code, challenge=challenge)

            code, _, _ = unary("ListTools", pb.ListToolsRequest(), expired)
            report("expired", code)

            code, replies = stream(
                [
                    pb.ToolStreamRequest(request_id="p1", tool_name="list_dir", arguments=struct(path=".")),
                    pb.ToolStreamRequest(request_id="p2", tool_name="read_file", arguments=struct(path="hello.txt")),
                ],
                read_only,
            )
            report(
                "stream",
                code,
                replies=[{"request_id": r.request_id, "outcome": r.WhichOneof("outcome")} for r in replies],
                text=replies[1].result.content[0].text if len(replies) > 1 else None,
            )

            code, replies = stream(
                [
                    pb.ToolStreamRequest(request_id="p3", tool_name="read_file", arguments=struct(path="hello.txt")),
                    pb.ToolStreamRequest(request_id="p4", tool_name="write_file", arguments=struct(path="x.txt", content="x")),
                ],
                read_only,
            )
            report("stream_write_denied", code, replies=[r.request_id for r in replies])


if __name__ == "__main__":
    main()
