"""The Firebase JS SDK as shipped, in headless Chromium, signing in by phone through the guard.

tests/sdk/firebase-page.html runs `signInWithPhoneNumber` and `confirm`, a second factor's
enrolment and a second-factor sign-in (`signInWithEmailAndPassword`, then the resolver) with the SDK's
Auth calls sent to the guard's host (`connectAuthEmulator`: /identitytoolkit.googleapis.com/...),
which forwards them to the fake Google of fake_apis.py as Google's own paths (/v1/...). What
the checks hold the guard to: the bodies the SDK really builds
(where reCAPTCHA Enterprise is off, `captchaResponse: "NO_RECAPTCHA"` beside the v2
`recaptchaToken`; under Enterprise, its token alone) reach Google once each and the user is
signed in; a refusal reaches the page as the SDK's own error code, with the guard's reason in
its message, and nothing reaches Google.
"""

import json
import os
import shutil

import browser

SDK_FILES = ("firebase-app.js", "firebase-auth.js")


def prepare_pages(sdk_dir, page_dir):
    """Writes the page and the SDK's two scripts to `page_dir` (served by fake_apis.py under
    /page/). The page maps the URL the auth script imports the app script from to the copy here."""
    os.makedirs(page_dir, exist_ok=True)
    with open(os.path.join(sdk_dir, "VERSION")) as f:
        version = f.read().strip()
    for name in SDK_FILES:
        shutil.copy(os.path.join(sdk_dir, name), os.path.join(page_dir, name))
    browser.copy_page("firebase-page.html", page_dir, "firebase.html", {"FIREBASE_VERSION": version})
    return version


def sign_in(run, chromium, profile, key, phones, enroll=None):
    """The page's results for signing in each phone, in order, with a fresh browser profile."""
    return browser.run_page(run, chromium, profile, "firebase.html",
                            {"key": key, "phones": ",".join(phones), "code": "123456",
                             **({"enroll": enroll} if enroll else {})})


def sends_of(requests, phone):
    """What reached Google's sendVerificationCode for `phone`: path and parsed body."""
    out = []
    for r in requests:
        if r.get("method") == "POST" and "accounts:sendVerificationCode" in r.get("path", ""):
            try:
                body = json.loads(r.get("body") or "{}")
            except ValueError:
                continue
            if body.get("phoneNumber") == phone:
                out.append((r["path"], body))
    return out


def confirms_of(requests, phone):
    return [r for r in requests if "accounts:signInWithPhoneNumber" in r.get("path", "")
            and phone in (r.get("body") or "")]


