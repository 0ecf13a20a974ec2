// Host checks of the Worker in workerd beyond the scenario corpus: forwarding intact, Durable
// Object counters exact under concurrency and across a restart, invalid / missing policy, the
// Turnstile callout, test hooks off by default, structured logs.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { spawnSync } from "node:child_process";
import { BOT_SCORE_HEADER, CF_WITHOUT_BOT_MANAGEMENT, CLOCK_HEADER, COUNTRY_HEADER, JA3_HEADER, VERIFIED_BOT_HEADER, events, startOrigin, startSink, startSiteverify, withStartedWorker } from "./harness.mjs";

const route = (id, kind, exact, extra = {}) => ({
  id,
  kind,
  match: { methods: ["POST"], path: { exact } },
  extract: { json_keys: ["phone"], ...extra },
});

const basePolicy = (rules, more = {}) => ({
  version: 1,
  default_region: "US",
  routes: [route("otp", "send", "/api/otp", { token: { header: "cf-turnstile-response" } }), route("verify", "confirm", "/api/otp/verify")],
  rules,
  ...more,
});

const perIp = (burst) => ({
  id: "per-ip",
  action: "throttle",
  rate_limit: { key: ["client_ip"], rate: 1, per_seconds: 3600, burst },
});

let origin;
let siteverify;
before(async () => {
  origin = await startOrigin();
  siteverify = await startSiteverify();
});
after(async () => {
  origin?.stop();
  await siteverify?.stop();
});

function withWorker(options, body) {
  return withStartedWorker({ origin: origin.url, siteverify: siteverify.url, ...options }, body);
}

function otp(worker, { ip = "198.51.100.7", phone = "+14155550123", at = 1000, headers = {}, path: p = "/api/otp" } = {}) {
  return fetch(`${worker.url}${p}`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": ip, [CLOCK_HEADER]: String(at), ...headers },
    body: JSON.stringify({ phone }),
  });
}

