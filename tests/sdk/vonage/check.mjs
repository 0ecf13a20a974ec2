// Runs @vonage/verify2 calls against a host, in order, on one Verify2 client (as a site's backend
// holds one), and prints what each returned: for tests/sdk/vonage_js.py.
//
// The client is given the host under test as its `apiHost` and authenticates as a Vonage
// application: a JWT signed (RS256) with a private key made here. The SDK calls the global
// fetch, so a wrapper counts its requests and keeps each answer's status and body (nextWorkflow
// and cancel answer false for any error, so the answer is seen only there).
//
// Usage: node check.mjs URL < steps.json
//   steps: [{"name": ..., "call": "newRequest" | "nextWorkflow" | "checkCode" | "cancel",
//            "args": {...}}]
//   newRequest's args are the SDK's VerificationRequestParams (`brand` defaults to "ACME"),
//   with `as: "<label>"` keeping the requestId under that label; nextWorkflow, checkCode and
//   cancel name the request by `request: "<label>"` (checkCode takes a `code` too).
// Prints [{"name", "attempts", "answers", "data", "error": {"name", "message", "status",
//          "contentType", "body"} | null}]
//   (`answers`: {"method", "path", "status", "contentType", "retryAfter", "body"} of each request
//   the call sent; `body`: the error answer's JSON, read from the VetchError's response).
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { Auth } from "@vonage/auth";
import { Verify2 } from "@vonage/verify2";
import { readSteps, runSteps } from "../node_steps.mjs";

const [url] = process.argv.slice(2);
const steps = await readSteps();

const parse = (text) => {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
};

let attempts = 0;
let answers = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  attempts += 1;
  const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const method = init?.method ?? (input instanceof Request ? input.method : "GET");
  const seen = { method, path: new URL(href).pathname, status: null, contentType: null, retryAfter: null, body: null };
  answers.push(seen);
  if (href !== url && !href.startsWith(`${url}/`)) {
    throw new Error(`the SDK asked for ${href}, not the host under test`);
  }
  const response = await realFetch(input, init);
  seen.status = response.status;
  seen.contentType = response.headers.get("content-type");
  seen.retryAfter = response.headers.get("retry-after");
  seen.body = parse(await response.clone().text());
  return response;
};

const { privateKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});
const verify = new Verify2(new Auth({ applicationId: randomUUID(), privateKey }), { apiHost: url });

const requests = {};
const calls = {
  newRequest: async ({ as, ...params }) => {
    const result = await verify.newRequest({ brand: "ACME", ...params });
    if (as) requests[as] = result.requestId;
    return result;
  },
  nextWorkflow: ({ request }) => verify.nextWorkflow(requests[request]),
  checkCode: ({ request, code }) => verify.checkCode(requests[request], code),
  cancel: ({ request }) => verify.cancel(requests[request]),
};

const results = await runSteps(steps, calls, {
  begin: () => {
    attempts = 0;
    answers = [];
  },
  observed: () => ({ attempts, answers }),
  describe: async (thrown) => {
    // The SDK's VetchError keeps the Response, its body unread.
    const response = thrown.response;
    let body = null;
    try {
      body = response ? parse(await response.text()) : null;
    } catch {
      body = null;
    }
    return {
      name: thrown.constructor?.name ?? thrown.name,
      message: String(thrown.message),
      status: response?.status ?? null,
      contentType: response?.headers?.get("content-type") ?? null,
      body,
    };
  },
});
console.log(JSON.stringify(results));
