// Unit tests of the browser helper against a scripted guard (`node --test clients/browser/`).
// The end-to-end test through a real Envoy in headless Chromium is tests/browser/.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Outcome, readAnswer, sendGuarded, widgetSolver, withToken } from "./pumpguard.js";

const HINT = {
  provider: "turnstile",
  site_key: "1x00000000000000000000AA",
  action: "sms_send",
  token: { header: "cf-turnstile-response" },
};

function refusal(status, decision, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "x-pumpguard-decision": decision, ...headers },
  });
}

/** A fetch answering with `answers` in turn, recording each request it was given. */
function scripted(...answers) {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push({ url, init });
    const next = answers.shift();
    assert.ok(next, "more requests than the test scripted");
    return next(init);
  };
  return { fetch, seen };
}

const challenge = (error = "captcha_required", captcha = HINT) => () =>
  refusal(403, error === "captcha_required" ? "challenge" : "block", { error, message: "m", rule: "human", captcha });
const origin = () => new Response('{"sent":true}', { status: 200, headers: { "x-pumpguard-decision": "allow" } });

test("a challenge is solved with the widget the body names and the request sent again", async () => {
  const { fetch, seen } = scripted(challenge(), origin);
  const asked = [];
  const solve = async (captcha) => {
    asked.push(captcha);
    return "pass!sms_send-1";
  };
  const body = JSON.stringify({ phone: "+14155550123" });
  const result = await sendGuarded("/api/otp/send", { method: "POST", body }, { fetch, solve });
  assert.equal(result.outcome, Outcome.ORIGIN);
  assert.deepEqual(asked, [HINT]);
  assert.equal(seen.length, 2);
  assert.equal(new Headers(seen[0].init.headers).get("cf-turnstile-response"), null);
  assert.equal(new Headers(seen[1].init.headers).get("cf-turnstile-response"), "pass!sms_send-1");
  assert.equal(seen[1].init.body, body);
});

test("a spent token gets one fresh one, then the refusal stands", async () => {
  const { fetch, seen } = scripted(challenge("captcha_invalid"), challenge("captcha_invalid"), challenge("captcha_invalid"));
  let n = 0;
  const result = await sendGuarded("/s", { method: "POST", body: "{}" }, { fetch, token: "old", solve: async () => `t${++n}` });
  assert.equal(result.outcome, Outcome.REFUSED);
  assert.equal(result.error, "captcha_invalid");
  assert.equal(seen.length, 3);
  assert.deepEqual(seen.map((s) => new Headers(s.init.headers).get("cf-turnstile-response")), ["old", "t1", "t2"]);
});

test("a user who does not solve is told so, and nothing more is sent", async () => {
  const { fetch, seen } = scripted(challenge());
  const result = await sendGuarded("/s", { method: "POST", body: "{}" }, {
    fetch,
    solve: async () => {
      throw new Error("closed");
    },
  });
  assert.equal(result.outcome, Outcome.UNSOLVED);
  assert.equal(result.cause.message, "closed");
  assert.equal(seen.length, 1);
});

test("throttles, blocks and origin's own answers are returned as they are", async () => {
  const wait = await sendGuarded("/s", {}, {
    fetch: scripted(() => refusal(429, "throttle", { error: "backoff", message: "m", rule: "resend", retry_after: 30 }, { "retry-after": "30" })).fetch,
    solve: async () => assert.fail("a throttle is no challenge"),
  });
  assert.deepEqual([wait.outcome, wait.error, wait.rule, wait.retryAfter], [Outcome.WAIT, "backoff", "resend", 30]);
  const blocked = await sendGuarded("/s", {}, {
    fetch: scripted(() => refusal(403, "block", { error: "country_not_allowed", message: "m", rule: "geo" })).fetch,
    solve: async () => assert.fail("a block is no challenge"),
  });
  assert.deepEqual([blocked.outcome, blocked.error, blocked.captcha], [Outcome.REFUSED, "country_not_allowed", null]);
  // Origin's 400 is origin's: no x-pumpguard-decision other than allow.
  const mine = await sendGuarded("/s", {}, { fetch: scripted(() => new Response("bad code", { status: 400 })).fetch });
  assert.deepEqual([mine.outcome, mine.status], [Outcome.ORIGIN, 400]);
});

