// pumpguard in the browser: send a request to a route the guard protects and answer its
// challenge. A `challenge` rule refuses a send without a verified CAPTCHA token (403,
// `captcha_required`); the refusal's body names what to solve (`captcha`: provider, site key,
// action, where the route reads the token). `sendGuarded` asks the page's widget for a token
// and sends the same request again with it, so a suspicious but real user gets a CAPTCHA, not
// a refusal. No dependencies; docs/browser.md shows it in a page.

/** What the guard answered, and what the page should tell its user. */
export const Outcome = Object.freeze({
  /** The request reached origin: read `response` as usual. */
  ORIGIN: "origin",
  /** Throttled: `retryAfter` seconds before the next try can pass. */
  WAIT: "wait",
  /** Refused for good (blocked, or a challenge nobody could answer). */
  REFUSED: "refused",
  /** A challenge the user did not solve (closed the widget, or it failed). */
  UNSOLVED: "unsolved",
});

const DEFAULT_TOKEN_PLACE = Object.freeze({ header: "cf-turnstile-response" });

/**
 * Sends `init` to `url` (as `fetch` would) and answers the guard's challenges.
 *
 * options:
 * - `solve(captcha)`: resolves to a token for the challenge the body names (`captcha`:
 *   `{provider, site_key, action, token}`); `widgetSolver(container)` renders the provider's
 *   widget. Without it a challenge is returned as refused.
 * - `token`: a token the page already holds (a widget on the form): sent with the first try,
 *   at `tokenPlace` (default the `cf-turnstile-response` header).
 * - `maxSolves`: how many tokens to ask for at most (default 2: a spent or stale token is
 *   refused as `captcha_invalid`, and a fresh one may pass).
 * - `fetch`: the fetch to use (default the global one).
 *
 * The body must be a string, `URLSearchParams` or `FormData`: it is sent again with the token.
 * Resolves to `{outcome, response, status, error, rule, retryAfter, message, captcha}`.
 */
export async function sendGuarded(url, init = {}, options = {}) {
  const send = options.fetch ?? globalThis.fetch;
  const maxSolves = options.maxSolves ?? 2;
  let request = options.token ? withToken(init, options.tokenPlace ?? DEFAULT_TOKEN_PLACE, options.token) : init;
  for (let solves = 0; ; solves += 1) {
    const response = await send(url, request);
    const answer = await readAnswer(response);
    const answerable = answer.captcha && (answer.error === "captcha_required" || answer.error === "captcha_invalid");
    if (!answerable || !options.solve || solves >= maxSolves) {
      return answer;
    }
    let token;
    try {
      token = await options.solve(answer.captcha);
    } catch (error) {
      return { ...answer, outcome: Outcome.UNSOLVED, cause: error };
    }
    if (typeof token !== "string" || token === "") {
      return { ...answer, outcome: Outcome.UNSOLVED };
    }
    request = withToken(init, answer.captcha.token ?? options.tokenPlace ?? DEFAULT_TOKEN_PLACE, token);
  }
}

/**
 * What a response says: a local reply of the guard carries `x-pumpguard-decision` other than
 * `allow` and pumpguard's fields in its JSON body (under `pumpguard` in Google's error format).
 */
