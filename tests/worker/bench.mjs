// Benchmark: autocannon against the built Worker and against a pass-through Worker, same origin,
// interleaved rounds, and the CPU time per request of each workerd process from /proc.
//
// Two workerd processes (two Miniflare instances joined by a dev registry in a temp dir):
//   front  — Miniflare's entry worker and the workers picked by Host:
//              pass.bench                a JavaScript pass-through Worker (the baseline)
//              pumpguard.guard.bench     pumpguard, its CounterShard objects in the same process
//              pumpguard.split.bench     pumpguard, its CounterShard objects in the shards process
//              probe.bench               the pass-through plus two rounds (peek, commit) of two
//                                        parallel calls to a no-op Durable Object in the shards
//                                        process
//              compare.*.bench           the same two for the --compare build
//   shards — the CounterShard objects of the split workers and the no-op objects of probe.bench
// On Cloudflare a Durable Object's CPU is billed to the object, not to the Worker: split.bench
// shows the two apart. workerd's trace events (Tail Workers) carry cpuTime/wallTime, but local
// workerd reports 0 for both, so /proc per process is the measure. A call to an object in another
// process goes through Miniflare's dev-registry proxy, itself a Durable Object in the front
// process; probe.bench measures that hop with it.
//
// Usage: node bench.mjs [--duration S] [--connections N] [--rounds N] [--rate R] [--stateless] [--compare DIR]
//   --rate R: at most R requests per second in all (autocannon's overallRate): every worker then
//   runs at the same load, so CPU per request compares fairly on a busy box (throughput then says
//   nothing).
//   --compare DIR: also measure the Worker built in DIR (another `just build-worker` output, e.g.
//   of the previous commit), both ways, in the same run: before/after figures of a change.
// Bounded: rounds × workers × duration seconds of load on 127.0.0.1 only.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { buildDir, freePort, root } from "./harness.mjs";

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const opt = (name, dflt) => (arg(name) === undefined ? dflt : Number(arg(name)));
const duration = opt("duration", 10);
const connections = opt("connections", 16);
const rounds = opt("rounds", 2);
const rate = opt("rate", 0);
// --stateless: only the stateless rules (no counters, so no Durable Object round trip).
const stateless = args.includes("--stateless");
const compareDir = arg("compare") && path.resolve(root, arg("compare"));

// A policy that judges every request fully and lets it through: number parsing and rules, two
// counter checks (per IP, per number) on their Durable Object shards, peeked then committed (two
// rounds), then the origin. A store
// failure blocks (503), so a shard call that fails shows up as an error, never as a fast allow.
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
  store: { on_error: "block" },
};

if (stateless) policy.rules = policy.rules.filter((r) => !r.rate_limit);

const passThrough = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.PUMPGUARD_ORIGIN_URL + url.pathname + url.search, request);
  },
};`;

// The pass-through plus the Durable Object round trips of an allowed request, shaped like
// pumpguard's shard calls: a peek round of two parallel calls, then a commit round of two, each
// a small JSON payload in a request header and the answer in a response header.
const probe = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const body = await request.text();
    const checks = '"checks":[{"rule":2,"key":"rl:per-ip|198.51.0.1","op":"rate"}]}';
    const call = (name, peek) =>
      env.NOP.get(env.NOP.idFromName(name))
        .fetch("https://nop/checks", {
          method: "POST",
          headers: { "x-pumpguard-shard": '{"policy_id":1,"now_ms":1,' + (peek ? '"peek":true,' : "") + checks },
        })
        .then((r) => r.headers.get("x-pumpguard-shard"));
    const names = ["a" + (body.length % 7), "b" + (body.length % 5)];
    await Promise.all(names.map((name) => call(name, true)));
    await Promise.all(names.map((name) => call(name, false)));
    return fetch(env.PUMPGUARD_ORIGIN_URL + url.pathname + url.search, { method: "POST", headers: request.headers, body });
  },
};`;

const nop = `
import { DurableObject } from "cloudflare:workers";
export class Nop extends DurableObject {
  fetch(request) {
    request.headers.get("x-pumpguard-shard");
    return new Response(null, { headers: { "x-pumpguard-shard": '{"outcomes":[{"verdict":{"allowed":true}}]}' } });
  }
}
export default { fetch() { return new Response("nop"); } };`;

const TICKS_PER_SECOND = 100; // Linux USER_HZ

