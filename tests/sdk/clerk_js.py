"""Clerk's browser SDK, @clerk/clerk-js (pinned by tests/sdk/clerk/package-lock.json), in Node,
signing users up and in by SMS and adding a signed-in user's number through the guard, as a
site proxying Clerk's Frontend API at `/__clerk` serves it, in front of the fake Frontend API
of fake_clerk.py.

tests/sdk/clerk/check.mjs runs the calls on one Clerk instance (a production instance's
publishable key; its proxyUrl the guard's `/__clerk`) loaded as a non-standard browser, as
Clerk's Expo SDK loads it. What the checks hold the guard to: the SDK's load (`environment`,
`client`, which no route matches) reaches Clerk and the SDK is ready; a sign-up, a sign-in or a
user's number carrying a number is created once, its number judged by what it is (a Nigerian
one refused) and the code its preparation sends (naming the id Clerk answered) judged as a send
to it, so a resend at once is refused by the per-number limit; a sign-up's update to another
number moves its codes there; a sign-in without an SMS strategy (by phone, or by password with
an unserved country's number) passes unjudged, its code's preparation judged; an SMS strategy
at a sign-in's creation is a send; a refusal is the SDK's ClerkAPIResponseError carrying
Clerk's error code (`too_many_requests`, `not_allowed_access`, `form_param_missing`), the HTTP
status, the Retry-After it parsed, and the guard's reason and rule in `long_message` (its
message) and under `pumpguard`, after one request; calls by e-mail code pass although the
policy refuses numberless requests (`inputs.on_no_number: block`), while a phone code for a
sign-up or number the guard never saw made is refused as naming no number; codes entered (the
confirm route) pass, Clerk's own errors reach the SDK as Clerk wrote them; the fake received
exactly the calls the guard let through.
"""

import json

import fake_clerk
import node_steps

NIGERIA = "+2348031234567"
EMAIL = "ada@example.com"
SIGN_UP_EMAIL = "cy@example.com"
CODE = fake_clerk.CODE


def us(n):
    return f"+1415555{n:04d}"


def steps():
    return [
        ("load", "load", {}),
        # A sign-up by phone, as clerk-js makes one: create, then prepare the number's code.
        ("sign-up by phone", "signUp", {"as": "ada", "phoneNumber": us(1001)}),
        ("sign-up's code", "signUpPrepare", {"signUp": "ada"}),
        ("sign-up's code again at once", "signUpPrepare", {"signUp": "ada"}),
        ("sign-up's code, a wrong one", "signUpAttempt", {"signUp": "ada", "code": "000000"}),
        ("sign-up's code entered", "signUpAttempt", {"signUp": "ada", "code": CODE}),
        ("sign-up to Nigeria", "signUp", {"as": "ng", "phoneNumber": NIGERIA}),
        # A sign-up whose number is changed before its code is entered.
        ("second sign-up", "signUp", {"as": "bo", "phoneNumber": us(1002)}),
        ("second sign-up's code", "signUpPrepare", {"signUp": "bo"}),
        ("second sign-up's update to Nigeria", "signUpUpdate", {"signUp": "bo", "phoneNumber": NIGERIA}),
        ("second sign-up's update to another number", "signUpUpdate", {"signUp": "bo", "phoneNumber": us(1003)}),
        ("second sign-up's code to its new number", "signUpPrepare", {"signUp": "bo"}),
        ("second sign-up's code to its new number again at once", "signUpPrepare", {"signUp": "bo"}),
        # A sign-up by e-mail address: no number, ever.
        ("sign-up by e-mail", "signUp", {"as": "cy", "emailAddress": SIGN_UP_EMAIL}),
        ("sign-up by e-mail: its e-mail code", "signUpPrepare", {"signUp": "cy", "strategy": "email_code"}),
        ("sign-up by e-mail: a phone code", "signUpPrepare", {"signUp": "cy"}),
        # Sign-ins by phone: the factor chosen after, or the SMS strategy at once.
        ("sign-in by phone", "signIn", {"as": "si", "identifier": us(1004)}),
        ("sign-in's code", "signInPrepare", {"signIn": "si", "strategy": "phone_code"}),
        ("sign-in's code again at once", "signInPrepare", {"signIn": "si", "strategy": "phone_code"}),
        ("sign-in's code entered", "signInAttempt", {"signIn": "si", "strategy": "phone_code", "code": CODE}),
        ("sign-in texting at once", "signIn", {"as": "sp", "identifier": us(1005), "strategy": "phone_code"}),
        ("sign-in texting at once: its code again at once", "signInPrepare",
         {"signIn": "sp", "strategy": "phone_code"}),
        ("sign-in by a Nigerian number", "signIn", {"as": "sn", "identifier": NIGERIA}),
        ("sign-in by a Nigerian number: its code", "signInPrepare", {"signIn": "sn", "strategy": "phone_code"}),
        ("password sign-in by a Nigerian number", "signIn",
         {"as": "pw", "identifier": NIGERIA, "strategy": "password", "password": "correct horse battery"}),
        # A user signed in by an e-mail code adds a number.
        ("sign-in by e-mail", "signIn", {"as": "em", "identifier": EMAIL}),
        ("sign-in by e-mail: its code", "signInPrepare", {"signIn": "em", "strategy": "email_code"}),
        ("sign-in by e-mail: its code entered", "signInAttempt",
         {"signIn": "em", "strategy": "email_code", "code": CODE}),
        ("setActive", "setActive", {"from": "em"}),
        ("user's new number", "createPhoneNumber", {"as": "new", "phoneNumber": us(1006)}),
        ("user's new number: its code", "phonePrepare", {"phone": "new"}),
        ("user's new number: its code again at once", "phonePrepare", {"phone": "new"}),
        ("user's new number: its code entered", "phoneAttempt", {"phone": "new", "code": CODE}),
        ("user's new Nigerian number", "createPhoneNumber", {"as": "ng", "phoneNumber": NIGERIA}),
        ("user's earlier number: its code", "phonePrepare", {"listed": fake_clerk.EARLIER_NUMBER}),
    ]


