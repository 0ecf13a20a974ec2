#!/usr/bin/env python3
"""Every dashboard query and every rule expression against a real Prometheus scraping a real
Envoy: each must return series.

Starts (loopback, free ports, each stopped by PID): the demo origin, Envoy with the shipped
envoy/envoy.yaml (ports rewritten; its turnstile cluster pointed at a local fake siteverify;
one extra enforced `challenge` rule so CAPTCHA callouts really happen), and Prometheus loading
envoy/prometheus/pumpguard.rules.yml and scraping Envoy's /stats/prometheus every second. Sends
the demo's legitimate sign-ups and pumping campaign (scripts/demo_envoy.py) plus challenged
requests whose tokens pass, fail and break siteverify, then:

- every recording rule's expression returns series, and so does its recorded name (Prometheus
  evaluated it); every rule's health is ok;
- every alert's expression returns series with its comparisons made `bool` (an alert that is
  not firing still proves its labels and joins are right);
- every target of envoy/grafana/pumpguard.json returns series, with $plugin = all,
  $siteverify_cluster = turnstile, $__rate_interval = 1m.

Usage: live_metrics.py --envoy BIN --prometheus BIN [--work DIR]
"""

import argparse
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "envoy"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import envoylib as L  # noqa: E402
import demo_envoy as demo  # noqa: E402

RULES = os.path.join(ROOT, "envoy", "prometheus", "pumpguard.rules.yml")
DASHBOARD = os.path.join(ROOT, "envoy", "grafana", "pumpguard.json")
# Numbers the extra rule challenges: a token is needed, and siteverify is called for it.
CHALLENGED_PREFIX = "+1206"


