"""AWS Amplify's Auth category (v6, bundled as a site bundles it), in headless Chromium, signing
users up and in through the guard.

tests/sdk/amplify-page.html calls `signUp`, `resendSignUpCode`, `resetPassword`, `signIn`
(Amplify's default, SRP, and passwordless by SMS code), `confirmSignIn`, `updateUserAttribute`
and `confirmUserAttribute` with Amplify's
`userPoolEndpoint` set to the guard's host, which forwards them to the fake Cognito of
fake_apis.py. What the checks hold the guard to: a sign-up reaches Cognito once and Amplify reads
its answer (a code sent by SMS); a refusal is Amplify's `ForbiddenException` with the guard's
reason in its message, after one request (no retry), and reaches Cognito never; a resend or a reset
by user name is judged as a send to the number the user signed up with, and a reset of a user the
guard saw no sign-up of by the user's own limit; an SRP sign-in, whose second step names the user
by the `sub` Cognito answered the sign-up with (a pool whose users sign in by e-mail), is counted
at the sign-up's number, and a user who entered a sign-in's code is spared that count; a phone
change is a send to the new number and moves that count there; a
passwordless sign-in is a send to the number it names.
"""

import json
import os
import shutil

import browser


def prepare_pages(bundle, page_dir):
    """Writes the page and the bundle to `page_dir` (served by fake_apis.py under /page/)."""
    browser.copy_page("amplify-page.html", page_dir, "amplify.html")
    shutil.copy(bundle, os.path.join(page_dir, "amplify.js"))


def sign_ups_of(requests, phone):
    return [r for r in requests if r.get("headers", {}).get("x-amz-target", "").endswith(".SignUp")
            and phone in (r.get("body") or "")]


def targets_of(requests, op, text):
    return [r for r in requests if r.get("headers", {}).get("x-amz-target", "").endswith("." + op)
            and text in (r.get("body") or "")]


def page_steps(run, chromium, work, steps, what, endpoint=None):
    """Runs `steps` on the page (through `endpoint`); `(results, requests origin saw)`, or `None`
    after reporting that a step gave no result."""
    query = {"steps": ",".join(steps)}
    if endpoint:
        query["endpoint"] = endpoint
    before = len(run.origin_requests())
    results = browser.run_page(run, chromium, os.path.join(work, "chromium-profile"), "amplify.html", query)
    seen = run.origin_requests()[before:]
    got = [r for r in results if isinstance(r, dict) and "step" in r]
    if len(got) != len(steps):
        run.report(f"amplify {what}: a result per step", False, json.dumps(results))
        return None
    return got, seen


def run(run, chromium, work):
    sign_ups(run, chromium, work)
    sign_ins(run, chromium, work)
    phone_changes(run, chromium, work)
    passwordless(run, chromium, work)