function rawRequest(url, { method, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function originRequestsSince(count) {
  return (await origin.requests()).slice(count);
}

describe("forwarding", () => {
  test("allowed and unguarded requests reach origin intact, with the decision headers", async () => {
    await withWorker({ policy: basePolicy([]) }, async (worker) => {
      const seen = (await origin.requests()).length;
      // Unguarded, binary body larger than any cap, odd path and query.
      const binary = Buffer.alloc(300_000);
      for (let i = 0; i < binary.length; i++) binary[i] = (i * 31 + 7) % 256;
      const unguarded = await fetch(`${worker.url}/upload/a%20b/../c?x=1&y=%2F&y=2`, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream", "x-custom": "one", "x-pumpguard-decision": "block" },
        body: binary,
      });
      assert.equal(unguarded.status, 200);
      assert.equal((await unguarded.json()).received_bytes, binary.length);

      // Guarded and allowed: JSON body, origin's own status comes back.
      // node:http, because fetch does not let a caller set Host.
      const body = JSON.stringify({ phone: "+14155550123", note: "ünïcode" });
      const allowed = await rawRequest(`${worker.url}/api/otp?lang=en`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-custom": "two",
          "x-test-origin-status": "201",
          "x-pumpguard-findings": "spoofed:by_client",
          host: "app.example.com",
        },
        body,
      });
      assert.equal(allowed.status, 201);
      assert.equal(allowed.headers["x-pumpguard-decision"], "allow");
      assert.equal(allowed.headers["x-pumpguard-findings"], undefined, "client's findings header removed");

      const [first, second] = await originRequestsSince(seen);
      const header = (r, n) => r.headers.filter(([k]) => k === n).map(([, v]) => v);
      assert.equal(first.method, "PUT");
      assert.equal(first.path, "/upload/c?x=1&y=%2F&y=2");
      assert.deepEqual(header(first, "x-custom"), ["one"]);
      assert.deepEqual(header(first, "x-pumpguard-decision"), ["allow"], "client's decision header replaced");
      assert.equal(second.method, "POST");
      assert.equal(second.path, "/api/otp?lang=en");
      assert.equal(second.body, body);
      assert.deepEqual(header(second, "x-custom"), ["two"]);
      assert.deepEqual(header(second, "x-forwarded-host"), ["app.example.com"]);
      assert.deepEqual(header(second, "x-pumpguard-country"), ["US"]);
      assert.deepEqual(header(second, CLOCK_HEADER), [], "test clock header never reaches origin");
    });
  });

  test("configured path prefixes go to their own origin without the cookie or the origin headers; a host named in any other path does not", async () => {
    const other = await startOrigin();
    try {
      const vars = {
        PUMPGUARD_ORIGIN_PREFIXES: JSON.stringify({ "/other.example/": `${other.url}/base/` }),
        PUMPGUARD_ORIGIN_HEADERS: JSON.stringify({ "X-Origin-Verify": "guard-secret" }),
      };
      await withWorker({ policy: basePolicy([]), vars }, async (worker) => {
        const seen = (await origin.requests()).length;
        const get = (p) =>
          fetch(`${worker.url}${p}`, { headers: { cookie: "site-session=secret", "x-custom": "kept", "x-origin-verify": "forged" } });
        assert.equal((await get("/other.example/v1/x?y=1")).status, 200);
        assert.equal((await get("/OTHER.Example/v1/z")).status, 200);
        assert.equal((await get("/evil.example/v1/x")).status, 200);
        const header = (r, n) => r.headers.filter(([k]) => k === n).map(([, v]) => v);
        const there = await other.requests();
        assert.deepEqual(there.map((r) => r.path), ["/base/v1/x?y=1", "/base/v1/z"]);
        assert.deepEqual(there.map((r) => header(r, "cookie")), [[], []], "the site's cookie is not another party's");
        assert.deepEqual(header(there[0], "x-custom"), ["kept"]);
        assert.deepEqual(header(there[0], "x-origin-verify"), ["forged"], "another party never gets the origin's secret");
        const here = await originRequestsSince(seen);
        assert.deepEqual(here.map((r) => r.path), ["/evil.example/v1/x"]);
        assert.deepEqual(header(here[0], "cookie"), ["site-session=secret"]);
        assert.deepEqual(header(here[0], "x-origin-verify"), ["guard-secret"], "the client's copy is replaced");
      });
    } finally {
      other.stop();
    }
  });

  test("the client's address reaches origin in the configured header, never a client's own copy", async () => {
    const vars = { PUMPGUARD_ORIGIN_CLIENT_IP_HEADER: "X-Forwarded-For" };
    await withWorker({ policy: basePolicy([]), vars }, async (worker) => {
      const seen = (await origin.requests()).length;
      const get = (headers) => fetch(`${worker.url}/v1/environment`, { headers });
      assert.equal((await get({ "cf-connecting-ip": "198.51.100.23", "x-forwarded-for": "203.0.113.9" })).status, 200);
      assert.equal((await get({ "x-forwarded-for": "203.0.113.9" })).status, 200);
      const header = (r, n) => r.headers.filter(([k]) => k === n).map(([, v]) => v);
      const here = await originRequestsSince(seen);
      assert.deepEqual(header(here[0], "x-forwarded-for"), ["198.51.100.23"], "the guard's reading of the client, the forged one dropped");
      // workerd gives a request without one the connection's address, as Cloudflare does.
      assert.deepEqual(header(here[1], "x-forwarded-for"), ["127.0.0.1"], "the client's own copy never passed on");
    });
  });

  test("a chunked guarded body is judged and forwarded intact", async () => {
    const policy = basePolicy([{ id: "no-gb", action: "block", country: { deny: ["GB"] } }]);
    await withWorker({ policy }, async (worker) => {
      const send = (phone) =>
        new Promise((resolve, reject) => {
          const req = http.request(`${worker.url}/api/otp`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode, body: text }));
          });
          req.on("error", reject);
          // No content-length: node sends it chunked, in three pieces.
          req.write('{"phone":');
          req.write(`"${phone}",`);
          req.end('"pad":"tail"}');
        });
      const seen = (await origin.requests()).length;
      const blocked = await send("+447400123456");
      assert.equal(blocked.status, 403, "the number in the middle chunk was read");
      const allowed = await send("+14155550123");
      assert.equal(allowed.status, 200);
      const forwarded = await originRequestsSince(seen);
      assert.equal(forwarded.length, 1);
      assert.equal(forwarded[0].body, '{"phone":"+14155550123","pad":"tail"}');
    });
  });

  test("a body over the cap that the policy allows is forwarded whole, declared or chunked", async () => {
    const policy = basePolicy([], { inputs: { max_body_bytes: 64, on_oversize: "allow" } });
    await withWorker({ policy }, async (worker) => {
      const seen = (await origin.requests()).length;
      const body = JSON.stringify({ phone: "+14155550123", pad: "x".repeat(100_000) });
      const response = await fetch(`${worker.url}/api/otp`, { method: "POST", headers: { "content-type": "application/json" }, body });
      assert.equal(response.status, 200);
      assert.equal((await response.json()).received_bytes, body.length);
      // No content-length: the Worker reads one branch of a tee up to the cap, origin gets the other.
      const chunked = await new Promise((resolve, reject) => {
        const req = http.request(`${worker.url}/api/otp`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode, body: text }));
        });
        req.on("error", reject);
        for (let i = 0; i < body.length; i += 10_000) req.write(body.slice(i, i + 10_000));
        req.end();
      });
      assert.equal(chunked.status, 200);
      assert.equal(JSON.parse(chunked.body).received_bytes, body.length);
      const forwarded = await originRequestsSince(seen);
      assert.deepEqual(forwarded.map((r) => r.body === body), [true, true]);
    });
  });

  test("origin sees nothing of a blocked request; the block is the core's answer", async () => {
    const policy = basePolicy([{ id: "no-gb", action: "block", country: { deny: ["GB"] } }]);
    await withWorker({ policy }, async (worker) => {
      const seen = (await origin.requests()).length;
      const response = await otp(worker, { phone: "+447400123456" });
      assert.equal(response.status, 403);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal(response.headers.get("x-pumpguard-decision"), "block");
      assert.deepEqual(await response.json(), {
        error: "country_denied",
        message: "SMS to this destination country is not available.",
        rule: "no-gb",
      });
      assert.equal((await originRequestsSince(seen)).length, 0);
      const [line] = events(worker.log, "pumpguard.decision");
      assert.ok(line, "a structured log line for the block");
      assert.equal(line.decision.action, "block");
      assert.equal(line.client.ip, "198.51.100.7");
      assert.ok("country" in line.client && "asn" in line.client, "request.cf facts logged");
    });
  });
});

