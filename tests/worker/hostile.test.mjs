// Hostile input through the built Worker in workerd: bytes that are not UTF-8 in a header and in a
// JSON body, random binary, a 10 MB body, an absurdly long header, hundreds of numbers in one
// body, methods workers-rs does not know, an origin answering with a status no JS Response can
// carry. Each gets the policy's configured answer (or workerd's own, before the Worker runs),
// never a hung request or a crash, and the Worker keeps serving afterwards with its wasm instance
// intact: no panic, no "Reinitializing Wasm application".
//
// Requests whose bytes fetch() refuses to send go over a raw TCP socket to workerd's port.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import net from "node:net";
import { events, startOrigin, startWorker } from "./harness.mjs";

// What no request may do to the Worker: every line below in workerd's output means a Rust panic
// (a trap) or a hung request.
const BROKEN = [/Reinitializing Wasm application/, /RuntimeError/, /panicked/, /Critical/, /hung/, /never generate a response/];

const policy = {
  version: 1,
  default_region: "US",
  routes: [
    {
      id: "otp",
      kind: "send",
      match: { path: { exact: "/api/otp" } },
      extract: { json_keys: ["phone"], json_paths: ["recipients[*].to"] },
    },
    {
      id: "bulk",
      kind: "send",
      match: { path: { exact: "/api/bulk" } },
      extract: { json_paths: ["recipients[*].to"] },
    },
  ],
  rules: [
    { id: "no-gb", action: "block", country: { deny: ["GB"] } },
    // The x-name header is part of a counter key, so its bytes travel to a shard and into storage.
    { id: "per-name", action: "throttle", rate_limit: { key: ["client_ip", { header: "x-name" }], rate: 1, per_seconds: 3600, burst: 3 } },
    { id: "per-number", action: "throttle", rate_limit: { key: ["number"], rate: 1000, per_seconds: 1, burst: 1000 } },
  ],
  store: { on_error: "block" },
};

let origin;
let worker;
before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ policy, origin: origin.url });
});
after(async () => {
  await worker?.stop();
  origin?.stop();
});

function assertIntact(where) {
  const broken = worker.log.lines.filter((line) => BROKEN.some((re) => re.test(line)));
  assert.deepEqual(broken, [], `${where}: the Worker broke:\n${worker.log.lines.join("\n")}`);
}

/** A normal guarded request still gets its answer: the Worker keeps serving. */
let served = 0;
async function stillServes(where) {
  served++;
  const r = await fetch(`${worker.url}/api/otp`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": `198.51.100.${served}` },
    body: '{"phone":"+14155550123"}',
  });
  assert.equal(r.status, 200, `${where}: a normal request after it`);
  assert.equal((await r.json()).origin, "ok");
  assertIntact(where);
}

/**
 * Sends `head` and then `chunks` over a raw socket, one at a time, and stops sending as soon as an
 * answer arrives: the Worker answers an oversized body before reading it all, and workerd then
 * closes the connection; bytes still in flight would turn that close into a reset that can eat
 * the answer. Resolves with the answer and how many body bytes were sent.
 */
function paced(head, chunks, { timeoutMs = 30_000 } = {}) {
  const { port } = new URL(worker.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), "127.0.0.1");
    const received = [];
    let sent = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms (${sent} body bytes sent)`));
    }, timeoutMs);
    socket.on("data", (d) => received.push(d));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(received).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!match) return reject(new Error(`no HTTP answer after ${sent} body bytes: ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(match[1]), body: text.split("\r\n\r\n").slice(1).join("\r\n\r\n"), sent });
    });
    socket.once("connect", async () => {
      socket.write(head);
      for (const chunk of chunks) {
        // Give workerd a moment to answer before more is sent.
        await new Promise((r) => setTimeout(r, 5));
        if (received.length || socket.destroyed) return;
        sent += chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r).once("close", r));
      }
    });
  });
}

/** Sends raw bytes and resolves with the status, headers and body of the answer (connection closed). */
function raw(bytes, { timeoutMs = 15_000 } = {}) {
  const { port } = new URL(worker.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), "127.0.0.1");
    const chunks = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", () => {}); // a reset after the answer is fine; no answer is not
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!match) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const [head, ...rest] = text.split("\r\n\r\n");
      resolve({ status: Number(match[1]), head, body: rest.join("\r\n\r\n") });
    });
    socket.end(bytes);
  });
}