class Siteverify:
    """Fake siteverify: tokens pass* verify, fail* are refused, anything else gets HTTP 500."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("response") or [""])[0]
                if token.startswith("pass"):
                    status, body = 200, {"success": True, "hostname": "app.example.com"}
                elif token.startswith("fail"):
                    status, body = 200, {"success": False, "error-codes": ["invalid-input-response"]}
                else:
                    status, body = 500, {"error": "boom"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # Envoy closing a pooled connection is no failure of the test

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def envoy_config(proxy, admin, origin, siteverify):
    """envoy/envoy.yaml as shipped, on free ports, siteverify local, one challenge rule more."""
    with open(os.path.join(ROOT, "envoy", "envoy.yaml")) as f:
        cfg = yaml.safe_load(f)
    cfg["admin"]["address"]["socket_address"]["port_value"] = admin
    (listener,) = cfg["static_resources"]["listeners"]
    listener["address"]["socket_address"]["port_value"] = proxy
    for c in cfg["static_resources"]["clusters"]:
        if c["name"] == "origin":
            c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] = origin
        if c["name"] == "turnstile":
            c.pop("transport_socket", None)
            c.pop("dns_lookup_family", None)
            c["type"] = "STATIC"
            c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] = {
                "address": "127.0.0.1", "port_value": siteverify}
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    (wasm,) = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.wasm"]
    configuration = wasm["typed_config"]["config"]["configuration"]
    plugin = json.loads(configuration["value"])
    plugin["policy"]["rules"].append(
        {"id": "captcha-gate", "action": "challenge", "prefix": {"prefixes": [CHALLENGED_PREFIX]}})
    configuration["value"] = json.dumps(plugin)
    return cfg


def prometheus_config(admin):
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [RULES],
        "scrape_configs": [{
            "job_name": "envoy",
            "metrics_path": "/stats/prometheus",
            "static_configs": [{"targets": [f"127.0.0.1:{admin}"]}],
        }],
    }


def send(proxy, path, body, ip, token=None):
    headers = {"content-type": "application/json", "x-forwarded-for": ip, "host": "app.example.com"}
    if token is not None:
        headers["cf-turnstile-response"] = token
    req = urllib.request.Request(f"http://127.0.0.1:{proxy}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, **params):
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())

    def query(self, expr):
        """(error or None, number of series)."""
        try:
            answer = self.get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as e:
            return json.loads(e.read()).get("error", str(e)), 0
        return None, len(answer["data"]["result"])


def with_bool_comparisons(expr):
    """`a > 3 * b and a > 0.05` -> `a > bool 3 * b and a > bool 0.05`: series whether or not
    the alert fires, so the test sees that its series and joins exist."""
    return re.sub(r"(>=|<=|==|!=|>|<)\s*(?=[0-9.])", r"\1 bool ", expr)


def dashboard_queries():
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    for panel in dashboard["panels"]:
        for target in panel.get("targets") or []:
            expr = (target["expr"].replace("$__rate_interval", "1m").replace("$plugin", ".*")
                    .replace("$siteverify_cluster", "turnstile"))
            yield f'panel "{panel["title"]}" {target["refId"]}', expr


def metric_names(expr):
    """Metric names an expression reads (recorded `a:b:c` names aside), and its __name__ regexes."""
    bare = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    bare = re.sub(r"\b(?:by|on|without|ignoring)\s*\([^)]*\)", "", bare)  # label lists
    names = set(re.findall(r"\b((?:pumpguard|envoy)_[a-z0-9_]+)\b", bare))
    return names, re.findall(r'__name__=~"([^"]+)"', expr)


def filter_store_metrics():
    """The eviction counters the filter defines (filter/src/adapter.rs): they only appear once
    the store is full, which this test does not drive."""
    with open(os.path.join(ROOT, "filter", "src", "adapter.rs")) as f:
        kinds = re.findall(r'\("([a-z_]+)", pressure\.', f.read())
    return {f"pumpguard_store_eviction_{kind}" for kind in kinds}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "ops-live-metrics"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    proxy, admin, origin, prom_port = (L.free_port() for _ in range(4))
    siteverify = Siteverify()
    envoy_path = os.path.join(args.work, "envoy.json")
    prom_path = os.path.join(args.work, "prometheus.yml")
    with open(envoy_path, "w") as f:
        json.dump(envoy_config(proxy, admin, origin, siteverify.port), f)
    with open(prom_path, "w") as f:
        json.dump(prometheus_config(admin), f)
    tsdb = os.path.join(args.work, "tsdb")
    if os.path.isdir(tsdb):
        import shutil
        shutil.rmtree(tsdb)
    procs = L.Procs(os.path.join(args.work, "logs"))
    failures = []
    try:
        procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port", str(origin)])
        procs.start("envoy", [args.envoy, "-c", envoy_path, "--concurrency", "2", "--disable-hot-restart"])
        procs.start("prometheus", [args.prometheus, f"--config.file={prom_path}", f"--storage.tsdb.path={tsdb}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
        L.wait_http(f"http://127.0.0.1:{origin}/__origin/health", procs, "origin")
        L.wait_envoy_ready(admin, procs)
        L.wait_http(f"http://127.0.0.1:{prom_port}/-/ready", procs, "prometheus")
        prom = Prometheus(prom_port)

        statuses = [send(proxy, path, body, ip) for _, _, ip, path, body in demo.traffic()]
        for i, token in enumerate(["pass-1", "pass-2", "fail-1", "broken-1", None]):
            statuses.append(send(proxy, "/api/otp/send", {"phone": f"+1206555{1000 + i:04d}"}, f"192.0.2.{i + 1}", token))
        print(f"live-metrics: {len(statuses)} requests through Envoy, statuses {sorted(set(statuses))}")

        # Until every pumpguard series has 3 samples, then a few more rounds of rule evaluation.
        deadline = time.monotonic() + 60
        while True:
            _, seen = prom.query("pumpguard_decisions")
            _, young = prom.query("count_over_time(pumpguard_decisions[1m]) < 3")
            if seen and not young:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus never had the samples ({seen} series, {young} too young)")
            time.sleep(0.5)
        time.sleep(3)

        with open(RULES) as f:
            groups = yaml.safe_load(f)["groups"]
        checks = []
        for group in groups:
            for rule in group["rules"]:
                if "record" in rule:
                    checks.append((f"record {rule['record']}", rule["expr"]))
                    checks.append((f"recorded {rule['record']}", rule["record"]))
                else:
                    checks.append((f"alert {rule['alert']}", with_bool_comparisons(rule["expr"])))
        checks.extend(dashboard_queries())
        for name, expr in checks:
            error, series = prom.query(expr)
            ok = error is None and series > 0
            print(f"{'ok  ' if ok else 'FAIL'}  {series:>3} series  {name}" + (f": {error}" if error else ""))
            if not ok:
                failures.append(name)
        # A query falls back to 0 where failures are absent, so its names are checked on their own:
        # each one Envoy exports (or the filter defines), each __name__ regex matching one.
        exported = set(prom.get("/api/v1/label/__name__/values")["data"]) | filter_store_metrics()
        for name, expr in checks:
            names, patterns = metric_names(expr)
            unknown = sorted(n for n in names if n not in exported and not n.endswith("_bucket"))
            unknown += [p for p in patterns if not any(re.fullmatch(p, n) for n in exported)]
            if unknown:
                failures.append(f"{name}: unknown metrics {unknown}")
                print(f"FAIL  {name}: no such metric {unknown}")
        for group in prom.get("/api/v1/rules")["data"]["groups"]:
            for rule in group["rules"]:
                if rule.get("health") != "ok":
                    failures.append(f"rule {rule['name']} health {rule.get('health')}: {rule.get('lastError')}")
                    print(f"FAIL  rule {rule['name']}: {rule.get('lastError')}")
        print(f"live-metrics: {len(checks) - len(failures)} of {len(checks)} queries return series")
    except Exception:
        procs.dump_logs(40)
        raise
    finally:
        if failures:
            procs.dump_logs(20)
        procs.stop()
        siteverify.stop()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
