#!/usr/bin/env python3
"""The simulator's closed loop through a real Envoy agrees with the same loop in process.

For each policy (the shipped example, and the example with an enforced CAPTCHA challenge) one
Envoy listener with the built filter, fresh counters and the test clock; `pumpguard simulate
--target` drives it request by request, `pumpguard simulate` (no target) drives the core in
process, both with the same seed and mix: the default mix with every campaign from the start,
so each kind of client, number plan and token behaviour is exercised, with siteverify naming
the solving device (the CAPTCHA farm on two devices). Every answer (action, status, error, rule,
Retry-After, findings) must be the same, request by request; since the loop reacts to those
answers, any difference would also change the traffic that follows.

Usage: envoy_agree.py --envoy BIN --wasm FILE --cli BIN [--work DIR] [--seed N] [--hours H]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "envoy"))
import envoylib as L  # noqa: E402

ROOT = L.ROOT
CLOCK = "x-pumpguard-test-now-ms"
TLS_HEADERS = {"ja3": "x-ja3", "ja4": "x-ja4"}
COMPARED = ["action", "status", "error", "rule", "retry_after", "findings"]


class Siteverify:
    """Turnstile's siteverify as the in-process guard models it: a `pass*` token verifies
    once; a second use is refused (`timeout-or-duplicate`); anything else is refused."""

    def __init__(self):
        seen = self.seen = set()
        lock = self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("response") or [""])[0]
                with lock:
                    fresh = token not in seen
                    seen.add(token)
                if token.startswith("pass") and fresh:
                    body = L.siteverify_valid(token)
                else:
                    body = {"success": False, "error-codes": ["timeout-or-duplicate" if not fresh else "invalid-input-response"]}
                L.answer(self, 200, json.dumps(body).encode())

        self.server = L.serve_loopback(Handler)
        self.port = self.server.server_address[1]

    def forget(self):
        """A new run with the same seed draws the same tokens: each run starts with none seen."""
        with self.lock:
            self.seen.clear()


def policies():
    example = json.load(open(os.path.join(ROOT, "examples/policy.json")))
    example["expose_findings"] = True
    challenge = json.loads(json.dumps(example))
    challenge["rules"].append({"id": "human", "action": "challenge", "captcha": {}})
    # Solves counted per solving device, as siteverify names it: the farm's devices run out.
    challenge["rules"].append({"id": "per-solver", "action": "block",
                               "rate_limit": {"key": ["captcha_solver"], "rate": 3, "per_seconds": 3600, "burst": 3}})
    recommended = json.load(open(os.path.join(ROOT, "policies/recommended.json")))
    recommended["expose_findings"] = True
    return {"example": example, "example-challenge": challenge, "recommended": recommended}


def load_truth(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "sim-envoy"))
    ap.add_argument("--seed", default="11")
    ap.add_argument("--hours", default="0.5")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    procs = L.Procs(os.path.join(args.work, "logs"))
    failed = 0
    try:
        siteverify = Siteverify()
        origin_port, admin = L.free_port(), L.free_port()
        sv = {"cluster": "siteverify", "authority": "challenges.cloudflare.com", "path": "/turnstile/v0/siteverify"}
        listeners, ports = [], {}
        for name, policy in policies().items():
            ports[name] = L.free_port()
            # A store far larger than the run, so no eviction makes Envoy forget what the core remembers.
            plugin = L.plugin_config(policy, name, sv, tls_headers=TLS_HEADERS, buckets=8192, entries=16)
            listeners.append(L.listener(name, ports[name], [L.wasm_filter(plugin, os.path.abspath(args.wasm))]))
            with open(os.path.join(args.work, f"{name}.json"), "w") as f:
                json.dump(policy, f)
        config = L.bootstrap(listeners, [L.cluster("origin", origin_port), L.cluster("siteverify", siteverify.port)], admin)
        cfg_path = os.path.join(args.work, "envoy.json")
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port", str(origin_port)])
        procs.start("envoy", [args.envoy, "-c", cfg_path, "--concurrency", "2", "-l", "warning",
                              "--base-id", str(admin), "--disable-hot-restart"])
        L.wait_http(f"http://127.0.0.1:{origin_port}/__origin/health", procs, "origin")
        L.wait_envoy_ready(admin, procs)
        mix = json.loads(subprocess.run([args.cli, "simulate", "--print-mix"], capture_output=True, text=True,
                                        check=True).stdout)
        for campaign in mix["campaigns"]:
            campaign["start_hours"] = 0.0
            if campaign["name"] == "captcha-farm":
                campaign["solver_devices"] = 2
        # Siteverify names solving devices, some shared by several real users.
        mix["captcha_solver_ids"] = {"shared_share": 0.3, "shared_ids": 20}
        mix_path = os.path.join(args.work, "mix.json")
        with open(mix_path, "w") as f:
            json.dump(mix, f)
        for name, port in ports.items():
            policy_path = os.path.join(args.work, f"{name}.json")
            common = [args.cli, "simulate", "--policy", policy_path, "--mix", mix_path, "--seed", args.seed,
                      "--hours", args.hours]
            runs = {}
            for where, extra in [("in-process", []), ("envoy", [
                    "--target", f"http://127.0.0.1:{port}", "--client-ip-header", "x-forwarded-for",
                    "--ja3-header", "x-ja3", "--ja4-header", "x-ja4", "--clock-header", CLOCK])]:
                siteverify.forget()
                truth = os.path.join(args.work, f"{name}-{where}.truth.jsonl")
                score = os.path.join(args.work, f"{name}-{where}.score.json")
                r = subprocess.run(common + extra + ["--truth", truth, "--json", score], capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"{name} {where}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
                runs[where] = (load_truth(truth), json.load(open(score)))
            (a, score_a), (b, score_b) = runs["in-process"], runs["envoy"]
            diffs = []
            for i, (x, y) in enumerate(zip(a, b)):
                for key in COMPARED:
                    if x.get(key) != y.get(key):
                        diffs.append(f"line {i + 1} ({x['truth']}, {x['kind']} {x['number']}): {key} in process {x.get(key)!r}, envoy {y.get(key)!r}")
                if len(diffs) > 10:
                    break
            if len(a) != len(b):
                diffs.append(f"{len(a)} requests in process, {len(b)} through envoy")
            if not diffs and score_a != score_b:
                diffs.append("scoreboards differ")
            actions = {}
            for x in a:
                actions[x["action"]] = actions.get(x["action"], 0) + 1
            if diffs:
                failed += 1
                print(f"FAIL {name}: in process and Envoy disagree")
                for d in diffs[:10]:
                    print("  " + d)
            else:
                print(f"ok   {name}: {len(a)} requests agree request by request ({json.dumps(actions, sort_keys=True)}); "
                      f"pumped reached {score_a['pumped']['reached_origin']}/{score_a['pumped']['sends']}, "
                      f"real users refused {score_a['legit']['sessions_refused']}/{score_a['legit']['sessions']}")
    except Exception as e:  # noqa: BLE001 - report, dump logs, fail
        failed += 1
        print(f"FAIL harness: {e}")
    finally:
        if failed:
            procs.dump_logs()
        procs.stop()
    print(f"sim-envoy: {'FAILED' if failed else 'agree'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
