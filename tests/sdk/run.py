#!/usr/bin/env python3
"""The real-SDK tier (`just test-sdk`): boto3 (Cognito, SNS), twilio (Verify), the Firebase REST
call and, in headless Chromium, the Firebase JS SDK signing in by phone (--firebase-sdk,
tests/sdk/firebase_web.py) and AWS Amplify signing users up (--amplify-sdk,
tests/sdk/amplify_web.py), supabase-js in Node signing a user in by phone (--supabase-sdk,
tests/sdk/supabase_js.py), Auth0's @auth0/auth0-auth-js in Node signing users in by SMS and
enrolling and challenging SMS factors (--auth0-sdk, tests/sdk/auth0_js.py), and Vonage's
@vonage/verify2 in Node as a site's backend calls Verify v2 through the guard (--vonage-sdk,
tests/sdk/vonage_js.py), and Clerk's @clerk/clerk-js in Node signing users up and in by SMS and
adding a user's number through the site's Frontend API proxy (--clerk-sdk,
tests/sdk/clerk_js.py), against a real host guarding tests/sdk/policy.json, with
tests/sdk/fake_apis.py as origin.

--host envoy: Envoy with the built filter (one listener); --host worker: the built Worker in
workerd (tests/worker/serve.mjs). Every server listens on 127.0.0.1, starts detached and is
stopped by PID. Prints one line per check and finally `sdk-<host>: N passed, M failed`.

Usage: run.py --host envoy --envoy BIN --wasm FILE [--work DIR] [--firebase-sdk DIR] [--amplify-sdk FILE]
                 [--supabase-sdk DIR] [--auth0-sdk DIR] [--vonage-sdk DIR] [--clerk-sdk DIR] [--chromium BIN]
       run.py --host worker [--work DIR] [--firebase-sdk DIR] [--amplify-sdk FILE] [--supabase-sdk DIR]
                 [--auth0-sdk DIR] [--vonage-sdk DIR] [--clerk-sdk DIR] [--chromium BIN]

--firebase-sdk: a folder with the npm package's firebase-app.js, firebase-auth.js and a VERSION
file (`just setup-firebase-sdk`). --amplify-sdk: Amplify's Auth bundled into one ES module
(`just setup-amplify-sdk`). --supabase-sdk: tests/sdk/supabase with its node_modules installed
(`just setup-supabase-sdk`). --auth0-sdk: tests/sdk/auth0 with its node_modules installed
(`just setup-auth0-sdk`). --vonage-sdk: tests/sdk/vonage with its node_modules installed
(`just setup-vonage-sdk`). --clerk-sdk: tests/sdk/clerk with its node_modules installed
(`just setup-clerk-sdk`).
"""

import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "envoy"))
sys.path.insert(0, HERE)
import envoylib as L  # noqa: E402
import amplify_web  # noqa: E402
import auth0_js  # noqa: E402
import clerk_js  # noqa: E402
import clients  # noqa: E402
import firebase_web  # noqa: E402
import supabase_js  # noqa: E402
import vonage_js  # noqa: E402

RESULTS = {"passed": 0, "failed": 0}


def report(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok or not detail else f"\n      {detail}"), flush=True)


# Where the Firebase JS SDK's calls go: it asks the host `connectAuthEmulator` names for
# /identitytoolkit.googleapis.com/v1/..., which the host forwards to Google as /v1/... (here the
# fake Google of fake_apis.py), as docs/clients.md configures Envoy and the Worker.
GOOGLE_PREFIX = "/identitytoolkit.googleapis.com/"


def start_envoy(args, procs, policy, origin_port):
    port, admin = L.free_port(), L.free_port()
    plugin = L.plugin_config(policy, "sdk", test_clock=False)
    listener = L.listener("sdk", port, [L.wasm_filter(plugin, args.wasm)])
    L.routes_of(listener).insert(0, {"match": {"prefix": GOOGLE_PREFIX, "case_sensitive": False},
                                     "route": {"cluster": "origin", "prefix_rewrite": "/"},
                                     "request_headers_to_remove": ["cookie"]})
    L.serve_envoy(procs, args.envoy, args.work, L.bootstrap([listener], [L.cluster("origin", origin_port)], admin), admin)
    return f"http://127.0.0.1:{port}"


