// Runs clerk-js calls against a host, in order, on one Clerk instance (as a site's page holds
// one), and prints what each returned: for tests/sdk/clerk_js.py.
//
// The instance is a production one (its publishable key names the Frontend API host
// FRONTEND_API) whose Frontend API the site proxies at `/__clerk`: its proxyUrl is the host under
// test's `/__clerk`, so every call goes there. It is loaded as a non-standard browser (as Clerk's
// Expo SDK loads it: no cookies, no dev browser, no page), with telemetry off. The global fetch
// is wrapped to count the SDK's requests and keep each answer; any request outside the proxy
// fails the call.
//
// Usage: node check.mjs URL FRONTEND_API < steps.json
//   steps: [{"name": ..., "call": "load" | "signUp" | "signUpUpdate" | "signUpPrepare" |
//            "signUpAttempt" | "signIn" | "signInPrepare" | "signInAttempt" | "setActive" |
//            "createPhoneNumber" | "phonePrepare" | "phoneAttempt", "args": {...}}]
//   signUp and signIn take the SDK's create params with `as: "<label>"` keeping the resource
//   they return under that label; the other sign-up and sign-in calls name it by `signUp` or
//   `signIn`. signUpPrepare and signUpAttempt take a `strategy` ("phone_code" by default: the
//   SDK's preparePhoneNumberVerification and attemptPhoneNumberVerification; "email_code": its
//   e-mail ones) and signUpAttempt a `code`. signInPrepare takes a `strategy` and uses the
//   sign-in's first factor of that strategy (its phone_number_id or email_address_id);
//   signInAttempt takes a `strategy` and a `code`. setActive activates the session the labelled
//   sign-in or sign-up (`from`) created. createPhoneNumber (the signed-in user's, `as` a label)
//   takes a `phoneNumber`; phonePrepare and phoneAttempt name that number by `phone`, or one of
//   the user's numbers as Clerk listed them by `listed: "<number>"`; phoneAttempt takes a `code`.
// Prints [{"name", "attempts", "answers", "data", "error": {"name", "clerkAPIResponseError" (the
//          SDK's own type guard), "code", "status", "message",
//          "retryAfter", "errors": [{"code", "message", "longMessage", "meta"}]} | null}]
//   (`answers`: {"method", "path" (with its query), "status", "retryAfter", "body", "failed"} of
//   each request the call sent; `failed`: why it got no answer).
import { Clerk, isClerkAPIResponseError } from "@clerk/clerk-js";
import { readSteps, runSteps } from "../node_steps.mjs";

const [url, frontendApi] = process.argv.slice(2);
const steps = await readSteps();

const proxyUrl = `${url}/__clerk`;
// A production instance's publishable key: `pk_live_` and the Frontend API host and `$`, base64.
const publishableKey = `pk_live_${Buffer.from(`${frontendApi}$`).toString("base64").replace(/=+$/, "")}`;

let attempts = 0;
let answers = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  attempts += 1;
  const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const method = init?.method ?? (input instanceof Request ? input.method : "GET");
  const where = new URL(href);
  const seen = { method, path: where.pathname + where.search, status: null, retryAfter: null, body: null,
                 failed: null };
  answers.push(seen);
  if (!href.startsWith(`${proxyUrl}/`)) {
    seen.failed = "not the site's proxy";
    throw new Error(`the SDK asked for ${href}, not the site's proxy`);
  }
  let response;
  try {
    response = await realFetch(input, init);
  } catch (e) {
    // Outside a browser clerk-js reads a failed request as being offline and may answer null
    // without an error: the failure is kept here.
    seen.failed = String(e?.cause ?? e);
    throw e;
  }
  seen.status = response.status;
  seen.retryAfter = response.headers.get("retry-after");
  const text = await response.clone().text();
  try {
    seen.body = text ? JSON.parse(text) : null;
  } catch {
    seen.body = text;
  }
  return response;
};

const clerk = new Clerk(publishableKey, { proxyUrl });

