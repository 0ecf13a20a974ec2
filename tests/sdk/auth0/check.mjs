// Runs @auth0/auth0-auth-js calls against a host, in order, on one AuthClient (as a server app
// holds one), and prints what each returned: for tests/sdk/auth0_js.py.
//
// The SDK builds https://DOMAIN/... URLs (and openid-client checks the discovered issuer against
// https://DOMAIN/); its customFetch sends each to the host under test instead, and counts them.
//
// Usage: node check.mjs URL DOMAIN < steps.json
//   steps: [{"name": ..., "call": "discover" | "sendSms" | "sendEmail" | "getTokenByPasswordlessSms" |
//            "getTokenByPasswordlessEmail" | "challengeWithPhoneNumber" | "challengeWithEmail" |
//            "getTokenByPasswordlessDbConnection" | "getTokenByPassword" | "mfaEnroll" | "mfaList" |
//            "mfaChallenge" | "mfaVerify", "args": {...}}]
//   getTokenByPasswordlessDbConnection exchanges a code under the last challenge's session.
//   The MFA calls use the mfa_token of the last getTokenByPassword's mfa_required error;
//   mfaChallenge's args may name `authenticator: "sms" | "otp"` (the id the last mfaList listed of
//   that type; `upper: true` upper-cases it) and mfaVerify takes the last oob challenge's code.
// Prints [{"name", "attempts", "paths", "data",
//          "error": {"name", "code", "message", "statusCode", "cause", "body"} | null}]
//   (`paths`: "METHOD /path" of each request the call sent; `body`: the error answer's JSON).
import { AuthClient } from "@auth0/auth0-auth-js";
import { readSteps, runSteps } from "../node_steps.mjs";

const [url, domain] = process.argv.slice(2);
const steps = await readSteps();

const tenant = `https://${domain}`;
let attempts = 0;
let paths = [];
const customFetch = (input, init) => {
  attempts += 1;
  const href = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (href !== tenant && !href.startsWith(`${tenant}/`)) {
    return Promise.reject(new Error(`the SDK asked for ${href}, not the tenant`));
  }
  const target = url + href.slice(tenant.length);
  const method = init?.method ?? (input instanceof Request ? input.method : "GET");
  paths.push(`${method} ${new URL(href).pathname}`);
  return fetch(input instanceof Request ? new Request(target, input) : target, init);
};

const auth = new AuthClient({
  domain,
  clientId: "pumpguardTestClient0123456789ab",
  // A confidential client: /passwordless/start and the token endpoint want its secret.
  clientSecret: "pumpguard-test-client-secret",
  customFetch,
});

let mfaToken = null;
let authenticators = [];
let oobCode = null;
let authSession = null;
const pick = (type) => {
  const found = authenticators.find((a) => (type === "sms" ? a.oobChannels === "sms" || a.id.startsWith("sms|")
    : a.authenticatorType === type));
  return found?.id ?? null;
};
const calls = {
  discover: async () => {
    const metadata = await auth.getServerMetadata();
    return { issuer: metadata.issuer, token_endpoint: metadata.token_endpoint };
  },
  sendSms: (args) => auth.passwordless.sendSms(args),
  sendEmail: (args) => auth.passwordless.sendEmail(args),
  getTokenByPasswordlessSms: (args) => auth.getTokenByPasswordlessSms(args),
  getTokenByPasswordlessEmail: (args) => auth.getTokenByPasswordlessEmail(args),
  challengeWithPhoneNumber: async (args) => {
    const result = await auth.passwordless.challengeWithPhoneNumber(args);
    authSession = result.authSession ?? authSession;
    return result;
  },
  challengeWithEmail: async (args) => {
    const result = await auth.passwordless.challengeWithEmail(args);
    authSession = result.authSession ?? authSession;
    return result;
  },
  getTokenByPasswordlessDbConnection: (args) =>
    auth.passwordless.getTokenByPasswordlessDbConnection({ authSession, ...args }),
  getTokenByPassword: async (args) => {
    try {
      return await auth.getTokenByPassword(args);
    } catch (e) {
      mfaToken = e.cause?.mfa_token ?? mfaToken;
      throw e;
    }
  },
  mfaEnroll: (args) => auth.mfa.enrollAuthenticator({ ...args, mfaToken }),
  mfaList: async () => {
    authenticators = await auth.mfa.listAuthenticators({ mfaToken });
    return authenticators;
  },
  mfaChallenge: async ({ authenticator, upper, ...args }) => {
    let authenticatorId = authenticator ? pick(authenticator) : undefined;
    if (authenticatorId && upper) authenticatorId = authenticatorId.toUpperCase();
    const result = await auth.mfa.challengeAuthenticator({
      ...args, ...(authenticatorId && { authenticatorId }), mfaToken,
    });
    oobCode = result.oobCode ?? oobCode;
    return { ...result, authenticatorId: authenticatorId ?? null };
  },
  mfaVerify: (args) => auth.mfa.verify({ factorType: "oob", oobCode, ...args, mfaToken }),
};

const results = await runSteps(steps, calls, {
  begin: () => {
    attempts = 0;
    paths = [];
  },
  observed: () => ({ attempts, paths }),
  describe: async (thrown) => {
    let body = null;
    try {
      // Most errors carry the answer as `body`; a challenge's, in its `cause`.
      const text = typeof thrown.body === "string" ? thrown.body : thrown.cause?.body;
      body = typeof text === "string" ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    return {
      name: thrown.name,
      code: thrown.code ?? null,
      message: String(thrown.message),
      statusCode: thrown.statusCode ?? null,
      cause: thrown.cause ?? null,
      body,
    };
  },
});
console.log(JSON.stringify(results));