describe("conversion feedback", () => {
  // A confirm route judged by a JSON field of origin's answer (as Twilio's VerificationCheck
  // answers a wrong code: 200 and "status": "pending"). The origin answers what the test asks
  // for in x-answer; a big answer pads the JSON past the 16 KiB the Worker reads of it.
  const policy = {
    version: 1,
    default_region: "US",
    routes: [
      route("otp", "send", "/api/otp"),
      { ...route("verify", "confirm", "/api/otp/verify"), success_json: { field: "status", equals: ["approved"] } },
    ],
    rules: [{ id: "conv", action: "block", conversion: { scope: "country", min_sends: 3, min_ratio: 0.5, window_seconds: 3600, block_seconds: 600 } }],
  };
  const bigPad = "x".repeat(40_000);
  async function startJsonOrigin() {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const answer = req.headers["x-answer"] ?? "approved";
        const body = answer === "big" ? JSON.stringify({ status: "approved", pad: bigPad }) : JSON.stringify({ status: answer });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(body);
      });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((resolve) => server.close(() => resolve())) };
  }
  const verify = (worker, phone, answer, at) => otp(worker, { path: "/api/otp/verify", phone, at, headers: { "x-answer": answer } });

  test("a confirm is credited only when origin's JSON says so, and the client gets origin's whole answer", async () => {
    const jsonOrigin = await startJsonOrigin();
    after(() => jsonOrigin.stop());
    for (const [second, third] of [["approved", 200], ["pending", 403]]) {
      await withWorker({ policy, origin: jsonOrigin.url }, async (worker) => {
        assert.equal((await otp(worker, { phone: "+14155550101", at: 1 })).status, 200);
        const approved = await verify(worker, "+14155550101", "approved", 2);
        assert.deepEqual(await approved.json(), { status: "approved" });
        assert.equal((await otp(worker, { phone: "+14155550102", at: 3 })).status, 200);
        assert.equal((await verify(worker, "+14155550102", second, 4)).status, 200);
        // Three sends: one confirmation of three is under the ratio, two are not.
        const send = await otp(worker, { phone: "+14155550103", at: 5 });
        assert.equal(send.status, third, `second confirm ${second}`);
        if (third === 403) assert.equal((await send.json()).error, "low_conversion");
        // An answer longer than what the Worker reads of it reaches the client whole.
        const big = await verify(worker, "+14155550103", "big", 6);
        assert.equal(big.status, 200);
        assert.deepEqual(await big.json(), { status: "approved", pad: bigPad });
      });
    }
  });
});

