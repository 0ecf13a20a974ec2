// Shared pieces of the Worker e2e tests: the built Worker in Miniflare (workerd), the test origin
// (tests/origin.py), a fake siteverify, the fake number-intelligence provider (tests/lookup.py),
// and the scenario runner of the CLI.
//
// Every server listens on 127.0.0.1 only, is started detached from the test's own event loop
// where it is a child process, and is stopped by PID (or `dispose()`) when the test ends.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..", "..");
export const buildDir = process.env.PUMPGUARD_WORKER_BUILD ?? path.join(root, "edge-worker", "build");
export const cli = process.env.PUMPGUARD_CLI ?? path.join(root, "target", "debug", "pumpguard");
export const scenarioDir = path.join(root, "tests", "scenarios");

// Trusted headers the tests use for what Cloudflare's edge would supply.
export const CLOCK_HEADER = "x-pumpguard-test-now-ms";
export const JA3_HEADER = "x-test-ja3";
export const JA4_HEADER = "x-test-ja4";
export const BOT_SCORE_HEADER = "x-test-bot-score";
export const VERIFIED_BOT_HEADER = "x-test-verified-bot";
/** The client's country as the records and tests send it (Cloudflare's own header name). */
export const COUNTRY_HEADER = "cf-ipcountry";

/**
 * `request.cf` of a zone without Bot Management, for the scenario corpus: Miniflare's placeholder
 * carries a bot score (99) and a JA3 that would stand in for every record that has none, so the
 * records' own signals arrive through the trusted headers above and nothing else. No country
 * either: a record without `cf-ipcountry` would get Miniflare's (edge_country.rs).
 */
export const CF_WITHOUT_BOT_MANAGEMENT = { asn: 395747, colo: "DFW", httpProtocol: "HTTP/1.1" };

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, attempts = 200) {
  let last;
  for (let i = 0; i < attempts; i++) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not become ready${last ? `: ${last.message}` : ""}`);
}

/** tests/origin.py on a free port; `stop()` ends it, `requests()` is what it received. */
export async function startOrigin() {
  const port = await freePort();
  const log = [];
  const child = spawn("python3", [path.join(root, "tests", "origin.py"), "--port", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${url}/__origin/health`)).ok, "origin");
  } catch (e) {
    killGroup(child);
    throw new Error(`${e.message}\norigin log:\n${log.join("")}`);
  }
  return {
    url,
    log,
    async requests() {
      return (await fetch(`${url}/__origin/requests`)).json();
    },
    stop() {
      killGroup(child);
    },
  };
}

/**
 * tests/lookup.py on a free port: the corpus' fake number-intelligence provider. `template` is
 * the URL template for PUMPGUARD_NUMBER_INTEL_URL; `calls()` what it was asked; `stop()` ends it.
 */