def run(run, chromium, work):
    """The checks, reported through `run.report`; `run` is clients.Run (its guard URL and origin)."""
    report = run.report
    profile = os.path.join(work, "chromium-profile")
    default_flow, enterprise, blocked, twice = "+14155550601", "+14155550602", "+2348031234568", "+14155550603"
    second_factor = "+14155550604"

    # reCAPTCHA Enterprise off for phone sign-in (every project's default); the user then
    # enrols a second phone as its second factor.
    results = sign_in(run, chromium, profile, "web", [default_flow], enroll=second_factor)
    seen = run.origin_requests()
    sends = sends_of(seen, default_flow)
    report("firebase JS SDK (Enterprise off): signed in", results[:1] == [{"phone": default_flow, "signedIn": default_flow}],
           json.dumps(results))
    body = sends[0][1] if sends else {}
    report("firebase JS SDK (Enterprise off): Google got the send once, as the SDK built it "
           "(captchaResponse NO_RECAPTCHA beside recaptchaToken)",
           len(sends) == 1 and body.get("captchaResponse") == "NO_RECAPTCHA" and bool(body.get("recaptchaToken"))
           and sends[0][0].startswith("/v1/accounts:sendVerificationCode?"),
           json.dumps(sends))
    report("firebase JS SDK (Enterprise off): the code's check reached Google", len(confirms_of(seen, default_flow)) == 1)
    google = [r for r in seen if r.get("path", "").startswith(("/v1/", "/v2/"))]
    leaked = [r["path"] for r in google if "site-secret" in json.dumps(r.get("headers", {}))]
    page_calls = [r for r in seen if r.get("path", "").startswith("/page/results")]
    report("firebase JS SDK: the site's cookie never reached Google (it did reach the site's own paths)",
           bool(google) and not leaked and any("site-secret" in json.dumps(r.get("headers", {})) for r in page_calls),
           f"leaked to {leaked}")
    enrolments = [json.loads(r.get("body") or "{}") for r in seen if "mfaEnrollment:start" in r.get("path", "")]
    info = enrolments[0].get("phoneEnrollmentInfo", {}) if len(enrolments) == 1 else {}
    report("firebase JS SDK: a second factor enrolled (mfaEnrollment:start with NO_RECAPTCHA beside recaptchaToken, "
           "then finalize)", results[1:] == [{"enrolled": [second_factor]}] and info.get("phoneNumber") == second_factor
           and info.get("captchaResponse") == "NO_RECAPTCHA" and bool(info.get("recaptchaToken")),
           json.dumps({"results": results, "enrolments": enrolments}))

    # reCAPTCHA Enterprise enforced: its token in captchaResponse, no recaptchaToken.
    results = sign_in(run, chromium, profile, "enterprise", [enterprise])
    sends = sends_of(run.origin_requests(), enterprise)
    body = sends[0][1] if sends else {}
    report("firebase JS SDK (Enterprise enforced): signed in", results == [{"phone": enterprise, "signedIn": enterprise}],
           json.dumps(results))
    report("firebase JS SDK (Enterprise enforced): Google got the send once, with the Enterprise token alone",
           len(sends) == 1 and body.get("captchaResponse") not in (None, "", "NO_RECAPTCHA")
           and "recaptchaToken" not in body, json.dumps(sends))

    # Refusals: a country the policy does not serve, and a second send to one number at once.
    before = len(run.origin_requests())
    results = sign_in(run, chromium, profile, "web", [blocked, twice, twice])
    seen = run.origin_requests()
    first = results[0] if results else {}
    report("firebase JS SDK: a blocked country is auth/operation-not-allowed with the guard's reason",
           first.get("code") == "auth/operation-not-allowed"
           and "pumpguard: country_not_allowed, rule geo" in first.get("message", ""), json.dumps(first))
    report("firebase JS SDK: the blocked send never reached Google", not sends_of(seen[before:], blocked))
    again = results[2] if len(results) > 2 else {}
    report("firebase JS SDK: the same number again at once is auth/too-many-requests",
           results[1:2] == [{"phone": twice, "signedIn": twice}] and again.get("code") == "auth/too-many-requests",
           json.dumps(results))
    report("firebase JS SDK: the throttled send never reached Google", len(sends_of(seen, twice)) == 1)

    # A second-factor sign-in names the enrolment, never the number: judged by that account.
    email = "mfa-user@example.com"
    results = browser.run_page(run, chromium, profile, "firebase.html",
                               {"key": "web", "code": "123456", "mfa": email, "mfaTimes": "2"})
    starts = [json.loads(r.get("body") or "{}") for r in run.origin_requests()
              if "mfaSignIn:start" in r.get("path", "") and email in (r.get("body") or "")]
    info = starts[0].get("phoneSignInInfo", {}) if starts else {}
    report("firebase JS SDK: a second-factor sign-in (mfaSignIn:start naming the enrolment, then finalize) signed in",
           results[:1] == [{"mfa": email, "signedIn": "uid-" + email}]
           and starts[:1] and starts[0].get("mfaEnrollmentId") == "enrolment-" + email
           and info.get("captchaResponse") == "NO_RECAPTCHA" and bool(info.get("recaptchaToken")),
           json.dumps({"results": results, "starts": starts}))
    again = results[1] if len(results) > 1 else {}
    report("firebase JS SDK: the same second factor again at once is auth/too-many-requests naming per-account, "
           "and never reached Google",
           again.get("code") == "auth/too-many-requests" and "rule per-account" in again.get("message", "")
           and len(starts) == 1, json.dumps({"results": results, "starts": len(starts)}))
