#!/usr/bin/env python3
"""`just bench-envoy`: what the filter costs in a real Envoy.

One Envoy, one worker (`--concurrency 1`, pinned to CPU 1), two listeners with the same route
to the same upstream: one with the filter, one without. The upstream is a second Envoy answering
every request itself (`direct_response`, pinned with wrk to CPU 0), so the proxy under test is
the bottleneck. wrk sends a ~200-byte JSON OTP POST to the guarded route; the filter runs the
whole example policy (stateless rules plus three shared-data counters, limits raised so every
request is allowed and forwarded, as in normal traffic). Runs alternate between the two
listeners (filter, bare, filter, bare, ...) so drift hits both. Two modes:

- throughput: 16 connections; req/s of each, and the ratio (goal >= 0.95);
- latency: 1 connection; p50 / p99 of each, and the p50 added by the filter (goal <= 25 us).

Usage: envoy_bench.py --envoy BIN --wasm FILE [--work DIR] [--seconds N] [--rounds N]
"""

import argparse
import json
import os
import re
import statistics
import time
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "envoy"))
import envoylib as L  # noqa: E402

BODY = json.dumps({"phone": "+14155550123", "email": "jane.doe@example.com", "locale": "en-US",
                   "channel": "sms", "client": "web/4.18.2", "device_id": "3f2b8c1e-9d7a-4e6b-a1c2-5f0e8d7b6a49",
                   "terms": True, "marketing": False})


def bench_policy(variant="full"):
    policy = json.load(open(os.path.join(L.ROOT, "examples/policy.json")))
    if variant == "route-only":
        policy["rules"] = []
        return policy
    rules = []
    for rule in policy["rules"]:
        if "rate_limit" in rule:
            rule["rate_limit"].update({"rate": 1000000000, "per_seconds": 1, "burst": 1000000000})
            rule.pop("shadow", None)
            if rule["id"] == "suspicious-asn-challenge":
                continue
        if any(k in rule for k in ("backoff", "adjacent", "conversion")):
            continue  # one number sent again and again would trip these: not normal traffic
        if variant == "stateless" and "rate_limit" in rule:
            continue
        rules.append(rule)
    policy["rules"] = rules
    return policy


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_wrk(text):
    def dur(v):
        m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    total = int(re.search(r"(\d+) requests in", text).group(1))
    return {"rps": rps, "requests": total, "p50": dur(p.get("50", "")), "p99": dur(p.get("99", "")),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else ""}


HOST_CALL_KINDS = ["none", "clock", "header", "headers", "property", "shared-get", "shared-set", "add-header", "metric"]


