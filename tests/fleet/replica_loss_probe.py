#!/usr/bin/env python3
"""Probe: where does Envoy send requests after one of two store replicas is SIGKILLed?

One Envoy (--concurrency 2) with two listeners on the same 2-host store cluster:
- `plain`: a route straight to the cluster (GET /readyz: 200 from a live replica, 503 from Envoy
  when the connection to the dead one is refused);
- `filter`: the pumpguard filter (fail closed), whose store rounds are `dispatch_http_call`s.
Prints, for each send after the kill, both outcomes and the cluster's host flags and stats.

Usage: replica_loss_probe.py --envoy BIN --wasm FILE --store BIN [--config NAME] [--redis-outage]
       [--no-wait-healthy] [--work DIR]
"""

import argparse
import json
import os
import signal
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "envoy"))
import envoylib as L  # noqa: E402
import fleetlib as F  # noqa: E402
import e2e as E  # noqa: E402  (tests/envoy/e2e.py)

HC_OLD = {"timeout": "0.25s", "interval": "1s", "no_traffic_interval": "1s", "unhealthy_threshold": 1,
          "healthy_threshold": 1, "http_health_check": {"path": "/readyz"}}
OD_OLD = {"split_external_local_origin_errors": True, "consecutive_local_origin_failure": 2, "interval": "1s",
          "base_ejection_time": "10s", "max_ejection_percent": 50}


def cluster_for(config, ports):
    c = F.store_cluster(ports)
    if config == "none":
        return c
    c["health_checks"] = [dict(HC_OLD)]
    if config in ("old", "od-only"):
        c["outlier_detection"] = dict(OD_OLD)
    if config == "od-only":
        del c["health_checks"]
    if config == "hc-only":
        pass
    return c


def clusters_flags(admin):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/clusters?format=json", timeout=5) as r:
        doc = json.load(r)
    out = {}
    for c in doc.get("cluster_statuses", []):
        if c["name"] != F.STORE_CLUSTER:
            continue
        for h in c.get("host_statuses", []):
            port = h["address"]["socket_address"]["port_value"]
            hs = h.get("health_status", {})
            flags = [k for k, v in hs.items() if v is True] + ([hs["eds_health_status"]] if "eds_health_status" in hs else [])
            st = {x["name"]: x.get("value", 0) for x in h.get("stats", [])}
            out[port] = flags + [f"rq={st.get('rq_total', 0)} cf={st.get('cx_connect_fail', 0)}"]
    return out