def phone_changes(run, chromium, work):
    """On /mfa (one SMS MFA code a day per number): a signed-in user's phone change
    (`updateUserAttribute`, `UpdateUserAttributes` naming the user by its access token) is a send
    to the new number and moves the user's SMS MFA there, so a campaign cannot sign an account up
    with a throwaway number and move it to the one it pumps; a user who entered the new number's
    code (`confirmUserAttribute`) proved it and is spared the count."""
    report = run.report
    mover, owner = "amp-mover@example.com", "amp-owner@example.com"
    throwaway, pumped, ng = "+14155550756", "+14155550757", "+2348031234572"
    own, new_own = "+14155550758", "+14155550759"
    steps = [f"signup:{mover}:{throwaway}", f"signin:{mover}", "confirm:123456", f"phone:{ng}", f"phone:{pumped}",
             f"phone:{pumped}", "signout", f"signin:{mover}", f"signin:{mover}",
             f"signup:{owner}:{own}", f"signin:{owner}", "confirm:123456", f"phone:{new_own}", "verify:123456",
             "signout", f"signin:{owner}", f"signin:{owner}"]
    ran = page_steps(run, chromium, work, steps, "phone changes", "/mfa")
    if ran is None:
        return
    got, seen = ran

    def refused(step, reason, rule, name, calls=1):
        report(f"amplify {name}: ForbiddenException naming {reason}, rule {rule}, after {calls} request(s)",
               step.get("name") == "ForbiddenException" and f"pumpguard: {reason}, rule {rule}" in step.get("message", "")
               and step.get("calls") == calls, json.dumps(step))

    refused(got[3], "country_not_allowed", "geo", "updateUserAttribute to a number of a country not served")
    report("amplify updateUserAttribute (phone_number): Cognito got it once, Amplify read a code sent by SMS",
           got[4].get("next") == "CONFIRM_ATTRIBUTE_WITH_CODE" and got[4].get("medium") == "SMS"
           and got[4].get("calls") == 1 and len(targets_of(seen, "UpdateUserAttributes", pumped)) == 1, json.dumps(got[4]))
    refused(got[5], "rate_limited", "per-number", "updateUserAttribute to the same number again at once")
    report("amplify updateUserAttribute refused: never reached Cognito",
           not targets_of(seen, "UpdateUserAttributes", ng) and len(targets_of(seen, "UpdateUserAttributes", pumped)) == 1)
    # The throwaway's code was entered (a proven number): judged there, the sign-ins would be
    # spared; judged at the number the change moved them to, the second is over its count.
    report("amplify signIn after the phone change: an SMS code (the moved-to number's first of the day)",
           got[7].get("next") == "CONFIRM_SIGN_IN_WITH_SMS_CODE", json.dumps(got[7]))
    refused(got[8], "rate_limited", "users-sign-in-codes",
            "signIn again, counted at the number the change moved SMS MFA to, not the proven throwaway", calls=2)
    report("amplify confirmUserAttribute with the new number's code: forwarded, done",
           got[13].get("name") is None and len(targets_of(seen, "VerifyUserAttribute", "123456")) == 1, json.dumps(got[13]))
    # Its second sign-in is over the new number's count: only the proof spares it.
    report("amplify signIn twice of a user who proved its new number: spared the count, an SMS code each time",
           got[15].get("next") == "CONFIRM_SIGN_IN_WITH_SMS_CODE" and got[16].get("next") == "CONFIRM_SIGN_IN_WITH_SMS_CODE",
           json.dumps([got[15], got[16]]))


def passwordless(run, chromium, work):
    """Passwordless sign-ins by SMS code (`USER_AUTH` asking for `SMS_OTP`) in a pool whose users
    sign in by phone number: no password stands between a client and the SMS, so each is a send
    to the number it names."""
    report = run.report
    us, ng = "+14155550761", "+2348031234570"
    steps = [f"otp:{us}", "confirm:123456", "signout", f"otp:{us}", f"otp:{ng}"]
    ran = page_steps(run, chromium, work, steps, "passwordless")
    if ran is None:
        return
    got, seen = ran
    report("amplify signIn by SMS code (USER_AUTH, SMS_OTP): Cognito got it once, Amplify read the code's step; "
           "confirmSignIn signed in",
           got[0].get("next") == "CONFIRM_SIGN_IN_WITH_SMS_CODE" and got[0].get("calls") == 1
           and got[1].get("next") == "DONE" and len(targets_of(seen, "InitiateAuth", us)) == 1, json.dumps(got[:2]))
    for step, reason, rule, name in ((got[3], "rate_limited", "per-number", "the same number again at once"),
                                     (got[4], "country_not_allowed", "geo", "a number of a country not served")):
        report(f"amplify signIn by SMS code, {name}: ForbiddenException naming {reason}, rule {rule}, after one request",
               step.get("name") == "ForbiddenException" and f"pumpguard: {reason}, rule {rule}" in step.get("message", "")
               and step.get("calls") == 1, json.dumps(step))
    report("amplify signIn by SMS code refused: never reached Cognito",
           len(targets_of(seen, "InitiateAuth", us)) == 1 and not targets_of(seen, "InitiateAuth", ng))