def price_host_calls(args, wrk, port, lua):
    """The bench-hostcalls module makes 20 calls of the kind `x-bench-call` names per request;
    the proxy CPU per request over `none` (same run, interleaved), divided by 20, prices one call."""
    scripts = {}
    for kind in HOST_CALL_KINDS:
        scripts[kind] = os.path.join(args.work, f"price-{kind}.lua")
        with open(lua) as src, open(scripts[kind], "w") as f:
            f.write(src.read() + f'wrk.headers["x-bench-call"] = "{kind}"\n')
    wrk(port, 4, scripts["none"])
    runs = {kind: [] for kind in HOST_CALL_KINDS}
    for _ in range(args.rounds):
        for kind in HOST_CALL_KINDS:
            runs[kind].append(wrk(port, 16, scripts[kind])["cpu_us"])
    base = statistics.median(runs["none"])
    print(f"\nproxy CPU per request with 20 host calls of one kind, minus a request with none "
          f"({base:.1f} us), / 20; median of {args.rounds} interleaved rounds:")
    for kind in HOST_CALL_KINDS[1:]:
        per_call = (statistics.median(runs[kind]) - base) / 20
        print(f"  {kind:<11} {per_call:6.2f} us per call   runs: " + ", ".join(f"{r:.1f}" for r in runs[kind]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--floor-wasm", help="the bench-floor build: a wasm filter that forwards everything untouched")
    ap.add_argument("--timing-wasm", help="the bench-timing build: reports time spent inside the VM per phase")
    ap.add_argument("--price-wasm", help="the bench-hostcalls build: instead of the comparison, price each kind of "
                    "host call (20 per request) against a request that makes none")
    ap.add_argument("--extra-wasm", action="append", default=[], metavar="LABEL=FILE",
                    help="another module on a listener of its own (e.g. a build to compare)")
    ap.add_argument("--stages-wasm", help="the bench-stages build: one more listener per stage at which a request's "
                    "work stops, to price each stage whole")
    ap.add_argument("--stages", default="clock,one-header,headers-read,headers,body-read,judge,counted",
                    help="with --stages-wasm: the stages, comma-separated")
    ap.add_argument("--geoip", action="store_true",
                    help="one more listener with envoy/geoip-filters.yaml in front of the filter, over a test "
                         "country database that knows the benchmark's client address")
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", "bench-envoy"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--policy", choices=["full", "stateless", "route-only", "unguarded", "nohold"], default="full",
                    help="full: the example policy's rules; stateless: without counters; route-only: no rules; "
                         "unguarded: full policy, requests to a path no route guards; "
                         "nohold: full policy with hold_headers off (as under Istio's WasmPlugin)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    path = "/api/profile" if args.policy == "unguarded" else "/api/otp/send"
    up_port, up_admin, front_admin, with_port, bare_port, floor_port = (L.free_port() for _ in range(6))
    extras = [(e.split("=", 1)[0], os.path.abspath(e.split("=", 1)[1]), L.free_port(), None) for e in args.extra_wasm]
    if args.stages_wasm:
        extras += [(f"to {stage}", os.path.abspath(args.stages_wasm), L.free_port(), {"PUMPGUARD_BENCH_STOP": stage})
                   for stage in args.stages.split(",")]
    timing_port, price_port, skip_port = L.free_port(), L.free_port(), L.free_port()
    geoip_port, geoip_label = L.free_port(), "geoip + filter"
    if args.geoip:
        # The client is 127.0.0.1: a database holding it makes every lookup a hit.
        db = os.path.join(args.work, "country.mmdb")
        L.write_country_db(db, {"127.0.0.0/8": "GB", **L.GEO_TEST_NETWORKS})
    # Unguarded traffic can also skip the filter in Envoy's route (as envoy/envoy.yaml does for /static/).
    skipping = args.policy == "unguarded"

    upstream = L.answering_upstream(up_port, up_admin)
    hold = args.policy != "nohold"
    plugin = json.dumps({"name": "bench", "policy": bench_policy(args.policy), "store": {"namespace": "bench"},
                         "log_decisions": True, "hold_headers": hold})
    front = L.bootstrap([
        L.listener("with_filter", with_port, [L.wasm_filter(plugin, os.path.abspath(args.wasm), hold_headers=hold)],
                   cluster="upstream", trusted_hops=0),
        L.listener("without_filter", bare_port, [], cluster="upstream", trusted_hops=0),
    ] + ([L.listener("floor", floor_port, [L.wasm_filter(plugin, os.path.abspath(args.floor_wasm), vm_id="floor")],
                     cluster="upstream", trusted_hops=0)] if args.floor_wasm else [])
      + [L.listener(f"extra{i}", port, [L.wasm_filter(plugin, wasm, vm_id=f"extra{i}", hold_headers=hold, env=env)],
                    cluster="upstream", trusted_hops=0) for i, (_, wasm, port, env) in enumerate(extras)]
      + ([L.listener("geoip", geoip_port, L.geoip_filters(db) + [L.wasm_filter(
            plugin, os.path.abspath(args.wasm), vm_id="geoip", hold_headers=hold)], cluster="upstream", trusted_hops=0)]
         if args.geoip else [])
      + ([L.listener("skipped", skip_port, [L.wasm_filter(plugin, os.path.abspath(args.wasm), vm_id="skipped")],
                     cluster="upstream", trusted_hops=0, skip_prefixes=[path])] if skipping else [])
      + ([L.listener("price", price_port, [L.wasm_filter(plugin, os.path.abspath(args.price_wasm), vm_id="price")],
                     cluster="upstream", trusted_hops=0)] if args.price_wasm else [])
      + ([L.listener("timing", timing_port, [L.wasm_filter(plugin, os.path.abspath(args.timing_wasm), vm_id="timing",
                                                          hold_headers=hold)], cluster="upstream", trusted_hops=0)]
         if args.timing_wasm else []),
        [L.cluster("upstream", up_port)], front_admin)
    for name, cfg in (("upstream", upstream), ("front", front)):
        with open(os.path.join(args.work, name + ".json"), "w") as f:
            json.dump(cfg, f)
    lua = os.path.join(args.work, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["content-type"] = "application/json"\n'
                'wrk.headers["host"] = "app.example.com"\n' % json.dumps(BODY))

    procs = L.Procs(os.path.join(args.work, "logs"))
    try:
        procs.start("upstream", ["taskset", "-c", "0", args.envoy, "-c", os.path.join(args.work, "upstream.json"),
                                 "--concurrency", "1", "--disable-hot-restart", "-l", "warning"])
        procs.start("front", ["taskset", "-c", "1", args.envoy, "-c", os.path.join(args.work, "front.json"),
                              "--concurrency", "1", "--disable-hot-restart", "-l", "warning"])
        L.wait_envoy_ready(up_admin, procs, "upstream")
        L.wait_envoy_ready(front_admin, procs, "front")
        # The filter must really judge and allow: one request, checked.
        req = urllib.request.Request(f"http://127.0.0.1:{with_port}{path}", data=BODY.encode(), method="POST",
                                     headers={"content-type": "application/json", "host": "app.example.com"})
        with urllib.request.urlopen(req, timeout=5) as r:
            decision = r.headers.get("x-pumpguard-decision")
            if r.status != 200 or r.read() != b'{"sent":true}':
                sys.exit("bench-envoy: the guarded request did not reach the upstream")
        print(f"policy variant {args.policy}, POST {path}; body {len(BODY)} bytes; filter {os.path.getsize(args.wasm)} bytes; "
              f"one worker on CPU 1; wrk + upstream on CPU 0; {args.rounds} interleaved rounds of {args.seconds}s")

        front_pid = [p for n, p, _ in procs.procs if n == "front"][0].pid

        def wrk(port, conns, script=lua):
            before = cpu_seconds(front_pid)
            out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{args.seconds}s", "--latency",
                                  "-s", script, f"http://127.0.0.1:{port}{path}"],
                                 capture_output=True, text=True, check=True).stdout
            result = parse_wrk(out)
            result["cpu_us"] = (cpu_seconds(front_pid) - before) * 1e6 / max(result["requests"], 1)
            return result

        if args.price_wasm:
            return price_host_calls(args, wrk, price_port, lua)
        wrk(with_port, 4)  # warm-up of both paths
        wrk(bare_port, 4)
        ports = {"bare": bare_port, "filter": with_port}
        labels = {"bare": "without filter", "filter": "with filter", "floor": "no-op wasm"}
        if args.floor_wasm:
            ports["floor"] = floor_port
            wrk(floor_port, 4)
        if skipping:
            ports["skipped"] = skip_port
            labels["skipped"] = "route skips it"
            wrk(skip_port, 4)
        measured = [(label, port) for label, _, port, _ in extras] + [(geoip_label, geoip_port)] * args.geoip
        for label, port in measured:
            ports[label] = port
            labels[label] = label[:15]
            wrk(port, 4)
        results = {}
        for mode, conns in (("throughput", 16), ("latency", 1)):
            runs = {name: [] for name in ports}
            for _ in range(args.rounds):
                for name, port in ports.items():
                    runs[name].append(wrk(port, conns))
            results[mode] = runs
        bad = [r for m in results.values() for rs in m.values() for r in rs if r["non2xx"] or r["errors"]]
        if bad:
            print(f"bench-envoy: some runs had non-2xx responses or socket errors: {bad}")
        med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
        print(f"\n{'mode':<11} {'listener':<15} {'req/s':>9} {'p50 us':>8} {'p99 us':>8} {'cpu us/req':>10}"
              f"   (median of {args.rounds}; cpu = the proxy's user+system time per request)")
        for mode, runs in results.items():
            for name in runs:
                rs = runs[name]
                label = labels[name]
                print(f"{mode:<11} {label:<15} {med(rs, 'rps'):>9.0f} {med(rs, 'p50'):>8.0f} {med(rs, 'p99'):>8.0f}"
                      f" {med(rs, 'cpu_us'):>10.1f}"
                      "   runs: " + ", ".join("%.0f" % r["rps"] for r in rs))
        t, l = results["throughput"], results["latency"]
        ratio = med(t["filter"], "rps") / med(t["bare"], "rps")
        added = med(l["filter"], "p50") - med(l["bare"], "p50")
        added_cpu = 1e6 / med(t["filter"], "rps") - 1e6 / med(t["bare"], "rps")
        print(f"\nthroughput ratio (with / without filter): {ratio:.3f}   (goal >= 0.95)")
        print(f"p50 added at 1 connection: {added:.1f} us   (goal <= 25 us)")
        print(f"worker time added per request (from the 16-connection throughput): {added_cpu:.1f} us")
        cpu_added = med(t["filter"], "cpu_us") - med(t["bare"], "cpu_us")
        print(f"proxy CPU added per request (measured, 16 connections): {cpu_added:.1f} us "
              f"({med(t['bare'], 'cpu_us'):.1f} -> {med(t['filter'], 'cpu_us'):.1f})")
        if args.floor_wasm:
            f = med(t["floor"], "rps")
            print(f"no-op wasm filter (Envoy's wasm machinery alone): ratio {f / med(t['bare'], 'rps'):.3f}, "
                  f"{1e6 / f - 1e6 / med(t['bare'], 'rps'):.1f} us per request, "
                  f"p50 +{med(l['floor'], 'p50') - med(l['bare'], 'p50'):.1f} us; "
                  f"pumpguard over the no-op: ratio {med(t['filter'], 'rps') / f:.3f}, "
                  f"{1e6 / med(t['filter'], 'rps') - 1e6 / f:.1f} us per request; CPU per request: no-op "
                  f"+{med(t['floor'], 'cpu_us') - med(t['bare'], 'cpu_us'):.1f} us, pumpguard "
                  f"+{cpu_added:.1f} us over no filter")
        for label in ["skipped"] * skipping + [label for label, _ in measured]:
            x = med(t[label], "rps")
            print(f"{label}: ratio {x / med(t['bare'], 'rps'):.3f}, {1e6 / x - 1e6 / med(t['bare'], 'rps'):.1f} us "
                  f"per request, p50 +{med(l[label], 'p50') - med(l['bare'], 'p50'):.1f} us, CPU per request "
                  f"+{med(t[label], 'cpu_us') - med(t['bare'], 'cpu_us'):.1f} us over no filter")
        if args.geoip:
            x = med(t[geoip_label], "rps")
            print(f"{geoip_label} over the filter alone: ratio {x / med(t['filter'], 'rps'):.3f}, "
                  f"{1e6 / x - 1e6 / med(t['filter'], 'rps'):.1f} us per request, CPU per request "
                  f"+{med(t[geoip_label], 'cpu_us') - med(t['filter'], 'cpu_us'):.1f} us")
        with urllib.request.urlopen(f"http://127.0.0.1:{front_admin}/stats/prometheus", timeout=5) as r:
            prom = [l for l in r.read().decode().splitlines() if l.startswith("pumpguard_decisions{")]
        print("filter decisions: " + "; ".join(prom))
        if args.geoip:
            with urllib.request.urlopen(f"http://127.0.0.1:{front_admin}/stats?filter=maxmind", timeout=5) as r:
                hits = dict(re.findall(r"^http\.geoip\.maxmind\.country_db\.(hit|total): (\d+)$", r.read().decode(), re.M))
            print(f"geoip lookups: {hits.get('hit', '?')} hits of {hits.get('total', '?')}")
        if args.timing_wasm:
            wrk(timing_port, 16)
            time.sleep(6)  # histograms reach the admin endpoint at the stats flush (every 5 s)
            with urllib.request.urlopen(f"http://127.0.0.1:{front_admin}/stats?filter=pumpguard\\.bench", timeout=5) as r:
                text = r.read().decode()
            print("time inside the VM per guarded request (bench-timing build, 16 connections), P50 / P90 in us:")
            for name, phase in (("headers_ns", "request headers (read, route, address, clock)"),
                                ("body_ns", "request body (read; judge and act at end of stream)"),
                                ("judge_ns", "  of which judge: core decision + counters in shared data"),
                                ("act_ns", "  of which act: origin headers, metric, log")):
                # Pxx(interval, cumulative): the cumulative value, as the interval may be empty
                m = re.search(name + r": .*?P50\([^,]*,([\d.]+)\).*?P90\([^,]*,([\d.]+)\)", text)
                if not m:
                    print(f"  {phase:<55} (no histogram {name} at the admin endpoint)")
                else:
                    print(f"  {phase:<55} {float(m.group(1)) / 1000:6.1f} / {float(m.group(2)) / 1000:6.1f}")
    except Exception:
        procs.dump_logs()
        raise
    finally:
        procs.stop()


if __name__ == "__main__":
    main()
