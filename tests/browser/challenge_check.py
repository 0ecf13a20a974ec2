#!/usr/bin/env python3
"""A page answering pumpguard's challenges, in headless Chromium through a real Envoy or the Worker.

Serves tests/browser/page.html (a phone sign-in form using clients/browser/pumpguard.js, with a
stand-in for Turnstile's script) beside the OTP route the filter guards, on one origin, and
drives Chromium at it: a challenged send is answered by the widget the refusal names and
reaches origin once with the token; a blocked number shows the guard's message without a
widget; a user who does not solve is told so and origin sees nothing; a resend too soon shows
the wait; and the same page on another origin than the API reads the guard's refusals through
the policy's `cors`. Writes a screenshot of the challenged send to --work for a person to look at.

The guard is Envoy with the filter (--host envoy, the default) or the built Worker in workerd
(--host worker); the page reaches it the same way on both: /page/ passes the guard unjudged to
the page server (Envoy: a route without the filter; the Worker: PUMPGUARD_ORIGIN_PREFIXES).

Usage: challenge_check.py [--host envoy] --envoy BIN --wasm envoy/pumpguard.wasm [--chromium BIN] [--work DIR]
       challenge_check.py --host worker [--chromium BIN] [--work DIR]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from http.server import BaseHTTPRequestHandler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "envoy"))
import e2e as E  # noqa: E402
import envoylib as L  # noqa: E402
from envoylib import check  # noqa: E402

SITE_KEY = "1x00000000000000000000AA"
# What the page serves under /page/: the form, the helper as shipped, and the widget stand-in.
PAGE_FILES = {
    "/page/": ("tests/browser/page.html", "text/html; charset=utf-8"),
    "/page/pumpguard.js": ("clients/browser/pumpguard.js", "text/javascript"),
    "/page/fake-turnstile.js": ("tests/browser/fake-turnstile.js", "text/javascript"),
}


def policy(page_origin):
    return {
        "version": 1, "default_region": "US",
        "routes": [{"id": "otp-send", "kind": "send",
                    "match": {"methods": ["POST"], "path": {"exact": "/api/otp/send"}},
                    "extract": {"json_keys": ["phone"], "token": {"header": "cf-turnstile-response"}}}],
        "rules": [
            {"id": "geo", "action": "block", "country": {"allow": ["US", "GB"]}},
            {"id": "resend-backoff", "action": "throttle",
             "backoff": {"base_seconds": 30, "factor": 2, "max_seconds": 3600, "reset_after_seconds": 86400}},
            {"id": "human", "action": "challenge", "captcha": {}},
        ],
        "captcha": {"provider": "turnstile", "secret": "test-secret", "site_key": SITE_KEY,
                    "expected_action": "sms_send"},
        "cors": {"allow_origins": [page_origin]},
    }


class PageServer:
    """The site's static files, on loopback; Envoy routes /page/ here without the filter."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rel, ctype = PAGE_FILES.get(self.path.split("?")[0], (None, None))
                if rel is None:
                    self.send_error(404)
                    return
                with open(os.path.join(ROOT, rel), "rb") as f:
                    L.answer(self, 200, f.read(), ctype)

        self.server = L.serve_loopback(Handler)
        self.port = self.server.server_address[1]

    def stop(self):
        L.stop_server(self.server)


def visit(chromium, profile, url, screenshot=None):
    """The page's DOM once its script is done (Chromium's virtual time runs the widget's timers
    at once; the network is real)."""
    argv = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--virtual-time-budget=15000"]
    if screenshot:
        argv += [f"--screenshot={screenshot}", "--window-size=720,420"]
    else:
        argv += ["--dump-dom"]
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"chromium exited {r.returncode}: {r.stderr[-1500:]}")
    return r.stdout


def status_of(dom):
    """The status line's outcome, error, wait and text, as the page wrote them."""
    m = re.search(r'<p id="status"([^>]*)>(.*?)</p>', dom, re.S)
    if not m:
        return {}
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1)))
    return {**attrs, "text": m.group(2).strip()}


def sends_to(origin_port, phone):
    return [r for r in E.origin_requests(origin_port)
            if r.get("path") == "/api/otp/send" and phone in (r.get("body") or "")]


def start_envoy(args, procs, policies, pages_port, origin, siteverify_port):
    """Envoy with one listener per policy; returns their URLs."""
    admin = L.free_port()
    sv = {"cluster": "siteverify", "authority": "challenges.cloudflare.com", "path": "/turnstile/v0/siteverify"}
    listeners, urls = [], []
    for i, policy in enumerate(policies):
        port = L.free_port()
        listener = L.listener(f"site-{i}", port, [L.wasm_filter(L.plugin_config(policy, f"site-{i}", sv, test_clock=False),
                                                               args.wasm)], skip_prefixes=["/page/"])
        L.routes_of(listener)[0]["route"]["cluster"] = "pages"
        listeners.append(listener)
        urls.append(f"http://127.0.0.1:{port}")
    config = L.bootstrap(listeners, [L.cluster("origin", origin), L.cluster("siteverify", siteverify_port),
                                     L.cluster("pages", pages_port)], admin)
    L.serve_envoy(procs, args.envoy, args.work, config, admin, log_level="warning")
    return urls


