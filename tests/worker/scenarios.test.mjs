// Every scenario of tests/scenarios through the built Worker in workerd: one Worker per scenario
// (its policy in a binding, fresh Durable Object state), the test origin behind it, the fake
// siteverify for challenges, the fake number-intelligence provider for lookups, and the CLI's
// runner sending the steps over HTTP/1.1.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  CF_WITHOUT_BOT_MANAGEMENT,
  events,
  runScenario,
  scenarioFiles,
  scenarioPolicy,
  startLookup,
  startOrigin,
  startSiteverify,
  startWorker,
} from "./harness.mjs";

let origin;
let siteverify;
let lookup;
before(async () => {
  origin = await startOrigin();
  siteverify = await startSiteverify();
  lookup = await startLookup();
});
after(async () => {
  origin?.stop();
  await siteverify?.stop();
  lookup?.stop();
});

describe("scenario corpus through workerd", () => {
  for (const file of scenarioFiles()) {
    const scenario = JSON.parse(fs.readFileSync(file, "utf8"));
    const name = path.basename(file, ".json");
    if (scenario.policy_errors) {
      test(`${name}: the Worker refuses the policy and names ${scenario.policy_errors.join(", ")}`, async () => {
        const worker = await startWorker({ policy: scenario.policy, origin: origin.url, siteverify: siteverify.url });
        try {
          const seen = (await origin.requests()).length;
          const step = scenario.steps?.[0]?.request;
          const response = await fetch(`${worker.url}${step?.path ?? "/"}`, {
            method: step?.method ?? "POST",
            headers: { "content-type": "application/json" },
            body: step?.body ?? '{"phone":"+14155550123"}',
          });
          assert.equal(response.status, 503, "fail closed by default");
          assert.equal(response.headers.get("x-pumpguard-decision"), "block");
          assert.equal((await response.json()).error, "policy_unavailable");
          assert.equal((await origin.requests()).length, seen, "origin saw nothing");
          const logged = events(worker.log, "pumpguard.policy_unusable");
          assert.ok(logged.length > 0, `no policy_unusable log line:\n${worker.log.lines.join("\n")}`);
          assert.deepEqual([...new Set(logged[0].paths)].sort(), [...new Set(scenario.policy_errors)].sort());
        } finally {
          await worker.stop();
        }
      });
      continue;
    }
    test(name, async () => {
      const policy = JSON.parse(await scenarioPolicy(file));
      const timeout = policy.captcha?.verify_timeout_ms ?? 2000;
      siteverify.slowMs = timeout + 1000;
      const worker = await startWorker({ policy, origin: origin.url, siteverify: siteverify.url, lookup: lookup.template, cf: CF_WITHOUT_BOT_MANAGEMENT });
      try {
        const { code, stdout, stderr } = await runScenario(worker.url, file);
        assert.equal(code, 0, `runner exited ${code}\n${stdout}\n${stderr}\nworker log:\n${worker.log.lines.join("\n")}`);
      } finally {
        await worker.stop();
      }
    });
  }
});
