// Runs supabase-js Auth calls against a host, in order, on one client (its session carries from
// one call to the next, as in an app), and prints what each returned: for tests/sdk/supabase_js.py.
//
// Usage: node check.mjs URL < steps.json
//   steps: [{"name": ..., "call": "signInWithOtp" | "verifyOtp" | "signUp" | "updateUser" |
//            "reauthenticate" | "resend" | "mfaEnroll" | "mfaChallenge", "args": {...}}]
// Prints [{"name", "attempts", "data", "error": {"name", "status", "code", "message"} | null}].
import { createClient } from "@supabase/supabase-js";
import { readSteps } from "../node_steps.mjs";

const url = process.argv[2];
const steps = await readSteps();

// The anon key is a JWT naming no user (role `anon`), as Supabase issues it; unsigned here.
const segment = (doc) => Buffer.from(JSON.stringify(doc)).toString("base64url");
const anonKey = `${segment({ alg: "HS256", typ: "JWT" })}.${segment({ iss: "supabase", role: "anon" })}.c2ln`;

let attempts = 0;
const countingFetch = (...args) => {
  attempts += 1;
  return fetch(...args);
};
// Node 20 has no WebSocket of its own and the client builds its Realtime part at once; these
// checks never open it, so a stand-in transport is enough (browsers and Node 22 have their own).
class NoWebSocket {}
const supabase = createClient(url, anonKey, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: { fetch: countingFetch },
  realtime: { transport: NoWebSocket },
});

let factorId = null;
const calls = {
  signInWithOtp: (args) => supabase.auth.signInWithOtp(args),
  verifyOtp: (args) => supabase.auth.verifyOtp(args),
  signUp: (args) => supabase.auth.signUp(args),
  updateUser: (args) => supabase.auth.updateUser(args),
  reauthenticate: () => supabase.auth.reauthenticate(),
  resend: (args) => supabase.auth.resend(args),
  mfaEnroll: async (args) => {
    const result = await supabase.auth.mfa.enroll(args);
    factorId = result.data?.id ?? factorId;
    return result;
  },
  mfaChallenge: (args) => supabase.auth.mfa.challenge({ factorId, ...args }),
};

const results = [];
for (const step of steps) {
  attempts = 0;
  let result;
  try {
    result = await calls[step.call](step.args ?? {});
  } catch (thrown) {
    result = { data: null, error: thrown };
  }
  const error = result.error
    ? { name: result.error.name, status: result.error.status ?? null, code: result.error.code ?? null,
        message: String(result.error.message) }
    : null;
  results.push({ name: step.name, attempts, data: result.data ?? null, error });
}
console.log(JSON.stringify(results));
