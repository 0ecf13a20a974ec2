"""AWS Amplify's Auth category (v6, bundled as a site bundles it), in headless Chromium, signing
users up through the guard.

tests/sdk/amplify-page.html calls `signUp` and `resendSignUpCode` with Amplify's
`userPoolEndpoint` set to the guard's host, which forwards them to the fake Cognito of
fake_apis.py. What the checks hold the guard to: a sign-up reaches Cognito once and Amplify
reads its answer (a code sent by SMS); a refusal is Amplify's `ForbiddenException` with the
guard's reason in its message, after one request (no retry), and reaches Cognito never; a
resend by user name is judged as a send to the number the user signed up with.
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


def run(run, chromium, work):
    report = run.report
    profile = os.path.join(work, "chromium-profile")
    us, ng = "+14155550701", "+2348031234569"
    before = len(run.origin_requests())
    steps = [f"signup:amp-user1:{us}", f"signup:amp-user2:{ng}", f"signup:amp-user3:{us}", "resend:amp-user1"]
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