describe("analytics", () => {
  test("every judged request writes one Analytics Engine data point", async () => {
    const policy = basePolicy([{ id: "no-gb", action: "block", country: { deny: ["GB"] } }]);
    await withWorker({ policy, analytics: true }, async (worker) => {
      assert.equal((await otp(worker, { phone: "+447400123456" })).status, 403);
      assert.equal((await otp(worker)).status, 200);
      await fetch(`${worker.url}/unguarded`);
      const points = events(worker.log, "test.analytics").map((e) => e.point);
      assert.equal(points.length, 2, JSON.stringify(points));
      assert.deepEqual(points[0].indexes, ["otp"]);
      assert.deepEqual(points[0].blobs, ["otp", "block", "country_denied", "GB", points[0].blobs[4], "-", "-", "no-gb", "-"]);
      assert.deepEqual(points[0].doubles, [1, 403, 1]);
      assert.deepEqual(points[1].blobs.slice(0, 4), ["otp", "allow", "-", "US"]);
    });
  });

  test("the data point and the decision line name the edge inputs read and those missing", async () => {
    const policy = basePolicy([
      { id: "abroad", action: "log", client_country: { header: "cf-ipcountry", missing: true } },
      { id: "edge-bot", action: "log", bot_score: { below: 30, missing: true } },
    ]);
    // No country and no score in request.cf: each arrives through its trusted header or not at all.
    await withWorker({ policy, analytics: true, cf: CF_WITHOUT_BOT_MANAGEMENT }, async (worker) => {
      const sent = [
        { [COUNTRY_HEADER]: "US", [BOT_SCORE_HEADER]: "80" },
        {},
        // Cloudflare's "unknown country".
        { [COUNTRY_HEADER]: "XX", [BOT_SCORE_HEADER]: "80" },
      ];
      for (const [i, headers] of sent.entries()) {
        assert.equal((await otp(worker, { phone: `+1415555014${i}`, headers })).status, 200);
      }
      const points = events(worker.log, "test.analytics").map((e) => e.point);
      assert.deepEqual(
        points.map((p) => p.blobs.slice(5)),
        [
          ["client_country,bot_score", "-", "-", "-"],
          ["client_country,bot_score", "client_country,bot_score", "-", "abroad:client_country_missing,edge-bot:bot_score_missing"],
          ["client_country,bot_score", "client_country", "-", "abroad:client_country_missing"],
        ],
      );
      // Only the requests with findings are logged: the ones missing an input.
      const lines = events(worker.log, "pumpguard.decision").map((e) => e.decision.missing_inputs);
      assert.deepEqual(lines, [["client_country", "bot_score"], ["client_country"]]);
    });
  });
});

