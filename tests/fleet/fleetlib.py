"""Pieces the fleet e2e test and the fleet benchmark share: Redis and store-service processes, the
store cluster, plugin configurations with the remote store.

Every server listens on 127.0.0.1 on a free port, starts detached and is stopped by PID
(envoylib.Procs).
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "envoy"))
import envoylib as L  # noqa: E402

STORE_CLUSTER = "pumpguard-store"


# The server binary: Debian's redis-server unless a run names another (Valkey's valkey-server).
REDIS_SERVER = None


def redis_server_bin():
    if REDIS_SERVER:
        return REDIS_SERVER
    path = shutil.which("redis-server")
    if not path:
        raise RuntimeError("redis-server not found: run `just setup-fleet`")
    return path


def start_redis(procs, name, port, workdir):
    """A Redis with nothing persisted, DEBUG allowed from loopback (for DEBUG SLEEP)."""
    os.makedirs(workdir, exist_ok=True)
    procs.start(name, [redis_server_bin(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", workdir, "--enable-debug-command", "local",
                       "--maxmemory-policy", "noeviction"])
    wait_redis(port, procs, name)


def redis_cli(port, *args, timeout=10):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=timeout)


def wait_redis(port, procs=None, name=None):
    for _ in range(200):
        if procs is not None and name is not None and not procs.alive(name):
            raise RuntimeError(f"{name} exited before it was ready")
        r = redis_cli(port, "PING")
        if r.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis on {port} never answered PING")


def start_store(procs, name, binary, port, redis_port, policies, timeout_ms=400, threads=8, extra=(), env=None):
    """A store replica; `env`: its environment over the runner's (PUMPGUARD_STORE_TOKENS...)."""
    procs.start(name, [binary, "--listen", f"127.0.0.1:{port}", "--redis", f"127.0.0.1:{redis_port}",
                       "--policies", policies, "--redis-timeout-ms", str(timeout_ms), "--drain-ms", "0",
                       "--threads", str(threads), *extra], env=env)
    wait_ready(port, procs, name)


def wait_ready(port, procs=None, name=None, attempts=300):
    for _ in range(attempts):
        if procs is not None and name is not None and not procs.alive(name):
            raise RuntimeError(f"{name} exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"store service on {port} never became ready")


# A replica that dies leaves the rotation (docs/fleet.md, "a store replica goes away"):
# - /readyz health checks every second, so a dead or draining replica is flagged within
#   interval x unhealthy_threshold (a refused connection is a failed check);
# - outlier detection ejects it sooner, on its second refused connection (max_ejection_percent
#   50: one of two replicas may go; the default 10 % still ejects one host, said explicitly here);
# - update_merge_window 0: Envoy otherwise merges health changes for 1 s after the first one
#   and the workers, where both the router and the filter's dispatch_http_call pick hosts, keep
#   the previous view meanwhile (measured: every call went to an ejected replica for that second,
#   tests/fleet/replica_loss_probe.py).
STORE_HEALTH_CHECK = {"timeout": "1s", "interval": "1s", "no_traffic_interval": "1s", "unhealthy_threshold": 1,
                      "healthy_threshold": 1, "http_health_check": {"path": "/readyz"}}
STORE_OUTLIER_DETECTION = {"split_external_local_origin_errors": True, "consecutive_local_origin_failure": 2,
                           "interval": "1s", "base_ejection_time": "10s", "max_ejection_percent": 50}


def store_cluster(ports, name=STORE_CLUSTER, health_checks=False):
    """The store service replicas as one Envoy cluster, requests spread round robin; with
    health_checks, the settings above (a lost replica leaves the rotation)."""
    cluster = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
                for p in ports]}],
        },
    }
    if health_checks:
        cluster["health_checks"] = [dict(STORE_HEALTH_CHECK)]
        cluster["outlier_detection"] = dict(STORE_OUTLIER_DETECTION)
        cluster["common_lb_config"] = {"update_merge_window": "0s"}
    return cluster


def remote_plugin_config(policy, name, cluster=STORE_CLUSTER, timeout_ms=1000, token=None, token_env=None, **kw):
    """envoylib's plugin configuration with the counters in the store service; its bearer token
    inline (`token`) or from the VM's variable `token_env`."""
    cfg = json.loads(L.plugin_config(policy, name, **kw))
    cfg["store"] = {"backend": "remote", "namespace": name, "cluster": cluster, "timeout_ms": timeout_ms}
    if token is not None:
        cfg["store"]["token"] = token
    if token_env is not None:
        cfg["store"]["token_env"] = token_env
    return json.dumps(cfg)


def write_policy(directory, name, policy):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name + ".json"), "w") as f:
        json.dump(policy, f)


def metric(port, name):
    """A sample's value from a Prometheus text page (`name` with its labels), or None."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def wait_store_healthy(admin_ports, healthy, seconds=10.0, cluster=STORE_CLUSTER):
    """Waits (at most `seconds`) until every Envoy counts `healthy` healthy hosts in the store
    cluster; returns the last counts seen."""
    deadline = time.time() + seconds
    while True:
        counts = [envoy_counter(a, f"cluster.{cluster}.membership_healthy") for a in admin_ports]
        if all(c == healthy for c in counts) or time.time() > deadline:
            return counts
        time.sleep(0.05)


def envoy_counter(admin_port, name):
    """An Envoy counter by its full name (wasm metrics start with `wasmcustom.`), 0 when absent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats?filter=^{name}$", timeout=5) as r:
        for line in r.read().decode().splitlines():
            k, _, v = line.partition(": ")
            if k == name:
                return int(v)
    return 0


def policy_id(policy):
    """pumpguard_core::remote::policy_id of a policy document: the seeded 64-bit FNV-1a hash with
    an avalanche (core's store::key_hash) over its canonical JSON (keys sorted, no spaces)."""
    mask = (1 << 64) - 1
    text = json.dumps(policy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    h = 0xcbf29ce484222325 ^ 0x7075_6d70_6775_6172
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001b3) & mask
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & mask
    return h ^ (h >> 33)
