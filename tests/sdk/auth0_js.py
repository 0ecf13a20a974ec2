"""@auth0/auth0-auth-js (pinned by tests/sdk/auth0/package-lock.json) in Node, signing users in
by SMS and enrolling and challenging their SMS factors through the guard, in front of the fake
Auth0 tenant of fake_auth0.py.

tests/sdk/auth0/check.mjs runs the calls on one AuthClient (a confidential client: the SDK sends
its secret with /passwordless/start and the token calls), whose customFetch sends the SDK's
https://<tenant domain> requests to the guard. What the checks hold the guard to: the SDK's
discovery (`/.well-known/openid-configuration`, which no route matches) reaches the tenant and
the SDK accepts it; a send reaches the tenant once and the SDK reads its answer; a refusal is the
SDK's own error type (PasswordlessStartError, MfaEnrollmentError, MfaChallengeError) carrying
Auth0's OAuth `error` code and the HTTP status, the guard's reason and rule in
`error_description` and under `pumpguard` in the body, after one request, and reaches the tenant
never; an e-mail's passwordless start and an app factor's enrolment (no number) pass although
the policy refuses numberless requests (`inputs.on_no_number: block`); the code's exchange (the
passwordless OTP grant, a confirm; an e-mail code's names no number and passes too); a database
connection's passwordless challenge (`otp/challenge`) is judged as a send to its number, and its
code's exchange (naming the challenge's `auth_session`) passes; the password grant that answers
`mfa_required` and the MFA grant pass and the SDK validates the
tokens; an SMS factor's enrolment is judged as a send to its number; a challenge is counted by
the factor it names (`authenticator_id`, whatever its case), one naming none is refused as a
request without a number, and an app's (`otp`) challenge is not judged at all.
"""

import json

import fake_auth0
import node_steps

NIGERIA = "+2348031234567"
GAMBIA = "+2207012345"
EMAIL = "ada@example.com"
DATABASE = "Username-Password-Authentication"


def us(n):
    return f"+1415555{n:04d}"


def steps():
    sms, factor = us(801), us(802)
    oob_sms = {"authenticatorTypes": ["oob"], "oobChannels": ["sms"]}
    return [
        ("discovery", "discover", {}),
        ("sendSms", "sendSms", {"phoneNumber": sms}),
        ("sendSms again at once", "sendSms", {"phoneNumber": sms}),
        ("sendSms to Nigeria", "sendSms", {"phoneNumber": NIGERIA}),
        ("sendEmail", "sendEmail", {"email": EMAIL}),
        ("getTokenByPasswordlessSms", "getTokenByPasswordlessSms",
         {"phoneNumber": sms, "code": "123456", "scope": "openid profile"}),
        ("getTokenByPasswordlessEmail", "getTokenByPasswordlessEmail",
         {"email": EMAIL, "code": "123456", "scope": "openid email"}),
        ("challengeWithPhoneNumber to Nigeria", "challengeWithPhoneNumber",
         {"phoneNumber": NIGERIA, "connection": DATABASE}),
        ("challengeWithPhoneNumber", "challengeWithPhoneNumber", {"phoneNumber": us(803), "connection": DATABASE}),
        ("getTokenByPasswordlessDbConnection", "getTokenByPasswordlessDbConnection",
         {"otp": "123456", "scope": "openid profile"}),
        ("challengeWithPhoneNumber again at once", "challengeWithPhoneNumber",
         {"phoneNumber": us(803), "connection": DATABASE}),
        ("challengeWithEmail", "challengeWithEmail", {"email": EMAIL, "connection": DATABASE}),
        ("getTokenByPassword", "getTokenByPassword", {"username": EMAIL, "password": "correct horse battery"}),
        ("enrol a Gambian SMS factor", "mfaEnroll", {**oob_sms, "phoneNumber": GAMBIA}),
        ("enrol an SMS factor", "mfaEnroll", {**oob_sms, "phoneNumber": factor}),
        ("enrol an app factor", "mfaEnroll", {"authenticatorTypes": ["otp"]}),
        ("list factors", "mfaList", {}),
        ("challenge naming no factor", "mfaChallenge", {"challengeType": "oob"}),
        ("challenge the SMS factor", "mfaChallenge", {"challengeType": "oob", "authenticator": "sms"}),
        ("challenge the SMS factor again at once", "mfaChallenge", {"challengeType": "oob", "authenticator": "sms"}),
        ("challenge the SMS factor again, its id upper-cased", "mfaChallenge",
         {"challengeType": "oob", "authenticator": "sms", "upper": True}),
        ("app challenge", "mfaChallenge", {"challengeType": "otp"}),
        ("app challenge naming the app factor", "mfaChallenge", {"challengeType": "otp", "authenticator": "otp"}),
        ("app challenge naming the app factor again", "mfaChallenge", {"challengeType": "otp", "authenticator": "otp"}),
        ("verify the SMS factor's code", "mfaVerify", {"bindingCode": "123456"}),
    ]