describe("Durable Object counters", () => {
  test("exact under concurrent requests: one key, and many keys over many shards", async () => {
    const sink = await startSink();
    after(() => sink.stop());
    await withWorker({ policy: basePolicy([perIp(10)]), origin: sink.url, vars: { PUMPGUARD_SHARDS: "8" } }, async (worker) => {
      const statuses = await Promise.all(Array.from({ length: 60 }, () => otp(worker).then((r) => r.status)));
      assert.equal(statuses.filter((s) => s === 200).length, 10, `statuses ${statuses}`);
      assert.equal(statuses.filter((s) => s === 429).length, 50);

      const ips = Array.from({ length: 12 }, (_, i) => `203.0.113.${i + 1}`);
      const requests = ips.flatMap((ip) => Array.from({ length: 13 }, () => ({ ip })));
      const results = await Promise.all(requests.map(({ ip }) => otp(worker, { ip }).then((r) => [ip, r.status])));
      for (const ip of ips) {
        const mine = results.filter(([i]) => i === ip).map(([, s]) => s);
        assert.equal(mine.filter((s) => s === 200).length, 10, `${ip}: ${mine}`);
        assert.equal(mine.filter((s) => s === 429).length, 3, `${ip}: ${mine}`);
      }
      assert.equal(sink.count(), 10 + ips.length * 10, "origin saw exactly the allowed requests");
    });
  });

  test("counters survive a workerd restart (Durable Object storage)", async () => {
    const persist = fs.mkdtempSync(path.join(os.tmpdir(), "pumpguard-do-"));
    try {
      const policy = basePolicy([perIp(5)]);
      await withWorker({ policy, persist }, async (worker) => {
        for (let i = 0; i < 3; i++) assert.equal((await otp(worker)).status, 200);
      });
      await withWorker({ policy, persist }, async (worker) => {
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push((await otp(worker)).status);
        assert.deepEqual(statuses, [200, 200, 429, 429]);
      });
    } finally {
      fs.rmSync(persist, { recursive: true, force: true });
    }
  });

  test("a shard too large to list reads 500 unknown keys of one request in batches of 100", async () => {
    // Over 20,000 rows, a restarted shard reads keys on first use instead of listing them all;
    // one statement binds at most 100 keys in Durable Object SQLite, and a request brings 500:
    // ten per-number rules, 50 numbers, one shard.
    const persist = fs.mkdtempSync(path.join(os.tmpdir(), "pumpguard-do-"));
    const rules = Array.from({ length: 10 }, (_, i) => ({ id: `once-${i}`, action: "throttle", rate_limit: { key: ["number"], rate: 1, per_seconds: 3600, burst: 1 } }));
    const bulk = { id: "bulk", kind: "send", match: { methods: ["POST"], path: { exact: "/api/bulk" } }, extract: { json_paths: ["to[*]"] } };
    const policy = { ...basePolicy(rules), routes: [bulk], inputs: { max_numbers: 50 }, store: { on_error: "block" } };
    const numbers = (from) => Array.from({ length: 50 }, (_, i) => `+1415555${String(from + i).padStart(4, "0")}`);
    const send = (worker, to) =>
      fetch(`${worker.url}/api/bulk`, {
        method: "POST",
        headers: { "content-type": "application/json", [CLOCK_HEADER]: "1000" },
        body: JSON.stringify({ to }),
      }).then((r) => r.status);
    const vars = { PUMPGUARD_SHARDS: "1" };
    try {
      await withWorker({ policy, persist, vars }, async (worker) => {
        for (let batch = 0; batch < 41; batch++) assert.equal(await send(worker, numbers(batch * 50)), 200, `batch ${batch}`);
      });
      await withWorker({ policy, persist, vars }, async (worker) => {
        assert.equal(await send(worker, numbers(5000)), 200, "500 new keys read from storage");
        assert.equal(await send(worker, numbers(100)), 429, "500 stored keys read and counted");
      });
    } finally {
      fs.rmSync(persist, { recursive: true, force: true });
    }
  });

  test("an idle shard deletes its expired rows by alarm, and plans no sweep once none are left", async () => {
    // What the shard stored, read from workerd's SQLite files under the persist directory (read
    // only, while workerd runs): the object's rows, and the namespace's alarm table.
    const persist = fs.mkdtempSync(path.join(os.tmpdir(), "pumpguard-do-"));
    const files = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    const query = (file, sql) => {
      const script = "import json, sqlite3, sys\nc = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\nprint(json.dumps(c.execute(sys.argv[2]).fetchall()))";
      const done = spawnSync("python3", ["-c", script, file, sql], { encoding: "utf8" });
      if (done.status !== 0) throw new Error(`sqlite ${file}: ${done.stderr}`);
      return JSON.parse(done.stdout);
    };
    const shardFile = () => files(persist).find((f) => f.endsWith(".sqlite") && path.basename(f) !== "metadata.sqlite");
    const keys = () => query(shardFile(), "SELECT k FROM pg_counters ORDER BY k").map(([k]) => k);
    const alarms = () => query(files(persist).find((f) => path.basename(f) === "metadata.sqlite"), "SELECT scheduled_time FROM _cf_ALARM WHERE scheduled_time IS NOT NULL");
    const until = async (what, check) => {
      for (let i = 0; i < 300; i++) {
        if (check()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`${what}: not within 30 s`);
    };
    // A row that expires a second after a send (per IP), and one an hour after (per number).
    const short = { id: "short", action: "throttle", rate_limit: { key: ["client_ip"], rate: 1, per_seconds: 1, burst: 1 } };
    const long = { id: "long", action: "throttle", rate_limit: { key: ["number"], rate: 1, per_seconds: 3600, burst: 3 } };
    const vars = { PUMPGUARD_SHARDS: "1", PUMPGUARD_SWEEP_EVERY_MS: "200" };
    try {
      await withWorker({ policy: basePolicy([short, long]), persist, vars }, async (worker) => {
        // Request time is the test clock: the sweep follows it, not the wall clock.
        const at = 1_000_000;
        assert.equal((await otp(worker, { ip: "192.0.2.1", at })).status, 200);
        assert.deepEqual(keys(), ["rl:long|14155550123", "rl:short|192.0.2.1"]);
        // No request comes: the alarm deletes the expired row and keeps the live one.
        await until("the expired row deleted", () => !keys().includes("rl:short|192.0.2.1"));
        assert.deepEqual(keys(), ["rl:long|14155550123"]);
        assert.equal(alarms().length, 1, "a sweep is planned while a row remains");
        // The kept row still counts: burst 3 per number, one already sent.
        const statuses = [];
        for (const ip of ["192.0.2.2", "192.0.2.3", "192.0.2.4"]) statuses.push((await otp(worker, { ip, at })).status);
        assert.deepEqual(statuses, [200, 200, 429]);
      });
      fs.rmSync(persist, { recursive: true, force: true });
      fs.mkdirSync(persist);
      await withWorker({ policy: basePolicy([short]), persist, vars }, async (worker) => {
        assert.equal((await otp(worker, { ip: "192.0.2.5", at: 1_000_000 })).status, 200);
        assert.deepEqual(keys(), ["rl:short|192.0.2.5"]);
        await until("the last row deleted", () => keys().length === 0);
        await until("no sweep planned once no row is left", () => alarms().length === 0);
        assert.deepEqual(query(shardFile(), "SELECT k FROM pg_meta"), []);
      });
    } finally {
      fs.rmSync(persist, { recursive: true, force: true });
    }
  });

  test("a shard that cannot be reached is a store failure, decided by store.on_error", async () => {
    // No Durable Object binding at all: every check fails. With a working store the second
    // request would be throttled (burst 1).
    for (const [onError, status] of [["allow", 200], ["block", 503]]) {
      const policy = basePolicy([perIp(1)], { store: { on_error: onError } });
      await withWorker({ policy, shards: false }, async (worker) => {
        for (let i = 0; i < 2; i++) {
          const response = await otp(worker);
          assert.equal(response.status, status, onError);
          if (status === 503) assert.equal((await response.json()).error, "store_unavailable");
        }
        assert.ok(events(worker.log, "pumpguard.shard_failed").length > 0);
      });
    }
  });
});

describe("policy", () => {
  const invalid = { version: 1, routes: [], rules: [{ id: "x", action: "explode" }] };

  test("an invalid policy fails closed by default and the log names the paths", async () => {
    await withWorker({ policy: invalid }, async (worker) => {
      const seen = (await origin.requests()).length;
      for (const p of ["/api/otp", "/anything"]) {
        const response = await otp(worker, { path: p });
        assert.equal(response.status, 503);
        assert.equal((await response.json()).error, "policy_unavailable");
      }
      assert.equal((await originRequestsSince(seen)).length, 0);
      const line = events(worker.log, "pumpguard.policy_unusable").find((e) => e.path === "/api/otp");
      assert.deepEqual(line.paths, ["rules[0].action"]);
      assert.match(line.why, /^invalid policy: /);
      assert.equal(line.fail_mode, "closed");
    });
  });

  test("PUMPGUARD_FAIL_MODE=open forwards unjudged, logged", async () => {
    await withWorker({ policy: invalid, vars: { PUMPGUARD_FAIL_MODE: "open" } }, async (worker) => {
      const response = await otp(worker);
      assert.equal(response.status, 200);
      assert.equal((await response.json()).origin, "ok");
      const line = events(worker.log, "pumpguard.policy_unusable").find((e) => e.path === "/api/otp");
      assert.equal(line.fail_mode, "open");
    });
  });

  test("no policy at all is never allow-all", async () => {
    await withWorker({}, async (worker) => {
      assert.equal((await otp(worker)).status, 503);
      assert.match(events(worker.log, "pumpguard.policy_unusable")[0].why, /no policy configured/);
    });
  });

  test("the policy can come from KV (Worker and shards both read it)", async () => {
    const policy = basePolicy([perIp(2), { id: "no-gb", action: "block", country: { deny: ["GB"] } }]);
    await withWorker({ kv: true, vars: { PUMPGUARD_POLICY_KEY: "pumpguard/policy" } }, async (worker) => {
      const kv = await worker.mf.getKVNamespace("PUMPGUARD_POLICY_KV");
      await kv.put("pumpguard/policy", JSON.stringify(policy));
      assert.equal((await otp(worker, { phone: "+447400123456" })).status, 403);
      assert.deepEqual([(await otp(worker)).status, (await otp(worker)).status, (await otp(worker)).status], [200, 200, 429]);
    });
    await withWorker({ kv: true }, async (worker) => {
      const kv = await worker.mf.getKVNamespace("PUMPGUARD_POLICY_KV");
      await kv.put("policy", JSON.stringify({ ...basePolicy([]), version: 2 }));
      assert.equal((await otp(worker)).status, 503);
      const line = events(worker.log, "pumpguard.policy_unusable").find((e) => e.path === "/api/otp");
      assert.deepEqual(line.paths, ["version"]);
    });
  });

  test("a bad policy pushed to KV keeps the last good one judging, logged until fixed", async () => {
    const blocksGb = basePolicy([{ id: "no-gb", action: "block", country: { deny: ["GB"] } }]);
    await withWorker({ kv: true, vars: { PUMPGUARD_POLICY_KV_TTL_SECONDS: "1" } }, async (worker) => {
      const kv = await worker.mf.getKVNamespace("PUMPGUARD_POLICY_KV");
      await kv.put("policy", JSON.stringify(blocksGb));
      assert.equal((await otp(worker, { phone: "+447400123456" })).status, 403);
      await kv.put("policy", JSON.stringify(invalid));
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal((await otp(worker, { phone: "+447400123456" })).status, 403, "the good policy still judges");
      assert.equal((await otp(worker)).status, 200);
      const line = events(worker.log, "pumpguard.policy_unusable").find((e) => e.serving === "last good policy");
      assert.ok(line, "the bad text is logged with what is served instead");
      assert.deepEqual(line.paths, ["rules[0].action"]);
      await kv.put("policy", JSON.stringify(basePolicy([])));
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal((await otp(worker, { phone: "+447400123456" })).status, 200, "a good new policy takes over");
    });
  });

  test("a policy given as an object var (a wrangler [vars] table) loads too", async () => {
    const policy = basePolicy([{ id: "no-gb", action: "block", country: { deny: ["GB"] } }]);
    await withWorker({ vars: { PUMPGUARD_POLICY: policy } }, async (worker) => {
      assert.equal((await otp(worker, { phone: "+447400123456" })).status, 403);
      assert.equal((await otp(worker)).status, 200);
    });
  });
});

describe("Turnstile", () => {
  const captchaPolicy = (onUnavailable, more = {}) =>
    basePolicy([{ id: "captcha", action: "challenge", captcha: {} }], {
      captcha: { provider: "turnstile", secret: "policy-secret", verify_timeout_ms: 300, on_unavailable: onUnavailable, ...more },
    });
  const withToken = (worker, token) => otp(worker, { headers: { "cf-turnstile-response": token } });

  test("success, refusal, failure and timeout against the fake siteverify", async () => {
    siteverify.slowMs = 1500;
    await withWorker({ policy: captchaPolicy("block") }, async (worker) => {
      const calls = siteverify.calls.length;
      const ok = await withToken(worker, "pass-123");
      assert.equal(ok.status, 200);
      const call = siteverify.calls[calls];
      assert.equal(call.method, "POST");
      assert.equal(call.contentType, "application/x-www-form-urlencoded");
      assert.deepEqual(call.form, { secret: "policy-secret", response: "pass-123", remoteip: "198.51.100.7" });

      const refused = await withToken(worker, "fail-1");
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).error, "captcha_invalid");

      const broken = await withToken(worker, "boom");
      assert.equal(broken.status, 503);
      assert.equal((await broken.json()).error, "captcha_unavailable");

      const slow = await withToken(worker, "slow-1");
      assert.equal(slow.status, 503);
      assert.equal((await slow.json()).error, "captcha_unavailable");

      const none = await otp(worker);
      assert.equal(none.status, 403);
      assert.equal(none.headers.get("x-pumpguard-decision"), "challenge");
      assert.equal((await none.json()).error, "captcha_required");
    });
  });

  test("on_unavailable allow lets a timed-out verification through; the secret var wins", async () => {
    siteverify.slowMs = 1500;
    await withWorker({ policy: captchaPolicy("allow"), vars: { PUMPGUARD_CAPTCHA_SECRET: "secret-from-env" } }, async (worker) => {
      const calls = siteverify.calls.length;
      assert.equal((await withToken(worker, "slow-2")).status, 200);
      assert.equal(siteverify.calls[calls].form.secret, "secret-from-env");
    });
  });
});

