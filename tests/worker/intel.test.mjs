// Number intelligence through the built Worker in workerd, against the fake provider
// (tests/lookup.py, the corpus convention by the number's last two digits): what the provider
// flags is blocked and a clean number forwarded; a cached answer (in the Durable Object shards)
// makes no second call; a timeout, an HTTP 500 and garbage take on_unavailable; a refused request
// is never looked up; the credentials from PUMPGUARD_NUMBER_INTEL_HEADERS win over the policy's.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CLOCK_HEADER, startLookup, startOrigin, withStartedWorker } from "./harness.mjs";

const policy = (onUnavailable, rules = []) => ({
  version: 1,
  default_region: "US",
  routes: [{ id: "otp", kind: "send", match: { methods: ["POST"], path: { exact: "/api/otp" } }, extract: { json_keys: ["phone"] } }],
  number_intel: {
    url: "https://lookups.twilio.com/v2/PhoneNumbers/{e164}?Fields=line_type_intelligence,sms_pumping_risk,line_status",
    headers: { authorization: "Basic from-policy" },
    timeout_ms: 300,
    cache_seconds: 600,
    on_unavailable: onUnavailable,
    response: {
      risk_score: "/sms_pumping_risk/sms_pumping_risk_score",
      line_type: "/line_type_intelligence/type",
      reachable: "/line_status/status",
    },
  },
  rules: [...rules, { id: "intel", action: "block", number_intel: { min_risk: 75, line_types: ["nonFixedVoip"], unreachable: true } }],
});

let origin;
let lookup;
before(async () => {
  origin = await startOrigin();
  lookup = await startLookup({ slowSeconds: 2 });
});
after(() => {
  origin?.stop();
  lookup?.stop();
});

function otp(worker, phone, at = 1000) {
  return fetch(`${worker.url}/api/otp`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": "198.51.100.7", [CLOCK_HEADER]: String(at) },
    body: JSON.stringify({ phone }),
  });
}

async function callsFor(number) {
  return (await lookup.calls()).filter((c) => c.number === number);
}

describe("number intelligence on the Worker", () => {
  test("flagged numbers are blocked, a clean one forwarded, a cached answer asks no second time", async () => {
    await withStartedWorker({ origin: origin.url, lookup: lookup.template, policy: policy("allow") }, async (worker) => {
      for (const phone of ["+14155550199", "+14155550198", "+14155550197"]) {
        const response = await otp(worker, phone);
        assert.equal(response.status, 403, phone);
        const body = await response.json();
        assert.deepEqual([body.error, body.rule], ["number_intel", "intel"], phone);
      }
      const clean = await otp(worker, "+14155550123");
      assert.equal(clean.status, 200);
      assert.equal(clean.headers.get("x-test-origin"), "ok");
      // Again within cache_seconds: the same answers, no new call.
      assert.equal((await otp(worker, "+14155550199", 500_000)).status, 403);
      assert.equal((await otp(worker, "+14155550123", 500_000)).status, 200);
      assert.equal((await callsFor("+14155550199")).length, 1);
      assert.equal((await callsFor("+14155550123")).length, 1);
      const [call] = await callsFor("+14155550123");
      assert.match(call.path, /^\/v2\/PhoneNumbers\/%2B14155550123\?Fields=/);
      assert.equal(call.headers.authorization, "Basic from-policy");
      // After cache_seconds the number is looked up again.
      assert.equal((await otp(worker, "+14155550123", 700_000)).status, 200);
      assert.equal((await callsFor("+14155550123")).length, 2);
    });
  });

  test("timeout, HTTP 500 and garbage are unavailable: on_unavailable block refuses with 503", async () => {
    await withStartedWorker({ origin: origin.url, lookup: lookup.template, policy: policy("block") }, async (worker) => {
      for (const phone of ["+14155550296", "+14155550295", "+14155550294", "+14155550293"]) {
        const started = Date.now();
        const response = await otp(worker, phone);
        assert.equal(response.status, 503, phone);
        assert.equal((await response.json()).error, "number_intel_unavailable", phone);
        assert.ok(Date.now() - started < 1900, `${phone}: waited for the slow provider`);
      }
      // Failures are not cached.
      assert.equal((await otp(worker, "+14155550295", 2000)).status, 503);
      assert.equal((await callsFor("+14155550295")).length, 2);
    });
  });

  test("on_unavailable allow forwards, reporting the failure; host headers win", async () => {
    const vars = { PUMPGUARD_NUMBER_INTEL_HEADERS: JSON.stringify({ Authorization: "Basic from-env" }) };
    await withStartedWorker({ origin: origin.url, lookup: lookup.template, policy: policy("allow"), vars }, async (worker) => {
      const response = await otp(worker, "+14155550394");
      assert.equal(response.status, 200);
      assert.match(response.headers.get("x-pumpguard-findings") ?? "", /number_intel_unavailable/);
      const [call] = await callsFor("+14155550394");
      assert.equal(call.headers.authorization, "Basic from-env");
    });
  });

  test("a request another rule refuses is never looked up", async () => {
    const geo = { id: "geo", action: "block", country: { deny: ["US"] } };
    await withStartedWorker({ origin: origin.url, lookup: lookup.template, policy: policy("allow", [geo]) }, async (worker) => {
      assert.equal((await otp(worker, "+14155550423")).status, 403);
      assert.equal((await callsFor("+14155550423")).length, 0);
    });
  });
});