def start_worker(args, procs, policy, origin_url):
    prefixes = {GOOGLE_PREFIX: f"{origin_url}/"}
    return L.serve_worker(procs, args.work, "worker", policy, origin_url,
                          {"PUMPGUARD_ORIGIN_PREFIXES": json.dumps(prefixes)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", choices=["envoy", "worker"], required=True)
    ap.add_argument("--envoy")
    ap.add_argument("--wasm")
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", "sdk"))
    ap.add_argument("--firebase-sdk")
    ap.add_argument("--amplify-sdk")
    ap.add_argument("--supabase-sdk")
    ap.add_argument("--auth0-sdk")
    ap.add_argument("--vonage-sdk")
    ap.add_argument("--clerk-sdk")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = ap.parse_args()
    args.work = os.path.join(os.path.abspath(args.work), args.host)
    if args.firebase_sdk:
        args.firebase_sdk = os.path.abspath(args.firebase_sdk)
    if args.amplify_sdk:
        args.amplify_sdk = os.path.abspath(args.amplify_sdk)
    if args.supabase_sdk:
        args.supabase_sdk = os.path.abspath(args.supabase_sdk)
    if args.auth0_sdk:
        args.auth0_sdk = os.path.abspath(args.auth0_sdk)
    if args.vonage_sdk:
        args.vonage_sdk = os.path.abspath(args.vonage_sdk)
    if args.clerk_sdk:
        args.clerk_sdk = os.path.abspath(args.clerk_sdk)
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(HERE, "policy.json")) as f:
        policy = json.load(f)
    procs = L.Procs(os.path.join(args.work, "logs"))
    try:
        origin_port = L.free_port()
        origin = f"http://127.0.0.1:{origin_port}"
        fake_apis = [sys.executable, os.path.join(HERE, "fake_apis.py"), "--port", str(origin_port)]
        page_dir = os.path.join(args.work, "page")
        if args.firebase_sdk:
            version = firebase_web.prepare_pages(args.firebase_sdk, page_dir)
            print(f"Firebase JS SDK {version}", flush=True)
        if args.amplify_sdk:
            amplify_web.prepare_pages(args.amplify_sdk, page_dir)
        if args.firebase_sdk or args.amplify_sdk:
            fake_apis += ["--page-dir", page_dir]
        procs.start("fake-apis", fake_apis)
        L.wait_http(f"{origin}/__origin/health", procs, "fake-apis")
        if args.host == "envoy":
            url = start_envoy(args, procs, policy, origin_port)
        else:
            url = start_worker(args, procs, policy, origin)
        print(f"{args.host} ready at {url}", flush=True)
        clients.run_all(url, origin, report)
        if args.firebase_sdk:
            firebase_web.run(clients.Run(url, origin, report), args.chromium, args.work)
        if args.amplify_sdk:
            amplify_web.run(clients.Run(url, origin, report), args.chromium, args.work)
        if args.supabase_sdk:
            supabase_js.run(clients.Run(url, origin, report), args.supabase_sdk)
        if args.auth0_sdk:
            auth0_js.run(clients.Run(url, origin, report), args.auth0_sdk)
        if args.vonage_sdk:
            vonage_js.run(clients.Run(url, origin, report), args.vonage_sdk)
        if args.clerk_sdk:
            clerk_js.run(clients.Run(url, origin, report), args.clerk_sdk)
    except Exception as e:  # noqa: BLE001
        report(f"{args.host} harness", False, f"{type(e).__name__}: {e}")
    finally:
        if RESULTS["failed"]:
            procs.dump_logs()
        procs.stop()
    print(f"sdk-{args.host}: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
