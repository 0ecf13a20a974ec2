// A pumping flood through the built Worker in workerd, counting the rows it leaves in the counter
// shards' SQLite: random US numbers from random client IPs at ~390 req/s of request time, with
// examples/policy.json. Once the flood has blocked every conversion scope it aims at, every later
// request is refused by that active block, and must write no row at all: a refused request runs
// its checks as a peek, and only a request that goes to origin (or that starts a block) commits.
//
// Sizes: PUMPGUARD_FLOOD_SCOPES six-digit scopes (default 20), then PUMPGUARD_FLOOD_REFUSED
// requests once they are all blocked (default 2000). PUMPGUARD_WORKER_BUILD measures another
// build (see docs/worker.md for the figures before and after).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { CLOCK_HEADER, root, startSink, startWorker } from "./harness.mjs";

const scopes = Number(process.env.PUMPGUARD_FLOOD_SCOPES ?? 20);
const refusedTarget = Number(process.env.PUMPGUARD_FLOOD_REFUSED ?? 2000);
const concurrency = 32;
const ratePerSecond = 390;
const start = 1_700_000_000_000;

// Six-digit conversion scopes (+1, a real area code, two digits of the exchange): each number
// drawn below adds a random exchange digit and subscriber number, so per-number, per-prefix,
// backoff and adjacency keys are new with (almost) every request, as in a pumping flood.
const areaCodes = [212, 213, 305, 312, 404, 415, 503, 512, 602, 617, 646, 702, 713, 718, 720, 786, 818, 917, 929, 971];
const scopeList = Array.from({ length: scopes }, (_, i) => `1${areaCodes[i % areaCodes.length]}${String(23 + 11 * Math.floor(i / areaCodes.length)).slice(0, 2)}`);

// A deterministic generator, so a run can be repeated exactly.
let seed = 0x9e3779b9;
function random(n) {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
  seed ^= seed >>> 13;
  return (seed >>> 0) % n;
}
const digits = (count) => Array.from({ length: count }, () => random(10)).join("");
// A pool of 100,000 client addresses, as in the reported flood.
const clientIp = () => {
  const n = random(100_000);
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

// What the shards stored: every row of every shard's SQLite file, read only while workerd runs.
const files = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
function snapshot(persist) {
  const shards = files(persist).filter((f) => f.endsWith(".sqlite") && path.basename(f) !== "metadata.sqlite");
  const script = [
    "import json, sqlite3, sys",
    "rows = {}",
    "for f in sys.argv[1:]:",
    "    c = sqlite3.connect('file:' + f + '?mode=ro', uri=True)",
    "    try:",
    "        rows.update(dict(c.execute('SELECT k, v FROM pg_counters').fetchall()))",
    "    except sqlite3.OperationalError:",
    "        pass",
    "print(json.dumps(rows))",
  ].join("\n");
  const done = spawnSync("python3", ["-c", script, ...shards], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (done.status !== 0) throw new Error(`sqlite: ${done.stderr}`);
  const bytes = files(persist).reduce((sum, f) => sum + fs.statSync(f).size, 0);
  return { rows: new Map(Object.entries(JSON.parse(done.stdout))), bytes };
}

/** Rows added or changed from `before` to `after`. */
function written(before, after) {
  let added = 0;
  let changed = 0;
  for (const [k, v] of after.rows) {
    if (!before.rows.has(k)) added++;
    else if (before.rows.get(k) !== v) changed++;
  }
  return { added, changed };
}

test("a flood refused by active conversion blocks writes no counter row", { timeout: 600_000 }, async (t) => {
  const sink = await startSink();
  const persist = fs.mkdtempSync(path.join(os.tmpdir(), "pumpguard-flood-"));
  after(() => sink.stop());
  after(() => fs.rmSync(persist, { recursive: true, force: true }));
  const policy = JSON.parse(fs.readFileSync(path.join(root, "examples", "policy.json"), "utf8"));
  // No sweep while the test runs: rows are counted, not deleted.
  const vars = { PUMPGUARD_SWEEP_EVERY_MS: "86400000" };
  const worker = await startWorker({ policy, origin: sink.url, persist, vars });
  let sent = 0;
  const send = async (scope) => {
    const phone = `+${scope}${digits(5)}`;
    const at = start + Math.floor((sent++ * 1000) / ratePerSecond);
    const response = await fetch(`${worker.url}/api/otp/send`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": clientIp(), [CLOCK_HEADER]: String(at) },
      body: JSON.stringify({ phone }),
    });
    const text = await response.text();
    let error = null;
    try {
      error = text ? JSON.parse(text).error ?? null : null;
    } catch {}
    return { scope, status: response.status, error };
  };
  /** `count` requests, `concurrency` at a time, each to a scope `pick` chooses. */
  const flood = async (count, pick) => {
    const results = [];
    let next = 0;
    const lane = async () => {
      while (next < count) {
        next++;
        results.push(await send(pick()));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    return results;
  };
  try {
    // Until the flood has blocked every scope (each needs its 20 unconfirmed sends).
    const blocked = new Set();
    const warmup = [];
    for (let round = 0; blocked.size < scopeList.length && round < 50; round++) {
      const open = scopeList.filter((s) => !blocked.has(s));
      const results = await flood(open.length * 8, () => open[random(open.length)]);
      warmup.push(...results);
      for (const r of results) if (r.error === "low_conversion") blocked.add(r.scope);
    }
    assert.equal(blocked.size, scopeList.length, "every scope blocked by the flood");
    const allowed = warmup.filter((r) => r.status === 200).length;
    const before = snapshot(persist);

    // The flood goes on: every request is refused, by a block already in force.
    const results = await flood(refusedTarget, () => scopeList[random(scopeList.length)]);
    const after = snapshot(persist);
    const refused = results.filter((r) => r.status !== 200).length;
    const byActiveBlock = results.filter((r) => r.error === "low_conversion").length;
    const { added, changed } = written(before, after);
    const figures = {
      scopes: scopeList.length,
      warmup_requests: warmup.length,
      warmup_allowed: allowed,
      warmup_rows: before.rows.size,
      flood_requests: results.length,
      flood_refused: refused,
      flood_refused_low_conversion: byActiveBlock,
      rows_added: added,
      rows_changed: changed,
      rows_added_per_refused: Number((added / Math.max(refused, 1)).toFixed(3)),
      rows_written_per_refused: Number(((added + changed) / Math.max(refused, 1)).toFixed(3)),
      sqlite_bytes_before: before.bytes,
      sqlite_bytes_after: after.bytes,
    };
    t.diagnostic(`flood figures: ${JSON.stringify(figures)}`);

    assert.equal(refused, results.length, "every request of the flood is refused");
    assert.equal(byActiveBlock, results.length, "each by a conversion block already in force");
    assert.equal(sink.count(), allowed, "origin saw only the warm-up's allowed sends");
    // A refusal by an active block starts nothing (no new block, no strike): it writes no row,
    // neither a new one nor over an existing one.
    assert.deepEqual({ added, changed }, { added: 0, changed: 0 }, "rows written by refused requests");
  } catch (e) {
    e.message += `\nworker log (last 40 lines):\n${worker.log.lines.slice(-40).join("\n")}`;
    throw e;
  } finally {
    await worker.stop();
  }
});