def start_worker(args, procs, policies, pages_port, origin, siteverify_port):
    """One Worker in workerd per policy; returns their URLs."""
    settings = {"PUMPGUARD_SITEVERIFY_URL": f"http://127.0.0.1:{siteverify_port}/turnstile/v0/siteverify",
                "PUMPGUARD_ORIGIN_PREFIXES": json.dumps({"/page/": f"http://127.0.0.1:{pages_port}/page/"})}
    return [L.serve_worker(procs, args.work, f"worker-{i}", policy, f"http://127.0.0.1:{origin}", settings)
            for i, policy in enumerate(policies)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", choices=["envoy", "worker"], default="envoy")
    ap.add_argument("--envoy")
    ap.add_argument("--wasm")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "browser-check"))
    args = ap.parse_args()
    if args.host == "envoy" and not (args.envoy and args.wasm):
        ap.error("--host envoy needs --envoy and --wasm")
    args.work = os.path.join(os.path.abspath(args.work), args.host)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)

    procs = L.Procs(args.work)
    siteverify = E.Siteverify(slow_seconds=1.0)
    pages = PageServer()
    # The same page served straight from its own server is of another origin than the API.
    page_origin = f"http://localhost:{pages.port}"
    try:
        origin = L.free_port()
        procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port", str(origin),
                               "--log", os.path.join(args.work, "origin.jsonl"), "--cors", page_origin])
        L.wait_http(f"http://127.0.0.1:{origin}/__origin/health", procs, "origin")
        # The same policy without `cors`: what a page of another origin sees then.
        bare_policy = {k: v for k, v in policy(page_origin).items() if k != "cors"}
        start = start_envoy if args.host == "envoy" else start_worker
        guard, no_cors = start(args, procs, [policy(page_origin), bare_policy], pages.port, origin, siteverify.port)
        print(f"{args.host} ready at {guard}", flush=True)
        profile = os.path.join(args.work, "chromium-profile")
        page = f"{guard}/page/"

        phone = "+14155550123"
        dom = visit(args.chromium, profile, f"{page}?phone=%2B14155550123")
        got = status_of(dom)
        sent = sends_to(origin, phone)
        tokens = [dict((k.lower(), v) for k, v in r.get("headers", [])).get("cf-turnstile-response") for r in sent]
        check("challenged send: the widget the refusal names (site key, action) answers it, and the code is sent",
              got.get("outcome") == "origin" and got.get("text") == f"Code sent to {phone}."
              and f'data-sitekey="{SITE_KEY}"' in dom and 'data-action="sms_send"' in dom,
              f"{got} {dom[-1500:]}")
        check("challenged send: origin saw it once, with the solved token (the unsolved try never reached it)",
              tokens == ["pass!sms_send-1"], f"{tokens}")

        dom = visit(args.chromium, profile, f"{page}?phone=%2B33612345678")
        got = status_of(dom)
        check("blocked number: the guard's message, no widget",
              got.get("outcome") == "refused" and got.get("error") == "country_not_allowed"
              and got.get("text") == "SMS to this destination country is not available."
              and 'class="fake-turnstile' not in dom, f"{got}")

        dom = visit(args.chromium, profile, f"{page}?phone=%2B14155550124&solve=no")
        got = status_of(dom)
        check("a user who does not solve is told so, and origin sees nothing",
              got.get("outcome") == "unsolved" and got.get("error") == "captcha_required"
              and not sends_to(origin, "+14155550124"), f"{got}")

        dom = visit(args.chromium, profile, f"{page}?phone=%2B14155550125&sends=2")
        got = status_of(dom)
        check("a resend too soon shows the wait, after one code sent",
              got.get("outcome") == "wait" and got.get("error") == "backoff" and got.get("retry-after") == "30"
              and len(sends_to(origin, "+14155550125")) == 1, f"{got}")

        # From a page of another origin: the guard's refusals carry the policy's CORS headers,
        # origin's answers (the preflight too) its own.
        cross = f"{page_origin}/page/?api={guard}"
        dom = visit(args.chromium, profile, f"{cross}&phone=%2B14155550126")
        got = status_of(dom)
        sent = sends_to(origin, "+14155550126")
        check("another origin's page: the challenge is read and answered, the code sent once",
              got.get("outcome") == "origin" and len(sent) == 1, f"{got} {len(sent)}")
        dom = visit(args.chromium, profile, f"{cross}&phone=%2B33612345679")
        got = status_of(dom)
        check("another origin's page: a block's message and code are readable",
              got.get("outcome") == "refused" and got.get("error") == "country_not_allowed", f"{got}")

        dom = visit(args.chromium, profile, f"{page_origin}/page/?api={no_cors}&phone=%2B33612345670")
        got = status_of(dom)
        check("another origin's page, a policy without cors: the browser hides the refusal (what cors is for)",
              got.get("outcome") == "network-error", f"{got}")

        shot = os.path.join(args.work, "challenged-send.png")
        visit(args.chromium, profile, f"{page}?phone=%2B447400123456", screenshot=shot)
        check("screenshot of a challenged send written", os.path.getsize(shot) > 5000, shot)
        print(f"screenshot: {shot}")
    except Exception:
        procs.dump_logs()
        raise
    finally:
        procs.stop()
        pages.stop()
        siteverify.stop()
    print(f"browser-{args.host}: {L.RESULTS['passed']} passed, {L.RESULTS['failed']} failed")
    sys.exit(1 if L.RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
