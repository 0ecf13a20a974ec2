"""Shared pieces of the Envoy harness, demo and benchmark: config rendering and process control
(and the built Worker in workerd, for the Python tiers that run on both hosts).

Envoy reads JSON as YAML, so configs are rendered as JSON from Python dicts. Every server
listens on 127.0.0.1 only, starts detached (its own session), is recorded by PID and stopped by
PID; readiness is polled, never assumed from elapsed time.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Metric names are pumpguard.decisions.plugin.P.action.A.reason.R.rule.U.country.C.mode.M,
# pumpguard.store.plugin.P.eviction.K and pumpguard.inputs.plugin.P.input.I.state.S; each tag
# regex removes its `.name.value` pair (first group) and keeps the value (second). One `plugin`
# regex covers the three families.
STATS_TAGS = [
    {"tag_name": "plugin", "regex": r"^wasmcustom\.pumpguard\.(?:decisions|store|inputs).*?(\.plugin\.([^.]+))"},
] + [
    {"tag_name": tag, "regex": r"^wasmcustom\.pumpguard\.decisions.*?(\.%s\.([^.]+))" % key}
    for tag, key in [
        ("action", "action"),
        ("reason", "reason"),
        ("rule", "rule"),
        ("country", "country"),
        ("mode", "mode"),
    ]
] + [
    {"tag_name": tag, "regex": r"^wasmcustom\.pumpguard\.inputs.*?(\.%s\.([^.]+))" % tag}
    for tag in ["input", "state"]
]


# The e2e harnesses' tally: one line per check, `ok` or `FAIL` with its detail.
RESULTS = {"passed": 0, "failed": 0}
FAILURES = []


def check(name, ok, detail=""):
    if ok:
        RESULTS["passed"] += 1
        print(f"ok    {name}", flush=True)
    else:
        RESULTS["failed"] += 1
        FAILURES.append(name)
        print(f"FAIL  {name}" + (f"\n      {detail}" if detail else ""), flush=True)
    return ok


_HANDED_OUT = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def serve_loopback(handler):
    """`handler` (a BaseHTTPRequestHandler class) on a free 127.0.0.1 port, served from a daemon
    thread: the test's fakes (siteverify, a site's pages). Its port is `server_address[1]`;
    `stop_server` stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_server(server):
    server.shutdown()
    server.server_close()


def answer(handler, status, data, ctype="application/json"):
    """One whole answer from a fake's handler; a client that went away is no error."""
    try:
        handler.send_response(status)
        handler.send_header("content-type", ctype)
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def siteverify_valid(token):
    """A siteverify success for a `pass*` token, as core/src/scenario.rs defines it: the tag
    after `pass` (up to the first `-`) may name the solving device (`@D`, named as Turnstile
    Enterprise names it, `metadata.ephemeral_id`) and the widget's action (`!A`)."""
    body = {"success": True, "hostname": "app.example.com", "error-codes": []}
    device, _, action = token[len("pass"):].split("-", 1)[0].partition("!")
    if device.startswith("@") and len(device) > 1:
        body["metadata"] = {"ephemeral_id": "x:" + device[1:]}
    if action:
        body["action"] = action
    return body


def free_port():
    """A port free now on 127.0.0.1, below the kernel's ephemeral range (so no outgoing
    connection on this machine is given it before our server binds it), and never handed out
    before by this process."""
    import random
    low, _ = _ephemeral_range()
    top = max(low - 1, 11000)
    for _ in range(10000):
        port = random.randint(10000, top)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def plugin_config(policy, name, siteverify=None, test_clock=True, tls_headers=None, buckets=1024, entries=16,
                  hold_headers=True, seed=None, edge_headers=None, number_intel=None):
    cfg = {
        "name": name,
        "policy": policy,
        "store": {"namespace": name, "buckets": buckets, "entries_per_bucket": entries},
        "log_decisions": True,
    }
    if seed is not None:
        cfg["store"]["seed"] = seed
    if not hold_headers:
        cfg["hold_headers"] = False
    if siteverify:
        cfg["siteverify"] = siteverify
    # Only a policy that looks numbers up may name a provider cluster.
    if number_intel and policy.get("number_intel"):
        cfg["number_intel"] = number_intel
    if test_clock:
        cfg["test_clock_header"] = "x-pumpguard-test-now-ms"
    if tls_headers:
        cfg["tls_headers"] = tls_headers
    if edge_headers:
        cfg["edge_headers"] = edge_headers
    return json.dumps(cfg)