function cpuTicks(pid) {
  // utime + stime of the process, in clock ticks.
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

async function load(url, host, seconds) {
  let n = 0;
  return autocannon({
    url: `${url}/api/otp`,
    connections,
    duration: seconds,
    ...(rate ? { overallRate: rate } : {}),
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

// The Worker under test, and with --compare the other build: [label, build directory].
const builds = [["pumpguard", buildDir], ...(compareDir ? [["compare", compareDir]] : [])];
const built = (dir) => ({
  modules: true,
  modulesRoot: dir,
  scriptPath: path.join(dir, "index.js"),
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: "2025-09-01",
});
const bindings = { PUMPGUARD_POLICY: JSON.stringify(policy), PUMPGUARD_ORIGIN_URL: origin };
const registry = fs.mkdtempSync(path.join(os.tmpdir(), "pumpguard-bench-registry-"));

// The shards process first, so its pid is known before the front one starts.
const shardsMf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  unsafeDevRegistryPath: registry,
  workers: [
    ...builds.map(([label, dir]) => ({
      name: `${label}-shards`,
      ...built(dir),
      durableObjects: { PUMPGUARD_SHARD: { className: "CounterShard", useSQLite: true } },
      bindings,
    })),
    {
      name: "nop-shards",
      modules: true,
      script: nop,
      compatibilityDate: "2025-09-01",
      durableObjects: { NOP: { className: "Nop", useSQLite: true } },
    },
  ],
});

// [label, host]: the pass-through first in every round.
const targets = [["pass-through", "pass.bench"]];
const front = [
  {
    name: "pass",
    modules: true,
    script: passThrough,
    compatibilityDate: "2025-09-01",
    routes: ["pass.bench/*"],
    bindings: { PUMPGUARD_ORIGIN_URL: origin },
  },
];
for (const [label, dir] of builds) {
  targets.push([label, `${label}.guard.bench`]);
  front.push({
    name: label,
    ...built(dir),
    routes: [`${label}.guard.bench/*`],
    durableObjects: { PUMPGUARD_SHARD: { className: "CounterShard", useSQLite: true } },
    bindings,
  });
  if (stateless) continue;
  targets.push([`${label}-split`, `${label}.split.bench`]);
  front.push({
    name: `${label}-split`,
    ...built(dir),
    routes: [`${label}.split.bench/*`],
    durableObjects: { PUMPGUARD_SHARD: { className: "CounterShard", scriptName: `${label}-shards`, useSQLite: true } },
    bindings,
  });
}
if (!stateless) {
  targets.push(["do-probe", "probe.bench"]);
  front.push({
    name: "probe",
    modules: true,
    script: probe,
    compatibilityDate: "2025-09-01",
    routes: ["probe.bench/*"],
    durableObjects: { NOP: { className: "Nop", scriptName: "nop-shards", useSQLite: true } },
    bindings: { PUMPGUARD_ORIGIN_URL: origin },
  });
}

let frontMf;
const rows = [];
try {
  await shardsMf.ready;
  const shardPids = workerdPids();
  frontMf = new Miniflare({ host: "127.0.0.1", port: 0, unsafeDevRegistryPath: registry, workers: front });
  const url = (await frontMf.ready).href.replace(/\/$/, "");
  const frontPids = workerdPids().filter((pid) => !shardPids.includes(pid));
  if (shardPids.length !== 1 || frontPids.length !== 1) {
    throw new Error(`expected one workerd per Miniflare, found shards ${shardPids}, front ${frontPids}`);
  }
  const ticks = (pids) => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  // Sanity: every worker answers from the origin (a failed shard call would be a 503).
  for (const [name, host] of targets) {
    const r = await fetch(`${url}/api/otp`, {
      method: "POST",
      headers: { host, "content-type": "application/json", "cf-connecting-ip": "198.51.100.7" },
      body: '{"phone":"+14155550123"}',
    });
    const text = await r.text();
    if (r.status !== 200 || !text.includes("sink")) throw new Error(`${name}: ${r.status} ${text}`);
  }
  // Warm-up (JIT, shards created).
  for (const [, host] of targets) await load(url, host, 2);
  for (let round = 0; round < rounds; round++) {
    for (const [name, host] of targets) {
      const before = [ticks(frontPids), ticks(shardPids)];
      const result = await load(url, host, duration);
      const frontCpu = (ticks(frontPids) - before[0]) / TICKS_PER_SECOND;
      const shardsCpu = (ticks(shardPids) - before[1]) / TICKS_PER_SECOND;
      const requests = result.requests.total;
      const perRequest = (seconds) => (requests ? (seconds * 1000) / requests : NaN);
      rows.push({
        name,
        round,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        mean: result.latency.average,
        non2xx: result.non2xx + result.errors + result.timeouts,
        front: perRequest(frontCpu),
        shards: perRequest(shardsCpu),
      });
    }
  }
} finally {
  await frontMf?.dispose();
  await shardsMf.dispose();
  sink.kill("SIGTERM");
  fs.rmSync(registry, { recursive: true, force: true });
}

// Median over the rounds: one round disturbed by other work on the box moves it least.
const avg = (name, key) => {
  const xs = rows
    .filter((r) => r.name === name)
    .map((r) => r[key])
    .sort((a, b) => a - b);
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
};
const ms = (x) => x.toFixed(3);
console.log(
  `autocannon: ${connections} connections${rate ? ` at ${rate} req/s in all` : ""}, ${rounds} interleaved rounds of ${duration} s per worker, same origin; CPU from /proc of each workerd`,
);
console.log("worker           round   req/s  lat mean ms   p50   p99  errors  front CPU ms/req  shards CPU ms/req");
for (const r of rows) {
  console.log(
    `${r.name.padEnd(16)} ${String(r.round).padStart(5)} ${r.rps.toFixed(0).padStart(7)} ${r.mean.toFixed(2).padStart(12)} ${String(r.p50).padStart(5)} ${String(r.p99).padStart(5)} ${String(r.non2xx).padStart(7)} ${ms(r.front).padStart(17)} ${ms(r.shards).padStart(18)}`,
  );
}
const pass = { rps: avg("pass-through", "rps"), mean: avg("pass-through", "mean"), cpu: avg("pass-through", "front") };
const probeRow = stateless ? null : { front: avg("do-probe", "front"), shards: avg("do-probe", "shards") };
if (probeRow) {
  console.log(
    `four no-op Durable Object round trips, two rounds of two (do-probe): front workerd +${ms(probeRow.front - pass.cpu)} ms over the pass-through, shards workerd ${ms(probeRow.shards)} ms`,
  );
}
for (const [label] of builds) {
  const guard = { rps: avg(label, "rps"), mean: avg(label, "mean"), cpu: avg(label, "front") };
  const added = guard.cpu - pass.cpu;
  console.log(`${label}${label === "compare" ? ` (${compareDir})` : ""}:`);
  console.log(`  req/s ratio / pass-through: ${(guard.rps / pass.rps).toFixed(2)}; mean latency ratio: ${(guard.mean / pass.mean).toFixed(2)}`);
  console.log(
    `  whole workerd (Worker + Durable Objects + entry worker) CPU per request: ${ms(guard.cpu)} ms, pass-through ${ms(pass.cpu)} ms, added ${ms(added)} ms`,
  );
  if (stateless) continue;
  const split = { front: avg(`${label}-split`, "front"), shards: avg(`${label}-split`, "shards") };
  // In one process: added = Worker + objects. The shards workerd measures the objects plus the
  // cross-process hop's server side, which is at most a whole no-op call (do-probe's shards
  // figure), so the Worker's own CPU lies between these two bounds.
  const workerLow = added - split.shards;
  const workerHigh = added - (split.shards - probeRow.shards);
  console.log(
    `  Durable Objects (shards workerd) CPU per request: ${ms(split.shards)} ms for its shard calls (idle during the pass-through: ${ms(avg("pass-through", "shards"))} ms), ${ms(split.shards - probeRow.shards)} ms over four no-op calls`,
  );
  console.log(
    `  Worker's own CPU per request, added over the pass-through: ${ms(workerLow)} to ${ms(workerHigh)} ms (goal <= 1 ms)`,
  );
  console.log(
    `  Worker's workerd with the objects elsewhere: ${ms(split.front)} ms, added ${ms(split.front - pass.cpu)} ms (an upper bound: includes Miniflare's proxy hop per shard call)`,
  );
}
if (rows.some((r) => r.non2xx > 0)) {
  console.error("bench: some requests failed or were not 2xx (see errors column)");
  process.exitCode = 1;
}