def stats(admin, prefix=f"cluster.{F.STORE_CLUSTER}."):
    keys = ["lb_healthy_panic", "membership_healthy", "membership_total", "health_check.failure",
            "health_check.success", "health_check.attempt", "outlier_detection.ejections_active",
            "outlier_detection.ejections_enforced_total", "upstream_cx_connect_fail", "upstream_rq_total"]
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats?filter=^cluster\\.{F.STORE_CLUSTER}\\.", timeout=5) as r:
        lines = r.read().decode().splitlines()
    vals = {}
    for line in lines:
        k, _, v = line.partition(": ")
        short = k[len(prefix):]
        if short in keys:
            vals[short] = v
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--config", default="old")
    ap.add_argument("--redis-outage", action="store_true")
    ap.add_argument("--no-wait-healthy", action="store_true")
    ap.add_argument("--sends", type=int, default=20)
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", "replica-loss-probe"))
    ap.add_argument("--cluster-json", help="extra keys merged into the store cluster (JSON)")
    args = ap.parse_args()
    os.system(f"rm -rf {args.work}")
    os.makedirs(args.work)
    procs = L.Procs(os.path.join(args.work, "logs"))
    try:
        policies = os.path.join(args.work, "policies")
        rule = {"id": "per-number", "action": "throttle",
                "rate_limit": {"key": ["number"], "rate": 1, "per_seconds": 3600, "burst": 100}}
        policy = {"version": 1, "default_region": "US", "expose_findings": True, "store": {"on_error": "block"},
                  "routes": [{"id": "otp", "kind": "send", "match": {"methods": ["POST"], "path": {"exact": "/api/otp"}},
                              "extract": {"json_keys": ["phone"]}}], "rules": [rule]}
        F.write_policy(policies, "fail-closed", policy)
        redis_port = L.free_port()
        F.start_redis(procs, "redis", redis_port, os.path.join(args.work, "redis"))
        ports = [L.free_port(), L.free_port()]
        for i, p in enumerate(ports):
            F.start_store(procs, f"store{i}", args.store, p, redis_port, policies)
        admin, plain, filt = L.free_port(), L.free_port(), L.free_port()
        plugin = F.remote_plugin_config(policy, "fail-closed", timeout_ms=1000)
        listeners = [L.listener("plain", plain, [], cluster=F.STORE_CLUSTER),
                     L.listener("filter", filt, [L.wasm_filter(plugin, os.path.abspath(args.wasm))], direct=True)]
        c = cluster_for(args.config, ports)
        if args.cluster_json:
            c.update(json.loads(args.cluster_json))
        print("cluster:", json.dumps({k: v for k, v in c.items() if k != "load_assignment"}))
        path = os.path.join(args.work, "envoy.json")
        with open(path, "w") as f:
            json.dump(L.bootstrap(listeners, [c], admin), f, indent=1)
        procs.start("envoy", [args.envoy, "-c", path, "--concurrency", "2", "-l", os.environ.get("PROBE_LOG", "info"), "--base-id", str(admin),
                              "--disable-hot-restart"])
        L.wait_envoy_ready(admin, procs)
        t0 = time.time()
        print(f"envoy ready; store0={ports[0]} store1={ports[1]}; flags {clusters_flags(admin)} {stats(admin)}")

        def send_plain():
            st, _, _ = E.http1(plain, "GET", "/readyz", [], timeout=5)
            return st

        n = [0]

        def send_filter():
            n[0] += 1
            st, _, body = E.http1(filt, "POST", "/api/otp", [("content-type", "application/json"),
                                                            ("x-forwarded-for", "198.51.100.40")],
                                  body=json.dumps({"phone": f"+1415555{5000 + n[0]:04d}"}).encode(), timeout=10)
            return st

        for i in range(6):
            print(f"warm {i}: plain {send_plain()} filter {send_filter()}")
        if args.redis_outage:
            procs.stop("redis")
            for i in range(4):
                print(f"redis down {i}: plain {send_plain()} filter {send_filter()} {clusters_flags(admin)} {stats(admin)}")
                time.sleep(0.5)
            F.start_redis(procs, "redis", redis_port, os.path.join(args.work, "redis"))
            for p in ports:
                F.wait_ready(p)
            print(f"redis back: {clusters_flags(admin)} {stats(admin)}")
        if not args.no_wait_healthy:
            started = time.time()
            while stats(admin).get("membership_healthy") != "2" and time.time() - started < 10:
                time.sleep(0.05)
            print(f"both healthy after {time.time() - started:.2f}s: {clusters_flags(admin)} {stats(admin)}")
        s1_before = F.metric(ports[1], 'pumpguard_store_requests_total{round="peek_commit",outcome="ok"}') or 0
        proc = next(p for nm, p, _ in procs.procs if nm == "store0")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        tk = time.time()
        print(f"killed store0 at +{tk - t0:.2f}s")
        res = []
        for i in range(args.sends):
            a, b = send_plain(), send_filter()
            res.append((a, b))
            print(f"+{time.time() - tk:5.2f}s plain {a} filter {b} {clusters_flags(admin)} {stats(admin)}", flush=True)
            time.sleep(0.1)
        s1_after = F.metric(ports[1], 'pumpguard_store_requests_total{round="peek_commit",outcome="ok"}') or 0
        print(f"plain 200s {sum(1 for a, _ in res if a == 200)}/{len(res)}, filter 200s {sum(1 for _, b in res if b == 200)}/{len(res)}; "
              f"last 10 plain {[a for a, _ in res[-10:]]} filter {[b for _, b in res[-10:]]}; store1 peek_commit +{s1_after - s1_before:.0f}")
    finally:
        procs.stop()


if __name__ == "__main__":
    main()