def wasm_filter(plugin_json, wasm_path, vm_id="pumpguard", hold_headers=True, env=None, failure_policy="FAIL_RELOAD",
                host_env_keys=None):
    """`env`: variables given to the VM (`key_values`); `host_env_keys`: Envoy's own variables
    copied into it. Filters on one vm_id share one VM and the environment of the first."""
    vm_config = {
        "vm_id": vm_id,
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": wasm_path}},
    }
    if env or host_env_keys:
        vm_config["environment_variables"] = {}
    if env:
        vm_config["environment_variables"]["key_values"] = env
    if host_env_keys:
        vm_config["environment_variables"]["host_env_keys"] = list(host_env_keys)
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "pumpguard",
                "root_id": "pumpguard",
                # A crashed VM is reloaded; the request that crashed it fails closed.
                "failure_policy": failure_policy,
                # Pause at the headers and still receive the body: origin sees nothing of a block.
                "allow_on_headers_stop_iteration": hold_headers,
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": plugin_json},
                "vm_config": vm_config,
            },
        },
    }


ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


# The headers pumpguard sets for origin (core's DECISION_HEADERS).
DECISION_HEADERS = ["x-pumpguard-decision", "x-pumpguard-country", "x-pumpguard-number-type", "x-pumpguard-findings",
                    "x-pumpguard-risk", "x-pumpguard-missing-inputs", "x-pumpguard-captcha"]


def skip_route(prefix, cluster="origin"):
    """A route whose requests skip the wasm filter, as in envoy/envoy.yaml: pumpguard's headers
    are removed there, so a client cannot forge them for origin."""
    return {
        "match": {"prefix": prefix},
        "route": {"cluster": cluster},
        "typed_per_filter_config": {"envoy.filters.http.wasm": {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}},
        "request_headers_to_remove": DECISION_HEADERS,
    }


def listener(name, port, http_filters, cluster="origin", codec="AUTO", trusted_hops=1, direct=False,
             skip_prefixes=()):
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": codec,
        # The client address comes from the connection, or from x-forwarded-for past one
        # trusted hop (the test runner stands in for a load balancer in front of Envoy).
        "use_remote_address": True,
        "xff_num_trusted_hops": trusted_hops,
        "route_config": {
            "name": name,
            "virtual_hosts": [
                {"name": name, "domains": ["*"], "routes": [skip_route(p, cluster) for p in skip_prefixes] + [
                    {"match": {"prefix": "/"}, **(
                    # Answered by Envoy itself, after every filter (the body is judged by then).
                    {"direct_response": {"status": 200, "body": {"inline_string": "sent"}}} if direct
                    else {"route": {"cluster": cluster}})}]}
            ],
        },
        "http_filters": list(http_filters) + [ROUTER],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def routes_of(listener):
    """The routes of a listener as `listener()` renders it, to put routes before its catch-all."""
    return listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]


def serve_envoy(procs, envoy_bin, work, config, admin_port, log_level="info"):
    """Writes `config` to WORK/envoy.json and starts Envoy on it (one worker thread) as process
    `envoy`; returns once its admin says it is live."""
    path = os.path.join(work, "envoy.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    procs.start("envoy", [envoy_bin, "-c", path, "--concurrency", "1", "-l", log_level,
                          "--base-id", str(admin_port), "--disable-hot-restart"])
    wait_envoy_ready(admin_port, procs)


def cluster(name, port, http2=False, timeout="5s"):
    c = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
            ],
        },
    }
    if http2:
        c["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return c


def answering_upstream(port, admin_port):
    """An Envoy that answers every request itself with `{"sent":true}`: an upstream for load runs
    that costs next to nothing, so the proxy under test is the bottleneck."""
    return bootstrap([{
        "name": "up", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "up",
            "route_config": {"virtual_hosts": [{"name": "up", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": '{"sent":true}'}}}]}]},
            "http_filters": [ROUTER]}}]}]}], [], admin_port)


# Networks of the test country databases: 81.2.69.0/24 GB, 216.160.83.0/24 US, 2001:db8:1::/48 DE.
GEO_TEST_NETWORKS = {"81.2.69.0/24": "GB", "216.160.83.0/24": "US", "2001:db8:1::/48": "DE"}


