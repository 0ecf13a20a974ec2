#!/usr/bin/env python3
"""End-to-end tests of the built filter in a real Envoy (`just e2e-envoy`).

One Envoy (`--concurrency 2`) is started with one listener per scenario of tests/scenarios/
(each its own plugin config and shared-data namespace), plus listeners for the checks the
corpus cannot express: chunked and split bodies, HTTP/2 with trailers, oversized bodies, origin
sees nothing of a blocked request, exact counting under concurrency, siteverify timeout,
client address from x-forwarded-for, the client's country from envoy/geoip-filters.yaml,
metrics, blocks holding through an eviction flood of a tiny store (with the decision log
bounded). Policies the corpus expects to be refused, and a
bad host setting, are checked with `envoy --mode validate`, as is every shipped Envoy config.
The TLS fingerprint test runs envoy/envoy-tls.yaml with a certificate made here by openssl.

Usage: e2e.py --envoy BIN --wasm FILE --cli BIN [--work DIR] [--only SUBSTRING]
Prints one line per check and finally `e2e-envoy: N passed, M failed`.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import envoylib as L  # noqa: E402

ROOT = L.ROOT
CLOCK = "x-pumpguard-test-now-ms"
# The scenario listeners have no header_mutation: the runner's headers stand in for Envoy's.
TLS_HEADERS = {"ja3": "x-ja3", "ja4": "x-ja4"}
# Likewise for the bot signals a trusted proxy in front would set (records' `edge`).
EDGE_HEADERS = {"bot_score": "x-bot-score", "verified_bot": "x-verified-bot"}
# Concurrency check: CONC_SENDS sends for one number over CONC_CONNS keep-alive connections.
CONC_BURST, CONC_SENDS, CONC_CONNS = 400, 1000, 16
# Eviction flood: a store of EVICT_BUCKETS x EVICT_ENTRIES entries, EVICT_FLOOD allowed sends of
# distinct numbers from distinct addresses over EVICT_CONNS keep-alive connections.
EVICT_BUCKETS, EVICT_ENTRIES, EVICT_FLOOD, EVICT_CONNS = 16, 4, 3000, 8
# Number lookups: the extra checks' timeout; the fake provider's slow answers come well after it.
INTEL_TIMEOUT_MS = 300
# The header envoy/geoip-filters.yaml writes the client's country into.
GEO_HEADER = "x-client-country"
RESULTS, FAILURES, check = L.RESULTS, L.FAILURES, L.check


# ---------------------------------------------------------------- fake siteverify

class Siteverify:
    """The token convention of core/src/scenario.rs: pass* valid (pass@D-* solved on device D),
    fail* refused, slow* answers
    after the policy's timeout, junk* a 200 that is not JSON, shape* JSON without `success`,
    anything else HTTP 500."""

    def __init__(self, slow_seconds):
        self.slow_seconds = slow_seconds
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("response") or [""])[0]
                outer.seen.append({"path": self.path, "host": self.headers.get("host"),
                                   "content_type": self.headers.get("content-type"),
                                   "form": {k: v[0] for k, v in form.items()}})
                if token.startswith("slow"):
                    time.sleep(outer.slow_seconds)
                if token.startswith("pass") or token.startswith("slow"):
                    status, body = 200, L.siteverify_valid(token)
                elif token.startswith("fail"):
                    status, body = 200, {"success": False, "error-codes": ["invalid-input-response"]}
                elif token.startswith("shape"):
                    status, body = 200, {"ok": True}
                else:
                    status, body = 500, {"error": "boom"}
                data = json.dumps(body).encode()
                ctype = "application/json"
                if token.startswith("junk"):
                    status, data, ctype = 200, b"<html><body>502 Bad Gateway</body></html>", "text/html"
                L.answer(self, status, data, ctype)

        self.server = L.serve_loopback(Handler)
        self.port = self.server.server_address[1]

    def stop(self):
        L.stop_server(self.server)


# ---------------------------------------------------------------- HTTP helpers

def http1(port, method, path, headers=(), body=b"", chunks=None, timeout=20):
    """Raw HTTP/1.1 request; `chunks`: send the body as these chunked-encoding pieces.
    Returns (status, headers dict, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = f"{method} {path} HTTP/1.1\r\nhost: app.example.com\r\nconnection: close\r\n"
        for k, v in headers:
            head += f"{k}: {v}\r\n"
        if chunks is not None:
            head += "transfer-encoding: chunked\r\n\r\n"
            s.sendall(head.encode())
            for c in chunks:
                s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
                time.sleep(0.01)  # let Envoy see separate reads; no assertion depends on it
            s.sendall(b"0\r\n\r\n")
        else:
            head += f"content-length: {len(body)}\r\n\r\n"
            # latin-1: one byte per character, so a test can send obs-text (bytes >= 0x80)
            s.sendall(head.encode("latin-1") + body)
        data = b""
        while True:
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                break
            if not got:
                break
            data += got
    finally:
        s.close()
    return parse_response(data)


def http1_split(port, path, headers, parts, timeout=20):
    """Content-Length body written in several separate sends."""
    body = b"".join(parts)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = f"POST {path} HTTP/1.1\r\nhost: app.example.com\r\nconnection: close\r\n"
        for k, v in headers:
            head += f"{k}: {v}\r\n"
        head += f"content-length: {len(body)}\r\n\r\n"
        s.sendall(head.encode())
        for p in parts:
            time.sleep(0.01)
            s.sendall(p)
        data = b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    finally:
        s.close()
    return parse_response(data)


def parse_response(data):
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return 0, {}, data
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body += buf[:size]
            buf = buf[size + 2:]
        rest = body
    return status, hdrs, rest


def origin_requests(origin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{origin_port}/__origin/requests", timeout=10) as r:
        return json.loads(r.read())


def origin_saw(origin_port, test_id):
    return [r for r in origin_requests(origin_port) if any(k == "x-test-id" and v == test_id for k, v in r["headers"])]


# ---------------------------------------------------------------- policies of the extra checks

def extra_policy():
    return {
        "version": 1,
        "default_region": "US",
        "expose_findings": True,
        "routes": [
            {"id": "otp", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp"}},
             "extract": {"json_keys": ["phone"], "form_fields": ["phone"],
                         "token": {"header": "cf-turnstile-response"}}},
        ],
        "inputs": {"max_body_bytes": 256, "on_oversize": "block"},
        "rules": [
            {"id": "geo", "action": "block", "country": {"allow": ["US", "CA", "GB", "DE", "FR"]}},
            {"id": "per-number", "action": "throttle",
             "rate_limit": {"key": ["number"], "rate": 1, "per_seconds": 3600, "burst": 20}},
            {"id": "per-ip", "action": "throttle",
             "rate_limit": {"key": ["client_ip"], "rate": 1, "per_seconds": 3600, "burst": 2}},
            {"id": "watch-de", "action": "block", "shadow": True, "country": {"deny": ["DE"]}},
        ],
    }


def send_route_policy(rules, **more):
    """A policy with one send route (POST /api/otp, JSON `phone`), findings shown to origin."""
    return {
        "version": 1,
        "default_region": "US",
        "expose_findings": True,
        "routes": [{"id": "otp", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp"}},
                    "extract": {"json_keys": ["phone"]}}],
        "rules": rules,
        **more,
    }


def geo_policy():
    """`client_country` against the header envoy/geoip-filters.yaml writes; `missing` on, so a
    request whose address the database lacks is told apart from one that matched."""
    return send_route_policy([{"id": "abroad", "action": "log",
                               "client_country": {"header": GEO_HEADER, "missing": True}}])


def tor_geo_policy():
    """geo_policy, with the Tor header of an anonymous-IP database (envoy.md, "Tor")."""
    policy = geo_policy()
    policy["rules"][0]["client_country"]["tor_header"] = L.TOR_HEADER
    return policy


def concurrency_policy(burst):
    return {
        "version": 1,
        "default_region": "US",
        "routes": [{"id": "otp", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp"}},
                    "extract": {"json_keys": ["phone"]}}],
        "rules": [{"id": "per-number", "action": "throttle",
                   "rate_limit": {"key": ["number"], "rate": 1, "per_seconds": 3600, "burst": burst}}],
    }


def eviction_policy():
    """Like examples/policy.json: per-IP and per-number limits, backoff, adjacency, conversion by
    prefix; min_sends is lower than the example's to keep the setup short. And a shadow rule that
    reports every request of the flood, as in the incident whose decision log ran to 450 MiB."""
    return {
        "version": 1,
        "default_region": "US",
        "routes": [{"id": "otp", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp"}},
                    "extract": {"json_keys": ["phone"]}},
                   # Never called here; the conversion rule needs a confirm route to load.
                   {"id": "verify", "kind": "confirm", "match": {"methods": ["POST"], "path": {"exact": "/api/otp/verify"}},
                    "extract": {"json_keys": ["phone"]}}],
        "rules": [
            {"id": "geo", "action": "block", "country": {"allow": ["US", "CA", "GB", "DE", "FR"]}},
            {"id": "per-ip", "action": "throttle",
             "rate_limit": {"key": ["client_ip"], "rate": 10, "per_seconds": 3600, "burst": 5}},
            {"id": "per-number", "action": "throttle",
             "rate_limit": {"key": ["number"], "rate": 5, "per_seconds": 600, "burst": 3}},
            {"id": "resend-backoff", "action": "throttle",
             "backoff": {"base_seconds": 30, "factor": 2, "max_seconds": 3600, "reset_after_seconds": 86400}},
            {"id": "enumeration", "action": "block",
             "adjacent": {"suffix_digits": 2, "max_distinct": 4, "window_seconds": 600, "block_seconds": 900,
                          "escalation_factor": 2, "max_block_seconds": 86400}},
            {"id": "conversion", "action": "block",
             "conversion": {"scope": {"prefix": 6}, "min_sends": 8, "min_ratio": 0.2, "window_seconds": 3600,
                            "block_seconds": 3600}},
            {"id": "flood-watch", "action": "block", "shadow": True, "country": {"deny": ["US"]}},
        ],
    }


# US area codes for the flood's numbers; none is used by the blocks the flood must not wash out.
FLOOD_AREAS = ("201 202 203 205 206 207 208 209 210 213 214 215 216 217 218 219 224 225 228 229 231 234 239 "
               "240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 "
               "313 314 315 316 317 318 319 320 321 323 330 334 336 337").split()


def flood_numbers(count, rng):
    """`count` distinct US numbers, each in its own conversion scope (area code and the first two
    digits of the exchange) and so its own adjacency block: the flood trips no rule, it only writes."""
    scopes = [(area, ee) for area in FLOOD_AREAS for ee in range(20, 100)]
    rng.shuffle(scopes)
    numbers = []
    for area, ee in scopes[:count]:
        last = rng.choice([d for d in range(10) if not (ee % 10 == 1 and d == 1)])  # no N11 exchange
        numbers.append(f"+1{area}{ee}{last}{rng.randrange(10000):04d}")
    return numbers


def intel_policy(on_unavailable):
    """Numbers looked up at the fake provider (tests/lookup.py): flagged ones blocked."""
    return send_route_policy(
        [
            {"id": "geo", "action": "block", "country": {"allow": ["US"]}},
            {"id": "intel", "action": "block",
             "number_intel": {"min_risk": 75, "line_types": ["nonFixedVoip"], "unreachable": True}},
        ],
        number_intel={
            "url": "https://lookups.twilio.com/v2/PhoneNumbers/{e164}?Fields=line_type_intelligence,sms_pumping_risk,line_status",
            "headers": {"authorization": "Basic from-policy"},
            "timeout_ms": INTEL_TIMEOUT_MS, "cache_seconds": 600, "on_unavailable": on_unavailable,
            "response": {"risk_score": "/sms_pumping_risk/sms_pumping_risk_score",
                         "line_type": "/line_type_intelligence/type", "reachable": "/line_status/status"},
        },
    )


def captcha_policy(on_unavailable, timeout_ms):
    return {
        "version": 1,
        "default_region": "US",
        "expose_findings": True,
        "routes": [{"id": "otp", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp"}},
                    "extract": {"json_keys": ["phone"], "token": {"header": "cf-turnstile-response"}}}],
        "rules": [{"id": "captcha", "action": "challenge", "captcha": {}}],
        "captcha": {"provider": "turnstile", "secret": "test-secret", "verify_timeout_ms": timeout_ms,
                    "on_unavailable": on_unavailable},
    }


# ---------------------------------------------------------------- the checks

class Harness:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.procs = L.Procs(os.path.join(self.work, "logs"))
        self.scenarios = sorted(glob.glob(os.path.join(ROOT, "tests/scenarios/*.json")))
        if args.only:
            self.scenarios = [s for s in self.scenarios if args.only in s]

    def cli(self, *argv):
        return subprocess.run([self.args.cli, *argv], capture_output=True, text=True)

    def validate(self, config, name):
        path = os.path.join(self.work, name + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        return self.validate_file(path)

    def validate_file(self, path):
        r = subprocess.run([self.args.envoy, "--mode", "validate", "-c", path, "-l", "info"],
                           capture_output=True, text=True, cwd=ROOT)
        return r.returncode, r.stdout + r.stderr

    def single_config(self, plugin_json):
        return L.bootstrap([L.listener("l", 1, [L.wasm_filter(plugin_json, self.args.wasm)])],
                           [L.cluster("origin", 2)], 3)

    # -- configs refused at load time
    def check_refused_policies(self, policy_error_scenarios):
        for path in policy_error_scenarios:
            s = json.load(open(path))
            name = os.path.basename(path)
            rc, log = self.validate(self.single_config(L.plugin_config(s["policy"], "bad")), "refused-" + name)
            critical = [l for l in log.splitlines() if "critical" in l and "pumpguard" in l]
            missing = [p for p in s["policy_errors"] if not any(f"policy.{p}:" in l for l in critical)]
            check(f"refused policy {name}: validate fails naming {s['policy_errors']}",
                  rc != 0 and not missing, f"rc={rc} missing={missing}\n" + "\n".join(critical[-5:]))
        rc, log = self.validate(self.single_config(json.dumps(
            {"policy": extra_policy(), "store": {"buckets": 0}})), "refused-host-setting")
        check("refused host setting: validate fails naming store.buckets",
              rc != 0 and "store.buckets" in log, log[-2000:])

    def certs(self):
        """A self-signed certificate made now, for the TLS configs."""
        certs = os.path.join(self.work, "certs")
        key, crt = os.path.join(certs, "server.key"), os.path.join(certs, "server.crt")
        if not os.path.exists(crt):
            os.makedirs(certs, exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "1", "-subj", "/CN=app.example.com"], check=True, capture_output=True)
        return key, crt

    def shipped(self, rel, ports=None):
        """A shipped config with the built module and the generated certificate (and ports) swapped in."""
        key, crt = self.certs()
        text = open(os.path.join(ROOT, rel)).read()
        text = (text.replace("envoy/pumpguard.wasm", self.args.wasm)
                .replace("envoy/certs/server.crt", crt).replace("envoy/certs/server.key", key))
        for old, new in (ports or {}).items():
            text = text.replace(f"port_value: {old}", f"port_value: {new}")
        path = os.path.join(self.work, os.path.basename(rel))
        with open(path, "w") as f:
            f.write(text)
        return path

    def check_shipped_configs(self):
        import yaml
        for rel in ["envoy/envoy.yaml", "envoy/envoy-tls.yaml"]:
            rc, log = self.validate_file(self.shipped(rel))
            check(f"envoy --mode validate {rel}", rc == 0, log[-3000:])
        istio = os.path.join(ROOT, "tests/envoy/istio_check.py")
        r = subprocess.run([sys.executable, istio, "--envoy", self.args.envoy, "--wasm", self.args.wasm,
                            "--work", self.work], capture_output=True, text=True, cwd=ROOT)
        check("istio: WasmPlugin pins the module by sha256; EnvoyFilter (ECDS) filter config and route patch validate "
              "in Envoy; the metrics patch gives Istio's stats settings the labels",
              r.returncode == 0, (r.stdout + r.stderr)[-3000:])
        doc = yaml.safe_load(open(os.path.join(ROOT, "envoy/envoy.yaml")))
        hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        value = hcm["http_filters"][0]["typed_config"]["config"]["configuration"]["value"]
        policy = json.load(open(os.path.join(ROOT, "examples/policy.json")))
        check("envoy/envoy.yaml embeds examples/policy.json", json.loads(value)["policy"] == policy)
        for rel in ["envoy/envoy.yaml", "envoy/envoy-tls.yaml"]:
            tags = yaml.safe_load(open(os.path.join(ROOT, rel)))["stats_config"]["stats_tags"]
            check(f"{rel} tags metrics as the e2e Envoy does (decisions and store: plugin label)",
                  tags == L.STATS_TAGS, json.dumps(tags))
        skip = hcm["route_config"]["virtual_hosts"][0]["routes"][0]
        check("envoy/envoy.yaml skips the filter under /static/ exactly as the e2e skip listener does",
              skip == L.skip_route("/static/"), json.dumps(skip))

    # -- the big run
    def run_main(self):
        scen = []
        refused = []
        for path in self.scenarios:
            s = json.load(open(path))
            if s.get("policy_errors"):
                refused.append(path)
                continue
            r = self.cli("scenario-policy", path)
            if r.returncode != 0:
                check(f"scenario-policy {os.path.basename(path)}", False, r.stderr)
                continue
            scen.append((path, json.loads(r.stdout), L.free_port()))
        if not self.args.only or "refused" in self.args.only:
            self.check_refused_policies(refused)
        if not self.args.only:
            self.check_shipped_configs()

        timeouts = [p.get("captcha", {}).get("verify_timeout_ms", 2000) for _, p, _ in scen] + [2000]
        self.siteverify = Siteverify(slow_seconds=max(timeouts) / 1000 + 1.0)
        sv = {"cluster": "siteverify", "authority": "challenges.cloudflare.com", "path": "/turnstile/v0/siteverify"}
        # The fake number-intelligence provider, behind one cluster every listener that looks
        # numbers up names (the plugin config carries it only where the policy has number_intel).
        intel_timeouts = [p.get("number_intel", {}).get("timeout_ms", 1500) for _, p, _ in scen] + [INTEL_TIMEOUT_MS]
        self.lookup_port = L.free_port()
        ni = {"cluster": "lookup"}
        self.origin_port = L.free_port()
        admin = L.free_port()
        self.admin = admin
        listeners = []
        for i, (path, policy, port) in enumerate(scen):
            name = "s" + os.path.basename(path).split("-")[0]
            listeners.append(L.listener(name, port, [L.wasm_filter(L.plugin_config(
                policy, name, sv, tls_headers=TLS_HEADERS, edge_headers=EDGE_HEADERS, number_intel=ni),
                self.args.wasm)]))
        self.ports = {}
        extras = {
            "extra": extra_policy(),
            "cap-closed": captcha_policy("block", 300),
            "cap-open": captcha_policy("allow", 300),
            "conc": concurrency_policy(CONC_BURST),
            "intel-open": intel_policy("allow"),
            "intel-closed": intel_policy("block"),
        }
        for name, policy in extras.items():
            port = L.free_port()
            self.ports[name] = port
            # The concurrency check needs an upstream faster than the Python origin.
            listeners.append(L.listener(name, port, direct=name == "conc", http_filters=[L.wasm_filter(L.plugin_config(policy, name, sv, tls_headers=TLS_HEADERS, number_intel=ni), self.args.wasm)]))
        # The client's country from Envoy's geoip filter (envoy/geoip-filters.yaml), no edge in
        # front; "geo-old" in the form for Envoys before 1.37 (a City database, geo_headers_to_add).
        self.country_db = os.path.join(self.work, "country.mmdb")
        for name, db, kind, before_1_37 in (("geo", self.country_db, "GeoLite2-Country", False),
                                            ("geo-old", os.path.join(self.work, "city.mmdb"), "GeoLite2-City", True)):
            self.ports[name] = L.free_port()
            L.write_country_db(db, L.GEO_TEST_NETWORKS, database_type=kind)
            listeners.append(L.listener(name, self.ports[name], L.geoip_filters(db, before_1_37=before_1_37) + [
                L.wasm_filter(L.plugin_config(geo_policy(), name, sv), self.args.wasm)]))
        # With an anonymous-IP database as well: Tor exits marked whatever their country.
        self.ports["geo-tor"] = L.free_port()
        tor_country_db = os.path.join(self.work, "tor-country.mmdb")
        L.write_country_db(tor_country_db, {**L.GEO_TEST_NETWORKS, **{n: "DE" for n in L.TOR_TEST_NETWORKS}})
        L.write_anon_db(os.path.join(self.work, "anon.mmdb"), L.TOR_TEST_NETWORKS)
        listeners.append(L.listener("geo-tor", self.ports["geo-tor"], L.geoip_filters(
            tor_country_db, anon_db_path=os.path.join(self.work, "anon.mmdb")) + [
            L.wasm_filter(L.plugin_config(tor_geo_policy(), "geo-tor", sv), self.args.wasm)]))
        # As under Istio's WasmPlugin: no allow_on_headers_stop_iteration, so hold_headers is off.
        self.ports["nohold"] = L.free_port()
        listeners.append(L.listener("nohold", self.ports["nohold"], [L.wasm_filter(
            L.plugin_config(extra_policy(), "nohold", sv, hold_headers=False), self.args.wasm, hold_headers=False)]))
        # As in envoy/envoy.yaml: requests under /static/ skip the filter (and the VM) altogether.
        self.ports["skip"] = L.free_port()
        listeners.append(L.listener("skip", self.ports["skip"], [L.wasm_filter(
            L.plugin_config(extra_policy(), "skip", sv), self.args.wasm)], skip_prefixes=["/static/"]))
        # Envoy's own CORS filter before the wasm filter (Istio's corsPolicy is that filter), for
        # two page origins; the policy's `cors` lists one of them.
        self.ports["cors-filter"] = L.free_port()
        cors_listener = L.listener("cors-filter", self.ports["cors-filter"], [
            {"name": "envoy.filters.http.cors",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}},
            L.wasm_filter(L.plugin_config({**extra_policy(), "cors": {"allow_origins": ["https://a.example"]}},
                                          "cors-filter", sv), self.args.wasm)])
        cors_listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0][
            "typed_per_filter_config"] = {"envoy.filters.http.cors": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
                "allow_origin_string_match": [{"exact": "https://a.example"}, {"exact": "https://b.example"}],
                "allow_methods": "POST", "expose_headers": "x-pumpguard-decision, retry-after"}}
        listeners.append(cors_listener)
        self.ports["bare"] = L.free_port()
        listeners.append(L.listener("bare", self.ports["bare"], []))
        # A deliberately small store (64 entries) for the eviction flood; a fixed seed keeps the
        # bucket layout the same from run to run. Answered by Envoy itself: the flood is fast.
        self.ports["evict"] = L.free_port()
        listeners.append(L.listener("evict", self.ports["evict"], direct=True, http_filters=[L.wasm_filter(
            L.plugin_config(eviction_policy(), "evict", buckets=EVICT_BUCKETS, entries=EVICT_ENTRIES, seed=7),
            self.args.wasm)]))
        config = L.bootstrap(listeners, [L.cluster("origin", self.origin_port),
                                         L.cluster("siteverify", self.siteverify.port),
                                         L.cluster("lookup", self.lookup_port)], admin)
        cfg_path = os.path.join(self.work, "envoy-e2e.json")
        with open(cfg_path, "w") as f:
            json.dump(config, f, indent=1)

        self.procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port",
                                    str(self.origin_port), "--log", os.path.join(self.work, "origin.jsonl")])
        self.procs.start("envoy", [self.args.envoy, "-c", cfg_path, "--concurrency", "2", "-l", "info",
                                   "--base-id", str(admin), "--disable-hot-restart"])
        self.procs.start("lookup", [sys.executable, os.path.join(ROOT, "tests/lookup.py"), "--port", str(self.lookup_port),
                                    "--slow-seconds", str(max(intel_timeouts) / 1000 + 1.0)])
        L.wait_http(f"http://127.0.0.1:{self.origin_port}/__origin/health", self.procs, "origin")
        L.wait_http(f"http://127.0.0.1:{self.lookup_port}/__lookup/health", self.procs, "lookup")
        L.wait_envoy_ready(admin, self.procs)
        print(f"envoy ready with {len(listeners)} listeners", flush=True)

        for path, _, port in scen:
            r = self.cli("scenarios", "--target", f"http://127.0.0.1:{port}", "--client-ip-header", "x-forwarded-for",
                         "--ja3-header", "x-ja3", "--ja4-header", "x-ja4",
                         "--bot-score-header", EDGE_HEADERS["bot_score"],
                         "--verified-bot-header", EDGE_HEADERS["verified_bot"], "--clock-header", CLOCK, path)
            check(f"scenario {os.path.basename(path)}", r.returncode == 0, (r.stdout + r.stderr).strip()[-3000:])

        if not self.args.only:
            self.check_bodies()
            self.check_nohold()
            self.check_route_skip()
            self.check_expect_continue()
            self.check_http2()
            self.check_concurrency()
            self.check_client_ip()
            self.check_captcha()
            self.check_number_intel()
            self.check_metrics()
        if not self.args.only or "cors-filter" in self.args.only:
            self.check_cors_filter()
        if not self.args.only or "geoip" in self.args.only:
            self.check_geoip()
        if not self.args.only or "evict" in self.args.only:
            self.check_eviction_flood()
        if not self.args.only:
            self.check_alive()

    def otp_headers(self, test_id, at=1000, ip="198.51.100.1", ctype="application/json"):
        return [("content-type", ctype), ("x-test-id", test_id), ("x-forwarded-for", ip), (CLOCK, str(at))]

    def check_bodies(self):
        port = self.ports["extra"]
        bad = b'{"phone": "+2348031234567"}'
        good = b'{"phone": "+14155550100"}'
        # chunked, 1-3 byte chunks
        pieces = [bad[i:i + 3] for i in range(0, len(bad), 3)]
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("chunk-bad", ip="198.51.100.11"), chunks=pieces)
        check("chunked body, blocked number: 403 country_not_allowed",
              st == 403 and b"country_not_allowed" in body, f"{st} {body[:200]}")
        check("chunked body, blocked: origin saw nothing", not origin_saw(self.origin_port, "chunk-bad"))
        pieces = [good[i:i + 2] for i in range(0, len(good), 2)]
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("chunk-good", ip="198.51.100.12"), chunks=pieces)
        seen = origin_saw(self.origin_port, "chunk-good")
        check("chunked body, valid number: forwarded whole with x-pumpguard-decision: allow",
              st == 200 and len(seen) == 1 and seen[0]["body"] == good.decode()
              and ["x-pumpguard-decision", "allow"] in seen[0]["headers"], f"{st} {seen}")
        # Content-Length body split across writes
        parts = [bad[:5], bad[5:9], bad[9:]]
        st, h, body = http1_split(port, "/api/otp", self.otp_headers("split-bad", ip="198.51.100.13"), parts)
        check("split body, blocked number: 403 and origin saw nothing",
              st == 403 and not origin_saw(self.origin_port, "split-bad"), f"{st} {body[:200]}")
        parts = [good[:1], good[1:20], good[20:]]
        st, h, body = http1_split(port, "/api/otp", self.otp_headers("split-good", ip="198.51.100.14"), parts)
        seen = origin_saw(self.origin_port, "split-good")
        check("split body, valid number: forwarded whole", st == 200 and len(seen) == 1
              and seen[0]["body"] == good.decode(), f"{st} {seen}")
        # oversize: over the policy's 256-byte cap, as one body and chunked
        big = b'{"phone": "+14155550101", "pad": "' + b"x" * 400 + b'"}'
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("big", ip="198.51.100.15"), body=big)
        check("oversized body: 413 body_too_large, origin saw nothing",
              st == 413 and b"body_too_large" in body and not origin_saw(self.origin_port, "big"), f"{st} {body[:200]}")
        pieces = [big[i:i + 50] for i in range(0, len(big), 50)]
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("big-chunked", ip="198.51.100.16"), chunks=pieces)
        check("oversized chunked body: 413, origin saw nothing",
              st == 413 and not origin_saw(self.origin_port, "big-chunked"), f"{st} {body[:200]}")
        # origin sees nothing of any blocked request: header-only (no body) and with a body
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("malformed", ip="198.51.100.17"), body=b'{"phone":')
        check("blocked malformed body: 400 body_malformed, origin saw nothing",
              st == 400 and b"body_malformed" in body and not origin_saw(self.origin_port, "malformed"),
              f"{st} {body[:200]}")
        # unguarded requests pass untouched and unbuffered
        st, h, body = http1(port, "GET", "/health", [("x-test-id", "unguarded")])
        seen = origin_saw(self.origin_port, "unguarded")
        check("unguarded request forwarded with x-pumpguard-decision: allow",
              st == 200 and len(seen) == 1 and ["x-pumpguard-decision", "allow"] in seen[0]["headers"])
        # ... and never buffered: a body over Envoy's 1 MiB buffer limit streams through
        big_unguarded = b"x" * (2 * 1024 * 1024)
        st, h, body = http1(port, "POST", "/upload", [("x-test-id", "unguarded-big"),
                                                      ("content-type", "application/octet-stream")], body=big_unguarded)
        seen = origin_saw(self.origin_port, "unguarded-big")
        check("unguarded 2 MiB body streams through (never buffered: Envoy would answer 413)",
              st == 200 and len(seen) == 1 and len(seen[0]["body"]) == len(big_unguarded), f"{st} {body[:200]}")
        # a client cannot pass its own decision headers to origin
        st, h, body = http1(port, "GET", "/health", [("x-test-id", "forged"), ("x-pumpguard-country", "US"),
                                                        ("x-pumpguard-decision", "allow-forged")])
        seen = origin_saw(self.origin_port, "forged")
        names = [k for k, v in seen[0]["headers"]] if seen else []
        check("client-sent x-pumpguard-* decision headers are stripped",
              len(seen) == 1 and "x-pumpguard-country" not in names
              and ["x-pumpguard-decision", "allow-forged"] not in seen[0]["headers"], str(seen))
        # header values that are not UTF-8 (obs-text, allowed by HTTP/1.1) are judged, not fatal
        latin1 = [("x-display-name", "Jos\xe9 M\xfcller"), ("user-agent", "Caf\xe9Bot/1.0")]
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("latin1-good", ip="198.51.100.18") + latin1,
                            body=good)
        seen = origin_saw(self.origin_port, "latin1-good")
        check("non-UTF-8 header values: valid number judged and forwarded with the bytes intact",
              st == 200 and len(seen) == 1 and ["x-display-name", "Jos\xe9 M\xfcller"] in seen[0]["headers"],
              f"{st} {body[:200]} {seen}")
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("latin1-bad", ip="198.51.100.19") + latin1,
                            body=bad)
        check("non-UTF-8 header values: blocked number still blocked, origin saw nothing",
              st == 403 and b"country_not_allowed" in body and not origin_saw(self.origin_port, "latin1-bad"),
              f"{st} {body[:200]}")
        # the test clock header never reaches origin
        check("test clock header stripped before origin",
              all(CLOCK not in [k for k, v in r["headers"]] for r in origin_requests(self.origin_port)))

    def check_expect_continue(self):
        # curl sends `Expect: 100-continue` for larger bodies and waits for the interim answer.
        body = json.dumps({"phone": "+14155550188", "pad": "p" * 3000})
        path = os.path.join(self.work, "expect.json")
        with open(path, "w") as f:
            f.write(body)
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json",
                            "-H", "Expect: 100-continue", "--data-binary", "@" + path,
                            f"http://127.0.0.1:{self.ports['conc']}/api/otp"], capture_output=True, text=True)
        check("Expect: 100-continue with a 3 kB guarded body: judged and forwarded", r.stdout == "200",
              r.stdout + r.stderr)

    def check_nohold(self):
        port = self.ports["nohold"]
        bad = b'{"phone": "+2348031234567"}'
        good = b'{"phone": "+14155550106"}'
        pieces = [bad[i:i + 4] for i in range(0, len(bad), 4)]
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("nohold-bad", ip="198.51.100.41"), chunks=pieces)
        check("hold_headers off (no allow_on_headers_stop_iteration): block still answered, origin saw no body",
              st == 403 and b"country_not_allowed" in body and not origin_saw(self.origin_port, "nohold-bad"),
              f"{st} {body[:200]}")
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("nohold-good", ip="198.51.100.42"), body=good)
        seen = origin_saw(self.origin_port, "nohold-good")
        check("hold_headers off: valid request forwarded whole",
              st == 200 and len(seen) == 1 and seen[0]["body"] == good.decode(), f"{st} {seen}")

    def check_route_skip(self):
        port = self.ports["skip"]
        forged = [("x-pumpguard-decision", "allow"), ("x-pumpguard-country", "US")]

        def pumpguard_headers(test_id):
            seen = origin_saw(self.origin_port, test_id)
            # The test clock header is a test-only setting, only the filter removes it.
            return seen and [(k, v) for k, v in seen[0]["headers"] if k.startswith("x-pumpguard-") and k != CLOCK]

        st, _, _ = http1(port, "GET", "/static/app.js", self.otp_headers("skip-static") + forged)
        got = pumpguard_headers("skip-static")
        check("route that skips the filter: forwarded, client-forged pumpguard headers removed, none added",
              st == 200 and got == [], f"{st} {got}")
        st, _, _ = http1(port, "GET", "/api/profile", self.otp_headers("skip-other") + forged)
        got = pumpguard_headers("skip-other")
        check("other routes of that listener still enter the filter (unguarded: its own header, forged ones gone)",
              st == 200 and got == [("x-pumpguard-decision", "allow")], f"{st} {got}")
        st, _, body = http1(port, "POST", "/api/otp", self.otp_headers("skip-otp", ip="198.51.100.43"),
                            body=b'{"phone": "+2348031234567"}')
        check("other routes of that listener are still judged (block)",
              st == 403 and not origin_saw(self.origin_port, "skip-otp"), f"{st} {body[:200]}")

    def check_cors_filter(self):
        """Envoy's CORS filter before pumpguard's adds its headers to pumpguard's refusals too, and
        sets them: beside the policy's `cors` a refusal still carries one of each
        (docs/browser.md)."""
        def refused_from(origin, test_id):
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.ports['cors-filter']}/api/otp", data=b'{"phone": "+2348031234567"}',
                method="POST", headers=dict(self.otp_headers(test_id, ip="198.51.100.44")) | {"origin": origin})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.headers
            except urllib.error.HTTPError as e:
                return e.code, e.headers

        st, h = refused_from("https://b.example", "cors-b")
        check("Envoy's CORS filter before the filter: its headers on a refusal to a page the policy does not list",
              st == 403 and h.get_all("access-control-allow-origin") == ["https://b.example"]
              and h.get("access-control-expose-headers") == "x-pumpguard-decision, retry-after", f"{st} {h.items()}")
        st, h = refused_from("https://a.example", "cors-a")
        check("Envoy's CORS filter and the policy's cors: one Access-Control-Allow-Origin, not two",
              st == 403 and h.get_all("access-control-allow-origin") == ["https://a.example"]
              and len(h.get_all("access-control-expose-headers")) == 1, f"{st} {h.items()}")

    def check_http2(self):
        try:
            import h2.connection
            import h2.config
            import h2.events
        except ImportError:
            check("HTTP/2 with trailers (python h2 installed)", False, "h2 not importable")
            return
        port = self.ports["extra"]

        def h2_post(test_id, body_parts, ip, trailers=True):
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            s.sendall(conn.data_to_send())
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "POST"), (":path", "/api/otp"), (":scheme", "http"),
                                    (":authority", "app.example.com"), ("content-type", "application/json"),
                                    ("x-test-id", test_id), ("x-forwarded-for", ip), (CLOCK, "1000")])
            for p in body_parts:
                conn.send_data(sid, p)
                s.sendall(conn.data_to_send())
            if trailers:
                conn.send_headers(sid, [("x-checksum", "abc")], end_stream=True)
            else:
                conn.end_stream(sid)
            s.sendall(conn.data_to_send())
            status, data, done = None, b"", False
            while not done:
                raw = s.recv(65536)
                if not raw:
                    break
                for ev in conn.receive_data(raw):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = int(dict(ev.headers)[b":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        data += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                        done = True
                s.sendall(conn.data_to_send())
            s.close()
            return status, data

        bad = b'{"phone": "+2348031234567"}'
        good = b'{"phone": "+14155550102"}'
        st, data = h2_post("h2-bad", [bad[:10], bad[10:]], "198.51.100.21")
        check("HTTP/2 with trailers, blocked number: 403 and origin saw nothing",
              st == 403 and not origin_saw(self.origin_port, "h2-bad"), f"{st} {data[:200]}")
        st, data = h2_post("h2-good", [good[:10], good[10:]], "198.51.100.22")
        seen = origin_saw(self.origin_port, "h2-good")
        check("HTTP/2 with trailers, valid number: forwarded whole",
              st == 200 and len(seen) == 1 and seen[0]["body"] == good.decode(), f"{st} {data[:200]} {seen}")
        st, data = h2_post("h2-notrailers", [good], "198.51.100.23", trailers=False)
        check("HTTP/2 without trailers: forwarded", st == 200, f"{st}")

    def check_concurrency(self):
        import http.client
        port = self.ports["conc"]
        number, at = "+14155550177", 5000
        # The exact answer, from the core in process, sequentially.
        records = os.path.join(self.work, "concurrency.jsonl")
        with open(records, "w") as f:
            for i in range(CONC_SENDS):
                f.write(json.dumps({"at_ms": at, "client_ip": "203.0.113.1", "method": "POST", "host": "app.example.com",
                                    "path": "/api/otp", "headers": [["content-type", "application/json"]],
                                    "body": json.dumps({"phone": number})}) + "\n")
        pol = os.path.join(self.work, "concurrency-policy.json")
        with open(pol, "w") as f:
            json.dump(concurrency_policy(CONC_BURST), f)
        r = self.cli("replay", "--policy", pol, records)
        expected = sum(1 for line in r.stdout.splitlines()
                       if line.strip() and json.loads(line)["decision"]["action"] == "allow")

        def per_worker():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?filter=^listener\\.127\\.0\\.0\\.1_{port}"
                                        r"\.worker_\d+\.downstream_cx_total$", timeout=10) as r:
                return {m.group(1): int(m.group(2)) for m in re.finditer(r"(worker_\d+)\.downstream_cx_total: (\d+)", r.read().decode())}

        # curl's parallel mode (C, libcurl multi) keeps CONC_CONNS requests in flight, fast
        # enough that both workers run their compare-and-swap loops on the same key at once.
        cfg = os.path.join(self.work, "concurrency.curl")
        body = json.dumps({"phone": number})
        with open(cfg, "w") as f:
            for i in range(CONC_SENDS):
                if i:
                    f.write("next\n")
                f.write(f'url = "http://127.0.0.1:{port}/api/otp"\nrequest = "POST"\noutput = "/dev/null"\n'
                        f'header = "content-type: application/json"\nheader = "{CLOCK}: {at}"\n'
                        f'header = "x-forwarded-for: 198.18.{i // 250}.{i % 250 + 1}"\n'
                        f'data-binary = {json.dumps(body)}\nwrite-out = "%{{http_code}}\\n"\n')
        before = per_worker()
        out = subprocess.run(["curl", "-s", "--parallel", "--parallel-immediate", "--parallel-max", str(CONC_CONNS),
                              "-K", cfg], capture_output=True, text=True)
        statuses = [int(x) for x in out.stdout.split()]
        after = per_worker()
        busy = [w for w in after if after[w] > before.get(w, 0)]
        check("concurrency: the parallel sends were served by both Envoy workers", len(busy) == 2, f"{before} -> {after}")
        allowed = statuses.count(200)
        check(f"concurrency: {CONC_SENDS} sends to one number on {CONC_CONNS} parallel connections over 2 workers "
              f"allow exactly {expected} (as the core in sequence)",
              r.returncode == 0 and expected == CONC_BURST and allowed == expected
              and statuses.count(429) == CONC_SENDS - expected,
              f"expected {expected} allowed, got {allowed}; statuses {sorted(set(statuses))} {r.stderr[-300:]}")

    def check_client_ip(self):
        port = self.ports["extra"]
        ip = "192.0.2.55"
        sts = []
        for i in range(3):
            st, h, body = http1(port, "POST", "/api/otp", self.otp_headers(f"ip-{i}", at=7000, ip=ip),
                                body=json.dumps({"phone": f"+1415555020{i}"}).encode())
            sts.append((st, body))
        st, h, body = http1(port, "POST", "/api/otp", self.otp_headers("ip-other", at=7000, ip="192.0.2.56"),
                            body=b'{"phone": "+14155550209"}')
        check("client address from x-forwarded-for (1 trusted hop): per-IP limit counts that address",
              [s for s, _ in sts] == [200, 200, 429] and b"per-ip" in sts[2][1] and st == 200,
              f"{sts} other={st}")

    def geo_send(self, port, test_id, ip, number, forged=None, forged_tor=None):
        """A send through a geoip listener, `forged` as the client's own country header (and
        `forged_tor` its Tor header): its status and body, and the headers origin saw ({} when
        origin saw nothing)."""
        headers = self.otp_headers(test_id, ip=ip) + ([(GEO_HEADER, forged)] if forged else []) + (
            [(L.TOR_HEADER, forged_tor)] if forged_tor else [])
        st, _, body = http1(port, "POST", "/api/otp", headers, body=json.dumps({"phone": number}).encode())
        seen = origin_saw(self.origin_port, test_id)
        return st, body, (dict(seen[0]["headers"]) if len(seen) == 1 else {})

    def check_geoip(self):
        # A database that is not there stops Envoy at start, as validation shows.
        missing_db = os.path.join(self.work, "no-such-country.mmdb")
        rc, log = self.validate(L.bootstrap([L.listener("l", 1, L.geoip_filters(missing_db) + [L.wasm_filter(
            L.plugin_config(geo_policy(), "geo"), self.args.wasm)])], [L.cluster("origin", 2)], 3), "geoip-missing-db")
        check("geoip filter: a missing country database fails envoy --mode validate, naming the file",
              rc != 0 and missing_db in log, log[-1500:])
        for test_id, ip, want_country, want_finding in (
                ("geo-old-gb", "81.2.69.8", "GB", "client_country_mismatch"),
                ("geo-old-unknown", "203.0.113.8", None, "client_country_missing")):
            st, _, got = self.geo_send(self.ports["geo-old"], test_id, ip, "+14155550105", forged="US")
            check(f"geoip filter before 1.37's form ({test_id}): client {ip}, forged US: origin and rule see "
                  f"{want_country}", st == 200 and got.get(GEO_HEADER) == want_country
                  and want_finding in got.get("x-pumpguard-findings", ""), f"status {st} origin {got}")
        port = self.ports["geo"]
        cases = [
            # (test id, client address, forged header or None, number, country origin sees, finding)
            ("geo-gb", "81.2.69.5", None, "+14155550101", "GB", "client_country_mismatch"),
            ("geo-forged", "81.2.69.6", "US", "+14155550102", "GB", "client_country_mismatch"),
            ("geo-unknown", "203.0.113.7", "US", "+14155550103", None, "client_country_missing"),
            ("geo-us", "216.160.83.9", "US", "+14155550104", "US", None),
            ("geo-v6", "2001:db8:1::5", None, "+4915123456789", "DE", None),
        ]
        for test_id, ip, forged, number, want_country, want_finding in cases:
            st, body, got = self.geo_send(port, test_id, ip, number, forged)
            findings = got.get("x-pumpguard-findings", "")
            ok = (st == 200 and got != {} and got.get(GEO_HEADER) == want_country
                  and (want_finding in findings if want_finding else "client_country" not in findings))
            check(f"geoip filter ({test_id}): client {ip}, forged {forged}: origin and rule see {want_country}, "
                  f"finding {want_finding}", ok, f"status {st} {body[:200]!r} origin {got}")
        # With an anonymous-IP database: a Tor exit is Tor even in the number's own country, and
        # a client's own Tor header is removed before the geoip filter.
        for test_id, ip, forged_tor, number, want_tor, want_finding in (
                ("geo-tor-exit", "185.220.100.9", None, "+4915123456780", "true", "client_country_mismatch"),
                ("geo-tor-forged", "81.2.69.10", "true", "+447400123471", None, None),
                ("geo-tor-none", "216.160.83.10", None, "+14155550106", None, None)):
            st, body, got = self.geo_send(self.ports["geo-tor"], test_id, ip, number, forged_tor=forged_tor)
            findings = got.get("x-pumpguard-findings", "")
            ok = (st == 200 and got != {} and got.get(L.TOR_HEADER) == want_tor
                  and (want_finding in findings if want_finding else "client_country" not in findings))
            check(f"geoip filter with Tor ({test_id}): client {ip}, forged Tor header {forged_tor}: origin sees "
                  f"x-client-tor {want_tor}, finding {want_finding}", ok, f"status {st} {body[:200]!r} origin {got}")
        # A database update is a file moved into place; Envoy reloads it without a restart.
        L.write_country_db(self.country_db, {**L.GEO_TEST_NETWORKS, "81.2.69.0/24": "FR"})
        seen_country = None
        for i in range(40):
            seen_country = self.geo_send(port, f"geo-reload-{i}", "81.2.69.7", "+33612345678")[2].get(GEO_HEADER)
            if seen_country == "FR":
                break
            time.sleep(0.25)
        check("geoip filter: a replaced database is reloaded without a restart (the client now in FR)",
              seen_country == "FR", f"origin saw {seen_country}")
        # A broken update is refused and the database in use stays.
        def errors():
            return sum(v for k, v in self.stats("db_reload_error").items() if k.startswith("maxmind.country_db."))

        before = errors()
        with open(self.country_db + ".new", "wb") as f:
            f.write(b"not a MaxMind database" * 100)
        os.replace(self.country_db + ".new", self.country_db)
        for _ in range(40):
            if errors() > before:
                break
            time.sleep(0.25)
        seen_country = self.geo_send(port, "geo-broken", "81.2.69.7", "+33612345679")[2].get(GEO_HEADER)
        check("geoip filter: a broken database update is refused (db_reload_error) and the one in use stays",
              errors() > before and seen_country == "FR", f"reload errors {before} -> {errors()}, origin saw {seen_country}")
        # The one address the database lacks on each listener is what the inputs metric counts
        # missing: the ratio an operator alerts on when the geoip filter is left out.
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats/prometheus", timeout=10) as r:
            text = r.read().decode()
        counts = {(m["plugin"], m["state"]): int(m["n"]) for m in re.finditer(
            r'^pumpguard_inputs\{(?=[^}]*plugin="(?P<plugin>geo(?:-old)?)")(?=[^}]*input="client_country")'
            r'(?=[^}]*state="(?P<state>\w+)")[^}]*\} (?P<n>\d+)$', text, re.M)}
        check("geoip: pumpguard_inputs{input=\"client_country\"} counts the unknown address missing, the rest present",
              counts.get(("geo", "missing")) == 1 and counts.get(("geo-old", "missing")) == 1
              and counts.get(("geo", "present"), 0) >= 5 and counts.get(("geo-old", "present")) == 1,
              f"{counts}\n" + "\n".join(l for l in text.splitlines() if "pumpguard_inputs" in l))

    def check_captcha(self):
        before = len(self.siteverify.seen)
        st, h, body = http1(self.ports["cap-closed"], "POST", "/api/otp",
                            self.otp_headers("cap-slow", ip="198.51.100.31") + [("cf-turnstile-response", "slow-x")],
                            body=b'{"phone": "+14155550103"}')
        check("siteverify timeout (300 ms), on_unavailable block: 503 captcha_unavailable, origin saw nothing",
              st == 503 and b"captcha_unavailable" in body and not origin_saw(self.origin_port, "cap-slow"),
              f"{st} {body[:200]}")
        st, h, body = http1(self.ports["cap-open"], "POST", "/api/otp",
                            self.otp_headers("cap-slow-open", ip="198.51.100.32") + [("cf-turnstile-response", "slow-y")],
                            body=b'{"phone": "+14155550104"}')
        check("siteverify timeout, on_unavailable allow: forwarded",
              st == 200 and len(origin_saw(self.origin_port, "cap-slow-open")) == 1, f"{st} {body[:200]}")
        st, h, body = http1(self.ports["cap-closed"], "POST", "/api/otp",
                            self.otp_headers("cap-pass", ip="198.51.100.33") + [("cf-turnstile-response", "pass-z")],
                            body=b'{"phone": "+14155550105"}')
        calls = [c for c in self.siteverify.seen[before:] if c["form"].get("response") == "pass-z"]
        check("siteverify call speaks the protocol (POST form: secret, response, remoteip)",
              st == 200 and len(calls) == 1 and calls[0]["form"].get("secret") == "test-secret"
              and calls[0]["form"].get("remoteip") == "198.51.100.33"
              and calls[0]["path"] == "/turnstile/v0/siteverify"
              and calls[0]["content_type"] == "application/x-www-form-urlencoded", f"{st} {calls}")

    def lookups_of(self, number):
        """The provider calls for `number` made by the number-intelligence listeners (their policy's
        credentials): the scenario listeners share the fake provider and look up the same numbers."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.lookup_port}/__lookup/calls", timeout=10) as r:
            return [c for c in json.loads(r.read()) if c["number"] == number
                    and c["headers"].get("authorization") == "Basic from-policy"]

    def check_number_intel(self):
        port, closed = self.ports["intel-open"], self.ports["intel-closed"]
        otp = lambda port, test_id, phone, at=1000: http1(port, "POST", "/api/otp", self.otp_headers(test_id, at=at),
                                                        body=json.dumps({"phone": phone}).encode())
        for phone, what in [("+14155550199", "high risk"), ("+14155550198", "non-fixed VoIP"),
                            ("+14155550197", "unreachable")]:
            st, h, body = otp(port, "intel-" + phone, phone)
            check(f"number intel: {what} number blocked 403 number_intel, origin saw nothing",
                  st == 403 and b'"number_intel"' in body and not origin_saw(self.origin_port, "intel-" + phone),
                  f"{st} {body[:200]}")
        st, h, body = otp(port, "intel-clean", "+14155550123")
        check("number intel: a clean number is forwarded", st == 200
              and len(origin_saw(self.origin_port, "intel-clean")) == 1, f"{st} {body[:200]}")
        calls = self.lookups_of("+14155550123")
        check("number intel: the lookup is a GET of the policy's path with the policy's credentials",
              len(calls) == 1 and calls[0]["path"].startswith("/v2/PhoneNumbers/%2B14155550123?Fields=")
              and calls[0]["headers"].get("authorization") == "Basic from-policy"
              and calls[0]["headers"].get("host") == "lookups.twilio.com", json.dumps(calls))
        st1, _, _ = otp(port, "intel-again", "+14155550199", at=300_000)
        st2, _, _ = otp(port, "intel-again-clean", "+14155550123", at=300_000)
        check("number intel: a cached answer (shared data) decides again without a second call",
              (st1, st2) == (403, 200) and len(self.lookups_of("+14155550199")) == 1
              and len(self.lookups_of("+14155550123")) == 1,
              f"{st1} {st2} {len(self.lookups_of('+14155550199'))} {len(self.lookups_of('+14155550123'))}")
        st, h, body = otp(port, "intel-refused", "+4915112345699")
        check("number intel: a request another rule refuses is never looked up",
              st == 403 and b"country_not_allowed" in body and not self.lookups_of("+4915112345699"),
              f"{st} {body[:200]}")
        for phone, what in [("+14155550296", "timeout"), ("+14155550295", "HTTP 500"),
                            ("+14155550294", "not JSON"), ("+14155550293", "risk not a number")]:
            started = time.monotonic()
            st, h, body = otp(closed, "intel-closed-" + phone, phone)
            took = time.monotonic() - started
            check(f"number intel: {what}, on_unavailable block: 503 number_intel_unavailable, origin saw nothing",
                  st == 503 and b"number_intel_unavailable" in body
                  and not origin_saw(self.origin_port, "intel-closed-" + phone), f"{st} {body[:200]}")
            if what == "timeout":
                check("number intel: the timeout is the policy's, not the provider's delay", took < 1.5, f"{took:.2f} s")
            st, h, body = otp(port, "intel-open-" + phone, phone.replace("+1415555", "+1415556"))
            check(f"number intel: {what}, on_unavailable allow: forwarded, reporting number_intel_unavailable",
                  st == 200 and "number_intel_unavailable" in h.get("x-pumpguard-findings", ""), f"{st} {h}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?filter=number_intel", timeout=10) as r:
            stats = r.read().decode()
        check("number intel: lookups counted by outcome (found, unavailable)",
              re.search(r"number_intel\.plugin\.intel-open\.lookup\.found: [1-9]", stats)
              and re.search(r"number_intel\.plugin\.intel-closed\.lookup\.unavailable: [1-9]", stats), stats[-1500:])

    def check_metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats/prometheus", timeout=10) as r:
            text = r.read().decode()
        lines = [l for l in text.splitlines() if "pumpguard_decisions" in l and not l.startswith("#")]
        want = re.compile(r'pumpguard_decisions\{(?=.*plugin="extra")(?=.*action="block")'
                          r'(?=.*reason="country_not_allowed")(?=.*rule="geo")(?=.*country="NG")'
                          r'(?=.*mode="enforced").*\} [1-9]')
        shadow = re.compile(r'pumpguard_decisions\{(?=.*plugin="s039")(?=.*mode="shadow").*\} [1-9]')
        throttle = re.compile(r'pumpguard_decisions\{(?=.*plugin="conc")(?=.*action="throttle")(?=.*rule="per-number").*\} [1-9]')
        check("metrics: /stats/prometheus has pumpguard_decisions with plugin/action/reason/rule/country/mode labels",
              any(want.search(l) for l in lines), "\n".join(lines[:20]))
        check("metrics: shadow findings counted separately (mode=\"shadow\")", any(shadow.search(l) for l in lines),
              "\n".join(l for l in lines if "s039" in l))
        check("metrics: throttles counted by rule", any(throttle.search(l) for l in lines))
        log = open(os.path.join(self.work, "logs", "envoy.log"), encoding="utf-8", errors="replace").read()
        dl = [l for l in log.splitlines() if "pumpguard[extra] decision {" in l]
        parsed = []
        for l in dl:
            try:
                parsed.append(json.loads(l.split(" decision ", 1)[1]))
            except ValueError:
                pass
        check("decision log: one JSON line per non-allow decision",
              any(p.get("action") == "block" for p in parsed) and len(parsed) == len(dl), f"{len(dl)} lines")

    def stats(self, pattern):
        """Envoy's counters whose full name matches `pattern`, by name."""
        query = urllib.parse.urlencode({"filter": pattern})
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?{query}", timeout=10) as r:
            text = r.read().decode()
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+): (\d+)$", text, re.M)}

    def envoy_log_lines(self, needle):
        path = os.path.join(self.work, "logs", "envoy.log")
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if needle in line)

    def settled_log_lines(self, needle):
        """Lines containing `needle`, once Envoy's log stopped growing with them."""
        last = -1
        for _ in range(40):
            now = self.envoy_log_lines(needle)
            if now == last:
                return now
            last = now
            time.sleep(0.25)
        return last

    def check_eviction_flood(self):
        """Blocks and throttles hold while a flood of allowed sends fills a 64-entry store with
        history; the store says so in its eviction metrics; the decision log stays bounded."""
        import http.client
        import random
        port = self.ports["evict"]
        t0 = 1_000_000_000  # the listener's own test clock, in ms

        # Keep-alive connections: Envoy closes a `connection: close` exchange after its 1 s delayed
        # close when the answer came from the route (direct_response), which would slow the setup.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)

        def send(number, ip, at, via=None):
            """(status, refusing rule, retry-after); only the status when sent `via` a flood connection."""
            body = json.dumps({"phone": number})
            headers = {"content-type": "application/json", "x-forwarded-for": ip, CLOCK: str(at)}
            (via or conn).request("POST", "/api/otp", body=body, headers=headers)
            r = (via or conn).getresponse()
            data = r.read()
            if via is not None:
                return r.status
            rule = ""
            try:
                rule = json.loads(data).get("rule", "") if r.status != 200 else ""
            except ValueError:
                pass
            return r.status, rule, r.getheader("retry-after")

        # Setup, each phase 31 s after the last so the earlier phase's backoff waits (30 s) no
        # longer protect its entries: the setup's own writes must not crowd each other out. Until a
        # block starts, its counts are history that 64 entries cannot keep for long, so each
        # phase's requests follow one another.
        setup = []
        # An adjacency block: a fifth number in one block of a hundred.
        setup += [("adjacency", f"+121255501{10 + i}", f"198.18.1.{i + 1}", t0) for i in range(5)]
        # A conversion block on the prefix 131255: its eighth send, nothing confirmed.
        setup += [("conversion", f"+1312555{i}123", f"198.18.2.{i + 1}", t0 + 31_000) for i in range(8)]
        # A number in backoff: its second send after the first wait, so the next waits 60 s.
        setup.append(("backoff", "+14158675309", "198.18.4.1", t0 + 31_000))
        setup.append(("backoff", "+14158675309", "198.18.4.2", t0 + 62_000))
        # A throttled client address: its sixth number is refused below.
        setup += [("per-ip", f"+161720{i}4567", "198.18.3.1", t0 + 62_000) for i in range(5)]
        got = [(what, send(number, ip, at)[:2]) for what, number, ip, at in setup]
        want = ([("adjacency", (200, ""))] * 4 + [("adjacency", (403, "enumeration"))]
                + [("conversion", (200, ""))] * 7 + [("conversion", (403, "conversion"))]
                + [("backoff", (200, ""))] * 2 + [("per-ip", (200, ""))] * 5)
        check("eviction flood setup: adjacency and conversion blocks started, an address at its limit, "
              "a number in backoff", got == want, f"{got}")

        flood_start, flood_ms = t0 + 63_000, 28_000
        probe_at = t0 + 92_000
        probes = [
            ("adjacency block", "+12125550115", "198.18.5.1", (403, "enumeration")),
            ("conversion block", "+13125558123", "198.18.5.2", (403, "conversion")),
            ("throttled address", "+16172064567", "198.18.3.1", (429, "per-ip")),
            ("number in backoff", "+14158675309", "198.18.5.3", (429, "resend-backoff")),
        ]
        # A refused request writes no counter, so probing before the flood changes nothing.
        before = [send(number, ip, probe_at) for _, number, ip, _ in probes]

        rng = random.Random(20240601)
        numbers = flood_numbers(EVICT_FLOOD, rng)
        ips = [f"10.{a >> 16}.{(a >> 8) & 255}.{a & 255}" for a in rng.sample(range(1, 1 << 24), EVICT_FLOOD)]
        eviction = r"^wasmcustom\.pumpguard\.store\.plugin\.evict\.eviction\."
        shadow = r"^wasmcustom\.pumpguard\.decisions\.plugin\.evict\..*\.mode\.shadow$"
        needle = "pumpguard[evict] decision"
        pressure_before = self.stats(eviction)
        shadow_before = sum(self.stats(shadow).values())
        lines_before = self.settled_log_lines(needle)

        def flood(part):
            via = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            statuses = []
            try:
                for i in range(part, EVICT_FLOOD, EVICT_CONNS):
                    statuses.append(send(numbers[i], ips[i], flood_start + i * flood_ms // EVICT_FLOOD, via))
            finally:
                via.close()
            return statuses

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(EVICT_CONNS) as pool:
            statuses = [st for part in pool.map(flood, range(EVICT_CONNS)) for st in part]
        took = time.monotonic() - started
        lines = self.settled_log_lines(needle) - lines_before
        logged_before = sum(self.stats(shadow).values()) - shadow_before
        pressure = {name.rsplit(".", 1)[1]: value - pressure_before.get(name, 0)
                    for name, value in self.stats(eviction).items()}
        after = [send(number, ip, probe_at) for _, number, ip, _ in probes]
        conn.close()

        check(f"eviction flood: {EVICT_FLOOD} sends of distinct numbers from distinct addresses all allowed "
              f"({took:.1f} s)", statuses.count(200) == EVICT_FLOOD, f"{sorted(set(statuses))}")
        # The flood's own entries are history (first sends): they evict each other, never a block.
        check(f"eviction flood: the {EVICT_BUCKETS}x{EVICT_ENTRIES}-entry store evicted history, no protected "
              f"entry {pressure}",
              pressure.get("history_evicted", 0) > 0 and pressure.get("protected_evicted", 0) == 0,
              f"{pressure}")
        for (name, _, _, (status, rule)), was, now in zip(probes, before, after):
            check(f"eviction flood: the {name} holds ({status} {rule}, same answer and retry-after as before)",
                  was == now and was[:2] == (status, rule), f"before {was}, after {now}")
        # Two workers, each at most `burst` lines and one summary per shape and 10 s window.
        windows = -(-flood_ms // 10_000) + 1
        bound = 2 * windows * (5 + 1)
        check(f"eviction flood: decision log bounded: {lines} lines for {logged_before} decisions that were one "
              f"line each before (at most {bound}: burst 5 per 10 s per worker, plus summaries)",
              lines <= bound and logged_before > EVICT_FLOOD // 2,
              f"{lines} lines, {logged_before} shadow findings")
        pressure_metric = re.compile(r'^pumpguard_store_eviction_history_evicted\{plugin="evict"\} [1-9]', re.M)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats/prometheus", timeout=10) as r:
            prom = r.read().decode()
        check("metrics: eviction counters in /stats/prometheus with a plugin label",
              pressure_metric.search(prom) is not None,
              "\n".join(l for l in prom.splitlines() if "pumpguard_store" in l)[:2000])
        self.eviction_numbers = {"requests": EVICT_FLOOD, "lines": lines, "logged_before": logged_before,
                                 "pressure": pressure, "seconds": took}
        print(f"      eviction flood numbers: {json.dumps(self.eviction_numbers)}", flush=True)

    def check_alive(self):
        log = open(os.path.join(self.work, "logs", "envoy.log"), encoding="utf-8", errors="replace").read()
        bad = [l for l in log.splitlines() if "panicked" in l or "Function: proxy_on" in l or "wasm trap" in l.lower()]
        check("no wasm panic or VM failure in the Envoy log", not bad, "\n".join(bad[:10]))

    # -- TLS fingerprints through envoy/envoy-tls.yaml
    def run_tls(self):
        tls_port, admin, origin = L.free_port(), L.free_port(), L.free_port()
        cfg = self.shipped("envoy/envoy-tls.yaml", {10443: tls_port, 9902: admin, 18080: origin})
        key, crt = self.certs()
        procs = L.Procs(os.path.join(self.work, "logs-tls"))
        try:
            procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port", str(origin)])
            procs.start("envoy", [self.args.envoy, "-c", cfg, "--concurrency", "1", "-l", "info",
                                  "--base-id", str(admin), "--disable-hot-restart"])
            L.wait_http(f"http://127.0.0.1:{origin}/__origin/health", procs, "origin")
            L.wait_envoy_ready(admin, procs)
            ctx = ssl.create_default_context(cafile=crt)
            ctx.check_hostname = False

            def send(test_id, extra):
                raw = socket.create_connection(("127.0.0.1", tls_port), timeout=20)
                s = ctx.wrap_socket(raw, server_hostname="app.example.com")
                body = b'{"phone": "+14155550123"}'
                head = ("POST /api/otp/send HTTP/1.1\r\nhost: app.example.com\r\nconnection: close\r\n"
                        "content-type: application/json\r\nx-test-id: %s\r\n%scontent-length: %d\r\n\r\n"
                        % (test_id, "".join(f"{k}: {v}\r\n" for k, v in extra), len(body)))
                s.sendall(head.encode() + body)
                data = b""
                while True:
                    got = s.recv(65536)
                    if not got:
                        break
                    data += got
                s.close()
                return parse_response(data)

            st, h, body = send("tls-1", [])
            seen = origin_saw(origin, "tls-1")
            hdrs = dict(seen[0]["headers"]) if seen else {}
            ja3, ja4 = hdrs.get("x-ja3", ""), hdrs.get("x-ja4", "")
            check("TLS: tls_inspector JA3/JA4 reach the filter (fingerprint-missing rules pass) and origin",
                  st == 200 and re.fullmatch(r"[0-9a-f]{32}", ja3) is not None
                  and re.fullmatch(r"t1[23][di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}", ja4) is not None,
                  f"{st} {body[:200]} ja3={ja3!r} ja4={ja4!r}")
            forged = "0123456789abcdef0123456789abcdef"
            st, h, body = send("tls-2", [("x-ja3", forged), ("x-ja4", "t13d1516h2_8daaf6152771_02713d6af862")])
            seen = origin_saw(origin, "tls-2")
            hdrs = dict(seen[0]["headers"]) if seen else {}
            check("TLS: a client cannot forge x-ja3/x-ja4 (denied forged JA3 not seen; Envoy overwrote them)",
                  st == 200 and hdrs.get("x-ja3") == ja3 and hdrs.get("x-ja4") == ja4, f"{st} {body[:200]} {hdrs}")
        except Exception:
            check("TLS e2e ran", False, traceback.format_exc())
            procs.dump_logs()
        finally:
            procs.stop()

    # -- a crashed VM under each failure_policy (the test-trap build traps on a header)
    def run_traps(self):
        origin = L.free_port()
        admin = L.free_port()
        policy = concurrency_policy(2)
        policy["rules"].append({"id": "geo", "action": "block", "country": {"deny": ["NG"]}})
        ports = {fp: L.free_port() for fp in ("FAIL_RELOAD", "FAIL_CLOSED", "FAIL_OPEN")}
        listeners = [L.listener(f"trap-{fp.lower()}", port, [L.wasm_filter(
            L.plugin_config(policy, f"trap{i}"), self.args.trap_wasm, vm_id=f"trap{i}", failure_policy=fp)])
            for i, (fp, port) in enumerate(ports.items())]
        cfg = os.path.join(self.work, "traps.json")
        with open(cfg, "w") as f:
            json.dump(L.bootstrap(listeners, [L.cluster("origin", origin)], admin), f)
        procs = L.Procs(os.path.join(self.work, "logs-traps"))
        good, bad = b'{"phone": "+14155550177"}', b'{"phone": "+2348031234567"}'

        def send(fp, test_id, body, trap=False, ip="198.51.100.60"):
            headers = self.otp_headers(test_id, ip=ip) + ([("x-pumpguard-test-trap", "1")] if trap else [])
            try:
                return http1(ports[fp], "POST", "/api/otp", headers, body=body, timeout=5)[0]
            except OSError:
                return None

        def until(fp, want, test_id, body, seconds=10):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                got = send(fp, test_id, body)
                if got == want:
                    return got
                time.sleep(0.1)
            return send(fp, test_id, body)

        try:
            procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port", str(origin)])
            procs.start("envoy", [self.args.envoy, "-c", cfg, "--concurrency", "1", "-l", "info",
                                  "--base-id", str(admin), "--disable-hot-restart"])
            L.wait_http(f"http://127.0.0.1:{origin}/__origin/health", procs, "origin")
            L.wait_envoy_ready(admin, procs)
            outcome = {}
            for fp in ports:
                before = [send(fp, f"{fp}-b0", bad), send(fp, f"{fp}-g0", good), send(fp, f"{fp}-g1", good)]
                trapped = send(fp, f"{fp}-trap", good, trap=True)
                right_after = send(fp, f"{fp}-after", bad)
                time.sleep(2)
                later = send(fp, f"{fp}-later", bad)
                outcome[fp] = (before, trapped, right_after, later)
            origin_saw_bad = {fp: origin_saw(origin, f"{fp}-after") or origin_saw(origin, f"{fp}-later") for fp in ports}
            reload_b, reload_t, reload_a, _ = outcome["FAIL_RELOAD"]
            reloaded = until("FAIL_RELOAD", 403, "FAIL_RELOAD-reloaded", bad)
            # The per-IP limit (burst 2) was spent before the crash: shared data outlives the VM.
            throttled = send("FAIL_RELOAD", "FAIL_RELOAD-limit", good)
            check("FAIL_RELOAD: the request that crashed the VM fails (5xx), the VM is reloaded and judges again "
                  "(block 403), counters kept across the reload (per-IP limit still 429)",
                  reload_b == [403, 200, 200] and reload_t is not None and reload_t >= 500 and reloaded == 403
                  and throttled == 429 and not origin_saw(origin, "FAIL_RELOAD-trap"),
                  f"{outcome['FAIL_RELOAD']} reloaded {reloaded} limit {throttled}")
            closed_b, closed_t, closed_a, closed_l = outcome["FAIL_CLOSED"]
            check("FAIL_CLOSED: after a crash every request is refused (5xx) until Envoy restarts; origin sees none",
                  closed_b == [403, 200, 200] and closed_t >= 500 and closed_a >= 500 and closed_l >= 500
                  and not origin_saw_bad["FAIL_CLOSED"], f"{outcome['FAIL_CLOSED']}")
            open_b, open_t, open_a, open_l = outcome["FAIL_OPEN"]
            check("FAIL_OPEN: after a crash requests bypass the filter unjudged: a denied number reaches origin",
                  open_b == [403, 200, 200] and open_a == 200 and open_l == 200 and origin_saw_bad["FAIL_OPEN"],
                  f"{outcome['FAIL_OPEN']} trap {open_t}")
        except Exception:
            check("trap e2e ran", False, traceback.format_exc())
            procs.dump_logs()
        finally:
            procs.stop()

    # -- counters across a policy update and a new VM (listeners from a watched LDS file)
    def run_reload(self):
        port, admin, origin = L.free_port(), L.free_port(), L.free_port()
        work = os.path.join(self.work, "reload")
        os.makedirs(work, exist_ok=True)
        lds = os.path.join(work, "lds.json")

        def write_lds(policy, vm_configuration):
            plugin = L.plugin_config(policy, "reload")
            flt = L.wasm_filter(plugin, self.args.wasm, vm_id="reload")
            if vm_configuration:
                # A different VM configuration makes Envoy start a new VM for the same vm_id.
                flt["typed_config"]["config"]["vm_config"]["configuration"] = {
                    "@type": "type.googleapis.com/google.protobuf.StringValue", "value": vm_configuration}
            listener = {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                        **L.listener("reload", port, [flt])}
            with open(lds + ".tmp", "w") as f:
                json.dump({"resources": [listener]}, f)
            os.replace(lds + ".tmp", lds)  # Envoy watches for the file being moved into place

        def lds_updates(outcome="update_success"):
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats?filter=listener_manager.lds.{outcome}",
                                        timeout=5) as r:
                m = re.search(outcome + r": (\d+)", r.read().decode())
            return int(m.group(1)) if m else 0

        def wait_update(before, outcome="update_success"):
            for _ in range(200):
                if lds_updates(outcome) > before:
                    return True
                time.sleep(0.05)
            return False

        def send(test_id):
            body = b'{"phone": "+14155550142"}'
            for _ in range(100):  # the listener may still be (re)starting
                try:
                    return http1(port, "POST", "/api/otp", self.otp_headers(test_id, ip="198.51.100.40"), body=body)[0]
                except OSError:
                    time.sleep(0.05)
            return None

        policy = concurrency_policy(3)
        write_lds(policy, None)
        boot = L.bootstrap([], [L.cluster("origin", origin)], admin)
        del boot["static_resources"]["listeners"]
        boot["node"] = {"id": "e2e-reload", "cluster": "e2e"}
        boot["dynamic_resources"] = {"lds_config": {"path_config_source": {"path": lds}, "resource_api_version": "V3"}}
        cfg = os.path.join(work, "envoy.json")
        with open(cfg, "w") as f:
            json.dump(boot, f)
        procs = L.Procs(os.path.join(self.work, "logs-reload"))
        try:
            procs.start("origin", [sys.executable, os.path.join(ROOT, "tests/origin.py"), "--port", str(origin)])
            procs.start("envoy", [self.args.envoy, "-c", cfg, "--concurrency", "1", "-l", "info",
                                  "--base-id", str(admin), "--disable-hot-restart"])
            L.wait_http(f"http://127.0.0.1:{origin}/__origin/health", procs, "origin")
            L.wait_envoy_ready(admin, procs)
            logfile = os.path.join(self.work, "logs-reload", "envoy.log")

            def vm_starts():
                """VMs started on worker threads (the main thread also starts one to check each config)."""
                lines = open(logfile, encoding="utf-8", errors="replace").read().splitlines()
                thread = lambda line: line.split("][", 2)[1] if line.count("][") >= 2 else ""  # noqa: E731
                main = {thread(l) for l in lines if "starting main dispatch loop" in l}
                return sum(1 for l in lines if "pumpguard: VM started" in l and thread(l) not in main)

            first = [send(f"reload-{i}") for i in range(3)]
            vms = vm_starts()
            # A policy update (a shadow rule added): the same VM gets a new plugin configuration.
            updated = json.loads(json.dumps(policy))
            updated["rules"].append({"id": "watch", "action": "block", "shadow": True, "country": {"deny": ["NG"]}})
            before = lds_updates()
            write_lds(updated, None)
            applied = wait_update(before)
            after_policy = send("reload-3")
            check("policy update through LDS: applied to the running VM, and the counter kept (4th send of burst 3 "
                  "throttled)", first == [200, 200, 200] and applied and after_policy == 429 and vm_starts() == vms > 0,
                  f"{first} {applied} {after_policy} VM starts {vms} -> {vm_starts()}")
            before = lds_updates()
            write_lds(updated, "new-vm")
            applied = wait_update(before)
            after_vm = send("reload-4")
            check("new VM for the same vm_id: counters kept in the process's shared data (still throttled)",
                  applied and after_vm == 429 and vm_starts() > vms, f"{applied} {after_vm} VM starts {vms} -> {vm_starts()}")
            # A bad policy pushed at runtime: the plugin refuses it, Envoy rejects the listener update,
            # and the listener it had keeps judging with its policy and counters.
            bad = json.loads(json.dumps(updated))
            bad["rules"].append({"id": "broken", "action": "explode"})
            before = lds_updates("update_rejected")
            write_lds(bad, "bad-policy")
            rejected = wait_update(before, "update_rejected")
            after_bad = send("reload-5")
            log = open(logfile, encoding="utf-8", errors="replace").read()
            check("bad policy pushed at runtime: listener update rejected, the running policy and counters keep "
                  "judging (still throttled), the log names the bad field",
                  rejected and after_bad == 429 and "policy.rules[2].action: unknown variant" in log,
                  f"rejected {rejected}, status {after_bad}")
            # An Envoy restart: shared data lives in the process, so its counters start empty.
            write_lds(updated, "new-vm")
            procs.stop("envoy")
            procs.start("envoy", [self.args.envoy, "-c", cfg, "--concurrency", "1", "-l", "info",
                                  "--base-id", str(admin), "--disable-hot-restart"])
            L.wait_envoy_ready(admin, procs)
            after_restart = send("reload-6")
            check("Envoy restart: shared-data counters start empty (the throttled number is allowed again)",
                  after_restart == 200, f"{after_restart}")
        except Exception:
            check("reload e2e ran", False, traceback.format_exc())
            procs.dump_logs()
        finally:
            procs.stop()

    def close(self, dump):
        if dump:
            self.procs.dump_logs(60)
        self.procs.stop()
        if getattr(self, "siteverify", None):
            self.siteverify.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "e2e-envoy"))
    ap.add_argument("--trap-wasm", help="the test-trap build of the filter, for the failure_policy tests")
    ap.add_argument("--only")
    args = ap.parse_args()
    args.wasm = os.path.abspath(args.wasm)
    h = Harness(args)
    try:
        h.run_main()
        if not args.only or "tls" in args.only:
            h.run_tls()
        if not args.only or "reload" in args.only:
            h.run_reload()
        if args.trap_wasm and (not args.only or "trap" in args.only):
            args.trap_wasm = os.path.abspath(args.trap_wasm)
            h.run_traps()
    except Exception:
        check("harness ran to the end", False, traceback.format_exc())
    finally:
        h.close(dump=RESULTS["failed"] > 0)
    if FAILURES:
        print("failed: " + ", ".join(FAILURES), file=sys.stderr)
    print(f"e2e-envoy: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
