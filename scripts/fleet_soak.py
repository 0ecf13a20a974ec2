#!/usr/bin/env python3
"""`just soak-fleet`: the soak of `just soak` with the counters in the store service and Redis.

The same traffic as scripts/soak.py (wrk, new US numbers from millions of client addresses, half
the requests confirms, the example policy with its rate limits raised) through one Envoy
(`--concurrency 2`) whose filter keeps its counters with `store.backend: "remote"` in one store
replica (release build) over one Redis. Every `--sample` seconds it reads Envoy's and the
replica's resident memory, Envoy's status classes, the replica's metrics and Redis's memory and
keyspace; the run ends with a table, an SVG plot and checks:

- no 5xx, no wasm VM created after start, no Redis error and no round given up by the replica;
- the replica's memory flat once its map of known keys is full (`--known-keys`): the highest RSS
  of the last third is at most `--flat-mib` above the highest of the middle third (Envoy's too);
- every Redis key has an expiry (Redis holds only live counters; its memory then follows the
  counters' lifetimes, not the run's length).

Usage: fleet_soak.py --envoy BIN --wasm FILE --store BIN [--seconds 1800] [--sample 10] [--work DIR]
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "envoy"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fleet"))
sys.path.insert(0, HERE)
import envoylib as L  # noqa: E402
import fleetlib as F  # noqa: E402
import soak as S  # noqa: E402


def redis_info(port):
    info = dict(l.split(":", 1) for l in F.redis_cli(port, "INFO").stdout.splitlines() if ":" in l)
    space = dict(kv.split("=") for kv in info.get("db0", "keys=0,expires=0").split(","))
    return int(info.get("used_memory", 0)), int(space.get("keys", 0)), int(space.get("expires", 0))


def main():
    ap = S.run_arguments("soak-fleet", 16)
    ap.add_argument("--store", required=True)
    ap.add_argument("--known-keys", type=int, default=20000)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    up_port, up_admin, front_port, front_admin, store_port, redis_port = (L.free_port() for _ in range(6))
    policies = os.path.join(args.work, "policies")
    os.makedirs(policies, exist_ok=True)
    policy = S.soak_policy()
    F.write_policy(policies, "soak", policy)
    plugin = F.remote_plugin_config(policy, "soak", timeout_ms=1000, test_clock=False)
    front = L.bootstrap([L.listener("guarded", front_port, [L.wasm_filter(plugin, os.path.abspath(args.wasm))],
                                    cluster="upstream", trusted_hops=1)],
                        [L.cluster("upstream", up_port), F.store_cluster([store_port])], front_admin)
    for name, cfg in (("upstream", L.answering_upstream(up_port, up_admin)), ("front", front)):
        with open(os.path.join(args.work, name + ".json"), "w") as f:
            json.dump(cfg, f)
    lua = os.path.join(args.work, "soak.lua")
    with open(lua, "w") as f:
        f.write(S.WRK_LUA)

    procs = L.Procs(os.path.join(args.work, "logs"))
    samples = []
    try:
        F.start_redis(procs, "redis", redis_port, os.path.join(args.work, "redis"))
        F.start_store(procs, "store", args.store, store_port, redis_port, policies,
                      extra=("--known-keys", str(args.known_keys)))
        procs.start("upstream", [args.envoy, "-c", os.path.join(args.work, "upstream.json"), "--concurrency", "1",
                                 "--disable-hot-restart", "-l", "warning", "--base-id", "21"])
        procs.start("front", [args.envoy, "-c", os.path.join(args.work, "front.json"), "--concurrency", "2",
                              "--disable-hot-restart", "-l", "warning", "--base-id", "22"])
        L.wait_envoy_ready(up_admin, procs, "upstream")
        L.wait_envoy_ready(front_admin, procs, "front")
        pids = {n: p.pid for n, p, _ in procs.procs}
        vms_at_start = S.pick(S.stats(front_admin), r"wasm\.envoy\.wasm\.runtime\.v8\.created$")
        print(f"soak-fleet: {args.seconds}s, {args.connections} connections, sampling every {args.sample}s; one "
              f"store replica (known keys {args.known_keys:,}) over one Redis", flush=True)
        wrk = subprocess.Popen(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", lua,
                                f"http://127.0.0.1:{front_port}/api/otp/send"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        last_total, last_t = 0, 0.0
        print(f"{'min':>6}{'Envoy MiB':>10}{'store MiB':>10}{'Redis MiB':>10}{'keys':>10}{'req/s':>8}{'2xx':>10}"
              f"{'4xx':>10}{'5xx':>6}{'errors':>7}", flush=True)
        while wrk.poll() is None:
            time.sleep(args.sample)
            t = time.monotonic() - started
            if not (procs.alive("front") and procs.alive("store") and procs.alive("redis")):
                break
            s = S.stats(front_admin)
            total = S.pick(s, r"^http\.guarded\.downstream_rq_total$")
            used, keys, expires = redis_info(redis_port)
            sample = {
                "t": t, "rss": S.rss_mib(pids["front"]), "store_rss": S.rss_mib(pids["store"]),
                "redis_mib": used / 2**20, "keys": keys, "expires": expires,
                "rps": (total - last_total) / max(t - last_t, 1e-9),
                "2xx": S.pick(s, r"^http\.guarded\.downstream_rq_2xx$"),
                "4xx": S.pick(s, r"^http\.guarded\.downstream_rq_4xx$"),
                "5xx": S.pick(s, r"^http\.guarded\.downstream_rq_5xx$"),
                "store_failed": S.pick(s, r"remote\.(not_dispatched|timeout_or_reset|bad_status|unauthorized|bad_answer|refused)$"),
                "vms": S.pick(s, r"wasm\.envoy\.wasm\.runtime\.v8\.created$"),
                "redis_errors": F.metric(store_port, "pumpguard_store_redis_errors_total") or 0,
                "gave_up": F.metric(store_port, "pumpguard_store_cas_gave_up_total") or 0,
                "stale": F.metric(store_port, "pumpguard_store_stale_guesses_total") or 0,
                "total": total,
            }
            last_total, last_t = total, t
            samples.append(sample)
            print(f"{t / 60:>6.1f}{sample['rss']:>10.1f}{sample['store_rss']:>10.1f}{sample['redis_mib']:>10.1f}"
                  f"{keys:>10,}{sample['rps']:>8.0f}{sample['2xx']:>10,}{sample['4xx']:>10,}{sample['5xx']:>6}"
                  f"{sample['redis_errors'] + sample['gave_up'] + sample['store_failed']:>7.0f}", flush=True)
        out = wrk.communicate()[0]
        alive = [n for n in ("front", "store", "redis") if procs.alive(n)]
    finally:
        procs.stop()
    S.save_run(args.work, out, samples, "soak-fleet")
    last, n = samples[-1], len(samples)

    def growth(key):
        middle = max(s[key] for s in samples[n // 3: 2 * n // 3] or samples)
        return middle, max(s[key] for s in samples[2 * n // 3:])

    envoy_mid, envoy_end = growth("rss")
    store_mid, store_end = growth("store_rss")
    svg = os.path.join(args.work, "soak-fleet.svg")
    S.svg_plot(samples, svg, f"pumpguard soak, remote store: {last['total']:,} requests in {last['t'] / 60:.0f} min")
    print(f"\nrequests {last['total']:,} ({last['2xx']:,} forwarded, {last['4xx']:,} refused, {last['5xx']} 5xx); "
          f"store rounds failed in Envoy {last['store_failed']:.0f}, Redis errors {last['redis_errors']:.0f}, "
          f"rounds given up {last['gave_up']:.0f}, stale guesses {last['stale']:.0f}")
    print(f"Envoy RSS: middle third {envoy_mid:.1f} MiB, last third {envoy_end:.1f} MiB; store RSS: middle third "
          f"{store_mid:.1f} MiB, last third {store_end:.1f} MiB (growth allowed {args.flat_mib} MiB each)")
    print(f"Redis: {last['redis_mib']:.1f} MiB used, {last['keys']:,} keys, {last['expires']:,} with an expiry")
    print(f"plot (Envoy RSS and requests/s): {svg}")
    failures = []
    if len(alive) < 3:
        failures.append(f"exited during the run: {sorted({'front', 'store', 'redis'} - set(alive))}")
    if last["5xx"]:
        failures.append(f"{last['5xx']} responses were 5xx")
    if last["vms"] > vms_at_start:
        failures.append(f"{last['vms'] - vms_at_start} wasm VM(s) created during the run")
    if last["store_failed"] or last["redis_errors"] or last["gave_up"]:
        failures.append("store rounds failed, Redis errors or rounds given up")
    if envoy_end - envoy_mid > args.flat_mib:
        failures.append(f"Envoy memory grew {envoy_end - envoy_mid:.1f} MiB in the last third")
    if store_end - store_mid > args.flat_mib:
        failures.append(f"store memory grew {store_end - store_mid:.1f} MiB in the last third")
    if last["keys"] != last["expires"]:
        failures.append(f"{last['keys'] - last['expires']} Redis keys have no expiry")
    return S.report("soak-fleet", failures)


if __name__ == "__main__":
    sys.exit(main())