function rawRequest(method, path, headers, body = Buffer.alloc(0)) {
  const lines = [`${method} ${path} HTTP/1.1`, "host: app.example.com", "connection: close"];
  const head = Buffer.from(`${lines.join("\r\n")}\r\n`, "latin1");
  const rest = headers.map((h) => (Buffer.isBuffer(h) ? h : Buffer.from(h, "latin1")));
  const withLength = body.length ? [Buffer.from(`content-length: ${body.length}`)] : [];
  const all = [...rest, ...withLength].flatMap((h) => [h, Buffer.from("\r\n")]);
  return Buffer.concat([head, ...all, Buffer.from("\r\n"), body]);
}

const latin1Name = Buffer.concat([Buffer.from("x-name: Jos"), Buffer.from([0xe9])]);
const json = (value) => Buffer.from(JSON.stringify(value));

async function originRequestsSince(count) {
  return (await origin.requests()).slice(count);
}

describe("hostile input through workerd", () => {
  test("a header value with Latin-1 bytes (not UTF-8) is judged, counted and forwarded", async () => {
    const seen = (await origin.requests()).length;
    const send = () =>
      raw(rawRequest("POST", "/api/otp", ["content-type: application/json", "cf-connecting-ip: 192.0.2.1", latin1Name], json({ phone: "+14155550123" })));
    // burst 3 on (client ip, x-name): the value reaches the shard and counts like any other.
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send()).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const forwarded = await originRequestsSince(seen);
    assert.equal(forwarded.length, 3);
    // workerd decodes header bytes as UTF-8, with U+FFFD for what is not, before the Worker sees
    // them; so origin gets the replacement character's UTF-8 bytes (tests/origin.py reads header
    // bytes as Latin-1).
    const names = forwarded[0].headers.filter(([k]) => k === "x-name").map(([, v]) => Buffer.from(v, "latin1"));
    assert.deepEqual(names, [Buffer.from("Jos\ufffd")]);
    // Unguarded routes forward it too.
    const unguarded = await raw(rawRequest("GET", "/elsewhere", [latin1Name]));
    assert.equal(unguarded.status, 200);
    await stillServes("latin-1 header");
  });

  test("a JSON body that is not UTF-8 is body_malformed (400), origin sees nothing", async () => {
    const seen = (await origin.requests()).length;
    const body = Buffer.concat([Buffer.from('{"phone":"+1415555'), Buffer.from([0xff, 0xfe]), Buffer.from('0123"}')]);
    const r = await raw(rawRequest("POST", "/api/otp", ["content-type: application/json", "cf-connecting-ip: 192.0.2.2"], body));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error, "body_malformed");
    assert.equal((await originRequestsSince(seen)).length, 0);
    await stillServes("invalid utf-8 body");
  });

  test("random binary bodies: body_malformed as JSON, unsupported_content_type otherwise", async () => {
    const seen = (await origin.requests()).length;
    for (let i = 0; i < 5; i++) {
      const body = crypto.randomBytes(4096);
      const asJson = await fetch(`${worker.url}/api/otp`, { method: "POST", headers: { "content-type": "application/json" }, body });
      assert.equal(asJson.status, 400);
      assert.equal((await asJson.json()).error, "body_malformed");
      const asBinary = await fetch(`${worker.url}/api/otp`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body });
      assert.equal(asBinary.status, 415);
      assert.equal((await asBinary.json()).error, "unsupported_content_type");
    }
    assert.equal((await originRequestsSince(seen)).length, 0);
    await stillServes("binary bodies");
  });

  test("a 10 MB body on a guarded route is body_too_large (413), declared or chunked", async () => {
    const seen = (await origin.requests()).length;
    const size = 10 * 1024 * 1024;
    const piece = 16 * 1024;
    const body = Buffer.alloc(size, 0x20);
    body.write('{"phone":"+14155550123","pad":"', 0);
    body.write('"}', size - 2);
    const pieces = Array.from({ length: size / piece }, (_, i) => body.subarray(i * piece, (i + 1) * piece));
    const head = (framing) =>
      Buffer.from(`POST /api/otp HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n${framing}\r\n`);
    // Declared: refused on the length alone.
    const declared = await paced(head(`content-length: ${size}\r\n`), pieces);
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.body).error, "body_too_large");
    // Chunked, no length: read only up to the cap (64 KiB), then refused.
    const chunks = pieces.map((p) => Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from("\r\n")]));
    const chunked = await paced(head("transfer-encoding: chunked\r\n"), [...chunks, Buffer.from("0\r\n\r\n")]);
    assert.equal(chunked.status, 413);
    assert.equal(JSON.parse(chunked.body).error, "body_too_large");
    assert.ok(chunked.sent < size, `answered before the whole body was sent (${chunked.sent} bytes)`);
    // A small content-length with a chunked body: the chunked framing wins, so the length is not
    // trusted and the body is read only up to the cap.
    const lying = await paced(head("content-length: 24\r\ntransfer-encoding: chunked\r\n"), [...chunks, Buffer.from("0\r\n\r\n")]);
    assert.ok([400, 413].includes(lying.status), `lying length: ${lying.status} ${lying.body}`);
    if (lying.status === 413) assert.equal(JSON.parse(lying.body).error, "body_too_large");
    assert.equal((await originRequestsSince(seen)).length, 0);
    await stillServes("10 MB body");
  });

  test("a 10 MB body the policy allows goes to origin whole and streamed, declared or chunked", async () => {
    // An origin that only hashes what it receives (tests/origin.py would log 10 MB per request).
    const got = [];
    const counter = http.createServer((req, res) => {
      const hash = crypto.createHash("sha256");
      let bytes = 0;
      req.on("data", (c) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on("end", () => {
        got.push({ bytes, sha: hash.digest("hex"), length: req.headers["content-length"] });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise((resolve) => counter.listen(0, "127.0.0.1", resolve));
    const allow = { ...policy, inputs: { on_oversize: "allow" } };
    const other = await startWorker({ policy: allow, origin: `http://127.0.0.1:${counter.address().port}` });
    try {
      const size = 10 * 1024 * 1024;
      const body = crypto.randomBytes(size);
      body.write('{"phone":"+14155550123","pad":"', 0);
      const sha = crypto.createHash("sha256").update(body).digest("hex");
      const post = (headers) =>
        new Promise((resolve, reject) => {
          const req = http.request(`${other.url}/api/otp`, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode));
          });
          req.on("error", reject);
          for (let i = 0; i < size; i += 1024 * 1024) req.write(body.subarray(i, i + 1024 * 1024));
          req.end();
        });
      assert.equal(await post({ "content-length": String(size) }), 200);
      assert.equal(await post({}), 200);
      assert.deepEqual(got.map((g) => [g.bytes, g.sha]), [[size, sha], [size, sha]]);
      assert.equal(got[0].length, String(size), "a declared length is kept");
      const broken = other.log.lines.filter((line) => BROKEN.some((re) => re.test(line)));
      assert.deepEqual(broken, [], other.log.lines.join("\n"));
    } finally {
      await other.stop();
      counter.closeAllConnections?.();
      await new Promise((resolve) => counter.close(resolve));
    }
  });

  test("absurdly long headers: judged when workerd accepts them, refused by workerd otherwise", async () => {
    const seen = (await origin.requests()).length;
    // 32 KiB in a key header: judged and counted like any value (the key keeps a bounded prefix).
    const long = await raw(
      rawRequest("POST", "/api/otp", ["content-type: application/json", "cf-connecting-ip: 192.0.2.3", `x-name: ${"n".repeat(32 * 1024)}`], json({ phone: "+14155550123" })),
    );
    assert.equal(long.status, 200);
    // 1 MiB of header: workerd's HTTP parser refuses it before the Worker runs.
    const huge = await raw(rawRequest("POST", "/api/otp", ["content-type: application/json", `x-junk: ${"j".repeat(1024 * 1024)}`], json({ phone: "+14155550123" })));
    assert.ok(huge.status >= 400 && huge.status < 500, `huge header: ${huge.status}`);
    assert.equal((await originRequestsSince(seen)).length, 1);
    await stillServes("long headers");
  });

  test("hundreds of numbers in one body: too_many_numbers (400) by default", async () => {
    const seen = (await origin.requests()).length;
    const recipients = Array.from({ length: 500 }, (_, i) => ({ to: `+1415555${String(i).padStart(4, "0")}` }));
    const r = await fetch(`${worker.url}/api/bulk`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ recipients }),
    });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, "too_many_numbers");
    assert.equal((await originRequestsSince(seen)).length, 0);
    await stillServes("many numbers");
  });

  test("hundreds of numbers allowed through: the first max_numbers (50) are judged and counted", async () => {
    // 50 per-number checks in one request: over 4 shards (many keys per shard call), and 150 on
    // one shard (three rules: a shard request over 8 KiB, sent as a body, not in the header).
    const once = (id) => ({ id, action: "throttle", rate_limit: { key: ["number"], rate: 1, per_seconds: 3600, burst: 1 } });
    for (const [shards, rules] of [["4", [once("once")]], ["1", [once("once"), once("twice"), once("thrice")]]]) {
      const many = { ...policy, inputs: { max_numbers: 50, on_too_many_numbers: "allow" }, rules };
      const other = await startWorker({ policy: many, origin: origin.url, vars: { PUMPGUARD_SHARDS: shards } });
      try {
        const recipients = Array.from({ length: 500 }, (_, i) => ({ to: `+1415555${String(i).padStart(4, "0")}` }));
        const send = (list) =>
          fetch(`${other.url}/api/bulk`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ recipients: list }) });
        const first = await send(recipients);
        assert.equal(first.status, 200, await first.text());
        assert.equal((await send(recipients.slice(49, 50))).status, 429, `${shards} shards: the 50th number was counted`);
        assert.equal((await send(recipients.slice(50, 51))).status, 200, `${shards} shards: the 51st was not`);
        const broken = other.log.lines.filter((line) => BROKEN.some((re) => re.test(line)));
        assert.deepEqual(broken, [], other.log.lines.join("\n"));
      } finally {
        await other.stop();
      }
    }
  });

  test("a deeply nested JSON body is body_malformed (400): the scan stops at 64 levels", async () => {
    const seen = (await origin.requests()).length;
    const depth = 5000; // about 48 KB, under the 64 KiB cap
    const body = `${'{"a":['.repeat(depth)}"+14155550123"${"]}".repeat(depth)}`;
    const r = await fetch(`${worker.url}/api/otp`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": "192.0.2.50" }, body });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, "body_malformed");
    assert.equal((await originRequestsSince(seen)).length, 0);
    await stillServes("deep nesting");
  });

  test("methods workers-rs does not list are forwarded as they came", async () => {
    const seen = (await origin.requests()).length;
    // tests/origin.py answers 501 naming a method it does not serve: the name is what it got.
    for (const method of ["PURGE", "PROPFIND"]) {
      const r = await raw(rawRequest(method, "/elsewhere", ["x-custom: 1"]));
      assert.equal(r.status, 501, `${method}: ${r.status} ${r.body}`);
      assert.ok(r.body.includes(`('${method}')`), r.body);
    }
    assert.equal((await raw(rawRequest("PATCH", "/elsewhere", [], Buffer.from("x")))).status, 200);
    assert.deepEqual((await originRequestsSince(seen)).map((r) => r.method), ["PATCH"]);
    await stillServes("methods");
  });

  test("an origin status no JS Response can be built with does not break the Worker", async () => {
    for (const path of ["/elsewhere", "/api/otp"]) {
      const r = await fetch(`${worker.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": "192.0.2.60", "x-test-origin-status": "600" },
        body: '{"phone":"+14155550123"}',
      });
      // Handed back as it came; locally Miniflare's entry worker refuses it (500).
      await r.arrayBuffer();
      assert.ok(r.status === 600 || r.status === 500, `${path}: ${r.status}`);
    }
    assert.equal(events(worker.log, "pumpguard.internal_error").length, 0);
    await stillServes("origin status 600");
  });
});
