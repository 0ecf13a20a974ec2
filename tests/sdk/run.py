#!/usr/bin/env python3
"""The real-SDK tier (`just test-sdk`): boto3 (Cognito, SNS), twilio (Verify) and the Firebase REST
call against a real host guarding tests/sdk/policy.json, with tests/sdk/fake_apis.py as origin.

--host envoy: Envoy with the built filter (one listener); --host worker: the built Worker in
workerd (tests/sdk/serve_worker.mjs). Every server listens on 127.0.0.1, starts detached and is
stopped by PID. Prints one line per check and finally `sdk-<host>: N passed, M failed`.

Usage: run.py --host envoy --envoy BIN --wasm FILE [--work DIR]
       run.py --host worker [--work DIR]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "envoy"))
sys.path.insert(0, HERE)
import envoylib as L  # noqa: E402
import clients  # noqa: E402

RESULTS = {"passed": 0, "failed": 0}


def report(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok or not detail else f"\n      {detail}"), flush=True)


def start_envoy(args, procs, policy, origin_port):
    port, admin = L.free_port(), L.free_port()
    plugin = L.plugin_config(policy, "sdk", test_clock=False)
    config = L.bootstrap([L.listener("sdk", port, [L.wasm_filter(plugin, args.wasm)])],
                         [L.cluster("origin", origin_port)], admin)
    path = os.path.join(args.work, "envoy-sdk.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    procs.start("envoy", [args.envoy, "-c", path, "--concurrency", "1", "-l", "info",
                          "--base-id", str(admin), "--disable-hot-restart"])
    L.wait_envoy_ready(admin, procs)
    return f"http://127.0.0.1:{port}"


def start_worker(args, procs, policy, origin_url):
    url_file = os.path.join(args.work, "worker-url")
    if os.path.exists(url_file):
        os.remove(url_file)
    procs.start("worker", ["node", os.path.join(HERE, "serve_worker.mjs"), "--origin", origin_url,
                           "--policy", json.dumps(policy), "--url-file", url_file],
                cwd=os.path.join(L.ROOT, "tests", "worker"))
    for _ in range(600):
        if not procs.alive("worker"):
            raise RuntimeError("the Worker exited before it was ready")
        if os.path.exists(url_file):
            with open(url_file) as f:
                url = f.read().strip()
            if url:
                return url
        import time
        time.sleep(0.1)
    raise RuntimeError("the Worker never became ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", choices=["envoy", "worker"], required=True)
    ap.add_argument("--envoy")
    ap.add_argument("--wasm")
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", "sdk"))
    args = ap.parse_args()
    args.work = os.path.join(args.work, args.host)
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(HERE, "policy.json")) as f:
        policy = json.load(f)
    procs = L.Procs(os.path.join(args.work, "logs"))
    try:
        origin_port = L.free_port()
        origin = f"http://127.0.0.1:{origin_port}"
        procs.start("fake-apis", [sys.executable, os.path.join(HERE, "fake_apis.py"), "--port", str(origin_port)])
        L.wait_http(f"{origin}/__origin/health", procs, "fake-apis")
        if args.host == "envoy":
            url = start_envoy(args, procs, policy, origin_port)
        else:
            url = start_worker(args, procs, policy, origin)
        print(f"{args.host} ready at {url}", flush=True)
        clients.run_all(url, origin, report)
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
