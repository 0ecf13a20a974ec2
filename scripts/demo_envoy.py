#!/usr/bin/env python3
"""`just demo-envoy`: pumpguard in a real Envoy in front of an OTP endpoint.

Starts the demo origin (tests/origin.py --demo: logs the SMS it would send) on 127.0.0.1:18080
and Envoy with envoy/envoy.yaml (filter + examples/policy.json) on 127.0.0.1:10000, sends a
short mix of legitimate sign-ups and an SMS pumping campaign, prints what happened to each
request and a summary (sent to origin vs blocked, per reason), and stops everything it started.

Usage: demo_envoy.py --envoy BIN [--work DIR]
"""

import argparse
import collections
import json
import os
import socket
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "envoy"))
import envoylib as L  # noqa: E402

PROXY, ADMIN, ORIGIN = 10000, 9901, 18080


def traffic():
    """(kind, what, client ip, path, body) in sending order."""
    legit = [
        ("+14155550123", "198.51.100.10"), ("+12125550199", "198.51.100.11"), ("+16135550142", "198.51.100.12"),
        ("+447400123456", "198.51.100.13"), ("+4915112345678", "198.51.100.14"), ("+33612345678", "198.51.100.15"),
    ]
    out = []
    for phone, ip in legit:
        out.append(("legit", "sign-up", ip, "/api/otp/send", {"phone": phone}))
        out.append(("legit", "enter code", ip, "/api/otp/verify", {"phone": phone}))
    # The campaign: a bot farm asks for codes it never enters.
    for i, phone in enumerate(["+2348031234567", "+2348031234568", "+6281234567890", "+88216123456"]):
        out.append(("campaign", "foreign destination", f"203.0.113.{10 + i}", "/api/otp/send", {"phone": phone}))
    for i in range(3):
        out.append(("campaign", "premium-rate number", f"203.0.113.{20 + i}", "/api/otp/send",
                    {"phone": f"+1900555{1000 + i}"}))
    for i in range(3):
        out.append(("campaign", "pumped range", f"203.0.113.{30 + i}", "/api/otp/send", {"phone": f"+44701234567{i}"}))
    for i in range(8):
        out.append(("campaign", "one IP, many numbers", "203.0.113.40", "/api/otp/send",
                    {"phone": f"+1646555{2000 + 37 * i:04d}"}))
    for i in range(8):
        out.append(("campaign", "walking a number range", f"203.0.113.{50 + i}", "/api/otp/send",
                    {"phone": f"+1312555{3000 + i:04d}"}))
    for i in range(4):
        out.append(("campaign", "same number again", f"203.0.113.{70 + i}", "/api/otp/send", {"phone": "+17185550155"}))
    out.append(("campaign", "no phone number", "203.0.113.80", "/api/otp/send", {"email": "x@example.com"}))
    # Real users still get through after the campaign.
    out.append(("legit", "sign-up", "198.51.100.20", "/api/otp/send", {"phone": "+15035550177"}))
    out.append(("legit", "enter code", "198.51.100.20", "/api/otp/verify", {"phone": "+15035550177"}))
    return out


def send(path, body, ip):
    data = json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{PROXY}{path}", data=data, method="POST",
                                 headers={"content-type": "application/json", "x-forwarded-for": ip,
                                          "host": "app.example.com", "user-agent": "demo/1.0"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", "demo-envoy"))
    args = ap.parse_args()
    busy = [p for p in (PROXY, ADMIN, ORIGIN) if not port_free(p)]
    if busy:
        sys.exit(f"demo-envoy: ports {busy} on 127.0.0.1 are in use (envoy/envoy.yaml uses {PROXY}, {ADMIN}, {ORIGIN})")
    procs = L.Procs(os.path.join(args.work, "logs"))
    ok = False
    try:
        procs.start("origin", [sys.executable, os.path.join(L.ROOT, "tests/origin.py"), "--port", str(ORIGIN), "--demo"])
        procs.start("envoy", [args.envoy, "-c", "envoy/envoy.yaml", "--concurrency", "2", "--disable-hot-restart",
                              "-l", "info"])
        L.wait_http(f"http://127.0.0.1:{ORIGIN}/__origin/health", procs, "origin")
        L.wait_envoy_ready(ADMIN, procs)
        print(f"Envoy {PROXY} (filter + examples/policy.json) -> demo OTP origin {ORIGIN}\n")
        rows = []
        for kind, what, ip, path, body in traffic():
            status, headers, data = send(path, body, ip)
            hdrs = {k.lower(): v for k, v in headers.items()}
            forwarded = hdrs.get("x-test-origin") == "ok"
            reason = "-"
            if not forwarded:
                try:
                    err = json.loads(data)
                    reason = err.get("error", "?") + (f" ({err['rule']})" if err.get("rule") else "")
                except ValueError:
                    reason = "?"
            phone = body.get("phone", "-")
            rows.append((kind, what, path, phone, status, forwarded, reason))
            verdict = "-> origin" if forwarded else f"blocked {status} {reason}"
            print(f"  {kind:<8} {what:<22} {path:<16} {phone:<16} {verdict}")
        print("\nSummary (sends only; /api/otp/verify is never judged, it feeds conversion tracking):")
        for kind in ("legit", "campaign"):
            sends = [r for r in rows if r[0] == kind and r[2] == "/api/otp/send"]
            fwd = sum(1 for r in sends if r[5])
            print(f"  {kind:<8}  {len(sends):>3} sends: {fwd:>3} sent to origin, {len(sends) - fwd:>3} blocked")
        reasons = collections.Counter(r[6] for r in rows if not r[5])
        print("  blocked per reason:")
        for reason, n in reasons.most_common():
            print(f"    {n:>3}  {reason}")
        with open(os.path.join(args.work, "logs", "origin.log")) as f:
            sms = [l.strip() for l in f if "would send SMS" in l]
        print(f"  origin was asked for {len(sms)} SMS (its log):")
        for l in sms:
            print("    " + l)
        with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/stats/prometheus", timeout=5) as r:
            prom = [l for l in r.read().decode().splitlines() if l.startswith("pumpguard_decisions{")]
        print(f"  Prometheus (http://127.0.0.1:{ADMIN}/stats/prometheus), {len(prom)} pumpguard_decisions series, e.g.:")
        for l in prom[:4]:
            print("    " + l)
        legit_blocked = [r for r in rows if r[0] == "legit" and not r[5]]
        ok = not legit_blocked and any(not r[5] for r in rows if r[0] == "campaign")
        if legit_blocked:
            print(f"demo-envoy: legitimate requests were blocked: {legit_blocked}")
    except Exception:
        procs.dump_logs()
        raise
    finally:
        if not ok:
            procs.dump_logs(40)
        procs.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