test("Google's error format keeps pumpguard's fields under `pumpguard`", async () => {
  const firebase = refusal(400, "challenge", {
    error: { code: 400, message: "CAPTCHA_CHECK_FAILED : m" },
    pumpguard: { error: "captcha_required", rule: "human", captcha: HINT },
  });
  const answer = await readAnswer(firebase);
  assert.deepEqual([answer.error, answer.rule, answer.captcha], ["captcha_required", "human", HINT]);
});

test("the token goes where the route reads it", () => {
  const form = withToken({ body: "phone=%2B1415" }, { form_field: "cf-turnstile-response" }, "t");
  assert.equal(form.body, "phone=%2B1415&cf-turnstile-response=t");
  const params = withToken({ body: new URLSearchParams({ phone: "+1" }) }, { form_field: "tok" }, "t");
  assert.equal(params.body.toString(), "phone=%2B1&tok=t");
  const multipart = new FormData();
  multipart.append("phone", "+1");
  const parts = withToken({ body: multipart }, { form_field: "tok" }, "t").body;
  assert.deepEqual([...parts.entries()], [["phone", "+1"], ["tok", "t"]]);
  assert.equal(multipart.get("tok"), null, "the page's own body is left alone");
  const nested = withToken({ body: '{"phone":"+1"}' }, { json_path: "captcha.token" }, "t");
  assert.deepEqual(JSON.parse(nested.body), { phone: "+1", captcha: { token: "t" } });
  const header = withToken({ headers: { "content-type": "application/json" } }, { header: "x-captcha" }, "t");
  assert.deepEqual([header.headers.get("x-captcha"), header.headers.get("content-type")], ["t", "application/json"]);
});

test("a token at hand goes with the first try, where the page says", async () => {
  const { fetch, seen } = scripted(origin);
  await sendGuarded("/s", { body: "phone=1" }, { fetch, token: "pre", tokenPlace: { form_field: "cf-turnstile-response" } });
  assert.equal(seen[0].init.body, "phone=1&cf-turnstile-response=pre");
});

test("the widget solver renders the provider's widget and removes it once answered", async () => {
  const calls = [];
  const turnstile = {
    render(container, params) {
      calls.push(["render", container, params.sitekey, params.action]);
      setTimeout(() => params.callback("pass!sms_send-9"), 1);
      return "w1";
    },
    remove(id) {
      calls.push(["remove", id]);
    },
  };
  const solve = widgetSolver("#captcha", { scope: { turnstile } });
  assert.equal(await solve(HINT), "pass!sms_send-9");
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(calls, [["render", "#captcha", HINT.site_key, "sms_send"], ["remove", "w1"]]);
  // A widget error, a missing script, and no site key anywhere are rejections the page shows.
  const failing = { render: (c, p) => (setTimeout(() => p["error-callback"]("300030"), 1), "w2"), remove() {} };
  await assert.rejects(widgetSolver("#c", { scope: { turnstile: failing } })(HINT), /turnstile widget failed/);
  await assert.rejects(widgetSolver("#c", { scope: {} })({ ...HINT, provider: "hcaptcha" }), /hcaptcha script is not loaded/);
  await assert.rejects(widgetSolver("#c", { scope: { turnstile } })({ provider: "turnstile" }), /no site key/);
});

test("a challenge whose headers the browser hides still shows by its body", async () => {
  const hidden = new Response(JSON.stringify({ error: "captcha_required", message: "m", rule: "human", captcha: HINT }), {
    status: 403,
    headers: { "content-type": "application/json" },
  });
  const answer = await readAnswer(hidden);
  assert.deepEqual([answer.outcome, answer.error, answer.captcha], [Outcome.REFUSED, "captcha_required", HINT]);
  // Origin's own 403 without pumpguard's challenge stays origin's.
  const theirs = await readAnswer(new Response('{"error":"forbidden"}', { status: 403 }));
  assert.equal(theirs.outcome, Outcome.ORIGIN);
});