describe("Bot Management signals from request.cf", () => {
  // As Cloudflare hands them over on a zone with Bot Management; no trusted headers configured.
  const vars = { PUMPGUARD_BOT_SCORE_HEADER: undefined, PUMPGUARD_VERIFIED_BOT_HEADER: undefined };
  const edgeOtp = (worker, botManagement, { phone = "+14155550123", headers = {} } = {}) =>
    worker.mf.dispatchFetch(`${worker.url}/api/otp`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": "198.51.100.7", [CLOCK_HEADER]: "1000", ...headers },
      body: JSON.stringify({ phone }),
      cf: { botManagement },
    });

  test("botManagement.score and verifiedBot feed a bot_score rule; client headers do not", async () => {
    const policy = basePolicy([{ id: "edge-bot", action: "block", bot_score: { below: 30 } }]);
    await withWorker({ policy, vars }, async (worker) => {
      const low = await edgeOtp(worker, { score: 5, verifiedBot: false });
      assert.equal(low.status, 403);
      assert.equal((await low.json()).error, "bot_score_low");
      assert.equal((await edgeOtp(worker, { score: 80, verifiedBot: false }, { phone: "+14155550124" })).status, 200);
      const crawler = await edgeOtp(worker, { score: 1, verifiedBot: true }, { phone: "+14155550125" });
      assert.equal(crawler.status, 200, "verified bots are skipped by default");
      const forged = await edgeOtp(worker, { score: 5, verifiedBot: false }, {
        phone: "+14155550126",
        headers: { [BOT_SCORE_HEADER]: "99", [VERIFIED_BOT_HEADER]: "true" },
      });
      assert.equal(forged.status, 403, "a client-sent score header is not trusted");
    });
  });

  test("without Bot Management on the zone there is no score: only missing: true fires", async () => {
    const policy = basePolicy([
      { id: "edge-bot", action: "block", bot_score: { below: 30 } },
      { id: "no-score", action: "log", bot_score: { below: 30, missing: true } },
    ], { expose_findings: true });
    await withWorker({ policy, vars }, async (worker) => {
      for (const botManagement of [undefined, { score: 0, verifiedBot: false }]) {
        const response = await edgeOtp(worker, botManagement);
        assert.equal(response.status, 200, JSON.stringify(botManagement));
        assert.equal(response.headers.get("x-pumpguard-findings"), "no-score:bot_score_missing");
      }
    });
  });
});

