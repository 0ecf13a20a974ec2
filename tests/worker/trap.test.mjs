// What a bug or a stuck Durable Object does to the Worker, through the test-only `test-trap`
// build (edge-worker/src/trap.rs; `just e2e-worker` builds it into target/worker-test-trap): a
// request carrying x-pumpguard-test-trap panics the fetch handler or the counter shard, or slows
// the shard. The rows of docs/failure-modes.md about the Worker's own failures rest on this file.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { CLOCK_HEADER, events, root, startOrigin, withStartedWorker } from "./harness.mjs";

const TRAP = "x-pumpguard-test-trap";
const trapBuild = process.env.PUMPGUARD_WORKER_TRAP_BUILD ?? path.join(root, "target", "worker-test-trap");

// Two sends per number per hour, GB refused: enough to see that the counters and the rules
// still judge after each fault.
const policy = (onError) => ({
  version: 1,
  default_region: "US",
  routes: [{ id: "otp", kind: "send", match: { methods: ["POST"], path: { exact: "/api/otp" } }, extract: { json_keys: ["phone"] } }],
  rules: [
    { id: "no-gb", action: "block", country: { deny: ["GB"] } },
    { id: "per-number", action: "throttle", rate_limit: { key: ["number"], rate: 2, per_seconds: 3600, burst: 2 } },
  ],
  store: { on_error: onError },
});

let origin;
before(async () => {
  origin = await startOrigin();
});
after(async () => {
  await origin.stop();
});

function withTrapWorker(options, body) {
  return withStartedWorker({ origin: origin.url, build: trapBuild, ...options }, body);
}

function send(worker, phone, fault, signal) {
  return fetch(`${worker.url}/api/otp`, {
    method: "POST",
    signal,
    headers: {
      "content-type": "application/json",
      "cf-connecting-ip": "198.51.100.7",
      [CLOCK_HEADER]: "1000",
      ...(fault ? { [TRAP]: fault } : {}),
    },
    body: JSON.stringify({ phone }),
  });
}

async function status(worker, phone, fault) {
  const response = await send(worker, phone, fault);
  const body = await response.text();
  let error;
  try {
    error = JSON.parse(body).error;
  } catch {
    error = undefined;
  }
  return { status: response.status, error };
}

const ORIGIN_SEES = async () => (await origin.requests()).length;

describe("the Worker's own failures (test-trap build)", () => {
  test("a panic in the fetch handler fails that request and those in flight; the next ones are judged, counters kept", async () => {
    await withTrapWorker({ policy: policy("block") }, async (worker) => {
      const number = "+14155550131";
      assert.equal((await status(worker, number)).status, 200, "first send");
      const seen = await ORIGIN_SEES();
      // A request of the same isolate in flight (its shard answers in 1.5 s) when another panics.
      const inFlight = send(worker, "+14155550139", "shard-slow-1500", AbortSignal.timeout(5000)).then(
        (response) => response.status,
        (e) => e.name,
      );
      await new Promise((r) => setTimeout(r, 300));
      const crashed = await status(worker, number, "worker");
      assert.equal(crashed.status, 500, "the request that panicked gets workerd's 500");
      // The module is re-instantiated: the request in flight lost its future and gets no answer.
      const orphan = await inFlight;
      assert.ok(orphan === "TimeoutError" || orphan >= 500, `the request in flight: ${orphan}`);
      assert.equal(await ORIGIN_SEES(), seen, "origin sees nothing of either");
      // The module is instantiated afresh for the next request: rules and shards work again.
      assert.deepEqual(await status(worker, "+447400123456"), { status: 403, error: "country_denied" });
      assert.equal((await status(worker, number)).status, 200, "second send of the number");
      assert.equal((await status(worker, number)).status, 429, "third send: the count from before the panic is kept");
      // Repeated panics do not wear anything down.
      for (let i = 0; i < 3; i++) assert.equal((await status(worker, number, "worker")).status, 500);
      assert.equal((await status(worker, number)).status, 429);
      assert.equal((await status(worker, "+14155550132")).status, 200);
    });
  });

  test("a panic in the counter shard resets the isolate's module: requests in flight get no answer, later ones are judged", async () => {
    // The shard runs in the same isolate as the fetch handler here (as it may on Cloudflare), so
    // its panic re-instantiates the module under the request that called it: that request's
    // future is gone and workerd never answers it (the client gives up: 5 s here). Nothing of it
    // reaches origin and nothing is counted; the next requests find the shard and its stored
    // counters as they were. docs/failure-modes.md, "The Worker itself".
    await withTrapWorker({ policy: policy("allow") }, async (worker) => {
      const number = "+14155550141";
      assert.equal((await status(worker, number)).status, 200, "first send");
      const seen = await ORIGIN_SEES();
      const faulted = await send(worker, number, "shard", AbortSignal.timeout(5000)).then(
        (response) => response.status,
        (e) => e.name,
      );
      assert.ok(faulted === "TimeoutError" || faulted >= 500, `the request whose shard panicked: ${faulted}`);
      assert.equal(await ORIGIN_SEES(), seen, "origin sees nothing of it");
      assert.ok(worker.log.lines.some((l) => /Rust panic/.test(l)), "the panic is logged");
      assert.equal((await status(worker, number)).status, 200, "second send: the shard answers again");
      assert.equal((await status(worker, number)).status, 429, "third send refused: the counter survived");
    });
  });

  test("a shard slower than PUMPGUARD_SHARD_TIMEOUT_MS is a store failure; the request is not held", async () => {
    const vars = { PUMPGUARD_SHARD_TIMEOUT_MS: "200" };
    await withTrapWorker({ policy: policy("block"), vars }, async (worker) => {
      const number = "+14155550151";
      const seen = await ORIGIN_SEES();
      const slow = await status(worker, number, "shard-slow-3000");
      assert.deepEqual(slow, { status: 503, error: "store_unavailable" });
      assert.equal(await ORIGIN_SEES(), seen);
      const failed = events(worker.log, "pumpguard.shard_failed");
      assert.ok(failed.some((e) => /no answer within 200 ms/.test(e.why)), JSON.stringify(failed));
      // A shard that answers in time judges as before.
      assert.equal((await status(worker, number, "shard-slow-20")).status, 200);
    });
  });
});