def bodies(seen, method, path):
    return node_steps.json_bodies(seen, method, path)


def run(run, node_dir):
    report = run.report
    plan = steps()
    ran = node_steps.run_steps(run, node_dir, "auth0-auth-js", plan, fake_auth0.DOMAIN)
    if ran is None:
        return
    results, seen = ran

    def data(name):
        return results[name]["data"] or {}

    def passed(name, extra=True):
        r = results[name]
        report(f"auth0-auth-js {name}: reached the tenant, no error, one request",
               r["error"] is None and r["attempts"] == 1 and extra, json.dumps(r))

    def refused(name, error_type, status, code, reason, rule=None):
        r = results[name]
        e = r["error"] or {}
        cause = e.get("cause") or {}
        body = (e.get("body") or {}).get("pumpguard") or {}
        named = f"pumpguard: {reason}" + (f", rule {rule}" if rule else "")
        report(f"auth0-auth-js {name}: {error_type} {status} {code} naming {reason}"
               + (f", rule {rule}" if rule else "") + ", one request",
               e.get("name") == error_type and e.get("statusCode") == status and cause.get("error") == code
               and named in cause.get("error_description", "") and e.get("message") == cause.get("error_description")
               and body.get("error") == reason and body.get("rule") == rule
               and (code != "too_many_requests" or (isinstance(body.get("retry_after"), int)
                                                    and f"retry after {body['retry_after']} s" in e["message"]))
               and r["attempts"] == 1,
               json.dumps(r))

    discovery = [r for r in seen if r["method"] == "GET" and r["path"] == "/.well-known/openid-configuration"]
    every_path = [p for r in results.values() for p in r["paths"]]
    passed("discovery", data("discovery").get("issuer") == fake_auth0.ISSUER and len(discovery) == 1)
    report("auth0-auth-js discovery: fetched once, every later call on the cached metadata",
           every_path.count("GET /.well-known/openid-configuration") == 1, json.dumps(every_path))

    starts = [b.get("phone_number") for b in bodies(seen, "POST", "/passwordless/start")]
    passed("sendSms", starts.count(us(801)) >= 1)
    refused("sendSms again at once", "PasswordlessStartError", 429, "too_many_requests", "rate_limited", "per-number")
    refused("sendSms to Nigeria", "PasswordlessStartError", 403, "access_denied", "country_not_allowed", "geo")
    report("auth0-auth-js refused passwordless starts never reached the tenant",
           starts.count(us(801)) == 1 and NIGERIA not in starts, json.dumps(starts))
    emails = [b for b in bodies(seen, "POST", "/passwordless/start") if b.get("email") == EMAIL]
    passed("sendEmail", len(emails) == 1 and emails[0].get("connection") == "email")

    # openid-client sends the token endpoint form-encoded bodies.
    token_forms = [r["body"] for r in seen if r["method"] == "POST" and r["path"] == "/oauth/token"]
    exchange = data("getTokenByPasswordlessSms")
    passed("getTokenByPasswordlessSms",
           bool(exchange.get("accessToken")) and (exchange.get("claims") or {}).get("phone_number") == us(801)
           and any("passwordless%2Fotp" in f and "username=%2B14155550801" in f for f in token_forms))
    # The e-mail code's exchange is the same grant, a confirm naming no number: it passes whatever
    # `on_no_number` says.
    passed("getTokenByPasswordlessEmail",
           (data("getTokenByPasswordlessEmail").get("claims") or {}).get("email") == EMAIL
           and any("realm=email" in f for f in token_forms))
    # A database connection's passwordless challenge: a send to its number; its code's exchange
    # names the session Auth0 answered, not the number (the guard credits the number through it:
    # scenario 215).
    refused("challengeWithPhoneNumber to Nigeria", "PasswordlessChallengeError", 403, "access_denied",
            "country_not_allowed", "geo")
    passed("challengeWithPhoneNumber", str(data("challengeWithPhoneNumber").get("authSession", "")).startswith("Fe26.2**"))
    passed("getTokenByPasswordlessDbConnection",
           (data("getTokenByPasswordlessDbConnection").get("claims") or {}).get("phone_number") == us(803)
           and any("auth_session=" in f and "passwordless%2Fotp" in f for f in token_forms))
    refused("challengeWithPhoneNumber again at once", "PasswordlessChallengeError", 429, "too_many_requests",
            "rate_limited", "per-number")
    passed("challengeWithEmail", bool(data("challengeWithEmail").get("authSession")))
    challenged = [b.get("phone_number") or b.get("email") for b in bodies(seen, "POST", "/otp/challenge")]
    report("auth0-auth-js refused passwordless challenges never reached the tenant",
           challenged == [us(803), EMAIL], json.dumps(challenged))

    r = results["getTokenByPassword"]
    e = r["error"] or {}
    cause = e.get("cause") or {}
    report("auth0-auth-js getTokenByPassword: reached the tenant, TokenByPasswordError mfa_required with the "
           "mfa_token, one request",
           e.get("name") == "TokenByPasswordError" and e.get("statusCode") == 403
           and cause.get("error") == "mfa_required" and str(cause.get("mfa_token", "")).startswith("Fe26.2**")
           and r["attempts"] == 1 and any("grant_type=password" in f for f in token_forms),
           json.dumps(r))

    refused("enrol a Gambian SMS factor", "MfaEnrollmentError", 403, "access_denied", "country_not_allowed", "geo")
    passed("enrol an SMS factor",
           data("enrol an SMS factor").get("oobChannel") == "sms" and bool(data("enrol an SMS factor").get("oobCode")))
    passed("enrol an app factor", bool(data("enrol an app factor").get("secret")))
    associations = bodies(seen, "POST", "/mfa/associate")
    report("auth0-auth-js refused enrolment never reached the tenant",
           [b.get("phone_number") for b in associations] == [us(802), None], json.dumps(associations))
    listed = results["list factors"]["data"] or []
    passed("list factors", sorted(a.get("id", "").split("|")[0] for a in listed) == ["recovery-code", "sms", "totp"])

    refused("challenge naming no factor", "MfaChallengeError", 400, "bad.phone_number", "no_number")
    challenge = data("challenge the SMS factor")
    passed("challenge the SMS factor",
           challenge.get("challengeType") == "oob" and bool(challenge.get("oobCode"))
           and str(challenge.get("authenticatorId")).startswith("sms|dev_"))
    refused("challenge the SMS factor again at once", "MfaChallengeError", 429, "too_many_requests", "rate_limited",
            "per-authenticator")
    refused("challenge the SMS factor again, its id upper-cased", "MfaChallengeError", 429, "too_many_requests",
            "rate_limited", "per-authenticator")
    # A challenge naming no factor would be refused as one without a number, and one naming the
    # app factor twice by the per-authenticator limit, were either judged.
    for name in ("app challenge", "app challenge naming the app factor", "app challenge naming the app factor again"):
        passed(name, data(name).get("challengeType") == "otp")
    challenges = bodies(seen, "POST", "/mfa/challenge")
    oob = [b for b in challenges if b.get("challenge_type") == "oob"]
    report("auth0-auth-js refused challenges never reached the tenant",
           len(oob) == 1 and oob[0].get("authenticator_id") == challenge.get("authenticatorId")
           and len(challenges) == 4, json.dumps(challenges))
    verified = data("verify the SMS factor's code")
    passed("verify the SMS factor's code",
           bool(verified.get("accessToken")) and any("mfa-oob" in f for f in token_forms))