def sign_ins(run, chromium, work):
    """On /mfa, whose route counts one SMS MFA code a day per number (tests/sdk/policy.json)."""
    report = run.report
    bot, owner = "amp-mfa1@example.com", "amp-mfa2@example.com"
    steps = [f"signup:{bot}:+14155550751", f"signin:{bot}", f"signin:{bot}",
             f"signup:{owner}:+14155550752", f"signin:{owner}", "confirm:123456", "signout", f"signin:{owner}"]
    ran = page_steps(run, chromium, work, steps, "sign-ins", "/mfa")
    if ran is None:
        return
    got, seen = ran
    verifiers = targets_of(seen, "RespondToAuthChallenge", "PASSWORD_VERIFIER")
    bot_sub = json.loads(verifiers[0]["body"])["ChallengeResponses"]["USERNAME"] if verifiers else ""
    bot_verifiers = [r for r in verifiers if bot_sub and bot_sub in r.get("body", "")]
    report("amplify signIn (SRP): Cognito's PASSWORD_VERIFIER named the sub, not the e-mail; Amplify read an SMS code",
           got[1].get("next") == "CONFIRM_SIGN_IN_WITH_SMS_CODE" and got[1].get("medium") == "SMS"
           and got[1].get("calls") == 2 and bool(bot_sub) and "@" not in bot_sub, json.dumps(got[:2]))
    third = got[2]
    report("amplify signIn again, the number had its code of the day: ForbiddenException naming rate_limited, "
           "rule users-sign-in-codes, after SRP's two requests",
           third.get("name") == "ForbiddenException"
           and "pumpguard: rate_limited, rule users-sign-in-codes" in third.get("message", "")
           and third.get("calls") == 2, json.dumps(third))
    report("amplify signIn refused: its PASSWORD_VERIFIER never reached Cognito (the first one did)",
           len(bot_verifiers) == 1, f"{len(bot_verifiers)} of the user's PASSWORD_VERIFIER calls reached Cognito")
    report("amplify confirmSignIn with the SMS code: signed in",
           got[5].get("next") == "DONE" and got[6].get("name") is None, json.dumps(got[4:7]))
    report("amplify signIn of the user who entered a code: spared the count, an SMS code again",
           got[7].get("next") == "CONFIRM_SIGN_IN_WITH_SMS_CODE", json.dumps(got[7]))


def sign_ups(run, chromium, work):
    report = run.report
    profile = os.path.join(work, "chromium-profile")
    us, ng = "+14155550701", "+2348031234569"
    before = len(run.origin_requests())
    steps = [f"signup:amp-user1:{us}", f"signup:amp-user2:{ng}", f"signup:amp-user3:{us}", "resend:amp-user1",
             "reset:amp-user1", "reset:amp-nobody@example.com", "reset:AMP-Nobody@example.com"]
    results = browser.run_page(run, chromium, profile, "amplify.html", {"steps": ",".join(steps)})
    seen = run.origin_requests()[before:]
    by_step = {r.get("step"): r for r in results if isinstance(r, dict)}

    def refused(step, reason, rule, name):
        got = by_step.get(step, {})
        report(f"amplify {name}: ForbiddenException naming {reason}, rule {rule}, after one request",
               got.get("name") == "ForbiddenException" and f"pumpguard: {reason}, rule {rule}" in got.get("message", "")
               and got.get("calls") == 1, json.dumps(got))

    first = by_step.get(steps[0], {})
    report("amplify signUp (US): Cognito got it once, Amplify read a code sent by SMS",
           first.get("next") == "CONFIRM_SIGN_UP" and first.get("medium") == "SMS" and first.get("calls") == 1
           and len(sign_ups_of(seen, us)) == 1, json.dumps(results))
    refused(steps[1], "country_not_allowed", "geo", "signUp (NG)")
    report("amplify signUp (NG): never reached Cognito", not sign_ups_of(seen, ng))
    refused(steps[2], "rate_limited", "per-number", "signUp of the same number again")
    refused(steps[3], "rate_limited", "per-number", "resendSignUpCode by user name, judged as its sign-up's number")
    refused(steps[4], "rate_limited", "per-number", "resetPassword by user name, judged as its sign-up's number")
    reset = by_step.get(steps[5], {})
    report("amplify resetPassword of a user the guard saw no sign-up of: Cognito got it once, Amplify read a code by SMS",
           reset.get("next") == "CONFIRM_RESET_PASSWORD_WITH_CODE" and reset.get("medium") == "SMS"
           and reset.get("calls") == 1 and len(targets_of(seen, "ForgotPassword", "amp-nobody@")) == 1, json.dumps(reset))
    refused(steps[6], "rate_limited", "per-account", "resetPassword of the same user again, spelled otherwise")
    report("amplify resetPassword refused: never reached Cognito",
           not targets_of(seen, "ForgotPassword", "amp-user1") and not targets_of(seen, "ForgotPassword", "AMP-Nobody"))
