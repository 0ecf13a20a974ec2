// Benchmark: autocannon against the built Worker and against a pass-through Worker, both in the
// same workerd (one Miniflare, two workers picked by Host), same origin, interleaved rounds.
// Prints req/s, latency, their ratios and workerd CPU time per request.
//
// Usage: node bench.mjs [--duration S] [--connections N] [--rounds N] [--stateless]
// Bounded: rounds × 2 × duration seconds of load on 127.0.0.1 only.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { buildDir, freePort } from "./harness.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const duration = opt("duration", 10);
const connections = opt("connections", 16);
const rounds = opt("rounds", 2);
// --stateless: only the stateless rules (no counters, so no Durable Object round trip).
const stateless = args.includes("--stateless");

// A policy that judges every request fully and lets it through: number parsing and rules, two
// counter checks (per IP, per number) on their Durable Object shards, then the origin.
const policy = {
  version: 1,
  default_region: "US",
  routes: [
    {
      id: "otp",
      kind: "send",
      match: { methods: ["POST"], path: { exact: "/api/otp" } },
      extract: { json_keys: ["phone"] },
    },
  ],
  rules: [
    { id: "countries", action: "block", country: { deny: ["GB", "RU"] } },
    { id: "types", action: "block", number_type: { deny: ["premium_rate", "shared_cost"] } },
    { id: "per-ip", action: "throttle", rate_limit: { key: ["client_ip"], rate: 1000000, per_seconds: 1, burst: 1000000 } },
    { id: "per-number", action: "throttle", rate_limit: { key: ["number"], rate: 1000000, per_seconds: 1, burst: 1000000 } },
  ],
};

if (stateless) policy.rules = policy.rules.filter((r) => !r.rate_limit);

const passThrough = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.PUMPGUARD_ORIGIN_URL + url.pathname + url.search, request);
  },
};`;

function cpuTicks(pid) {
  // utime + stime of the process and its waited-for children, in clock ticks.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function workerdPids() {
  const pids = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (ppid === process.pid && cmd.includes("workerd")) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

const TICKS_PER_SECOND = 100; // Linux USER_HZ

async function load(url, host, seconds) {
  let n = 0;
  const result = await autocannon({
    url: `${url}/api/otp`,
    connections,
    duration: seconds,
    method: "POST",
    headers: { host, "content-type": "application/json" },
    requests: [
      {
        setupRequest(req) {
          n++;
          const phone = `+1415555${String(n % 10000).padStart(4, "0")}`;
          const ip = `198.51.${(n >> 8) % 256}.${n % 256}`;
          return { ...req, headers: { ...req.headers, "cf-connecting-ip": ip }, body: JSON.stringify({ phone }) };
        },
      },
    ],
  });
  return result;
}

const sinkPort = await freePort();
const sink = spawn(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), "sink.mjs"), String(sinkPort)], {
  stdio: ["ignore", "pipe", "inherit"],
});
await new Promise((resolve, reject) => {
  sink.stdout.once("data", resolve);
  sink.once("exit", (code) => reject(new Error(`sink exited ${code}`)));
});
const origin = `http://127.0.0.1:${sinkPort}`;

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  workers: [
    {
      name: "pumpguard",
      modules: true,
      modulesRoot: buildDir,
      scriptPath: path.join(buildDir, "index.js"),
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: "2025-09-01",
      routes: ["guard.bench/*"],
      durableObjects: { PUMPGUARD_SHARD: { className: "CounterShard", useSQLite: true } },
      bindings: { PUMPGUARD_POLICY: JSON.stringify(policy), PUMPGUARD_ORIGIN_URL: origin },
    },
    {
      name: "pass",
      modules: true,
      script: passThrough,
      compatibilityDate: "2025-09-01",
      routes: ["pass.bench/*"],
      bindings: { PUMPGUARD_ORIGIN_URL: origin },
    },
  ],
});

const rows = [];
try {
  const url = (await mf.ready).href.replace(/\/$/, "");
  const pids = workerdPids();
  const ticks = () => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  // Sanity: both answer from the origin, the guard with its decision header.
  for (const host of ["guard.bench", "pass.bench"]) {
    const r = await fetch(`${url}/api/otp`, {
      method: "POST",
      headers: { host, "content-type": "application/json", "cf-connecting-ip": "198.51.100.7" },
      body: '{"phone":"+14155550123"}',
    });
    const text = await r.text();
    if (r.status !== 200 || !text.includes("sink")) throw new Error(`${host}: ${r.status} ${text}`);
  }
  // Warm-up (JIT, shards created).
  await load(url, "guard.bench", 2);
  await load(url, "pass.bench", 2);
  for (let round = 0; round < rounds; round++) {
    for (const [name, host] of [["pass-through", "pass.bench"], ["pumpguard", "guard.bench"]]) {
      const before = ticks();
      const result = await load(url, host, duration);
      const cpu = (ticks() - before) / TICKS_PER_SECOND;
      const requests = result.requests.total;
      rows.push({
        name,
        round,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        mean: result.latency.average,
        non2xx: result.non2xx + result.errors + result.timeouts,
        cpuMsPerReq: requests ? (cpu * 1000) / requests : NaN,
      });
    }
  }
} finally {
  await mf.dispose();
  sink.kill("SIGTERM");
}

const avg = (name, key) => {
  const xs = rows.filter((r) => r.name === name).map((r) => r[key]);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
console.log(`autocannon: ${connections} connections, ${rounds} interleaved rounds of ${duration} s per worker, same workerd, same origin`);
console.log("worker        round   req/s   lat mean ms  p50  p99  errors  workerd CPU ms/req");
for (const r of rows) {
  console.log(
    `${r.name.padEnd(13)} ${String(r.round).padStart(5)} ${r.rps.toFixed(0).padStart(7)} ${r.mean.toFixed(2).padStart(12)} ${String(r.p50).padStart(4)} ${String(r.p99).padStart(4)} ${String(r.non2xx).padStart(7)} ${r.cpuMsPerReq.toFixed(3).padStart(19)}`,
  );
}
const rpsRatio = avg("pumpguard", "rps") / avg("pass-through", "rps");
const latRatio = avg("pumpguard", "mean") / avg("pass-through", "mean");
const cpuGuard = avg("pumpguard", "cpuMsPerReq");
const cpuPass = avg("pass-through", "cpuMsPerReq");
console.log(`req/s ratio pumpguard / pass-through: ${rpsRatio.toFixed(2)}`);
console.log(`mean latency ratio pumpguard / pass-through: ${latRatio.toFixed(2)}`);
console.log(
  `workerd CPU per request: pumpguard ${cpuGuard.toFixed(3)} ms, pass-through ${cpuPass.toFixed(3)} ms, added by pumpguard ${(cpuGuard - cpuPass).toFixed(3)} ms (goal <= 1 ms)`,
);
if (rows.some((r) => r.non2xx > 0)) {
  console.error("bench: some requests failed or were not 2xx (see errors column)");
  process.exitCode = 1;
}