export async function readAnswer(response) {
  const decision = response.headers.get("x-pumpguard-decision");
  const base = { response, status: response.status, error: null, rule: null, retryAfter: null, message: null, captcha: null };
  if (decision === "allow" || (decision === null && response.ok)) {
    return { ...base, outcome: Outcome.ORIGIN };
  }
  let body = null;
  try {
    body = await response.clone().json();
  } catch {
    // An XML refusal (SNS) or an unreadable body: the status and headers still say enough.
  }
  const ours = body && typeof body.error === "object" && body.pumpguard ? body.pumpguard : body ?? {};
  // Across origins the browser hides headers the reply does not expose (the policy's `cors`
  // exposes them): a challenge still shows by its body; any other answer is taken as origin's.
  const challenged = ours.captcha && typeof ours.captcha === "object" && /^captcha_(required|invalid)$/.test(ours.error);
  if (decision === null && !challenged) {
    return { ...base, outcome: Outcome.ORIGIN };
  }
  const header = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
  const retryAfter = Number.isFinite(ours.retry_after) ? ours.retry_after : Number.isFinite(header) ? header : null;
  return {
    ...base,
    outcome: decision === "throttle" ? Outcome.WAIT : Outcome.REFUSED,
    error: typeof ours.error === "string" ? ours.error : null,
    rule: typeof ours.rule === "string" ? ours.rule : null,
    message: typeof ours.message === "string" ? ours.message : null,
    retryAfter,
    captcha: ours.captcha && typeof ours.captcha === "object" ? ours.captcha : null,
  };
}

/**
 * `init` with `token` where the route reads it: `{header}`, `{form_field}` or `{json_path}`
 * (dotted keys), as the policy's `extract.token` spells it.
 */
export function withToken(init, place, token) {
  if (place.header) {
    const headers = new Headers(init.headers ?? {});
    headers.set(place.header, token);
    return { ...init, headers };
  }
  if (place.form_field) {
    const body = init.body;
    if (body instanceof URLSearchParams || (typeof FormData !== "undefined" && body instanceof FormData)) {
      const copy = body instanceof URLSearchParams ? new URLSearchParams(body) : cloneFormData(body);
      copy.set(place.form_field, token);
      return { ...init, body: copy };
    }
    const form = new URLSearchParams(typeof body === "string" ? body : "");
    form.set(place.form_field, token);
    return { ...init, body: form.toString() };
  }
  if (place.json_path) {
    const doc = typeof init.body === "string" && init.body.trim() !== "" ? JSON.parse(init.body) : {};
    const keys = place.json_path.split(".");
    let node = doc;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key];
    }
    node[keys[keys.length - 1]] = token;
    return { ...init, body: JSON.stringify(doc) };
  }
  throw new Error(`pumpguard: unknown token place ${JSON.stringify(place)}`);
}

function cloneFormData(form) {
  const copy = new FormData();
  for (const [name, value] of form.entries()) copy.append(name, value);
  return copy;
}

/**
 * A `solve` that renders the widget of the provider the challenge names into `container` and
 * resolves to its token (Turnstile, reCAPTCHA v2, hCaptcha; their scripts loaded by the page).
 * `siteKey` stands in when the policy names none (`captcha.site_key`). The widget is removed
 * once it answered.
 */
export function widgetSolver(container, { siteKey, scope = globalThis } = {}) {
  return (captcha) =>
    new Promise((resolve, reject) => {
      const sitekey = captcha.site_key ?? siteKey;
      if (!sitekey) {
        reject(new Error("pumpguard: no site key (set captcha.site_key in the policy, or pass siteKey)"));
        return;
      }
      const api = { turnstile: scope.turnstile, recaptcha: scope.grecaptcha, hcaptcha: scope.hcaptcha }[captcha.provider];
      if (!api) {
        reject(new Error(`pumpguard: the ${captcha.provider} script is not loaded`));
        return;
      }
      let id;
      let settled = false;
      const done = (settle) => (value) => {
        if (settled) return;
        settled = true;
        // Turnstile and hCaptcha remove a widget; reCAPTCHA only resets one.
        queueMicrotask(() => (api.remove ?? api.reset).call(api, id));
        settle(value);
      };
      const failed = (what) => done(reject)(new Error(`pumpguard: the ${captcha.provider} widget ${what}`));
      const params = {
        sitekey,
        callback: done(resolve),
        "error-callback": () => failed("failed"),
        "expired-callback": () => failed("expired"),
        "timeout-callback": () => failed("timed out"),
      };
      if (captcha.action && captcha.provider === "turnstile") params.action = captcha.action;
      id = api.render(container, params);
    });
}