const signUps = {};
const signIns = {};
const phones = {};
const verificationOf = (v) => (v ? { status: v.status ?? null, strategy: v.strategy ?? null } : null);
const signUpData = (s) => ({
  id: s.id ?? null,
  status: s.status,
  phoneNumber: s.phoneNumber,
  emailAddress: s.emailAddress,
  unverifiedFields: s.unverifiedFields,
  phoneVerification: verificationOf(s.verifications?.phoneNumber),
  emailVerification: verificationOf(s.verifications?.emailAddress),
  createdSessionId: s.createdSessionId,
});
const signInData = (s) => ({
  id: s.id ?? null,
  status: s.status,
  identifier: s.identifier,
  supportedFirstFactors: s.supportedFirstFactors,
  firstFactorVerification: verificationOf(s.firstFactorVerification),
  createdSessionId: s.createdSessionId,
});
const phoneData = (p) => ({ id: p.id, phoneNumber: p.phoneNumber, verification: verificationOf(p.verification) });
const phoneNamed = ({ phone, listed }) => (phone !== undefined ? phones[phone]
  : clerk.user.phoneNumbers.find((p) => p.phoneNumber === listed));

const calls = {
  load: async () => {
    await clerk.load({ standardBrowser: false, telemetry: false });
    return { loaded: clerk.loaded, status: clerk.status, clientId: clerk.client?.id ?? null,
             production: clerk.__internal_environment?.isProduction() ?? null };
  },
  signUp: async ({ as, ...params }) => {
    const signUp = await clerk.client.signUp.create(params);
    signUps[as] = signUp;
    return signUpData(signUp);
  },
  signUpUpdate: async ({ signUp, ...params }) => signUpData(await signUps[signUp].update(params)),
  signUpPrepare: async ({ signUp, strategy = "phone_code" }) => signUpData(strategy === "phone_code"
    ? await signUps[signUp].preparePhoneNumberVerification()
    : await signUps[signUp].prepareEmailAddressVerification()),
  signUpAttempt: async ({ signUp, strategy = "phone_code", code }) => signUpData(strategy === "phone_code"
    ? await signUps[signUp].attemptPhoneNumberVerification({ code })
    : await signUps[signUp].attemptEmailAddressVerification({ code })),
  signIn: async ({ as, ...params }) => {
    const signIn = await clerk.client.signIn.create(params);
    signIns[as] = signIn;
    return signInData(signIn);
  },
  signInPrepare: async ({ signIn, strategy }) => {
    const factor = (signIns[signIn].supportedFirstFactors ?? []).find((f) => f.strategy === strategy) ?? {};
    const params = strategy === "phone_code" ? { strategy, phoneNumberId: factor.phoneNumberId }
      : { strategy, emailAddressId: factor.emailAddressId };
    return signInData(await signIns[signIn].prepareFirstFactor(params));
  },
  signInAttempt: async ({ signIn, strategy, code }) =>
    signInData(await signIns[signIn].attemptFirstFactor({ strategy, code })),
  setActive: async ({ from }) => {
    const session = (signIns[from] ?? signUps[from]).createdSessionId;
    await clerk.setActive({ session });
    return { sessionId: clerk.session?.id ?? null, userId: clerk.user?.id ?? null,
             phoneNumbers: clerk.user?.phoneNumbers.map(phoneData) ?? [] };
  },
  createPhoneNumber: async ({ as, phoneNumber }) => {
    const phone = await clerk.user.createPhoneNumber({ phoneNumber });
    phones[as] = phone;
    return phoneData(phone);
  },
  phonePrepare: async (args) => phoneData(await phoneNamed(args).prepareVerification()),
  phoneAttempt: async ({ code, ...args }) => phoneData(await phoneNamed(args).attemptVerification({ code })),
};

const results = await runSteps(steps, calls, {
  begin: () => {
    attempts = 0;
    answers = [];
  },
  observed: () => ({ attempts, answers }),
  describe: async (thrown) => {
    return {
      // The bundle is minified: the class's own `kind` names it.
      name: thrown.constructor?.kind ?? thrown.name,
      clerkAPIResponseError: isClerkAPIResponseError(thrown),
      code: thrown.code ?? null,
      status: thrown.status ?? null,
      message: String(thrown.message),
      retryAfter: thrown.retryAfter ?? null,
      errors: (thrown.errors ?? []).map((e) => ({ code: e.code, message: e.message, longMessage: e.longMessage,
                                                   meta: e.meta ?? null })),
    };
  },
});
// The session's token refresh timers would keep Node running: exit once the results are out.
process.stdout.write(`${JSON.stringify(results)}\n`, () => process.exit(0));
