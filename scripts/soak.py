#!/usr/bin/env python3
"""`just soak`: hours of traffic through a real Envoy with the filter, memory sampled and plotted.

One Envoy (`--concurrency 2`) with the filter and the example policy in front of an upstream
Envoy that answers every request itself. Every rule of the policy stays, so every kind of counter
is written (rate limits, backoff, adjacency blocks, conversion windows and sent marks); only the
rate limits are raised so that thousands of sends a second from one test machine are not all
refused: refused requests write nothing, and the point is a store under constant writes. wrk
sends OTP requests of random US numbers (a space of ~96M, so nearly every send is a new number)
from ~4M client addresses (x-forwarded-for past one trusted hop), and confirms half of them with
a number sent a moment before, so conversion stays healthy, for `--seconds`. Every
`--sample` seconds the Envoy's resident memory, its request counters by status class and the
filter's store-pressure counters are read; the run ends with a table, an SVG plot and checks:

- no 5xx from the filter and no wasm VM created after start (a VM reload means a crash);
- memory flat once the store is full: the highest RSS of the last third of the run is at most
  `--flat-mib` above the highest of the middle third;
- the counter state is bounded by construction (buckets x entries x bytes per entry), printed.

Usage: soak.py --envoy BIN --wasm FILE [--seconds 1800] [--sample 10] [--work DIR]
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "envoy"))
import envoylib as L  # noqa: E402

AREAS = ["212", "415", "617", "202", "312", "713", "305", "206", "404", "303", "480", "702"]
NUMBER_SPACE = len(AREAS) * 800 * 10000
ADDRESS_SPACE = 64 * 256 * 254
BUCKETS, ENTRIES = 4096, 16
# One bucket entry (core/src/store/bucketed.rs): a 34-byte header (key hash, expiry, length,
# protection, last write) and the value; the largest value of the example policy's rules is an
# adjacency block with its sightings (12 + 10 per suffix, max_distinct 4 plus the one that
# blocks: 62 bytes). Rounded up.
ENTRY_BYTES = 96

WRK_LUA = r"""
local areas = {%s}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(id * 7919)
end
local sent, next_slot = {}, 1
function request()
  local ip = string.format("10.%%d.%%d.%%d", math.random(0, 63), math.random(0, 255), math.random(1, 254))
  local headers = {["content-type"] = "application/json", ["host"] = "app.example.com", ["x-forwarded-for"] = ip}
  if #sent > 0 and math.random() < 0.5 then
    return wrk.format("POST", "/api/otp/verify", headers, '{"phone":"' .. sent[math.random(#sent)] .. '","code":"123456"}')
  end
  local phone = string.format("+1%%s%%03d%%04d", areas[math.random(#areas)], math.random(200, 999), math.random(0, 9999))
  sent[next_slot] = phone
  next_slot = next_slot %% 64 + 1
  return wrk.format("POST", "/api/otp/send", headers, '{"phone":"' .. phone .. '"}')
end
""" % ", ".join(f'"{a}"' for a in AREAS)


def soak_policy():
    """The example policy, rate limits x1000 (see the module doc)."""
    policy = json.load(open(os.path.join(L.ROOT, "examples", "policy.json")))
    for rule in policy["rules"]:
        if "rate_limit" in rule:
            rule["rate_limit"]["rate"] *= 1000
            rule["rate_limit"]["burst"] *= 1000
    return policy


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stats(admin):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats?format=json", timeout=5) as r:
        doc = json.load(r)
    return {s["name"]: s.get("value", 0) for s in doc.get("stats", []) if "name" in s}


def pick(all_stats, pattern):
    return sum(v for k, v in all_stats.items() if re.search(pattern, k) and isinstance(v, (int, float)))


def svg_plot(samples, path, title):
    """RSS (MiB) and requests/s over time, as one self-contained SVG."""
    w, h, pad = 900, 420, 60
    t_max = max(s["t"] for s in samples) or 1
    rss_max = max(s["rss"] for s in samples) * 1.15 or 1
    rps_max = max(s["rps"] for s in samples) * 1.15 or 1

    def x(t):
        return pad + (w - 2 * pad) * t / t_max

    def y(v, top):
        return h - pad - (h - 2 * pad) * v / top

    rss_line = " ".join(f"{x(s['t']):.1f},{y(s['rss'], rss_max):.1f}" for s in samples)
    rps_line = " ".join(f"{x(s['t']):.1f},{y(s['rps'], rps_max):.1f}" for s in samples)
    ticks = []
    for i in range(6):
        t = t_max * i / 5
        label = f"{t:.0f} s" if t_max < 600 else f"{t / 60:.0f} min"
        ticks.append(f'<text x="{x(t):.0f}" y="{h - pad + 20}" text-anchor="middle">{label}</text>')
        ticks.append(f'<text x="{pad - 8}" y="{y(rss_max * i / 5, rss_max) + 4:.0f}" text-anchor="end" '
                     f'fill="#1f5fbf">{rss_max * i / 5:.0f}</text>')
        ticks.append(f'<text x="{w - pad + 8}" y="{y(rps_max * i / 5, rps_max) + 4:.0f}" fill="#c0571b">'
                     f'{rps_max * i / 5:.0f}</text>')
        ticks.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(rss_max * i / 5, rss_max):.1f}" '
                     f'y2="{y(rss_max * i / 5, rss_max):.1f}" stroke="#e4e4e4"/>')
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{w / 2}" y="24" text-anchor="middle" font-size="15">{title}</text>
{''.join(ticks)}
<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#444"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#444"/>
<line x1="{w - pad}" y1="{pad}" x2="{w - pad}" y2="{h - pad}" stroke="#444"/>
<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="{rss_line}"/>
<polyline fill="none" stroke="#c0571b" stroke-width="1.5" stroke-dasharray="4 3" points="{rps_line}"/>
<text x="{pad}" y="{pad - 10}" fill="#1f5fbf">Envoy RSS (MiB)</text>
<text x="{w - pad}" y="{pad - 10}" text-anchor="end" fill="#c0571b">requests/s</text>
</svg>
"""
    with open(path, "w") as f:
        f.write(svg)


def run_arguments(work, connections):
    """The options every soak takes: the Envoy and filter, how long, how often, how hard, the
    memory growth allowed, where to write."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--seconds", type=int, default=1800)
    ap.add_argument("--sample", type=int, default=10)
    ap.add_argument("--connections", type=int, default=connections)
    ap.add_argument("--flat-mib", type=float, default=8.0)
    ap.add_argument("--work", default=os.path.join(L.ROOT, "target", work))
    return ap


def main():
    args = run_arguments("soak", 32).parse_args()
    os.makedirs(args.work, exist_ok=True)
    up_port, up_admin, front_port, front_admin = (L.free_port() for _ in range(4))
    upstream = L.answering_upstream(up_port, up_admin)
    policy = soak_policy()
    plugin = json.dumps({"name": "soak", "policy": policy,
                         "store": {"namespace": "soak", "buckets": BUCKETS, "entries_per_bucket": ENTRIES},
                         "log_decisions": True})
    front = L.bootstrap([L.listener("guarded", front_port, [L.wasm_filter(plugin, os.path.abspath(args.wasm))],
                                    cluster="upstream", trusted_hops=1)],
                        [L.cluster("upstream", up_port)], front_admin)
    for name, cfg in (("upstream", upstream), ("front", front)):
        with open(os.path.join(args.work, name + ".json"), "w") as f:
            json.dump(cfg, f)
    lua = os.path.join(args.work, "soak.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)

    procs = L.Procs(os.path.join(args.work, "logs"))
    samples = []
    try:
        procs.start("upstream", [args.envoy, "-c", os.path.join(args.work, "upstream.json"), "--concurrency", "1",
                                 "--disable-hot-restart", "-l", "warning", "--base-id", "11"])
        procs.start("front", [args.envoy, "-c", os.path.join(args.work, "front.json"), "--concurrency", "2",
                              "--disable-hot-restart", "-l", "warning", "--base-id", "12"])
        L.wait_envoy_ready(up_admin, procs, "upstream")
        L.wait_envoy_ready(front_admin, procs, "front")
        front_pid = [p for n, p, _ in procs.procs if n == "front"][0].pid
        start_stats = stats(front_admin)
        vms_at_start = pick(start_stats, r"wasm\.envoy\.wasm\.runtime\.v8\.created$")
        print(f"soak: {args.seconds}s, {args.connections} connections, sampling every {args.sample}s; "
              f"numbers drawn from {NUMBER_SPACE:,}, client addresses from {ADDRESS_SPACE:,}; "
              f"store {BUCKETS} buckets x {ENTRIES} entries", flush=True)
        wrk = subprocess.Popen(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", lua,
                                f"http://127.0.0.1:{front_port}/api/otp/send"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        last_total, last_t = 0, 0.0
        print(f"{'min':>6}{'RSS MiB':>10}{'req/s':>9}{'2xx':>11}{'4xx':>11}{'5xx':>6}{'evicted':>11}{'VMs':>5}", flush=True)
        while wrk.poll() is None:
            time.sleep(args.sample)
            t = time.monotonic() - started
            if not procs.alive("front"):
                break
            s = stats(front_admin)
            total = pick(s, r"^http\.guarded\.downstream_rq_total$")
            sample = {
                "t": t, "rss": rss_mib(front_pid),
                "rps": (total - last_total) / max(t - last_t, 1e-9),
                "2xx": pick(s, r"^http\.guarded\.downstream_rq_2xx$"),
                "4xx": pick(s, r"^http\.guarded\.downstream_rq_4xx$"),
                "5xx": pick(s, r"^http\.guarded\.downstream_rq_5xx$"),
                "evicted": pick(s, r"eviction\.(history_evicted|protected_evicted)"),
                "protected_evicted": pick(s, r"eviction\.protected_evicted"),
                "vms": pick(s, r"wasm\.envoy\.wasm\.runtime\.v8\.created$"),
                "total": total,
            }
            last_total, last_t = total, t
            samples.append(sample)
            print(f"{t / 60:>6.1f}{sample['rss']:>10.1f}{sample['rps']:>9.0f}{sample['2xx']:>11,}{sample['4xx']:>11,}"
                  f"{sample['5xx']:>6}{sample['evicted']:>11,}{sample['vms']:>5}", flush=True)
        out = wrk.communicate()[0]
        alive = procs.alive("front")
    finally:
        procs.stop()
    save_run(args.work, out, samples, "soak")
    last = samples[-1]
    n = len(samples)
    middle = max(s["rss"] for s in samples[n // 3: 2 * n // 3] or samples)
    final = max(s["rss"] for s in samples[2 * n // 3:])
    requests = last["total"]
    sends = requests / 2  # half the requests are confirms
    expected_numbers = NUMBER_SPACE * (1 - math.exp(-sends / NUMBER_SPACE))
    svg = os.path.join(args.work, "soak.svg")
    svg_plot(samples, svg, f"pumpguard soak: {requests:,} requests in {last['t'] / 60:.0f} min through Envoy "
                           f"(--concurrency 2)")
    state_mib = BUCKETS * ENTRIES * ENTRY_BYTES / 2**20
    print(f"\nrequests {requests:,} ({last['2xx']:,} forwarded, {last['4xx']:,} refused, {last['5xx']} 5xx); "
          f"~{sends:,.0f} sends to ~{expected_numbers:,.0f} distinct numbers (expected for uniform draws); client addresses up to "
          f"{ADDRESS_SPACE:,}")
    print(f"RSS: first sample {samples[0]['rss']:.1f} MiB, highest of the middle third {middle:.1f} MiB, "
          f"highest of the last third {final:.1f} MiB (growth {final - middle:+.1f} MiB, allowed {args.flat_mib})")
    print(f"counter state bound: {BUCKETS} x {ENTRIES} entries x <= {ENTRY_BYTES} bytes = {state_mib:.1f} MiB; "
          f"entries evicted {last['evicted']:,} (protected {last['protected_evicted']:,})")
    print(f"wasm VMs created: {vms_at_start} at start, {last['vms']} at the end")
    print(f"plot: {svg}")
    failures = []
    if not alive:
        failures.append("Envoy exited during the run")
    if last["5xx"]:
        failures.append(f"{last['5xx']} responses were 5xx")
    if last["vms"] > vms_at_start:
        failures.append(f"{last['vms'] - vms_at_start} wasm VM(s) created during the run (a reload after a crash)")
    if final - middle > args.flat_mib:
        failures.append(f"memory grew {final - middle:.1f} MiB in the last third")
    if state_mib > 64:
        failures.append(f"counter state bound {state_mib:.1f} MiB is over 64 MiB")
    return report("soak", failures)


def save_run(work, wrk_output, samples, name):
    """Keeps wrk's output and the samples; a run too short to judge ends here."""
    with open(os.path.join(work, "wrk.txt"), "w") as f:
        f.write(wrk_output)
    with open(os.path.join(work, "samples.json"), "w") as f:
        json.dump(samples, f, indent=1)
    if len(samples) < 3:
        sys.exit(f"{name}: too few samples (is the run shorter than three sampling periods?)")


def report(name, failures):
    """Prints the run's verdict; its exit status."""
    for failure in failures:
        print(f"{name}: FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(f"{name}: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
