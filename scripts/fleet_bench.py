#!/usr/bin/env python3
"""`just bench-fleet`: what the remote store costs, against the shared-data store, in one run.

1. Latency, same run, same route: one Envoy (`--concurrency 1`) with three listeners answering
   from Envoy itself (`direct_response`): no filter, the filter with shared data, the filter with
   the remote store (one store-service replica, release build, one Redis). wrk sends the bench-envoy
   OTP POST on one connection; the policy is bench-envoy's (its rate limits raised so every request
   is allowed, so the remote path makes both rounds, peek and commit). Interleaved rounds; the
   median p50 / p99 of each, and what the remote store adds over shared data. A fourth listener,
   "null store", sends its checks to a cluster that Envoy answers itself from memory (one round,
   no outcome it can use: `store.on_error: allow` lets the request through): the floor one
   remote call costs on this machine, whatever the store behind it does.
2. Store throughput: wrk straight at one replica pinned to one CPU, commit rounds of CHECKS rate
   checks on keys never seen before; counter checks/s = requests/s x CHECKS.
3. Redis memory: NUMBERS numbers' per-number counters written through the service; used_memory
   growth per number, and MEMORY USAGE of one key.

Usage: fleet_bench.py --envoy BIN --wasm FILE --store BIN [--work DIR] [--seconds N] [--rounds N]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "envoy"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fleet"))
sys.path.insert(0, HERE)
import envoylib as L  # noqa: E402
import fleetlib as F  # noqa: E402
from envoy_bench import BODY, bench_policy, parse_wrk  # noqa: E402

CHECKS = 4
NUMBERS = 20000


def null_store_listener(port):
    """A store that answers every round at once from Envoy's memory, committed and with no
    outcome: the filter counts the checks as failed and `store.on_error: allow` decides."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "null_store",
        "route_config": {"name": "null_store", "virtual_hosts": [{"name": "null_store", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"},
             "response_headers_to_add": [{"header": {"key": "x-pumpguard-committed", "value": "1"}}],
             "direct_response": {"status": 200, "body": {"inline_string": '{"outcomes":[]}'}}}]}]},
        # Read the whole request before answering: an answer before the body ends closes an
        # HTTP/1.1 connection, and every call would pay a new one.
        "http_filters": [{"name": "envoy.filters.http.buffer", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": 1048576}}, L.ROUTER],
    }
    return {
        "name": "null_store",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", "bench-fleet"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["rm", "-rf", args.work])
    os.makedirs(args.work)
    policy = bench_policy("full")
    policies = os.path.join(args.work, "policies")
    F.write_policy(policies, "bench", policy)
    # The example policy too: its per-number counters live as long as in production (the bench
    # policy's raised limits make counters that expire at once).
    example = json.load(open(os.path.join(L.ROOT, "examples/policy.json")))
    F.write_policy(policies, "example", example)
    procs = L.Procs(os.path.join(args.work, "logs"))
    try:
        redis_port, store_port, admin = L.free_port(), L.free_port(), L.free_port()
        F.start_redis(procs, "redis", redis_port, os.path.join(args.work, "redis"))
        F.start_store(procs, "store", args.store, store_port, redis_port, policies, threads=4)
        ports = {"no filter": L.free_port(), "shared data": L.free_port(), "remote store": L.free_port(),
                 "null store": L.free_port()}
        null_port = L.free_port()
        listeners = [
            L.listener("bare", ports["no filter"], [], direct=True),
            L.listener("shared", ports["shared data"],
                       [L.wasm_filter(L.plugin_config(policy, "shared", test_clock=False), args.wasm)], direct=True),
            L.listener("remote", ports["remote store"],
                       [L.wasm_filter(F.remote_plugin_config(policy, "remote", timeout_ms=1000, test_clock=False),
                                      args.wasm)], direct=True),
            L.listener("null", ports["null store"],
                       [L.wasm_filter(F.remote_plugin_config(policy, "null", cluster="null_store", timeout_ms=1000,
                                                             test_clock=False), args.wasm)], direct=True),
            null_store_listener(null_port),
        ]
        config = L.bootstrap(listeners, [F.store_cluster([store_port]), F.store_cluster([null_port], name="null_store")],
                             admin)
        cfg_path = os.path.join(args.work, "envoy.json")
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        procs.start("envoy", [args.envoy, "-c", cfg_path, "--concurrency", "1", "--disable-hot-restart", "-l", "warning"])
        L.wait_envoy_ready(admin, procs)
        lua = os.path.join(args.work, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["content-type"] = "application/json"\n'
                    'wrk.headers["host"] = "app.example.com"\n' % json.dumps(BODY))
        for name, port in ports.items():
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/otp/send", data=BODY.encode(), method="POST",
                                         headers={"content-type": "application/json", "host": "app.example.com"})
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status != 200:
                    sys.exit(f"bench-fleet: {name}: answered {r.status}")
        # Both filters judged and allowed their request (the decision counters say so).
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats?filter=^wasmcustom.pumpguard.decisions", timeout=5) as r:
            stats = r.read().decode()
        for plugin in ["shared", "remote", "null"]:
            if not any(f".plugin.{plugin}.action.allow." in l and not l.endswith(": 0") for l in stats.splitlines()):
                sys.exit(f"bench-fleet: {plugin}: the request was not judged and allowed\n{stats}")

        def wrk(port, conns, script, path="/api/otp/send", seconds=args.seconds):
            out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script,
                                  f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
            return parse_wrk(out)

        print(f"bench-fleet: 1 Envoy worker, 1 store replica (release, 4 threads), 1 Redis; "
              f"{args.rounds} interleaved rounds of {args.seconds}s, 1 connection", flush=True)
        for port in ports.values():
            wrk(port, 1, lua, seconds=1)
        runs = {name: [] for name in ports}
        for _ in range(args.rounds):
            for name, port in ports.items():
                runs[name].append(wrk(port, 1, lua))
        table = {name: {k: statistics.median(r[k] for r in rs) for k in ("p50", "p99", "rps")}
                 for name, rs in runs.items()}
        print(f"{'':14} {'p50 us':>9} {'p99 us':>9} {'req/s':>9}")
        for name, t in table.items():
            bad = sum(r["non2xx"] for r in runs[name])
            print(f"{name:14} {t['p50']:9.0f} {t['p99']:9.0f} {t['rps']:9.0f}" + (f"  ({bad} non-2xx)" if bad else ""))
        shared, remote, null = table["shared data"], table["remote store"], table["null store"]
        print(f"remote store over shared data: p50 +{remote['p50'] - shared['p50']:.0f} us (goal <= 300), "
              f"p99 +{remote['p99'] - shared['p99']:.0f} us (goal <= 1000); "
              f"p50 ratio {remote['p50'] / shared['p50']:.2f}x, req/s ratio {remote['rps'] / shared['rps']:.2f}x")
        print(f"one remote call's floor (null store over shared data): p50 +{null['p50'] - shared['p50']:.0f} us, "
              f"p99 +{null['p99'] - shared['p99']:.0f} us; the store service and Redis add "
              f"p50 +{remote['p50'] - null['p50']:.0f} us over it")
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats?filter=upstream_(cx_total|rq_total)$", timeout=5) as r:
            pool = [l for l in r.read().decode().splitlines() if "store" in l]
        print("store connections and calls: " + ", ".join(l.replace("cluster.", "") for l in pool))
        rounds = {r: F.metric(store_port, f'pumpguard_store_requests_total{{round="{r}",outcome="ok"}}') or 0
                  for r in ["peek", "commit", "peek_commit"]}
        print("store rounds of the remote listener: " + ", ".join(f"{r} {n:.0f}" for r, n in rounds.items())
              + " (peek_commit: a request in one round)")
        stale = F.metric(store_port, "pumpguard_store_stale_guesses_total")
        if stale is not None:
            print(f"keys guessed stale by whole-round swaps: {stale:.0f} "
                  "(each cost the round a second Redis round trip; none: one round trip per round)")

        # -- one replica's counter checks per second
        rules = [i for i, r in enumerate(policy["rules"]) if "rate_limit" in r][:1]
        # The policies' ids, as the filter computes them; the service logged what it loaded.
        log = open(os.path.join(args.work, "logs", "store.log")).read().splitlines()
        loaded = next(json.loads(l) for l in log if '"started"' in l)["policy_ids"]
        pid, example_id = F.policy_id(policy), F.policy_id(example)
        if str(pid) not in loaded or str(example_id) not in loaded:
            sys.exit(f"bench-fleet: policy ids {pid}, {example_id} not among those loaded: {loaded}")
        checks_lua = os.path.join(args.work, "checks.lua")
        checks = ",".join('{"rule":%d,"key":"rl:bench|%%d-%d","op":"rate"}' % (rules[0], i) for i in range(CHECKS))
        with open(checks_lua, "w") as f:
            f.write('counter = 0\nrequest = function()\n  counter = counter + 1\n'
                    f'  local body = string.format(\'{{"policy_id":{pid},"now_ms":1000000,"namespace":"bench","checks":[{checks}]}}\''
                    f', {", ".join(["counter"] * CHECKS)})\n'
                    '  return wrk.format("POST", "/checks", {["content-type"] = "application/json"}, body)\nend\n')
        # Pin the replica to CPU 1 for this part: "one replica on one core".
        store_pid = [p for n, p, _ in procs.procs if n == "store"][0].pid
        subprocess.run(["taskset", "-a", "-p", "-c", "1", str(store_pid)], capture_output=True)
        wrk(store_port, 16, checks_lua, path="/checks", seconds=1)
        results = [wrk(store_port, 16, checks_lua, path="/checks") for _ in range(2)]
        rps = statistics.median(r["rps"] for r in results)
        bad = sum(r["non2xx"] for r in results)
        print(f"one store replica on one CPU: {rps:.0f} commit rounds/s of {CHECKS} new keys = "
              f"{rps * CHECKS:.0f} counter checks/s (goal >= 20000); p50 {statistics.median(r['p50'] for r in results):.0f} us"
              + (f"; {bad} non-2xx" if bad else ""))

        # -- Redis bytes per tracked number
        F.redis_cli(redis_port, "FLUSHALL")
        before = int(dict(l.split(":", 1) for l in F.redis_cli(redis_port, "INFO", "memory").stdout.split()
                          if ":" in l)["used_memory"])
        rule = next(i for i, r in enumerate(example["rules"]) if "rate_limit" in r and r["rate_limit"]["key"] == ["number"])
        rule_id = example["rules"][rule]["id"]
        batch = []
        for n in range(NUMBERS):
            batch.append({"rule": rule, "key": f"rl:{rule_id}|1415{n:07d}", "op": "rate"})
            if len(batch) == 200 or n == NUMBERS - 1:
                body = json.dumps({"policy_id": example_id, "now_ms": 1000000, "namespace": "bench", "checks": batch})
                req = urllib.request.Request(f"http://127.0.0.1:{store_port}/checks", data=body.encode(), method="POST")
                with urllib.request.urlopen(req, timeout=10) as r:
                    assert r.status == 200
                batch = []
        after = int(dict(l.split(":", 1) for l in F.redis_cli(redis_port, "INFO", "memory").stdout.split()
                         if ":" in l)["used_memory"])
        key = f"pg:bench:rl:{rule_id}|14150000001"
        usage = F.redis_cli(redis_port, "MEMORY", "USAGE", key).stdout.strip()
        value = F.redis_cli(redis_port, "STRLEN", key).stdout.strip()
        keys = F.redis_cli(redis_port, "DBSIZE").stdout.strip()
        print(f"redis: {NUMBERS} numbers' per-number counter ({rule_id} of examples/policy.json, {keys} keys): used_memory +{after - before} bytes = "
              f"{(after - before) / NUMBERS:.0f} bytes per number (goal <= 200); MEMORY USAGE of one key {usage} bytes "
              f"(key {len(key)} bytes, value {value} bytes)")
    finally:
        procs.stop()


if __name__ == "__main__":
    main()