def write_country_db(path, networks, database_type="GeoLite2-Country"):
    """A database in MaxMind's format mapping `networks` ({cidr: ISO code}) to countries and nothing
    else (a City database carries the same country records). Written aside and moved into place,
    as a database update is."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet
    db = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type, languages=["en"],
                    description="pumpguard tests")
    for net, country in networks.items():
        db.insert_network(IPSet([net]), {"country": {"iso_code": country}})
    db.to_db_file(path + ".new")
    os.replace(path + ".new", path)


# Tor exits in the test anonymous-IP database; the country database places them in DE.
TOR_TEST_NETWORKS = ["185.220.100.0/24"]
TOR_HEADER = "x-client-tor"


def write_anon_db(path, tor_networks):
    """An anonymous-IP database in MaxMind's format marking `tor_networks` as Tor exits."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet
    db = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Anonymous-IP", languages=["en"],
                    description="pumpguard tests")
    db.insert_network(IPSet(tor_networks), {"is_anonymous": True, "is_tor_exit_node": True})
    db.to_db_file(path + ".new")
    os.replace(path + ".new", path)


def geoip_filters(db_path, before_1_37=False, anon_db_path=None):
    """envoy/geoip-filters.yaml as shipped, pointed at `db_path`; with `before_1_37`, in the form
    docs/envoy.md gives for older Envoys (a City database, `geo_headers_to_add`); with
    `anon_db_path`, with the Tor additions docs/envoy.md gives (the client's x-client-tor removed,
    the anonymous-IP database's `anon_tor` written to it)."""
    import yaml
    with open(os.path.join(ROOT, "envoy/geoip-filters.yaml")) as f:
        filters = yaml.safe_load(f)
    provider = filters[1]["typed_config"]["provider"]["typed_config"]
    provider["country_db_path"] = db_path
    if anon_db_path:
        filters[0]["typed_config"]["mutations"]["request_mutations"].append({"remove": TOR_HEADER})
        provider["anon_db_path"] = anon_db_path
        provider["common_provider_config"]["geo_field_keys"]["anon_tor"] = TOR_HEADER
    if before_1_37:
        provider["city_db_path"] = provider.pop("country_db_path")
        common = provider["common_provider_config"]
        common["geo_headers_to_add"] = common.pop("geo_field_keys")
    return filters


def bootstrap(listeners, clusters, admin_port):
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "stats_config": {"stats_tags": STATS_TAGS},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


class Procs:
    """Processes started detached, stopped by PID."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.procs = []  # (name, Popen, log path)
        os.makedirs(logdir, exist_ok=True)

    def start(self, name, argv, cwd=ROOT, env=None):
        """`env`: variables set for this process over the runner's own."""
        log_path = os.path.join(self.logdir, name + ".log")
        log = open(log_path, "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True, env={**os.environ, **env} if env else None)
        log.close()
        self.procs.append((name, proc, log_path))
        return proc

    def alive(self, name):
        return any(n == name and p.poll() is None for n, p, _ in self.procs)

    def stop(self, name=None):
        for n, proc, _ in list(self.procs):
            if name is not None and n != name:
                continue
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            self.procs.remove((n, proc, _))

    def dump_logs(self, tail=80, out=sys.stderr):
        for n, _, path in self.procs:
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                continue
            print(f"----- {n} log ({path}), last {tail} lines -----", file=out)
            for line in lines[-tail:]:
                print(line, file=out)


def wait_http(url, procs=None, name=None, attempts=600):
    """Polls until url answers (any HTTP status); fails early if the process died."""
    for _ in range(attempts):
        if procs is not None and name is not None and not procs.alive(name):
            raise RuntimeError(f"{name} exited before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} never became ready")


def wait_envoy_ready(admin_port, procs, name="envoy"):
    for _ in range(1200):
        if not procs.alive(name):
            raise RuntimeError("envoy exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"LIVE":
                    return
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("envoy never became ready")


def serve_worker(procs, work, name, policy, origin_url, settings=None):
    """Starts the built Worker in workerd (tests/worker/serve.mjs) as process `name` with the policy,
    origin and further settings (name → value); returns its URL once it answers."""
    url_file = os.path.join(work, f"{name}-url")
    if os.path.exists(url_file):
        os.remove(url_file)
    procs.start(name, ["node", os.path.join(ROOT, "tests", "worker", "serve.mjs"), "--origin", origin_url,
                       "--policy", json.dumps(policy), "--url-file", url_file, "--vars", json.dumps(settings or {})],
                cwd=os.path.join(ROOT, "tests", "worker"))
    for _ in range(600):
        if not procs.alive(name):
            raise RuntimeError(f"{name} exited before it was ready")
        if os.path.exists(url_file):
            with open(url_file) as f:
                url = f.read().strip()
            if url:
                return url
        time.sleep(0.1)
    raise RuntimeError(f"{name} never became ready")
