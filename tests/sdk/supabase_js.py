"""supabase-js (`@supabase/supabase-js`, pinned by tests/sdk/supabase/package-lock.json) in Node,
signing a user in by phone through the guard, in front of the fake GoTrue of fake_gotrue.py.

tests/sdk/supabase/check.mjs runs the calls on one client, as an app does (the session of a
verified code carries to the calls after it), with `createClient` given the guard's URL. What the
checks hold the guard to: a send reaches GoTrue once and supabase-js reads its answer; a refusal
is supabase-js's `AuthApiError` with GoTrue's `error_code` and the guard's reason and rule in its
message, after one request, and reaches GoTrue never; `phone` is read as GoTrue reads it (digits
without `+` are E.164: "2482510123" is a Seychelles mobile, not a Michigan number); calls that
carry no number and send none (an e-mail sign-in, a profile update) pass whatever
`on_no_number` says; a signed-in user's numberless sends (a factor's challenge,
`reauthenticate`) are counted by the user's `sub`; a phone factor's enrolment is judged by the
number its challenges will go to, and each challenge (naming the factor) as a send to that
number; a resend of a phone change (naming the user by its phone) as a send to the number the
change asked for; the CAPTCHA token supabase-js sends reaches
GoTrue.
"""

import json

import node_steps

SEYCHELLES = "2482510123"  # +248 251 0123 to GoTrue; (248) 251-0123 under a US default region
GAMBIA = "+2207012345"


def us(n):
    return f"+1415555{n:04d}"


def steps():
    otp, user, factor = us(701), us(702), us(704)
    # The user signed in is one whose number no send here named (the fake GoTrue takes any
    # code): a resend naming it is then told from one judged as a send to that number.
    signed_in = us(709)
    return [
        ("otp", "signInWithOtp", {"phone": otp}),
        ("otp Seychelles without +", "signInWithOtp", {"phone": SEYCHELLES}),
        ("otp again at once", "signInWithOtp", {"phone": otp}),
        ("otp by e-mail", "signInWithOtp", {"email": "ada@example.com"}),
        ("verify", "verifyOtp", {"phone": signed_in, "token": "123456", "type": "sms"}),
        ("profile update", "updateUser", {"data": {"name": "Ada"}}),
        ("phone change", "updateUser", {"phone": us(705)}),
        ("resend of the phone change at once", "resend", {"type": "phone_change", "phone": signed_in}),
        ("enrol a Gambian phone factor", "mfaEnroll", {"factorType": "phone", "phone": GAMBIA}),
        ("enrol a phone factor", "mfaEnroll", {"factorType": "phone", "phone": factor}),
        ("factor challenge", "mfaChallenge", {"channel": "sms"}),
        ("factor challenge again", "mfaChallenge", {"channel": "sms"}),
        ("reauthenticate", "reauthenticate", {}),
        ("reauthenticate again", "reauthenticate", {}),
        ("phone change to Gambia", "updateUser", {"phone": GAMBIA}),
        ("sign up", "signUp", {"phone": user, "password": "correct horse battery"}),
        ("resend at once", "resend", {"type": "sms", "phone": user}),
        ("otp with a CAPTCHA token", "signInWithOtp", {"phone": us(703), "options": {"captchaToken": "turnstile-token"}}),
    ]


def bodies(seen, method, call):
    return node_steps.json_bodies(seen, method, f"/auth/v1/{call}")


def run(run, node_dir):
    report = run.report
    plan = steps()
    ran = node_steps.run_steps(run, node_dir, "supabase-js", plan)
    if ran is None:
        return
    results, seen = ran

    def passed(name, extra=True):
        r = results[name]
        report(f"supabase-js {name}: reached GoTrue, no error, one request",
               r["error"] is None and r["attempts"] == 1 and extra, json.dumps(r))

    def refused(name, status, code, reason, rule):
        r = results[name]
        e = r["error"] or {}
        report(f"supabase-js {name}: AuthApiError {status} {code} naming {reason}, rule {rule}, one request",
               e.get("name") == "AuthApiError" and e.get("status") == status and e.get("code") == code
               and f"pumpguard: {reason}, rule {rule}" in e.get("message", "") and r["attempts"] == 1,
               json.dumps(r))

    otps = [b.get("phone") for b in bodies(seen, "POST", "otp")]
    passed("otp", (results["otp"]["data"] or {}).get("messageId", "").startswith("SM"))
    refused("otp Seychelles without +", 403, "sms_send_failed", "country_not_allowed", "geo")
    refused("otp again at once", 429, "over_sms_send_rate_limit", "rate_limited", "per-number")
    report("supabase-js refused sends never reached GoTrue",
           otps.count(us(701)) == 1 and SEYCHELLES not in otps
           and not any(GAMBIA in json.dumps(b) for b in bodies(seen, "PUT", "user") + bodies(seen, "POST", "factors")),
           json.dumps(otps))
    passed("otp by e-mail")
    session = (results["verify"]["data"] or {}).get("session") or {}
    passed("verify", bool(session.get("access_token")))
    passed("profile update")
    passed("phone change", ((results["phone change"]["data"] or {}).get("user") or {}).get("new_phone") == us(705)[1:])
    # The resend names the user by its phone, which no send named; GoTrue sends to the pending
    # number, which the change just sent a code: judged as a send to that number (judged as one
    # to the phone it carries, it would reach GoTrue).
    refused("resend of the phone change at once", 429, "over_sms_send_rate_limit", "rate_limited", "per-number")
    refused("enrol a Gambian phone factor", 403, "sms_send_failed", "country_not_allowed", "geo")
    passed("enrol a phone factor")
    passed("factor challenge")
    # The challenge names the factor, whose enrolment bound its number: judged as a send to it.
    refused("factor challenge again", 429, "over_sms_send_rate_limit", "rate_limited", "per-number")
    passed("reauthenticate")
    refused("reauthenticate again", 429, "over_sms_send_rate_limit", "rate_limited", "per-user")
    refused("phone change to Gambia", 403, "sms_send_failed", "country_not_allowed", "geo")
    passed("sign up", ((results["sign up"]["data"] or {}).get("user") or {}).get("phone") == us(702)[1:])
    refused("resend at once", 429, "over_sms_send_rate_limit", "rate_limited", "per-number")
    tokens = [(b.get("gotrue_meta_security") or {}).get("captcha_token") for b in bodies(seen, "POST", "otp")
              if b.get("phone") == us(703)]
    passed("otp with a CAPTCHA token", tokens == ["turnstile-token"])
    challenges = [r for r in seen if r["path"].startswith("/auth/v1/factors/") and r["path"].endswith("/challenge")]
    report("supabase-js refused challenge, reauthenticate and resend never reached GoTrue",
           len(challenges) == 1 and sum(r["path"].startswith("/auth/v1/reauthenticate") for r in seen) == 1
           and not any(b.get("type") == "phone_change" for b in bodies(seen, "POST", "resend")),
           json.dumps([r["path"] for r in seen]))