describe("the client's country from request.cf.country", () => {
  // Cloudflare adds cf-ipcountry only while the zone's IP Geolocation is on, and passes a
  // client's own through when it is off; request.cf.country is always there.
  const countryOtp = (worker, cf, { phone = "+14155550123", headers = {} } = {}) =>
    worker.mf.dispatchFetch(`${worker.url}/api/otp`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": "198.51.100.8", [CLOCK_HEADER]: "1000", ...headers },
      body: JSON.stringify({ phone }),
      ...(cf ? { cf } : {}),
    });
  const policy = basePolicy([
    { id: "abroad", action: "log", client_country: { header: "cf-ipcountry", missing: true } },
  ], { expose_findings: true });

  // The Worker's own `request.cf` has no country; a request's `cf` is merged into Miniflare's
  // placeholder (which has one), so `undefined` stands for a request without a country.
  async function judge(vars, cases) {
    await withWorker({ policy, vars, cf: CF_WITHOUT_BOT_MANAGEMENT }, async (worker) => {
      for (const [i, [cf, sent, findings]] of cases.entries()) {
        const headers = sent ? { "cf-ipcountry": sent } : {};
        const response = await countryOtp(worker, cf, { phone: `+1415555013${i}`, headers });
        assert.equal(response.status, 200, JSON.stringify(cf));
        assert.equal(response.headers.get("x-pumpguard-findings"), findings, `cf ${JSON.stringify(cf)}, header ${sent}`);
      }
    });
  }

  test("client_country judges request.cf.country; a client's cf-ipcountry never counts", async () => {
    // [request.cf, the request's cf-ipcountry, findings origin sees]
    await judge({ PUMPGUARD_COUNTRY_HEADER: undefined }, [
      [{ country: "GB" }, undefined, "abroad:client_country_mismatch"],
      [{ country: "GB" }, "US", "abroad:client_country_mismatch"],
      [{ country: "US" }, "GB", null],
      [undefined, "US", "abroad:client_country_missing"],
      [undefined, undefined, "abroad:client_country_missing"],
    ]);
  });

  test("a configured trusted header wins over request.cf.country", async () => {
    await judge({ PUMPGUARD_COUNTRY_HEADER: "cf-ipcountry" }, [
      [{ country: "US" }, "GB", "abroad:client_country_mismatch"],
      [{ country: "GB" }, undefined, "abroad:client_country_mismatch"],
      [undefined, undefined, "abroad:client_country_missing"],
    ]);
  });
});

describe("test hooks and trusted headers are off by default", () => {
  test("without the settings the clock header and x-test-ja3 are ignored", async () => {
    const policy = basePolicy([
      perIp(1),
      { id: "bots", action: "block", fingerprint: { kind: "ja3", deny: ["e7d705a3286e19ea42f587b344ee6865"] } },
    ]);
    const vars = { PUMPGUARD_TEST_CLOCK_HEADER: undefined, PUMPGUARD_JA3_HEADER: undefined, PUMPGUARD_JA4_HEADER: undefined };
    await withWorker({ policy, vars }, async (worker) => {
      const seen = (await origin.requests()).length;
      const first = await otp(worker, { at: 0, headers: { [JA3_HEADER]: "e7d705a3286e19ea42f587b344ee6865" } });
      assert.equal(first.status, 200, "a client-sent JA3 header is not trusted");
      // A clock far in the future would refill the bucket; ignored, so the limit holds.
      assert.equal((await otp(worker, { at: 10_000_000_000 })).status, 429);
      const [forwarded] = await originRequestsSince(seen);
      assert.ok(forwarded.headers.some(([k]) => k === CLOCK_HEADER), "forwarded like any other header");
    });
  });
});