export async function startLookup({ slowSeconds = 3 } = {}) {
  const port = await freePort();
  const log = [];
  const child = spawn(
    "python3",
    [path.join(root, "tests", "lookup.py"), "--port", String(port), "--slow-seconds", String(slowSeconds)],
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${url}/__lookup/health`)).ok, "lookup provider");
  } catch (e) {
    killGroup(child);
    throw new Error(`${e.message}\nlookup provider log:\n${log.join("")}`);
  }
  return {
    template: `${url}/v2/PhoneNumbers/{e164}?Fields=line_type_intelligence,sms_pumping_risk,line_status`,
    async calls() {
      return (await fetch(`${url}/__lookup/calls`)).json();
    },
    stop() {
      killGroup(child);
    },
  };
}

/**
 * An in-process origin for load: answers every request 200 `{"origin":"sink"}` after reading the
 * body. (tests/origin.py's listen backlog drops connections under heavy concurrency.)
 */
export async function startSink() {
  let count = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      count++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"origin":"sink"}');
    });
  });
  await new Promise((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    count: () => count,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function killGroup(child) {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      child.kill("SIGTERM");
    }
  }
}

/**
 * A siteverify success for a `pass*` token, as core/src/scenario.rs defines it: the tag after
 * `pass` (up to the first `-`) may name the solving device (`@D`, named as Turnstile Enterprise
 * names it, `metadata.ephemeral_id`) and the widget's action (`!A`).
 */
function siteverifyValid(token) {
  const body = { success: true, hostname: "app.example.com", "error-codes": [] };
  const tag = token.slice("pass".length).split("-")[0];
  const bang = tag.indexOf("!");
  const device = bang < 0 ? tag : tag.slice(0, bang);
  const action = bang < 0 ? "" : tag.slice(bang + 1);
  if (device.startsWith("@") && device.length > 1) body.metadata = { ephemeral_id: `x:${device.slice(1)}` };
  if (action) body.action = action;
  return body;
}

/**
 * A fake siteverify following the corpus' token convention (core/src/scenario.rs): `pass*`
 * verifies (`pass@D-…` solved on device D), `fail*` is refused, `slow*` answers after `slowMs`, `junk*` gets a 200 that is not JSON,
 * `shape*` JSON without `success`, anything else gets HTTP 500.
 */
export async function startSiteverify() {
  const calls = [];
  const pending = new Set();
  const fake = { slowMs: 3000, calls, url: "" };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const form = new URLSearchParams(body);
      const token = form.get("response") ?? "";
      calls.push({ method: req.method, contentType: req.headers["content-type"], form: Object.fromEntries(form) });
      const answer = (status, json) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (token.startsWith("pass")) answer(200, siteverifyValid(token));
      else if (token.startsWith("fail")) answer(200, { success: false, "error-codes": ["invalid-input-response"] });
      else if (token.startsWith("shape")) answer(200, { ok: true });
      else if (token.startsWith("junk")) {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html><body>502 Bad Gateway</body></html>");
      }
      else if (token.startsWith("slow")) {
        const timer = setTimeout(() => {
          pending.delete(timer);
          answer(200, { success: true, "error-codes": [] });
        }, fake.slowMs);
        pending.add(timer);
      } else answer(500, { error: "fake siteverify failure" });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${server.address().port}/siteverify`;
  fake.stop = () =>
    new Promise((resolve) => {
      for (const timer of pending) clearTimeout(timer);
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return fake;
}

/** The Worker's console output (workerd's stdout and stderr), kept for assertions and dumps. */
class WorkerLog {
  constructor() {
    this.lines = [];
  }
  attach(stdout, stderr) {
    for (const stream of [stdout, stderr]) {
      let rest = "";
      stream.on("data", (chunk) => {
        rest += chunk;
        const parts = rest.split("\n");
        rest = parts.pop();
        for (const line of parts) {
          this.lines.push(line);
          if (process.env.PUMPGUARD_TEST_VERBOSE) process.stderr.write(`${line}\n`);
        }
      });
    }
  }
}

/**
 * The built Worker in workerd, listening on 127.0.0.1. `vars` are extra bindings; `persist` a
 * directory for Durable Object storage (default: in memory, fresh per instance); `cf` the
 * `request.cf` of requests over HTTP (default: Miniflare's placeholder).
 */
export async function startWorker({ policy, origin, siteverify, lookup, vars = {}, persist, script, shards = true, analytics = false, kv = false, build = buildDir, cf } = {}) {
  const bindings = {
    PUMPGUARD_ORIGIN_URL: origin,
    PUMPGUARD_TEST_CLOCK_HEADER: CLOCK_HEADER,
    PUMPGUARD_JA3_HEADER: JA3_HEADER,
    PUMPGUARD_JA4_HEADER: JA4_HEADER,
    PUMPGUARD_BOT_SCORE_HEADER: BOT_SCORE_HEADER,
    PUMPGUARD_VERIFIED_BOT_HEADER: VERIFIED_BOT_HEADER,
    PUMPGUARD_COUNTRY_HEADER: COUNTRY_HEADER,
    ...(siteverify ? { PUMPGUARD_SITEVERIFY_URL: siteverify } : {}),
    ...(lookup ? { PUMPGUARD_NUMBER_INTEL_URL: lookup } : {}),
    ...(policy === undefined ? {} : { PUMPGUARD_POLICY: typeof policy === "string" ? policy : JSON.stringify(policy) }),
    ...vars,
  };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const log = new WorkerLog();
  const options = script
    ? { modules: true, script, bindings }
    : {
        modules: true,
        modulesRoot: build,
        scriptPath: path.join(build, "index.js"),
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2025-09-01",
        durableObjects: shards ? { PUMPGUARD_SHARD: { className: "CounterShard", useSQLite: true } } : {},
        bindings,
      };
  if (persist) options.durableObjectsPersist = persist;
  if (kv) options.kvNamespaces = ["PUMPGUARD_POLICY_KV"];
  let config = options;
  if (analytics) {
    // A stand-in Analytics Engine dataset (a wrapped binding) that prints every data point.
    const fake = `export default function () {
      return { writeDataPoint(point) { console.log("{\\"event\\":\\"test.analytics\\",\\"point\\":" + JSON.stringify(point) + "}"); } };
    }`;
    config = {
      workers: [
        { name: "pumpguard", ...options, wrappedBindings: { PUMPGUARD_ANALYTICS: { scriptName: "fake-analytics" } } },
        { name: "fake-analytics", modules: true, script: fake },
      ],
    };
    if (persist) config.durableObjectsPersist = persist;
  }
  if (cf !== undefined) config = { ...config, cf };
  const mf = new Miniflare({
    ...config,
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: (stdout, stderr) => log.attach(stdout, stderr),
  });
  let url;
  try {
    url = (await mf.ready).href.replace(/\/$/, "");
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw new Error(`workerd did not start: ${e.message}\n${log.lines.join("\n")}`);
  }
  return { mf, url, log, stop: () => mf.dispose() };
}

/** A scenario file's policy with expose_findings forced on, from the CLI. */
/** Runs `body(worker)` against a Worker started with `options`, stops it after, and adds the
 * Worker's log to a failure's message. */
export async function withStartedWorker(options, body) {
  const worker = await startWorker(options);
  try {
    await body(worker);
  } catch (e) {
    e.message += `\nworker log:\n${worker.log.lines.join("\n")}`;
    throw e;
  } finally {
    await worker.stop();
  }
}

export async function scenarioPolicy(file) {
  const { code, stdout, stderr } = await run(cli, ["scenario-policy", file]);
  if (code !== 0) throw new Error(`scenario-policy ${file} exited ${code}: ${stderr}`);
  return stdout;
}

/** Runs the scenario's steps over HTTP against `target`; resolves with exit code and output. */
export function runScenario(target, file) {
  return run(cli, [
    "scenarios",
    "--target", target,
    "--client-ip-header", "cf-connecting-ip",
    "--ja3-header", JA3_HEADER,
    "--ja4-header", JA4_HEADER,
    "--bot-score-header", BOT_SCORE_HEADER,
    "--verified-bot-header", VERIFIED_BOT_HEADER,
    "--clock-header", CLOCK_HEADER,
    file,
  ]);
}

export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export function scenarioFiles() {
  return fs
    .readdirSync(scenarioDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => path.join(scenarioDir, f));
}

/** JSON log lines of one event the Worker printed. */
export function events(log, name) {
  return log.lines
    .map((line) => {
      const start = line.indexOf("{");
      if (start < 0) return null;
      try {
        return JSON.parse(line.slice(start));
      } catch {
        return null;
      }
    })
    .filter((e) => e && e.event === name);
}