def run(run, node_dir):
    report = run.report
    plan = steps()
    ran = node_steps.run_steps(run, node_dir, "clerk-js", plan, fake_clerk.FRONTEND_API)
    if ran is None:
        return
    results, seen = ran

    def data(name):
        return results[name]["data"] or {}

    def answered(r):
        """Every request the call sent had an HTTP answer (clerk-js outside a browser reads a
        failed request as being offline, and may then return nothing without an error)."""
        return all(a["status"] is not None for a in r["answers"])

    def passed(name, extra=True):
        r = results[name]
        report(f"clerk-js {name}: reached Clerk, no error, one request",
               r["error"] is None and r["attempts"] == 1 and answered(r)
               and all(a["status"] == 200 for a in r["answers"]) and extra,
               json.dumps(r))

    def refused(name, status, code, reason, rule=None):
        r = results[name]
        e = r["error"] or {}
        first = (e.get("errors") or [{}])[0]
        answer = (r["answers"] or [{}])[0]
        body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
        guard = body.get("pumpguard") or {}
        named = f"pumpguard: {reason}" + (f", rule {rule}" if rule else "")
        wait = guard.get("retry_after")
        report(f"clerk-js {name}: ClerkAPIResponseError {status} {code} naming {reason}"
               + (f", rule {rule}" if rule else "") + ", one request",
               e.get("clerkAPIResponseError") is True and e.get("name") == "ClerkAPIResponseError"
               and e.get("status") == status and answer.get("status") == status
               and first.get("code") == code and named in str(first.get("longMessage"))
               and e.get("message") == first.get("longMessage")
               and guard.get("error") == reason and guard.get("rule") == rule
               and (code != "too_many_requests"
                    or (isinstance(wait, int) and e.get("retryAfter") == wait
                        and answer.get("retryAfter") == str(wait) and f"retry after {wait} s" in e["message"]))
               and r["attempts"] == 1,
               json.dumps(r))

    def clerk_error(name, status, code):
        """Clerk's own error, as the fake wrote it, reached the SDK."""
        r = results[name]
        e = r["error"] or {}
        first = (e.get("errors") or [{}])[0]
        body = (r["answers"] or [{}])[0].get("body") or {}
        report(f"clerk-js {name}: reached Clerk, its own {status} {code}, one request",
               e.get("clerkAPIResponseError") is True and e.get("status") == status and first.get("code") == code
               and isinstance(body, dict) and "pumpguard" not in body and r["attempts"] == 1,
               json.dumps(r))

    load = results["load"]
    report("clerk-js load: environment and client reached Clerk once each, the SDK ready",
           load["error"] is None and data("load").get("loaded") is True and data("load").get("production") is True
           and sorted(a["method"] + " " + a["path"].split("?")[0] for a in load["answers"])
           == ["GET /__clerk/v1/client", "GET /__clerk/v1/environment"]
           and all(a["status"] == 200 for a in load["answers"]),
           json.dumps(load))

    passed("sign-up by phone", str(data("sign-up by phone").get("id", "")).startswith("sua_")
           and data("sign-up by phone").get("phoneNumber") == us(1001))
    passed("sign-up's code", (data("sign-up's code").get("phoneVerification") or {}).get("strategy") == "phone_code")
    refused("sign-up's code again at once", 429, "too_many_requests", "rate_limited", "per-number")
    clerk_error("sign-up's code, a wrong one", 422, "form_code_incorrect")
    passed("sign-up's code entered", data("sign-up's code entered").get("status") == "complete"
           and str(data("sign-up's code entered").get("createdSessionId", "")).startswith("sess_"))
    refused("sign-up to Nigeria", 403, "not_allowed_access", "country_not_allowed", "geo")

    passed("second sign-up")
    passed("second sign-up's code")
    refused("second sign-up's update to Nigeria", 403, "not_allowed_access", "country_not_allowed", "geo")
    passed("second sign-up's update to another number",
           data("second sign-up's update to another number").get("phoneNumber") == us(1003))
    # Judged as a send to the old number, the code would meet the per-number limit the first
    # code used: it goes to the new one, once.
    moved = data("second sign-up's code to its new number")
    passed("second sign-up's code to its new number", moved.get("phoneNumber") == us(1003)
           and (moved.get("phoneVerification") or {}).get("strategy") == "phone_code")
    refused("second sign-up's code to its new number again at once", 429, "too_many_requests", "rate_limited",
            "per-number")

    passed("sign-up by e-mail", data("sign-up by e-mail").get("emailAddress") == SIGN_UP_EMAIL)
    passed("sign-up by e-mail: its e-mail code",
           (data("sign-up by e-mail: its e-mail code").get("emailVerification") or {}).get("strategy") == "email_code")
    # The guard never saw a number bound to this sign-up: nothing to judge the code's number by.
    refused("sign-up by e-mail: a phone code", 400, "form_param_missing", "no_number")

    passed("sign-in by phone", data("sign-in by phone").get("status") == "needs_first_factor")
    passed("sign-in's code",
           (data("sign-in's code").get("firstFactorVerification") or {}).get("strategy") == "phone_code")
    refused("sign-in's code again at once", 429, "too_many_requests", "rate_limited", "per-number")
    passed("sign-in's code entered", data("sign-in's code entered").get("status") == "complete")
    passed("sign-in texting at once",
           (data("sign-in texting at once").get("firstFactorVerification") or {}).get("strategy") == "phone_code")
    refused("sign-in texting at once: its code again at once", 429, "too_many_requests", "rate_limited", "per-number")
    # A sign-in naming a number sends nothing yet: judged when its code is asked for.
    passed("sign-in by a Nigerian number", data("sign-in by a Nigerian number").get("identifier") == NIGERIA)
    refused("sign-in by a Nigerian number: its code", 403, "not_allowed_access", "country_not_allowed", "geo")
    passed("password sign-in by a Nigerian number",
           data("password sign-in by a Nigerian number").get("status") == "complete")

    passed("sign-in by e-mail", data("sign-in by e-mail").get("identifier") == EMAIL)
    passed("sign-in by e-mail: its code",
           (data("sign-in by e-mail: its code").get("firstFactorVerification") or {}).get("strategy") == "email_code")
    passed("sign-in by e-mail: its code entered",
           data("sign-in by e-mail: its code entered").get("status") == "complete")
    active = data("setActive")
    passed("setActive", active.get("sessionId") == data("sign-in by e-mail: its code entered").get("createdSessionId")
           and [p.get("phoneNumber") for p in active.get("phoneNumbers") or []] == [fake_clerk.EARLIER_NUMBER])
    new = data("user's new number")
    passed("user's new number", str(new.get("id", "")).startswith("idn_") and new.get("phoneNumber") == us(1006))
    passed("user's new number: its code",
           (data("user's new number: its code").get("verification") or {}).get("strategy") == "phone_code")
    refused("user's new number: its code again at once", 429, "too_many_requests", "rate_limited", "per-number")
    passed("user's new number: its code entered",
           (data("user's new number: its code entered").get("verification") or {}).get("status") == "verified")
    refused("user's new Nigerian number", 403, "not_allowed_access", "country_not_allowed", "geo")
    # A number the user added before (Clerk lists it): the guard never saw it made.
    refused("user's earlier number: its code", 400, "form_param_missing", "no_number")

    # What reached Clerk: every request the SDK sent but those the guard answered itself.
    let_through = [f"{a['method']} {a['path']}" for n, _, _ in plan for a in results[n]["answers"]
                   if not (isinstance(a["body"], dict) and "pumpguard" in a["body"])]
    received = [f"{q['method']} {q['path']}" for q in seen if q["path"].startswith(fake_clerk.PREFIX + "/")]
    refused_paths = [f"{a['method']} {a['path']}" for n, _, _ in plan for a in results[n]["answers"]
                     if isinstance(a["body"], dict) and "pumpguard" in a["body"]]
    report(f"clerk-js the fake Frontend API received exactly the {len(let_through)} calls the guard let through, "
           f"none of the {len(refused_paths)} it refused",
           received == let_through and len(refused_paths) == 11,
           json.dumps({"missing": [p for p in let_through if p not in received],
                       "unexpected": [p for p in received if p not in let_through],
                       "refused": refused_paths}))
