// A Node.js client of the example MCP tool server, independent of the Rust code: the service
// comes from mcp.proto through @grpc/proto-loader, calls go through @grpc/grpc-js, and tokens
// are minted with jose from the private key the test hands over.
//
//   node client.mjs '{"addr": "127.0.0.1:PORT", "key_file": "key.pem", "kid": "...",
//                     "issuer": "...", "audience": "...", "include": ["examples/proto", "proto"]}'
//
// Prints one JSON line per case: {"case": "...", "code": "OK" | "PERMISSION_DENIED" | ..., ...}.

import { readFileSync } from "node:fs";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { SignJWT, importPKCS8 } from "jose";

const config = JSON.parse(process.argv[2]);
const definition = protoLoader.loadSync("mcp/mcp.proto", {
  includeDirs: config.include,
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const mcp = grpc.loadPackageDefinition(definition).mcp;
const client = new mcp.McpService(config.addr, grpc.credentials.createInsecure());
const key = await importPKCS8(readFileSync(config.key_file, "utf8"), "ES256");

const FULL = "tools:list tools:call resources:read files:read files:write";
const READ_ONLY = "tools:list tools:call files:read";

async function mint(scope, lifetimeSeconds) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: "ES256", kid: config.kid, typ: "JWT" })
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setSubject("node-client")
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(key);
}

function metadata(token) {
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return md;
}

/** A JS object as google.protobuf.Struct (strings only, which is all these tools take). */
function struct(object) {
  const fields = {};
  for (const [k, v] of Object.entries(object)) fields[k] = { stringValue: String(v) };
  return { fields };
}

function codeName(code) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code) ?? String(code);
}

function unary(method, request, token) {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + 30_000);
    client[method](request, metadata(token), { deadline }, (error, response) => {
      if (error) {
        const challenge = error.metadata?.get("www-authenticate")?.[0];
        resolve({ code: codeName(error.code), challenge: challenge ? String(challenge) : undefined });
      } else {
        resolve({ code: "OK", response });
      }
    });
  });
}

/** Sends `messages` on one ToolStream, then half-closes; collects the replies and the end. */
function stream(messages, token) {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + 30_000);
    const call = client.ToolStream(metadata(token), { deadline });
    const replies = [];
    let done = false;
    const finish = (code) => {
      if (!done) {
        done = true;
        resolve({ code, replies });
      }
    };
    call.on("data", (reply) => replies.push(reply));
    call.on("error", (error) => finish(codeName(error.code)));
    call.on("end", () => finish("OK"));
    for (const message of messages) call.write(message);
    call.end();
  });
}

function report(name, result, extra = {}) {
  console.log(JSON.stringify({ case: name, code: result.code, ...extra }));
}

const full = await mint(FULL, 600);
const readOnly = await mint(READ_ONLY, 600);
const expired = await mint(FULL, -600);

let result = await unary("ListTools", {}, full);
report("allowed", result, { tools: result.response?.tools.map((t) => t.name) });

result = await unary("CallTool", { name: "read_file", arguments: struct({ path: "hello.txt" }) }, readOnly);
report("call", result, { text: result.response?.content[0]?.text });

result = await unary("ListTools", {}, null);
report("missing_token", result);

result = await unary("CallTool", { name: "write_file", arguments: struct({ path: "x.txt", content: "x" }) }, readOnly);
report("insufficient_scope", result, { challenge: result.challenge });

result = await unary("ListTools", {}, expired);
report("expired", result);

result = await stream(
  [
    { request_id: "n1", tool_name: "list_dir", arguments: struct({ path: "." }) },
    { request_id: "n2", tool_name: "read_file", arguments: struct({ path: "hello.txt" }) },
  ],
  readOnly,
);
report("stream", result, {
  replies: result.replies.map((r) => ({ request_id: r.request_id, outcome: r.outcome })),
  text: result.replies[1]?.result?.content[0]?.text,
});

result = await stream(
  [
    { request_id: "n3", tool_name: "read_file", arguments: struct({ path: "hello.txt" }) },
    { request_id: "n4", tool_name: "write_file", arguments: struct({ path: "x.txt", content: "x" }) },
  ],
  readOnly,
);
report("stream_write_denied", result, { replies: result.replies.map((r) => r.request_id) });

client.close();
